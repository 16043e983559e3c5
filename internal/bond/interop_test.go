package bond

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/lacp"
	"github.com/switchyard-net/switchyard/internal/packet"
	"github.com/switchyard-net/switchyard/internal/stp/l2lab"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// bondNode runs a Bond over AF_PACKET links with the real clock: LACPDUs
// in and out, carrier from netlink, Tick every 50 ms.
type bondNode struct {
	t     *testing.T
	b     *Bond
	links []*l2lab.Link
	mu    sync.Mutex
	mute  []bool // drop our LACPDUs on this member (a silent failure)
	stop  chan struct{}
	done  chan struct{}
}

func startBondNode(t *testing.T, ns string, ifs []string, cfg Config) *bondNode {
	rx := make(chan l2lab.Frame, 256)
	car := make(chan l2lab.Carrier, 64)
	n := &bondNode{t: t, mute: make([]bool, len(ifs)), stop: make(chan struct{}), done: make(chan struct{})}
	var mcs []MemberConfig
	for i, name := range ifs {
		l := l2lab.OpenLink(t, ns, name, i, rx)
		n.links = append(n.links, l)
		mcs = append(mcs, MemberConfig{Name: name, MAC: packet.MAC(l.MAC)})
	}
	b, err := New(cfg, mcs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n.b = b
	l2lab.WatchCarrier(t, ns, car)
	go n.loop(rx, car, ifs)
	t.Cleanup(func() { close(n.stop); <-n.done })
	return n
}

func (n *bondNode) loop(rx chan l2lab.Frame, car chan l2lab.Carrier, ifs []string) {
	defer close(n.done)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var out Output
		select {
		case <-n.stop:
			return
		case f := <-rx:
			if !lacp.IsSlowProtocols(f.Data) {
				continue
			}
			out = n.b.ReceiveLACP(f.Link, f.Data, time.Now())
		case c := <-car:
			for i, name := range ifs {
				if name == c.Name {
					out = n.b.SetCarrier(i, c.Up, time.Now())
				}
			}
		case <-tick.C:
			out = n.b.Tick(time.Now())
		}
		n.mu.Lock()
		for _, f := range out.Frames {
			if !n.mute[f.Member] {
				n.links[f.Member].Send(f.Data)
			}
		}
		n.mu.Unlock()
	}
}

func (n *bondNode) setMute(i int, on bool) {
	n.mu.Lock()
	n.mute[i] = on
	n.mu.Unlock()
}

// waitFor polls cond every 20 ms and returns how long it took.
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

type lacpLab struct {
	t      *testing.T
	nsA    string // ours: m1 m2
	nsB    string // Open vSwitch: o1 o2
	ovs    *l2lab.OVS
	node   *bondNode
	ourID  string
	ovsID  string
	capOVS string // pcap of o1 (our and OVS's LACPDUs)
	stopC  func()
	start  time.Time
}

func newLACPLab(t *testing.T, ovsMode string, mode Mode) *lacpLab {
	if testing.Short() {
		t.Skip("interop with Open vSwitch takes 20 s; not in -short")
	}
	testnet.RequireRoot(t)
	l2lab.NeedOVS(t)
	lab := &lacpLab{t: t, ourID: "02:00:00:00:0a:00", ovsID: "02:00:00:00:0b:00"}
	lab.nsA, lab.nsB = testnet.NewNS(t, "la"), testnet.NewNS(t, "lb")
	l2lab.QuietNS(t, lab.nsA)
	l2lab.QuietNS(t, lab.nsB)
	testnet.Veth(t, "m1", lab.nsA, "o1", lab.nsB)
	testnet.Veth(t, "m2", lab.nsA, "o2", lab.nsB)
	lab.capOVS, lab.stopC = l2lab.Capture(t, lab.nsB, "o1", "ether proto 0x8809")
	lab.ovs = l2lab.StartOVS(t, lab.nsB)
	lab.ovs.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "other_config:hwaddr="+lab.ovsID)
	lab.ovs.Vsctl("add-bond", "br0", "bond0", "o1", "o2", "lacp=active", "bond_mode="+ovsMode, "other_config:lacp-time=fast")
	sys, _ := packet.ParseMAC(lab.ourID)
	lab.start = time.Now()
	lab.node = startBondNode(t, lab.nsA, []string{"m1", "m2"}, Config{Name: "bond0", Mode: mode, LACP: LACPActive,
		LACPRate: lacp.Fast, SystemID: sys})
	return lab
}

func (lab *lacpLab) ovsLACP() (l2lab.LACPShow, error) {
	out, err := lab.ovs.Appctl("lacp/show", "bond0")
	if err != nil {
		return l2lab.LACPShow{}, err
	}
	return l2lab.ParseLACPShow(out), nil
}

func (lab *lacpLab) ovsEnabled() map[string]bool {
	out, err := lab.ovs.Appctl("bond/show", "bond0")
	if err != nil {
		return nil
	}
	return l2lab.BondMembers(out)
}

