package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/stp"
	"github.com/switchyard-net/switchyard/internal/stp/l2lab"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// stpNode is a Switchyard daemon in its own namespace running spanning
// tree on bridge br0.
type stpNode struct {
	ns string
	d  *testnet.Daemon
}

// newSTPNode starts a daemon in a fresh namespace with br0 running proto
// (--stp or --rstp) at priority prio, hello 1 s, max age 6 s, forward
// delay 4 s, and address mac; ports are system ports on the namespace's
// interfaces (made by the caller before the ports are added).
func newSTPNode(t *testing.T, prefix, proto string, prio int, mac string, daemonArgs ...string) *stpNode {
	t.Helper()
	n := &stpNode{ns: testnet.NewNS(t, prefix)}
	l2lab.QuietNS(t, n.ns)
	n.d = testnet.StartDaemon(t, n.ns, daemonArgs...)
	n.d.MustCLI("bridge", "add", "br0", "--"+proto, "on", "--stp-priority", fmt.Sprint(prio), "--stp-hello-time", "1",
		"--stp-max-age", "6", "--stp-forward-delay", "4", "--hwaddr", mac)
	return n
}

func (n *stpNode) ports(t *testing.T, names ...string) {
	t.Helper()
	for _, p := range names {
		n.d.MustCLI("port", "add", "br0", p, "--type", "system")
	}
}

// states returns port → "role/state" of br0.
func (n *stpNode) states(t *testing.T) (map[string]string, *api.STPStatus, error) {
	st, err := stpOf(t, n.d, "br0")
	if err != nil {
		return nil, nil, err
	}
	m := map[string]string{}
	for _, p := range st.Ports {
		m[p.Name] = p.Role + "/" + p.State
	}
	return m, st, nil
}

// changedAt returns when port name of br0 last changed role or state.
func (n *stpNode) changedAt(t *testing.T, name string) time.Time {
	st, err := stpOf(t, n.d, "br0")
	if err != nil {
		t.Fatal(err)
	}
	if p := stpPort(st, name); p != nil {
		return p.ChangedAt
	}
	return time.Time{}
}

// countBroadcast pings the broadcast address once from ns and counts, on
// each captured link, the ICMP broadcasts seen in the next 3 s.
func countBroadcast(t *testing.T, from, bcast string, caps map[string][2]string) map[string]int {
	t.Helper()
	type capture struct {
		path string
		stop func()
	}
	cs := map[string]capture{}
	for name, c := range caps {
		p, stop := l2lab.Capture(t, c[0], c[1], "icmp and ether broadcast")
		cs[name] = capture{p, stop}
	}
	_, _ = testnet.NS(from, "ping", "-b", "-c", "1", "-W", "1", bcast)
	time.Sleep(3 * time.Second) // frames that circulate keep coming: count for a while
	got := map[string]int{}
	for name, c := range cs {
		c.stop()
		got[name] = countFrames(t, c.path, "icmp")
	}
	return got
}

