package bond

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/lacp"
	"github.com/switchyard-net/switchyard/internal/packet"
)

var t0 = time.Unix(1_000_000, 0)

func members(n int) []MemberConfig {
	l := make([]MemberConfig, n)
	for i := range l {
		l[i] = MemberConfig{Name: "eth" + string(rune('1'+i)), MAC: packet.MAC{2, 0, 0, 0, 1, byte(i + 1)}}
	}
	return l
}

func newBond(t *testing.T, cfg Config, n int) *Bond {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "bond0"
	}
	if cfg.LACP != LACPOff && cfg.SystemID.IsZero() {
		cfg.SystemID = packet.MAC{2, 0, 0, 0, 0xa, 0}
	}
	b, err := New(cfg, members(n), t0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frame builds an untagged IPv4/UDP frame from src to dst with ports.
func frame(src packet.MAC, sport uint16) []byte {
	f := make([]byte, 14+20+8+18)
	copy(f[0:6], []byte{2, 9, 9, 9, 9, 9})
	copy(f[6:12], src[:])
	f[12], f[13] = 0x08, 0x00
	ip := f[14:]
	ip[0], ip[2], ip[3], ip[8], ip[9] = 0x45, 0, 46, 64, 17
	copy(ip[12:16], []byte{198, 18, 0, 1})
	copy(ip[16:20], []byte{198, 18, 0, 2})
	ip[20], ip[21] = byte(sport>>8), byte(sport)
	ip[22], ip[23] = 0x13, 0x88
	return f
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		cfg  Config
		n    int
		want string
	}{
		{Config{Mode: BalanceTCP}, 2, "balance-tcp needs LACP"},
		{Config{UpDelay: -time.Millisecond}, 2, "updelay: -1 ms; allowed: 0-3600000 ms"},
		{Config{DownDelay: 2 * time.Hour}, 2, "downdelay"},
		{Config{RebalanceInterval: 10 * time.Millisecond}, 2, "bond-rebalance-interval: 10 ms"},
		{Config{}, 1, "members: a bond has 2-32 members, not 1"},
		{Config{Primary: "eth9"}, 2, `bond-primary: "eth9"`},
		{Config{LACP: LACPActive}, 2, "lacp-system-id"},
		{Config{LACPFallbackAB: true}, 2, "need lacp active or passive"},
	}
	for _, c := range cases {
		_, err := New(c.cfg, members(c.n), t0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want it to say %q", c.cfg, err, c.want)
		}
	}
	if _, err := ParseMode("balance-xor"); err == nil || !strings.Contains(err.Error(), "active-backup, balance-slb, balance-tcp") {
		t.Errorf("ParseMode: %v", err)
	}
	if _, err := ParseLACPMode("on"); err == nil || !strings.Contains(err.Error(), "off, active, passive") {
		t.Errorf("ParseLACPMode: %v", err)
	}
}

func TestActiveBackupFailover(t *testing.T) {
	b := newBond(t, Config{}, 2)
	if m, _ := b.Selector().Choose(frame(packet.MAC{2, 1}, 1), 0); m != -1 {
		t.Fatalf("no carrier, chose %d", m)
	}
	b.SetCarrier(0, true, t0)
	out := b.SetCarrier(1, true, t0)
	s := b.Selector()
	if s.Active() != 0 || s.Hashing() != HashNone {
		t.Fatalf("active %d hashing %d", s.Active(), s.Hashing())
	}
	if out.SendLearning {
		t.Fatal("learning frames without a change of active member")
	}
	for sp := uint16(0); sp < 50; sp++ {
		if m, _ := s.Choose(frame(packet.MAC{2, 1, 0, 0, 0, byte(sp)}, sp), 0); m != 0 {
			t.Fatalf("active-backup sent on member %d", m)
		}
	}
	out = b.SetCarrier(0, false, t0.Add(time.Second))
	if !out.Changed || !out.SendLearning || b.Selector().Active() != 1 {
		t.Fatalf("failover: %+v active %d", out, b.Selector().Active())
	}
	// The old active member comes back: no revert without a primary.
	b.SetCarrier(0, true, t0.Add(2*time.Second))
	if b.Selector().Active() != 1 {
		t.Fatal("reverted to member 0 without bond-primary")
	}
	// Admission: only the active member.
	s = b.Selector()
	if s.Admit(0, packet.MAC{2, 5}) != Drop || s.Admit(1, packet.MAC{2, 5}) != Accept || s.Admit(0, packet.Broadcast) != Drop {
		t.Fatal("active-backup admission")
	}
}

