package vswitchd

import (
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
	"github.com/switchyard-net/switchyard/internal/stp"
)

// stpTick is how often a bridge's spanning tree timers run (STP keeps exact
// deadlines; RSTP counts whole seconds).
const stpTick = 50 * time.Millisecond

// bpduMaxLen is the longest BPDU frame kept (an RST BPDU is 53 bytes, 60
// with padding; longer frames are cut, which decoding tolerates).
const bpduMaxLen = 128

// stpRunner is one bridge's spanning tree in the daemon: BPDUs trapped by
// the bridge's control handler, carrier events of its ports, a ticker;
// what the protocol answers is applied to the engine — port states
// (Port.SetState), FDB flushes, short aging (SetAgingOverride) — and its
// BPDUs sent on the ports (Port.Transmit: any port type; through a patch
// port they reach the peer bridge's handler).
type stpRunner struct {
	log    *slog.Logger
	bridge string
	dp     *datapath.Bridge
	cfg    stp.Config

	// callMu serialises calls into st and the application of their
	// outputs, so port states change in the order the protocol decided.
	callMu sync.Mutex
	st     *stp.Bridge

	mu      sync.Mutex // guards ports, byDP and pending
	ports   map[uint16]*stpPort
	byDP    map[uint16]*stpPort
	pending []linkEvent

	bpdus     chan bpduMsg
	wake      chan struct{}
	rxDropped atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
}

type stpPort struct {
	no      uint16 // spanning tree port number
	bp      *datapath.Port
	name    string
	pcfg    stp.PortConfig
	link    bool
	cancel  func() // carrier watch
	changed time.Time
}

type bpduMsg struct {
	no   uint16 // datapath port number
	n    int
	data [bpduMaxLen]byte
}

type linkEvent struct {
	dpNo uint16
	up   bool
}

// newSTPRunner starts spanning tree on bridge dp with configuration cfg.
func newSTPRunner(log *slog.Logger, name string, dp *datapath.Bridge, cfg stp.Config) (*stpRunner, error) {
	st, err := stp.New(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	r := &stpRunner{log: log.With("bridge", name), bridge: name, dp: dp, cfg: cfg, st: st,
		ports: map[uint16]*stpPort{}, byDP: map[uint16]*stpPort{},
		bpdus: make(chan bpduMsg, 1024), wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	dp.SetControl(r.control)
	go r.loop()
	r.log.Info("spanning tree started", "protocol", cfg.Protocol, "bridge_id", st.ID())
	return r, nil
}

// control is the bridge's control-frame handler: BPDUs are queued for the
// loop (copied; a full queue drops and counts), other link-local frames
// go on through the pipeline.
func (r *stpRunner) control(p *datapath.Port, frame []byte) bool {
	if !stp.IsBPDU(frame) {
		return false
	}
	m := bpduMsg{no: p.Number(), n: min(len(frame), bpduMaxLen)}
	copy(m.data[:], frame)
	select {
	case r.bpdus <- m:
	default:
		r.rxDropped.Add(1)
	}
	return true
}

func (r *stpRunner) loop() {
	defer close(r.done)
	tick := time.NewTicker(stpTick)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case m := <-r.bpdus:
			r.mu.Lock()
			p := r.byDP[m.no]
			r.mu.Unlock()
			if p != nil {
				r.call(func(now time.Time) stp.Output { return r.st.Receive(p.no, m.data[:m.n], now) })
			}
		case <-r.wake:
			r.mu.Lock()
			ev := r.pending
			r.pending = nil
			r.mu.Unlock()
			for _, e := range ev {
				r.callLink(e)
			}
		case <-tick.C:
			r.call(r.st.Tick)
		}
	}
}

// setLink reports a port's link (from a carrier watch, a bond, a patch
// pair); it never blocks.
func (r *stpRunner) setLink(dpNo uint16, up bool) {
	r.mu.Lock()
	r.pending = append(r.pending, linkEvent{dpNo, up})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *stpRunner) callLink(e linkEvent) {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	r.mu.Lock()
	p := r.byDP[e.dpNo]
	r.mu.Unlock()
	if p == nil || p.link == e.up {
		return
	}
	p.link = e.up
	r.log.Info("spanning tree port link", "port", p.name, "up", e.up)
	r.apply(r.st.SetLink(p.no, e.up, 0, time.Now()))
}

// call runs fn on the protocol and applies its output.
func (r *stpRunner) call(fn func(time.Time) stp.Output) {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	r.apply(fn(time.Now()))
}

// apply does what the protocol asks, in its order: port states, flushes,
// aging, then BPDUs (r.callMu held).
func (r *stpRunner) apply(out stp.Output) {
	now := time.Now()
	for _, c := range out.Changes {
		p := r.port(c.Port)
		if p == nil {
			continue
		}
		p.bp.SetState(engineState(c.State))
		p.changed = now
		r.log.Info("spanning tree port", "port", p.name, "role", c.Role, "state", c.State)
	}
	for _, no := range out.Flushes {
		if p := r.port(no); p != nil {
			if n, err := r.dp.FlushFDB(p.name, -1); err == nil && n > 0 {
				r.log.Debug("spanning tree flush", "port", p.name, "entries", n)
			}
		}
	}
	if out.AgingChanged {
		r.dp.SetAgingOverride(out.AgingTime)
		r.log.Info("spanning tree aging", "short", out.AgingTime)
	}
	for _, f := range out.Frames {
		if p := r.port(f.Port); p != nil {
			p.bp.Transmit(f.Data)
		}
	}
}

