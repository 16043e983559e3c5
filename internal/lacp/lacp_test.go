package lacp

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// pair is two aggregators joined by n links in memory, with a fake clock.
type pair struct {
	t     *testing.T
	now   time.Time
	a, b  *Aggregator
	n     int
	up    []bool // link carrier
	muteA []bool // A's LACPDUs on link i are lost (silent failure)
	muteB []bool
	sent  map[string]int // frames per side, for rate checks
}

func newPair(t *testing.T, n int, ca, cb Config) *pair {
	p := &pair{t: t, now: time.Unix(1_000_000, 0), n: n, up: make([]bool, n), muteA: make([]bool, n), muteB: make([]bool, n), sent: map[string]int{}}
	var err error
	if ca.SystemID.IsZero() {
		ca.SystemID = packet.MAC{2, 0, 0, 0, 0x0a, 0}
	}
	if cb.SystemID.IsZero() {
		cb.SystemID = packet.MAC{2, 0, 0, 0, 0x0b, 0}
	}
	if p.a, err = New(ca); err != nil {
		t.Fatal(err)
	}
	if p.b, err = New(cb); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		for j, ag := range []*Aggregator{p.a, p.b} {
			mc := MemberConfig{Name: string(rune('a'+j)) + string(rune('1'+i)), MAC: packet.MAC{2, 1, byte(j), 0, 0, byte(i + 1)}, PortID: uint16(i + 1)}
			if err := ag.AddMember(i, mc, p.now); err != nil {
				t.Fatal(err)
			}
		}
	}
	return p
}

// deliver hands frames to the other side, recursively until quiet.
func (p *pair) deliver(fromA bool, out Output) {
	for depth := 0; depth < 50 && len(out.Frames) > 0; depth++ {
		var next Output
		for _, f := range out.Frames {
			if !p.up[f.Member] {
				continue
			}
			if fromA {
				p.sent["a"]++
				if p.muteA[f.Member] {
					continue
				}
				next.merge(p.b.Receive(f.Member, f.Data, p.now))
			} else {
				p.sent["b"]++
				if p.muteB[f.Member] {
					continue
				}
				next.merge(p.a.Receive(f.Member, f.Data, p.now))
			}
		}
		out = next
		fromA = !fromA
	}
}

func (p *pair) setLink(i int, up bool) {
	p.up[i] = up
	p.deliver(true, p.a.SetCarrier(i, up, p.now))
	p.deliver(false, p.b.SetCarrier(i, up, p.now))
}

// run advances the clock in 100 ms steps, ticking both sides.
func (p *pair) run(d time.Duration) {
	for end := p.now.Add(d); p.now.Before(end); {
		p.now = p.now.Add(100 * time.Millisecond)
		p.deliver(true, p.a.Tick(p.now))
		p.deliver(false, p.b.Tick(p.now))
	}
}

// runUntil advances until cond holds and returns the time it took.
func (p *pair) runUntil(limit time.Duration, what string, cond func() bool) time.Duration {
	p.t.Helper()
	start := p.now
	for !cond() {
		if p.now.Sub(start) > limit {
			p.t.Fatalf("%s: not true after %v\nA: %+v\nB: %+v", what, limit, p.a.Status(), p.b.Status())
		}
		p.run(100 * time.Millisecond)
	}
	return p.now.Sub(start)
}

func enabled(a *Aggregator, n int) []bool {
	l := make([]bool, n)
	for i := range l {
		l[i] = a.MayEnable(i)
	}
	return l
}

func allEnabled(a *Aggregator, n int) bool {
	for _, e := range enabled(a, n) {
		if !e {
			return false
		}
	}
	return true
}

func TestNegotiate(t *testing.T) {
	p := newPair(t, 2, Config{Rate: Fast}, Config{Rate: Fast})
	p.setLink(0, true)
	p.setLink(1, true)
	took := p.runUntil(3*time.Second, "both members enabled on both sides", func() bool {
		return allEnabled(p.a, 2) && allEnabled(p.b, 2)
	})
	t.Logf("negotiated in %v", took)
	if !p.a.Negotiated() || !p.b.Negotiated() {
		t.Fatal("not negotiated")
	}
	st := p.a.Status()
	for _, m := range st.Members {
		if m.Status != "current" || !m.Attached || m.Partner.SystemID != "02:00:00:00:0b:00" || m.Partner.Key != 1 {
			t.Fatalf("member %+v", m)
		}
		want := "activity timeout aggregation synchronized collecting distributing"
		if got := State(stateBits(m.Actor.State)).String(); got != want {
			t.Fatalf("actor state %q, want %q", got, want)
		}
	}
	if st.SystemPriority != 65534 {
		t.Fatalf("system priority %d, want 65534 (OVS default for a bond)", st.SystemPriority)
	}
	// Fast periodic: about one LACPDU a second per member once settled.
	p.sent = map[string]int{}
	p.run(10 * time.Second)
	if n := p.sent["a"]; n < 18 || n > 22 {
		t.Fatalf("A sent %d LACPDUs on 2 members in 10 s, want about 20", n)
	}
}

