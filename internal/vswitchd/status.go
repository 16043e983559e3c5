package vswitchd

import (
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

// Show reports every bridge and port with status and counters.
func (s *Switch) Show() *api.Show {
	cfg, rev := s.store.Get()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &api.Show{Revision: rev, Bridges: []api.BridgeStatus{}}
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
		st := rb.dp.Stats()
		bs.FDB, bs.Cache, bs.Rules = st.FDB, st.Cache, st.Rules
	}
	s.l2BridgeStatus(name, &bs)
	bs.OpenFlow = s.ofStatus(name)
	for _, p := range cfg.PortsOf(name) {
		bs.Ports = append(bs.Ports, s.portStatus(p))
		if rp := s.ports[p.Name]; rp != nil {
			s.l2PortStatus(rp, &bs.Ports[len(bs.Ports)-1], &bs)
		}
	}
	return bs
}

func (s *Switch) portStatus(p *config.Port) api.PortStatus {
	ps := api.PortStatus{Port: *p, Status: "down", Reason: "not started", Stats: datapath.PortStats{Drops: map[string]uint64{}}}
	if rp := s.ports[p.Name]; rp != nil {
		ps.Status, ps.Reason = rp.status, rp.reason
		if rp.bp != nil {
			ps.Stats = rp.bp.Counters().Snapshot()
		}
		s.tunnels.status(rp, &ps)
		if r, ok := rp.dev.(netdev.OffloadReporter); ok {
			ps.Offloads = r.Offloads()
		}
	}
	return ps
}
