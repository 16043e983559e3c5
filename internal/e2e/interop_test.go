package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// kernelHost is a namespace with a Linux bridge and a kernel VXLAN device;
// the bridge's own address plays the VM behind it. Its underlay keeps
// transmit checksum offload on, so the inner TCP checksums it sends over the
// veth are partial — Switchyard must repair them.
func kernelHost(t *testing.T, ns, local string, vni, port int, vxArgs ...string) {
	t.Helper()
	testnet.MustNS(t, ns, "ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	args := []string{"ip", "link", "add", "vxlan0", "type", "vxlan", "id", strconv.Itoa(vni), "local", local,
		"dstport", strconv.Itoa(port), "dev", "ul0"}
	testnet.MustNS(t, ns, append(args, vxArgs...)...)
	testnet.MustNS(t, ns, "ip", "link", "set", "vxlan0", "master", "br0", "up")
	testnet.MustNS(t, ns, "ip", "link", "set", "br0", "up")
}

// switchyardHost starts a daemon in ns with bridge br0 and a TAP VM.
func switchyardHost(t *testing.T, ns string, vmIP string, tunnelArgs ...string) (*testnet.Daemon, vm) {
	t.Helper()
	d := testnet.StartDaemon(t, ns)
	d.MustCLI("bridge", "add", "br0")
	d.MustCLI(append([]string{"port", "add", "br0", "vx0", "--type", "vxlan"}, tunnelArgs...)...)
	v := tapVM(t, d, "br0", vmIP)
	testnet.MustNS(t, v.ns, "ip", "link", "set", v.nic, "mtu", "1450")
	return d, v
}

// underlayPair makes two host namespaces joined by a veth: 198.18.0.1 (a)
// and 198.18.0.2 (b).
func underlayPair(t *testing.T) (a, b string) {
	testnet.RequireRoot(t)
	a, b = testnet.NewNS(t, "ha"), testnet.NewNS(t, "hk")
	testnet.Veth(t, "ul0", a, "ul0", b)
	testnet.Addr(t, a, "ul0", "198.18.0.1/24")
	testnet.Addr(t, b, "ul0", "198.18.0.2/24")
	return a, b
}

func bothWays(t *testing.T, v vm, kns, kip string) {
	t.Helper()
	k := vm{ns: kns, ip: kip}
	reach(t, v, k)
	reach(t, k, v)
	for _, dir := range []struct {
		from, to string
		ip       string
	}{{v.ns, kns, kip}, {kns, v.ns, v.ip}} {
		bps, err := testnet.TCPTransfer(dir.from, dir.to, dir.ip+":5201", 4<<20, 30*time.Second)
		if err != nil {
			t.Fatalf("TCP %s→%s: %v", dir.from, dir.ip, err)
		}
		t.Logf("TCP 4 MiB to %s: %.2f Gbit/s", dir.ip, bps/1e9)
	}
}

