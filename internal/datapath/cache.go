package datapath

import (
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultCacheMax is the default bound of a bridge's decision cache.
const DefaultCacheMax = 65536

// cacheMaxIdle is how long (seconds) an entry no packet hit stays cached.
const cacheMaxIdle = 10

// probeLimit bounds a lookup's linear probe.
const probeLimit = 32

// The decision cache holds decisions as megaflows: the key bits a decision
// consulted, under its mask, → the decision. One entry serves every packet
// whose key agrees on those bits, whatever else differs. There is one
// subtable per distinct mask; a lookup probes each (most are few: a
// NORMAL-only bridge has one).
//
// Hits take no lock: subtables and their slot arrays are published through
// atomic pointers and entries are immutable but for their counters and their
// decision pointer. Inserting takes the cache's mutex with TryLock only, so
// a miss never waits for another port's insert; it runs its decision
// uncached instead.
//
// Invalidation is lazy and exact: an entry records the snapshots it read
// (one per bridge crossed); a hit checks that they are still the bridges'
// current ones (a pointer compare each). A configuration or flow change
// publishes a new snapshot, so the entries of that bridge revalidate on
// their next hit by deciding again: if the new decision is the same, the
// entry keeps it and its counters. FDB changes invalidate nothing: no
// decision depends on the FDB (see Decision).
type flowCache struct {
	bridge *Bridge
	mu     sync.Mutex
	subs   atomic.Pointer[[]*cacheSub]
	limit  atomic.Int64
	n      atomic.Int64
	cursor int
	// lastSub is the subtable of the last insert (mu), tried first.
	lastSub *cacheSub

	hits, misses, inserts, evictions, revalidations, replaced, uncached atomic.Uint64
}

type cacheSub struct {
	bridge *Bridge
	mask   Key
	dm     dmask
	tab    atomic.Pointer[cacheTab]
	n      int // live entries (mu)
	used   int // live + tombstones (mu)
	hits   uint64
	// dropped: removed from the cache's list (mu).
	dropped bool
}

type cacheTab struct {
	slots []atomic.Pointer[cacheEntry]
	mask  uint64
}

type cacheEntry struct {
	vals    []uint64 // the masked key at the subtable's mask words
	hash    uint64
	sub     *cacheSub
	d       atomic.Pointer[Decision]
	packets atomic.Uint64
	bytes   atomic.Uint64
	used    atomic.Uint32
	pushedP uint64 // what pushStats credited to the rules (mu)
	pushedB uint64
	gone    atomic.Bool // removed from the cache
}

var tombstone = &cacheEntry{}

// CacheStats are the decision cache's counters.
type CacheStats struct {
	Entries       int    `json:"entries"`
	Max           int    `json:"max"`
	Masks         int    `json:"masks"`
	Hits          uint64 `json:"hits"`
	Misses        uint64 `json:"misses"`
	Inserts       uint64 `json:"inserts"`
	Evictions     uint64 `json:"evictions"`
	Revalidations uint64 `json:"revalidations"`
	// Replaced counts stale entries whose new decision differed.
	Replaced uint64 `json:"replaced"`
	// Uncached counts decisions run without caching (the cache was busy).
	Uncached uint64 `json:"uncached"`
}

func newFlowCache(b *Bridge, limit int) *flowCache {
	c := &flowCache{bridge: b}
	c.limit.Store(int64(limit))
	empty := []*cacheSub{}
	c.subs.Store(&empty)
	return c
}

func (c *flowCache) setLimit(n int) { c.limit.Store(int64(n)) }

func (c *flowCache) stats() CacheStats {
	return CacheStats{Entries: int(c.n.Load()), Max: int(c.limit.Load()), Masks: len(*c.subs.Load()),
		Hits: c.hits.Load(), Misses: c.misses.Load(), Inserts: c.inserts.Load(), Evictions: c.evictions.Load(),
		Revalidations: c.revalidations.Load(), Replaced: c.replaced.Load(), Uncached: c.uncached.Load()}
}

// lookup returns the entry whose masked key k matches, or nil. Lock-free.
// hint is the subtable the caller's last hit was in (tried first), and is
// updated.
func (c *flowCache) lookup(k *Key, hint **cacheSub) *cacheEntry {
	if s := *hint; s != nil {
		if e := s.find(k); e != nil {
			return e
		}
	}
	for _, s := range *c.subs.Load() {
		if s == *hint {
			continue
		}
		if e := s.find(k); e != nil {
			*hint = s
			return e
		}
	}
	return nil
}

// find returns the entry of the subtable that k matches, or nil.
func (s *cacheSub) find(k *Key) *cacheEntry {
	h := s.dm.hash(k)
	t := s.tab.Load()
	for i, n := h&t.mask, 0; n < probeLimit; i, n = (i+1)&t.mask, n+1 {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e != tombstone && e.hash == h && s.dm.equal(k, e.vals) {
			return e
		}
	}
	return nil
}

// valid reports whether decision d still holds for snapshot s: the
// snapshots it read are still the bridges' current ones.
func (d *Decision) valid(s *snapshot) bool {
	if d.snap != s {
		return false
	}
	for _, o := range d.snaps {
		if o.b.snap.Load() != o {
			return false
		}
	}
	return true
}

// same reports whether two decisions do the same thing (all but the
// snapshots they read).
func (d *Decision) same(o *Decision) bool {
	if *d.mask != *o.mask || d.drop != o.drop || d.nOut != o.nOut || len(d.snaps) != len(o.snaps) ||
		!slices.Equal(d.rules, o.rules) || len(d.ops) != len(o.ops) {
		return false
	}
	for i := range d.ops {
		if !d.ops[i].same(&o.ops[i]) {
			return false
		}
	}
	return true
}

// insert caches decision d for key k, replacing old (the stale entry it
// revalidated, or nil). It returns the entry, or nil when the cache is busy
// (the caller runs d uncached).
//
// a, if not nil, holds d and the memory for its entry.
func (c *flowCache) insert(k *Key, d *Decision, old *cacheEntry, now uint32, a *missAlloc) *cacheEntry {
	if !c.mu.TryLock() {
		c.uncached.Add(1)
		return nil
	}
	defer c.mu.Unlock()
	if old != nil {
		c.removeLocked(old)
	}
	if c.n.Load() >= c.limit.Load() {
		c.evictLocked()
	}
	s := c.subLocked(d.mask)
	d.mask = &s.mask // entries share their subtable's mask
	var e *cacheEntry
	if a != nil && len(s.dm.words) <= len(a.vals) {
		e = &a.e
		e.vals = s.dm.valsInto(a.vals[:0], k)
	} else {
		e = new(cacheEntry)
		e.vals = s.dm.valsInto(make([]uint64, 0, len(s.dm.words)), k)
	}
	e.sub = s
	e.hash = s.dm.hash(k)
	e.d.Store(d)
	e.used.Store(now)
	t := s.tab.Load()
	if (s.used+1)*2 > len(t.slots) {
		t = s.rebuildLocked(s.n + 1)
	}
	free := -1
	for i, n := e.hash&t.mask, 0; ; i, n = (i+1)&t.mask, n+1 {
		x := t.slots[i].Load()
		if x == nil || n >= probeLimit {
			break
		}
		if x == tombstone {
			if free < 0 {
				free = int(i)
			}
			continue
		}
		if x.hash == e.hash && slices.Equal(x.vals, e.vals) { // a racing insert of the same flow
			x.d.Store(d)
			return x
		}
	}
	if free < 0 {
		for i, n := e.hash&t.mask, 0; n < probeLimit; i, n = (i+1)&t.mask, n+1 {
			if t.slots[i].Load() == nil {
				free = int(i)
				s.used++
				break
			}
		}
	}
	if free >= 0 {
		t.slots[free].Store(e)
		s.n++
		c.n.Add(1)
		c.inserts.Add(1)
		return e
	}
	// The probe neighbourhood is full: grow and try once more.
	t = s.rebuildLocked(2 * len(t.slots))
	for i := e.hash & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].Load() == nil {
			t.slots[i].Store(e)
			s.used++
			s.n++
			c.n.Add(1)
			c.inserts.Add(1)
			return e
		}
	}
}

