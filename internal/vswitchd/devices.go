package vswitchd

import (
	"errors"

	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

// deviceKind is how the daemon makes the device of one port type: one
// registration per type (Open vSwitch's netdev providers), so reconcile
// has no switch on the type and a new type is one entry.
type deviceKind struct {
	// check runs before a port is stored, for what the store cannot see
	// (a namespace exists, an interface exists); it may set p.Created.
	check func(s *Switch, p *config.Port) error
	// open creates or adopts the port's device.
	open func(s *Switch, p *config.Port) (netdev.Device, error)
	// remove deletes the OS device Switchyard created for a deleted port.
	remove func(p *config.Port) error
}

// kinds are the OS device types. Patch ports are the engine's own (see
// patchDevice); in memory mode every other type is a netdev.Memory.
var kinds = map[string]deviceKind{
	config.TypeTAP: {
		check: func(s *Switch, p *config.Port) error {
			if p.NetNS != "" && !netdev.NetNSExists(p.NetNS) {
				return errs.Invalidf("netns", "an existing namespace (ip netns add NAME)", "netns %q does not exist", p.NetNS)
			}
			ok, err := netdev.LinkExists(p.Name, p.NetNS)
			if err != nil {
				return errs.Failedf("name", err, "%v", err)
			}
			p.Created = !ok
			return nil
		},
		open: func(s *Switch, p *config.Port) (netdev.Device, error) {
			return netdev.OpenTAP(p.Name, netdev.TAPOptions{NetNS: p.NetNS, Up: true, Offload: s.offload})
		},
		remove: func(p *config.Port) error { return netdev.DeleteTAP(p.Name, p.NetNS) },
	},
	config.TypeInternal: {
		check: func(s *Switch, p *config.Port) error {
			ok, err := netdev.LinkExists(p.Name, "")
			if err != nil {
				return errs.Failedf("name", err, "%v", err)
			}
			p.Created = !ok
			return nil
		},
		open:   func(s *Switch, p *config.Port) (netdev.Device, error) { return netdev.OpenInternal(p.Name, s.offload) },
		remove: func(p *config.Port) error { return netdev.DeleteLink(p.Name, "") },
	},
	config.TypeSystem: {
		check: func(s *Switch, p *config.Port) error {
			if p.VethPeer == "" {
				if ok, _ := netdev.LinkExists(p.Name, ""); !ok {
					return errs.Invalidf("name", "an existing interface in the daemon's namespace", "interface %q does not exist", p.Name)
				}
			}
			return nil
		},
		open: func(s *Switch, p *config.Port) (netdev.Device, error) {
			if p.VethPeer != "" {
				if ok, _ := netdev.LinkExists(p.Name, ""); !ok {
					// The veth went away (a reboot, someone deleted it): make it again.
					if err := netdev.CreateVeth(p.Name, p.VethPeer, p.NetNS, 0, s.offload); err != nil {
						return nil, err
					}
				}
			}
			return netdev.OpenSystem(p.Name, "", s.offload)
		},
		remove: func(p *config.Port) error { return netdev.DeleteLink(p.Name, "") },
	},
	config.TypeVXLAN:  tunnelKind,
	config.TypeGeneve: tunnelKind,
	config.TypeGRE:    tunnelKind,
	config.TypeBond:   bondKind, // bond.go
}

var tunnelKind = deviceKind{
	open: func(s *Switch, p *config.Port) (netdev.Device, error) { return s.tunnels.open(p) },
}

// memoryKind opens any port type as an in-memory device (Options.Memory).
var memoryKind = deviceKind{
	open: func(s *Switch, p *config.Port) (netdev.Device, error) {
		if p.Type == config.TypeBond {
			return s.openBond(p, true) // in-memory members
		}
		return netdev.NewMemory(p.Name, datapath.Caps{}), nil
	},
}

// kindOf returns how to make the device of port p.
func (s *Switch) kindOf(p *config.Port) (deviceKind, error) {
	if s.memory {
		return memoryKind, nil
	}
	k, ok := kinds[p.Type]
	if !ok {
		return deviceKind{}, errs.Invalidf("type", "tap, system, internal, patch, vxlan, geneve, gre, bond", "port type %q", p.Type)
	}
	return k, nil
}

// removeDevice deletes the OS device Switchyard created for port p.
func (s *Switch) removeDevice(p *config.Port) {
	k, err := s.kindOf(p)
	if err != nil || k.remove == nil || !p.Created {
		return
	}
	if err := k.remove(p); err != nil && !errors.Is(err, netdev.ErrNotExist) {
		s.log.Warn("could not delete device", "port", p.Name, "err", err)
	}
}