// bothUp says whether both sides carry traffic on both members.
func (lab *lacpLab) bothUp() error {
	s := lab.node.b.Selector()
	if !s.Enabled(0) || !s.Enabled(1) {
		return fmt.Errorf("ours: %+v", lab.node.b.Status(time.Now()).Members)
	}
	if e := lab.ovsEnabled(); !e["o1"] || !e["o2"] {
		out, _ := lab.ovs.Appctl("lacp/show", "bond0")
		return fmt.Errorf("OVS bond members %v\n%s", e, out)
	}
	return nil
}

func (lab *lacpLab) checkNegotiated() {
	t := lab.t
	waitFor(t, 20*time.Second, "LACP negotiated on both sides", lab.bothUp)
	t.Logf("negotiated with Open vSwitch %v after our bond started", time.Since(lab.start).Round(10*time.Millisecond))
	// Their side shows us as partner …
	sh, err := lab.ovsLACP()
	if err != nil {
		t.Fatal(err)
	}
	if !sh.Negotiated {
		t.Fatalf("OVS lacp/show not negotiated: %+v", sh)
	}
	for _, name := range []string{"o1", "o2"} {
		m := sh.Members[name]
		if m == nil || m.Status != "current" || !m.Attached || !m.MayEnable || m.PartnerSysID != lab.ourID || m.PartnerKey != 1 ||
			!strings.Contains(m.PartnerState, "synchronized collecting distributing") {
			t.Fatalf("OVS member %s: %+v", name, m)
		}
	}
	// … and ours shows them.
	st := lab.node.b.Status(time.Now())
	if st.LACPStatus != "negotiated" || st.PartnerSystemID != lab.ovsID {
		t.Fatalf("our status %+v", st)
	}
	for _, m := range st.Members {
		if m.LACP == nil || m.LACP.Status != "current" || m.LACP.Partner.SystemID != lab.ovsID || m.LACP.Partner.SystemPriority != 65534 {
			t.Fatalf("our member %s: %+v", m.Name, m.LACP)
		}
	}
}

func TestLACPInteropOVSBalanceTCP(t *testing.T) {
	lab := newLACPLab(t, "balance-tcp", BalanceTCP)
	lab.checkNegotiated()
	sel := lab.node.b.Selector()
	spread := [2]int{}
	for sp := uint16(1000); sp < 1100; sp++ {
		m, _ := sel.Choose(frame(packet.MAC{2, 1, 1, 1, 1, 1}, sp), 0)
		spread[m]++
	}
	if spread[0] == 0 || spread[1] == 0 {
		t.Fatalf("100 flows all on one member: %v", spread)
	}

	// 1. Carrier loss on our side: both sides drop the member at once.
	testnet.MustNS(t, lab.nsA, "ip", "link", "set", "m2", "down")
	took := waitFor(t, 5*time.Second, "OVS disables o2 after m2 went down", func() error {
		if lab.ovsEnabled()["o2"] || lab.node.b.Selector().Enabled(1) {
			return fmt.Errorf("o2 %v ours %v", lab.ovsEnabled(), lab.node.b.Selector().Enabled(1))
		}
		return nil
	})
	t.Logf("carrier loss: member out on both sides after %v", took.Round(10*time.Millisecond))
	if !lab.node.b.Selector().Enabled(0) || !lab.ovsEnabled()["o1"] {
		t.Fatal("the other member went down too")
	}
	testnet.MustNS(t, lab.nsA, "ip", "link", "set", "m2", "up")
	took = waitFor(t, 5*time.Second, "member back after carrier up", lab.bothUp)
	t.Logf("carrier back: member in on both sides after %v", took.Round(10*time.Millisecond))

	// 2. Our member goes silent (carrier up): OVS expires it within its
	// fast timeout (3 s).
	lab.node.setMute(1, true)
	took = waitFor(t, 6*time.Second, "OVS expires o2", func() error {
		sh, err := lab.ovsLACP()
		if err != nil {
			return err
		}
		if m := sh.Members["o2"]; m == nil || m.Status == "current" || lab.ovsEnabled()["o2"] {
			return fmt.Errorf("o2 %+v enabled %v", m, lab.ovsEnabled()["o2"])
		}
		return nil
	})
	t.Logf("our member silent: OVS took it out after %v (its timeout is 3 s)", took.Round(10*time.Millisecond))
	// 3 s timeout after the last LACPDU (sent up to 1 s before the mute),
	// plus scheduling slack on a loaded 2-core machine.
	if took > 4*time.Second {
		t.Fatalf("OVS needed %v", took)
	}
	waitFor(t, 5*time.Second, "we stop using member 1 too", func() error {
		if lab.node.b.Selector().Enabled(1) {
			return fmt.Errorf("still enabled")
		}
		return nil
	})
	lab.node.setMute(1, false)
	took = waitFor(t, 10*time.Second, "member back after our side speaks again", lab.bothUp)
	t.Logf("our member speaks again: back on both sides after %v", took.Round(10*time.Millisecond))

	// 3. The converse: OVS's o2 goes silent; we expire member 1 within our
	// timeout (3 × 1 s).
	undo := l2lab.Silence(t, lab.nsB, "o2")
	took = waitFor(t, 6*time.Second, "we expire member 1", func() error {
		if lab.node.b.Selector().Enabled(1) {
			return fmt.Errorf("still enabled: %+v", lab.node.b.Status(time.Now()).Members[1].LACP)
		}
		return nil
	})
	t.Logf("OVS member silent: we took it out after %v (timeout 3 s)", took.Round(10*time.Millisecond))
	if took > 4*time.Second {
		t.Fatalf("took %v", took)
	}
	if s := lab.node.b.Status(time.Now()).Members[1].LACP.Status; s != "expired" && s != "defaulted" {
		t.Fatalf("member 1 LACP status %q", s)
	}
	if !lab.node.b.Selector().Enabled(0) {
		t.Fatal("member 0 left too")
	}

	// 4. Both directions silent until both ends are defaulted, then
	// repaired: Open vSwitch alone needs ~30 s here (a defaulted partner
	// has the slow-timeout bit, so each end sends every 30 s); our
	// defaulted member probes every second.
	lab.node.setMute(1, true)
	waitFor(t, 15*time.Second, "both ends defaulted", func() error {
		sh, err := lab.ovsLACP()
		if err != nil {
			return err
		}
		ours := lab.node.b.Status(time.Now()).Members[1].LACP.Status
		if m := sh.Members["o2"]; m == nil || m.Status != "defaulted" || ours != "defaulted" {
			return fmt.Errorf("OVS %+v ours %s", m, ours)
		}
		return nil
	})
	undo()
	lab.node.setMute(1, false)
	took = waitFor(t, 40*time.Second, "member back after the repair", lab.bothUp)
	t.Logf("repaired after both ends defaulted: member back on both sides after %v (OVS–OVS: 29-30 s)", took.Round(10*time.Millisecond))
	if took > 2*lacp.FastPeriod+500*time.Millisecond {
		t.Fatalf("rejoin took %v, want within 2 LACP periods", took)
	}

	// Our LACPDUs as tshark dissects them.
	lab.stopC()
	lab.checkCapture()
}

