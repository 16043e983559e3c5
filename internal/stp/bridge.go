package stp

import (
	"slices"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// PortCounters are one port's spanning tree counters.
type PortCounters struct {
	RxConfig   uint64 `json:"rx_config_bpdus"`
	RxTCN      uint64 `json:"rx_tcn_bpdus"`
	RxRST      uint64 `json:"rx_rst_bpdus"`
	RxBad      uint64 `json:"rx_bad_bpdus"`
	RxOwn      uint64 `json:"rx_own_bpdus"`
	TxConfig   uint64 `json:"tx_config_bpdus"`
	TxTCN      uint64 `json:"tx_tcn_bpdus"`
	TxRST      uint64 `json:"tx_rst_bpdus"`
	Forwarding uint64 `json:"forward_transitions"`
	TCDetected uint64 `json:"topology_changes_detected"`
	BPDUGuard  uint64 `json:"bpdu_guard_triggered"`
	RootGuard  uint64 `json:"root_guard_triggered"`
	Migrations uint64 `json:"protocol_migrations"`
}

type port struct {
	no    uint16
	cfg   PortConfig
	id    PortID
	cost  uint32
	speed int

	linkUp    bool
	guardDown bool // disabled by BPDU guard

	state State
	role  Role

	reported   bool
	repState   State
	repRole    Role
	counters   PortCounters
	rootGuard  bool // root guard is holding the port now
	operEdgeSt bool // STP's portfast state (RSTP keeps its own operEdge)

	c classicPort
	r rstpPort
}

// enabled is the port's MAC_Operational: link up, not guard-disabled.
func (p *port) enabled() bool { return p.linkUp && !p.guardDown }

func (p *port) src(b *Bridge) [6]byte {
	if !p.cfg.MAC.IsZero() {
		return p.cfg.MAC
	}
	return b.cfg.Address
}

// Bridge is the spanning tree of one bridge. It is safe for concurrent
// use; each call returns what the caller must do.
type Bridge struct {
	mu    sync.Mutex
	cfg   Config
	id    BridgeID
	ports map[uint16]*port
	order []uint16
	now   time.Time
	out   *Output

	c classicBridge
	r rstpBridge

	topologyChanges uint64
	lastTC          time.Time
	short           bool // short aging requested
}

// New returns a bridge with no ports.
func New(cfg Config, now time.Time) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bridge{cfg: cfg.withDefaults(), ports: map[uint16]*port{}, now: now}
	b.id = MakeBridgeID(b.cfg.Priority, b.cfg.Address)
	b.out = &Output{}
	b.begin(now)
	b.out = nil
	return b, nil
}

// call runs fn under the lock with a fresh Output and returns it with the
// port changes appended.
func (b *Bridge) call(now time.Time, fn func()) Output {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out Output
	b.out = &out
	if now.After(b.now) {
		b.advance(now)
	}
	if fn != nil {
		fn()
	}
	b.settle()
	b.report()
	b.out = nil
	return out
}

func (b *Bridge) advance(now time.Time) {
	if b.cfg.Protocol == RSTP {
		b.rstpAdvance(now)
	} else {
		b.now = now
		b.classicTimers()
	}
}

func (b *Bridge) settle() {
	if b.cfg.Protocol == RSTP {
		b.rstpMove()
	}
}

func (b *Bridge) begin(now time.Time) {
	b.now = now
	b.short = false
	if b.cfg.Protocol == RSTP {
		b.rstpBegin()
	} else {
		b.classicInit()
	}
}

// report appends a PortChange for every port whose state or role changed
// since the last report, and flushes ports that stopped learning.
func (b *Bridge) report() {
	for _, no := range b.order {
		p := b.ports[no]
		if p.reported && p.repState == p.state && p.repRole == p.role {
			continue
		}
		if p.reported && p.repState.Learns() && !p.state.Learns() {
			b.out.flush(no)
		}
		if p.state == Forwarding && (!p.reported || p.repState != Forwarding) {
			p.counters.Forwarding++
		}
		p.reported, p.repState, p.repRole = true, p.state, p.role
		b.out.Changes = append(b.out.Changes, PortChange{Port: no, State: p.state, Role: p.role})
	}
}

