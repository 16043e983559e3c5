package stp

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// net is an in-memory network of spanning tree bridges joined by segments
// (a point-to-point link is a segment of two ports), with a fake clock. It
// also forwards data frames by flooding through forwarding ports, to show
// that a broadcast does not circulate.
type net struct {
	t       *testing.T
	now     time.Time
	bridges []*Bridge
	names   []string
	segs    []*segment
	flushes map[string]int // "bridge/port" → flush requests
	aging   map[string]time.Duration
	events  []string
}

type attach struct {
	br   int
	port uint16
}

type segment struct {
	ends []attach
	up   bool
	// mute drops every BPDU on the segment while the links stay up (a
	// silent failure).
	mute bool
}

func newNet(t *testing.T) *net {
	return &net{t: t, now: time.Unix(2_000_000, 0), flushes: map[string]int{}, aging: map[string]time.Duration{}}
}

func (n *net) bridge(name string, cfg Config) int {
	n.t.Helper()
	if cfg.Address.IsZero() {
		cfg.Address = packet.MAC{2, 0, 0, 0, 0, byte(len(n.bridges) + 1)}
	}
	b, err := New(cfg, n.now)
	if err != nil {
		n.t.Fatal(err)
	}
	n.bridges = append(n.bridges, b)
	n.names = append(n.names, name)
	return len(n.bridges) - 1
}

// link joins ports; each (bridge, port) is added with pc.
func (n *net) link(pc PortConfig, ends ...attach) *segment {
	n.t.Helper()
	s := &segment{ends: ends, up: true}
	n.segs = append(n.segs, s)
	for _, e := range ends {
		out, err := n.bridges[e.br].AddPort(e.port, pc, n.now)
		if err != nil {
			n.t.Fatal(err)
		}
		n.handle(e.br, out)
	}
	for _, e := range ends {
		n.handle(e.br, n.bridges[e.br].SetLink(e.port, true, 10000, n.now))
	}
	return s
}

func (n *net) segOf(br int, port uint16) *segment {
	for _, s := range n.segs {
		for _, e := range s.ends {
			if e.br == br && e.port == port {
				return s
			}
		}
	}
	return nil
}

// handle applies a bridge's output: BPDUs go to the other ends of the
// segment (recursively), flushes and aging are recorded.
func (n *net) handle(br int, out Output) {
	type pending struct {
		br  int
		out Output
	}
	queue := []pending{{br, out}}
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 100000 {
			n.t.Fatal("BPDU storm")
		}
		q := queue[0]
		queue = queue[1:]
		for _, f := range q.out.Flushes {
			n.flushes[fmt.Sprintf("%s/%d", n.names[q.br], f)]++
		}
		if q.out.AgingChanged {
			n.aging[n.names[q.br]] = q.out.AgingTime
		}
		for _, c := range q.out.Changes {
			n.events = append(n.events, fmt.Sprintf("%v %s/%d %s %s", n.now.Sub(time.Unix(2_000_000, 0)), n.names[q.br], c.Port, c.Role, c.State))
		}
		for _, f := range q.out.Frames {
			s := n.segOf(q.br, f.Port)
			if s == nil || !s.up || s.mute {
				continue
			}
			for _, e := range s.ends {
				if e.br == q.br && e.port == f.Port {
					continue
				}
				queue = append(queue, pending{e.br, n.bridges[e.br].Receive(e.port, f.Data, n.now)})
			}
		}
	}
}

func (n *net) setSeg(s *segment, up bool) {
	s.up = up
	for _, e := range s.ends {
		n.handle(e.br, n.bridges[e.br].SetLink(e.port, up, 10000, n.now))
	}
}

func (n *net) run(d time.Duration) {
	for end := n.now.Add(d); n.now.Before(end); {
		n.now = n.now.Add(100 * time.Millisecond)
		for i, b := range n.bridges {
			n.handle(i, b.Tick(n.now))
		}
	}
}