func stateBits(names []string) uint8 {
	var s uint8
	for _, n := range names {
		for i, w := range stateNames {
			if w == n {
				s |= 1 << i
			}
		}
	}
	return s
}

func TestSlowRate(t *testing.T) {
	p := newPair(t, 2, Config{}, Config{})
	p.setLink(0, true)
	p.setLink(1, true)
	p.runUntil(3*time.Second, "enabled", func() bool { return allEnabled(p.a, 2) && allEnabled(p.b, 2) })
	p.sent = map[string]int{}
	p.run(95 * time.Second)
	// Slow: every 30 s on each member, so 3 or 4 per member in 95 s.
	if n := p.sent["a"]; n < 6 || n > 8 {
		t.Fatalf("A sent %d LACPDUs in 95 s on 2 slow members, want 6-8", n)
	}
	if !allEnabled(p.a, 2) || !allEnabled(p.b, 2) {
		t.Fatal("slow members expired although the partner kept sending")
	}
}

func TestCarrierDownLeavesAtOnce(t *testing.T) {
	p := newPair(t, 2, Config{Rate: Fast}, Config{Rate: Fast})
	p.setLink(0, true)
	p.setLink(1, true)
	p.runUntil(3*time.Second, "enabled", func() bool { return allEnabled(p.a, 2) && allEnabled(p.b, 2) })
	out := p.a.SetCarrier(1, false, p.now)
	if !out.Changed || p.a.MayEnable(1) {
		t.Fatal("carrier down did not disable the member at once")
	}
	p.b.SetCarrier(1, false, p.now)
	p.up[1] = false
	if !p.a.MayEnable(0) || !p.b.MayEnable(0) {
		t.Fatal("the other member left too")
	}
	p.setLink(1, true)
	took := p.runUntil(3*time.Second, "member 1 back", func() bool { return allEnabled(p.a, 2) && allEnabled(p.b, 2) })
	if took > 2*FastPeriod {
		t.Fatalf("member rejoined after %v, want within 2 LACP periods", took)
	}
}

func TestSilentPartnerExpiresThenDefaults(t *testing.T) {
	p := newPair(t, 2, Config{Rate: Fast}, Config{Rate: Fast})
	p.setLink(0, true)
	p.setLink(1, true)
	p.runUntil(3*time.Second, "enabled", func() bool { return allEnabled(p.a, 2) && allEnabled(p.b, 2) })
	// B's LACPDUs on link 1 are lost; the carrier stays up.
	p.muteB[1] = true
	took := p.runUntil(5*time.Second, "A drops member 1", func() bool { return !p.a.MayEnable(1) })
	if took < ShortTimeout-FastPeriod || took > ShortTimeout+200*time.Millisecond {
		t.Fatalf("A dropped the silent member after %v, want within the 3 s timeout", took)
	}
	if s := p.a.Status().Members[1].Status; s != "expired" {
		t.Fatalf("member status %q, want expired", s)
	}
	// A's LACPDUs on link 1 still reach B, and no longer claim sync: B
	// stops using the link at once rather than a timeout later (the other
	// direction of a one-way failure is not black-holed).
	if p.b.MayEnable(1) {
		t.Fatal("B still uses the link A expired")
	}
	if st := p.a.Status().Members[1].Actor.State; strings.Contains(strings.Join(st, " "), "synchronized") {
		t.Fatalf("an expired member claims sync: %v", st)
	}
	p.runUntil(4*time.Second, "defaulted", func() bool { return p.a.Status().Members[1].Status == "defaulted" })
	if !p.a.MayEnable(0) {
		t.Fatal("member 0 left")
	}
	if c := p.a.Status().Members[1].Counters; c.Expired != 1 || c.Defaulted != 1 {
		t.Fatalf("counters %+v", c)
	}
	// Repair: the member is back within two LACP periods (Open vSwitch
	// 3.1 needs about 30 s here).
	p.muteB[1] = false
	took = p.runUntil(5*time.Second, "member 1 back", func() bool { return allEnabled(p.a, 2) && allEnabled(p.b, 2) })
	t.Logf("repaired member rejoined in %v", took)
	if took > 2*FastPeriod {
		t.Fatalf("rejoined after %v, want within 2 s", took)
	}
}