// A triangle of two Switchyard bridges and a Linux bridge with kernel STP
// (hello 1 s, max age 6 s, forward delay 4 s; kernel 4096, S1 8192, S2
// 12288): the kernel bridge is root everywhere, exactly one port blocks
// (S2's towards S1), a broadcast crosses every link once and does not
// circulate, our Configuration BPDUs are what tshark expects of 802.1D;
// when S2's root link goes down, its blocked port forwards after
// 2 × forward delay and the VM behind S2 is reachable again.
func TestSTPTriangleWithKernel(t *testing.T) {
	testnet.RequireRoot(t)
	needCmd(t, "tshark", "tcpdump", "bridge")
	nsK := testnet.NewNS(t, "sk")
	s1 := newSTPNode(t, "s1", "stp", 8192, "02:00:00:00:00:02")
	s2 := newSTPNode(t, "s2", "stp", 12288, "02:00:00:00:00:03")
	testnet.Veth(t, "k1", nsK, "s1k", s1.ns)
	testnet.Veth(t, "k2", nsK, "s2k", s2.ns)
	testnet.Veth(t, "s12", s1.ns, "s21", s2.ns)
	capBPDU, stopBPDU := l2lab.Capture(t, s1.ns, "s12", "stp")
	kernelBridge(t, nsK, 4096, "02:00:00:00:00:01", "k1", "k2")
	testnet.MustNS(t, nsK, "ip", "addr", "add", "198.18.62.1/24", "dev", "br0")
	start := time.Now()
	s1.ports(t, "s1k", "s12")
	s2.ports(t, "s2k", "s21")
	vm2 := vethVM(t, s2.d, "br0", "198.18.62.12", "--edge", "on")

	var ours map[string]string
	took := waitFor(t, 30*time.Second, "converged", func() error {
		k := l2lab.KernelPortStates(t, nsK)
		if k["k1"] != "forwarding" || k["k2"] != "forwarding" {
			return fmt.Errorf("kernel %v", k)
		}
		a, _, err := s1.states(t)
		if err != nil {
			return err
		}
		b, _, err := s2.states(t)
		if err != nil {
			return err
		}
		ours = map[string]string{"s1k": a["s1k"], "s12": a["s12"], "s2k": b["s2k"], "s21": b["s21"]}
		want := map[string]string{"s1k": "root/forwarding", "s12": "designated/forwarding", "s2k": "root/forwarding", "s21": "alternate/blocking"}
		for p, w := range want {
			if ours[p] != w {
				return fmt.Errorf("ours %v", ours)
			}
		}
		return nil
	})
	t.Logf("converged %v after the ports were added (2 × forward delay = 8 s): kernel k1, k2 forwarding; ours %v", took.Round(100*time.Millisecond), ours)
	blocked := 0
	for _, st := range l2lab.KernelPortStates(t, nsK) {
		if st == "blocking" {
			blocked++
		}
	}
	for _, st := range ours {
		if strings.HasSuffix(st, "/blocking") {
			blocked++
		}
	}
	if blocked != 1 {
		t.Fatalf("%d ports block, want exactly 1", blocked)
	}
	// The root is the bridge the priorities say.
	if m := l2lab.KernelRootMAC(t, nsK, "br0"); m != "02:00:00:00:00:01" {
		t.Fatalf("kernel's root %s", m)
	}
	for _, n := range []*stpNode{s1, s2} {
		_, st, err := n.states(t)
		if err != nil {
			t.Fatal(err)
		}
		if st.RootID != "4096/0/02:00:00:00:00:01" || st.IsRoot {
			t.Fatalf("root %s (is root %v)", st.RootID, st.IsRoot)
		}
	}
	// A broadcast crosses each link once.
	got := countBroadcast(t, nsK, "198.18.62.255", map[string][2]string{"k1": {nsK, "k1"}, "k2": {nsK, "k2"}, "s12": {s1.ns, "s12"}})
	t.Logf("one broadcast from the kernel bridge, frames seen in 3 s: %v", got)
	for l, n := range got {
		if n != 1 {
			t.Fatalf("link %s carried the broadcast %d times, want once (%v)", l, n, got)
		}
	}
	// Our BPDUs on s12 as tshark reads them: 802.1D Configuration BPDUs
	// with the kernel bridge as root, the root's timers.
	stopBPDU()
	rows := l2lab.Tshark(t, capBPDU, "stp && eth.src == 02:00:00:00:00:02", "stp.version", "stp.type", "stp.root.prio", "stp.root.hw",
		"stp.root.cost", "stp.bridge.prio", "stp.bridge.hw", "stp.port", "stp.hello", "stp.max_age", "stp.forward", "frame.len")
	if len(rows) < 3 {
		t.Fatalf("tshark saw %d BPDUs from S1 on s12", len(rows))
	}
	last := rows[len(rows)-1]
	want := []string{"0", "0x00", "4096", "02:00:00:00:00:01", "2", "8192", "02:00:00:00:00:02"}
	for i, w := range want {
		if last[i] != w {
			t.Fatalf("S1's BPDU field %d = %q, want %q: %v", i, last[i], w, last)
		}
	}
	t.Logf("tshark: %d Configuration BPDUs from S1 on s12; last: version %s type %s root %s/%s cost %s bridge %s/%s port %s hello %s max age %s forward delay %s, %s bytes",
		len(rows), last[0], last[1], last[2], last[3], last[4], last[5], last[6], last[7], last[8], last[9], last[10], last[11])

	// The kernel reaches the VM behind S2.
	testnet.Eventually(t, 10*time.Second, "kernel bridge reaches the VM behind S2", func() error {
		return testnet.Ping(nsK, vm2.ip, 2)
	})
	// S2's root link fails: its blocked port takes over after listening
	// and learning (2 × forward delay).
	fault := time.Now()
	testnet.MustNS(t, nsK, "ip", "link", "set", "k2", "down")
	waitFor(t, 15*time.Second, "s21 forwarding", func() error {
		b, _, err := s2.states(t)
		if err != nil {
			return err
		}
		if b["s21"] != "root/forwarding" {
			return fmt.Errorf("S2 %v", b)
		}
		return nil
	})
	took = s2.changedAt(t, "s21").Sub(fault)
	t.Logf("S2's root link down: s21 root/forwarding %v after `ip link set k2 down` (bound 2 × forward delay = 8 s)", took.Round(10*time.Millisecond))
	if took > 9*time.Second || took < 7*time.Second {
		t.Fatalf("reconvergence took %v; STP's bound is 2 × forward delay (8 s)", took)
	}
	testnet.Eventually(t, 10*time.Second, "kernel bridge reaches the VM behind S2 through S1", func() error {
		return testnet.Ping(nsK, vm2.ip, 2)
	})
	_ = start
}