func (r *stpRunner) port(no uint16) *stpPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ports[no]
}

// engineState maps a spanning tree state to the forwarding path's.
func engineState(s stp.State) datapath.PortState {
	switch s {
	case stp.Forwarding:
		return datapath.StateForwarding
	case stp.Learning:
		return datapath.StateLearning
	}
	return datapath.StateDiscarding
}

// addPort puts bridge port bp under spanning tree with link down; the
// caller then reports its link (setLink). The port discards until the
// protocol says otherwise.
func (r *stpRunner) addPort(bp *datapath.Port, pcfg stp.PortConfig) error {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	r.mu.Lock()
	if r.byDP[bp.Number()] != nil {
		r.mu.Unlock()
		return nil
	}
	no := bp.Number()
	if no == 0 || no > 4095 || r.ports[no] != nil {
		for no = 1; r.ports[no] != nil; no++ {
		}
	}
	p := &stpPort{no: no, bp: bp, name: bp.Name(), pcfg: pcfg}
	r.ports[no], r.byDP[bp.Number()] = p, p
	r.mu.Unlock()
	bp.SetState(datapath.StateDiscarding)
	out, err := r.st.AddPort(no, pcfg, time.Now())
	if err != nil {
		r.mu.Lock()
		delete(r.ports, no)
		delete(r.byDP, bp.Number())
		r.mu.Unlock()
		bp.SetState(datapath.StateForwarding)
		return err
	}
	r.apply(out)
	return nil
}

// setPortConfig changes a port's spanning tree settings in place.
func (r *stpRunner) setPortConfig(dpNo uint16, pcfg stp.PortConfig) error {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	r.mu.Lock()
	p := r.byDP[dpNo]
	r.mu.Unlock()
	if p == nil || p.pcfg == pcfg {
		return nil
	}
	out, err := r.st.SetPortConfig(p.no, pcfg, time.Now())
	if err != nil {
		return err
	}
	p.pcfg = pcfg
	r.apply(out)
	return nil
}

// removePort takes a port out of spanning tree (it is being removed from
// the bridge, or spanning tree stops); it forwards again.
func (r *stpRunner) removePort(dpNo uint16) {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	r.mu.Lock()
	p := r.byDP[dpNo]
	r.mu.Unlock()
	if p == nil {
		return
	}
	if p.cancel != nil {
		p.cancel()
	}
	r.apply(r.st.RemovePort(p.no, time.Now()))
	r.mu.Lock()
	delete(r.ports, p.no)
	delete(r.byDP, dpNo)
	r.mu.Unlock()
	p.bp.SetState(datapath.StateForwarding)
}

// setConfig changes the bridge's settings (a new protocol, priority,
// timers or address restarts the computation).
func (r *stpRunner) setConfig(cfg stp.Config) error {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	if cfg == r.cfg {
		return nil
	}
	out, err := r.st.SetConfig(cfg, time.Now())
	if err != nil {
		return err
	}
	r.cfg = cfg
	r.log.Info("spanning tree reconfigured", "protocol", cfg.Protocol, "bridge_id", r.st.ID())
	r.apply(out)
	return nil
}

// close stops spanning tree: the handler goes, every port forwards again
// (the hop limit contains loops from now on), aging is the bridge's.
func (r *stpRunner) close() {
	close(r.stop)
	<-r.done
	r.dp.SetControl(nil)
	r.callMu.Lock()
	defer r.callMu.Unlock()
	r.mu.Lock()
	ports := r.ports
	r.ports, r.byDP = map[uint16]*stpPort{}, map[uint16]*stpPort{}
	r.mu.Unlock()
	for _, p := range ports {
		if p.cancel != nil {
			p.cancel()
		}
		p.bp.SetState(datapath.StateForwarding)
	}
	r.dp.SetAgingOverride(0)
	r.log.Info("spanning tree stopped")
}

// status returns the bridge's spanning tree status with port names and
// the time of each port's last change.
func (r *stpRunner) status() *api.STPStatus {
	st := r.st.Status(time.Now())
	out := &api.STPStatus{Status: st, Ports: []api.STPPortStatus{}, RxQueueDropped: r.rxDropped.Load()}
	r.callMu.Lock()
	defer r.callMu.Unlock()
	for _, ps := range st.Ports {
		p := r.port(ps.Port)
		if p == nil {
			continue
		}
		out.Ports = append(out.Ports, api.STPPortStatus{PortStatus: ps, Name: p.name, ChangedAt: p.changed})
	}
	sort.Slice(out.Ports, func(i, j int) bool { return out.Ports[i].Name < out.Ports[j].Name })
	if st.RootPort != 0 {
		if p := r.port(st.RootPort); p != nil {
			out.RootPortName = p.name
		}
	}
	return out
}

