package datapath

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// FullPolicy says what the FDB does with a new learned address when it
// already holds its maximum number of learned entries.
type FullPolicy uint8

const (
	// FullRefuse keeps the existing entries and does not learn the new
	// address (the Linux bridge's fdb_max_learned behaviour). Frames to the
	// unlearned address are flooded, as the 802.1D rules require for an
	// unknown destination; every refusal is counted.
	FullRefuse FullPolicy = iota
	// FullEvictOldest evicts a learned entry and learns the new one (Open
	// vSwitch's behaviour): the port with the most learned entries loses its
	// least recently seen one, so a MAC flood on one port pushes out only
	// that port's addresses. Evictions are counted. Static entries are never
	// evicted.
	FullEvictOldest
)

func (p FullPolicy) String() string {
	if p == FullEvictOldest {
		return "evict-oldest"
	}
	return "refuse"
}

// FullPolicies lists the policies' names, for errors.
const FullPolicies = "refuse, evict-oldest"

// ParseFullPolicy parses "refuse" or "evict-oldest".
func ParseFullPolicy(s string) (FullPolicy, error) {
	switch s {
	case "refuse", "":
		return FullRefuse, nil
	case "evict-oldest", "evict":
		return FullEvictOldest, nil
	}
	return 0, errs.Invalidf("fdb-full-policy", FullPolicies, "%q", s)
}

// An FDB key packs (VLAN, MAC) into 60 bits: VLAN in bits 48–59, the MAC in
// bits 0–47. Key 0 (VLAN 0, MAC 00:00:00:00:00:00) is never a valid entry
// (an all-zero source is never learned and cannot be added), so it marks an
// empty slot. Deleted slots hold tombstoneKey and are not reused until the
// table is rebuilt: a slot's key only ever goes empty → key → tombstone, so a
// lock-free reader that sees its key before and after reading the value has
// a value that belongs to that key.
const tombstoneKey = 1 << 62

func fdbKey(vlan uint16, mac [6]byte) uint64 {
	return uint64(vlan&0xfff)<<48 | uint64(mac[0])<<40 | uint64(mac[1])<<32 |
		uint64(mac[2])<<24 | uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
}

// fdbKeyWord makes a key from a MAC already packed in the low 48 bits.
func fdbKeyWord(vlan uint16, mac uint64) uint64 { return uint64(vlan&0xfff)<<48 | mac }

func keyMAC(k uint64) (mac [6]byte) {
	for i := 0; i < 6; i++ {
		mac[i] = byte(k >> (40 - 8*i))
	}
	return mac
}

// An FDB value packs the port number (bits 0–15), flags (16–23), the remote
// endpoint (24–39) and the time the source was last seen, in seconds of the
// bridge clock modulo 2^24 (40–63).
const (
	valStatic = 1 << 16
	seenShift = 40
	seenMask  = 1<<24 - 1
	destMask  = 0xffff | 0xffff<<24 // port and endpoint
)

func fdbVal(port uint16, static bool, ep Endpoint, seen uint32) uint64 {
	v := uint64(port) | uint64(ep&0xffff)<<24 | uint64(seen&seenMask)<<seenShift
	if static {
		v |= valStatic
	}
	return v
}

func valPort(v uint64) uint16       { return uint16(v) }
func valEndpoint(v uint64) Endpoint { return Endpoint(v >> 24 & 0xffff) }
func valSeen(v uint64) uint32       { return uint32(v >> seenShift) }
func valIsStatic(v uint64) bool     { return v&valStatic != 0 }

// sameDest reports whether two values name the same port and endpoint.
func sameDest(a, b uint64) bool { return (a^b)&destMask == 0 }

// age is how many seconds before now a clock value was (modulo 2^24).
func age(now, t uint32) uint32 { return (now - t) & seenMask }

type fdbSlot struct {
	key atomic.Uint64
	val atomic.Uint64
}