// converged reports whether no port is in a transitional state.
func (n *net) converged() bool {
	for _, b := range n.bridges {
		for _, no := range b.order {
			st, _ := b.PortState(no)
			if st == Listening || st == Learning {
				return false
			}
			// An RSTP designated port that discards is still waiting.
			if b.cfg.Protocol == RSTP {
				if st, role := b.PortState(no); role == RoleDesignated && st == Discarding {
					return false
				}
			}
		}
	}
	return true
}

func (n *net) runUntil(limit time.Duration, what string, cond func() bool) time.Duration {
	n.t.Helper()
	start := n.now
	for !cond() {
		if n.now.Sub(start) > limit {
			n.t.Fatalf("%s: not true after %v\n%s", what, limit, n.dump())
		}
		n.run(100 * time.Millisecond)
	}
	return n.now.Sub(start)
}

func (n *net) dump() string {
	var w strings.Builder
	for i, b := range n.bridges {
		fmt.Fprintf(&w, "%s id %s root %s\n", n.names[i], b.ID(), b.RootID())
		for _, no := range b.order {
			st, role := b.PortState(no)
			fmt.Fprintf(&w, "  port %d %s %s\n", no, role, st)
		}
	}
	return w.String()
}

// blocked lists "bridge/port" of ports that do not forward (enabled ones).
func (n *net) blocked() []string {
	var l []string
	for i, b := range n.bridges {
		for _, no := range b.order {
			if st, _ := b.PortState(no); st != Forwarding && st != Disabled {
				l = append(l, fmt.Sprintf("%s/%d", n.names[i], no))
			}
		}
	}
	return l
}

// flood sends a broadcast from bridge br's "host" and counts how many
// times each bridge receives a copy: a frame enters on forwarding ports
// only and leaves on every other forwarding port. With a loop the count
// grows without bound (cut at max).
func (n *net) flood(br int, max int) (copies map[int]int, looped bool) {
	copies = map[int]int{br: 1}
	type hop struct {
		br   int
		from uint16 // 0 = from the host
	}
	queue := []hop{{br, 0}}
	total := 0
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		b := n.bridges[h.br]
		for _, no := range b.order {
			if no == h.from {
				continue
			}
			if st, _ := b.PortState(no); st != Forwarding {
				continue
			}
			s := n.segOf(h.br, no)
			if s == nil || !s.up {
				continue
			}
			for _, e := range s.ends {
				if e.br == h.br && e.port == no {
					continue
				}
				if st, _ := n.bridges[e.br].PortState(e.port); st != Forwarding {
					continue
				}
				total++
				if total > max {
					return copies, true
				}
				copies[e.br]++
				queue = append(queue, hop{e.br, e.port})
			}
		}
	}
	return copies, false
}

func (n *net) checkNoLoop() {
	n.t.Helper()
	for i := range n.bridges {
		copies, looped := n.flood(i, 1000)
		if looped {
			n.t.Fatalf("a broadcast from %s circulates\n%s", n.names[i], n.dump())
		}
		for j := range n.bridges {
			if copies[j] != 1 {
				n.t.Fatalf("a broadcast from %s reached %s %d times, want once\n%s", n.names[i], n.names[j], copies[j], n.dump())
			}
		}
	}
}

var protocols = []Protocol{STP, RSTP}

func fastTimers(p Protocol) Config {
	return Config{Protocol: p, HelloTime: time.Second, MaxAge: 6 * time.Second, ForwardDelay: 4 * time.Second}
}

// triangle builds b1-b2, b2-b3, b1-b3 with priorities p1 p2 p3.
func triangle(t *testing.T, proto Protocol, prio [3]uint16) (*net, [3]*segment) {
	n := newNet(t)
	for i, p := range prio {
		c := fastTimers(proto)
		c.Priority, c.PrioritySet = p, true
		n.bridge(fmt.Sprintf("b%d", i+1), c)
	}
	s12 := n.link(PortConfig{}, attach{0, 1}, attach{1, 1})
	s23 := n.link(PortConfig{}, attach{1, 2}, attach{2, 2})
	s13 := n.link(PortConfig{}, attach{0, 2}, attach{2, 1})
	return n, [3]*segment{s12, s23, s13}
}