// subLocked returns the subtable for mask, creating it.
func (c *flowCache) subLocked(mask *Key) *cacheSub {
	if s := c.lastSub; s != nil && s.mask == *mask && !s.dropped {
		return s
	}
	subs := *c.subs.Load()
	for _, s := range subs {
		if s.mask == *mask {
			c.lastSub = s
			return s
		}
	}
	s := &cacheSub{bridge: c.bridge, mask: *mask, dm: newDMask(mask)}
	s.tab.Store(newCacheTab(64))
	ns := append(slices.Clone(subs), s)
	c.subs.Store(&ns)
	c.lastSub = s
	return s
}

func newCacheTab(n int) *cacheTab {
	size := 16
	for size < n {
		size <<= 1
	}
	return &cacheTab{slots: make([]atomic.Pointer[cacheEntry], size), mask: uint64(size - 1)}
}

// rebuildLocked copies the live entries into a table for at least n of them
// at 50 % load and publishes it (readers of the old table still find what
// they look for in it).
func (s *cacheSub) rebuildLocked(n int) *cacheTab {
	old := s.tab.Load()
	t := newCacheTab(4 * max(n, s.n+1))
	used := 0
	for i := range old.slots {
		e := old.slots[i].Load()
		if e == nil || e == tombstone {
			continue
		}
		for j := e.hash & t.mask; ; j = (j + 1) & t.mask {
			if t.slots[j].Load() == nil {
				t.slots[j].Store(e)
				used++
				break
			}
		}
	}
	s.used = used
	s.tab.Store(t)
	return t
}

// removeLocked takes e out of the cache (crediting its rules first).
func (c *flowCache) removeLocked(e *cacheEntry) {
	s := e.sub
	t := s.tab.Load()
	for i, n := e.hash&t.mask, 0; n <= len(t.slots); i, n = (i+1)&t.mask, n+1 {
		x := t.slots[i].Load()
		if x == nil {
			return
		}
		if x == e {
			pushEntry(e)
			e.gone.Store(true)
			t.slots[i].Store(tombstone)
			s.n--
			c.n.Add(-1)
			if s.n == 0 {
				c.dropSubLocked(s)
			}
			return
		}
	}
}

