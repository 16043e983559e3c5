package datapath

import (
	"errors"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
)

func outRule(table uint8, prio uint16, port uint32, set func(m *Match)) Rule {
	r := Rule{Table: table, Priority: prio, Instr: Instructions{Apply: []Action{{Kind: ActOutput, Port: port}}, Goto: NoGoto}}
	if set != nil {
		set(&r.Match)
	}
	return r
}

func ipDst(addr uint32) func(m *Match) {
	return func(m *Match) {
		m.SetExact(FieldEthType, Value{Lo: etherTypeIPv4})
		m.SetExact(FieldIPv4Dst, Value{Lo: uint64(addr)})
	}
}

func mustMods(t *testing.T, b *Bridge, mods ...FlowMod) FlowChanges {
	t.Helper()
	ch, _, err := b.ApplyFlowMods(mods)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func ruleStatsOf(b *Bridge, table uint8, prio uint16) (RuleStats, bool) {
	for _, e := range b.DumpFlows(table, nil, 0, 0, PortAny) {
		if e.Rule.Priority == prio {
			return e.Stats, true
		}
	}
	return RuleStats{}, false
}

// Flow mods have OpenFlow 1.3's semantics.
func TestFlowModSemantics(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	tb.add("c", PortConfig{})
	b := tb.b
	f := tcpFrame(mac(2), mac(1), 0xc6120001, 0xcb007105, 1000, 80)

	// An identical add replaces the rule and keeps its counters.
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: outRule(0, 100, 2, ipDst(0xcb007105))})
	tb.send("a", f, f)
	if got := keys(tb.got()); got != "b:2" {
		t.Fatalf("rule output went to %q", got)
	}
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: outRule(0, 100, 3, ipDst(0xcb007105))})
	if st, _ := ruleStatsOf(b, 0, 100); st.Packets != 2 {
		t.Fatalf("replaced rule has %d packets, want the old 2", st.Packets)
	}
	tb.send("a", f)
	if got := keys(tb.got()); got != "c:1" {
		t.Fatalf("after replacing, frame went to %q, want c:1", got)
	}
	// reset_counts clears them.
	r := outRule(0, 100, 3, ipDst(0xcb007105))
	r.Flags = FlagResetCounts
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: r})
	if st, _ := ruleStatsOf(b, 0, 100); st.Packets != 0 {
		t.Fatalf("reset_counts left %d packets", st.Packets)
	}
	// check_overlap refuses an overlapping rule of the same priority.
	ov := outRule(0, 100, 2, func(m *Match) { m.SetExact(FieldEthType, Value{Lo: etherTypeIPv4}) })
	ov.Flags = FlagCheckOverlap
	if _, _, err := b.ApplyFlowMods([]FlowMod{{Command: FlowAdd, Rule: ov}}); !errors.Is(err, ErrOverlap) && err != ErrOverlap {
		t.Fatalf("overlapping add: %v", err)
	}
	// Non-strict modify changes every rule the filter covers; strict only
	// the exact one.
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: outRule(0, 90, 3, ipDst(0xcb007106))})
	filter := Rule{Table: TableAll, Instr: Instructions{Apply: []Action{{Kind: ActOutput, Port: 1}}}}
	filter.Match.SetExact(FieldEthType, Value{Lo: etherTypeIPv4})
	ch := mustMods(t, b, FlowMod{Command: FlowModify, Rule: filter})
	if len(ch.Added) != 2 {
		t.Fatalf("non-strict modify changed %d rules, want 2", len(ch.Added))
	}
	strict := outRule(0, 90, 2, ipDst(0xcb007106))
	ch = mustMods(t, b, FlowMod{Command: FlowModifyStrict, Rule: strict})
	if len(ch.Added) != 1 || ch.Added[0].Priority != 90 {
		t.Fatalf("strict modify changed %+v", ch.Added)
	}
	// Delete with out_port removes only rules that output there.
	del := Rule{Table: TableAll}
	ch = mustMods(t, b, FlowMod{Command: FlowDelete, Rule: del, OutPort: 2})
	if len(ch.Removed) != 1 || ch.Removed[0].Rule.Priority != 90 {
		t.Fatalf("delete out_port=2 removed %d rules", len(ch.Removed))
	}
	// Cookies with masks select.
	c1 := outRule(0, 50, 2, ipDst(1))
	c1.Cookie = 0x1234
	c2 := outRule(0, 51, 2, ipDst(2))
	c2.Cookie = 0x1299
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: c1}, FlowMod{Command: FlowAdd, Rule: c2})
	ch = mustMods(t, b, FlowMod{Command: FlowDelete, Rule: Rule{Table: TableAll, Cookie: 0x1200}, CookieMask: 0xff00})
	if len(ch.Removed) != 2 {
		t.Fatalf("cookie-masked delete removed %d, want 2", len(ch.Removed))
	}
	// A rejected transaction changes nothing.
	before := len(b.Rules())
	bad := outRule(0, 10, 2, func(m *Match) { m.SetExact(FieldTPDst, Value{Lo: 80}) }) // no ip_proto
	if _, at, err := b.ApplyFlowMods([]FlowMod{{Command: FlowAdd, Rule: outRule(0, 11, 2, nil)}, {Command: FlowAdd, Rule: bad}}); err == nil || at != 1 {
		t.Fatalf("bad rule accepted (at %d): %v", at, err)
	} else if e, ok := errs.As(err); !ok || e.Field != "tp_dst" {
		t.Fatalf("error does not name tp_dst: %v", err)
	}
	if len(b.Rules()) != before {
		t.Fatal("a rejected transaction changed the rules")
	}
}