func TestTriangle(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n, segs := triangle(t, proto, [3]uint16{4096, 8192, 12288})
			took := n.runUntil(30*time.Second, "converged", n.converged)
			t.Logf("converged in %v", took)
			if proto == STP && took < 2*4*time.Second-time.Second {
				t.Fatalf("STP converged in %v, faster than 2 × forward delay", took)
			}
			if proto == RSTP && took > 3*time.Second {
				t.Fatalf("RSTP took %v to converge on point-to-point links", took)
			}
			// The root is the bridge the priorities say; exactly one port
			// blocks, the worst bridge's port towards the middle one.
			for i, b := range n.bridges {
				if b.RootID() != n.bridges[0].ID() {
					t.Fatalf("%s believes root is %s, want b1 %s", n.names[i], b.RootID(), n.bridges[0].ID())
				}
			}
			if bl := n.blocked(); len(bl) != 1 || bl[0] != "b3/2" {
				t.Fatalf("blocked ports %v, want [b3/2]\n%s", bl, n.dump())
			}
			if _, role := n.bridges[2].PortState(2); role != RoleAlternate {
				t.Fatalf("b3/2 role %s, want alternate", role)
			}
			if _, role := n.bridges[2].PortState(1); role != RoleRoot {
				t.Fatalf("b3/1 role %s, want root", role)
			}
			n.checkNoLoop()

			// Direct failure of b3's root link.
			n.flushes = map[string]int{}
			n.setSeg(segs[2], false)
			took = n.runUntil(20*time.Second, "b3/2 forwarding", func() bool {
				st, role := n.bridges[2].PortState(2)
				return st == Forwarding && role == RoleRoot
			})
			t.Logf("reconverged after the root link failed in %v", took)
			switch proto {
			case RSTP:
				if took > 0 {
					t.Fatalf("RSTP alternate took %v to take over; want at once", took)
				}
			case STP:
				if took > 2*4*time.Second+time.Second || took < 2*4*time.Second-time.Second {
					t.Fatalf("STP took %v; want 2 × forward delay (8 s)", took)
				}
			}
			n.runUntil(20*time.Second, "converged", n.converged)
			n.checkNoLoop()
			// RSTP: b3's new root port forwarding is a topology change
			// (17.31 DETECTED); b2 hears TC on its port 2 and flushes its
			// other port (PROPAGATING), b3 flushes the port that went down.
			if proto == RSTP && (n.flushes["b2/1"] == 0 || n.flushes["b3/1"] == 0 || n.flushes["b2/2"] != 0) {
				t.Fatalf("FDB flushes after the topology change: %v; want b2/1 and b3/1, not b2/2 (where the TC came in)", n.flushes)
			}
			if proto == STP && n.aging["b1"] != 4*time.Second {
				t.Fatalf("root did not ask for short aging (forward delay): %v", n.aging)
			}
			// Repair: back to the old tree.
			n.setSeg(segs[2], true)
			n.runUntil(30*time.Second, "b3/2 blocks again", func() bool {
				st, _ := n.bridges[2].PortState(2)
				st1, _ := n.bridges[2].PortState(1)
				return st != Forwarding && st1 == Forwarding
			})
			n.runUntil(30*time.Second, "converged", n.converged)
			n.checkNoLoop()
			if proto == STP {
				n.run(12 * time.Second)
				if n.aging["b1"] != 0 {
					t.Fatalf("short aging still on after the topology change ended: %v", n.aging)
				}
			}
		})
	}
}