// slotMeta is the writer-only bookkeeping of a live learned slot: its place
// in its port's CLOCK list (for fair eviction) and in the aging wheel.
type slotMeta struct {
	prev, next int32  // port list, -1 at the ends
	wnext      int32  // aging wheel bucket list (singly linked, lazily pruned)
	listed     uint32 // clock when the slot was last put at its list's tail
	due        uint32 // clock at which aging looks at it next
	port       uint16
	inWheel    bool
}

type fdbTable struct {
	slots []fdbSlot
	meta  []slotMeta
	mask  uint64
	shift uint8
	used  int // live + tombstones (slots no longer empty); writers only
}

func newFDBTable(minEntries int) *fdbTable {
	n := 16
	for n < 2*minEntries { // at most 50 % load
		n <<= 1
	}
	return &fdbTable{slots: make([]fdbSlot, n), meta: make([]slotMeta, n), mask: uint64(n - 1), shift: uint8(64 - bits.TrailingZeros(uint(n)))}
}

func (t *fdbTable) home(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> t.shift }

// touch loads key's home slot and returns its key. Touching the slots of a
// whole batch before looking any of them up lets their cache misses overlap.
func (t *fdbTable) touch(key uint64) uint64 { return t.slots[t.home(key)].key.Load() }

// find returns the index of the slot holding key, or -1.
func (t *fdbTable) find(key uint64) int {
	for i := t.home(key); ; i = (i + 1) & t.mask {
		k := t.slots[i].key.Load()
		if k == key {
			return int(i)
		}
		if k == 0 {
			return -1
		}
	}
}

// live calls fn for every live slot (index, key, value).
func (t *fdbTable) live(fn func(i int, k, v uint64)) {
	for i := range t.slots {
		s := &t.slots[i]
		k := s.key.Load()
		if k == 0 || k == tombstoneKey {
			continue
		}
		fn(i, k, s.val.Load())
	}
}

// FDBEntry is one forwarding database entry, as reported by Entries.
type FDBEntry struct {
	VLAN   uint16
	MAC    [6]byte
	Port   uint16
	Static bool
	// Remote is the remote VTEP behind a tunnel port, or NoEndpoint.
	Remote Endpoint
	// Age is how many seconds ago the address was last seen.
	Age uint32
}

// FDBStats are the counters of a forwarding database.
type FDBStats struct {
	Entries int    `json:"entries"` // live entries, learned and static
	Static  int    `json:"static"`  // static entries
	Max     int    `json:"max"`     // learned-entry limit
	Learned uint64 `json:"learned"` // new addresses learned
	Moved   uint64 `json:"moved"`   // addresses that moved to another port or remote
	Aged    uint64 `json:"aged"`    // learned entries removed by aging
	Evicted uint64 `json:"evicted"` // learned entries evicted to make room (evict-oldest)
	Refused uint64 `json:"refused"` // new addresses not learned because the table was full (refuse)
	Flushed uint64 `json:"flushed"` // entries removed by a flush, a delete or a port removal
}

// FDBEvents receives what the FDB does that operators want to hear about.
// Calls are made with the FDB's writer lock held: they must be quick and
// never block (a bounded, lossy queue is the right receiver).
type FDBEvents interface {
	// Moved is called when a learned address moves to another port or
	// remote VTEP.
	Moved(vlan uint16, mac [6]byte, oldPort, newPort uint16, oldRemote, newRemote Endpoint)
	// Full is called when a new address meets a full table: evicted says
	// whether an entry was evicted for it (else it was refused).
	Full(vlan uint16, mac [6]byte, port uint16, evicted bool)
}

// agingWheel is the number of one-second buckets of the aging wheel. An
// entry waits in bucket due%agingWheel; aging looks at one bucket a second.
const agingWheel = 4096

