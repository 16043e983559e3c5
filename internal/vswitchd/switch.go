// Package vswitchd is the Switchyard daemon: it keeps the configuration in
// the store, reconciles the running bridges and devices to it (idempotently,
// also after a restart), ages the FDBs, and serves the API.
package vswitchd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
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
}

type runBridge struct {
	cfg config.Bridge
	dp  *datapath.Bridge
}

type runPort struct {
	cfg    config.Port
	bp     *datapath.BridgePort
	dev    netdev.Device // nil for patch and failed ports
	patch  *datapath.Patch
	cancel context.CancelFunc
	done   chan struct{}
	status string
	reason string
}

// newSwitch makes a switch over store; ctx bounds the devices' loops and
// offload says whether devices use offloads (vnet headers, GSO/GRO).
func newSwitch(ctx context.Context, store *config.Store, log *slog.Logger, offload bool) *Switch {
	return &Switch{
		store: store, log: log, ctx: ctx, start: time.Now(),
		bridges: map[string]*runBridge{}, ports: map[string]*runPort{},
		patchEnds: map[string]*datapath.Patch{}, static: map[string]config.StaticFDB{},
		tunnels: newTunnelManager(log, offload), offload: offload,
	}
}

// identity is what, when it changes, makes a port be torn down and built
// again (its VLAN settings change in place).
func identity(p *config.Port) string {
	t := ""
	if p.Tunnel != nil {
		t = fmt.Sprintf("%+v", *p.Tunnel)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", p.Type, p.Bridge, p.NetNS, p.Peer, p.VethPeer, t)
}

// Reconcile makes the running switch match the stored configuration. It is
// idempotent: running it twice changes nothing the second time.
func (s *Switch) Reconcile() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reconcileLocked()
}

func (s *Switch) reconcileLocked() {
	cfg, rev := s.store.Get()
	// 1. Ports that are gone or changed identity.
	for name, rp := range s.ports {
		want, ok := cfg.Ports[name]
		if !ok || identity(want) != identity(&rp.cfg) || cfg.Bridges[rp.cfg.Bridge] == nil {
			s.stopPort(rp, !ok || want.Type != rp.cfg.Type || want.NetNS != rp.cfg.NetNS)
		}
	}
	// 2. Bridges that are gone.
	for name, rb := range s.bridges {
		if _, ok := cfg.Bridges[name]; !ok {
			for _, rp := range s.ports {
				if rp.cfg.Bridge == name {
					s.stopPort(rp, true)
				}
			}
			delete(s.bridges, name)
			s.log.Info("bridge removed", "bridge", name)
			_ = rb
		}
	}
	// 3. Bridges to add or update.
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
			s.log.Info("bridge added", "bridge", name)
		} else if rb.cfg != *b {
			if err := rb.dp.SetConfig(dpcfg); err != nil {
				s.log.Error("bridge config", "bridge", name, "err", err)
			}
			rb.cfg = *b
		}
	}
	// 4. Ports to add (or retry) and VLAN settings to change.
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
	// 5. Static FDB entries: remove what went, (re)install what is wanted
	// (a restarted port lost its entries).
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
	s.log.Debug("reconciled", "revision", rev)
}

func fdbKey(e config.StaticFDB) string { return fmt.Sprintf("%s/%d/%s", e.Bridge, e.VLAN, e.MAC) }

