// Package vswitchd is the Switchyard daemon: it keeps the configuration in
// the store, reconciles the running bridges and devices to it (idempotently,
// also after a restart), ages the FDBs, and is the backend every front end
// calls (the HTTP API, and the OpenFlow and OVSDB front ends). It returns
// typed domain errors (package errs); only the front ends translate them.
package vswitchd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

// Switch is the running switch: bridges, ports and their devices, kept in
// line with the store.
type Switch struct {
	store *config.Store
	log   *slog.Logger
	ctx   context.Context
	start time.Time

	mu      sync.Mutex // serialises reconcile and API changes
	bridges map[string]*runBridge
	ports   map[string]*runPort
	// patchEnds holds, per patch port name, the end of a pair whose other
	// end is already attached, waiting for this port to start.
	patchEnds map[string]*datapath.Patch
	static    map[string]config.StaticFDB
	tunnels   tunnelManager
	offload   bool // devices use offloads (vnet headers, GSO/GRO)
	memory    bool // every port is an in-memory device (tests, dry runs)

	l2s *l2State // spanning trees, carrier watcher (l2.go)
	// obs is the observer (observe.go): events, captures, metrics, the
	// doctor; nil until Run starts it.
	obs *observer
	of  ofState // the bridges' OpenFlow agents (openflow.go)
}

type runBridge struct {
	cfg config.Bridge
	dp  *datapath.Bridge
}

type runPort struct {
	cfg    config.Port
	bp     *datapath.Port
	dev    netdev.Device // nil for patch and failed ports
	patch  *datapath.Patch
	cancel context.CancelFunc
	done   chan struct{}
	status string
	reason string
}

// newSwitch makes a switch over store; ctx bounds the devices' loops,
// offload says whether devices use offloads (vnet headers, GSO/GRO), memory
// makes every port an in-memory device.
func newSwitch(ctx context.Context, store *config.Store, log *slog.Logger, offload, memory bool) *Switch {
	return &Switch{
		store: store, log: log, ctx: ctx, start: time.Now(),
		bridges: map[string]*runBridge{}, ports: map[string]*runPort{},
		patchEnds: map[string]*datapath.Patch{}, static: map[string]config.StaticFDB{},
		tunnels: newTunnelManager(log, offload), offload: offload, memory: memory,
	}
}

// identity is what, when it changes, makes a port be torn down and built
// again (its VLAN settings change in place).
func identity(p *config.Port) string {
	t := ""
	if p.Tunnel != nil {
		t = fmt.Sprintf("%+v", *p.Tunnel)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%d|%s|%s", p.Type, p.Bridge, p.NetNS, p.Peer, p.VethPeer, p.OFPort, t, bondIdentity(p))
}

// Reconcile makes the running switch match the stored configuration. It is
// idempotent: running it twice changes nothing the second time.
func (s *Switch) Reconcile() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reconcileLocked()
}

// reconcileLocked runs the phases of a reconcile, one function each (as
// Open vSwitch's bridge_reconfigure).
func (s *Switch) reconcileLocked() {
	cfg, rev := s.store.Get()
	s.removeStalePorts(cfg)
	s.removeStaleBridges(cfg)
	s.configureBridges(cfg)
	s.reconcileL2(cfg) // spanning trees run before their ports forward
	s.configurePorts(cfg)
	s.configureStaticFDB(cfg)
	s.reconcileL2(cfg)
	s.configureOpenFlow(cfg)
	s.log.Debug("reconciled", "revision", rev)
}

// removeStalePorts stops ports that are gone or changed identity.
func (s *Switch) removeStalePorts(cfg *config.Config) {
	for name, rp := range s.ports {
		want, ok := cfg.Ports[name]
		if !ok || identity(want) != identity(&rp.cfg) || cfg.Bridges[rp.cfg.Bridge] == nil {
			s.stopPort(rp, !ok || want.Type != rp.cfg.Type || want.NetNS != rp.cfg.NetNS)
		}
	}
}

// removeStaleBridges stops bridges that are gone.
func (s *Switch) removeStaleBridges(cfg *config.Config) {
	for name := range s.bridges {
		if _, ok := cfg.Bridges[name]; ok {
			continue
		}
		for _, rp := range s.ports {
			if rp.cfg.Bridge == name {
				s.stopPort(rp, true)
			}
		}
		delete(s.bridges, name)
		s.log.Info("bridge removed", "bridge", name)
	}
}

