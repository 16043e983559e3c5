package datapath

import (
	"slices"
	"sort"
	"sync/atomic"
)

// The flow tables are an immutable value that a snapshot points to: a
// decision reads them with no lock. A change is a transaction that copies
// only the path it touches (the table, the subtable and one of its shards),
// so adding one rule to 100,000 costs a few hundred map entries, not
// 100,000, and every change becomes visible at once when the snapshot that
// holds it is published.

// shards is the number of hash shards of a subtable (copy-on-write unit).
const shards = 256

type tableSet struct {
	t      [NumTables]*table
	nrules int
	// fields is the union of the masks of every rule: what the key must
	// hold (it sets the parse depth).
	fields Key
	owner  uint64
}

type table struct {
	subs []*subtable // by maxPri, highest first
	// prefix[i] is the union of the masks of subs[0..i]: what a lookup
	// that stopped after probing subs[i] consulted.
	prefix []dmask
	stale  bool // subs changed since prefix was computed (flowTxn.seal)
	byMask map[Key]*subtable
	n      int
	owner  uint64
	// counters (OpenFlow table stats), pushed from the decision cache
	lookups, matched *atomic.Uint64
}

type subtable struct {
	mask   Key
	dm     dmask
	shards [shards]*ruleShard // masked hash → rules, highest priority first
	prios  map[uint16]int
	maxPri uint16
	n      int
	owner  uint64
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
	last := -1
	for i, s := range t.subs {
		if best != nil && s.maxPri <= best.Priority {
			break
		}
		last = i
		h := s.dm.hash(k)
		for _, r := range s.shards[h%shards].get(h) {
			if s.dm.equal(k, r.vals) {
				if best == nil || r.Priority > best.Priority {
					best = r
				}
				break
			}
		}
	}
	if last >= 0 {
		t.prefix[last].orInto(wc)
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
				for _, sl := range sh.slots {
					for _, r := range sl.rules {
						if !fn(r) {
							return
						}
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
	h := s.dm.hash(&m.Key)
	for _, r := range s.shards[h%shards].get(h) {
		if r.Priority == prio && r.Match.Key == m.Key {
			return r
		}
	}
	return nil
}

// flowTxn is a copy-on-write change of a tableSet.
type flowTxn struct {
	base  *tableSet
	ts    *tableSet
	e     uint64
	owned map[**ruleShard]bool // shards this transaction copied
}

func beginTxn(base *tableSet) *flowTxn {
	e := txnEpoch.Add(1)
	ts := *base
	ts.owner = e
	return &flowTxn{base: base, ts: &ts, e: e, owned: map[**ruleShard]bool{}}
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
	s := t.byMask[*mask]
	switch {
	case s == nil:
		s = &subtable{mask: *mask, dm: newDMask(mask), prios: map[uint16]int{}, owner: x.e}
		t.subs = append(t.subs, s)
	case s.owner != x.e:
		ns := *s // copies the shard pointers; shards are copied when written
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

// shard returns the shard for hash h, copied if this transaction does not
// own it yet. Ownership of shards is tracked per subtable version.
func (x *flowTxn) shard(s *subtable, h uint64) *ruleShard {
	i := h % shards
	sh := s.shards[i]
	key := &s.shards[i]
	if sh != nil && x.owned[key] {
		return sh
	}
	n := sh.clone()
	s.shards[i] = n
	x.owned[key] = true
	return n
}

// ruleShard is one copy-on-write shard of a subtable: an open-addressing
// table (linear probing, at most half full) from a masked hash to the
// rules with that hash, highest priority first. The low bits of the hash
// chose the shard; the probe starts from the bits above them.
type ruleShard struct {
	slots []shardSlot // a power of two long
	n     int         // slots in use
}

type shardSlot struct {
	h     uint64
	rules []*Rule // nil: free
}

// get returns the rules whose masked key hashes to h (nil if none). sh
// may be nil (an empty shard).
func (sh *ruleShard) get(h uint64) []*Rule {
	if sh == nil {
		return nil
	}
	m := uint64(len(sh.slots) - 1)
	for i := h >> 8 & m; ; i = (i + 1) & m {
		s := &sh.slots[i]
		if s.rules == nil {
			return nil
		}
		if s.h == h {
			return s.rules
		}
	}
}

// clone returns a copy of sh (an empty shard for nil).
func (sh *ruleShard) clone() *ruleShard {
	if sh == nil {
		return &ruleShard{slots: make([]shardSlot, 4)}
	}
	return &ruleShard{slots: slices.Clone(sh.slots), n: sh.n}
}

// set makes l the rules of hash h (an empty l removes the hash).
func (sh *ruleShard) set(h uint64, l []*Rule) {
	if len(l) == 0 {
		if sh.get(h) == nil {
			return
		}
		// Rebuild without h: the shard is this transaction's copy, so
		// no reader sees the intermediate state.
		old := sh.slots
		sh.slots, sh.n = make([]shardSlot, len(old)), 0
		for _, o := range old {
			if o.rules != nil && o.h != h {
				sh.put(o.h, o.rules)
			}
		}
		return
	}
	if (sh.n+1)*2 > len(sh.slots) {
		old := sh.slots
		sh.slots, sh.n = make([]shardSlot, 2*len(old)), 0
		for _, o := range old {
			if o.rules != nil {
				sh.put(o.h, o.rules)
			}
		}
	}
	sh.put(h, l)
}

func (sh *ruleShard) put(h uint64, l []*Rule) {
	m := uint64(len(sh.slots) - 1)
	for i := h >> 8 & m; ; i = (i + 1) & m {
		s := &sh.slots[i]
		if s.rules == nil {
			s.h, s.rules = h, l
			sh.n++
			return
		}
		if s.h == h {
			s.rules = l
			return
		}
	}
}

// replace puts r in the set in place of the rule with its identity (table,
// priority, match), which it returns, or adds it (nil) — one lookup.
func (x *flowTxn) replace(r *Rule) *Rule {
	t := x.table(r.Table)
	s := x.subtable(t, &r.Match.Mask)
	h := s.dm.hash(&r.Match.Key)
	if l := s.shards[h%shards].get(h); len(l) > 0 {
		for i, o := range l {
			if o.Priority == r.Priority && o.Match.Key == r.Match.Key {
				r.vals = o.vals
				nl := slices.Clone(l)
				nl[i] = r
				x.shard(s, h).set(h, nl)
				return o
			}
		}
	}
	x.insert(r)
	return nil
}

// insert adds r (which must not exist) to the set.
func (x *flowTxn) insert(r *Rule) {
	t := x.table(r.Table)
	s := x.subtable(t, &r.Match.Mask)
	r.vals = s.dm.vals(&r.Match.Key)
	h := s.dm.hash(&r.Match.Key)
	sh := x.shard(s, h)
	l := slices.Clone(sh.get(h))
	i := sort.Search(len(l), func(i int) bool { return l[i].Priority < r.Priority })
	l = slices.Insert(l, i, r)
	sh.set(h, l)
	s.prios[r.Priority]++
	s.n++
	if r.Priority > s.maxPri || s.n == 1 {
		s.maxPri = r.Priority
	}
	t.n++
	x.ts.nrules++
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
	h := s.dm.hash(&r.Match.Key)
	sh := x.shard(s, h)
	l := sh.get(h)
	i := slices.IndexFunc(l, func(o *Rule) bool { return o.Priority == r.Priority && o.Match.Key == r.Match.Key })
	if i < 0 {
		return false
	}
	sh.set(h, slices.Delete(slices.Clone(l), i, i+1))
	if s.prios[r.Priority]--; s.prios[r.Priority] == 0 {
		delete(s.prios, r.Priority)
	}
	s.n--
	t.n--
	x.ts.nrules--
	if s.n == 0 {
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

func (x *flowTxn) resort(t *table) {
	t.stale = true
	sort.SliceStable(t.subs, func(i, j int) bool { return t.subs[i].maxPri > t.subs[j].maxPri })
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
	x.seal()
	return x.ts
}

// seal recomputes the prefix masks of the tables whose subtables this
// transaction changed; it runs before the set is published.
func (x *flowTxn) seal() {
	for _, t := range x.ts.t {
		if t == nil || t.owner != x.e || !t.stale {
			continue
		}
		t.prefix = make([]dmask, 0, len(t.subs))
		var u Key
		for _, s := range t.subs {
			u.Or(&s.mask)
			t.prefix = append(t.prefix, newDMask(&u))
		}
		t.stale = false
	}
}
