package datapath

import (
	"math/rand/v2"
	"testing"
)

// naiveTable is a reference classifier: a list of rules, looked up by a
// linear scan for the highest priority match.
type naiveTable map[string]*Rule

func (n naiveTable) clone() naiveTable {
	c := naiveTable{}
	for k, v := range n {
		c[k] = v
	}
	return c
}

func (n naiveTable) lookup(table uint8, k *Key) *Rule {
	var best *Rule
	for _, r := range n {
		if r.Table == table && r.Match.Matches(k) && (best == nil || r.Priority > best.Priority) {
			best = r
		}
	}
	return best
}

// TestTableSetAgainstLinearScan: random inserts and removes in random
// transactions over few masks (large subtables that grow their shards),
// lookups and finds checked against a linear scan — and every earlier
// published version unchanged by later transactions (copy on write).
func TestTableSetAgainstLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	masks := make([]Key, 4)
	for i := range masks {
		masks[i].unwildcard(FieldInPort)
		if i > 0 {
			masks[i].unwildcard(FieldEthType)
			masks[i].Set(FieldIPv4Dst, Value{Lo: uint64(0xffffffff) << (8 * (i - 1)) & 0xffffffff})
		}
	}
	randKey := func() Key {
		var k Key
		k.Set(FieldInPort, Value{Lo: uint64(1 + rng.IntN(3))})
		k.Set(FieldEthType, Value{Lo: 0x0800})
		k.Set(FieldIPv4Dst, Value{Lo: uint64(0xc6120000 | rng.IntN(1<<14))})
		return k
	}
	ts := newTableSet()
	ref := naiveTable{}
	type version struct {
		ts  *tableSet
		ref naiveTable
	}
	var versions []version
	id := func(r *Rule) string { return string(RuleID(r)) }
	for txn := 0; txn < 60; txn++ {
		x := beginTxn(ts)
		ops := 1 + rng.IntN(2000)
		for i := 0; i < ops; i++ {
			if len(ref) > 0 && rng.IntN(3) == 0 {
				// remove a random existing rule
				for k, r := range ref {
					if !x.remove(r) {
						t.Fatalf("remove of an existing rule failed")
					}
					delete(ref, k)
					break
				}
				continue
			}
			k := randKey()
			m := Match{Mask: masks[rng.IntN(len(masks))]}
			for w := range m.Key {
				m.Key[w] = k[w] & m.Mask[w]
			}
			r := &Rule{Table: uint8(rng.IntN(2)), Priority: uint16(rng.IntN(40)), Match: m, stats: &ruleStats{}}
			if rng.IntN(2) == 0 {
				// replace: one lookup for find, remove and insert
				if old := x.replace(r); old != ref[id(r)] {
					t.Fatalf("replace returned %v, the reference has %v", old, ref[id(r)])
				}
				ref[id(r)] = r
				continue
			}
			if old := x.ts.find(r.Table, r.Priority, &r.Match); old != nil {
				if ref[id(r)] != old {
					t.Fatal("find returned a rule the reference does not have")
				}
				x.remove(old)
			} else if ref[id(r)] != nil {
				t.Fatal("find missed a rule")
			}
			x.insert(r)
			ref[id(r)] = r
		}
		ts = x.finish()
		versions = append(versions, version{ts, ref.clone()})
		if ts.nrules != len(ref) {
			t.Fatalf("txn %d: %d rules, reference %d", txn, ts.nrules, len(ref))
		}
		// Check this and a few older versions.
		for _, v := range []version{versions[len(versions)-1], versions[rng.IntN(len(versions))]} {
			n := 0
			v.ts.each(TableAll, func(*Rule) bool { n++; return true })
			if n != len(v.ref) {
				t.Fatalf("txn %d: a version iterates %d rules, reference %d", txn, n, len(v.ref))
			}
			for q := 0; q < 300; q++ {
				k := randKey()
				table := uint8(rng.IntN(2))
				var wc Key
				got := v.ts.lookup(table, &k, &wc)
				want := v.ref.lookup(table, &k)
				if (got == nil) != (want == nil) || got != nil && got.Priority != want.Priority {
					t.Fatalf("txn %d: lookup %v, reference %v", txn, got, want)
				}
			}
		}
	}
}