func TestIndirectFailure(t *testing.T) {
	// b1-b3's BPDUs stop while the carrier stays: b3 must age b1's
	// information out (STP: max age; RSTP: 3 × hello) and take b3/2.
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n, segs := triangle(t, proto, [3]uint16{4096, 8192, 12288})
			n.runUntil(30*time.Second, "converged", n.converged)
			segs[2].mute = true
			took := n.runUntil(40*time.Second, "b3/2 forwarding", func() bool {
				st, _ := n.bridges[2].PortState(2)
				return st == Forwarding
			})
			t.Logf("indirect failure: b3/2 forwarding after %v", took)
			if proto == RSTP && took > 3*time.Second+time.Second {
				t.Fatalf("RSTP took %v, want about 3 × hello (3 s)", took)
			}
			if proto == STP && (took < 6*time.Second || took > 6*time.Second+2*4*time.Second+time.Second) {
				t.Fatalf("STP took %v, want max age + 2 × forward delay (14 s)", took)
			}
		})
	}
}

func TestSquare(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n := newNet(t)
			for i := 0; i < 4; i++ {
				c := fastTimers(proto)
				c.Priority, c.PrioritySet = uint16(4096*(i+1)), true
				n.bridge(fmt.Sprintf("b%d", i+1), c)
			}
			// b1-b2-b3-b4-b1
			n.link(PortConfig{}, attach{0, 1}, attach{1, 1})
			n.link(PortConfig{}, attach{1, 2}, attach{2, 1})
			n.link(PortConfig{}, attach{2, 2}, attach{3, 1})
			n.link(PortConfig{}, attach{3, 2}, attach{0, 2})
			n.runUntil(30*time.Second, "converged", n.converged)
			// b3 is two hops from b1 both ways; its port towards b4 (the
			// worse designated bridge) blocks.
			if bl := n.blocked(); len(bl) != 1 || bl[0] != "b3/2" {
				t.Fatalf("blocked %v, want [b3/2]\n%s", bl, n.dump())
			}
			n.checkNoLoop()
		})
	}
}

func TestTwoBridgesTwoLinks(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n := newNet(t)
			c := fastTimers(proto)
			c.Priority, c.PrioritySet = 4096, true
			n.bridge("b1", c)
			n.bridge("b2", fastTimers(proto))
			l1 := n.link(PortConfig{}, attach{0, 1}, attach{1, 1})
			n.link(PortConfig{}, attach{0, 2}, attach{1, 2})
			n.runUntil(30*time.Second, "converged", n.converged)
			// b2's port 2 (heard the worse designated port 0x8002) blocks.
			if bl := n.blocked(); len(bl) != 1 || bl[0] != "b2/2" {
				t.Fatalf("blocked %v, want [b2/2]\n%s", bl, n.dump())
			}
			n.checkNoLoop()
			n.setSeg(l1, false)
			took := n.runUntil(20*time.Second, "b2/2 forwarding", func() bool {
				st, _ := n.bridges[1].PortState(2)
				return st == Forwarding
			})
			t.Logf("second link took over in %v", took)
		})
	}
}

// Removing the root port (the daemon deletes it) makes the alternate the
// root port at once in RSTP, and after the forward delays in STP.
func TestRemoveRootPort(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n := newNet(t)
			c := fastTimers(proto)
			c.Priority, c.PrioritySet = 4096, true
			n.bridge("b1", c)
			n.bridge("b2", fastTimers(proto))
			n.link(PortConfig{}, attach{0, 1}, attach{1, 1})
			n.link(PortConfig{}, attach{0, 2}, attach{1, 2})
			n.runUntil(30*time.Second, "converged", n.converged)
			if st, r := n.bridges[1].PortState(2); st.Forwards() || r != RoleAlternate {
				t.Fatalf("b2/2 %s %s", r, st)
			}
			n.segs[0].up = false
			n.handle(1, n.bridges[1].RemovePort(1, n.now))
			if proto == RSTP {
				if st, r := n.bridges[1].PortState(2); r != RoleRoot || !st.Forwards() {
					t.Fatalf("after removing the root port b2/2 is %s %s, want root forwarding at once", r, st)
				}
			}
			took := n.runUntil(20*time.Second, "b2/2 root forwarding", func() bool {
				st, r := n.bridges[1].PortState(2)
				return st == Forwarding && r == RoleRoot
			})
			t.Logf("alternate took over %v after the root port was removed", took)
			if s := n.bridges[1].Status(n.now); len(s.Ports) != 1 || s.RootPort != 2 {
				t.Fatalf("status %+v", s)
			}
		})
	}
}