// (a) Unicast VTEPs with head-end replication on the kernel side: ping and
// TCP both ways.
func TestKernelVXLANUnicast(t *testing.T) {
	t.Parallel()
	a, k := underlayPair(t)
	kernelHost(t, k, "198.18.0.2", 42, 4789)
	testnet.MustNS(t, k, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan0", "dst", "198.18.0.1")
	testnet.Addr(t, k, "br0", "203.0.113.2/24")
	_, v := switchyardHost(t, a, "203.0.113.1", "--vni", "42", "--local", "198.18.0.1", "--remote", "198.18.0.2")
	bothWays(t, v, k, "203.0.113.2")
}

// (c) Linux's legacy port 8472 on both sides.
func TestKernelVXLANPort8472(t *testing.T) {
	t.Parallel()
	a, k := underlayPair(t)
	kernelHost(t, k, "198.18.0.2", 42, 8472)
	testnet.MustNS(t, k, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan0", "dst", "198.18.0.1")
	testnet.Addr(t, k, "br0", "203.0.113.2/24")
	_, v := switchyardHost(t, a, "203.0.113.1", "--vni", "42", "--local", "198.18.0.1", "--remote", "198.18.0.2", "--dst-port", "8472")
	reach(t, v, vm{ns: k, ip: "203.0.113.2"})
}

// (b) Multicast group 239.1.1.100 on the underlay: flood-and-learn both
// ways, and each side learns the other's MAC behind the other's VTEP.
func TestKernelVXLANMulticast(t *testing.T) {
	t.Parallel()
	a, k := underlayPair(t)
	kernelHost(t, k, "198.18.0.2", 42, 4789, "group", "239.1.1.100", "ttl", "1")
	testnet.Addr(t, k, "br0", "203.0.113.2/24")
	d, v := switchyardHost(t, a, "203.0.113.1", "--vni", "42", "--local", "198.18.0.1", "--group", "239.1.1.100", "--dev", "ul0")
	reach(t, v, vm{ns: k, ip: "203.0.113.2"})
	reach(t, vm{ns: k, ip: "203.0.113.2"}, v)
	// The kernel learned our VM's MAC behind 198.18.0.1.
	vmMAC := macOf(t, v)
	out := testnet.MustNS(t, k, "bridge", "-j", "fdb", "show", "dev", "vxlan0")
	var kfdb []struct {
		MAC string `json:"mac"`
		Dst string `json:"dst"`
	}
	if err := json.Unmarshal([]byte(out), &kfdb); err != nil {
		t.Fatal(err)
	}
	learned := false
	for _, e := range kfdb {
		if e.MAC == vmMAC && e.Dst == "198.18.0.1" {
			learned = true
		}
	}
	if !learned {
		t.Fatalf("kernel did not learn %s behind 198.18.0.1: %s", vmMAC, out)
	}
	// We learned the kernel bridge's MAC behind 198.18.0.2.
	kmac := strings.TrimSpace(testnet.MustNS(t, k, "cat", "/sys/class/net/br0/address"))
	fdb := d.MustCLI("fdb", "show", "br0", "--json")
	var ours []struct {
		MAC, Port, Remote string
	}
	if err := json.Unmarshal([]byte(fdb), &ours); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ours {
		if e.MAC == kmac && e.Port == "vx0" && e.Remote == "198.18.0.2" {
			found = true
		}
	}
	if !found {
		t.Fatalf("switchyard did not learn %s behind vx0/198.18.0.2: %s", kmac, fdb)
	}
}

// (e) A capture of our traffic read by tshark: the I flag and nothing else in
// the flags, the VNI, reserved bytes zero, source ports in range, and UDP
// checksums as configured (computed by default, zero with --udp-csum off).
func TestTsharkChecksOurVXLAN(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("needs tshark (installed by .ci/deps)")
	}
	for _, csum := range []string{"on", "off"} {
		t.Run("udp-csum-"+csum, func(t *testing.T) {
			a, k := underlayPair(t)
			kernelHost(t, k, "198.18.0.2", 4242, 4789)
			testnet.MustNS(t, k, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan0", "dst", "198.18.0.1")
			testnet.Addr(t, k, "br0", "203.0.113.2/24")
			_, v := switchyardHost(t, a, "203.0.113.1", "--vni", "4242", "--local", "198.18.0.1", "--remote", "198.18.0.2", "--udp-csum", csum)
			reach(t, v, vm{ns: k, ip: "203.0.113.2"})
			c := startCapture(t, a, 8, "udp and src host 198.18.0.1 and dst port 4789")
			_, _ = testnet.NS(v.ns, "ping", "-c", "10", "-i", "0.2", "-W", "1", "203.0.113.2")
			c.wait(t)
			out := tshark(t, "-r", c.Pcap, "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=,",
				"-e", "vxlan.flags", "-e", "vxlan.flags_reserved", "-e", "vxlan.vni", "-e", "vxlan.reserved8",
				"-e", "udp.srcport", "-e", "udp.checksum", "-e", "udp.checksum.status", "-e", "ip.flags.df")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) < 4 {
				t.Fatalf("captured %d packets:\n%s", len(lines), out)
			}
			for _, l := range lines {
				f := strings.Split(l, ",")
				if len(f) < 8 {
					t.Fatalf("tshark line %q", l)
				}
				sport, _ := strconv.Atoi(f[4])
				if f[0] != "0x0800" || f[1] != "0x0000" || f[2] != "4242" || f[3] != "0" || sport < 49152 || sport > 65535 || f[7] != "1" {
					t.Fatalf("tshark sees flags %s reserved %s vni %s reserved8 %s srcport %s df %s", f[0], f[1], f[2], f[3], f[4], f[7])
				}
				if csum == "on" && f[6] != "1" { // 1 = Good
					t.Fatalf("udp checksum %s status %s, want Good", f[5], f[6])
				}
				if csum == "off" && f[5] != "0x0000" {
					t.Fatalf("udp checksum %s, want 0x0000", f[5])
				}
			}
			t.Logf("tshark: %d packets, e.g. %s", len(lines), lines[0])
		})
	}
}

// tshark runs tshark and returns its standard output (its warnings about
// running as root go to standard error).
func tshark(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return string(out)
}

// syncBuffer is a bytes.Buffer safe for a writer process and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// capture is a tcpdump writing count packets of ns's ul0 that match filter
// into a pcap file, bounded by a 20 s timeout.
type capture struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	Pcap   string
}

// startCapture starts tcpdump and waits until it listens.
func startCapture(t *testing.T, ns string, count int, filter string) *capture {
	t.Helper()
	c := &capture{Pcap: filepath.Join(t.TempDir(), "cap.pcap")}
	c.cmd = exec.Command("ip", "netns", "exec", ns, "timeout", "20", "tcpdump", "-i", "ul0", "-nn", "-U", "-c", strconv.Itoa(count), "-w", c.Pcap, filter)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testnet.Eventually(t, 5*time.Second, "tcpdump listening", func() error {
		if !strings.Contains(c.stderr.String(), "listening on") {
			return fmt.Errorf("tcpdump says: %q", c.stderr.String())
		}
		return nil
	})
	return c
}