func TestPrimaryReverts(t *testing.T) {
	b := newBond(t, Config{Primary: "eth1"}, 2)
	b.SetCarrier(1, true, t0)
	if b.Selector().Active() != 1 {
		t.Fatal("not on eth2")
	}
	b.SetCarrier(0, true, t0)
	if b.Selector().Active() != 0 {
		t.Fatal("primary eth1 did not take over when it came up")
	}
}

func TestUpDownDelay(t *testing.T) {
	b := newBond(t, Config{UpDelay: 500 * time.Millisecond, DownDelay: 200 * time.Millisecond}, 2)
	b.SetCarrier(0, true, t0)
	// Nothing else is enabled: the first member skips its updelay.
	if b.Selector().Active() != 0 || !b.Selector().Enabled(0) {
		t.Fatal("first member waited for its updelay with no other member")
	}
	b.SetCarrier(1, true, t0)
	if b.Selector().Enabled(1) {
		t.Fatal("member 1 enabled before its updelay")
	}
	if st := b.Status(t0.Add(100 * time.Millisecond)); st.Members[1].Delay != "updelay" || st.Members[1].DelayExpiresMS != 400 {
		t.Fatalf("status %+v", st.Members[1])
	}
	b.Tick(t0.Add(499 * time.Millisecond))
	if b.Selector().Enabled(1) {
		t.Fatal("enabled at 499 ms")
	}
	b.Tick(t0.Add(500 * time.Millisecond))
	if !b.Selector().Enabled(1) {
		t.Fatal("not enabled after 500 ms")
	}
	// Down: still enabled during the downdelay; a flap shorter than it is
	// never seen.
	b.SetCarrier(0, false, t0.Add(time.Second))
	b.SetCarrier(0, true, t0.Add(time.Second+100*time.Millisecond))
	b.Tick(t0.Add(2 * time.Second))
	if !b.Selector().Enabled(0) || b.Selector().Active() != 0 {
		t.Fatal("a 100 ms flap under a 200 ms downdelay disabled the member")
	}
	b.SetCarrier(0, false, t0.Add(3*time.Second))
	b.Tick(t0.Add(3*time.Second + 199*time.Millisecond))
	if !b.Selector().Enabled(0) {
		t.Fatal("disabled before the downdelay")
	}
	out := b.Tick(t0.Add(3*time.Second + 200*time.Millisecond))
	if b.Selector().Enabled(0) || b.Selector().Active() != 1 || !out.SendLearning {
		t.Fatalf("after downdelay: enabled %v active %d %+v", b.Selector().Enabled(0), b.Selector().Active(), out)
	}
}

func TestSLBSpreadAndAdmission(t *testing.T) {
	b := newBond(t, Config{Mode: BalanceSLB}, 2)
	b.SetCarrier(0, true, t0)
	b.SetCarrier(1, true, t0)
	s := b.Selector()
	if s.Hashing() != HashSrcMAC {
		t.Fatalf("hashing %d", s.Hashing())
	}
	count := [2]int{}
	for i := 0; i < 200; i++ {
		mac := packet.MAC{2, 0, 0, 1, byte(i >> 8), byte(i)}
		m, bk := s.Choose(frame(mac, 99), 10)
		if m < 0 || bk < 0 {
			t.Fatalf("chose %d %d", m, bk)
		}
		count[m]++
		// Same MAC and VLAN, other L4 ports: same member.
		if m2, _ := s.Choose(frame(mac, 1234), 10); m2 != m {
			t.Fatal("SLB choice depends on L4 ports")
		}
	}
	if count[0] < 60 || count[1] < 60 {
		t.Fatalf("200 MACs over 2 members: %v", count)
	}
	// Admission for a non-LACP upstream.
	act := s.Active()
	other := 1 - act
	if s.Admit(other, packet.Broadcast) != Drop || s.Admit(act, packet.Broadcast) != DropIfMoved {
		t.Fatal("multicast admission")
	}
	if s.Admit(other, packet.MAC{2, 3}) != DropIfMoved {
		t.Fatal("unicast on a non-active SLB member must be drop-if-moved")
	}
	// A member going down moves its buckets to the other.
	b.SetCarrier(other, false, t0.Add(time.Second))
	s = b.Selector()
	for i := 0; i < 100; i++ {
		if m, _ := s.Choose(frame(packet.MAC{2, 0, 0, 1, 0, byte(i)}, 9), 10); m != act {
			t.Fatalf("frame on member %d after member %d went down", m, other)
		}
	}
	b2 := newBond(t, Config{Mode: BalanceSLB, AllMembersActive: true}, 2)
	b2.SetCarrier(0, true, t0)
	b2.SetCarrier(1, true, t0)
	if b2.Selector().Admit(1-b2.Selector().Active(), packet.Broadcast) != DropIfMoved {
		t.Fatal("all_members_active still dropped multicast on a backup member")
	}
}

