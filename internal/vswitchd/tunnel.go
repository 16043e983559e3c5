package vswitchd

import (
	"fmt"
	"log/slog"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

// tunnelManager opens tunnel ports (VXLAN, Geneve, GRE) and keeps their
// VNI demultiplexing in line with the bridge ports' settings.
type tunnelManager struct {
	log *slog.Logger
}

func newTunnelManager(log *slog.Logger) tunnelManager { return tunnelManager{log: log} }

func (m *tunnelManager) open(p *config.Port) (netdev.Device, error) {
	return nil, fmt.Errorf("%s ports are not available in this build", p.Type)
}

func (m *tunnelManager) attach(rp *runPort)                     {}
func (m *tunnelManager) refresh(rp *runPort)                    {}
func (m *tunnelManager) detach(rp *runPort)                     {}
func (m *tunnelManager) status(rp *runPort, ps *api.PortStatus) {}
func (m *tunnelManager) close()                                 {}
