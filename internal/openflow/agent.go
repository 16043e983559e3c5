package openflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// Defaults of Config.
const (
	// DefaultProbeInterval is the inactivity probe of controller
	// connections (Open vSwitch's inactivity_probe default): after this
	// much silence an ECHO_REQUEST is sent, after twice as much the
	// connection is closed.
	DefaultProbeInterval = 5 * time.Second
	// DefaultServiceProbeInterval is the same for connections accepted on
	// punix: and ptcp: listeners.
	DefaultServiceProbeInterval = 60 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the reconnect delay
	// to a controller: it doubles from the minimum after each failure up
	// to the maximum, and each wait is drawn uniformly from
	// [delay/2, delay] (jitter), so many switches do not reconnect in
	// step. It starts again from the minimum once a connection has
	// completed its handshake.
	DefaultMinBackoff = 1 * time.Second
	DefaultMaxBackoff = 8 * time.Second
	// DefaultHandshakeTimeout bounds the wait for the peer's HELLO.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultRequestTimeout bounds a Backend.Barrier call (other calls
	// get a context that ends with the connection).
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxConnections bounds the connections accepted on the
	// listeners together (controllers do not count).
	DefaultMaxConnections = 64
	// DefaultSendQueue is how many messages may wait to be written to one
	// connection. Replies wait for room; asynchronous messages
	// (packet-in, flow-removed, port-status) are dropped and counted
	// when it is full, so a slow controller never stalls the others.
	DefaultSendQueue = 1024
	// DefaultMaxErrors is how many erroneous messages one connection may
	// send within a minute before it is closed.
	DefaultMaxErrors = 100
	// DefaultMultipartLimit bounds a multipart request that arrives in
	// several messages (OFPMPF_REQ_MORE): total bytes and parts.
	DefaultMultipartLimit = 1 << 20
	DefaultMultipartParts = 64
)

// Config configures one bridge's OpenFlow agent.
type Config struct {
	// Name is the bridge's name (for logs and status).
	Name    string
	Backend Backend
	// Targets are the listeners (punix:, ptcp:) and controllers (tcp:,
	// unix:).
	Targets []Target
	// Versions is the bitmap of allowed versions (bit v for version v),
	// a subset of ofp.SupportedVersions; zero allows all of them.
	Versions uint32

	ProbeInterval        time.Duration // < 0 disables
	ServiceProbeInterval time.Duration // < 0 disables
	MinBackoff           time.Duration
	MaxBackoff           time.Duration
	HandshakeTimeout     time.Duration
	RequestTimeout       time.Duration
	MaxConnections       int
	SendQueue            int
	MaxErrors            int

	// PacketInRate (per second, < 0: unlimited) and PacketInBurst set the
	// bridge's packet-in rate limit; PacketInSlots and PacketInArena size
	// its queue.
	PacketInRate  float64
	PacketInBurst int
	PacketInSlots int
	PacketInArena int

	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Backend == nil {
		return errors.New("openflow: Config.Backend is nil")
	}
	if c.Versions == 0 {
		c.Versions = ofp.SupportedVersions
	}
	if c.Versions&^ofp.SupportedVersions != 0 {
		return fmt.Errorf("openflow: versions bitmap %#x: only OpenFlow10 and OpenFlow13 are supported", c.Versions)
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.ProbeInterval, DefaultProbeInterval)
	set(&c.ServiceProbeInterval, DefaultServiceProbeInterval)
	set(&c.MinBackoff, DefaultMinBackoff)
	set(&c.MaxBackoff, DefaultMaxBackoff)
	set(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	set(&c.RequestTimeout, DefaultRequestTimeout)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	seti := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	seti(&c.MaxConnections, DefaultMaxConnections)
	seti(&c.SendQueue, DefaultSendQueue)
	seti(&c.MaxErrors, DefaultMaxErrors)
	if c.PacketInRate == 0 {
		c.PacketInRate = DefaultPacketInRate
	}
	seti(&c.PacketInBurst, DefaultPacketInBurst)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Agent is one bridge's OpenFlow agent.
type Agent struct {
	cfg Config
	log *slog.Logger
	be  Backend
	pin *pinQueue

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	conns     map[*conn]struct{}
	listeners map[string]*listener // by target string
	dialers   map[string]*dialer
	nService  int
	genID     uint64
	genKnown  bool
	fragMode  uint16
	started   bool

	connsSnap atomic.Pointer[[]*conn] // read by the dispatcher without locks
	maxMiss   atomic.Int32            // largest miss_send_len of any connection

	events chan any // *ofp.FlowRemoved, *ofp.PortStatus

	counters Counters
}

// Counters are an agent's totals.
type Counters struct {
	PacketInSent     atomic.Uint64 // packet-in messages written to connections
	PacketInDropRate atomic.Uint64 // packet-ins dropped by the rate limit
	PacketInDropFull atomic.Uint64 // packet-ins dropped because the queue was full
	AsyncDropped     atomic.Uint64 // async messages dropped on a full connection queue
	EventsDropped    atomic.Uint64 // flow-removed / port-status dropped (event queue full)
	Accepted         atomic.Uint64
	Refused          atomic.Uint64 // connections refused over MaxConnections
	Errors           atomic.Uint64 // ERRORs sent
	Closed           atomic.Uint64 // connections closed for misbehaviour
}

// New makes an agent; Start runs it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("bridge", cfg.Name), be: cfg.Backend,
		conns: map[*conn]struct{}{}, listeners: map[string]*listener{}, dialers: map[string]*dialer{},
		events: make(chan any, 4096)}
	a.pin = newPinQueue(cfg.PacketInSlots, cfg.PacketInArena, cfg.PacketInRate, cfg.PacketInBurst)
	a.connsSnap.Store(&[]*conn{})
	return a, nil
}

