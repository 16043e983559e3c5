package datapath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
)

// The differential test: random rule sets and random frames (VLANs, L3/L4,
// several ports) through three paths that must agree, always, with random
// flow and FDB changes in between:
//
//   - bridge A forwards with its decision cache warm;
//   - bridge B, the same configuration, flushes its cache before every
//     frame (every frame is decided fresh);
//   - a reference classifier written here (a linear scan of the rules in
//     priority order over fields read from the frame's bytes) gives the
//     chain of rules the frame must meet, which bridge A's decision must
//     have gone through.
//
// A's and B's outputs are compared frame by frame, and A's with what its
// trace says.

// refFields are the fields the random rules match, read straight from a
// frame (independently of the engine's key extraction).
type refFields struct {
	inPort  uint16
	dst     uint64
	vlan    int // -1 untagged
	ethType uint16
	proto   uint8
	src     uint32
	dstIP   uint32
	tpDst   uint16
	reg0    uint32
}

func refParse(f []byte, in uint16) refFields {
	r := refFields{inPort: in, vlan: -1}
	r.dst = uint64(binary.BigEndian.Uint16(f[0:]))<<32 | uint64(binary.BigEndian.Uint32(f[2:]))
	off := 12
	et := binary.BigEndian.Uint16(f[off:])
	if et == 0x8100 {
		r.vlan = int(binary.BigEndian.Uint16(f[14:]) & 0xfff)
		off += 4
		et = binary.BigEndian.Uint16(f[off:])
	}
	r.ethType = et
	ip := f[off+2:]
	if et == 0x0800 && len(ip) >= 20 {
		r.proto = ip[9]
		r.src = binary.BigEndian.Uint32(ip[12:])
		r.dstIP = binary.BigEndian.Uint32(ip[16:])
		l4 := ip[int(ip[0]&0xf)*4:]
		if (r.proto == 6 || r.proto == 17) && len(l4) >= 4 {
			r.tpDst = binary.BigEndian.Uint16(l4[2:])
		}
	}
	return r
}

// refRule is a random rule in the test's own terms.
type refRule struct {
	table, prio   int
	inPort        int // 0: any
	ip            bool
	proto         int // 0: any (needs ip)
	dstNet, dstLn int // dstLn 0: any
	tpDst         int // 0: any (needs proto 6/17)
	vlan          int // -2: any, -1: untagged, else VID
	dst, dstMask  uint64
	reg0          int // -1: any
	// actions
	setReg0 int // -1: none
	gotoT   int // -1: none
	out     []uint32
	normal  bool
}

func (r refRule) matches(f refFields) bool {
	switch {
	case r.inPort != 0 && uint16(r.inPort) != f.inPort:
	case r.vlan == -1 && f.vlan != -1, r.vlan >= 0 && f.vlan != r.vlan:
	case r.dstMask != 0 && f.dst&r.dstMask != r.dst:
	case r.reg0 >= 0 && uint32(r.reg0) != f.reg0:
	case r.ip && f.ethType != 0x0800:
	case r.proto != 0 && uint8(r.proto) != f.proto:
	case r.dstLn != 0 && f.dstIP>>(32-r.dstLn) != uint32(r.dstNet)>>(32-r.dstLn):
	case r.tpDst != 0 && uint16(r.tpDst) != f.tpDst:
	default:
		return true
	}
	return false
}

func (r refRule) rule() Rule {
	var m Match
	if r.inPort != 0 {
		m.SetExact(FieldInPort, Value{Lo: uint64(r.inPort)})
	}
	switch {
	case r.vlan == -1:
		m.Set(FieldVLANVID, Value{}, Value{Lo: 0x1000})
	case r.vlan >= 0:
		m.Set(FieldVLANVID, Value{Lo: 0x1000 | uint64(r.vlan)}, Value{Lo: 0x1fff})
	}
	if r.dstMask != 0 {
		m.Set(FieldEthDst, Value{Lo: r.dst}, Value{Lo: r.dstMask})
	}
	if r.reg0 >= 0 {
		m.SetExact(FieldReg0, Value{Lo: uint64(r.reg0)})
	}
	if r.ip {
		m.SetExact(FieldEthType, Value{Lo: etherTypeIPv4})
	}
	if r.proto != 0 {
		m.SetExact(FieldIPProto, Value{Lo: uint64(r.proto)})
	}
	if r.dstLn != 0 {
		mask := uint64(0xffffffff) << (32 - r.dstLn) & 0xffffffff
		m.Set(FieldIPv4Dst, Value{Lo: uint64(r.dstNet)}, Value{Lo: mask})
	}
	if r.tpDst != 0 {
		m.SetExact(FieldTPDst, Value{Lo: uint64(r.tpDst)})
	}
	in := Instructions{Apply: []Action{}, Goto: NoGoto}
	if r.setReg0 >= 0 {
		in.Apply = append(in.Apply, Action{Kind: ActSetField, Field: FieldReg0, Value: Value{Lo: uint64(r.setReg0)}, Mask: FieldReg0.FullMask()})
	}
	for _, p := range r.out {
		in.Apply = append(in.Apply, Action{Kind: ActOutput, Port: p})
	}
	if r.normal {
		in.Apply = append(in.Apply, Action{Kind: ActOutput, Port: PortNormal})
	}
	if r.gotoT >= 0 {
		in.Goto = r.gotoT
	}
	return Rule{Table: uint8(r.table), Priority: uint16(r.prio), Match: m, Instr: in}
}

