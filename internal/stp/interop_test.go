package stp

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/packet"
	"github.com/switchyard-net/switchyard/internal/stp/l2lab"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// markerType is the EtherType of the broadcast frames the tests inject to
// show that nothing circulates (IEEE local experimental 1).
const markerType = 0x88b5

type stateEvent struct {
	at    time.Time
	port  uint16
	state State
	role  Role
}

// stpNode runs a Bridge over AF_PACKET links with the real clock, and
// forwards data frames by flooding between forwarding ports (no learning),
// which is enough to carry pings and to show loops.
type stpNode struct {
	t       *testing.T
	name    string
	b       *Bridge
	links   map[uint16]*l2lab.Link
	byName  map[string]uint16
	mu      sync.Mutex
	events  []stateEvent
	markers map[uint16]int // marker frames received per port
	carrier []l2lab.Carrier
	stop    chan struct{}
	done    chan struct{}
}

type nodePort struct {
	no     uint16
	ifname string
	cfg    PortConfig
}

func startSTPNode(t *testing.T, name, ns string, cfg Config, ports []nodePort) *stpNode {
	rx := make(chan l2lab.Frame, 1024)
	car := make(chan l2lab.Carrier, 64)
	b, err := New(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := &stpNode{t: t, name: name, b: b, links: map[uint16]*l2lab.Link{}, byName: map[string]uint16{}, markers: map[uint16]int{},
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range ports {
		l := l2lab.OpenLink(t, ns, p.ifname, int(p.no), rx)
		n.links[p.no] = l
		n.byName[p.ifname] = p.no
		pc := p.cfg
		pc.MAC = packet.MAC(l.MAC)
		n.apply(must(b.AddPort(p.no, pc, time.Now())))
	}
	l2lab.WatchCarrier(t, ns, car)
	go n.loop(rx, car)
	t.Cleanup(func() {
		close(n.stop)
		<-n.done
		if t.Failed() {
			t.Logf("%s:\n%s\nevents:\n%s", name, b.Status(time.Now()).Text(), n.eventLog())
		}
	})
	return n
}

func (n *stpNode) eventLog() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var w strings.Builder
	for _, e := range n.events {
		fmt.Fprintf(&w, "  %s port %d %s %s\n", e.at.Format("15:04:05.000"), e.port, e.role, e.state)
	}
	return w.String()
}

func (n *stpNode) apply(out Output) {
	now := time.Now()
	n.mu.Lock()
	for _, c := range out.Changes {
		n.events = append(n.events, stateEvent{at: now, port: c.Port, state: c.State, role: c.Role})
	}
	n.mu.Unlock()
	for _, f := range out.Frames {
		if l := n.links[f.Port]; l != nil {
			l.Send(f.Data)
		}
	}
}

func (n *stpNode) loop(rx chan l2lab.Frame, car chan l2lab.Carrier) {
	defer close(n.done)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case f := <-rx:
			in := uint16(f.Link)
			if IsBPDU(f.Data) {
				n.apply(n.b.Receive(in, f.Data, time.Now()))
				continue
			}
			if len(f.Data) < 14 || packet.MAC(f.Data[0:6]).IsLinkLocal() {
				continue
			}
			if binary.BigEndian.Uint16(f.Data[12:]) == markerType {
				n.mu.Lock()
				n.markers[in]++
				n.mu.Unlock()
			}
			if st, _ := n.b.PortState(in); !st.Forwards() {
				continue
			}
			for no, l := range n.links {
				if no == in {
					continue
				}
				if st, _ := n.b.PortState(no); st.Forwards() {
					l.Send(f.Data)
				}
			}
		case c := <-car:
			n.mu.Lock()
			n.carrier = append(n.carrier, c)
			n.mu.Unlock()
			if no, ok := n.byName[c.Name]; ok {
				n.apply(n.b.SetLink(no, c.Up, 10000, time.Now()))
			}
		case <-tick.C:
			n.apply(n.b.Tick(time.Now()))
		}
	}
}

