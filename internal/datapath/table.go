package datapath

import (
	"slices"
	"sort"
	"sync/atomic"
)

// The flow tables are an immutable value that a snapshot points to: a
// decision reads them with no lock. A change is a transaction that copies
// only the path it touches (the table, the subtable's shard index and the
// shards it writes), and every change becomes visible at once when the
// snapshot that holds it is published.
//
// A subtable's shards are small (about shardTarget rules: a subtable
// doubles its shards as it grows), so a transaction copies a few dozen
// entries per shard it writes: one flow-mod into 100,000 rules copies the
// shard index and one small shard, and a transaction of 1,000 flow-mods
// copies about 16 entries per flow-mod, whatever the table's size.

// Shards of a subtable: how many a new one has, how many rules a shard
// holds on average before the subtable doubles them, and at most how many.
const (
	minShards   = 8
	shardTarget = 16
	maxShards   = 1 << 16
)

// shard is one copy-on-write unit of a subtable: its rules with their
// masked hashes, the rules of one hash next to each other, highest
// priority first. owner is the transaction that may still change it in
// place.
type shard struct {
	ents  []shardEnt
	owner uint64
}

type shardEnt struct {
	h uint64
	r *Rule
}

// run returns where the entries of hash h are: ents[i:j] (i == j: none).
func (sh *shard) run(h uint64) (i, j int) {
	for i = range sh.ents {
		if sh.ents[i].h == h {
			for j = i + 1; j < len(sh.ents) && sh.ents[j].h == h; j++ {
			}
			return i, j
		}
	}
	return 0, 0
}

type tableSet struct {
	t      [NumTables]*table
	nrules int
	// fields is the union of the masks of every rule: what the key must
	// hold (it sets the parse depth).
	fields Key
	owner  uint64
}

type table struct {
	subs   []*subtable // by maxPri, highest first
	byMask map[Key]*subtable
	n      int
	owner  uint64
	// counters (OpenFlow table stats), pushed from the decision cache
	lookups, matched *atomic.Uint64
}

type subtable struct {
	mask   Key
	words  []uint8
	shards []*shard // by masked hash & (len-1); a power of two; nil: empty
	prios  map[uint16]int
	maxPri uint16
	n      int
	owner  uint64
}

// rulesAt returns the entries of the rules with masked hash h.
func (s *subtable) rulesAt(h uint64) []shardEnt {
	sh := s.shards[h&uint64(len(s.shards)-1)]
	if sh == nil {
		return nil
	}
	i, j := sh.run(h)
	return sh.ents[i:j]
}

var txnEpoch atomic.Uint64

func newTableSet() *tableSet { return &tableSet{} }

// lookup finds the highest-priority rule of table id that matches k,
// adding to wc every mask bit it consulted (the subtables it probed).
func (ts *tableSet) lookup(id uint8, k, wc *Key) *Rule {
	t := ts.t[id]
	if t == nil {
		return nil
	}
	var best *Rule
	for _, s := range t.subs {
		if best != nil && s.maxPri <= best.Priority {
			break
		}
		wc.Or(&s.mask)
		h := hashMasked(k, &s.mask, s.words)
		for _, e := range s.rulesAt(h) {
			if r := e.r; equalWords(k, &r.Match.Key, &s.mask, s.words) {
				if best == nil || r.Priority > best.Priority {
					best = r
				}
				break
			}
		}
	}
	return best
}

// each calls fn for every rule of table id (or every table with TableAll)
// until fn returns false.
func (ts *tableSet) each(id uint8, fn func(*Rule) bool) {
	for tid := range ts.t {
		if id != TableAll && int(id) != tid {
			continue
		}
		t := ts.t[tid]
		if t == nil {
			continue
		}
		for _, s := range t.subs {
			for _, sh := range s.shards {
				if sh == nil {
					continue
				}
				for _, e := range sh.ents {
					if !fn(e.r) {
						return
					}
				}
			}
		}
	}
}

// rules returns every rule, sorted by table, priority (highest first),
// then match.
func (ts *tableSet) rules(id uint8) []*Rule {
	var l []*Rule
	ts.each(id, func(r *Rule) bool { l = append(l, r); return true })
	sortRules(l)
	return l
}