func (lab *lacpLab) checkCapture() {
	t := lab.t
	rows := l2lab.Tshark(t, lab.capOVS, "lacp && eth.src != 00:00:00:00:00:00",
		"eth.src", "lacp.version", "lacp.actor.sysid", "lacp.actor.sys_priority", "lacp.actor.key", "lacp.actor.port", "lacp.actor.state",
		"lacp.partner.sysid", "lacp.collector.max_delay", "frame.len")
	ours, theirs := 0, 0
	for _, r := range rows {
		if len(r) < 10 {
			continue
		}
		switch r[2] {
		case lab.ourID:
			ours++
			if (r[1] != "1" && r[1] != "0x01") || r[3] != "65534" || r[4] != "1" || r[5] != "1" || r[9] != "124" {
				t.Fatalf("our LACPDU as tshark reads it: %v", r)
			}
			if r[6] == "0x3f" && r[7] != lab.ovsID {
				t.Fatalf("our in-sync LACPDU names partner %s", r[7])
			}
		case lab.ovsID:
			theirs++
		}
	}
	if ours < 5 || theirs < 5 {
		t.Fatalf("capture has %d of our LACPDUs and %d of OVS's", ours, theirs)
	}
	if dir := os.Getenv("SY_L2_SAVE_PCAP"); dir != "" {
		copyFile(t, lab.capOVS, filepath.Join(dir, "ovs-lacp.pcap"))
	}
}

func copyFile(t *testing.T, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
}

func TestLACPInteropOVSActiveBackup(t *testing.T) {
	lab := newLACPLab(t, "active-backup", ActiveBackup)
	lab.checkNegotiated()
	act := lab.node.b.Selector().Active()
	if act < 0 {
		t.Fatal("no active member")
	}
	other := 1 - act
	name := []string{"m1", "m2"}[act]
	testnet.MustNS(t, lab.nsA, "ip", "link", "set", name, "down")
	took := waitFor(t, 5*time.Second, "fail over", func() error {
		s := lab.node.b.Selector()
		if s.Active() != other || lab.ovsEnabled()[[]string{"o1", "o2"}[act]] {
			return fmt.Errorf("active %d, OVS %v", s.Active(), lab.ovsEnabled())
		}
		return nil
	})
	t.Logf("active-backup failover on both sides after %v", took.Round(10*time.Millisecond))
	if m, _ := lab.node.b.Selector().Choose(frame(packet.MAC{2, 1}, 1), 0); m != other {
		t.Fatalf("frames go to member %d after failover", m)
	}
}
