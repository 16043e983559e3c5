package datapath

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
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
	// FullEvictOldest evicts the learned entry that was seen least recently
	// and learns the new one (Open vSwitch's behaviour). Evictions are
	// counted. Static entries are never evicted.
	FullEvictOldest
)

func (p FullPolicy) String() string {
	if p == FullEvictOldest {
		return "evict-oldest"
	}
	return "refuse"
}

// ParseFullPolicy parses "refuse" or "evict-oldest".
func ParseFullPolicy(s string) (FullPolicy, error) {
	switch s {
	case "refuse", "":
		return FullRefuse, nil
	case "evict-oldest", "evict":
		return FullEvictOldest, nil
	}
	return 0, fmt.Errorf("fdb-full-policy %q is not valid; allowed refuse, evict-oldest", s)
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
func sameDest(a, b uint64) bool { return (a^b)&(0xffff|0xffff<<24) == 0 }

type fdbSlot struct {
	key atomic.Uint64
	val atomic.Uint64
}

type fdbTable struct {
	slots []fdbSlot
	mask  uint64
	shift uint8
	used  int // live + tombstones (slots no longer empty); writers only
}

func newFDBTable(minEntries int) *fdbTable {
	n := 16
	for n < 2*minEntries { // at most 50 % load
		n <<= 1
	}
	return &fdbTable{slots: make([]fdbSlot, n), mask: uint64(n - 1), shift: uint8(64 - bits.TrailingZeros(uint(n)))}
}

func (t *fdbTable) home(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> t.shift }

// touch loads key's home slot and returns its key. Touching the slots of a
// whole batch before looking any of them up lets their cache misses overlap.
func (t *fdbTable) touch(key uint64) uint64 { return t.slots[t.home(key)].key.Load() }

// find returns the slot holding key, or nil.
func (t *fdbTable) find(key uint64) *fdbSlot {
	for i := t.home(key); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		k := s.key.Load()
		if k == key {
			return s
		}
		if k == 0 {
			return nil
		}
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
	Entries int    // live entries, learned and static
	Static  int    // static entries
	Max     int    // learned-entry limit
	Learned uint64 // new addresses learned
	Moved   uint64 // addresses that moved to another port or remote
	Aged    uint64 // learned entries removed by aging
	Evicted uint64 // learned entries evicted to make room (evict-oldest)
	Refused uint64 // new addresses not learned because the table was full (refuse)
	Flushed uint64 // entries removed by a flush, a delete or a port removal
}

// FDB is a bridge's forwarding database: (VLAN, MAC) → port (and remote
// VTEP). Lookups take no lock; learning, aging and edits serialise on a
// mutex that the forwarding path only ever tries (TryLock), so a frame is
// never delayed by a writer: at worst its source is learned from a later
// frame.
type FDB struct {
	table atomic.Pointer[fdbTable]

	mu      sync.Mutex
	learned int // live learned entries
	static  int // live static entries
	max     int
	policy  FullPolicy

	nLearned, nMoved, nAged, nEvicted, nRefused, nFlushed atomic.Uint64
}

func newFDB(max int, policy FullPolicy) *FDB {
	f := &FDB{max: max, policy: policy}
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
	want := fdbVal(port, false, ep, now)
	t := f.table.Load()
	if s := t.find(key); s != nil {
		v := s.val.Load()
		if sameDest(v, want) || valIsStatic(v) {
			if !valIsStatic(v) && valSeen(v) != now&seenMask {
				s.val.CompareAndSwap(v, want) // refresh; losing a race is fine
			}
			return
		}
	}
	if !f.mu.TryLock() {
		return // a writer is busy: learn from a later frame
	}
	f.learnLocked(key, want)
	f.mu.Unlock()
}

func (f *FDB) learnLocked(key, want uint64) {
	t := f.table.Load()
	if s := t.find(key); s != nil {
		v := s.val.Load()
		if valIsStatic(v) {
			return
		}
		if !sameDest(v, want) {
			f.nMoved.Add(1)
		}
		s.val.Store(want)
		return
	}
	if f.learned >= f.max {
		if f.policy == FullRefuse || !f.evictOldestLocked(valSeen(want)) {
			f.nRefused.Add(1)
			return
		}
	}
	f.insertLocked(key, want)
	f.learned++
	f.nLearned.Add(1)
}

// insertLocked puts a new key in the table, rebuilding it first when the
// non-empty slots would pass 3/4 of it.
func (f *FDB) insertLocked(key, val uint64) {
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
			return
		}
	}
}

