package vswitchd

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/netdev"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// l2State is the switch's link-layer control state: a spanning tree per
// bridge that runs one, and the carrier watcher its ports and bonds share.
type l2State struct {
	carrier *netdev.CarrierWatcher
	stp     map[string]*stpRunner
	// identity is what derived addresses are made from: the host's
	// machine ID and the daemon's network namespace.
	identity string
}

// l2 returns the switch's L2 state, made on first use (s.mu held).
func (s *Switch) l2() *l2State {
	if s.l2s == nil {
		s.l2s = &l2State{carrier: netdev.NewCarrierWatcher(s.log), stp: map[string]*stpRunner{}, identity: hostIdentity()}
	}
	return s.l2s
}

// hostIdentity is the machine ID and the network namespace the daemon
// runs in: two daemons on one host (in two namespaces) or on two hosts
// derive different bridge addresses, and a restarted daemon the same.
func hostIdentity() string {
	id, _ := os.ReadFile("/etc/machine-id")
	ns, _ := os.Readlink("/proc/self/ns/net")
	host, _ := os.Hostname()
	return strings.TrimSpace(string(id)) + "|" + ns + "|" + host
}

// derivedMAC is a stable, locally administered unicast address for what.
func derivedMAC(identity, what string) packet.MAC {
	h := sha256.Sum256([]byte(identity + "|" + what))
	m := packet.MAC(h[:6])
	m[0] = m[0]&^1 | 2
	return m
}

// reconcileL2 is reconcile's link-layer phase: spanning trees (s.mu held).
func (s *Switch) reconcileL2(cfg *config.Config) { s.reconcileSTP(cfg) }

// l2PortStarted puts a port that just started under its bridge's spanning
// tree before its device receives anything (s.mu held).
func (s *Switch) l2PortStarted(rp *runPort) {
	r := s.l2().stp[rp.cfg.Bridge]
	if r == nil || rp.bp == nil {
		return
	}
	pcfg, err := rp.cfg.STPPortConfig(r.cfg.Protocol)
	if err != nil {
		s.log.Error("spanning tree port config", "port", rp.cfg.Name, "err", err)
		return
	}
	s.stpAttach(r, rp, pcfg)
}

// l2PortStopping takes a port out of spanning tree before it goes (s.mu
// held).
func (s *Switch) l2PortStopping(rp *runPort) {
	if rp.bp == nil {
		return
	}
	if r := s.l2().stp[rp.cfg.Bridge]; r != nil {
		r.removePort(rp.bp.Number())
	}
}

// l2Close stops every spanning tree and the carrier watcher (s.mu held).
func (s *Switch) l2Close() {
	if s.l2s == nil {
		return
	}
	for name, r := range s.l2s.stp {
		r.close()
		delete(s.l2s.stp, name)
	}
	s.l2s.carrier.Close()
}

// l2BridgeStatus adds the bridge's spanning tree to its status (s.mu held).
func (s *Switch) l2BridgeStatus(name string, bs *api.BridgeStatus) {
	if s.l2s == nil {
		return
	}
	if r := s.l2s.stp[name]; r != nil {
		bs.SpanningTree = r.status()
	}
}

// l2PortStatus adds a port's spanning tree role and state and, for a
// bond, the bond's status (s.mu held).
func (s *Switch) l2PortStatus(rp *runPort, ps *api.PortStatus, bs *api.BridgeStatus) {
	if bd, ok := rp.dev.(*bondDevice); ok {
		st := bd.status()
		ps.BondStatus = &st
	}
	if s.l2s == nil || rp.bp == nil {
		return
	}
	if r := s.l2s.stp[rp.cfg.Bridge]; r != nil {
		var all *api.STPStatus
		if bs != nil && bs.SpanningTree != nil {
			all = bs.SpanningTree
		} else {
			all = r.status()
		}
		ps.SpanningTree = r.portStatus(rp.bp.Number(), all)
	}
}

// bondIdentity is the part of a bond port's settings that rebuilds it when
// it changes (its members and modes).
func bondIdentity(p *config.Port) string {
	if p.Bond == nil {
		return ""
	}
	return fmt.Sprintf("%+v", *p.Bond)
}
