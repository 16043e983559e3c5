package e2e

// Seeing inside, end to end: a capture on every port type matched frame
// by frame against tcpdump in the VM's namespace, a real Prometheus
// scraping a daemon in a namespace lab, and the dashboard in headless
// Chromium (dashboard_test.go).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/events"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// frameRec is one frame of a capture file, with its pcapng comments.
type frameRec struct {
	data     []byte
	comments []string
}

// readFrames reads a pcap or pcapng file.
func readFrames(t *testing.T, path string) []frameRec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []frameRec
	if len(b) >= 4 && binary.LittleEndian.Uint32(b) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for {
			d, _, o, err := r.ReadPacketDataWithOptions()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, frameRec{d, o.Comments})
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for {
		d, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, frameRec{data: d})
	}
}

// syCapture is a running `switchyard capture`.
type syCapture struct {
	cmd    *exec.Cmd
	file   string
	stderr bytes.Buffer
}

func startSyCapture(t *testing.T, d *testnet.Daemon, bridge, port string, args ...string) *syCapture {
	t.Helper()
	c := api.NewClient(d.Socket)
	before, _ := c.Captures()
	sc := &syCapture{file: filepath.Join(t.TempDir(), port+".pcapng")}
	full := append([]string{"capture", bridge, port, "-w", sc.file, "--socket", d.Socket}, args...)
	sc.cmd = exec.Command(d.Bin, full...)
	sc.cmd.Stderr = &sc.stderr
	if err := sc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sc.cmd.ProcessState == nil {
			_ = sc.cmd.Process.Kill()
			_ = sc.cmd.Wait()
		}
	})
	testnet.Eventually(t, 10*time.Second, "capture of "+port+" running", func() error {
		l, err := c.Captures()
		if err != nil {
			return err
		}
		if len(l) <= len(before) {
			return fmt.Errorf("%d captures running (%s)", len(l), sc.stderr.String())
		}
		return nil
	})
	return sc
}

func (sc *syCapture) wait(t *testing.T) []frameRec {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- sc.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("switchyard capture: %v: %s", err, sc.stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = sc.cmd.Process.Kill()
		t.Fatalf("switchyard capture did not finish: %s", sc.stderr.String())
	}
	return readFrames(t, sc.file)
}

// vmDump is a tcpdump inside a namespace.
type vmDump struct {
	cmd    *exec.Cmd
	file   string
	stderr bytes.Buffer
}

func startVMDump(t *testing.T, ns, ifname, dir string, count int, filter string) *vmDump {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump is missing (CI installs it)")
	}
	v := &vmDump{file: filepath.Join(t.TempDir(), ns+"-"+ifname+".pcap")}
	args := []string{"netns", "exec", ns, "timeout", "30", "tcpdump", "-i", ifname, "-Q", dir, "-nn", "-U", "-c", fmt.Sprint(count), "-w", v.file, filter}
	v.cmd = exec.Command("ip", args...)
	v.cmd.Stderr = &v.stderr
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v.cmd.ProcessState == nil {
			_ = v.cmd.Process.Kill()
			_ = v.cmd.Wait()
		}
	})
	testnet.Eventually(t, 10*time.Second, "tcpdump in "+ns+" listening", func() error {
		if !strings.Contains(v.stderr.String(), "listening on") {
			return fmt.Errorf("tcpdump says %q", v.stderr.String())
		}
		return nil
	})
	return v
}

func (v *vmDump) wait(t *testing.T) []frameRec {
	t.Helper()
	if err := v.cmd.Wait(); err != nil {
		t.Fatalf("tcpdump: %v: %s", err, v.stderr.String())
	}
	return readFrames(t, v.file)
}

// innerOf takes the inner Ethernet frame out of a VXLAN-over-IPv4 frame,
// with its VNI and outer destination.
func innerOf(t *testing.T, f []byte) (inner []byte, vni uint32, dst string) {
	t.Helper()
	if len(f) < 14+20+8+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		t.Fatalf("not an IPv4 frame: % x", f[:min(len(f), 40)])
	}
	ihl := int(f[14]&0xf) * 4
	udp := 14 + ihl
	vx := udp + 8
	vni = binary.BigEndian.Uint32(f[vx+4:]) >> 8
	return f[vx+8:], vni, fmt.Sprintf("%d.%d.%d.%d", f[30], f[31], f[32], f[33])
}

