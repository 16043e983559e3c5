package vswitchd

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/netdev"
	"github.com/switchyard-net/switchyard/internal/overlay"
)

// tunnelManager opens tunnel ports (VXLAN, Geneve, GRE) and keeps their
// VNI demultiplexing in line with the bridge ports' settings.
type tunnelManager struct {
	log *slog.Logger
	m   *overlay.Manager
}

func newTunnelManager(log *slog.Logger, offload bool) tunnelManager {
	return tunnelManager{log: log, m: overlay.NewManager(log, offload)}
}

// overlayConfig converts a stored tunnel configuration (validated on
// commit) to the overlay's.
func overlayConfig(p *config.Port) (overlay.PortConfig, error) {
	t := p.Tunnel
	var c overlay.PortConfig
	var err error
	if c.Encap, err = overlay.ParseEncap(p.Type); err != nil {
		return c, err
	}
	if c.Local, err = netip.ParseAddr(t.Local); err != nil {
		return c, fmt.Errorf("local: %w", err)
	}
	for _, r := range t.Remotes {
		a, err := netip.ParseAddr(r)
		if err != nil {
			return c, fmt.Errorf("remote: %w", err)
		}
		c.Remotes = append(c.Remotes, a)
	}
	if t.Group != "" {
		if c.Group, err = netip.ParseAddr(t.Group); err != nil {
			return c, fmt.Errorf("group: %w", err)
		}
	}
	c.Dev = t.Dev
	c.DstPort = uint16(t.DstPort)
	c.SrcPortMin, c.SrcPortMax = uint16(t.SrcPortMin), uint16(t.SrcPortMax)
	c.NoUDPCsum = t.UDPCsum == "off"
	c.TTL = uint8(t.TTL)
	if t.TOS == "inherit" {
		c.InheritTOS = true
	} else if t.TOS != "" {
		n, _ := strconv.Atoi(t.TOS)
		c.TOS = uint8(n)
	}
	return c, nil
}

func (m *tunnelManager) open(p *config.Port) (netdev.Device, error) {
	c, err := overlayConfig(p)
	if err != nil {
		return nil, err
	}
	return m.m.OpenPort(p.Name, c)
}

// attach is done by the port's Run (it registers the VNIs).
func (m *tunnelManager) attach(rp *runPort) {}

// refresh re-registers the VNIs after a port's settings changed.
func (m *tunnelManager) refresh(rp *runPort) {
	if tp, ok := rp.dev.(*overlay.Port); ok && rp.bp != nil {
		if err := tp.Attach(rp.bp); err != nil {
			rp.status, rp.reason = "error", err.Error()
		}
	}
}

func (m *tunnelManager) detach(rp *runPort) {}

func (m *tunnelManager) status(rp *runPort, ps *api.PortStatus) {
	tp, ok := rp.dev.(*overlay.Port)
	if !ok {
		return
	}
	ps.MTU, ps.Overhead, ps.VMMTU = tp.UnderlayMTU(), tp.Overhead(), tp.VMMTU()
	s := m.m.Stats(tp)
	if s.BadHeader > 0 {
		ps.Stats.Drops["socket-bad-tunnel"] = s.BadHeader
	}
	if s.UnknownVNI > 0 {
		ps.Stats.Drops["socket-unknown-vni"] = s.UnknownVNI
	}
}

func (m *tunnelManager) close() { _ = m.m.Close() }
