package datapath

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Endpoint is a small handle for a remote tunnel endpoint (VTEP) address, so
// an FDB entry can name the VTEP behind a tunnel port in a few bits.
// Handles are process-wide and never reused.
type Endpoint uint32

// NoEndpoint is the zero handle: no remote, or "flood" on transmit.
const NoEndpoint Endpoint = 0

// MaxEndpoints bounds the endpoint table; a learned remote beyond it is not
// learned (its frames still flow).
const MaxEndpoints = 1<<16 - 1

// ErrEndpointsFull is returned when the endpoint table is full.
var ErrEndpointsFull = errors.New("datapath: endpoint table full (65535 remote VTEPs)")

var endpoints struct {
	mu    sync.Mutex
	index atomic.Pointer[map[netip.Addr]Endpoint] // copy-on-write
	addrs atomic.Pointer[[]netip.Addr]            // handle → address, append-only
}

func init() {
	m := map[netip.Addr]Endpoint{}
	a := []netip.Addr{{}}
	endpoints.index.Store(&m)
	endpoints.addrs.Store(&a)
}

// InternEndpoint returns the handle of addr, creating one if needed. The
// lookup of a known address takes no lock and does not allocate.
func InternEndpoint(addr netip.Addr) (Endpoint, error) {
	addr = addr.Unmap()
	if e, ok := (*endpoints.index.Load())[addr]; ok {
		return e, nil
	}
	endpoints.mu.Lock()
	defer endpoints.mu.Unlock()
	old := *endpoints.index.Load()
	if e, ok := old[addr]; ok {
		return e, nil
	}
	addrs := *endpoints.addrs.Load()
	if len(addrs) > MaxEndpoints {
		return NoEndpoint, ErrEndpointsFull
	}
	e := Endpoint(len(addrs))
	m := make(map[netip.Addr]Endpoint, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[addr] = e
	addrs = append(addrs, addr)
	endpoints.addrs.Store(&addrs)
	endpoints.index.Store(&m)
	return e, nil
}

// Addr returns the address of the endpoint, or the zero Addr for NoEndpoint.
func (e Endpoint) Addr() netip.Addr {
	a := *endpoints.addrs.Load()
	if int(e) < len(a) {
		return a[e]
	}
	return netip.Addr{}
}

// String returns the endpoint's address, or "" for NoEndpoint.
func (e Endpoint) String() string {
	if e == NoEndpoint {
		return ""
	}
	return e.Addr().String()
}