func (b *Bridge) send(p *port, bpdu *BPDU) {
	switch bpdu.Type {
	case TypeTCN:
		p.counters.TxTCN++
	case TypeRST:
		p.counters.TxRST++
	default:
		p.counters.TxConfig++
	}
	b.out.Frames = append(b.out.Frames, Frame{Port: p.no, Data: bpdu.AppendFrame(nil, p.src(b))})
}

func (b *Bridge) setAging(short bool) {
	if short == b.short {
		return
	}
	b.short = short
	b.out.AgingChanged = true
	b.out.AgingTime = 0
	if short {
		b.out.AgingTime = b.c.fwdDelay
	}
}

func (b *Bridge) noteTC() {
	b.topologyChanges++
	b.lastTC = b.now
}

// SetConfig changes the bridge's configuration. A change of protocol,
// priority or address restarts the spanning tree computation.
func (b *Bridge) SetConfig(cfg Config, now time.Time) (Output, error) {
	if err := cfg.Validate(); err != nil {
		return Output{}, err
	}
	cfg = cfg.withDefaults()
	for _, p := range b.snapshotPorts() {
		if err := p.Validate(cfg.Protocol); err != nil {
			return Output{}, err
		}
	}
	return b.call(now, func() {
		b.cfg = cfg
		b.id = MakeBridgeID(cfg.Priority, cfg.Address)
		for _, p := range b.ports {
			p.cost = b.portCost(p)
		}
		b.begin(b.now)
	}), nil
}

func (b *Bridge) snapshotPorts() []PortConfig {
	b.mu.Lock()
	defer b.mu.Unlock()
	var l []PortConfig
	for _, p := range b.ports {
		l = append(l, p.cfg)
	}
	return l
}

// Config returns the configuration with defaults filled in.
func (b *Bridge) Config() Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

func (b *Bridge) portCost(p *port) uint32 {
	if p.cfg.PathCost != 0 {
		return p.cfg.PathCost
	}
	return DefaultPathCost(p.speed, b.cfg.Protocol == RSTP)
}

// AddPort adds port no (1-4095) with its link down.
func (b *Bridge) AddPort(no uint16, cfg PortConfig, now time.Time) (Output, error) {
	if no == 0 || no > 4095 {
		return Output{}, errs.Invalidf("port", "port numbers 1-4095 for spanning tree", "%d", no)
	}
	if err := cfg.Validate(b.Config().Protocol); err != nil {
		return Output{}, err
	}
	var err error
	out := b.call(now, func() {
		if _, dup := b.ports[no]; dup {
			err = errs.Existsf("port", "port %d is already on the spanning tree bridge", no)
			return
		}
		cfg = cfg.withDefaults()
		p := &port{no: no, cfg: cfg, id: MakePortID(cfg.Priority, no)}
		p.cost = b.portCost(p)
		b.ports[no] = p
		b.order = append(b.order, no)
		slices.Sort(b.order)
		if b.cfg.Protocol == RSTP {
			b.rstpPortBegin(p)
		} else {
			b.classicInitPort(p)
			p.state = Disabled
		}
	})
	return out, err
}

// RemovePort removes port no.
func (b *Bridge) RemovePort(no uint16, now time.Time) Output {
	return b.call(now, func() {
		p := b.ports[no]
		if p == nil {
			return
		}
		// Take it down first so the tree recomputes without it: the
		// machines run with the port disabled (its role and state go),
		// then role selection runs again over the ports that remain.
		p.linkUp = false
		b.linkChanged(p)
		b.settle()
		delete(b.ports, no)
		b.order = slices.DeleteFunc(b.order, func(x uint16) bool { return x == no })
		if b.cfg.Protocol == RSTP {
			for _, q := range b.ports {
				q.r.reselect, q.r.selected = true, false
			}
		}
	})
}

// SetPortConfig changes a port's configuration.
func (b *Bridge) SetPortConfig(no uint16, cfg PortConfig, now time.Time) (Output, error) {
	if err := cfg.Validate(b.Config().Protocol); err != nil {
		return Output{}, err
	}
	var err error
	out := b.call(now, func() {
		p := b.ports[no]
		if p == nil {
			err = errs.NotFoundf("port", "port %d is not on the spanning tree bridge", no)
			return
		}
		p.cfg = cfg.withDefaults()
		p.id = MakePortID(p.cfg.Priority, no)
		p.cost = b.portCost(p)
		if b.cfg.Protocol == RSTP {
			b.rstpPortConfigChanged(p)
		} else {
			p.operEdgeSt = p.cfg.Edge == EdgeOn
			b.classicReconfigure()
		}
	})
	return out, err
}