// portStatus returns one port's spanning tree status, or nil.
func (r *stpRunner) portStatus(dpNo uint16, all *api.STPStatus) *api.STPPortStatus {
	r.mu.Lock()
	p := r.byDP[dpNo]
	r.mu.Unlock()
	if p == nil || all == nil {
		return nil
	}
	for i := range all.Ports {
		if all.Ports[i].Name == p.name {
			ps := all.Ports[i]
			return &ps
		}
	}
	return nil
}

// stpWanted returns the spanning tree configuration bridge b wants (nil:
// off), with its address.
func (s *Switch) stpWanted(b *config.Bridge) (*stp.Config, error) {
	c, on, err := b.STPConfig(s.bridgeMAC(b.Name))
	if err != nil || !on {
		return nil, err
	}
	return &c, nil
}

// reconcileSTP starts, reconfigures and stops the bridges' spanning trees
// and keeps their ports' settings and patch links in line (s.mu held).
func (s *Switch) reconcileSTP(cfg *config.Config) {
	l2 := s.l2()
	for name, r := range l2.stp {
		rb := s.bridges[name]
		var want *stp.Config
		if b := cfg.Bridges[name]; b != nil && rb != nil && rb.dp == r.dp {
			want, _ = s.stpWanted(b)
		}
		if want == nil || want.Protocol != r.cfg.Protocol {
			r.close()
			delete(l2.stp, name)
		}
	}
	for _, name := range cfg.BridgeNames() {
		rb := s.bridges[name]
		if rb == nil {
			continue
		}
		want, err := s.stpWanted(cfg.Bridges[name])
		if err != nil {
			s.log.Error("spanning tree config", "bridge", name, "err", err)
			continue
		}
		if want == nil {
			continue
		}
		r := l2.stp[name]
		if r == nil {
			if r, err = newSTPRunner(s.log, name, rb.dp, *want); err != nil {
				s.log.Error("spanning tree", "bridge", name, "err", err)
				continue
			}
			l2.stp[name] = r
		} else if err := r.setConfig(*want); err != nil {
			s.log.Error("spanning tree config", "bridge", name, "err", err)
		}
		for _, p := range cfg.PortsOf(name) {
			rp := s.ports[p.Name]
			if rp == nil || rp.bp == nil {
				continue
			}
			pcfg, err := p.STPPortConfig(want.Protocol)
			if err != nil {
				s.log.Error("spanning tree port config", "port", p.Name, "err", err)
				continue
			}
			r.mu.Lock()
			sp := r.byDP[rp.bp.Number()]
			r.mu.Unlock()
			if sp == nil {
				s.stpAttach(r, rp, pcfg)
				continue
			}
			if err := r.setPortConfig(rp.bp.Number(), pcfg); err != nil {
				s.log.Error("spanning tree port config", "port", p.Name, "err", err)
			}
			if rp.patch != nil {
				r.setLink(rp.bp.Number(), rp.status == "up")
			}
		}
	}
}

// stpAttach puts a started port under its bridge's spanning tree and
// starts reporting its link: carrier from netlink for OS devices, the
// bond's state for a bond, the pair's for a patch port, up for tunnels and
// in-memory devices.
func (s *Switch) stpAttach(r *stpRunner, rp *runPort, pcfg stp.PortConfig) {
	if err := r.addPort(rp.bp, pcfg); err != nil {
		s.log.Error("spanning tree port", "port", rp.cfg.Name, "err", err)
		return
	}
	no := rp.bp.Number()
	switch {
	case rp.patch != nil:
		r.setLink(no, rp.status == "up")
	case rp.cfg.Type == config.TypeBond:
		if bd, ok := rp.dev.(*bondDevice); ok {
			r.setLink(no, bd.setOnLink(func(up bool) { r.setLink(no, up) }))
		}
	case s.memory || rp.cfg.Tunnel != nil:
		r.setLink(no, true)
	default:
		ns := ""
		if rp.cfg.Type == config.TypeTAP {
			ns = rp.cfg.NetNS
		}
		cancel, err := s.l2().carrier.Watch(ns, rp.cfg.Name, func(up bool) { r.setLink(no, up) })
		if err != nil {
			s.log.Warn("no carrier events for port; assuming up", "port", rp.cfg.Name, "err", err)
			r.setLink(no, true)
			return
		}
		r.mu.Lock()
		if p := r.byDP[no]; p != nil {
			p.cancel = cancel
		} else {
			cancel()
		}
		r.mu.Unlock()
	}
}

// bridgeMAC is bridge name's hardware address: configured (hwaddr), or
// derived from the host and the bridge's name.
func (s *Switch) bridgeMAC(name string) packet.MAC {
	cfg, _ := s.store.Get()
	if b := cfg.Bridges[name]; b != nil {
		if m, err := b.BridgeMAC(); err == nil && !m.IsZero() {
			return m
		}
	}
	return derivedMAC(s.l2().identity, "bridge/"+name)
}