// configureBridges creates new bridges (with their stored flows, before any
// port forwards a frame) and applies changed settings.
func (s *Switch) configureBridges(cfg *config.Config) {
	for _, name := range cfg.BridgeNames() {
		b := cfg.Bridges[name]
		dpcfg, err := b.DatapathConfig()
		if err != nil { // validated on commit; cannot happen
			s.log.Error("bridge config", "bridge", name, "err", err)
			continue
		}
		rb, ok := s.bridges[name]
		if !ok {
			dp, err := datapath.NewBridge(name, dpcfg)
			if err != nil {
				s.log.Error("create bridge", "bridge", name, "err", err)
				continue
			}
			rb = &runBridge{cfg: *b, dp: dp}
			s.bridges[name] = rb
			s.initSecureFlows(rb)
			s.restoreFlows(rb)
			dp.OnFlowRemoved(func(l []datapath.FlowRemoved) { s.flowsExpired(name, l); s.ofFlowsRemoved(name, l) })
			s.observeBridge(name, dp)
			s.log.Info("bridge added", "bridge", name)
		} else if rb.cfg != *b {
			if err := rb.dp.SetConfig(dpcfg); err != nil {
				s.log.Error("bridge config", "bridge", name, "err", err)
			}
			rb.cfg = *b
		}
	}
}

// configurePorts adds (or retries) ports and changes VLAN settings in place.
func (s *Switch) configurePorts(cfg *config.Config) {
	var names []string
	for n := range cfg.Ports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p := cfg.Ports[name]
		rp, ok := s.ports[name]
		switch {
		case !ok || rp.status != "up":
			if ok {
				s.stopPort(rp, false)
			}
			s.startPort(p)
		case p.VLAN != rp.cfg.VLAN || p.Trunks != rp.cfg.Trunks || p.NativeVLAN != rp.cfg.NativeVLAN ||
			p.NativeTagged != rp.cfg.NativeTagged || p.NoLearning != rp.cfg.NoLearning:
			dpcfg, _ := p.DatapathConfig()
			if err := rp.bp.SetConfig(dpcfg); err != nil {
				s.log.Error("port config", "port", name, "err", err)
				continue
			}
			s.tunnels.refresh(rp)
			rp.cfg = *p
			s.log.Info("port settings changed", "port", name)
		}
	}
}

// configureStaticFDB removes static entries that went and (re)installs the
// wanted ones (a restarted port lost its entries).
func (s *Switch) configureStaticFDB(cfg *config.Config) {
	want := map[string]config.StaticFDB{}
	for _, e := range cfg.FDB {
		want[fdbKey(e)] = e
	}
	for k, e := range s.static {
		if _, ok := want[k]; !ok {
			if rb := s.bridges[e.Bridge]; rb != nil {
				if mac, err := net.ParseMAC(e.MAC); err == nil {
					_ = rb.dp.DeleteFDB([6]byte(mac), uint16(e.VLAN))
				}
			}
			delete(s.static, k)
		}
	}
	for k, e := range want {
		rb := s.bridges[e.Bridge]
		if rb == nil {
			continue
		}
		mac, _ := net.ParseMAC(e.MAC)
		var remote netip.Addr
		if e.Remote != "" {
			remote, _ = netip.ParseAddr(e.Remote)
		}
		if err := rb.dp.AddStaticFDB([6]byte(mac), uint16(e.VLAN), e.Port, remote); err != nil {
			s.log.Warn("static fdb entry not installed", "bridge", e.Bridge, "mac", e.MAC, "err", err)
			continue
		}
		s.static[k] = e
	}
}

func fdbKey(e config.StaticFDB) string { return fmt.Sprintf("%s/%d/%s", e.Bridge, e.VLAN, e.MAC) }