// SetLink reports a port's link (carrier) and speed (Mbit/s, 0 unknown).
func (b *Bridge) SetLink(no uint16, up bool, speedMbps int, now time.Time) Output {
	return b.call(now, func() {
		p := b.ports[no]
		if p == nil {
			return
		}
		if !up {
			p.guardDown = false // a link down and up clears BPDU guard
		}
		p.speed = speedMbps
		if c := b.portCost(p); c != p.cost {
			p.cost = c
			if b.cfg.Protocol == RSTP {
				b.rstpPortConfigChanged(p)
			}
		}
		if p.linkUp == up {
			return
		}
		p.linkUp = up
		b.linkChanged(p)
	})
}

func (b *Bridge) linkChanged(p *port) {
	if b.cfg.Protocol == RSTP {
		b.rstpLinkChanged(p)
		return
	}
	if p.enabled() {
		b.classicEnablePort(p)
	} else {
		b.classicDisablePort(p)
	}
}

// MCheck forces RSTP's protocol migration check on a port (17.19.13): it
// sends RST BPDUs again and keeps them if the neighbour now runs RSTP.
func (b *Bridge) MCheck(no uint16, now time.Time) Output {
	return b.call(now, func() {
		if p := b.ports[no]; p != nil && b.cfg.Protocol == RSTP {
			p.r.mcheck = true
		}
	})
}

// ClearGuard re-enables a port that BPDU guard disabled.
func (b *Bridge) ClearGuard(no uint16, now time.Time) Output {
	return b.call(now, func() {
		if p := b.ports[no]; p != nil && p.guardDown {
			p.guardDown = false
			b.linkChanged(p)
		}
	})
}

// Receive hands a frame received on port no to spanning tree: a BPDU is
// processed, anything else ignored. Malformed BPDUs are counted and
// dropped. BPDUs arrive in every port state but disabled.
func (b *Bridge) Receive(no uint16, frame []byte, now time.Time) Output {
	return b.call(now, func() {
		p := b.ports[no]
		if p == nil || !p.enabled() {
			return
		}
		bpdu, err := DecodeFrame(frame)
		if err != nil {
			if err != ErrNotBPDU {
				p.counters.RxBad++
			}
			return
		}
		switch bpdu.Type {
		case TypeTCN:
			p.counters.RxTCN++
		case TypeRST:
			p.counters.RxRST++
		default:
			p.counters.RxConfig++
		}
		if p.cfg.BPDUGuard && (p.cfg.Edge == EdgeOn || p.operEdgeSt || b.cfg.Protocol == RSTP && p.r.operEdge) {
			// An edge port that hears a bridge: shut it (err-disable).
			p.counters.BPDUGuard++
			p.guardDown = true
			b.linkChanged(p)
			return
		}
		if bpdu.Type != TypeTCN && bpdu.Bridge == b.id && bpdu.Port == p.id {
			// Our own BPDU came back on the same port (a looped segment).
			p.counters.RxOwn++
			return
		}
		if b.cfg.Protocol == RSTP {
			b.rstpReceive(p, &bpdu)
		} else {
			b.classicReceive(p, &bpdu)
		}
	})
}

// Tick advances timers to now. Call it at least every 100 ms (or every
// second; RSTP's timers count whole seconds, STP's are exact).
func (b *Bridge) Tick(now time.Time) Output { return b.call(now, nil) }

// PortState returns a port's state and role.
func (b *Bridge) PortState(no uint16) (State, Role) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.ports[no]; p != nil {
		return p.state, p.role
	}
	return Disabled, RoleDisabled
}

// RootID returns the bridge ID of the root the bridge believes in.
func (b *Bridge) RootID() BridgeID {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cfg.Protocol == RSTP {
		return b.r.rootPriority.root
	}
	return b.c.designatedRoot
}

// ID returns the bridge's own identifier.
func (b *Bridge) ID() BridgeID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.id
}
