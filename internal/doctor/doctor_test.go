package doctor

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

type fakeProber map[string]error

func (f fakeProber) Probe(ctx context.Context, local, remote netip.Addr) (time.Duration, error) {
	if err, ok := f[remote.String()]; ok && err != nil {
		<-ctx.Done()
		return 0, err
	}
	return 200 * time.Microsecond, nil
}

type fakeHost struct {
	synced bool
	free   uint64
	err    error
}

func (h fakeHost) ClockSynced() (bool, bool)       { return h.synced, true }
func (h fakeHost) CheckDir(string) (uint64, error) { return h.free, h.err }

func healthyInputs() Inputs {
	vm := &Device{Name: "tap1", NetNS: "vm1", Checked: true, Exists: true, MTU: 1450, AdminUp: true, OperUp: true}
	ul := &Device{Name: "ul0", Checked: true, Exists: true, MTU: 1500, AdminUp: true, OperUp: true, Features: map[string]bool{"tx-checksumming": true}}
	return Inputs{Now: time.Now(), StateDir: "/var/lib/switchyard", Offload: true, Started: time.Now(), Bridges: []Bridge{{
		Name: "br0", FDBEntries: 10, FDBMax: 8192, FullPolicy: "refuse",
		Ports: []Port{
			{Name: "tap1", Type: "tap", Status: "up", NetNS: "vm1", Device: vm, VMSide: vm},
			{Name: "vx0", Type: "vxlan", Status: "up", Drops: map[string]uint64{}, Tunnel: &Tunnel{Encap: "vxlan", Local: netip.MustParseAddr("198.18.0.1"),
				Remotes: []Remote{{Addr: netip.MustParseAddr("198.18.0.2"), Configured: true, MACs: 2}}, UnderlayDev: ul, UnderlayMTU: 1500, Overhead: 50, VMMTU: 1450, UDPCsum: true}},
		},
	}}}
}

func run(in Inputs, pr Prober, h Host) *Report {
	r, _ := Run(context.Background(), in, pr, h, Options{ProbeTimeout: 50 * time.Millisecond})
	return r
}

func find(r *Report, check string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].Check == check {
			return &r.Findings[i]
		}
	}
	return nil
}

func TestHealthySwitchHasNoFindings(t *testing.T) {
	r := run(healthyInputs(), fakeProber{}, fakeHost{synced: true, free: 1 << 30})
	if !r.Healthy || len(r.Findings) != 0 || len(r.Checks) != 7 {
		t.Fatalf("healthy switch: %+v", r)
	}
	for _, c := range r.Checks {
		if !c.OK || c.Summary == "" {
			t.Errorf("check %+v", c)
		}
	}
}

func TestVMMTULargerThanTheTunnel(t *testing.T) {
	in := healthyInputs()
	in.Bridges[0].Ports[0].VMSide.MTU = 1500
	in.Bridges[0].Ports[1].Drops["mtu-exceeded"] = 7
	r := run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30})
	f := find(r, "mtu")
	if r.Healthy || f == nil || f.Severity != Error || f.Port != "tap1" {
		t.Fatalf("report %+v", r)
	}
	for _, want := range []string{"MTU 1500", "at most 1450", "7 frames dropped"} {
		if !strings.Contains(f.Problem, want) {
			t.Errorf("problem %q lacks %q", f.Problem, want)
		}
	}
	if !strings.Contains(f.Fix, "ip -n vm1 link set tap1 mtu 1450") || !strings.Contains(f.Fix, "ip link set ul0 mtu 1550") || !strings.Contains(f.Explain, "50 bytes") {
		t.Errorf("fix %q explain %q", f.Fix, f.Explain)
	}
}