func TestRebalance(t *testing.T) {
	b := newBond(t, Config{Mode: BalanceSLB}, 2)
	b.SetCarrier(0, true, t0)
	b.SetCarrier(1, true, t0)
	s := b.Selector()
	// Load 8 MACs that all happen to sit on member 0, heavily.
	var heavy [][]byte
	for i := 0; len(heavy) < 8; i++ {
		f := frame(packet.MAC{2, 0, 0, 2, byte(i >> 8), byte(i)}, 1)
		if m, _ := s.Choose(f, 0); m == 0 {
			heavy = append(heavy, f)
		}
	}
	for _, f := range heavy {
		_, bk := s.Choose(f, 0)
		s.Account(bk, 10_000_000)
	}
	out := b.Tick(t0.Add(DefaultRebalanceInterval - time.Millisecond))
	if out.Changed {
		t.Fatal("rebalanced before the interval")
	}
	out = b.Tick(t0.Add(DefaultRebalanceInterval))
	if !out.Changed {
		t.Fatal("did not rebalance")
	}
	s = b.Selector()
	per := [2]int{}
	for _, f := range heavy {
		m, _ := s.Choose(f, 0)
		per[m]++
	}
	if per[0] != 4 || per[1] != 4 {
		t.Fatalf("after rebalancing the 8 equal loads sit %v", per)
	}
	st := b.Status(t0.Add(DefaultRebalanceInterval))
	if len(st.Members[0].Buckets)+len(st.Members[1].Buckets) != Buckets {
		t.Fatal("bucket lists do not cover 256 buckets")
	}
	// Balanced now: the next interval moves nothing.
	for _, f := range heavy {
		_, bk := s.Choose(f, 0)
		s.Account(bk, 10_000_000)
	}
	if b.Tick(t0.Add(2 * DefaultRebalanceInterval)).Changed {
		t.Fatal("rebalanced a balanced bond")
	}
}

func TestLearningFrame(t *testing.T) {
	b := newBond(t, Config{}, 2)
	b.SetCarrier(0, true, t0)
	mac := packet.MAC{2, 0xaa, 0, 0, 0, 1}
	m, f := b.Selector().LearningFrame(nil, mac, 10)
	if m != 0 || len(f) != LearningFrameLen+4 {
		t.Fatalf("member %d, %d bytes", m, len(f))
	}
	l, err := packet.ParseL2(f)
	if err != nil || l.Dst != packet.Broadcast || l.Src != mac || !l.Tagged || l.TCI.VID() != 10 || l.EtherType != 0x8035 {
		t.Fatalf("frame %+v %v", l, err)
	}
	if op := uint16(f[l.L3+6])<<8 | uint16(f[l.L3+7]); op != 3 || packet.MAC(f[l.L3+8:l.L3+14]) != mac {
		t.Fatalf("rarp op %d", op)
	}
}

func TestIsGratuitousARP(t *testing.T) {
	f := make([]byte, 14+28)
	copy(f[0:6], packet.Broadcast[:])
	f[12], f[13] = 0x08, 0x06
	_, err := packet.BuildARP(f[14:], 1, packet.MAC{2, 1}, [4]byte{198, 18, 0, 5}, packet.MAC{}, [4]byte{198, 18, 0, 5})
	if err != nil {
		t.Fatal(err)
	}
	if !IsGratuitousARP(f) {
		t.Fatal("gratuitous ARP not recognised")
	}
	f[14+24+3] = 6
	if IsGratuitousARP(f) {
		t.Fatal("an ordinary ARP request taken for gratuitous")
	}
}

// link joins member i of two bonds in memory.
type bondPair struct {
	a, b *Bond
	now  time.Time
	up   []bool
}