// randRefRule makes a random rule whose priority is unique in its table
// (overlapping rules of one priority are OpenFlow's undefined case).
func randRefRule(rng *rand.Rand, nports int, have []refRule) refRule {
	r := refRule{table: rng.IntN(3), vlan: -2, reg0: -1, setReg0: -1, gotoT: -1}
	for used := true; used; {
		r.prio = rng.IntN(1000)
		used = false
		for _, h := range have {
			used = used || h.table == r.table && h.prio == r.prio
		}
	}
	if rng.IntN(3) == 0 {
		r.inPort = 1 + rng.IntN(nports)
	}
	switch rng.IntN(4) {
	case 0:
		r.vlan = -1
	case 1:
		r.vlan = []int{10, 20}[rng.IntN(2)]
	}
	if rng.IntN(4) == 0 {
		r.dstMask = []uint64{1 << 40, 0xffffffffffff}[rng.IntN(2)]
		r.dst = mac48(rng.IntN(4)) & r.dstMask
	}
	if r.table > 0 && rng.IntN(3) == 0 {
		r.reg0 = rng.IntN(3)
	}
	if rng.IntN(2) == 0 {
		r.ip = true
		if rng.IntN(2) == 0 {
			r.proto = []int{6, 17}[rng.IntN(2)]
			if rng.IntN(2) == 0 {
				r.tpDst = 80 + rng.IntN(3)
			}
		}
		if rng.IntN(2) == 0 {
			r.dstLn = []int{8, 24, 32}[rng.IntN(3)]
			r.dstNet = 0xcb007100 | rng.IntN(4)
		}
	}
	if rng.IntN(3) == 0 && r.table < 2 {
		r.setReg0 = rng.IntN(3)
	}
	switch rng.IntN(5) {
	case 0:
		r.normal = true
	case 1, 2:
		for i := rng.IntN(3); i >= 0; i-- {
			r.out = append(r.out, uint32(1+rng.IntN(nports)))
		}
	case 3: // drop
	case 4:
		r.out = []uint32{PortFlood}
	}
	if r.table < 2 && rng.IntN(2) == 0 {
		r.gotoT = r.table + 1 + rng.IntN(2-r.table)
	}
	return r
}

func mac48(i int) uint64 { m := mac(i); return macWord(m[:]) }

// refChain returns the (table, priority) of each rule a frame meets.
func refChain(rules []refRule, f refFields) []string {
	var chain []string
	table := 0
	for {
		var best *refRule
		for i := range rules {
			r := &rules[i]
			if r.table == table && r.matches(f) && (best == nil || r.prio > best.prio) {
				best = r
			}
		}
		if best == nil {
			return chain
		}
		chain = append(chain, fmt.Sprintf("%d/%d", best.table, best.prio))
		if best.setReg0 >= 0 {
			f.reg0 = uint32(best.setReg0)
		}
		if best.gotoT < 0 {
			return chain
		}
		table = best.gotoT
	}
}

func randFrame(rng *rand.Rand) []byte {
	dst := mac(rng.IntN(4))
	if rng.IntN(4) == 0 {
		dst = bcast
	}
	src := mac(1 + rng.IntN(6))
	tci := -1
	if rng.IntN(2) == 0 {
		tci = []int{10, 20, 30}[rng.IntN(3)] | rng.IntN(8)<<13
	}
	var f []byte
	switch rng.IntN(3) {
	case 0:
		f = tcpFrame(dst, src, 0xc6120001, 0xcb007100|uint32(rng.IntN(4)), 1000, uint16(79+rng.IntN(4)))
		if rng.IntN(2) == 0 {
			f[23] = 17 // UDP: same port offsets
		}
	case 1:
		f = frame(dst, src, -1, 46)
	default:
		f = tcpFrame(dst, src, 0xc6120001, 0x0a000001, 1000, 80)
	}
	if tci >= 0 {
		t := make([]byte, 0, len(f)+4)
		t = append(t, f[:12]...)
		t = binary.BigEndian.AppendUint16(t, 0x8100)
		t = binary.BigEndian.AppendUint16(t, uint16(tci))
		f = append(t, f[12:]...)
	}
	return f
}