// A VM in a VLAN the tunnel does not carry never reaches it.
func TestMTUIgnoresVLANsTheTunnelDoesNotCarry(t *testing.T) {
	in := healthyInputs()
	in.Bridges[0].Ports[0].VMSide.MTU = 1500
	in.Bridges[0].Ports[0].AccessVLAN = 20
	in.Bridges[0].Ports[1].VLANs = map[int]bool{10: true}
	if r := run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30}); !r.Healthy {
		t.Fatalf("a VLAN-20 VM and a VLAN-10 tunnel: %+v", r.Findings)
	}
	in.Bridges[0].Ports[0].AccessVLAN = 10
	if r := run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30}); find(r, "mtu") == nil {
		t.Fatal("a VLAN-10 VM with a too-large MTU on a VLAN-10 tunnel is not reported")
	}
}

// A VM behind a patch port reaches the tunnel too.
func TestMTUThroughPatchPorts(t *testing.T) {
	in := healthyInputs()
	vm := &Device{Name: "eth0", NetNS: "vm2", Checked: true, Exists: true, MTU: 9000, AdminUp: true, OperUp: true}
	in.Bridges[0].PatchPeers = []string{"br1"}
	in.Bridges = append(in.Bridges, Bridge{Name: "br1", FDBMax: 8192, PatchPeers: []string{"br0"},
		Ports: []Port{{Name: "v2", Type: "system", Status: "up", VMSide: vm}}})
	r := run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30})
	if f := find(r, "mtu"); f == nil || f.Port != "v2" || !strings.Contains(f.Fix, "ip -n vm2 link set eth0 mtu 1450") {
		t.Fatalf("report %+v", r.Findings)
	}
}

func TestPortsDownInErrorAndGone(t *testing.T) {
	in := healthyInputs()
	ps := &in.Bridges[0].Ports
	*ps = append(*ps,
		Port{Name: "pa", Type: "patch", Status: "down", Reason: "peer pb missing", Peer: "pb"},
		Port{Name: "tap2", Type: "tap", Status: "error", Reason: "netns gone", NetNS: "vm9", Device: &Device{Name: "tap2", NetNS: "vm9", Checked: true}},
		Port{Name: "sys1", Type: "system", Status: "error", Reason: "open: no such device"},
	)
	(*ps)[0].VMSide.OperUp = false
	r := run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30})
	var got []string
	for _, f := range r.Findings {
		if f.Check == "ports" {
			got = append(got, f.Port+":"+f.Severity)
		}
	}
	if strings.Join(got, " ") != "pa:error tap2:error sys1:error tap1:warning" {
		t.Fatalf("port findings %v", got)
	}
	for _, f := range r.Findings {
		switch f.Port {
		case "pa":
			if !strings.Contains(f.Fix, "--type patch --peer pa") {
				t.Errorf("patch fix %q", f.Fix)
			}
		case "tap2":
			if !strings.Contains(f.Problem, "gone") || !strings.Contains(f.Fix, "ip netns add vm9") {
				t.Errorf("gone device %+v", f)
			}
		case "tap1":
			if !strings.Contains(f.Fix, "ip -n vm1 link set tap1 up") {
				t.Errorf("link down fix %q", f.Fix)
			}
		}
	}
}

func TestRemoteVTEPThatDoesNotAnswer(t *testing.T) {
	in := healthyInputs()
	tn := in.Bridges[0].Ports[1].Tunnel
	tn.Remotes = append(tn.Remotes, Remote{Addr: netip.MustParseAddr("198.18.0.3"), Configured: true})
	r, probes := Run(context.Background(), in, fakeProber{"198.18.0.3": errors.New("no answer"), "198.18.0.2": errors.New("no answer")}, fakeHost{synced: true, free: 1 << 30}, Options{ProbeTimeout: 50 * time.Millisecond})
	if len(probes) != 2 {
		t.Fatalf("probes %+v", probes)
	}
	sev := map[string]string{}
	for _, f := range r.Findings {
		if f.Check == "remote-vteps" {
			sev[strings.Fields(f.Problem)[2]] = f.Severity
			if !strings.Contains(f.Fix, "ip route get") {
				t.Errorf("fix %q", f.Fix)
			}
		}
	}
	// .2 has MACs behind it (frames arrive: maybe only ICMP is filtered),
	// .3 has none.
	if sev["198.18.0.2"] != Warning || sev["198.18.0.3"] != Error {
		t.Fatalf("severities %v", sev)
	}
}