func TestSlowDefaultedRejoinsFast(t *testing.T) {
	p := newPair(t, 2, Config{Rate: Slow}, Config{Rate: Slow})
	p.setLink(0, true)
	p.setLink(1, true)
	p.runUntil(3*time.Second, "enabled", func() bool { return allEnabled(p.a, 2) && allEnabled(p.b, 2) })
	p.muteA[1], p.muteB[1] = true, true
	took := p.runUntil(2*LongTimeout, "both drop member 1", func() bool { return !p.a.MayEnable(1) && !p.b.MayEnable(1) })
	if took > LongTimeout+FastPeriod {
		t.Fatalf("slow timeout took %v, want about 90 s", took)
	}
	p.runUntil(5*time.Second, "defaulted", func() bool {
		return p.a.Status().Members[1].Status == "defaulted" && p.b.Status().Members[1].Status == "defaulted"
	})
	p.muteA[1], p.muteB[1] = false, false
	took = p.runUntil(5*time.Second, "member 1 back", func() bool { return allEnabled(p.a, 2) && allEnabled(p.b, 2) })
	if took > 2*FastPeriod {
		t.Fatalf("defaulted slow member rejoined after %v, want within 2 s", took)
	}
}

func TestFallbackAB(t *testing.T) {
	// B sends nothing at all (no LACP on that side): A with fallback-ab lets
	// its members carry traffic; without it, none.
	for _, fb := range []bool{true, false} {
		p := newPair(t, 2, Config{Rate: Fast, FallbackAB: fb}, Config{Rate: Fast})
		p.muteB[0], p.muteB[1] = true, true
		p.setLink(0, true)
		p.setLink(1, true)
		p.run(5 * time.Second)
		st := p.a.Status()
		if st.Negotiated {
			t.Fatalf("fallback %v: negotiated without a partner", fb)
		}
		for i, m := range st.Members {
			if m.Status != "defaulted" || m.MayEnable != fb {
				t.Fatalf("fallback %v: member %d %+v", fb, i, m)
			}
		}
		// When the partner appears, normal LACP takes over.
		p.muteB[0], p.muteB[1] = false, false
		p.runUntil(3*time.Second, "negotiated", func() bool { return p.a.Negotiated() && allEnabled(p.a, 2) })
	}
}

func TestMismatchedKeysDoNotAggregate(t *testing.T) {
	p := newPair(t, 2, Config{Rate: Fast}, Config{Rate: Fast})
	// B's member 1 uses another key: it is another aggregation group on B,
	// and A may aggregate only one of B's groups.
	p.b.mu.Lock()
	p.b.members[1].cfg.Key = 99
	p.b.mu.Unlock()
	p.setLink(0, true)
	p.setLink(1, true)
	p.run(5 * time.Second)
	ea, eb := enabled(p.a, 2), enabled(p.b, 2)
	if ea[0] == ea[1] || eb[0] == eb[1] {
		t.Fatalf("mismatched keys: A enabled %v, B enabled %v; want exactly one member", ea, eb)
	}
	if ea[0] != eb[0] {
		t.Fatalf("the two sides picked different links: A %v B %v", ea, eb)
	}
}

func TestOtherPartnerSystemNotAttached(t *testing.T) {
	// Link 1 of A goes to a third system C instead of B.
	p := newPair(t, 2, Config{Rate: Fast}, Config{Rate: Fast})
	c, _ := New(Config{SystemID: packet.MAC{2, 0, 0, 0, 0x0c, 0}, Rate: Fast})
	_ = c.AddMember(0, MemberConfig{Name: "c1", MAC: packet.MAC{2, 3, 0, 0, 0, 1}, PortID: 1}, p.now)
	p.setLink(0, true)
	p.a.SetCarrier(1, true, p.now)
	c.SetCarrier(0, true, p.now)
	for i := 0; i < 50; i++ {
		p.now = p.now.Add(100 * time.Millisecond)
		p.deliver(true, p.a.Tick(p.now))
		p.deliver(false, p.b.Tick(p.now))
		// Link 1: A <-> C by hand.
		for _, f := range p.a.Tick(p.now).Frames {
			if f.Member == 1 {
				c.Receive(0, f.Data, p.now)
			}
		}
		for _, f := range c.Tick(p.now).Frames {
			p.a.Receive(1, f.Data, p.now)
		}
	}
	if !p.a.MayEnable(0) || p.a.MayEnable(1) {
		t.Fatalf("A enabled %v; want only the link to B", enabled(p.a, 2))
	}
}