func TestSelfLoopBackup(t *testing.T) {
	// A bridge with two ports on one shared segment (a hub), plus a link to
	// the root: one of the two ports is backup and discards.
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n := newNet(t)
			c := fastTimers(proto)
			c.Priority, c.PrioritySet = 4096, true
			n.bridge("root", c)
			n.bridge("b", fastTimers(proto))
			n.link(PortConfig{}, attach{0, 1}, attach{1, 1})
			n.link(PortConfig{PointToPoint: P2POff}, attach{1, 2}, attach{1, 3})
			n.runUntil(40*time.Second, "converged", n.converged)
			st2, r2 := n.bridges[1].PortState(2)
			st3, r3 := n.bridges[1].PortState(3)
			if r2 != RoleDesignated || st2 != Forwarding || r3 != RoleBackup || st3 == Forwarding {
				t.Fatalf("hub ports: 2 %s %s, 3 %s %s; want designated forwarding and backup\n%s", r2, st2, r3, st3, n.dump())
			}
		})
	}
}

func TestPrioritiesDecideRoot(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n, _ := triangle(t, proto, [3]uint16{32768, 32768, 4096})
			n.runUntil(30*time.Second, "converged", n.converged)
			for i, b := range n.bridges {
				if b.RootID() != n.bridges[2].ID() {
					t.Fatalf("%s root %s, want b3", n.names[i], b.RootID())
				}
			}
			// Equal priorities between b1 and b2: the lower MAC (b1) wins
			// the middle; b2's port towards b1 blocks.
			if bl := n.blocked(); len(bl) != 1 || bl[0] != "b2/1" {
				t.Fatalf("blocked %v, want [b2/1]\n%s", bl, n.dump())
			}
			n.checkNoLoop()
		})
	}
}

func TestEdgePortForwardsAtOnce(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n := newNet(t)
			n.bridge("b1", fastTimers(proto))
			b := n.bridges[0]
			n.handle(0, must(b.AddPort(7, PortConfig{Edge: EdgeOn}, n.now)))
			n.handle(0, b.SetLink(7, true, 10000, n.now))
			n.run(100 * time.Millisecond)
			if st, _ := b.PortState(7); st != Forwarding {
				t.Fatalf("edge port %s, want forwarding at once", st)
			}
			n.flushes = map[string]int{}
			tcs := b.Status(n.now).TopologyChanges
			n.handle(0, b.SetLink(7, false, 10000, n.now))
			n.handle(0, b.SetLink(7, true, 10000, n.now))
			n.run(2 * time.Second)
			if got := b.Status(n.now).TopologyChanges; got != tcs {
				t.Fatalf("an edge port flap caused %d topology changes", got-tcs)
			}
		})
	}
}

func TestAutoEdgeRSTP(t *testing.T) {
	n := newNet(t)
	n.bridge("b1", fastTimers(RSTP))
	b := n.bridges[0]
	n.handle(0, must(b.AddPort(3, PortConfig{}, n.now)))
	n.handle(0, b.SetLink(3, true, 10000, n.now))
	// Nobody answers the proposals: after the migrate time (3 s) the port
	// is an edge port and forwards.
	took := n.runUntil(10*time.Second, "auto edge forwarding", func() bool {
		st, _ := b.PortState(3)
		return st == Forwarding
	})
	if took > 4*time.Second {
		t.Fatalf("auto edge took %v", took)
	}
	if !b.Status(n.now).Ports[0].OperEdge {
		t.Fatal("not reported as an operational edge port")
	}
}