// wait waits for tcpdump to have its packets.
func (c *capture) wait(t *testing.T) {
	t.Helper()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("tcpdump: %v (%s)", err, c.stderr.String())
	}
}

// (d) Three hosts — two Switchyard, one kernel — and two tenants on VNIs
// 5001 and 5002 with the same addresses and MACs: each tenant connects
// across all three hosts, never to the other tenant.
func TestThreeHostsTwoTenantsWithKernel(t *testing.T) {
	t.Parallel()
	testnet.RequireRoot(t)
	ul := testnet.NewNS(t, "ul")
	testnet.MustNS(t, ul, "ip", "link", "add", "sw", "type", "bridge", "mcast_snooping", "0")
	testnet.MustNS(t, ul, "ip", "link", "set", "sw", "up")
	hosts := []string{testnet.NewNS(t, "h1"), testnet.NewNS(t, "h2"), testnet.NewNS(t, "hk")}
	for i, h := range hosts {
		port := fmt.Sprintf("p%d", i)
		testnet.Veth(t, port, ul, "ul0", h)
		testnet.MustNS(t, ul, "ip", "link", "set", port, "master", "sw")
		testnet.Addr(t, h, "ul0", fmt.Sprintf("198.18.0.%d/24", i+1))
	}
	type tvm struct {
		v      vm
		tenant int
		probe  string
	}
	var vms []tvm
	// Two Switchyard hosts: one VXLAN port, VLAN 10 ↔ VNI 5001, 20 ↔ 5002.
	for i := 0; i < 2; i++ {
		d := testnet.StartDaemon(t, hosts[i])
		d.MustCLI("bridge", "add", "br0")
		local := fmt.Sprintf("198.18.0.%d", i+1)
		var remotes []string
		for j := 1; j <= 3; j++ {
			if j != i+1 {
				remotes = append(remotes, fmt.Sprintf("198.18.0.%d", j))
			}
		}
		d.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--local", local, "--remote", strings.Join(remotes, ","), "--vni-map", "10:5001,20:5002")
		for tn := 1; tn <= 2; tn++ {
			v := tapVM(t, d, "br0", fmt.Sprintf("203.0.113.%d", 10+i), "--vlan", strconv.Itoa(10*tn))
			testnet.MustNS(t, v.ns, "ip", "link", "set", v.nic, "down")
			testnet.MustNS(t, v.ns, "ip", "link", "set", v.nic, "address", fmt.Sprintf("02:00:00:00:00:%02x", 10+i), "mtu", "1450", "up")
			probe := fmt.Sprintf("198.51.100.%d", 40*tn+i)
			testnet.MustNS(t, v.ns, "ip", "addr", "add", probe+"/24", "dev", v.nic)
			vms = append(vms, tvm{v, tn, probe})
		}
	}
	// The kernel host: one VXLAN device and bridge per tenant, a VM (veth
	// into a namespace) behind each, HER to both Switchyard hosts.
	k := hosts[2]
	for tn := 1; tn <= 2; tn++ {
		br, vx := fmt.Sprintf("br%d", tn), fmt.Sprintf("vx%d", tn)
		testnet.MustNS(t, k, "ip", "link", "add", br, "type", "bridge")
		testnet.MustNS(t, k, "ip", "link", "add", vx, "type", "vxlan", "id", strconv.Itoa(5000+tn), "local", "198.18.0.3", "dstport", "4789", "dev", "ul0")
		for _, r := range []string{"198.18.0.1", "198.18.0.2"} {
			testnet.MustNS(t, k, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", vx, "dst", r)
		}
		testnet.MustNS(t, k, "ip", "link", "set", vx, "master", br, "up")
		testnet.MustNS(t, k, "ip", "link", "set", br, "up")
		vns := testnet.NewNS(t, "kv")
		testnet.Veth(t, fmt.Sprintf("kv%d", tn), k, "eth0", vns)
		testnet.MustNS(t, k, "ip", "link", "set", fmt.Sprintf("kv%d", tn), "master", br, "mtu", "1450")
		testnet.MustNS(t, vns, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:0c", "mtu", "1450")
		testnet.Addr(t, vns, "eth0", "203.0.113.12/24")
		probe := fmt.Sprintf("198.51.100.%d", 40*tn+2)
		testnet.MustNS(t, vns, "ip", "addr", "add", probe+"/24", "dev", "eth0")
		vms = append(vms, tvm{vm{ns: vns, nic: "eth0", ip: "203.0.113.12"}, tn, probe})
	}
	for _, a := range vms {
		for _, b := range vms {
			if a.v.ns == b.v.ns {
				continue
			}
			if a.tenant == b.tenant {
				reach(t, a.v, vm{ns: b.v.ns, ip: b.probe})
				reach(t, a.v, b.v) // the overlapping address too
			} else {
				noReach(t, a.v, b.probe)
			}
		}
	}
}
