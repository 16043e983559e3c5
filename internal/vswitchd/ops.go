package vswitchd

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

// Version is the daemon's version string.
var Version = "0.1.0"

// BuildCommit is the commit the binary was built from, when the command
// knows it (stamped at link time); otherwise the VCS build info says.
var BuildCommit string

func invalid(field, allowed, format string, a ...any) error {
	return errs.Invalidf(field, allowed, format, a...)
}

func notFound(field, format string, a ...any) error { return errs.NotFoundf(field, format, a...) }

func exists(field, format string, a ...any) error { return errs.Existsf(field, format, a...) }

// update commits a validated change and reconciles to it.
func (s *Switch) update(fn func(c *config.Config) error) error {
	if _, err := s.store.Update(fn); err != nil {
		return err
	}
	s.Reconcile()
	return nil
}

// Config returns the stored configuration.
func (s *Switch) Config() *config.Config {
	c, _ := s.store.Get()
	return c
}

// AddBridge creates a bridge.
func (s *Switch) AddBridge(b config.Bridge) error {
	return s.update(func(c *config.Config) error {
		if _, ok := c.Bridges[b.Name]; ok {
			return exists("bridge", "bridge %q already exists", b.Name)
		}
		c.Bridges[b.Name] = &b
		return nil
	})
}

// SetBridge changes a bridge's FDB settings.
func (s *Switch) SetBridge(b config.Bridge) error {
	return s.update(func(c *config.Config) error {
		if _, ok := c.Bridges[b.Name]; !ok {
			return notFound("bridge", "bridge %q does not exist", b.Name)
		}
		c.Bridges[b.Name] = &b
		return nil
	})
}

// DelBridge removes a bridge with its ports and static entries.
func (s *Switch) DelBridge(name string) error {
	return s.update(func(c *config.Config) error {
		if _, ok := c.Bridges[name]; !ok {
			return notFound("bridge", "bridge %q does not exist", name)
		}
		delete(c.Bridges, name)
		for n, p := range c.Ports {
			if p.Bridge == name {
				delete(c.Ports, n)
			}
		}
		// A patch peer on another bridge loses its peer: keep it (it goes
		// down) — but the store must stay valid, so it stays referencing a
		// missing port, which validation allows.
		fdb := c.FDB[:0]
		for _, e := range c.FDB {
			if e.Bridge != name {
				fdb = append(fdb, e)
			}
		}
		c.FDB = fdb
		return nil
	})
}

// AddPort adds a port. Device preconditions that can be checked before
// committing (the namespace exists, the system interface exists) are. The
// port gets the requested port number (p.OFPort), or the lowest free one.
func (s *Switch) AddPort(p config.Port) error {
	if err := config.CheckName("port", p.Name); err != nil {
		return err
	}
	if p.OFPort < 0 || p.OFPort > datapath.MaxOFPort {
		return invalid("ofport", fmt.Sprintf("1-%d", datapath.MaxOFPort), "%d", p.OFPort)
	}
	if k, err := s.kindOf(&p); err == nil && k.check != nil && !s.memory {
		if err := k.check(s, &p); err != nil {
			return err
		}
	}
	return s.update(func(c *config.Config) error {
		if _, ok := c.Ports[p.Name]; ok {
			return exists("port", "port %q already exists (on bridge %q)", p.Name, c.Ports[p.Name].Bridge)
		}
		if _, ok := c.Bridges[p.Bridge]; !ok {
			return notFound("bridge", "bridge %q does not exist", p.Bridge)
		}
		c.Ports[p.Name] = &p
		return nil
	})
}

// SetPort changes a port's VLAN and learning settings.
func (s *Switch) SetPort(p config.Port) error {
	return s.update(func(c *config.Config) error {
		cur, ok := c.Ports[p.Name]
		if !ok || (p.Bridge != "" && cur.Bridge != p.Bridge) {
			return notFound("port", "port %q is not on bridge %q", p.Name, p.Bridge)
		}
		cur.VLAN, cur.Trunks, cur.NativeVLAN, cur.NativeTagged, cur.NoLearning = p.VLAN, p.Trunks, p.NativeVLAN, p.NativeTagged, p.NoLearning
		cur.PortSTP = p.PortSTP // spanning tree settings change in place
		if p.Tunnel != nil && cur.Tunnel != nil && p.Tunnel.VNIMap != "" {
			cur.Tunnel.VNIMap = p.Tunnel.VNIMap
		}
		return nil
	})
}

// DelPort removes a port (and the device Switchyard created for it).
func (s *Switch) DelPort(bridge, name string) error {
	return s.update(func(c *config.Config) error {
		cur, ok := c.Ports[name]
		if !ok || (bridge != "" && cur.Bridge != bridge) {
			return notFound("port", "port %q is not on bridge %q", name, bridge)
		}
		delete(c.Ports, name)
		fdb := c.FDB[:0]
		for _, e := range c.FDB {
			if e.Port != name {
				fdb = append(fdb, e)
			}
		}
		c.FDB = fdb
		return nil
	})
}