func sortRules(l []*Rule) {
	sort.Slice(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		for w := range a.Match.Mask {
			if a.Match.Mask[w] != b.Match.Mask[w] {
				return a.Match.Mask[w] > b.Match.Mask[w]
			}
			if a.Match.Key[w] != b.Match.Key[w] {
				return a.Match.Key[w] < b.Match.Key[w]
			}
		}
		return false
	})
}

// find returns the rule with r's identity (table, priority, match), or nil.
func (ts *tableSet) find(table uint8, prio uint16, m *Match) *Rule {
	t := ts.t[table]
	if t == nil {
		return nil
	}
	s := t.byMask[m.Mask]
	if s == nil {
		return nil
	}
	h := hashMasked(&m.Key, &s.mask, s.words)
	for _, e := range s.rulesAt(h) {
		if e.r.Priority == prio && e.r.Match.Key == m.Key {
			return e.r
		}
	}
	return nil
}

// flowTxn is a copy-on-write change of a tableSet.
type flowTxn struct {
	base *tableSet
	ts   *tableSet
	e    uint64
	// lastT, lastS are the table and subtable of the last change (a
	// stream of flow-mods mostly hits one subtable: no map lookup of its
	// mask).
	lastT *table
	lastS *subtable
}

func beginTxn(base *tableSet) *flowTxn {
	e := txnEpoch.Add(1)
	ts := *base
	ts.owner = e
	return &flowTxn{base: base, ts: &ts, e: e}
}

func (x *flowTxn) table(id uint8) *table {
	t := x.ts.t[id]
	switch {
	case t == nil:
		t = &table{byMask: map[Key]*subtable{}, owner: x.e, lookups: new(atomic.Uint64), matched: new(atomic.Uint64)}
	case t.owner != x.e:
		nt := *t
		nt.subs = slices.Clone(t.subs)
		nt.byMask = make(map[Key]*subtable, len(t.byMask))
		for k, v := range t.byMask {
			nt.byMask[k] = v
		}
		nt.owner = x.e
		t = &nt
	default:
		return t
	}
	x.ts.t[id] = t
	return t
}

func (x *flowTxn) subtable(t *table, mask *Key) *subtable {
	if s := x.lastS; s != nil && x.lastT == t && s.owner == x.e && s.mask == *mask {
		return s
	}
	s := x.subtableLookup(t, mask)
	x.lastT, x.lastS = t, s
	return s
}

func (x *flowTxn) subtableLookup(t *table, mask *Key) *subtable {
	s := t.byMask[*mask]
	switch {
	case s == nil:
		s = &subtable{mask: *mask, words: mask.maskWords(), shards: make([]*shard, minShards), prios: map[uint16]int{}, owner: x.e}
		t.subs = append(t.subs, s)
	case s.owner != x.e:
		ns := *s
		ns.shards = slices.Clone(s.shards) // the shards themselves are copied when written
		ns.prios = make(map[uint16]int, len(s.prios))
		for k, v := range s.prios {
			ns.prios[k] = v
		}
		ns.owner = x.e
		for i, o := range t.subs {
			if o == s {
				t.subs[i] = &ns
			}
		}
		s = &ns
	default:
		return s
	}
	t.byMask[*mask] = s
	return s
}

// shard returns the shard for hash h of a subtable this transaction owns,
// copied if the transaction does not own the shard yet.
func (x *flowTxn) shard(s *subtable, h uint64) *shard {
	i := h & uint64(len(s.shards)-1)
	sh := s.shards[i]
	switch {
	case sh == nil:
		sh = &shard{owner: x.e}
	case sh.owner != x.e:
		sh = &shard{ents: slices.Clone(sh.ents), owner: x.e}
	default:
		return sh
	}
	s.shards[i] = sh
	return sh
}

// grow doubles a subtable's shards (owned by this transaction) when they
// hold more than shardTarget rules on average.
func (x *flowTxn) grow(s *subtable) {
	if s.n <= shardTarget*len(s.shards) || len(s.shards) >= maxShards {
		return
	}
	n := make([]*shard, 2*len(s.shards))
	m := uint64(len(n) - 1)
	for _, sh := range s.shards {
		if sh == nil {
			continue
		}
		for _, e := range sh.ents { // in order: runs stay together, by priority
			d := n[e.h&m]
			if d == nil {
				d = &shard{owner: x.e}
				n[e.h&m] = d
			}
			d.ents = append(d.ents, e)
		}
	}
	s.shards = n
}

