package openflow

import (
	"sync"
	"sync/atomic"
	"time"
)

// Packet-in queue defaults.
const (
	// DefaultPacketInRate is the packet-ins per second a bridge sends to
	// its controllers; beyond it packet-ins are dropped and counted.
	DefaultPacketInRate = 10000
	// DefaultPacketInBurst is the token bucket's depth.
	DefaultPacketInBurst = 1000
	// DefaultPacketInSlots is how many packet-ins may wait for the
	// dispatcher.
	DefaultPacketInSlots = 1024
	// DefaultPacketInArena is the bytes of frame data that may wait
	// (frames are copied truncated to what any controller asked for).
	DefaultPacketInArena = 2 << 20
)

// pinSlot is a queued packet-in: the event's fixed fields and where its
// bytes (userdata then frame prefix) sit in the arena.
type pinSlot struct {
	ev       PacketIn // Frame and Userdata nil here
	frameLen int      // full frame length
	start    int64    // arena position of the copied bytes
	udLen    int
	dataLen  int
	seq      uint64
}

// pinQueue is a bounded multi-producer, single-consumer queue of
// packet-ins with a token-bucket rate limit. Producers (the datapath's
// forwarding goroutines) never block on the consumer and never allocate:
// a packet-in is either copied into preallocated memory or dropped and
// counted.
type pinQueue struct {
	mu     sync.Mutex
	slots  []pinSlot
	head   uint64 // next slot written
	tail   uint64 // next slot read
	arena  []byte
	aHead  int64 // next arena byte written (monotonic)
	aTail  int64 // first arena byte still in use
	notify chan struct{}

	// token bucket (rate <= 0: unlimited)
	rate   float64
	burst  float64
	tokens float64
	last   int64 // monotonic ns of the last refill
	now    func() int64

	queued      atomic.Uint64
	dropRate    atomic.Uint64
	dropFull    atomic.Uint64
	dispatched  atomic.Uint64
	processed   atomic.Uint64 // seq of the last event the consumer finished
	seq         uint64
	truncateMax func() int // bytes to keep for UseMissSendLen packets
}

var monoStart = time.Now()

func monoNow() int64 { return int64(time.Since(monoStart)) }

func newPinQueue(slots, arena int, rate float64, burst int) *pinQueue {
	if slots <= 0 {
		slots = DefaultPacketInSlots
	}
	if arena <= 0 {
		arena = DefaultPacketInArena
	}
	q := &pinQueue{slots: make([]pinSlot, slots), arena: make([]byte, arena), notify: make(chan struct{}, 1), now: monoNow}
	q.setRate(rate, burst)
	return q
}

// setRate changes the rate limit (rate <= 0: unlimited).
func (q *pinQueue) setRate(rate float64, burst int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if burst <= 0 {
		burst = DefaultPacketInBurst
	}
	q.rate, q.burst, q.tokens, q.last = rate, float64(burst), float64(burst), q.now()
}

// put copies a packet-in into the queue; it reports false when the packet
// was dropped (rate limit or queue full).
func (q *pinQueue) put(p *PacketIn, keep int) bool {
	n := len(p.Frame)
	if keep >= 0 && keep < n {
		n = keep
	}
	need := int64(n + len(p.Userdata))
	q.mu.Lock()
	if q.rate > 0 {
		t := q.now()
		q.tokens += float64(t-q.last) * q.rate / 1e9
		q.last = t
		if q.tokens > q.burst {
			q.tokens = q.burst
		}
		if q.tokens < 1 {
			q.mu.Unlock()
			q.dropRate.Add(1)
			return false
		}
		q.tokens--
	}
	if q.head-q.tail >= uint64(len(q.slots)) || need > int64(len(q.arena)) {
		q.mu.Unlock()
		q.dropFull.Add(1)
		return false
	}
	start := q.aHead
	size := int64(len(q.arena))
	if off := start % size; off+need > size {
		start += size - off // wrap: the rest of the arena is skipped
	}
	if start+need-q.aTail > size {
		q.mu.Unlock()
		q.dropFull.Add(1)
		return false
	}
	off := start % size
	copy(q.arena[off:], p.Userdata)
	copy(q.arena[off+int64(len(p.Userdata)):], p.Frame[:n])
	q.aHead = start + need
	s := &q.slots[q.head%uint64(len(q.slots))]
	s.ev = *p
	s.ev.Frame, s.ev.Userdata = nil, nil
	s.frameLen, s.start, s.udLen, s.dataLen = len(p.Frame), start, len(p.Userdata), n
	q.seq++
	s.seq = q.seq
	q.head++
	q.mu.Unlock()
	q.queued.Add(1)
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// peek returns the oldest packet-in with its bytes (valid until release),
// or false when the queue is empty.
func (q *pinQueue) peek() (s pinSlot, userdata, data []byte, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail == q.head {
		return pinSlot{}, nil, nil, false
	}
	s = q.slots[q.tail%uint64(len(q.slots))]
	off := s.start % int64(len(q.arena))
	userdata = q.arena[off : off+int64(s.udLen)]
	data = q.arena[off+int64(s.udLen) : off+int64(s.udLen+s.dataLen)]
	return s, userdata, data, true
}

// release frees the oldest packet-in.
func (q *pinQueue) release() {
	q.mu.Lock()
	s := &q.slots[q.tail%uint64(len(q.slots))]
	q.aTail = s.start + int64(s.udLen+s.dataLen)
	seq := s.seq
	q.tail++
	if q.tail == q.head {
		q.aHead, q.aTail = 0, 0 // empty: start the arena over
	}
	q.mu.Unlock()
	q.processed.Store(seq)
}

// lastSeq is the sequence number of the newest packet-in queued.
func (q *pinQueue) lastSeq() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.seq
}