// FDB is a bridge's forwarding database: (VLAN, MAC) → port (and remote
// VTEP). Lookups take no lock; learning, aging and edits serialise on a
// mutex that the forwarding path only ever tries (TryLock), so a frame is
// never delayed by a writer: at worst its source is learned from a later
// frame.
//
// Housekeeping is O(1) per operation: every learned entry sits in its
// port's CLOCK list (insertion order, a second chance for entries seen
// since) for fair eviction, and in one bucket of a timer wheel for aging, so
// neither eviction nor aging scans the table.
type FDB struct {
	table atomic.Pointer[fdbTable]
	// gen counts changes of what a lookup can return (inserts, moves,
	// deletions); cached decisions that consulted the FDB revalidate when
	// it moves.
	gen atomic.Uint64

	mu      sync.Mutex
	learned int // live learned entries
	static  int // live static entries
	max     int
	policy  FullPolicy
	aging   uint32
	lists   map[uint16]*portList
	wheel   [agingWheel]int32
	swept   uint32 // the last clock value aging processed
	events  FDBEvents

	nLearned, nMoved, nAged, nEvicted, nRefused, nFlushed atomic.Uint64
}

// portList is one port's CLOCK list of learned slots.
type portList struct {
	head, tail int32
	n          int
}

func newFDB(max int, policy FullPolicy) *FDB {
	f := &FDB{max: max, policy: policy, aging: uint32(DefaultAgingTime.Seconds()), lists: map[uint16]*portList{}}
	for i := range f.wheel {
		f.wheel[i] = -1
	}
	f.table.Store(newFDBTable(min(max, 1<<20)))
	return f
}

// lookup returns the value for key and whether it exists. Lock-free.
func (f *FDB) lookup(key uint64) (uint64, bool) {
	t := f.table.Load()
	for i := t.home(key); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		k := s.key.Load()
		if k == key {
			v := s.val.Load()
			if s.key.Load() != key { // deleted meanwhile
				return 0, false
			}
			return v, true
		}
		if k == 0 {
			return 0, false
		}
	}
}

// learn records that key was seen on port/ep at time now. It is called on
// the forwarding path: the common case (known, unmoved) is lock-free.
func (f *FDB) learn(key uint64, port uint16, ep Endpoint, now uint32) {
	t := f.table.Load()
	if i := t.find(key); i >= 0 {
		s := &t.slots[i]
		v := s.val.Load()
		if v&(destMask|valStatic) == uint64(port)|uint64(ep&0xffff)<<24 { // learned here
			if valSeen(v) != now&seenMask {
				s.val.CompareAndSwap(v, fdbVal(port, false, ep, now)) // refresh; losing a race is fine
			}
			return
		}
		if valIsStatic(v) {
			return
		}
	}
	want := fdbVal(port, false, ep, now)
	if !f.mu.TryLock() {
		return // a writer is busy: learn from a later frame
	}
	f.learnLocked(key, want, now)
	f.mu.Unlock()
}

func (f *FDB) learnLocked(key, want uint64, now uint32) {
	t := f.table.Load()
	if i := t.find(key); i >= 0 {
		s := &t.slots[i]
		v := s.val.Load()
		if valIsStatic(v) || sameDest(v, want) {
			return
		}
		f.nMoved.Add(1)
		s.val.Store(want)
		f.gen.Add(1)
		f.relist(t, int32(i), valPort(want), now)
		if f.events != nil {
			f.events.Moved(uint16(key>>48), keyMAC(key), valPort(v), valPort(want), valEndpoint(v), valEndpoint(want))
		}
		return
	}
	if f.learned >= f.max {
		evicted := f.policy == FullEvictOldest && f.evictLocked(now)
		if f.events != nil {
			f.events.Full(uint16(key>>48), keyMAC(key), valPort(want), evicted)
		}
		if !evicted {
			f.nRefused.Add(1)
			return
		}
	}
	i := f.insertLocked(key, want)
	t = f.table.Load()
	f.learned++
	f.nLearned.Add(1)
	f.enlist(t, i, valPort(want), now)
	f.gen.Add(1)
}