// A triangle of two Switchyard bridges and Open vSwitch 3.1 RSTP (OVS
// 4096, S1 8192, S2 12288): OVS is root everywhere, exactly one port
// discards (S2's towards S1, alternate), a broadcast crosses each link
// once; our RST BPDUs read by tshark; on a carrier loss of S2's root
// link, the alternate forwards within 1 s and pings every 10 ms from the
// VM behind S2 to OVS lose at most that. BPDU guard on the VM's edge port
// shuts it when the VM sends a BPDU, counted; a link flap clears it.
func TestRSTPTriangleWithOVS(t *testing.T) {
	testnet.RequireRoot(t)
	l2lab.NeedOVS(t)
	needCmd(t, "tshark", "tcpdump")
	nsO := testnet.NewNS(t, "ro")
	l2lab.QuietNS(t, nsO)
	s1 := newSTPNode(t, "r1", "rstp", 8192, "02:00:00:00:50:02", "--offload", "off")
	s2 := newSTPNode(t, "r2", "rstp", 12288, "02:00:00:00:50:03", "--offload", "off")
	testnet.Veth(t, "o1", nsO, "s1o", s1.ns)
	testnet.Veth(t, "o2", nsO, "s2o", s2.ns)
	testnet.Veth(t, "s12", s1.ns, "s21", s2.ns)
	capBPDU, stopBPDU := l2lab.Capture(t, s1.ns, "s12", "stp")
	ovs := l2lab.StartOVS(t, nsO)
	ovs.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "other_config:hwaddr=02:00:00:00:50:01",
		"rstp_enable=true", "other_config:rstp-priority=4096")
	ovs.Vsctl("add-port", "br0", "o1")
	ovs.Vsctl("add-port", "br0", "o2")
	testnet.MustNS(t, nsO, "ip", "addr", "add", "198.18.63.1/24", "dev", "br0")
	testnet.MustNS(t, nsO, "ip", "link", "set", "br0", "up")
	s1.ports(t, "s1o", "s12")
	s2.ports(t, "s2o", "s21")
	vm2 := vethVM(t, s2.d, "br0", "198.18.63.12", "--edge", "on", "--bpdu-guard", "on")
	l2lab.QuietNS(t, vm2.ns)

	start := time.Now()
	var ours map[string]string
	took := waitFor(t, 20*time.Second, "converged", func() error {
		out, err := ovs.Appctl("rstp/show", "br0")
		if err != nil {
			return err
		}
		op, root := l2lab.ParseRSTPShow(out)
		if op["o1"].Role != "Designated" || op["o1"].State != "Forwarding" || op["o2"].Role != "Designated" || op["o2"].State != "Forwarding" {
			return fmt.Errorf("Open vSwitch %v (root %s)", op, root)
		}
		a, _, err := s1.states(t)
		if err != nil {
			return err
		}
		b, _, err := s2.states(t)
		if err != nil {
			return err
		}
		ours = map[string]string{"s1o": a["s1o"], "s12": a["s12"], "s2o": b["s2o"], "s21": b["s21"]}
		want := map[string]string{"s1o": "root/forwarding", "s12": "designated/forwarding", "s2o": "root/forwarding", "s21": "alternate/discarding"}
		for p, w := range want {
			if ours[p] != w {
				return fmt.Errorf("ours %v", ours)
			}
		}
		return nil
	})
	t.Logf("RSTP converged %v after the ports were added: Open vSwitch o1, o2 designated forwarding; ours %v", took.Round(10*time.Millisecond), ours)
	for _, n := range []*stpNode{s1, s2} {
		_, st, err := n.states(t)
		if err != nil {
			t.Fatal(err)
		}
		if st.RootID != "4096/0/02:00:00:00:50:01" || st.Protocol != "rstp" {
			t.Fatalf("root %s protocol %s", st.RootID, st.Protocol)
		}
	}
	got := countBroadcast(t, nsO, "198.18.63.255", map[string][2]string{"o1": {nsO, "o1"}, "o2": {nsO, "o2"}, "s12": {s1.ns, "s12"}})
	t.Logf("one broadcast from Open vSwitch's bridge, frames seen in 3 s: %v", got)
	for l, n := range got {
		if n != 1 {
			t.Fatalf("link %s carried the broadcast %d times, want once (%v)", l, n, got)
		}
	}
	stopBPDU()
	rows := l2lab.Tshark(t, capBPDU, "stp && eth.src == 02:00:00:00:50:02", "stp.version", "stp.type", "stp.root.prio", "stp.root.hw",
		"stp.root.cost", "stp.bridge.prio", "stp.bridge.hw", "stp.flags.port_role", "stp.version_1_length", "frame.len")
	if len(rows) < 2 {
		t.Fatalf("tshark saw %d BPDUs from S1 on s12", len(rows))
	}
	last := rows[len(rows)-1]
	for i, w := range []string{"2", "0x02", "4096", "02:00:00:00:50:01", "2000", "8192", "02:00:00:00:50:02", "3", "0"} {
		if last[i] != w {
			t.Fatalf("S1's RST BPDU field %d = %q, want %q: %v", i, last[i], w, last)
		}
	}
	t.Logf("tshark: %d RST BPDUs from S1 on s12; last: version %s type %s root %s/%s cost %s bridge %s/%s role %s, %s bytes",
		len(rows), last[0], last[1], last[2], last[3], last[4], last[5], last[6], last[7], last[9])

	testnet.Eventually(t, 10*time.Second, "VM behind S2 reaches Open vSwitch", func() error {
		return testnet.Ping(vm2.ns, "198.18.63.1", 2)
	})
	// Carrier loss on S2's root link, with pings every 10 ms across it.
	ping := startBG(t, "ip", "netns", "exec", vm2.ns, "ping", "-i", "0.01", "-c", "400", "-W", "1", "-q", "198.18.63.1")
	time.Sleep(time.Second) // the fault comes in the middle of the pings
	fault := time.Now()
	testnet.MustNS(t, nsO, "ip", "link", "set", "o2", "down")
	waitFor(t, 5*time.Second, "s21 root forwarding", func() error {
		b, _, err := s2.states(t)
		if err != nil {
			return err
		}
		if b["s21"] != "root/forwarding" {
			return fmt.Errorf("S2 %v", b)
		}
		return nil
	})
	took = s2.changedAt(t, "s21").Sub(fault)
	out := ping.wait(t, 20*time.Second)
	t.Logf("carrier loss on S2's root link: s21 root/forwarding %v after `ip link set o2 down` began; pings every 10 ms: %s",
		took.Round(time.Millisecond), pingSummary(out))
	if took > time.Second {
		t.Fatalf("RSTP reconvergence took %v, want ≤ 1 s", took)
	}
	if lost := pingLost(out); lost > 100 {
		t.Fatalf("%d of 400 pings lost across the failover (more than 1 s)", lost)
	}

	// BPDU guard: the VM sends a BPDU on its edge port.
	vmPort := ""
	_, st, _ := s2.states(t)
	for _, p := range st.Ports {
		if p.Edge == "on" {
			vmPort = p.Name
		}
	}
	rx := make(chan l2lab.Frame, 16)
	link := l2lab.OpenLink(t, vm2.ns, vm2.nic, 0, rx)
	bpdu := stp.BPDU{Type: stp.TypeConfig, Root: stp.MakeBridgeID(0, [6]byte{2, 0, 0, 0, 0x66, 1}), Bridge: stp.MakeBridgeID(0, [6]byte{2, 0, 0, 0, 0x66, 1}),
		Port: stp.MakePortID(128, 1), MaxAge: 6 * time.Second, HelloTime: time.Second, ForwardDelay: 4 * time.Second}
	link.Send(bpdu.AppendFrame(nil, link.MAC))
	waitFor(t, 3*time.Second, "BPDU guard shuts the VM's port", func() error {
		_, st, err := s2.states(t)
		if err != nil {
			return err
		}
		for _, p := range st.Ports {
			if p.Name == vmPort {
				if !p.GuardDisabled || p.Counters.BPDUGuard != 1 || p.State != "disabled" {
					return fmt.Errorf("%s guard %v count %d state %s", p.Name, p.GuardDisabled, p.Counters.BPDUGuard, p.State)
				}
				return nil
			}
		}
		return fmt.Errorf("no port %s", vmPort)
	})
	if testnet.Ping(vm2.ns, "198.18.63.1", 1) == nil {
		t.Fatal("the guarded port still forwards")
	}
	if !strings.Contains(s2.d.MustCLI("show"), "bpdu-guard-disabled") {
		t.Fatal("show does not say the port is guard-disabled")
	}
	testnet.MustNS(t, vm2.ns, "ip", "link", "set", vm2.nic, "down")
	testnet.MustNS(t, vm2.ns, "ip", "link", "set", vm2.nic, "up")
	testnet.Eventually(t, 10*time.Second, "guard cleared by a link flap", func() error { return testnet.Ping(vm2.ns, "198.18.63.1", 1) })
	_ = start
}