// sendMarker floods one marker broadcast out of every forwarding port.
func (n *stpNode) sendMarker() {
	f := make([]byte, 60)
	copy(f[0:6], packet.Broadcast[:])
	f[6] = 2
	binary.BigEndian.PutUint16(f[12:], markerType)
	for no, l := range n.links {
		if st, _ := n.b.PortState(no); st.Forwards() {
			copy(f[6:12], l.MAC[:])
			l.Send(f)
		}
	}
}

func (n *stpNode) markerCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, v := range n.markers {
		c += v
	}
	return c
}

// carrierAt returns when the node heard that ifname's carrier went to up
// (zero if not) after since.
func (n *stpNode) carrierAt(ifname string, up bool, since time.Time) time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.carrier {
		if c.Name == ifname && c.Up == up && !c.At.Before(since) {
			return c.At
		}
	}
	return time.Time{}
}

// changedAt returns when port no last entered state st with role r (zero
// if never) after since.
func (n *stpNode) changedAt(no uint16, st State, r Role, since time.Time) time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.events {
		if e.port == no && e.state == st && e.role == r && !e.at.Before(since) {
			return e.at
		}
	}
	return time.Time{}
}

func (n *stpNode) is(no uint16, st State, r Role) error {
	if s, role := n.b.PortState(no); s != st || role != r {
		return fmt.Errorf("%s port %d is %s %s, want %s %s", n.name, no, role, s, r, st)
	}
	return nil
}

// kernelBridge makes br0 in ns a Linux bridge with kernel STP, the test
// timers (forward delay 4 s, hello 1 s, max age 6 s), address mac, the
// given ports and an address.
func kernelBridge(t *testing.T, ns string, prio int, mac, ip string, ports ...string) {
	testnet.MustNS(t, ns, "ip", "link", "add", "br0", "type", "bridge", "stp_state", "1", "priority", fmt.Sprint(prio),
		"forward_delay", "400", "hello_time", "100", "max_age", "600")
	testnet.MustNS(t, ns, "ip", "link", "set", "br0", "address", mac)
	for _, p := range ports {
		testnet.MustNS(t, ns, "ip", "link", "set", p, "master", "br0")
		testnet.MustNS(t, ns, "ip", "link", "set", p, "up")
	}
	testnet.MustNS(t, ns, "ip", "link", "set", "br0", "up")
	testnet.MustNS(t, ns, "ip", "addr", "add", ip, "dev", "br0")
}

func kernelConverged(t *testing.T, ns string) error {
	for name, st := range l2lab.KernelPortStates(t, ns) {
		if st != "forwarding" && st != "blocking" && st != "disabled" {
			return fmt.Errorf("%s %s is %s", ns, name, st)
		}
	}
	return nil
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not true after %v: %v", what, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testTimers(p Protocol, prio uint16, mac packet.MAC) Config {
	return Config{Protocol: p, Address: mac, Priority: prio, PrioritySet: true, HelloTime: time.Second,
		MaxAge: 6 * time.Second, ForwardDelay: 4 * time.Second}
}

// checkNoCirculation injects a marker broadcast and checks that our node
// sees it at most twice in 2 s (once per segment it reaches), where a loop
// would deliver thousands.
func checkNoCirculation(t *testing.T, n *stpNode) {
	t.Helper()
	before := n.markerCount()
	n.sendMarker()
	time.Sleep(2 * time.Second) // a fixed observation window, not a wait for a condition
	if got := n.markerCount() - before; got > 2 {
		t.Fatalf("one marker broadcast came back %d times in 2 s: it circulates", got)
	}
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("interop with real bridges takes 20-45 s; not in -short")
	}
}