// insertLocked puts a new key in the table, rebuilding it first when the
// non-empty slots would pass 3/4 of it, and returns its slot.
func (f *FDB) insertLocked(key, val uint64) int32 {
	t := f.table.Load()
	if (t.used+1)*4 > len(t.slots)*3 {
		t = f.rebuildLocked()
	}
	for i := t.home(key); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key.Load() == 0 {
			s.val.Store(val)
			s.key.Store(key)
			t.used++
			return int32(i)
		}
	}
}

// rebuildLocked copies the live entries into a fresh table sized for at
// least twice the live count and publishes it. The port lists keep their
// order; the aging wheel is refiled.
func (f *FDB) rebuildLocked() *fdbTable {
	old := f.table.Load()
	live := f.learned + f.static
	nt := newFDBTable(max(2*live+1, min(f.max, 1<<20)))
	moved := make([]int32, len(old.slots)) // old slot → new slot
	old.live(func(i int, k, v uint64) {
		for j := nt.home(k); ; j = (j + 1) & nt.mask {
			d := &nt.slots[j]
			if d.key.Load() == 0 {
				d.val.Store(v)
				d.key.Store(k)
				nt.used++
				moved[i] = int32(j)
				break
			}
		}
	})
	// Rebuild the port lists in their order, with their times.
	for port, l := range f.lists {
		nl := &portList{head: -1, tail: -1}
		for i := l.head; i >= 0; i = old.meta[i].next {
			m := old.meta[i]
			j := moved[i]
			nt.meta[j] = slotMeta{prev: nl.tail, next: -1, wnext: -1, listed: m.listed, due: m.due, port: port}
			if nl.tail >= 0 {
				nt.meta[nl.tail].next = j
			} else {
				nl.head = j
			}
			nl.tail = j
			nl.n++
		}
		f.lists[port] = nl
	}
	for b := range f.wheel {
		f.wheel[b] = -1
	}
	for _, l := range f.lists {
		for i := l.head; i >= 0; i = nt.meta[i].next {
			f.wheelAdd(nt, i)
		}
	}
	f.table.Store(nt)
	return nt
}

// enlist puts learned slot i at the tail of its port's list and in the
// aging wheel.
func (f *FDB) enlist(t *fdbTable, i int32, port uint16, now uint32) {
	l := f.lists[port]
	if l == nil {
		l = &portList{head: -1, tail: -1}
		f.lists[port] = l
	}
	m := &t.meta[i]
	*m = slotMeta{prev: l.tail, next: -1, wnext: -1, listed: now, due: now + f.aging + 1, port: port}
	if l.tail >= 0 {
		t.meta[l.tail].next = i
	} else {
		l.head = i
	}
	l.tail = i
	l.n++
	f.wheelAdd(t, i)
}

// delist takes learned slot i out of its port's list (the wheel forgets it
// lazily: aging skips slots that are no longer what it filed).
func (f *FDB) delist(t *fdbTable, i int32) {
	m := &t.meta[i]
	l := f.lists[m.port]
	if l == nil {
		return
	}
	if m.prev >= 0 {
		t.meta[m.prev].next = m.next
	} else {
		l.head = m.next
	}
	if m.next >= 0 {
		t.meta[m.next].prev = m.prev
	} else {
		l.tail = m.prev
	}
	l.n-- // an empty list stays in the map: ports come back, and a new list allocates
	m.prev, m.next = -1, -1
	m.due = 0
}

// relist moves learned slot i to port's list (a move, or a second chance).
func (f *FDB) relist(t *fdbTable, i int32, port uint16, now uint32) {
	due, inWheel := t.meta[i].due, t.meta[i].inWheel
	f.delist(t, i)
	l := f.lists[port]
	if l == nil {
		l = &portList{head: -1, tail: -1}
		f.lists[port] = l
	}
	m := &t.meta[i]
	m.prev, m.next, m.listed, m.port, m.due = l.tail, -1, now, port, due
	if l.tail >= 0 {
		t.meta[l.tail].next = i
	} else {
		l.head = i
	}
	l.tail = i
	l.n++
	if !inWheel {
		m.due = now + f.aging + 1
		f.wheelAdd(t, i)
	}
}