// pingLost returns the lost pings of `ping -q` output.
func pingLost(out string) int {
	var sent, recv int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(strings.TrimSpace(line), "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	return sent - recv
}

func pingSummary(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			return strings.TrimSpace(line)
		}
	}
	return out
}

// Two Switchyard bridges joined by a veth and by a VXLAN tunnel: a loop
// that RSTP breaks by BPDUs over the tunnel port (with a higher cost on
// it, the tunnel is the alternate); a broadcast arrives once; when the
// veth goes, the tunnel port forwards and the VMs reach each other over
// VXLAN.
func TestRSTPOverTunnelPort(t *testing.T) {
	testnet.RequireRoot(t)
	a := newSTPNode(t, "ta", "rstp", 4096, "02:00:00:00:60:01")
	b := newSTPNode(t, "tb", "rstp", 8192, "02:00:00:00:60:02")
	testnet.Veth(t, "ul0", a.ns, "ul0", b.ns)
	testnet.Addr(t, a.ns, "ul0", "198.18.65.1/24")
	testnet.Addr(t, b.ns, "ul0", "198.18.65.2/24")
	testnet.Veth(t, "dab", a.ns, "dba", b.ns)
	a.ports(t, "dab")
	b.ports(t, "dba")
	a.d.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "100", "--local", "198.18.65.1", "--remote", "198.18.65.2")
	b.d.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "100", "--local", "198.18.65.2", "--remote", "198.18.65.1",
		"--stp-cost", "20000")
	va := vethVM(t, a.d, "br0", "203.0.113.1", "--edge", "on")
	vb := vethVM(t, b.d, "br0", "203.0.113.2", "--edge", "on")
	for _, v := range []vm{va, vb} {
		testnet.MustNS(t, v.ns, "ip", "link", "set", v.nic, "mtu", "1400")
	}
	took := waitFor(t, 20*time.Second, "converged", func() error {
		m, _, err := b.states(t)
		if err != nil {
			return err
		}
		if m["dba"] != "root/forwarding" || m["vx0"] != "alternate/discarding" {
			return fmt.Errorf("B %v", m)
		}
		ma, _, err := a.states(t)
		if err != nil {
			return err
		}
		if ma["vx0"] != "designated/forwarding" || ma["dab"] != "designated/forwarding" {
			return fmt.Errorf("A %v", ma)
		}
		return nil
	})
	t.Logf("converged in %v: B's VXLAN port alternate (it hears A's BPDUs through the tunnel)", took.Round(10*time.Millisecond))
	reach(t, va, vb)
	got := countBroadcast(t, va.ns, "203.0.113.255", map[string][2]string{"vm-b": {vb.ns, vb.nic}})
	if got["vm-b"] != 1 {
		t.Fatalf("the broadcast reached the VM behind B %d times, want once", got["vm-b"])
	}
	_, st, _ := b.states(t)
	for _, p := range st.Ports {
		if p.Name == "vx0" && p.Counters.RxRST == 0 {
			t.Fatalf("no RST BPDUs received on the tunnel port: %+v", p.Counters)
		}
	}
	fault := time.Now()
	testnet.MustNS(t, a.ns, "ip", "link", "set", "dab", "down")
	waitFor(t, 5*time.Second, "tunnel port forwarding", func() error {
		m, _, err := b.states(t)
		if err != nil {
			return err
		}
		if m["vx0"] != "root/forwarding" {
			return fmt.Errorf("B %v", m)
		}
		return nil
	})
	t.Logf("veth down: B's VXLAN port root/forwarding %v later", b.changedAt(t, "vx0").Sub(fault).Round(time.Millisecond))
	reach(t, vb, va)
}