// Rule counters count through decision-cache hits, and a flow change is
// visible to the next frame (no stale cached decision).
func TestCountersAndChangesThroughTheCache(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	tb.add("c", PortConfig{})
	b := tb.b
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: outRule(0, 100, 2, ipDst(0xcb007105))})
	f := tcpFrame(mac(2), mac(1), 0xc6120001, 0xcb007105, 1000, 80)
	for i := 0; i < 10; i++ {
		tb.send("a", f, f, f)
	}
	st, _ := ruleStatsOf(b, 0, 100)
	if st.Packets != 30 || st.Bytes != uint64(30*len(f)) {
		t.Fatalf("rule counted %d packets, %d bytes; want 30, %d", st.Packets, st.Bytes, 30*len(f))
	}
	if cs := b.Stats().Cache; cs.Hits < 25 || cs.Entries == 0 {
		t.Fatalf("cache %+v: the frames were not cache hits", cs)
	}
	tb.got()
	// The next frame after a change meets the new rule.
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: outRule(0, 200, 3, ipDst(0xcb007105))})
	tb.send("a", f)
	if got := keys(tb.got()); got != "c:1" {
		t.Fatalf("frame after the change went to %q, want c:1", got)
	}
	mustMods(t, b, FlowMod{Command: FlowDeleteStrict, Rule: outRule(0, 200, 3, ipDst(0xcb007105))})
	tb.send("a", f)
	if got := keys(tb.got()); got != "b:1" {
		t.Fatalf("frame after the delete went to %q, want b:1", got)
	}
	if cs := b.Stats().Cache; cs.Revalidations+cs.Replaced == 0 {
		t.Fatalf("cache %+v: no entry was revalidated or replaced", cs)
	}
}

// Idle and hard timeouts expire rules (traffic through the cache keeps an
// idle timeout from expiring), and FLOW_REMOVED reports them with reasons.
func TestRuleTimeouts(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	b := tb.b
	var removed []FlowRemoved
	b.OnFlowRemoved(func(l []FlowRemoved) { removed = append(removed, l...) })
	idle := outRule(0, 100, 2, ipDst(0xcb007105))
	idle.IdleTimeout = 5
	hard := outRule(0, 90, 2, ipDst(0xcb007106))
	hard.HardTimeout = 1
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: idle}, FlowMod{Command: FlowAdd, Rule: hard})
	f := tcpFrame(mac(2), mac(1), 0xc6120001, 0xcb007105, 1000, 80)
	t0 := time.Now()
	for s := 0; s <= 12; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		b.Tick(b.epoch.Add(time.Duration(s) * time.Second))
		_ = now
		if s < 8 {
			tb.send("a", f) // keeps the idle rule alive
		}
		b.expireRules(t0.Add(time.Duration(s)*time.Second+1500*time.Millisecond), b.clock.Load())
	}
	reasons := map[uint16]RemovedReason{}
	for _, r := range removed {
		reasons[r.Rule.Priority] = r.Reason
	}
	if reasons[90] != RemovedHard {
		t.Fatalf("hard-timeout rule: reasons %v", reasons)
	}
	if r, ok := reasons[100]; !ok || r != RemovedIdle {
		t.Fatalf("idle-timeout rule: reasons %v", reasons)
	}
	for _, r := range removed {
		if r.Rule.Priority == 100 && r.Stats.Packets != 8 {
			t.Fatalf("idle rule removed with %d packets, want 8", r.Stats.Packets)
		}
	}
	if len(b.Rules()) != 1 { // the default NORMAL rule stays
		t.Fatalf("%d rules left", len(b.Rules()))
	}
}