func TestBPDUGuard(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n := newNet(t)
			n.bridge("b1", fastTimers(proto))
			n.bridge("b2", fastTimers(proto))
			n.handle(1, must(n.bridges[1].AddPort(1, PortConfig{}, n.now)))
			_, err := n.bridges[0].AddPort(1, PortConfig{Edge: EdgeOn, BPDUGuard: true}, n.now)
			if err != nil {
				t.Fatal(err)
			}
			s := &segment{ends: []attach{{0, 1}, {1, 1}}, up: true}
			n.segs = append(n.segs, s)
			n.handle(0, n.bridges[0].SetLink(1, true, 0, n.now))
			n.handle(1, n.bridges[1].SetLink(1, true, 0, n.now))
			n.run(3 * time.Second)
			st, _ := n.bridges[0].PortState(1)
			ps := n.bridges[0].Status(n.now).Ports[0]
			if st != Disabled || ps.Counters.BPDUGuard == 0 || !ps.GuardDisabled {
				t.Fatalf("BPDU guard: state %s, %+v", st, ps)
			}
			// Link down and up clears it.
			n.setSeg(s, false)
			n.bridges[1].SetLink(1, false, 0, n.now)
			n.handle(0, n.bridges[0].SetLink(1, true, 0, n.now))
			if st, _ := n.bridges[0].PortState(1); st == Disabled {
				t.Fatal("still disabled after the link came back")
			}
		})
	}
}

func TestRootGuard(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.String(), func(t *testing.T) {
			n := newNet(t)
			c := fastTimers(proto)
			c.Priority, c.PrioritySet = 8192, true
			n.bridge("core", c)
			c.Priority = 4096 // a rogue bridge with a better priority
			n.bridge("rogue", c)
			n.link(PortConfig{RootGuard: true}, attach{0, 1})
			n.segs[0].ends = append(n.segs[0].ends, attach{1, 1})
			n.handle(1, must(n.bridges[1].AddPort(1, PortConfig{}, n.now)))
			n.handle(1, n.bridges[1].SetLink(1, true, 0, n.now))
			n.run(15 * time.Second)
			st, role := n.bridges[0].PortState(1)
			ps := n.bridges[0].Status(n.now).Ports[0]
			if st == Forwarding || role == RoleRoot || ps.Counters.RootGuard == 0 || !ps.RootGuardHeld {
				t.Fatalf("root guard port: %s %s %+v", role, st, ps)
			}
			if n.bridges[0].RootID() != n.bridges[0].ID() {
				t.Fatalf("core accepted the rogue root %s", n.bridges[0].RootID())
			}
		})
	}
}

func TestRSTPMigratesToSTP(t *testing.T) {
	// An RSTP bridge facing an STP bridge sends Configuration BPDUs on that
	// port, and RST BPDUs again after the STP bridge is replaced by an RSTP
	// one (once mdelay passed).
	n := newNet(t)
	n.bridge("rstp", fastTimers(RSTP))
	c := fastTimers(STP)
	c.Priority, c.PrioritySet = 4096, true
	n.bridge("stp", c)
	n.link(PortConfig{}, attach{0, 1}, attach{1, 1})
	n.runUntil(30*time.Second, "converged", n.converged)
	if n.bridges[0].RootID() != n.bridges[1].ID() {
		t.Fatalf("RSTP bridge did not take the STP root\n%s", n.dump())
	}
	ps := n.bridges[0].Status(n.now).Ports[0]
	if ps.SendRSTP || ps.Counters.Migrations == 0 {
		t.Fatalf("port still sends RST BPDUs: %+v", ps)
	}
	// Now the STP bridge becomes RSTP.
	c.Protocol = RSTP
	c.Address = n.bridges[1].Config().Address
	n.handle(1, must(n.bridges[1].SetConfig(c, n.now)))
	n.runUntil(10*time.Second, "back to RSTP", func() bool { return n.bridges[0].Status(n.now).Ports[0].SendRSTP })
}

