// Package events is the daemon's event log: what operators want to hear
// about (a MAC that moved, an FDB that filled up, a port that went down, a
// remote VTEP that appeared or went quiet, a configuration change and who
// made it, the daemon starting and stopping), kept in a bounded in-memory
// ring, streamed to followers, and written to the daemon's slog log.
//
// Nothing here is on the forwarding path: the engine's callbacks hand
// their facts to a Limiter (a few atomic operations), and a goroutine turns
// them into events.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kinds of events. A kind is a dotted name; its first part is its family
// (fdb, port, tunnel, config, daemon, capture), which `events --kind`
// selects by prefix.
const (
	FDBMove       = "fdb.move"       // a learned MAC moved to another port or VTEP
	FDBFull       = "fdb.full"       // a new address met a full FDB (refused or evicted), rate-limited
	FDBMovesLost  = "fdb.moves-lost" // moves that were not reported one by one (a flapping MAC)
	PortUp        = "port.up"        // a port started forwarding
	PortDown      = "port.down"      // a port is down (its peer is missing, it was stopped)
	PortError     = "port.error"     // a port's device failed
	PortRemoved   = "port.removed"   // a port went away with its configuration
	PortTxErrors  = "port.tx-errors" // a port's device failed to send frames
	RemoteLearned = "tunnel.remote.learned"
	RemoteLost    = "tunnel.remote.lost"
	ConfigChange  = "config.change" // a change of the stored configuration: who, what
	DaemonStart   = "daemon.start"
	DaemonStop    = "daemon.stop"
	CaptureStart  = "capture.start"
	CaptureStop   = "capture.stop"
)

// Severities.
const (
	Info    = "info"
	Warning = "warning"
	Error   = "error"
)

