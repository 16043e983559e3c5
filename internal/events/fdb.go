package events

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

// FullWindow is the shortest time between two fdb.full events of one
// bridge: the first refusal (or eviction) is reported at once, the ones
// after it are counted and reported together, at most once per window.
const FullWindow = 10 * time.Second

// MovesPerDrain bounds the fdb.move events one bridge reports per drain
// (about a second); the rest are counted in one fdb.move.lost event.
const MovesPerDrain = 20

// FDBWatcher receives one bridge's FDB callbacks (it implements
// datapath.FDBEvents) and turns them into events when drained. The
// callbacks run with the FDB's writer lock held, on the forwarding path:
// they only count, keep a sample, and queue moves on a bounded channel
// (dropping, and counting, what does not fit).
type FDBWatcher struct {
	bridge *datapath.Bridge
	wake   chan<- struct{}

	refused, evicted atomic.Uint64 // since the last fdb.full event
	pending          atomic.Bool   // a sample waits to be reported
	sampleKey        atomic.Uint64 // VLAN<<48 | MAC
	samplePort       atomic.Uint32
	sampleEvicted    atomic.Bool
	moves            chan move
	movesLost        atomic.Uint64

	// drainer state
	lastFull time.Time
	total    uint64 // refusals and evictions ever reported
}

type move struct {
	key                  uint64
	oldPort, newPort     uint16
	oldRemote, newRemote datapath.Endpoint
}

// NewFDBWatcher returns a watcher for bridge b; wake (may be nil) gets a
// non-blocking signal when there is something to drain.
func NewFDBWatcher(b *datapath.Bridge, wake chan<- struct{}) *FDBWatcher {
	return &FDBWatcher{bridge: b, wake: wake, moves: make(chan move, 256)}
}

func (w *FDBWatcher) signal() {
	if w.wake != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func packKey(vlan uint16, mac [6]byte) uint64 {
	k := uint64(vlan) << 48
	for i, b := range mac {
		k |= uint64(b) << (40 - 8*i)
	}
	return k
}

func unpackKey(k uint64) (uint16, net.HardwareAddr) {
	mac := make(net.HardwareAddr, 6)
	for i := range mac {
		mac[i] = byte(k >> (40 - 8*i))
	}
	return uint16(k >> 48), mac
}

// Moved implements datapath.FDBEvents.
func (w *FDBWatcher) Moved(vlan uint16, mac [6]byte, oldPort, newPort uint16, oldRemote, newRemote datapath.Endpoint) {
	select {
	case w.moves <- move{packKey(vlan, mac), oldPort, newPort, oldRemote, newRemote}:
	default:
		w.movesLost.Add(1)
	}
	w.signal()
}

// Full implements datapath.FDBEvents.
func (w *FDBWatcher) Full(vlan uint16, mac [6]byte, port uint16, evicted bool) {
	if evicted {
		w.evicted.Add(1)
	} else {
		w.refused.Add(1)
	}
	if !w.pending.Load() && w.pending.CompareAndSwap(false, true) {
		w.sampleKey.Store(packKey(vlan, mac))
		w.samplePort.Store(uint32(port))
		w.sampleEvicted.Store(evicted)
		w.signal()
	}
}

func (w *FDBWatcher) portName(no uint16, ep datapath.Endpoint) string {
	name := fmt.Sprintf("port %d", no)
	if p := w.bridge.PortByNumber(no); p != nil {
		name = p.Name()
	}
	if ep != datapath.NoEndpoint {
		name += "@" + ep.String()
	}
	return name
}

// Drain turns what the callbacks collected into events in l. It is called
// from one goroutine (about once a second, and when woken).
func (w *FDBWatcher) Drain(now time.Time, l *Log) {
	br := w.bridge.Name()
	for n := 0; n < MovesPerDrain; n++ {
		select {
		case m := <-w.moves:
			vlan, mac := unpackKey(m.key)
			from, to := w.portName(m.oldPort, m.oldRemote), w.portName(m.newPort, m.newRemote)
			l.Add(Event{Time: now, Kind: FDBMove, Severity: Info, Bridge: br, Port: w.portName(m.newPort, datapath.NoEndpoint),
				MAC: mac.String(), VLAN: VLANOf(vlan), From: from, To: to, Remote: m.newRemote.String(),
				Message: fmt.Sprintf("%s: MAC %s in VLAN %d moved from %s to %s", br, mac, vlan, from, to)})
		default:
			n = MovesPerDrain
		}
	}
	lost := w.movesLost.Swap(0)
	for more := true; more; {
		select {
		case <-w.moves:
			lost++
		default:
			more = false
		}
	}
	if lost > 0 {
		l.Add(Event{Time: now, Kind: FDBMovesLost, Severity: Warning, Bridge: br, Count: lost,
			Message: fmt.Sprintf("%s: %d more MAC moves not shown one by one (a MAC flapping between ports is a sign of a loop or a misconfigured bond)", br, lost)})
	}
	if !w.pending.Load() || now.Sub(w.lastFull) < FullWindow {
		return
	}
	refused, evicted := w.refused.Swap(0), w.evicted.Swap(0)
	vlan, mac := unpackKey(w.sampleKey.Load())
	port := w.portName(uint16(w.samplePort.Load()), datapath.NoEndpoint)
	wasEvicted := w.sampleEvicted.Load()
	w.pending.Store(false)
	w.lastFull = now
	w.total += refused + evicted
	st := w.bridge.Stats().FDB
	var msg string
	if wasEvicted || refused == 0 {
		msg = fmt.Sprintf("%s: FDB full (%d/%d learned): %d entries evicted to learn new addresses (first: MAC %s in VLAN %d on %s); raise --fdb-max if the network is this large",
			br, st.Entries-st.Static, st.Max, evicted, mac, vlan, port)
	} else {
		msg = fmt.Sprintf("%s: FDB full (%d/%d learned): %d new addresses refused (first: MAC %s in VLAN %d on %s); frames to them are flooded; raise --fdb-max or look for a MAC flood",
			br, st.Entries-st.Static, st.Max, refused, mac, vlan, port)
	}
	l.Add(Event{Time: now, Kind: FDBFull, Severity: Warning, Bridge: br, Port: port, MAC: mac.String(), VLAN: VLANOf(vlan),
		Count: refused + evicted, Reason: map[bool]string{true: "evicted", false: "refused"}[refused == 0], Message: msg})
}

// Reported returns how many refusals and evictions fdb.full events have
// reported (the engine's counters have the exact totals).
func (w *FDBWatcher) Reported() uint64 { return w.total }
