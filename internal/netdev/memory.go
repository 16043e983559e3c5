package netdev

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// Memory is an in-memory device (Open vSwitch's type=dummy, gVisor's
// link/channel): what the bridge sends it is kept for reading, and frames
// injected into it reach the bridge as if they came off a wire. The daemon
// opens every port type as one when told to (tests of reconcile, status
// and the API run without root), and tests of the engine use it directly.
type Memory struct {
	name string
	caps datapath.Caps

	mu       sync.Mutex
	rx       datapath.Receiver
	ready    chan struct{}
	sent     []Sent
	max      int
	dropped  uint64
	notify   chan struct{}
	counters atomic.Pointer[datapath.Counters]
	closed   chan struct{}
	once     sync.Once
	pkts     []*datapath.Packet
}

// Sent is one frame a Memory device was sent, with its tunnel key and remote
// (tunnel ports) and offload metadata.
type Sent struct {
	Frame   []byte
	VNI     uint32
	Remote  netip.Addr
	Offload packet.GSO
}

// DefaultMemoryKeep is how many sent frames a Memory device keeps (older
// ones are dropped and counted).
const DefaultMemoryKeep = 4096

var memories sync.Map // name → *Memory

// NewMemory returns an in-memory device that accepts what caps says (the
// engine finishes and segments the rest, as for any device). It is
// registered under its name until closed (see MemoryDevice).
func NewMemory(name string, caps datapath.Caps) *Memory {
	m := &Memory{name: name, caps: caps, ready: make(chan struct{}), max: DefaultMemoryKeep, notify: make(chan struct{}, 1), closed: make(chan struct{})}
	memories.Store(name, m)
	return m
}

// MemoryDevice returns the open Memory device called name, or nil.
func MemoryDevice(name string) *Memory {
	if v, ok := memories.Load(name); ok {
		return v.(*Memory)
	}
	return nil
}

// Name returns the device's name.
func (m *Memory) Name() string { return m.name }

// Caps says what the device takes as it is.
func (m *Memory) Caps() datapath.Caps { return m.caps }

// BindCounters implements datapath.CounterBinder.
func (m *Memory) BindCounters(c *datapath.Counters) { m.counters.Store(c) }

// Offloads names nothing: the device is memory.
func (m *Memory) Offloads() []string { return []string{"memory"} }

// Send keeps a copy of each frame.
func (m *Memory) Send(batch []datapath.Out) {
	m.mu.Lock()
	for _, o := range batch {
		s := Sent{Frame: append([]byte(nil), o.Pkt.Data()...), VNI: o.VNI, Offload: o.Pkt.Offload}
		if o.Remote != datapath.NoEndpoint {
			s.Remote = o.Remote.Addr()
		}
		if len(m.sent) >= m.max {
			copy(m.sent, m.sent[1:])
			m.sent = m.sent[:len(m.sent)-1]
			m.dropped++
		}
		m.sent = append(m.sent, s)
	}
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Take returns and forgets what the device was sent.
func (m *Memory) Take() []Sent {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sent
	m.sent = nil
	return s
}

// Wait returns once at least n frames were sent (taking them), or when ctx
// ends with what there is.
func (m *Memory) Wait(ctx context.Context, n int) ([]Sent, error) {
	var got []Sent
	for {
		got = append(got, m.Take()...)
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-m.notify:
		case <-ctx.Done():
			return got, fmt.Errorf("device %s: %d of %d frames sent: %w", m.name, len(got), n, ctx.Err())
		}
	}
}

// Run hands injected frames to rx until ctx ends or the device is closed.
func (m *Memory) Run(ctx context.Context, rx datapath.Receiver) error {
	m.mu.Lock()
	m.rx = rx
	select {
	case <-m.ready:
	default:
		close(m.ready)
	}
	m.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-m.closed:
	}
	m.mu.Lock()
	m.rx = nil
	m.mu.Unlock()
	return nil
}

// Inject hands frames to the bridge as if they had arrived on the device.
// It waits for the port to be attached (ctx bounds the wait).
func (m *Memory) Inject(ctx context.Context, frames ...[]byte) error {
	return m.InjectTunnel(ctx, datapath.TunnelMeta{}, frames...)
}

// InjectTunnel hands frames to the bridge as decapsulated from a tunnel with
// the given VNI and remote (for a tunnel port opened as memory).
func (m *Memory) InjectTunnel(ctx context.Context, tun datapath.TunnelMeta, frames ...[]byte) error {
	select {
	case <-m.ready:
	case <-ctx.Done():
		return fmt.Errorf("device %s is not attached to a bridge: %w", m.name, ctx.Err())
	case <-m.closed:
		return fmt.Errorf("device %s is closed", m.name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rx == nil {
		return fmt.Errorf("device %s is not attached to a bridge", m.name)
	}
	for len(m.pkts) < len(frames) {
		m.pkts = append(m.pkts, datapath.NewPacket(datapath.MaxFrame))
	}
	batch := m.pkts[:len(frames)]
	for i, f := range frames {
		if len(f) > datapath.MaxFrame {
			return fmt.Errorf("frame %d has %d bytes; at most %d", i, len(f), datapath.MaxFrame)
		}
		batch[i].SetData(f)
		batch[i].Tunnel = tun
	}
	m.rx.Receive(batch)
	return nil
}

// Close detaches the device.
func (m *Memory) Close() error {
	m.once.Do(func() {
		close(m.closed)
		memories.CompareAndDelete(m.name, m)
	})
	return nil
}