// Event is one entry of the log.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	// Message says what happened in a sentence.
	Message string `json:"message"`

	Bridge string `json:"bridge,omitempty"`
	Port   string `json:"port,omitempty"`
	MAC    string `json:"mac,omitempty"`
	// VLAN is the VLAN of a MAC (fdb events).
	VLAN *uint16 `json:"vlan,omitempty"`
	// From and To are where a MAC was and is (a port, "port@VTEP").
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Remote is a remote VTEP's address (tunnel events).
	Remote string `json:"remote,omitempty"`
	// Count is how many occurrences one event stands for (rate-limited
	// events: refusals in the window, suppressed moves).
	Count uint64 `json:"count,omitempty"`
	// Who made a configuration change (user, process, command line) and
	// What it changed.
	Who    string `json:"who,omitempty"`
	What   string `json:"what,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Family returns the first part of the event's kind.
func (e *Event) Family() string {
	f, _, _ := strings.Cut(e.Kind, ".")
	return f
}

// String is the event as one line of text.
func (e *Event) String() string {
	return fmt.Sprintf("%s %-7s %-22s %s", e.Time.Format("2006-01-02T15:04:05.000Z07:00"), e.Severity, e.Kind, e.Message)
}

// DefaultCapacity is how many events the log keeps.
const DefaultCapacity = 4096

// VLANOf returns a pointer to v, for Event.VLAN.
func VLANOf(v uint16) *uint16 { return &v }

// Log is a bounded in-memory event log with followers.
type Log struct {
	log *slog.Logger

	mu    sync.Mutex
	ring  []Event
	next  int // index of the next write in ring
	full  bool
	seq   uint64
	subs  map[*Subscription]struct{}
	count map[string]uint64 // events by kind, ever

	lagged atomic.Uint64 // events followers missed because they were slow
}

// New returns a log keeping the last capacity events (DefaultCapacity if
// capacity <= 0) that also writes each event to logger (nil: not logged).
func New(capacity int, logger *slog.Logger) *Log {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Log{log: logger, ring: make([]Event, capacity), subs: map[*Subscription]struct{}{}, count: map[string]uint64{}}
}

// Add appends an event (its Seq and, if zero, Time are set), writes it to
// the slog log and hands it to every follower. It never blocks: a follower
// that cannot keep up misses events (counted; see Lagged).
func (l *Log) Add(e Event) Event {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Severity == "" {
		e.Severity = Info
	}
	l.mu.Lock()
	l.seq++
	e.Seq = l.seq
	l.ring[l.next] = e
	l.next++
	if l.next == len(l.ring) {
		l.next, l.full = 0, true
	}
	l.count[e.Kind]++
	for s := range l.subs {
		select {
		case s.c <- e:
		default:
			s.missed.Add(1)
			l.lagged.Add(1)
		}
	}
	l.mu.Unlock()
	if l.log != nil {
		l.slog(&e)
	}
	return e
}

func (l *Log) slog(e *Event) {
	level := slog.LevelInfo
	switch e.Severity {
	case Warning:
		level = slog.LevelWarn
	case Error:
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("event", e.Kind), slog.Uint64("seq", e.Seq)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("bridge", e.Bridge)
	add("port", e.Port)
	add("mac", e.MAC)
	if e.VLAN != nil {
		attrs = append(attrs, slog.Int("vlan", int(*e.VLAN)))
	}
	add("from", e.From)
	add("to", e.To)
	add("remote", e.Remote)
	if e.Count > 0 {
		attrs = append(attrs, slog.Uint64("count", e.Count))
	}
	add("who", e.Who)
	add("what", e.What)
	add("reason", e.Reason)
	l.log.LogAttrs(context.Background(), level, e.Message, attrs...)
}

// Query selects events.
type Query struct {
	// Since returns only events with a larger sequence number.
	Since uint64
	// Last returns at most the last Last events (0: all kept).
	Last int
	// Kind returns only events whose kind starts with Kind ("fdb",
	// "port.down", …).
	Kind string
}

// Match reports whether e is selected by q (Last aside).
func (q *Query) Match(e *Event) bool {
	if e.Seq <= q.Since {
		return false
	}
	if q.Kind == "" {
		return true
	}
	return e.Kind == q.Kind || strings.HasPrefix(e.Kind, strings.TrimSuffix(q.Kind, ".")+".")
}

// Events returns the kept events q selects, oldest first.
func (l *Log) Events(q Query) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.eventsLocked(q)
}

func (l *Log) eventsLocked(q Query) []Event {
	var all []Event
	if l.full {
		all = append(all, l.ring[l.next:]...)
	}
	all = append(all, l.ring[:l.next]...)
	out := []Event{}
	for i := range all {
		if q.Match(&all[i]) {
			out = append(out, all[i])
		}
	}
	if q.Last > 0 && len(out) > q.Last {
		out = out[len(out)-q.Last:]
	}
	return out
}

// Seq returns the sequence number of the last event.
func (l *Log) Seq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Counts returns how many events of each kind were added since start.
func (l *Log) Counts() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]uint64, len(l.count))
	for k, v := range l.count {
		m[k] = v
	}
	return m
}

// Lagged returns how many events followers missed because they did not
// keep up.
func (l *Log) Lagged() uint64 { return l.lagged.Load() }

// Subscription is a follower: its channel gets every event added after it
// subscribed (as long as it keeps up).
type Subscription struct {
	l      *Log
	c      chan Event
	missed atomic.Uint64
	once   sync.Once
}

// C is the channel of events.
func (s *Subscription) C() <-chan Event { return s.c }

// Missed returns how many events this follower missed.
func (s *Subscription) Missed() uint64 { return s.missed.Load() }

// Close stops the subscription (its channel is closed).
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.l.mu.Lock()
		delete(s.l.subs, s)
		close(s.c)
		s.l.mu.Unlock()
	})
}

// Follow returns the events q selects that are kept now, and a
// subscription to the ones that come after them — atomically, so none is
// seen twice or missed in between. buffer bounds the subscription's queue
// (default 256).
func (l *Log) Follow(q Query, buffer int) ([]Event, *Subscription) {
	if buffer <= 0 {
		buffer = 256
	}
	s := &Subscription{l: l, c: make(chan Event, buffer)}
	l.mu.Lock()
	defer l.mu.Unlock()
	backlog := l.eventsLocked(q)
	l.subs[s] = struct{}{}
	return backlog, s
}