func TestTimerValidation(t *testing.T) {
	base := Config{Address: packet.MAC{2, 0, 0, 0, 0, 1}}
	cases := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.HelloTime = 11 * time.Second }, "hello-time: 11 s; allowed: whole seconds 1 s-10 s"},
		{func(c *Config) { c.MaxAge = 41 * time.Second }, "max-age: 41 s"},
		{func(c *Config) { c.ForwardDelay = 3 * time.Second }, "forward-delay: 3 s"},
		{func(c *Config) { c.ForwardDelay, c.MaxAge = 4*time.Second, 20*time.Second }, "2 × (forward-delay − 1 s) ≥ max-age"},
		{func(c *Config) { c.HelloTime, c.MaxAge, c.ForwardDelay = 10*time.Second, 6*time.Second, 4*time.Second }, "max-age ≥ 2 × (hello-time + 1 s)"},
		{func(c *Config) { c.Priority = 1000 }, "stp-priority: 1000; allowed: multiples of 4096 from 0 to 61440"},
		{func(c *Config) { c.Address = packet.MAC{} }, "hwaddr: bridge address"},
		{func(c *Config) { c.TxHoldCount = 11 }, "tx-hold-count: 11; allowed: 1-10"},
	}
	for _, cs := range cases {
		c := base
		cs.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), cs.want) {
			t.Errorf("err %v, want %q", err, cs.want)
		}
	}
	good := base
	good.HelloTime, good.MaxAge, good.ForwardDelay = time.Second, 6*time.Second, 4*time.Second
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	pc := PortConfig{Priority: 100}
	if err := pc.Validate(STP); err == nil || !strings.Contains(err.Error(), "multiples of 16 from 0 to 240") {
		t.Errorf("port priority: %v", err)
	}
	pc = PortConfig{PathCost: 70000}
	if err := pc.Validate(STP); err == nil || !strings.Contains(err.Error(), "stp-cost: 70000; allowed: 1-65535 for stp") {
		t.Errorf("cost: %v", err)
	}
	if err := pc.Validate(RSTP); err != nil {
		t.Errorf("cost 70000 for RSTP: %v", err)
	}
	if _, err := ParseEdgeMode("yes"); err == nil || !strings.Contains(err.Error(), "on, off, auto") {
		t.Errorf("edge: %v", err)
	}
}

func TestDefaultPathCost(t *testing.T) {
	for _, c := range []struct {
		mbps       int
		short, lng uint32
	}{{10, 100, 2000000}, {100, 19, 200000}, {1000, 4, 20000}, {10000, 2, 2000}, {100000, 1, 200}, {0, 2, 2000}} {
		if s, l := DefaultPathCost(c.mbps, false), DefaultPathCost(c.mbps, true); s != c.short || l != c.lng {
			t.Errorf("%d Mb/s: %d/%d, want %d/%d", c.mbps, s, l, c.short, c.lng)
		}
	}
}

func must(o Output, err error) Output {
	if err != nil {
		panic(err)
	}
	return o
}

func TestStatusJSONSnakeCase(t *testing.T) {
	n, _ := triangle(t, RSTP, [3]uint16{4096, 8192, 12288})
	n.runUntil(10*time.Second, "converged", n.converged)
	js, err := json.Marshal(n.bridges[2].Status(n.now))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(js, &m)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.ToLower(k) != k || strings.ContainsAny(k, " -") {
					t.Errorf("JSON key %q is not snake_case", k)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(m)
	ports := m["ports"].([]any)
	p2 := ports[1].(map[string]any)
	if p2["role"] != "alternate" || p2["state"] != "discarding" || p2["designated_bridge"] != "8192/0/02:00:00:00:00:02" || m["root_id"] != "4096/0/02:00:00:00:00:01" {
		t.Fatalf("status %s", js)
	}
	if txt := n.bridges[2].Status(n.now).Text(); !strings.Contains(txt, "alternate") || !strings.Contains(txt, "Root ID: 4096/0/02:00:00:00:00:01") {
		t.Fatalf("text:\n%s", txt)
	}
}