// Two Switchyard bridges running RSTP and a Linux bridge (kernel STP, which
// drops every BPDU whose version is not 0): our ports facing the kernel
// migrate to Configuration BPDUs (tshark), between our bridges RST BPDUs
// stay; with costs on the short scale (--stp-cost 2), S1 (4096) is root,
// the kernel's port towards S2 blocks, a broadcast crosses each link once.
func TestRSTPMigratesToKernelSTP(t *testing.T) {
	testnet.RequireRoot(t)
	needCmd(t, "tshark", "tcpdump", "bridge")
	nsK := testnet.NewNS(t, "mk")
	s1 := newSTPNode(t, "m1", "rstp", 4096, "02:00:00:00:70:01")
	s2 := newSTPNode(t, "m2", "rstp", 8192, "02:00:00:00:70:02")
	testnet.Veth(t, "k1", nsK, "s1k", s1.ns)
	testnet.Veth(t, "k2", nsK, "s2k", s2.ns)
	testnet.Veth(t, "s12", s1.ns, "s21", s2.ns)
	capK, stopK := l2lab.Capture(t, nsK, "k2", "stp")
	capS, stopS := l2lab.Capture(t, s1.ns, "s12", "stp")
	kernelBridge(t, nsK, 12288, "02:00:00:00:70:03", "k1", "k2")
	testnet.MustNS(t, nsK, "ip", "addr", "add", "198.18.66.3/24", "dev", "br0")
	for _, n := range []struct {
		node  *stpNode
		ports []string
	}{{s1, []string{"s1k", "s12"}}, {s2, []string{"s2k", "s21"}}} {
		for _, p := range n.ports {
			n.node.d.MustCLI("port", "add", "br0", p, "--type", "system", "--stp-cost", "2")
		}
	}
	took := waitFor(t, 30*time.Second, "converged", func() error {
		k := l2lab.KernelPortStates(t, nsK)
		if k["k1"] != "forwarding" || k["k2"] != "blocking" {
			return fmt.Errorf("kernel %v", k)
		}
		a, _, err := s1.states(t)
		if err != nil {
			return err
		}
		b, _, err := s2.states(t)
		if err != nil {
			return err
		}
		if a["s1k"] != "designated/forwarding" || a["s12"] != "designated/forwarding" || b["s21"] != "root/forwarding" || b["s2k"] != "designated/forwarding" {
			return fmt.Errorf("S1 %v S2 %v", a, b)
		}
		return nil
	})
	t.Logf("converged %v after the ports were added: the kernel's k2 (towards S2) blocking, ours forwarding", took.Round(100*time.Millisecond))
	if m := l2lab.KernelRootMAC(t, nsK, "br0"); m != "02:00:00:00:70:01" {
		t.Fatalf("kernel's root %s, want S1", m)
	}
	_, st, _ := s2.states(t)
	if p := stpPort(st, "s2k"); p == nil || p.SendRSTP {
		t.Fatalf("S2's port towards the kernel still sends RST BPDUs: %+v", p)
	}
	if p := stpPort(st, "s21"); p == nil || !p.SendRSTP {
		t.Fatalf("S2's port towards S1 does not send RST BPDUs: %+v", p)
	}
	got := countBroadcast(t, nsK, "198.18.66.255", map[string][2]string{"k1": {nsK, "k1"}, "k2": {nsK, "k2"}, "s12": {s1.ns, "s12"}})
	t.Logf("one broadcast from the kernel bridge, frames seen in 3 s: %v", got)
	// The kernel sends it out of k1 only (k2 blocks); S1 floods it to S2,
	// which sends it to the kernel's blocked k2, which drops it.
	if got["k1"] != 1 || got["s12"] != 1 || got["k2"] != 1 {
		t.Fatalf("broadcast copies per link %v, want one each", got)
	}
	stopK()
	stopS()
	toKernel := l2lab.Tshark(t, capK, "stp && eth.src == 02:00:00:00:70:02", "stp.version", "stp.type", "stp.root.hw", "frame.len")
	cfg := 0
	for _, r := range toKernel {
		if r[0] == "0" && r[1] == "0x00" && r[2] == "02:00:00:00:70:01" {
			cfg++
		}
	}
	if cfg < 2 {
		t.Fatalf("S2 sent %d Configuration BPDUs towards the kernel: %v", cfg, toKernel)
	}
	between := l2lab.Tshark(t, capS, "stp && eth.src == 02:00:00:00:70:01", "stp.version", "stp.type")
	if len(between) == 0 || between[len(between)-1][0] != "2" {
		t.Fatalf("between our bridges: %v", between)
	}
	t.Logf("tshark: S2 → kernel %d Configuration BPDUs (version 0) of %d; S1 → S2 RST BPDUs (version 2), %d", cfg, len(toKernel), len(between))
}