func (f *FDB) wheelAdd(t *fdbTable, i int32) {
	m := &t.meta[i]
	b := m.due % agingWheel
	m.wnext = f.wheel[b]
	m.inWheel = true
	f.wheel[b] = i
}

// deleteSlotLocked removes the entry in slot i.
func (f *FDB) deleteSlotLocked(t *fdbTable, i int32) {
	s := &t.slots[i]
	if valIsStatic(s.val.Load()) {
		f.static--
	} else {
		f.learned--
		f.delist(t, i)
	}
	s.key.Store(tombstoneKey)
	f.gen.Add(1)
}

// evictLocked removes one learned entry, fairly: the least recently seen
// entry of the port with the most learned entries (CLOCK: an entry seen
// since it was listed gets a second chance at the tail).
func (f *FDB) evictLocked(now uint32) bool {
	var victim *portList
	var vport uint16
	for port, l := range f.lists {
		// The most entries loses one; ties go to the lowest port number,
		// so eviction is deterministic.
		if l.n > 0 && (victim == nil || l.n > victim.n || l.n == victim.n && port < vport) {
			victim, vport = l, port
		}
	}
	if victim == nil {
		return false
	}
	t := f.table.Load()
	for tries := victim.n; tries > 0; tries-- {
		i := victim.head
		m := &t.meta[i]
		if seen := valSeen(t.slots[i].val.Load()); age(now, seen) < age(now, m.listed) && tries > 1 {
			f.relist(t, i, m.port, now) // seen since listed: second chance
			continue
		}
		f.deleteSlotLocked(t, i)
		f.nEvicted.Add(1)
		return true
	}
	return false
}

// expire removes learned entries not seen for more than the aging time. It
// looks only at the wheel buckets that came due since the last call.
func (f *FDB) expire(now, aging uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if aging != f.aging {
		f.setAgingLocked(aging, now)
	}
	t := f.table.Load()
	n := 0
	start := f.swept + 1
	if age(now, f.swept) > agingWheel || f.swept == 0 {
		start = now - min(now, agingWheel-1)
	}
	for c := start; age(now, c) < agingWheel && c != now+1; c++ {
		b := c % agingWheel
		i := f.wheel[b]
		f.wheel[b] = -1
		for i >= 0 {
			m := &t.meta[i]
			next := m.wnext
			m.inWheel = false
			k := t.slots[i].key.Load()
			switch {
			case k == 0 || k == tombstoneKey || m.due == 0: // gone: forget it
			case int32(m.due-now) > 0: // due in a later turn of the wheel
				f.wheelAdd(t, i)
			default:
				if a := age(now, valSeen(t.slots[i].val.Load())); a > f.aging {
					f.deleteSlotLocked(t, i)
					n++
				} else {
					m.due = now - a + f.aging + 1
					f.wheelAdd(t, i)
				}
			}
			i = next
		}
	}
	f.swept = now
	f.nAged.Add(uint64(n))
	return n
}

// setAgingLocked changes the aging time and refiles every entry's due time.
func (f *FDB) setAgingLocked(aging, now uint32) {
	f.aging = aging
	t := f.table.Load()
	for b := range f.wheel {
		f.wheel[b] = -1
	}
	for _, l := range f.lists {
		for i := l.head; i >= 0; i = t.meta[i].next {
			t.meta[i].due = now - age(now, valSeen(t.slots[i].val.Load())) + aging + 1
			f.wheelAdd(t, i)
		}
	}
}

// setLimits changes the learned-entry limit, the full policy and the aging
// time. Lowering the limit below the current count evicts entries fairly.
func (f *FDB) setLimits(max int, policy FullPolicy, aging, now uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.max, f.policy = max, policy
	if aging != f.aging {
		f.setAgingLocked(aging, now)
	}
	for f.learned > f.max && f.evictLocked(now) {
	}
}