// startPort creates the port's device and attaches it with its stored port
// number. A failure is kept as the port's status, and retried at the next
// reconcile.
func (s *Switch) startPort(p *config.Port) {
	rb := s.bridges[p.Bridge]
	rp := &runPort{cfg: *p, status: "down"}
	s.ports[p.Name] = rp
	if rb == nil {
		rp.reason = "bridge missing"
		return
	}
	dpcfg, err := p.DatapathConfig()
	if err != nil {
		rp.status, rp.reason = "error", err.Error()
		return
	}
	var dev datapath.Device
	if p.Type == config.TypePatch {
		rp.patch = s.patchEnd(p)
		dev = rp.patch
	} else {
		var k deviceKind
		if k, err = s.kindOf(p); err == nil {
			rp.dev, err = k.open(s, p)
			dev = rp.dev
		}
		if err != nil {
			rp.status, rp.reason = "error", err.Error()
			s.log.Warn("port not started", "port", p.Name, "type", p.Type, "err", err)
			return
		}
	}
	bp, err := rb.dp.AddPortNumber(p.Name, uint16(p.OFPort), dev, dpcfg)
	if err != nil {
		if rp.dev != nil {
			rp.dev.Close()
		}
		rp.status, rp.reason = "error", err.Error()
		return
	}
	rp.bp = bp
	rp.status, rp.reason = "up", ""
	s.l2PortStarted(rp)
	if rp.patch != nil {
		s.attachPatch(rp)
		s.log.Info("port added", "port", p.Name, "type", p.Type, "bridge", p.Bridge, "ofport", p.OFPort, "status", rp.status)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	rp.cancel, rp.done = cancel, make(chan struct{})
	go func(dev netdev.Device) {
		defer close(rp.done)
		if err := dev.Run(ctx, bp); err != nil && ctx.Err() == nil {
			s.log.Error("port receive loop stopped", "port", p.Name, "err", err)
			s.mu.Lock()
			rp.status, rp.reason = "error", err.Error()
			s.mu.Unlock()
		}
	}(rp.dev)
	s.log.Info("port added", "port", p.Name, "type", p.Type, "bridge", p.Bridge, "ofport", p.OFPort)
}

// patchEnd returns the patch end for port p: the waiting end of a pair whose
// other port is already up, or one end of a new pair.
func (s *Switch) patchEnd(p *config.Port) *datapath.Patch {
	peer := s.ports[p.Peer]
	if end, ok := s.patchEnds[p.Name]; ok && peer != nil && peer.patch != nil && peer.patch.Peer() == end {
		delete(s.patchEnds, p.Name)
		return end
	}
	a, b := datapath.NewPatchPair()
	s.patchEnds[p.Peer] = b
	return a
}

// attachPatch attaches a started patch port's end and brings the pair up
// when both ends are there.
func (s *Switch) attachPatch(rp *runPort) {
	rp.patch.Attach(rp.bp)
	p := &rp.cfg
	if s.ports[p.Peer] == nil || s.ports[p.Peer].patch == nil {
		rp.status, rp.reason = "down", "peer "+p.Peer+" missing"
	} else if pr := s.ports[p.Peer]; pr.status == "down" && pr.patch.Peer() == rp.patch {
		pr.status, pr.reason = "up", ""
	}
}

// stopPort detaches a port; with remove it also deletes the OS device
// Switchyard created for it.
func (s *Switch) stopPort(rp *runPort, remove bool) {
	name := rp.cfg.Name
	s.l2PortStopping(rp)
	if rp.cancel != nil {
		rp.cancel()
	}
	if rp.dev != nil {
		rp.dev.Close()
	}
	if rp.done != nil {
		<-rp.done
	}
	if rb := s.bridges[rp.cfg.Bridge]; rb != nil && rp.bp != nil {
		_ = rb.dp.RemovePort(name)
	}
	if rp.patch != nil {
		rp.patch.Attach(nil)
		delete(s.patchEnds, name)
		// The peer's end belongs to this pair: restart it with a new pair.
		if peer := s.ports[rp.cfg.Peer]; peer != nil && peer.patch != nil && peer.patch.Peer() == rp.patch {
			peer.status, peer.reason = "down", "peer "+name+" missing"
		}
		delete(s.patchEnds, rp.cfg.Peer)
	}
	delete(s.ports, name)
	for k, e := range s.static {
		if e.Port == name {
			delete(s.static, k)
		}
	}
	if remove {
		s.removeDevice(&rp.cfg)
	}
	s.log.Info("port removed", "port", name, "deleted_device", remove && rp.cfg.Created)
}

// close stops every port (keeping the OS devices: VMs keep their NICs).
func (s *Switch) close() {
	s.stopOpenFlow()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rp := range s.ports {
		s.stopPort(rp, false)
	}
	s.l2Close()
	s.tunnels.close()
}

// tick advances every bridge's clock (and ages its FDB, expires rules,
// sweeps its decision cache).
func (s *Switch) tick(now time.Time) {
	s.mu.Lock()
	brs := make([]*datapath.Bridge, 0, len(s.bridges))
	for _, rb := range s.bridges {
		brs = append(brs, rb.dp)
	}
	s.mu.Unlock()
	for _, b := range brs {
		b.Tick(now)
	}
}