// startPort creates the port's device and attaches it. A failure is kept as
// the port's status, and retried at the next reconcile.
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
	var dev datapath.Port
	switch p.Type {
	case config.TypeTAP:
		var t *netdev.TAP
		t, err = netdev.OpenTAP(p.Name, netdev.TAPOptions{NetNS: p.NetNS, Up: true, Offload: s.offload})
		if err == nil {
			rp.dev, dev = t, t
		}
	case config.TypeInternal:
		var t *netdev.TAP
		t, err = netdev.OpenInternal(p.Name, s.offload)
		if err == nil {
			rp.dev, dev = t, t
		}
	case config.TypeSystem:
		if p.VethPeer != "" {
			if ok, _ := netdev.LinkExists(p.Name, ""); !ok {
				// The veth went away (a reboot, someone deleted it): make it again.
				if err = netdev.CreateVeth(p.Name, p.VethPeer, p.NetNS, 0, s.offload); err != nil {
					break
				}
			}
		}
		var sys *netdev.System
		sys, err = netdev.OpenSystem(p.Name, "", s.offload)
		if err == nil {
			rp.dev, dev = sys, sys
		}
	case config.TypePatch:
		peer := s.ports[p.Peer]
		if end, ok := s.patchEnds[p.Name]; ok && peer != nil && peer.patch != nil && peer.patch.Peer() == end {
			rp.patch = end
			delete(s.patchEnds, p.Name)
		} else {
			a, b := datapath.NewPatchPair()
			rp.patch = a
			s.patchEnds[p.Peer] = b
		}
		dev = rp.patch
	case config.TypeVXLAN, config.TypeGeneve, config.TypeGRE:
		var d netdev.Device
		d, err = s.tunnels.open(p)
		if err == nil {
			rp.dev, dev = d, d
		}
	default:
		err = fmt.Errorf("port type %q is not supported", p.Type)
	}
	if err != nil {
		rp.status, rp.reason = "error", err.Error()
		s.log.Warn("port not started", "port", p.Name, "type", p.Type, "err", err)
		return
	}
	bp, err := rb.dp.AddPort(p.Name, dev, dpcfg)
	if err != nil {
		if rp.dev != nil {
			rp.dev.Close()
		}
		rp.status, rp.reason = "error", err.Error()
		return
	}
	rp.bp = bp
	rp.status, rp.reason = "up", ""
	if rp.patch != nil {
		rp.patch.Attach(bp)
		if s.ports[p.Peer] == nil || s.ports[p.Peer].patch == nil {
			rp.status, rp.reason = "down", "peer "+p.Peer+" missing"
		} else if pr := s.ports[p.Peer]; pr.status == "down" && pr.patch.Peer() == rp.patch {
			pr.status, pr.reason = "up", ""
		}
		s.log.Info("port added", "port", p.Name, "type", p.Type, "bridge", p.Bridge, "status", rp.status)
		return
	}
	s.tunnels.attach(rp)
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
	s.log.Info("port added", "port", p.Name, "type", p.Type, "bridge", p.Bridge)
}

// stopPort detaches a port; with remove it also deletes the OS device
// Switchyard created for it.
func (s *Switch) stopPort(rp *runPort, remove bool) {
	name := rp.cfg.Name
	if rp.cancel != nil {
		rp.cancel()
	}
	if rp.dev != nil {
		rp.dev.Close()
	}
	if rp.done != nil {
		<-rp.done
	}
	s.tunnels.detach(rp)
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
	if remove && rp.cfg.Created {
		var err error
		switch rp.cfg.Type {
		case config.TypeTAP:
			err = netdev.DeleteTAP(name, rp.cfg.NetNS)
		case config.TypeInternal, config.TypeSystem:
			err = netdev.DeleteLink(name, "")
		}
		if err != nil && !errors.Is(err, netdev.ErrNotExist) {
			s.log.Warn("could not delete device", "port", name, "err", err)
		}
	}
	s.log.Info("port removed", "port", name, "deleted_device", remove && rp.cfg.Created)
}

// close stops every port (keeping the OS devices: VMs keep their NICs).
func (s *Switch) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rp := range s.ports {
		s.stopPort(rp, false)
	}
	s.tunnels.close()
}

// tick advances every bridge's clock (and ages its FDB).
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

// Show reports every bridge and port with status and counters.
func (s *Switch) Show() *api.Show {
	cfg, rev := s.store.Get()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &api.Show{Revision: rev}
	for _, name := range cfg.BridgeNames() {
		out.Bridges = append(out.Bridges, s.bridgeStatus(cfg, name))
	}
	return out
}

func (s *Switch) bridgeStatus(cfg *config.Config, name string) api.BridgeStatus {
	b := cfg.Bridges[name]
	bs := api.BridgeStatus{Bridge: *b, Ports: []api.PortStatus{}}
	if rb := s.bridges[name]; rb != nil {
		c := rb.dp.Config()
		bs.AgingSeconds, bs.MaxLearned, bs.FullPolicy = int(c.AgingTime/time.Second), c.MaxLearned, c.FullPolicy.String()
		bs.FDB = rb.dp.Stats().FDB
	}
	for _, p := range cfg.PortsOf(name) {
		bs.Ports = append(bs.Ports, s.portStatus(p))
	}
	return bs
}

func (s *Switch) portStatus(p *config.Port) api.PortStatus {
	ps := api.PortStatus{Port: *p, Status: "down", Reason: "not started", Stats: datapath.PortStats{Drops: map[string]uint64{}}}
	if rp := s.ports[p.Name]; rp != nil {
		ps.Status, ps.Reason = rp.status, rp.reason
		if rp.bp != nil {
			ps.Number = rp.bp.Number()
			ps.Stats = rp.bp.Counters().Snapshot()
		}
		s.tunnels.status(rp, &ps)
		if r, ok := rp.dev.(netdev.OffloadReporter); ok {
			ps.Offloads = r.Offloads()
		}
	}
	return ps
}
