package capture

import (
	"sync"
	"sync/atomic"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

// mux is the one Tap of a port; it hands every batch to each session of
// that port (several captures of one port can run at once).
type mux struct {
	sessions atomic.Pointer[[]*Session]
}

func (m *mux) Received(p *datapath.Port, pkts []*datapath.Packet) {
	for _, s := range *m.sessions.Load() {
		s.Received(p, pkts)
	}
}

func (m *mux) Sent(p *datapath.Port, outs []datapath.Out) {
	for _, s := range *m.sessions.Load() {
		s.Sent(p, outs)
	}
}

var taps struct {
	mu    sync.Mutex
	ports map[*datapath.Port]*mux
}

// Attach starts feeding port p's frames to s; the returned function stops
// it (the port's tap is removed with its last session, so a port nobody
// captures pays one atomic load per batch).
func Attach(p *datapath.Port, s *Session) func() {
	taps.mu.Lock()
	defer taps.mu.Unlock()
	if taps.ports == nil {
		taps.ports = map[*datapath.Port]*mux{}
	}
	m := taps.ports[p]
	if m == nil {
		m = &mux{}
		empty := []*Session{}
		m.sessions.Store(&empty)
		taps.ports[p] = m
	}
	l := append(append([]*Session{}, *m.sessions.Load()...), s)
	m.sessions.Store(&l)
	if len(l) == 1 {
		p.SetTap(m)
	}
	var once sync.Once
	return func() { once.Do(func() { detachSession(p, s) }) }
}

func detachSession(p *datapath.Port, s *Session) {
	taps.mu.Lock()
	defer taps.mu.Unlock()
	m := taps.ports[p]
	if m == nil {
		return
	}
	var l []*Session
	for _, x := range *m.sessions.Load() {
		if x != s {
			l = append(l, x)
		}
	}
	if len(l) == 0 {
		p.SetTap(nil)
		delete(taps.ports, p)
		return
	}
	m.sessions.Store(&l)
}