// setEvents sets (or clears) the event receiver.
func (f *FDB) setEvents(e FDBEvents) {
	f.mu.Lock()
	f.events = e
	f.mu.Unlock()
}

// addStatic installs a static entry, replacing a learned one for the key.
func (f *FDB) addStatic(key uint64, port uint16, ep Endpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	val := fdbVal(port, true, ep, 0)
	t := f.table.Load()
	if i := t.find(key); i >= 0 {
		s := &t.slots[i]
		if !valIsStatic(s.val.Load()) {
			f.learned--
			f.delist(t, int32(i))
			f.static++
		}
		s.val.Store(val)
		f.gen.Add(1)
		return
	}
	f.insertLocked(key, val)
	f.static++
	f.gen.Add(1)
}

// remove deletes the entry for key (learned or static); it reports whether
// there was one.
func (f *FDB) remove(key uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.table.Load()
	i := t.find(key)
	if i < 0 {
		return false
	}
	f.deleteSlotLocked(t, int32(i))
	f.nFlushed.Add(1)
	return true
}

// flush removes the entries that match: port < 0 matches every port, vlan < 0
// every VLAN; static entries go only when withStatic is set. Flushing one
// port's learned entries walks only that port's list.
func (f *FDB) flush(port, vlan int, withStatic bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.table.Load()
	n := 0
	if port >= 0 && !withStatic {
		if l := f.lists[uint16(port)]; l != nil {
			for i := l.head; i >= 0; {
				next := t.meta[i].next
				if vlan < 0 || int(t.slots[i].key.Load()>>48) == vlan {
					f.deleteSlotLocked(t, i)
					n++
				}
				i = next
			}
		}
		f.nFlushed.Add(uint64(n))
		return n
	}
	t.live(func(i int, k, v uint64) {
		if (port >= 0 && int(valPort(v)) != port) || (vlan >= 0 && int(k>>48) != vlan) || (valIsStatic(v) && !withStatic) {
			return
		}
		f.deleteSlotLocked(t, int32(i))
		n++
	})
	f.nFlushed.Add(uint64(n))
	return n
}

// entries returns a snapshot of the table, sorted by VLAN then MAC.
func (f *FDB) entries(now uint32) []FDBEntry {
	var out []FDBEntry
	f.table.Load().live(func(_ int, k, v uint64) {
		e := FDBEntry{VLAN: uint16(k >> 48), MAC: keyMAC(k), Port: valPort(v), Static: valIsStatic(v), Remote: valEndpoint(v)}
		if !e.Static {
			e.Age = age(now, valSeen(v))
		}
		out = append(out, e)
	})
	slices.SortFunc(out, func(a, b FDBEntry) int {
		if a.VLAN != b.VLAN {
			return int(a.VLAN) - int(b.VLAN)
		}
		return slices.Compare(a.MAC[:], b.MAC[:])
	})
	return out
}

// learnedOn returns how many learned entries each port has.
func (f *FDB) learnedOn() map[uint16]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[uint16]int, len(f.lists))
	for p, l := range f.lists {
		if l.n > 0 {
			m[p] = l.n
		}
	}
	return m
}

func (f *FDB) stats() FDBStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FDBStats{
		Entries: f.learned + f.static, Static: f.static, Max: f.max,
		Learned: f.nLearned.Load(), Moved: f.nMoved.Load(), Aged: f.nAged.Load(),
		Evicted: f.nEvicted.Load(), Refused: f.nRefused.Load(), Flushed: f.nFlushed.Load(),
	}
}

// bytesPerEntry is the table's memory (slots and their bookkeeping)
// divided by the entries it can hold.
func (f *FDB) bytesPerEntry() float64 {
	t := f.table.Load()
	const slotBytes = 16 + 24 // fdbSlot + slotMeta
	return float64(len(t.slots)*slotBytes) / float64(len(t.slots)/2)
}