// Start opens the listeners, starts the controller connections and the
// event dispatcher. It fails if a listener cannot be opened (the others
// are closed again). The agent runs until ctx is done or Close.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("openflow: agent already started")
	}
	a.started = true
	a.ctx, a.cancel = context.WithCancel(ctx)
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.dispatch()
	}()
	if err := a.SetTargets(a.cfg.Targets); err != nil {
		a.Close()
		return err
	}
	return nil
}

// Close stops the agent: listeners and connections are closed and every
// goroutine has ended when it returns.
func (a *Agent) Close() {
	a.mu.Lock()
	if a.cancel != nil {
		a.cancel()
	}
	for _, l := range a.listeners {
		l.close()
	}
	for _, d := range a.dialers {
		d.stop()
	}
	for c := range a.conns {
		c.close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// SetTargets reconfigures the listeners and controllers: targets no longer
// listed are closed (with their connections), new ones started, unchanged
// ones left alone.
func (a *Agent) SetTargets(targets []Target) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[string]Target{}
	for _, t := range targets {
		want[t.String()] = t
	}
	for k, l := range a.listeners {
		if _, ok := want[k]; !ok {
			l.close()
			delete(a.listeners, k)
		}
	}
	for k, d := range a.dialers {
		if _, ok := want[k]; !ok {
			d.stop()
			delete(a.dialers, k)
		}
	}
	var errs []error
	for k, t := range want {
		if t.Kind.Passive() {
			if _, ok := a.listeners[k]; ok {
				continue
			}
			l, err := a.listen(t)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			a.listeners[k] = l
		} else if _, ok := a.dialers[k]; !ok {
			d := &dialer{a: a, t: t, quit: make(chan struct{})}
			a.dialers[k] = d
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				d.run()
			}()
		}
	}
	a.cfg.Targets = targets
	return errors.Join(errs...)
}

// ListenAddr returns the address a passive target listens on (for ptcp:0,
// the port it picked).
func (a *Agent) ListenAddr(t Target) (net.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.listeners[t.String()]
	if !ok {
		return nil, false
	}
	return l.ln.Addr(), true
}

type listener struct {
	t    Target
	ln   net.Listener
	once sync.Once
}

func (l *listener) close() {
	l.once.Do(func() {
		l.ln.Close()
		if l.t.Kind == PassiveUnix {
			os.Remove(l.t.Addr)
		}
	})
}

func (a *Agent) listen(t Target) (*listener, error) {
	network := "tcp"
	if t.Kind == PassiveUnix {
		network = "unix"
		// A stale socket of an earlier run is replaced; anything that is
		// not a socket is left alone and the listen fails.
		if fi, err := os.Lstat(t.Addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(t.Addr)
		}
	}
	ln, err := net.Listen(network, t.Addr)
	if err != nil {
		return nil, fmt.Errorf("openflow %s: listen on %s: %w", a.cfg.Name, t, err)
	}
	l := &listener{t: t, ln: ln}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				if a.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					a.log.Warn("openflow accept failed", "target", t.String(), "err", err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				return
			}
			a.mu.Lock()
			if a.nService >= a.cfg.MaxConnections {
				a.mu.Unlock()
				a.counters.Refused.Add(1)
				nc.Close()
				continue
			}
			a.nService++
			a.mu.Unlock()
			a.counters.Accepted.Add(1)
			c := a.newConn(nc, t)
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				c.serve()
				a.mu.Lock()
				a.nService--
				a.mu.Unlock()
			}()
		}
	}()
	return l, nil
}

// dialer keeps one controller connection up.
type dialer struct {
	a        *Agent
	t        Target
	quit     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	cur      *conn
	attempts atomic.Uint64
	lastErr  atomic.Pointer[string]
}