// AddVeth creates a veth pair, moves its peer into a namespace and attaches
// the host end as a system port, in one step. If the port is rejected the
// pair is removed again.
func (s *Switch) AddVeth(r api.VethRequest) error {
	p := r.Port
	p.Type = config.TypeSystem
	p.VethPeer = r.PeerName
	if p.VethPeer == "" {
		p.VethPeer = "eth0"
	}
	p.Created = true
	if err := config.CheckName("name", p.Name); err != nil {
		return err
	}
	if err := config.CheckName("peer-name", p.VethPeer); err != nil {
		return err
	}
	if p.NetNS == "" || !netdev.NetNSExists(p.NetNS) {
		return invalid("netns", "an existing namespace (ip netns add NAME)", "netns %q does not exist", p.NetNS)
	}
	// Validate against the would-be config before creating anything.
	c, _ := s.store.Get()
	if _, ok := c.Ports[p.Name]; ok {
		return exists("name", "port %q already exists", p.Name)
	}
	if _, ok := c.Bridges[p.Bridge]; !ok {
		return notFound("bridge", "bridge %q does not exist", p.Bridge)
	}
	c.Ports[p.Name] = &p
	c.AssignOFPorts()
	if err := c.Validate(); err != nil {
		return err
	}
	if ok, _ := netdev.LinkExists(p.Name, ""); ok {
		return exists("name", "interface %q already exists", p.Name)
	}
	if ok, _ := netdev.LinkExists(p.VethPeer, p.NetNS); ok {
		return exists("peer-name", "interface %q already exists in netns %q", p.VethPeer, p.NetNS)
	}
	if err := netdev.CreateVeth(p.Name, p.VethPeer, p.NetNS, 0, s.offload); err != nil {
		return errs.Failedf("name", err, "%v", err)
	}
	if err := s.update(func(c *config.Config) error {
		if _, ok := c.Ports[p.Name]; ok {
			return exists("name", "port %q already exists", p.Name)
		}
		c.Ports[p.Name] = &p
		return nil
	}); err != nil {
		_ = netdev.DeleteLink(p.Name, "")
		return err
	}
	return nil
}

func (s *Switch) bridge(name string) (*runBridge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rb := s.bridges[name]
	if rb == nil {
		return nil, notFound("bridge", "bridge %q does not exist", name)
	}
	return rb, nil
}

// FDB lists a bridge's forwarding entries (vlan < 0: all).
func (s *Switch) FDB(bridge string, vlan int) ([]api.FDBEntry, error) {
	rb, err := s.bridge(bridge)
	if err != nil {
		return nil, err
	}
	out := []api.FDBEntry{}
	for _, e := range rb.dp.FDB(vlan) {
		fe := api.FDBEntry{VLAN: e.VLAN, MAC: net.HardwareAddr(e.MAC[:]).String(), Port: e.PortName, Type: "learned", Age: e.Age}
		if e.Static {
			fe.Type = "static"
		}
		if e.RemoteIP.IsValid() {
			fe.Remote = e.RemoteIP.String()
		}
		out = append(out, fe)
	}
	return out, nil
}

// AddFDB adds a static entry (stored, so it survives restarts).
func (s *Switch) AddFDB(bridge string, r api.FDBRequest) error {
	e := config.StaticFDB{Bridge: bridge, MAC: r.MAC, VLAN: r.VLAN, Port: r.Port, Remote: r.Remote}
	if mac, err := net.ParseMAC(r.MAC); err == nil {
		e.MAC = mac.String()
	}
	if r.Remote != "" {
		if _, err := netip.ParseAddr(r.Remote); err != nil {
			return invalid("remote", "an IPv4 or IPv6 address", "%q", r.Remote)
		}
	}
	return s.update(func(c *config.Config) error {
		if _, ok := c.Bridges[bridge]; !ok {
			return notFound("bridge", "bridge %q does not exist", bridge)
		}
		for i, x := range c.FDB {
			if x.Bridge == bridge && x.VLAN == e.VLAN && x.MAC == e.MAC {
				c.FDB[i] = e
				return nil
			}
		}
		c.FDB = append(c.FDB, e)
		return nil
	})
}

// DelFDB removes an entry: a static one from the store, a learned one from
// the running FDB.
func (s *Switch) DelFDB(bridge string, r api.FDBRequest) error {
	mac, err := net.ParseMAC(r.MAC)
	if err != nil || len(mac) != 6 {
		return invalid("mac", "a MAC like 02:00:00:00:00:01", "%q", r.MAC)
	}
	c, _ := s.store.Get()
	for _, x := range c.FDB {
		if x.Bridge == bridge && x.VLAN == r.VLAN && x.MAC == mac.String() {
			return s.update(func(c *config.Config) error {
				fdb := c.FDB[:0]
				for _, y := range c.FDB {
					if !(y.Bridge == bridge && y.VLAN == r.VLAN && y.MAC == mac.String()) {
						fdb = append(fdb, y)
					}
				}
				c.FDB = fdb
				return nil
			})
		}
	}
	rb, err := s.bridge(bridge)
	if err != nil {
		return err
	}
	return rb.dp.DeleteFDB([6]byte(mac), uint16(r.VLAN))
}

// FlushFDB removes learned entries (of one port and/or VLAN).
func (s *Switch) FlushFDB(bridge string, r api.FDBRequest) (int, error) {
	rb, err := s.bridge(bridge)
	if err != nil {
		return 0, err
	}
	vlan := r.VLAN
	if r.AllVLANs {
		vlan = -1
	}
	return rb.dp.FlushFDB(r.Port, vlan)
}

// Runtime reports the daemon's Go runtime figures.
func (s *Switch) Runtime() api.Runtime {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return api.Runtime{Goroutines: runtime.NumGoroutine(), NumGC: ms.NumGC, HeapAlloc: ms.HeapAlloc, Mallocs: ms.Mallocs,
		Uptime: time.Since(s.start).Round(time.Second).String(), Version: Version}
}