func TestDifferentialCachedUncachedReference(t *testing.T) {
	rounds, frames := 40, 400
	if testing.Short() {
		rounds = 10
	}
	rng := rand.New(rand.NewPCG(7, 11))
	cfgs := []PortConfig{access(10), access(20), trunk("10,20", 0, false), {}, trunk("10,20,30", 30, false)}
	for round := 0; round < rounds; round++ {
		a := newTestBridge(t, BridgeConfig{MaxLearned: 8, FullPolicy: FullEvictOldest})
		b := newTestBridge(t, BridgeConfig{MaxLearned: 8, FullPolicy: FullEvictOldest})
		for i, c := range cfgs {
			a.add(fmt.Sprint("p", i+1), c)
			b.add(fmt.Sprint("p", i+1), c)
		}
		var ref []refRule
		install := func() {
			// A later rule with the same table, priority and match replaces
			// an earlier one (as an OpenFlow add does): keep the reference in step.
			var rules []Rule
			seen := map[string]bool{}
			var kept []refRule
			for i := len(ref) - 1; i >= 0; i-- {
				rr := ref[i].rule()
				id := string(RuleID(&rr))
				if seen[id] {
					continue
				}
				seen[id] = true
				kept = append(kept, ref[i])
				rules = append(rules, rr)
			}
			slices.Reverse(kept)
			slices.Reverse(rules)
			ref = kept
			for _, tb := range []*testBridge{a, b} {
				if err := tb.b.ReplaceFlows(rules); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := 3 + rng.IntN(20); i > 0; i-- {
			ref = append(ref, randRefRule(rng, len(cfgs), ref))
		}
		install()
		for n := 0; n < frames; n++ {
			switch rng.IntN(40) {
			case 0: // a rule more
				ref = append(ref, randRefRule(rng, len(cfgs), ref))
				install()
			case 1: // a rule less
				if len(ref) > 0 {
					i := rng.IntN(len(ref))
					ref = slices.Delete(ref, i, i+1)
					install()
				}
			case 2: // FDB changes
				for _, tb := range []*testBridge{a, b} {
					tb.b.FlushFDB("", -1)
				}
			case 3:
				m := mac(1 + rng.IntN(6))
				for _, tb := range []*testBridge{a, b} {
					_ = tb.b.AddStaticFDB(m, 0, "p4", netip.Addr{})
				}
			}
			in := 1 + rng.IntN(len(cfgs))
			f := randFrame(rng)
			name := fmt.Sprint("p", in)
			// Reference: the chain of rules.
			want := refChain(ref, refParse(f, uint16(in)))
			k, _ := KeyOfFrame(f, uint16(in))
			tr, d := a.b.TraceKey(k, nil)
			var got []string
			for _, r := range d.rules {
				got = append(got, fmt.Sprintf("%d/%d", r.Table, r.Priority))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d frame %d on %s (% x): rules %v, reference %v", round, n, name, f, got, want)
			}
			evicted := a.b.Stats().FDB.Evicted
			a.send(name, f)
			b.b.FlushCache()
			b.send(name, f)
			ga, gb := a.got(), b.got()
			if !sameOutputs(ga, gb) {
				tra, _ := a.b.TraceKey(k, nil)
				t.Fatalf("round %d frame %d on %s (% x): cached %s, uncached %s\nrules %v\ntrace before %s\ntrace after %s\nA fdb %v\nB fdb %v", round, n, name, f, describe(ga), describe(gb), want, tr.String(), tra.String(), a.b.FDB(-1), b.b.FDB(-1))
			}
			// The trace has no side effects: it cannot foresee an eviction
			// that learning this very frame causes.
			if a.b.Stats().FDB.Evicted == evicted && !traceAgrees(tr, ga) {
				t.Fatalf("round %d frame %d on %s (% x): sent %s, trace said %+v\n%s\nops %s\nfdb %+v", round, n, name, f, describe(ga), tr.Outputs, tr.String(), d.DatapathActions(), a.b.FDB(-1))
			}
		}
	}
}

func sameOutputs(a, b map[string][][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for p, fa := range a {
		fb := b[p]
		if len(fa) != len(fb) {
			return false
		}
		for i := range fa {
			if !bytes.Equal(fa[i], fb[i]) {
				return false
			}
		}
	}
	return true
}

func describe(m map[string][][]byte) string {
	var l []string
	for p, fs := range m {
		for _, f := range fs {
			l = append(l, fmt.Sprintf("%s(tag %d)", p, tagOf(f)))
		}
	}
	sort.Strings(l)
	return fmt.Sprint(l)
}

// traceAgrees checks that the frames sent are the outputs the trace named,
// with the same VLAN form.
func traceAgrees(tr *Trace, sent map[string][][]byte) bool {
	var want, got []string
	for _, o := range tr.Outputs {
		if o.Drop != "" {
			continue
		}
		want = append(want, fmt.Sprintf("%s:%d", o.Port, o.VLAN))
	}
	for p, fs := range sent {
		for _, f := range fs {
			v := tagOf(f)
			if v >= 0 {
				v &= 0xfff
			}
			got = append(got, fmt.Sprintf("%s:%d", p, v))
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	return slices.Equal(want, got)
}