func (d *dialer) stop() {
	d.once.Do(func() {
		close(d.quit)
		d.mu.Lock()
		if d.cur != nil {
			d.cur.close()
		}
		d.mu.Unlock()
	})
}

// backoff returns the wait before attempt n (n failures so far).
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (d *dialer) run() {
	a := d.a
	failures := 0
	for {
		select {
		case <-d.quit:
			return
		case <-a.ctx.Done():
			return
		default:
		}
		network := "tcp"
		if d.t.Kind == ActiveUnix {
			network = "unix"
		}
		d.attempts.Add(1)
		dl := net.Dialer{Timeout: a.cfg.HandshakeTimeout}
		nc, err := dl.DialContext(a.ctx, network, d.t.Addr)
		if err == nil {
			c := a.newConn(nc, d.t)
			d.mu.Lock()
			d.cur = c
			d.mu.Unlock()
			c.serve()
			d.mu.Lock()
			d.cur = nil
			d.mu.Unlock()
			if c.handshaken.Load() {
				failures = 0
			}
			err = c.closeErr()
		}
		if err != nil {
			s := err.Error()
			d.lastErr.Store(&s)
		}
		wait := backoff(failures, a.cfg.MinBackoff, a.cfg.MaxBackoff)
		failures++
		a.log.Debug("openflow controller connection down, retrying", "target", d.t.String(), "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.quit:
			t.Stop()
			return
		case <-a.ctx.Done():
			t.Stop()
			return
		}
	}
}

// register and unregister keep the connection list the dispatcher reads.
func (a *Agent) register(c *conn) {
	a.mu.Lock()
	a.conns[c] = struct{}{}
	a.snapLocked()
	a.mu.Unlock()
}

func (a *Agent) unregister(c *conn) {
	a.mu.Lock()
	delete(a.conns, c)
	a.snapLocked()
	a.mu.Unlock()
}

func (a *Agent) snapLocked() {
	s := make([]*conn, 0, len(a.conns))
	max := int32(0)
	for c := range a.conns {
		s = append(s, c)
		if m := int32(c.missSendLen.Load()); m > max && (c.handshaken.Load()) {
			max = m
		}
	}
	a.connsSnap.Store(&s)
	a.maxMiss.Store(max)
}

// refreshMissSendLen recomputes the largest miss_send_len.
func (a *Agent) refreshMissSendLen() {
	a.mu.Lock()
	a.snapLocked()
	a.mu.Unlock()
}

// Connected reports whether a controller (an active target) has a
// connection that completed its handshake: what a fail mode decides on.
func (a *Agent) Connected() bool {
	for _, c := range *a.connsSnap.Load() {
		if !c.target.Kind.Passive() && c.handshaken.Load() {
			return true
		}
	}
	return false
}

// SetPacketInRate changes the packet-in rate limit (per second, < 0:
// unlimited) and burst.
func (a *Agent) SetPacketInRate(rate float64, burst int) { a.pin.setRate(rate, burst) }

// EmitPacketIn queues a packet for the controllers. It never blocks and
// never allocates: the event and as much of the frame as any controller
// may want are copied into the agent's preallocated queue, or the packet is
// dropped (rate limit, full queue) and counted; it reports whether the
// packet was queued.
func (a *Agent) EmitPacketIn(p *PacketIn) bool {
	keep := p.MaxLen
	switch {
	case keep == UseMissSendLen:
		keep = int(a.maxMiss.Load())
		if keep == int(ofp.ControllerNoBuffer) {
			keep = -1
		}
	case keep >= int(ofp.ControllerNoBuffer) || keep < 0:
		keep = -1 // all of it
	}
	if !a.pin.put(p, keep) {
		return false
	}
	return true
}

// EmitFlowRemoved sends a flow-removed message to the controllers that
// want it (reason under their async configuration). The match must be
// canonical. It does not block; when the event queue is full the message
// is dropped and counted.
func (a *Agent) EmitFlowRemoved(fr *ofp.FlowRemoved) {
	select {
	case a.events <- fr:
	default:
		a.counters.EventsDropped.Add(1)
	}
}

// EmitPortStatus announces a port added, deleted or changed
// (ofp.PortAdded, PortDeleted, PortModified).
func (a *Agent) EmitPortStatus(reason uint8, p ofp.Port) {
	select {
	case a.events <- &ofp.PortStatus{Reason: reason, Port: p}:
	default:
		a.counters.EventsDropped.Add(1)
	}
}