func (p *bondPair) pump(out Output, fromA bool) {
	for d := 0; d < 40 && len(out.Frames) > 0; d++ {
		var next Output
		for _, f := range out.Frames {
			if !p.up[f.Member] {
				continue
			}
			dst := p.b
			if !fromA {
				dst = p.a
			}
			o := dst.ReceiveLACP(f.Member, f.Data, p.now)
			next.Frames = append(next.Frames, o.Frames...)
		}
		out, fromA = next, !fromA
	}
}

func (p *bondPair) run(d time.Duration) {
	for end := p.now.Add(d); p.now.Before(end); {
		p.now = p.now.Add(100 * time.Millisecond)
		p.pump(p.a.Tick(p.now), true)
		p.pump(p.b.Tick(p.now), false)
	}
}

func TestBalanceTCPWithLACP(t *testing.T) {
	cfg := Config{Mode: BalanceTCP, LACP: LACPActive, LACPRate: lacp.Fast}
	a := newBond(t, cfg, 2)
	cfg.SystemID = packet.MAC{2, 0, 0, 0, 0xb, 0}
	bb := newBond(t, cfg, 2)
	p := &bondPair{a: a, b: bb, now: t0, up: []bool{true, true}}
	if a.Selector().Hashing() != HashDrop {
		t.Fatal("balance-tcp forwards before LACP negotiated")
	}
	for i := 0; i < 2; i++ {
		p.pump(a.SetCarrier(i, true, p.now), true)
		p.pump(bb.SetCarrier(i, true, p.now), false)
	}
	p.run(3 * time.Second)
	s := a.Selector()
	if s.Hashing() != HashL4 || !s.Enabled(0) || !s.Enabled(1) {
		t.Fatalf("after negotiation: hashing %d, status %+v", s.Hashing(), a.Status(p.now))
	}
	st := a.Status(p.now)
	if st.LACPStatus != "negotiated" || st.PartnerSystemID != "02:00:00:00:0b:00" || st.PartnerKey != 1 {
		t.Fatalf("status %+v", st)
	}
	// Several flows of one host pair spread over both members.
	count := [2]int{}
	src := packet.MAC{2, 1, 1, 1, 1, 1}
	for sp := uint16(1000); sp < 1200; sp++ {
		m, _ := s.Choose(frame(src, sp), 0)
		count[m]++
	}
	if count[0] < 60 || count[1] < 60 {
		t.Fatalf("200 flows of one host pair: %v", count)
	}
	if s.Admit(0, packet.Broadcast) != Accept || s.Admit(1, packet.MAC{2, 2}) != Accept {
		t.Fatal("LACP bond refused a frame on an enabled member")
	}
	// Member 1 goes silent (carrier up): it leaves within the 3 s timeout.
	p.up[1] = false
	start := p.now
	for a.Selector().Enabled(1) {
		p.run(100 * time.Millisecond)
		if p.now.Sub(start) > 4*time.Second {
			t.Fatal("silent member still enabled after 4 s")
		}
	}
	t.Logf("silent member left after %v", p.now.Sub(start))
	for sp := uint16(1000); sp < 1100; sp++ {
		if m, _ := a.Selector().Choose(frame(src, sp), 0); m != 0 {
			t.Fatal("a flow still hashed to the silent member")
		}
	}
	if a.Selector().Admit(1, packet.MAC{2, 2}) != Drop {
		t.Fatal("frames admitted on the disabled member")
	}
}

func TestFallbackABBond(t *testing.T) {
	// LACP on our side, nothing on the other: without fallback nothing
	// flows, with fallback the bond is active-backup and sends learning
	// frames.
	for _, fb := range []bool{false, true} {
		b := newBond(t, Config{Mode: BalanceTCP, LACP: LACPActive, LACPRate: lacp.Fast, LACPFallbackAB: fb}, 2)
		b.SetCarrier(0, true, t0)
		b.SetCarrier(1, true, t0)
		var learning bool
		for d := time.Duration(0); d < 10*time.Second; d += 100 * time.Millisecond {
			learning = b.Tick(t0.Add(d)).SendLearning || learning
		}
		s := b.Selector()
		m, _ := s.Choose(frame(packet.MAC{2, 1}, 5), 0)
		if fb {
			if s.Hashing() != HashNone || m < 0 || !learning || s.Admit(m, packet.MAC{2, 3}) != Accept || s.Admit(1-m, packet.MAC{2, 3}) != Drop {
				t.Fatalf("fallback: hashing %d member %d learning %v", s.Hashing(), m, learning)
			}
			if st := b.Status(t0.Add(10 * time.Second)); !st.FallingBack || st.LACPStatus != "configured" {
				t.Fatalf("status %+v", st)
			}
		} else if m != -1 || s.Admit(0, packet.MAC{2, 3}) != Drop {
			t.Fatalf("no fallback: member %d", m)
		}
	}
}