// The decision cache stays within its bound and counts evictions.
func TestCacheBound(t *testing.T) {
	b, err := NewBridge("bound", BridgeConfig{CacheMax: 1024})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := b.AddPort("in", &memPort{}, PortConfig{})
	b.AddPort("out", &memPort{}, PortConfig{})
	// A rule on tp_dst makes every port number its own megaflow.
	mustMods(t, b, FlowMod{Command: FlowAdd, Rule: outRule(0, 100, 2, func(m *Match) {
		m.SetExact(FieldEthType, Value{Lo: etherTypeIPv4})
		m.SetExact(FieldIPProto, Value{Lo: 6})
		m.SetExact(FieldTPDst, Value{Lo: 1})
	})})
	p := NewPacket(128)
	for i := 0; i < 5000; i++ {
		p.SetData(tcpFrame(mac(2), mac(1), 1, 2, 1000, uint16(i)))
		in.Receive([]*Packet{p})
	}
	cs := b.Stats().Cache
	if cs.Entries > 1024 || cs.Evictions < 5000-1024-10 {
		t.Fatalf("cache %+v: over its bound or not evicting", cs)
	}
}

// A MAC flood on one port, with evict-oldest, pushes out only that port's
// addresses (the port with the most entries loses one), never the hosts
// learned on other ports; and housekeeping stays O(1) (a million-address
// flood finishes quickly).
func TestFDBFloodEvictsFairly(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{MaxLearned: 64, FullPolicy: FullEvictOldest})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	tb.add("c", PortConfig{})
	for i := 0; i < 10; i++ {
		tb.send("b", frame(bcast, mac(1000+i), -1, 46))
	}
	start := time.Now()
	batch := make([][]byte, 0, 64)
	for i := 0; i < 200_000; i++ {
		batch = append(batch, frame(bcast, mac2(i), -1, 0))
		if len(batch) == cap(batch) {
			tb.send("a", batch...)
			tb.devs["b"].take()
			tb.devs["c"].take()
			batch = batch[:0]
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("a 200,000-address flood took %v", d)
	}
	per := tb.b.FDBLearnedPerPort()
	if per[tb.ports["b"].Number()] != 10 {
		t.Fatalf("the flood evicted hosts of port b: %v", per)
	}
	if st := tb.b.Stats().FDB; st.Entries != 64 || st.Evicted < 199_000 {
		t.Fatalf("fdb %+v", st)
	}
}

// Aging through the wheel: an address not seen for the aging time goes,
// one seen stays, also across jumps of the clock longer than the wheel.
func TestFDBAgingWheel(t *testing.T) {
	tb := newTestBridge(t, BridgeConfig{AgingTime: 20 * time.Second})
	tb.add("a", PortConfig{})
	tb.add("b", PortConfig{})
	t0 := tb.b.epoch
	tick := func(s int) { tb.b.Tick(t0.Add(time.Duration(s) * time.Second)) }
	tick(1)
	tb.send("a", frame(bcast, mac(1), -1, 46), frame(bcast, mac(2), -1, 46))
	for s := 2; s <= 30; s++ {
		tick(s)
		if s%5 == 0 {
			tb.send("a", frame(bcast, mac(1), -1, 46)) // mac(1) stays active
		}
	}
	if n := len(tb.b.FDB(-1)); n != 1 {
		t.Fatalf("after 30 s: %d entries, want only the active one", n)
	}
	// A jump of 10,000 s (more than the 4,096-second wheel) ages it too.
	tick(10_030)
	if n := len(tb.b.FDB(-1)); n != 0 {
		t.Fatalf("after a long jump: %d entries", n)
	}
	tb.send("a", frame(bcast, mac(3), -1, 46))
	tick(10_040)
	if n := len(tb.b.FDB(-1)); n != 1 {
		t.Fatalf("an address learned after the jump aged early: %d entries", n)
	}
	tick(10_052)
	if n := len(tb.b.FDB(-1)); n != 0 {
		t.Fatalf("an address learned after the jump did not age: %d entries", n)
	}
}