func (c *flowCache) dropSubLocked(s *cacheSub) {
	s.dropped = true
	subs := slices.DeleteFunc(slices.Clone(*c.subs.Load()), func(o *cacheSub) bool { return o == s })
	c.subs.Store(&subs)
}

// evictLocked removes one entry: the least recently used of the next few
// live entries at a rotating cursor (sampled LRU, O(1)).
func (c *flowCache) evictLocked() {
	subs := *c.subs.Load()
	if len(subs) == 0 {
		return
	}
	var victim *cacheEntry
	for tries := 0; tries < len(subs) && victim == nil; tries++ {
		c.cursor++
		s := subs[c.cursor%len(subs)]
		t := s.tab.Load()
		start := uint64(c.cursor * 7919)
		seen := 0
		for i := uint64(0); i < uint64(len(t.slots)) && seen < 16; i++ {
			e := t.slots[(start+i)&t.mask].Load()
			if e == nil || e == tombstone {
				continue
			}
			seen++
			if victim == nil || e.used.Load() < victim.used.Load() {
				victim = e
			}
		}
	}
	if victim != nil {
		c.removeLocked(victim)
		c.evictions.Add(1)
	}
}

// pushEntry credits the packets of e since the last push to the rules and
// tables its decision went through (mu held).
func pushEntry(e *cacheEntry) {
	p, b := e.packets.Load(), e.bytes.Load()
	dp, db := p-e.pushedP, b-e.pushedB
	if dp == 0 {
		return
	}
	e.pushedP, e.pushedB = p, b
	e.d.Load().credit(dp, db, e.used.Load())
}

// credit adds n packets of b bytes, last seen at used, to the decision's
// rules and tables.
func (d *Decision) credit(n, b uint64, used uint32) {
	for _, r := range d.rules {
		r.stats.packets.Add(n)
		r.stats.bytes.Add(b)
		if used > r.stats.used.Load() {
			r.stats.used.Store(used)
		}
	}
	for _, t := range d.tables {
		t.t.lookups.Add(n)
		if t.matched {
			t.t.matched.Add(n)
		}
	}
}

// pushStats credits every entry's new packets to its rules.
func (c *flowCache) pushStats() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eachLocked(func(e *cacheEntry) { pushEntry(e) })
}

func (c *flowCache) eachLocked(fn func(*cacheEntry)) {
	for _, s := range *c.subs.Load() {
		t := s.tab.Load()
		for i := range t.slots {
			if e := t.slots[i].Load(); e != nil && e != tombstone {
				fn(e)
			}
		}
	}
}

// sweep credits rules, removes entries idle for cacheMaxIdle seconds, and
// orders the subtables by hits so lookups probe the busiest first.
func (c *flowCache) sweep(now uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var idle []*cacheEntry
	for _, s := range *c.subs.Load() {
		t := s.tab.Load()
		var hits uint64
		for i := range t.slots {
			e := t.slots[i].Load()
			if e == nil || e == tombstone {
				continue
			}
			hits += e.packets.Load() - e.pushedP
			pushEntry(e)
			if age(now, e.used.Load()) > cacheMaxIdle {
				idle = append(idle, e)
			}
		}
		s.hits = s.hits/2 + hits
	}
	for _, e := range idle {
		c.removeLocked(e)
	}
	subs := slices.Clone(*c.subs.Load())
	slices.SortStableFunc(subs, func(a, b *cacheSub) int {
		switch {
		case a.hits > b.hits:
			return -1
		case a.hits < b.hits:
			return 1
		}
		return 0
	})
	c.subs.Store(&subs)
}

// flush removes every entry (after crediting them).
func (c *flowCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eachLocked(func(e *cacheEntry) { pushEntry(e) })
	empty := []*cacheSub{}
	c.subs.Store(&empty)
	c.lastSub = nil
	c.n.Store(0)
}

// CacheEntry is one cached decision, as dpctl dump-flows shows it.
type CacheEntry struct {
	Key      Key
	Mask     Key
	Decision *Decision
	Packets  uint64
	Bytes    uint64
	// Used is the bridge clock of the last hit.
	Used uint32
}

// CacheEntries returns the decision cache's entries.
func (b *Bridge) CacheEntries() []CacheEntry {
	c := b.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	var l []CacheEntry
	c.eachLocked(func(e *cacheEntry) {
		var k Key
		for i, w := range e.sub.dm.words {
			k[w] = e.vals[i]
		}
		l = append(l, CacheEntry{Key: k, Mask: e.sub.mask, Decision: e.d.Load(), Packets: e.packets.Load(), Bytes: e.bytes.Load(), Used: e.used.Load()})
	})
	return l
}

// FlushCache empties the decision cache.
func (b *Bridge) FlushCache() { b.cache.flush() }