// rebuildLocked copies the live entries into a fresh table sized for at
// least twice the live count and publishes it.
func (f *FDB) rebuildLocked() *fdbTable {
	old := f.table.Load()
	live := f.learned + f.static
	nt := newFDBTable(max(2*live+1, min(f.max, 1<<20)))
	for i := range old.slots {
		s := &old.slots[i]
		k := s.key.Load()
		if k == 0 || k == tombstoneKey {
			continue
		}
		v := s.val.Load()
		for j := nt.home(k); ; j = (j + 1) & nt.mask {
			d := &nt.slots[j]
			if d.key.Load() == 0 {
				d.val.Store(v)
				d.key.Store(k)
				nt.used++
				break
			}
		}
	}
	f.table.Store(nt)
	return nt
}

func (f *FDB) deleteSlotLocked(s *fdbSlot) {
	if valIsStatic(s.val.Load()) {
		f.static--
	} else {
		f.learned--
	}
	s.key.Store(tombstoneKey)
}

// evictOldestLocked removes the learned entry seen least recently.
func (f *FDB) evictOldestLocked(now uint32) bool {
	t := f.table.Load()
	var victim *fdbSlot
	var oldest uint32
	for i := range t.slots {
		s := &t.slots[i]
		k := s.key.Load()
		if k == 0 || k == tombstoneKey {
			continue
		}
		v := s.val.Load()
		if valIsStatic(v) {
			continue
		}
		if age := (now - valSeen(v)) & seenMask; victim == nil || age > oldest {
			victim, oldest = s, age
		}
	}
	if victim == nil {
		return false
	}
	f.deleteSlotLocked(victim)
	f.nEvicted.Add(1)
	return true
}

// expire removes learned entries not seen for more than aging seconds.
func (f *FDB) expire(now, aging uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.table.Load()
	n := 0
	for i := range t.slots {
		s := &t.slots[i]
		k := s.key.Load()
		if k == 0 || k == tombstoneKey {
			continue
		}
		v := s.val.Load()
		if !valIsStatic(v) && (now-valSeen(v))&seenMask > aging {
			f.deleteSlotLocked(s)
			n++
		}
	}
	f.nAged.Add(uint64(n))
	return n
}

// setLimits changes the learned-entry limit and the full policy. Lowering the
// limit below the current count evicts the oldest entries.
func (f *FDB) setLimits(max int, policy FullPolicy, now uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.max, f.policy = max, policy
	for f.learned > f.max && f.evictOldestLocked(now) {
	}
}

// addStatic installs a static entry, replacing a learned one for the key.
func (f *FDB) addStatic(key uint64, port uint16, ep Endpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	val := fdbVal(port, true, ep, 0)
	t := f.table.Load()
	if s := t.find(key); s != nil {
		if !valIsStatic(s.val.Load()) {
			f.learned--
			f.static++
		}
		s.val.Store(val)
		return
	}
	f.insertLocked(key, val)
	f.static++
}

// remove deletes the entry for key (learned or static); it reports whether
// there was one.
func (f *FDB) remove(key uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.table.Load().find(key)
	if s == nil {
		return false
	}
	f.deleteSlotLocked(s)
	f.nFlushed.Add(1)
	return true
}

// flush removes the entries that match: port < 0 matches every port, vlan < 0
// every VLAN; static entries go only when withStatic is set.
func (f *FDB) flush(port, vlan int, withStatic bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.table.Load()
	n := 0
	for i := range t.slots {
		s := &t.slots[i]
		k := s.key.Load()
		if k == 0 || k == tombstoneKey {
			continue
		}
		v := s.val.Load()
		if (port >= 0 && int(valPort(v)) != port) || (vlan >= 0 && int(k>>48) != vlan) || (valIsStatic(v) && !withStatic) {
			continue
		}
		f.deleteSlotLocked(s)
		n++
	}
	f.nFlushed.Add(uint64(n))
	return n
}

// entries returns a snapshot of the table, sorted by VLAN then MAC.
func (f *FDB) entries(now uint32) []FDBEntry {
	t := f.table.Load()
	var out []FDBEntry
	for i := range t.slots {
		s := &t.slots[i]
		k := s.key.Load()
		if k == 0 || k == tombstoneKey {
			continue
		}
		v := s.val.Load()
		e := FDBEntry{VLAN: uint16(k >> 48), MAC: keyMAC(k), Port: valPort(v), Static: valIsStatic(v), Remote: valEndpoint(v)}
		if !e.Static {
			e.Age = (now - valSeen(v)) & seenMask
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b FDBEntry) int {
		if a.VLAN != b.VLAN {
			return int(a.VLAN) - int(b.VLAN)
		}
		return slices.Compare(a.MAC[:], b.MAC[:])
	})
	return out
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

// bytesPerEntry is the table's memory divided by the entries it can hold.
func (f *FDB) bytesPerEntry() float64 {
	t := f.table.Load()
	return float64(len(t.slots)*16) / float64(len(t.slots)/2)
}