func TestPassive(t *testing.T) {
	// Passive-passive never negotiates; passive-active does.
	p := newPair(t, 1, Config{Mode: Passive, Rate: Fast}, Config{Mode: Passive, Rate: Fast})
	p.setLink(0, true)
	p.run(5 * time.Second)
	if p.a.Negotiated() || p.sent["a"]+p.sent["b"] != 0 {
		t.Fatalf("passive pair sent %v and negotiated %v", p.sent, p.a.Negotiated())
	}
	p = newPair(t, 1, Config{Mode: Passive, Rate: Fast}, Config{Mode: Active, Rate: Fast})
	p.setLink(0, true)
	p.runUntil(3*time.Second, "passive-active enabled", func() bool { return p.a.MayEnable(0) && p.b.MayEnable(0) })
}

func TestLoopbackNotAttached(t *testing.T) {
	// Two members of one bond wired to each other.
	now := time.Unix(1_000_000, 0)
	a, _ := New(Config{SystemID: packet.MAC{2, 0, 0, 0, 0x0a, 0}, Rate: Fast})
	_ = a.AddMember(0, MemberConfig{MAC: packet.MAC{2, 0, 0, 0, 0, 1}, PortID: 1}, now)
	_ = a.AddMember(1, MemberConfig{MAC: packet.MAC{2, 0, 0, 0, 0, 2}, PortID: 2}, now)
	a.SetCarrier(0, true, now)
	a.SetCarrier(1, true, now)
	for i := 0; i < 30; i++ {
		now = now.Add(100 * time.Millisecond)
		for _, f := range a.Tick(now).Frames {
			a.Receive(1-f.Member, f.Data, now)
		}
	}
	if a.MayEnable(0) || a.MayEnable(1) || a.Negotiated() {
		t.Fatal("a looped-back bond aggregated with itself")
	}
}

func TestMarkerAnswered(t *testing.T) {
	p := newPair(t, 1, Config{Rate: Fast}, Config{Rate: Fast})
	p.setLink(0, true)
	m := Marker{Port: 5, System: packet.MAC{2, 0, 0, 0, 0x0b, 0}, TransactionID: 42}
	out := p.a.Receive(0, m.AppendFrame(nil, packet.MAC{2, 9, 9, 9, 9, 9}), p.now)
	var resp *Marker
	for _, f := range out.Frames {
		if sub, _, mk, err := DecodeFrame(f.Data); err == nil && sub == SubtypeMarker {
			resp = &mk
		}
	}
	if resp == nil || !resp.Response || resp.TransactionID != 42 || resp.Port != 5 {
		t.Fatalf("marker response %+v", resp)
	}
	if c := p.a.Status().Members[0].Counters; c.RxMarkers != 1 || c.TxMarkerResponses != 1 {
		t.Fatalf("counters %+v", c)
	}
}

func TestBadPDUCountedAndRateLimited(t *testing.T) {
	p := newPair(t, 1, Config{Rate: Fast}, Config{Rate: Fast})
	p.setLink(0, true)
	p.a.Receive(0, []byte{1, 2, 3}, p.now)
	if c := p.a.Status().Members[0].Counters; c.RxBad != 1 {
		t.Fatalf("bad PDU not counted: %+v", c)
	}
	// A partner that changes its information every millisecond gets at
	// most three answers a second.
	f := ovsLACPDU(t)
	sent := 0
	for i := 0; i < 1000; i++ {
		p.now = p.now.Add(time.Millisecond)
		f[29] = byte(i) // actor key low byte
		sent += len(p.a.Receive(0, f, p.now).Frames)
	}
	if sent > MaxTxPerPeriod+1 {
		t.Fatalf("sent %d LACPDUs in 1 s, want at most %d", sent, MaxTxPerPeriod)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	if _, err := New(Config{}); err == nil || !contains(err.Error(), "lacp-system-id") {
		t.Fatalf("zero system id: %v", err)
	}
	a, _ := New(Config{SystemID: packet.MAC{2}})
	if err := a.AddMember(0, MemberConfig{Name: "x"}, time.Now()); err == nil || !contains(err.Error(), "lacp-port-id") {
		t.Fatalf("port id 0: %v", err)
	}
	_ = a.AddMember(0, MemberConfig{Name: "x", PortID: 3}, time.Now())
	if err := a.AddMember(1, MemberConfig{Name: "y", PortID: 3}, time.Now()); err == nil || !contains(err.Error(), "lacp-port-id: 3 of member") {
		t.Fatalf("duplicate port id: %v", err)
	}
	if _, err := ParseRate("medium"); err == nil || !contains(err.Error(), "fast, slow") {
		t.Fatalf("rate: %v", err)
	}
	if _, err := ParseMode("on"); err == nil || !contains(err.Error(), "active, passive") {
		t.Fatalf("mode: %v", err)
	}
	// The errors are typed: field and allowed values for the front ends.
	_, err := ParseRate("medium")
	if e, ok := errs.As(err); !ok || e.Field != "lacp-rate" || e.Allowed != "fast, slow" || e.Kind != errs.Invalid {
		t.Fatalf("untyped error %#v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