func TestFDBNearFullAndRefusing(t *testing.T) {
	in := healthyInputs()
	b := &in.Bridges[0]
	b.FDBMax, b.FDBEntries = 100, 95
	r := run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30})
	if f := find(r, "fdb"); f == nil || f.Severity != Warning || !strings.Contains(f.Problem, "95/100") || !strings.Contains(f.Fix, "--fdb-max 1024") {
		t.Fatalf("near full: %+v", r.Findings)
	}
	b.FDBEntries, b.FDBRefused = 100, 42
	r = run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30})
	if f := find(r, "fdb"); f == nil || f.Severity != Error || !strings.Contains(f.Problem, "refused 42") || !strings.Contains(f.Explain, "flooded") {
		t.Fatalf("refusing: %+v", r.Findings)
	}
}

func TestOffloadsThatBreakForwarding(t *testing.T) {
	in := healthyInputs()
	in.Bridges[0].Ports = append(in.Bridges[0].Ports, Port{Name: "uplink", Type: "system", Status: "up",
		Device: &Device{Name: "uplink", Checked: true, Exists: true, MTU: 1500, Features: map[string]bool{"large-receive-offload": true}}})
	in.Bridges[0].Ports[1].Tunnel.UnderlayDev.Features["tx-checksumming"] = false
	r := run(in, fakeProber{}, fakeHost{synced: true, free: 1 << 30})
	var lro, csum bool
	for _, f := range r.Findings {
		if f.Check == "offloads" && f.Port == "uplink" && strings.Contains(f.Fix, "ethtool -K uplink lro off") {
			lro = true
		}
		if f.Check == "offloads" && f.Port == "vx0" && strings.Contains(f.Fix, "ethtool -K ul0 tx on") {
			csum = true
		}
	}
	if !lro || !csum || r.Healthy {
		t.Fatalf("offload findings: %+v", r.Findings)
	}
}

func TestClockAndStateDir(t *testing.T) {
	in := healthyInputs()
	in.Now = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	r := run(in, fakeProber{}, fakeHost{synced: false, free: 1 << 20, err: nil})
	var clock, unsynced, disk bool
	for _, f := range r.Findings {
		clock = clock || f.Check == "clock" && f.Severity == Error
		unsynced = unsynced || f.Check == "clock" && f.Severity == Info && strings.Contains(f.Problem, "not synchronized")
		disk = disk || f.Check == "state-dir" && f.Severity == Warning
	}
	if !clock || !unsynced || !disk {
		t.Fatalf("findings %+v", r.Findings)
	}
	r = run(healthyInputs(), fakeProber{}, fakeHost{synced: true, err: errors.New("read-only file system")})
	if f := find(r, "state-dir"); f == nil || f.Severity != Error || !strings.Contains(f.Problem, "read-only") {
		t.Fatalf("state dir: %+v", r.Findings)
	}
	// An unsynchronized clock alone is worth knowing, not unhealthy.
	r = run(healthyInputs(), fakeProber{}, fakeHost{synced: false, free: 1 << 30})
	if !r.Healthy || len(r.Findings) != 1 {
		t.Fatalf("unsynced clock only: %+v", r)
	}
}

func TestSystemHost(t *testing.T) {
	free, err := System{}.CheckDir(t.TempDir())
	if err != nil || free == 0 {
		t.Fatalf("CheckDir: %d %v", free, err)
	}
	if _, err := (System{}).CheckDir("/proc/self/status"); err == nil {
		t.Fatal("a file is not a state directory")
	}
	if _, known := (System{}).ClockSynced(); !known {
		t.Fatal("adjtimex unknown")
	}
}

// The ICMP prober against loopback (needs a raw socket: root).
func TestICMPProberLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raw ICMP sockets need root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rtt, err := ICMPProber{}.Probe(ctx, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"))
	if err != nil || rtt <= 0 {
		t.Fatalf("probe 127.0.0.1: %v %v", rtt, err)
	}
}
