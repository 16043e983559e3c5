package main

import (
	"sort"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
)

// probe measures bind → every interested agent programmed: the driver
// registers each bind with the hosts that must program it; the in-memory
// dataplanes report every applied op with its time.
type probe struct {
	netIdx map[string]int
	shards [64]struct {
		mu      sync.Mutex
		pending map[uint64]*pend
	}
	mu   sync.Mutex
	lat  []time.Duration
	last time.Time
	left int
	zero chan struct{}
}

type pend struct {
	start time.Time
	want  map[int]struct{}
}

func newProbe(t *topology) *probe {
	p := &probe{netIdx: map[string]int{}}
	for i, n := range t.nets {
		p.netIdx[n.name] = i
	}
	for i := range p.shards {
		p.shards[i].pending = map[uint64]*pend{}
	}
	return p
}

func macU48(m agent.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// expect registers a bind about to be written.
func (p *probe) expect(key uint64, hosts []int, start time.Time) {
	pe := &pend{start: start, want: make(map[int]struct{}, len(hosts))}
	for _, h := range hosts {
		pe.want[h] = struct{}{}
	}
	sh := &p.shards[key%64]
	sh.mu.Lock()
	sh.pending[key] = pe
	sh.mu.Unlock()
	p.mu.Lock()
	p.left++
	p.mu.Unlock()
}

// restart sets a bind's start to when its write was acknowledged... not
// used: latency counts from before the write, as a user sees it.

func (p *probe) onApply(host int, ops []agent.Op, at time.Time) {
	for i := range ops {
		o := &ops[i]
		var mac agent.MAC
		switch o.Kind {
		case agent.OpFDBPut:
			mac = o.MAC
		case agent.OpVIFPut:
			mac = o.VIF.MAC
		default:
			continue
		}
		ni, ok := p.netIdx[o.Network]
		if !ok {
			continue
		}
		key := portKey(ni, macU48(mac))
		sh := &p.shards[key%64]
		sh.mu.Lock()
		pe := sh.pending[key]
		done := false
		if pe != nil {
			if _, w := pe.want[host]; w {
				delete(pe.want, host)
				if len(pe.want) == 0 {
					delete(sh.pending, key)
					done = true
				}
			}
		}
		sh.mu.Unlock()
		if done {
			p.mu.Lock()
			p.lat = append(p.lat, at.Sub(pe.start))
			p.last = at
			p.left--
			if p.left == 0 && p.zero != nil {
				close(p.zero)
				p.zero = nil
			}
			p.mu.Unlock()
		}
	}
}

// take returns and clears the latencies recorded so far.
func (p *probe) take() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lat
	p.lat = nil
	return l
}

// wait waits until nothing is pending or d passes; it returns the time
// the last pending bind was programmed and how many are still pending.
func (p *probe) wait(d time.Duration) (time.Time, int) {
	p.mu.Lock()
	if p.left == 0 {
		t := p.last
		p.mu.Unlock()
		return t, 0
	}
	ch := make(chan struct{})
	p.zero = ch
	p.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(d):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.zero = nil
	return p.last, p.left
}

type stats struct {
	N             int
	P50, P99, Max time.Duration
}

func summarize(l []time.Duration) stats {
	if len(l) == 0 {
		return stats{}
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	q := func(f float64) time.Duration { return l[min(len(l)-1, int(f*float64(len(l))))] }
	return stats{N: len(l), P50: q(0.50), P99: q(0.99), Max: l[len(l)-1]}
}