func savePcap(t *testing.T, from, name string) {
	if dir := os.Getenv("SY_L2_SAVE_PCAP"); dir != "" {
		b, err := os.ReadFile(from)
		if err == nil {
			_ = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
	}
}

// TestSTPInteropKernel: two Linux bridges with kernel STP (k1 root 4096,
// k2 8192) and our STP bridge m (12288) in a triangle.
func TestSTPInteropKernel(t *testing.T) {
	skipShort(t)
	testnet.RequireRoot(t)
	k1, k2, m := testnet.NewNS(t, "k1"), testnet.NewNS(t, "k2"), testnet.NewNS(t, "sm")
	l2lab.QuietNS(t, m)
	testnet.Veth(t, "p12", k1, "p21", k2)
	testnet.Veth(t, "p23", k2, "p32", m)
	testnet.Veth(t, "p13", k1, "p31", m)
	capPath, stopCap := l2lab.Capture(t, m, "p32", "ether dst 01:80:c2:00:00:00")
	kernelBridge(t, k1, 4096, "02:00:00:00:00:01", "198.18.70.1/24", "p12", "p13")
	kernelBridge(t, k2, 8192, "02:00:00:00:00:02", "198.18.70.2/24", "p21", "p23")
	start := time.Now()
	node := startSTPNode(t, "m", m, testTimers(STP, 12288, packet.MAC{2, 0, 0, 0, 0, 3}),
		[]nodePort{{1, "p31", PortConfig{}}, {2, "p32", PortConfig{}}})

	waitFor(t, 30*time.Second, "converged", func() error {
		if err := node.is(2, Blocking, RoleAlternate); err != nil {
			return err
		}
		if err := node.is(1, Forwarding, RoleRoot); err != nil {
			return err
		}
		for _, ns := range []string{k1, k2} {
			if err := kernelConverged(t, ns); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("triangle converged %v after our bridge started (2 × forward delay = 8 s)", time.Since(start).Round(100*time.Millisecond))
	// Exactly one port blocks in the whole triangle: ours towards k2.
	for _, ns := range []string{k1, k2} {
		for name, st := range l2lab.KernelPortStates(t, ns) {
			if st != "forwarding" {
				t.Fatalf("%s %s is %s; only our p32 may block", ns, name, st)
			}
		}
		if root := l2lab.KernelRootMAC(t, ns, "br0"); root != "02:00:00:00:00:01" {
			t.Fatalf("%s believes root is %s", ns, root)
		}
	}
	if got := node.b.RootID(); got != MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0, 1}) {
		t.Fatalf("our root %s", got)
	}
	checkNoCirculation(t, node)
	if err := testnet.Ping(k2, "198.18.70.1", 2); err != nil {
		t.Fatalf("k2 → k1: %v", err)
	}

	// 1. Direct failure: our root port loses carrier. Our blocked port
	// becomes the root port and forwards after listening and learning.
	testnet.MustNS(t, k1, "ip", "link", "set", "p13", "down")
	took := waitFor(t, 15*time.Second, "our p32 root forwarding", func() error { return node.is(2, Forwarding, RoleRoot) })
	t.Logf("direct failure (k1-m): our p32 root forwarding after %v (bound 2 × forward delay = 8 s)", took.Round(100*time.Millisecond))
	if took > 9500*time.Millisecond {
		t.Fatalf("took %v", took)
	}
	testnet.MustNS(t, k1, "ip", "link", "set", "p13", "up")
	waitFor(t, 20*time.Second, "back to the first tree", func() error {
		if err := node.is(1, Forwarding, RoleRoot); err != nil {
			return err
		}
		return node.is(2, Blocking, RoleAlternate)
	})

	// 2. k1-k2 fails: k2 becomes root for a moment and sends inferior
	// BPDUs, which our blocked port ignores (802.1D-1998 8.6.2.2, as the
	// kernel does) until k2's old information ages out (max age); then we
	// teach k2 the way to k1 and our port goes designated after listening
	// and learning. Bound: max age + 2 × forward delay = 14 s.
	t0 := time.Now()
	testnet.MustNS(t, k1, "ip", "link", "set", "p12", "down")
	took = waitFor(t, 20*time.Second, "our p32 forwarding", func() error { return node.is(2, Forwarding, RoleDesignated) })
	t.Logf("indirect failure (k1-k2): our p32 designated forwarding after %v (bound max age + 2 × forward delay = 14 s)", took.Round(100*time.Millisecond))
	if took > 15*time.Second {
		t.Fatalf("took %v", took)
	}
	took = waitFor(t, 15*time.Second, "k2 reaches k1 through us", func() error { return testnet.Ping(k2, "198.18.70.1", 1) })
	t.Logf("k2 → k1 through our bridge %v after the failure", time.Since(t0).Round(100*time.Millisecond))
	if root := l2lab.KernelRootMAC(t, k2, "br0"); root != "02:00:00:00:00:01" {
		t.Fatalf("k2 did not learn k1 as root from our BPDUs: %s", root)
	}
	stopCap()
	savePcap(t, capPath, "kernel-stp-triangle.pcap")

	// Our BPDUs on p32, as tshark dissects them: Configuration BPDUs of
	// version 0 (the kernel drops others) naming k1 as root, our bridge
	// and cost 4 (k1's 2 + ours 2); and the kernel's own.
	rows := l2lab.Tshark(t, capPath, "stp", "eth.src", "stp.version", "stp.type", "stp.root.hw", "stp.root.prio", "stp.bridge.hw",
		"stp.root.cost", "stp.port", "stp.max_age", "stp.hello", "stp.forward")
	mine, theirs := 0, 0
	ourMAC := fmt.Sprintf("%s", packet.MAC(node.links[2].MAC))
	for _, r := range rows {
		if len(r) < 11 {
			continue
		}
		if r[0] == ourMAC {
			mine++
			if r[1] != "0" || r[2] != "0x00" || r[3] != "02:00:00:00:00:01" || r[4] != "4096" || r[5] != "02:00:00:00:00:03" ||
				r[6] != "2" || r[7] != "0x8002" || r[8] != "6" || r[9] != "1" || r[10] != "4" {
				t.Fatalf("our BPDU as tshark reads it: %v", r)
			}
		} else {
			theirs++
		}
	}
	if mine < 3 || theirs < 3 {
		t.Fatalf("capture: %d of our BPDUs, %d of k2's", mine, theirs)
	}
}

// TestRSTPInteropKernelMigration: two of our RSTP bridges (m1 root 4096,
// m2 8192) and one Linux bridge with kernel STP (12288). Our ports facing
// the kernel must fall back to Configuration BPDUs, or it never hears us.
func TestRSTPInteropKernelMigration(t *testing.T) {
	skipShort(t)
	testnet.RequireRoot(t)
	n1, n2, k := testnet.NewNS(t, "r1"), testnet.NewNS(t, "r2"), testnet.NewNS(t, "rk")
	l2lab.QuietNS(t, n1)
	l2lab.QuietNS(t, n2)
	testnet.Veth(t, "a12", n1, "a21", n2)
	testnet.Veth(t, "a23", n2, "p32", k)
	testnet.Veth(t, "a13", n1, "p31", k)
	capK, stopK := l2lab.Capture(t, k, "p31", "ether dst 01:80:c2:00:00:00")
	capR, stopR := l2lab.Capture(t, n2, "a21", "ether dst 01:80:c2:00:00:00")
	kernelBridge(t, k, 12288, "02:00:00:00:00:13", "198.18.71.3/24", "p31", "p32")
	start := time.Now()
	// The kernel's costs are 802.1D-1998's (2 for a veth), ours 802.1D-2004's
	// (2,000): in a mixed network the legacy bridge would look 1,000 times
	// closer to the root. Give our ports the kernel's scale, as an
	// administrator of a mixed network must (docs/l2.md).
	short := PortConfig{PathCost: 2}
	m1 := startSTPNode(t, "m1", n1, testTimers(RSTP, 4096, packet.MAC{2, 0, 0, 0, 0, 0x11}),
		[]nodePort{{1, "a12", short}, {2, "a13", short}})
	m2 := startSTPNode(t, "m2", n2, testTimers(RSTP, 8192, packet.MAC{2, 0, 0, 0, 0, 0x12}),
		[]nodePort{{1, "a21", short}, {2, "a23", short}})
	waitFor(t, 30*time.Second, "converged", func() error {
		for _, c := range []error{m1.is(1, Forwarding, RoleDesignated), m1.is(2, Forwarding, RoleDesignated),
			m2.is(1, Forwarding, RoleRoot), m2.is(2, Forwarding, RoleDesignated)} {
			if c != nil {
				return c
			}
		}
		st := l2lab.KernelPortStates(t, k)
		if st["p31"] != "forwarding" || st["p32"] != "blocking" {
			return fmt.Errorf("kernel ports %v", st)
		}
		return nil
	})
	t.Logf("mixed triangle converged %v after our bridges started (the kernel needs 2 × forward delay)", time.Since(start).Round(100*time.Millisecond))
	if root := l2lab.KernelRootMAC(t, k, "br0"); root != "02:00:00:00:00:11" {
		t.Fatalf("kernel believes root is %s, want our m1", root)
	}
	for _, c := range []struct {
		n    *stpNode
		port uint16
		rstp bool
	}{{m1, 1, true}, {m1, 2, false}, {m2, 1, true}, {m2, 2, false}} {
		ps := c.n.b.Status(time.Now()).Ports[c.port-1]
		if ps.SendRSTP != c.rstp {
			t.Fatalf("%s port %d sends RSTP %v, want %v", c.n.name, c.port, ps.SendRSTP, c.rstp)
		}
	}
	checkNoCirculation(t, m2)

	// m1-kernel fails: the kernel's blocked port must become its root port
	// (through m2), within its timers.
	testnet.MustNS(t, n1, "ip", "link", "set", "a13", "down")
	took := waitFor(t, 20*time.Second, "kernel p32 forwarding", func() error {
		if st := l2lab.KernelPortStates(t, k)["p32"]; st != "forwarding" {
			return fmt.Errorf("p32 %s", st)
		}
		return nil
	})
	t.Logf("m1-kernel failed: kernel's p32 forwarding after %v (2 × forward delay = 8 s)", took.Round(100*time.Millisecond))
	if root := l2lab.KernelRootMAC(t, k, "br0"); root != "02:00:00:00:00:11" {
		t.Fatalf("kernel root after failure %s", root)
	}
	stopK()
	stopR()
	savePcap(t, capK, "rstp-to-kernel.pcap")
	// Towards the kernel: our Configuration BPDUs (version 0); between our
	// two bridges: RST BPDUs (version 2, type 2).
	versions := func(path, src string) map[string]int {
		v := map[string]int{}
		for _, r := range l2lab.Tshark(t, path, "stp && eth.src == "+src, "stp.version", "stp.type") {
			if len(r) == 2 {
				v[r[0]+"/"+r[1]]++
			}
		}
		return v
	}
	toKernel := versions(capK, packet.MAC(m1.links[2].MAC).String())
	if toKernel["0/0x00"] < 2 {
		t.Fatalf("m1 sent the kernel %v; want Configuration BPDUs", toKernel)
	}
	between := versions(capR, packet.MAC(m1.links[1].MAC).String())
	if between["2/0x02"] < 2 || between["0/0x00"] != 0 {
		t.Fatalf("m1 sent m2 %v; want RST BPDUs only", between)
	}
}

// TestRSTPInteropOVS: Open vSwitch 3.1 RSTP (root 4096) and two of our
// RSTP bridges (m2 8192, m3 12288) in a triangle, and a host behind m3.
// After the OVS-m3 link loses carrier, m3's alternate port takes over at
// once; pings from the host to OVS lose at most a second's worth.
func TestRSTPInteropOVS(t *testing.T) {
	skipShort(t)
	testnet.RequireRoot(t)
	l2lab.NeedOVS(t)
	o, n2, n3, vm := testnet.NewNS(t, "ro"), testnet.NewNS(t, "r2"), testnet.NewNS(t, "r3"), testnet.NewNS(t, "rv")
	for _, ns := range []string{o, n2, n3} {
		l2lab.QuietNS(t, ns)
	}
	testnet.Veth(t, "o2", o, "a21", n2)
	testnet.Veth(t, "a23", n2, "a32", n3)
	testnet.Veth(t, "o3", o, "a31", n3)
	testnet.Veth(t, "a3v", n3, "eth0", vm)
	testnet.Addr(t, vm, "eth0", "198.18.72.3/24")
	cap3, stop3 := l2lab.Capture(t, n3, "a32", "ether dst 01:80:c2:00:00:00")
	capO, stopO := l2lab.Capture(t, n3, "a31", "ether dst 01:80:c2:00:00:00")
	ovs := l2lab.StartOVS(t, o)
	ovs.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "other_config:hwaddr=02:00:00:00:00:21",
		"rstp_enable=true", "other_config:rstp-priority=4096", "other_config:rstp-hello-time=1",
		"other_config:rstp-max-age=6", "other_config:rstp-forward-delay=4")
	ovs.Vsctl("add-port", "br0", "o2")
	ovs.Vsctl("add-port", "br0", "o3")
	testnet.Addr(t, o, "br0", "198.18.72.1/24")
	start := time.Now()
	m2 := startSTPNode(t, "m2", n2, testTimers(RSTP, 8192, packet.MAC{2, 0, 0, 0, 0, 0x22}),
		[]nodePort{{1, "a21", PortConfig{}}, {2, "a23", PortConfig{}}})
	m3 := startSTPNode(t, "m3", n3, testTimers(RSTP, 12288, packet.MAC{2, 0, 0, 0, 0, 0x23}),
		[]nodePort{{1, "a31", PortConfig{}}, {2, "a32", PortConfig{}}, {3, "a3v", PortConfig{Edge: EdgeOn}}})
	ovsPorts := func() (map[string]l2lab.RSTPPort, string) {
		out, err := ovs.Appctl("rstp/show", "br0")
		if err != nil {
			return nil, ""
		}
		return l2lab.ParseRSTPShow(out)
	}
	waitFor(t, 30*time.Second, "converged", func() error {
		for _, c := range []error{m2.is(1, Forwarding, RoleRoot), m2.is(2, Forwarding, RoleDesignated),
			m3.is(1, Forwarding, RoleRoot), m3.is(2, Discarding, RoleAlternate), m3.is(3, Forwarding, RoleDesignated)} {
			if c != nil {
				return c
			}
		}
		p, _ := ovsPorts()
		if p["o2"] != (l2lab.RSTPPort{Role: "Designated", State: "Forwarding"}) || p["o3"] != (l2lab.RSTPPort{Role: "Designated", State: "Forwarding"}) {
			return fmt.Errorf("OVS ports %v", p)
		}
		return nil
	})
	t.Logf("RSTP triangle with Open vSwitch converged %v after our bridges started", time.Since(start).Round(10*time.Millisecond))
	if _, root := ovsPorts(); root != "02:00:00:00:00:21" {
		t.Fatalf("OVS root %q", root)
	}
	for _, n := range []*stpNode{m2, m3} {
		if n.b.RootID() != MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0, 0x21}) {
			t.Fatalf("%s root %s", n.name, n.b.RootID())
		}
	}
	checkNoCirculation(t, m3)
	waitFor(t, 10*time.Second, "host reaches OVS", func() error { return testnet.Ping(vm, "198.18.72.1", 1) })

	// Carrier loss on OVS-m3, with pings every 10 ms from the host.
	pingDone := make(chan string, 1)
	go func() {
		out, _ := testnet.NS(vm, "ping", "-i", "0.01", "-c", "400", "-W", "1", "198.18.72.1")
		pingDone <- out
	}()
	time.Sleep(time.Second) // let the pings run before the failure
	t0 := time.Now()
	testnet.MustNS(t, o, "ip", "link", "set", "o3", "down")
	waitFor(t, 5*time.Second, "m3's alternate takes over", func() error { return m3.is(2, Forwarding, RoleRoot) })
	at := m3.changedAt(2, Forwarding, RoleRoot, t0)
	took := at.Sub(t0)
	heard := m3.carrierAt("a31", false, t0.Add(-time.Second))
	t.Logf("carrier loss on OVS-m3: m3 port 2 root forwarding %v after `ip link set o3 down` returned; the netlink carrier event came %v after it, the state change %v after the event",
		took.Round(time.Millisecond), heard.Sub(t0).Round(time.Millisecond), at.Sub(heard).Round(time.Microsecond))
	// The protocol's part (carrier event → alternate forwarding) must be
	// immediate; end to end it includes the kernel's carrier notification
	// and scheduling on a shared machine, so it gets some slack beyond the
	// 1 s target.
	if at.Sub(heard) > 100*time.Millisecond {
		t.Fatalf("state change %v after the carrier event; RSTP's alternate takes over at once", at.Sub(heard))
	}
	if took > 2*time.Second {
		t.Fatalf("reconvergence took %v after the link went down", took)
	}
	out := <-pingDone
	var sent, recv int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(line, "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	lostMS := (sent - recv) * 10
	t.Logf("pings every 10 ms through the failure: %d sent, %d received (%d lost ≈ %d ms)", sent, recv, sent-recv, lostMS)
	if sent == 0 || lostMS > 1000 {
		t.Fatalf("ping: %s", out)
	}
	stop3()
	stopO()
	savePcap(t, capO, "ovs-rstp.pcap")

	// tshark: RST BPDUs on both links; proposal and agreement seen between
	// OVS and m3 (m3's root port agrees to OVS's designated port).
	flags := func(path, src string) (n int, roles map[string]bool, agreements, proposals int) {
		roles = map[string]bool{}
		for _, r := range l2lab.Tshark(t, path, "stp && eth.src == "+src, "stp.version", "stp.type", "stp.flags.port_role", "stp.flags.agreement", "stp.flags.proposal") {
			if len(r) < 5 || r[0] != "2" || r[1] != "0x02" {
				continue
			}
			n++
			roles[r[2]] = true
			if r[3] == "1" || r[3] == "True" {
				agreements++
			}
			if r[4] == "1" || r[4] == "True" {
				proposals++
			}
		}
		return
	}
	n, roles, agr, _ := flags(capO, packet.MAC(m3.links[1].MAC).String())
	if n < 2 || agr == 0 || !roles["2"] {
		t.Fatalf("m3 → OVS: %d RST BPDUs, roles %v, %d agreements", n, roles, agr)
	}
	n, _, _, prop := flags(cap3, packet.MAC(m3.links[2].MAC).String())
	nOVS, _, _, _ := flags(capO, "02:00:00:00:00:21")
	rows := l2lab.Tshark(t, capO, "stp && eth.src != "+packet.MAC(m3.links[1].MAC).String(), "stp.version")
	if len(rows) < 2 {
		t.Fatalf("no BPDUs from OVS on o3-a31 (%d by hwaddr)", nOVS)
	}
	_ = prop
	keys := make([]string, 0, len(roles))
	for k := range roles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("m3 → OVS: roles %v, %d agreements; m3 → m2: %d RST BPDUs", keys, agr, n)
}