// TestCaptureOnEveryPortType captures the frames a port sends (and, for a
// TAP and a tunnel, receives) on TAP, system (veth), internal, patch and
// VXLAN ports, and checks they are exactly — byte for byte, in order —
// the frames tcpdump sees arrive in the VM's namespace (on the underlay
// for the tunnel, decapsulated, with the VNI and the remote VTEP the
// capture wrote in each packet's comment).
func TestCaptureOnEveryPortType(t *testing.T) {
	testnet.RequireRoot(t)
	a, b := underlayPair(t)
	da, db := testnet.StartDaemon(t, a), testnet.StartDaemon(t, b)
	da.MustCLI("bridge", "add", "br0")
	da.MustCLI("bridge", "add", "br1")
	db.MustCLI("bridge", "add", "br0")
	da.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "5001", "--local", "198.18.0.1", "--remote", "198.18.0.2")
	db.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "5001", "--local", "198.18.0.2", "--remote", "198.18.0.1")
	vmTap := tapVM(t, da, "br0", "203.0.113.1")
	vmVeth := vethVM(t, da, "br0", "203.0.113.2")
	in0 := testnet.Name("in")
	da.MustCLI("port", "add", "br0", in0, "--type", "internal")
	testnet.Addr(t, a, in0, "203.0.113.3/24")
	host := vm{a, in0, "203.0.113.3"}
	da.MustCLI("port", "add", "br0", "pa", "--type", "patch", "--peer", "pb")
	da.MustCLI("port", "add", "br1", "pb", "--type", "patch", "--peer", "pa")
	vmPatch := tapVM(t, da, "br1", "203.0.113.4")
	vmRemote := tapVM(t, db, "br0", "203.0.113.5")
	for _, to := range []vm{vmTap, host, vmPatch, vmRemote} {
		reach(t, vmVeth, to)
	}
	reach(t, vmTap, vmVeth)
	const n = 4
	echo := "icmp[icmptype] = icmp-echo"
	reply := "icmp[icmptype] = icmp-echoreply"
	ping := func(from vm, to string, pattern string) {
		t.Helper()
		if _, err := testnet.NS(from.ns, "ping", "-c", fmt.Sprint(n), "-i", "0.2", "-W", "2", "-p", pattern, to); err != nil {
			t.Fatalf("ping %s → %s: %v", from.ip, to, err)
		}
	}
	same := func(t *testing.T, what string, ours, theirs []frameRec) {
		t.Helper()
		if len(ours) != n || len(theirs) != n {
			t.Fatalf("%s: captured %d frames, tcpdump saw %d; want %d each", what, len(ours), len(theirs), n)
		}
		for i := range ours {
			if !bytes.Equal(ours[i].data, theirs[i].data) {
				t.Fatalf("%s: frame %d differs:\n ours    % x\n tcpdump % x", what, i, ours[i].data, theirs[i].data)
			}
		}
	}
	cases := []struct {
		name, bridge, port string // the captured port
		dir                string // --direction
		dumpNS, dumpIf     string // where tcpdump looks
		dumpDir            string // its -Q
		from               vm     // who pings
		to                 string
		filter             string
	}{
		{"tap-out", "br0", vmTap.nic, "out", vmTap.ns, vmTap.nic, "in", vmVeth, vmTap.ip, echo},
		{"tap-in", "br0", vmTap.nic, "in", vmTap.ns, vmTap.nic, "out", vmVeth, vmTap.ip, reply},
		{"system-out", "br0", vethPortOf(t, da, vmVeth), "out", vmVeth.ns, "eth0", "in", vmTap, vmVeth.ip, echo},
		{"internal-out", "br0", in0, "out", a, in0, "in", vmVeth, host.ip, echo},
		{"patch-out", "br0", "pa", "out", vmPatch.ns, vmPatch.nic, "in", vmVeth, vmPatch.ip, echo},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := startSyCapture(t, da, c.bridge, c.port, "--direction", c.dir, "--filter", c.filter, "--count", fmt.Sprint(n), "--quiet")
			vd := startVMDump(t, c.dumpNS, c.dumpIf, c.dumpDir, n, c.filter)
			ping(c.from, c.to, fmt.Sprintf("5a%02x", i))
			same(t, c.name, sc.wait(t), vd.wait(t))
		})
	}
	// The tunnel port: the inner frames, each with its VNI and remote VTEP
	// in the comment, against the VXLAN datagrams on the underlay.
	for _, dir := range []string{"out", "in"} {
		t.Run("vxlan-"+dir, func(t *testing.T) {
			filter := echo
			ulDir := "out"
			if dir == "in" {
				filter, ulDir = reply, "in"
			}
			sc := startSyCapture(t, da, "br0", "vx0", "--direction", dir, "--filter", filter, "--count", fmt.Sprint(n), "--quiet")
			vd := startVMDump(t, a, "ul0", ulDir, n, "udp port 4789")
			ping(vmVeth, vmRemote.ip, "77")
			ours, outer := sc.wait(t), vd.wait(t)
			var theirs []frameRec
			for i, f := range outer {
				inner, vni, dst := innerOf(t, f.data)
				theirs = append(theirs, frameRec{data: inner})
				want := "vni 5001, to remote VTEP 198.18.0.2"
				if dir == "in" {
					want = "vni 5001, from remote VTEP 198.18.0.2"
				}
				if vni != 5001 || dir == "out" && dst != "198.18.0.2" || len(ours) > i && (len(ours[i].comments) == 0 || ours[i].comments[0] != want) {
					t.Fatalf("frame %d: VNI %d, outer dst %s, our comments %q (want %q)", i, vni, dst, ours[i].comments, want)
				}
			}
			same(t, "vxlan-"+dir, ours, theirs)
		})
	}
	// Without -w: one line per frame, as tcpdump prints them.
	t.Run("print", func(t *testing.T) {
		cmd := exec.Command(da.Bin, "capture", "br0", vmTap.nic, "--count", "2", "--direction", "out", "--filter", echo, "--socket", da.Socket)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := api.NewClient(da.Socket)
		testnet.Eventually(t, 10*time.Second, "capture running", func() error {
			if l, _ := c.Captures(); len(l) == 0 {
				return fmt.Errorf("no capture yet")
			}
			return nil
		})
		ping(vmVeth, vmTap.ip, "42")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("capture: %v: %s", err, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], " out ") || !strings.Contains(lines[0], "IP 203.0.113.2 > 203.0.113.1") || !strings.Contains(lines[0], "ICMP EchoRequest") {
			t.Fatalf("printed:\n%s", out.String())
		}
		if !strings.Contains(errb.String(), "2 frames captured") || !strings.Contains(errb.String(), "0 dropped") {
			t.Fatalf("summary: %s", errb.String())
		}
	})
	// Streaming to stdout, read by tshark as it comes.
	t.Run("pipe-to-tshark", func(t *testing.T) {
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Fatal("tshark is missing (CI installs it)")
		}
		cmd := exec.Command("sh", "-c", fmt.Sprintf("%s capture br0 %s - --count %d --direction out --filter %q --quiet --socket %s | tshark -r - -T fields -e icmp.type -e ip.dst",
			da.Bin, vmTap.nic, n, echo, da.Socket))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := api.NewClient(da.Socket)
		testnet.Eventually(t, 10*time.Second, "piped capture running", func() error {
			if l, _ := c.Captures(); len(l) == 0 {
				return fmt.Errorf("no capture yet")
			}
			return nil
		})
		ping(vmVeth, vmTap.ip, "99")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("capture | tshark: %v\n%s", err, out.String())
		}
		if got := strings.Count(out.String(), "8\t203.0.113.1"); got != n {
			t.Fatalf("tshark read %d echo requests from the pipe, want %d:\n%s", got, n, out.String())
		}
	})
}