// replace puts r in the set in the place of the rule with its identity,
// which it returns, or adds it when there is none (nil): one lookup
// instead of a find, a remove and an insert.
func (x *flowTxn) replace(r *Rule) *Rule {
	t := x.table(r.Table)
	s := x.subtable(t, &r.Match.Mask)
	h := hashMasked(&r.Match.Key, &s.mask, s.words)
	sh := x.shard(s, h)
	i, j := sh.run(h)
	for k := i; k < j; k++ {
		if o := sh.ents[k].r; o.Priority == r.Priority && o.Match.Key == r.Match.Key {
			sh.ents[k].r = r
			return o
		}
	}
	x.insertAt(t, s, sh, h, i, j, r)
	return nil
}

// insert adds r (which must not exist) to the set.
func (x *flowTxn) insert(r *Rule) {
	t := x.table(r.Table)
	s := x.subtable(t, &r.Match.Mask)
	h := hashMasked(&r.Match.Key, &s.mask, s.words)
	sh := x.shard(s, h)
	i, j := sh.run(h)
	x.insertAt(t, s, sh, h, i, j, r)
}

// insertAt adds r with hash h to shard sh (owned) of subtable s of table
// t, whose run of hash h is ents[i:j].
func (x *flowTxn) insertAt(t *table, s *subtable, sh *shard, h uint64, i, j int, r *Rule) {
	if i < j {
		k := i
		for k < j && sh.ents[k].r.Priority >= r.Priority {
			k++
		}
		sh.ents = slices.Insert(sh.ents, k, shardEnt{h, r})
	} else {
		sh.ents = append(sh.ents, shardEnt{h, r})
	}
	s.prios[r.Priority]++
	s.n++
	if r.Priority > s.maxPri || s.n == 1 {
		s.maxPri = r.Priority
	}
	t.n++
	x.ts.nrules++
	x.grow(s)
	x.resort(t)
}

// remove deletes the rule with r's identity; it reports whether it was
// there.
func (x *flowTxn) remove(r *Rule) bool {
	if x.ts.t[r.Table] == nil {
		return false
	}
	t := x.table(r.Table)
	if t.byMask[r.Match.Mask] == nil {
		return false
	}
	s := x.subtable(t, &r.Match.Mask)
	h := hashMasked(&r.Match.Key, &s.mask, s.words)
	run := s.rulesAt(h)
	k := slices.IndexFunc(run, func(e shardEnt) bool { return e.r.Priority == r.Priority && e.r.Match.Key == r.Match.Key })
	if k < 0 {
		return false
	}
	sh := x.shard(s, h)
	i, _ := sh.run(h)
	sh.ents = slices.Delete(sh.ents, i+k, i+k+1)
	if s.prios[r.Priority]--; s.prios[r.Priority] == 0 {
		delete(s.prios, r.Priority)
	}
	s.n--
	t.n--
	x.ts.nrules--
	if s.n == 0 {
		x.lastS = nil
		delete(t.byMask, s.mask)
		t.subs = slices.DeleteFunc(t.subs, func(o *subtable) bool { return o == s })
	} else if r.Priority == s.maxPri && s.prios[r.Priority] == 0 {
		s.maxPri = 0
		for p := range s.prios {
			s.maxPri = max(s.maxPri, p)
		}
	}
	x.resort(t)
	return true
}

// resort keeps a table's subtables by maximum priority, highest first
// (an insertion sort: stable, and nothing to do in the usual case).
func (x *flowTxn) resort(t *table) {
	l := t.subs
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].maxPri > l[j-1].maxPri; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// finish computes the derived fields and returns the new set.
func (x *flowTxn) finish() *tableSet {
	var f Key
	for _, t := range x.ts.t {
		if t == nil {
			continue
		}
		for m := range t.byMask {
			f.Or(&m)
		}
	}
	x.ts.fields = f
	return x.ts
}