// dispatch sends queued events to the connections that want them.
func (a *Agent) dispatch() {
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.pin.notify:
			for {
				s, ud, data, ok := a.pin.peek()
				if !ok {
					break
				}
				a.sendPacketIn(&s, ud, data)
				a.pin.release()
			}
		case ev := <-a.events:
			for _, c := range *a.connsSnap.Load() {
				switch ev := ev.(type) {
				case *ofp.FlowRemoved:
					c.sendFlowRemoved(ev)
				case *ofp.PortStatus:
					c.sendPortStatus(ev)
				}
			}
		}
	}
}

func (a *Agent) sendPacketIn(s *pinSlot, ud, data []byte) {
	for _, c := range *a.connsSnap.Load() {
		c.sendPacketIn(s, ud, data)
	}
}

// flushEvents waits until the packet-ins queued so far have been handed to
// the connections (a barrier's promise covers them), up to d.
func (a *Agent) flushEvents(d time.Duration) {
	want := a.pin.lastSeq()
	deadline := time.Now().Add(d)
	for a.pin.processed.Load() < want && time.Now().Before(deadline) {
		select {
		case a.pin.notify <- struct{}{}:
		default:
		}
		time.Sleep(50 * time.Microsecond)
	}
	for i := 0; len(a.events) > 0 && time.Now().Before(deadline); i++ {
		time.Sleep(50 * time.Microsecond)
	}
}

// roleRequest applies a role change of c under the agent's generation id.
func (a *Agent) roleRequest(c *conn, role uint32, gen uint64, checkGen bool) (uint32, uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch role {
	case ofp.RoleNoChange:
		return c.role.Load(), a.genID, nil
	case ofp.RoleEqual, ofp.RoleMaster, ofp.RoleSlave:
	default:
		return 0, 0, ofp.Errorf(ofp.ErrRoleRequestFailed, ofp.RoleRequestFailedBadRole, "role %d (0 nochange, 1 equal, 2 master, 3 slave)", role)
	}
	if role != ofp.RoleEqual && checkGen {
		if a.genKnown && int64(gen-a.genID) < 0 {
			return 0, 0, ofp.Errorf(ofp.ErrRoleRequestFailed, ofp.RoleRequestFailedStale, "generation id %d is older than %d", gen, a.genID)
		}
		a.genID, a.genKnown = gen, true
	}
	if role == ofp.RoleMaster {
		for o := range a.conns {
			if o != c && o.role.Load() == ofp.RoleMaster {
				o.role.Store(ofp.RoleSlave)
				o.sendRoleStatus(ofp.RoleSlave, a.genID)
			}
		}
	}
	c.role.Store(role)
	return role, a.genID, nil
}

// ConnStatus describes one connection.
type ConnStatus struct {
	Target   string
	Remote   string
	Version  string
	Role     string
	Up       time.Duration
	Received uint64
	Sent     uint64
	Dropped  uint64
	Errors   uint64
}

// Status is an agent's state for `switchyard bridge show` and metrics.
type Status struct {
	Bridge      string
	Connected   bool // a controller is connected
	Connections []ConnStatus
	Controllers []ControllerStatus

	PacketInQueued   uint64
	PacketInSent     uint64
	PacketInDropRate uint64
	PacketInDropFull uint64
	AsyncDropped     uint64
	EventsDropped    uint64
	Accepted         uint64
	Refused          uint64
	ErrorsSent       uint64
	ClosedBad        uint64
}

// ControllerStatus describes an active target.
type ControllerStatus struct {
	Target    string
	Connected bool
	Attempts  uint64
	LastError string
}

// Status returns the agent's state.
func (a *Agent) Status() Status {
	st := Status{Bridge: a.cfg.Name, Connected: a.Connected(),
		PacketInQueued: a.pin.queued.Load(), PacketInSent: a.counters.PacketInSent.Load(),
		PacketInDropRate: a.pin.dropRate.Load(), PacketInDropFull: a.pin.dropFull.Load(),
		AsyncDropped: a.counters.AsyncDropped.Load(), EventsDropped: a.counters.EventsDropped.Load(),
		Accepted: a.counters.Accepted.Load(), Refused: a.counters.Refused.Load(),
		ErrorsSent: a.counters.Errors.Load(), ClosedBad: a.counters.Closed.Load()}
	for _, c := range *a.connsSnap.Load() {
		st.Connections = append(st.Connections, c.status())
	}
	a.mu.Lock()
	for _, d := range a.dialers {
		cs := ControllerStatus{Target: d.t.String(), Attempts: d.attempts.Load()}
		d.mu.Lock()
		cs.Connected = d.cur != nil && d.cur.handshaken.Load()
		d.mu.Unlock()
		if e := d.lastErr.Load(); e != nil {
			cs.LastError = *e
		}
		st.Controllers = append(st.Controllers, cs)
	}
	a.mu.Unlock()
	return st
}