// vethPortOf returns the switch port name of a veth VM (its host end).
func vethPortOf(t *testing.T, d *testnet.Daemon, v vm) string {
	t.Helper()
	s, err := api.NewClient(d.Socket).Show()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range s.Bridges {
		for _, p := range b.Ports {
			if p.Type == "system" && p.NetNS == v.ns {
				return p.Name
			}
		}
	}
	t.Fatalf("no veth port for %s", v.ns)
	return ""
}

// TestMeasureCaptureOverhead measures what a capture costs forwarding:
// TCP between two VMs on TAP ports with no capture, with a capture whose
// filter matches nothing, and with one that copies every frame (written to
// /dev/null). It only reports ratios (SWITCHYARD_MEASURE=1 runs it).
func TestMeasureCaptureOverhead(t *testing.T) {
	if os.Getenv("SWITCHYARD_MEASURE") == "" {
		t.Skip("a measurement: SWITCHYARD_MEASURE=1 runs it")
	}
	d := newSwitch(t)
	a := tapVM(t, d, "br0", "203.0.113.1")
	b := tapVM(t, d, "br0", "203.0.113.2")
	reach(t, a, b)
	const size = 256 << 20
	run := func(label string, args ...string) float64 {
		var best float64
		for i := 0; i < 3; i++ {
			var cmd *exec.Cmd
			c := api.NewClient(d.Socket)
			testnet.Eventually(t, 10*time.Second, "no capture left running", func() error {
				if l, _ := c.Captures(); len(l) != 0 {
					return fmt.Errorf("%d running", len(l))
				}
				return nil
			})
			if args != nil {
				cmd = exec.Command(d.Bin, append([]string{"capture", "br0", b.nic, "-w", "/dev/null", "--quiet", "--socket", d.Socket}, args...)...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				testnet.Eventually(t, 10*time.Second, "capture running", func() error {
					if l, _ := c.Captures(); len(l) != 1 {
						return fmt.Errorf("not yet")
					}
					return nil
				})
			}
			bps, err := testnet.TCPTransfer(a.ns, b.ns, b.ip+":5201", size, 60*time.Second)
			if cmd != nil {
				_ = cmd.Process.Signal(os.Interrupt)
				if err := cmd.Wait(); err != nil {
					t.Fatalf("capture: %v", err)
				}
			}
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			best = max(best, bps)
		}
		t.Logf("%-34s %6.2f Gbit/s (best of 3, 256 MiB each)", label, best/1e9)
		return best
	}
	off := run("no capture")
	miss := run("capture, filter matches nothing", "--filter", "udp port 9")
	all := run("capture of every frame (both ways)", "--direction", "both")
	t.Logf("ratios to no capture: filter-miss %.2f, every frame %.2f", miss/off, all/off)
	if evs, err := api.NewClient(d.Socket).Events(events.Query{Kind: "capture"}); err == nil {
		for _, e := range evs {
			t.Logf("%s", e.Message)
		}
	}
	st, _ := api.NewClient(d.Socket).Show()
	for _, br := range st.Bridges {
		for _, p := range br.Ports {
			if n := p.Stats.Drops["no-space"]; n > 0 {
				t.Errorf("port %s dropped %d frames for no space", p.Name, n)
			}
		}
	}
}

// TestDoctorFindsWhatIsWrong breaks a real switch in the ways the doctor
// knows — a VM MTU the tunnel cannot carry, a remote VTEP that does not
// answer, a VM whose namespace (and TAP) went away — and checks that
// `switchyard doctor` finds each, with its fix, exits 1, and is healthy
// again once they are fixed.
func TestDoctorFindsWhatIsWrong(t *testing.T) {
	a, b := underlayPair(t)
	da, db := testnet.StartDaemon(t, a), testnet.StartDaemon(t, b)
	for i, d := range []*testnet.Daemon{da, db} {
		d.MustCLI("bridge", "add", "br0")
		d.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "5001", "--local", fmt.Sprintf("198.18.0.%d", i+1), "--remote", fmt.Sprintf("198.18.0.%d", 2-i))
	}
	v1 := tapVM(t, da, "br0", "203.0.113.1")
	v2 := tapVM(t, db, "br0", "203.0.113.2")
	testnet.MustNS(t, v1.ns, "ip", "link", "set", v1.nic, "mtu", "1450")
	reach(t, v1, v2)
	doctor := func() (string, int) {
		out, err := da.CLI("doctor", "--probe-timeout", "0.5")
		var ee *exec.ExitError
		if err != nil && !errorsAs(err, &ee) {
			t.Fatalf("doctor: %v", err)
		}
		code := 0
		if ee != nil {
			code = ee.ExitCode()
		}
		return out, code
	}
	if out, code := doctor(); code != 0 || !strings.Contains(out, "healthy") || !strings.Contains(out, "1 of 1 remote VTEPs answer") {
		t.Fatalf("a healthy switch: exit %d\n%s", code, out)
	}
	// Break it three ways.
	testnet.MustNS(t, v1.ns, "ip", "link", "set", v1.nic, "mtu", "1500")
	gone := testnet.NewNS(t, "vm")
	da.MustCLI("port", "add", "br0", "tapgone", "--type", "tap", "--netns", gone)
	testnet.MustRun(t, "ip", "netns", "del", gone)
	da.MustCLI("port", "add", "br0", "vx1", "--type", "vxlan", "--vni", "5002", "--local", "198.18.0.1", "--remote", "198.18.0.99")
	out, code := doctor()
	for _, want := range []string{
		"ERROR [mtu] br0/" + v1.nic, "has MTU 1500, but tunnel vx0 carries at most 1450", "ip -n " + v1.ns + " link set " + v1.nic + " mtu 1450",
		"ERROR [remote-vteps] br0/vx1", "remote VTEP 198.18.0.99 of tunnel vx1 does not answer", "ip route get 198.18.0.99 from 198.18.0.1",
		"[ports] br0/tapgone", "gone", "ip netns add " + gone,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q", want)
		}
	}
	if code != 1 || t.Failed() {
		t.Fatalf("doctor on a broken switch: exit %d\n%s", code, out)
	}
	// Fix them: the doctor is content again.
	testnet.MustNS(t, v1.ns, "ip", "link", "set", v1.nic, "mtu", "1450")
	da.MustCLI("port", "del", "br0", "vx1")
	da.MustCLI("port", "del", "br0", "tapgone")
	if out, code := doctor(); code != 0 {
		t.Fatalf("after the fixes: exit %d\n%s", code, out)
	}
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if !ok {
		if u, ok2 := err.(interface{ Unwrap() error }); ok2 {
			e, ok = u.Unwrap().(*exec.ExitError)
		}
	}
	if ok {
		*ee = e
	}
	return ok
}