func TestStatusJSONSnakeCase(t *testing.T) {
	b := newBond(t, Config{Mode: BalanceSLB, LACP: LACPActive}, 2)
	b.SetCarrier(0, true, t0)
	js, err := json.Marshal(b.Status(t0))
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
				if strings.ToLower(k) != k || strings.Contains(k, " ") {
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
	for _, k := range []string{"mode", "lacp_status", "members", "updelay_ms", "lacp_detail"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status lacks %q: %s", k, js)
		}
	}
	if txt := b.Status(t0).Text(); !strings.Contains(txt, "bond_mode: balance-slb") || !strings.Contains(txt, "member eth1: ") {
		t.Errorf("text:\n%s", txt)
	}
}

func TestChooseAllocatesNothing(t *testing.T) {
	b := newBond(t, Config{Mode: BalanceSLB}, 2)
	b.SetCarrier(0, true, t0)
	b.SetCarrier(1, true, t0)
	f := frame(packet.MAC{2, 1}, 80)
	s := b.Selector()
	if n := testing.AllocsPerRun(1000, func() {
		_, bk := s.Choose(f, 10)
		s.Account(bk, len(f))
		_ = s.Admit(0, packet.MAC(f[0:6]))
	}); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

func BenchmarkChoose(b *testing.B) {
	for _, mode := range []Mode{ActiveBackup, BalanceSLB, BalanceTCP} {
		b.Run(mode.String(), func(b *testing.B) {
			cfg := Config{Name: "b", Mode: mode}
			if mode == BalanceTCP {
				cfg.LACP, cfg.SystemID, cfg.LACPFallbackAB = LACPActive, packet.MAC{2, 0, 0, 0, 0, 1}, false
			}
			bd, err := New(cfg, members(2), t0)
			if err != nil {
				b.Fatal(err)
			}
			bd.SetCarrier(0, true, t0)
			bd.SetCarrier(1, true, t0)
			if mode == BalanceTCP {
				// Force the negotiated snapshot for measuring the hash path.
				s := *bd.Selector()
				s.hash, s.lacp = HashL4, LACPNegotiated
				for i := range s.buckets {
					s.buckets[i] = int8(i & 1)
				}
				bd.sel.Store(&s)
			}
			frames := make([][]byte, 64)
			for i := range frames {
				frames[i] = frame(packet.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}, uint16(1000+i))
			}
			s := bd.Selector()
			b.ReportAllocs()
			b.ResetTimer()
			sum := 0
			for i := 0; i < b.N; i++ {
				f := frames[i&63]
				m, bk := s.Choose(f, 10)
				s.Account(bk, len(f))
				sum += m
			}
			_ = sum
		})
	}
}

func TestSetConfig(t *testing.T) {
	b := newBond(t, Config{}, 2)
	b.SetCarrier(0, true, t0)
	b.SetCarrier(1, true, t0)
	if b.Selector().Hashing() != HashNone {
		t.Fatal("not active-backup")
	}
	if _, err := b.SetConfig(Config{Name: "bond0", Mode: BalanceTCP}, t0); err == nil || !strings.Contains(err.Error(), "needs LACP") {
		t.Fatalf("balance-tcp without LACP accepted: %v", err)
	}
	if b.Config().Mode != ActiveBackup {
		t.Fatal("a rejected change changed the bond")
	}
	out, err := b.SetConfig(Config{Name: "bond0", Mode: BalanceSLB, UpDelay: time.Second}, t0)
	if err != nil || !out.Changed || b.Selector().Hashing() != HashSrcMAC {
		t.Fatalf("to balance-slb: %v %+v", err, out)
	}
	// LACP on: nothing flows until a partner answers, LACPDUs go out.
	out, err = b.SetConfig(Config{Name: "bond0", Mode: BalanceTCP, LACP: LACPActive, LACPRate: lacp.Fast, SystemID: packet.MAC{2, 0, 0, 0, 0, 7}}, t0)
	on := map[int]bool{}
	for _, f := range out.Frames {
		on[f.Member] = true
	}
	if err != nil || b.Selector().Hashing() != HashDrop || !on[0] || !on[1] {
		t.Fatalf("to LACP: %v hashing %d, LACPDUs on %v", err, b.Selector().Hashing(), on)
	}
}
