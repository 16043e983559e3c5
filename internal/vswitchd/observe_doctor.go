package vswitchd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

func pidSelf() int { return os.Getpid() }

// buildCommit returns the VCS revision the binary was built from, if the
// build recorded it.
func buildCommit() string {
	if BuildCommit != "" {
		return BuildCommit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// Doctor implements api.Backend: it gathers what the checks need (port
// statuses, devices in their namespaces, tunnels and their underlays, FDB
// counters), runs them with ICMP probes, and keeps the probes' answers for
// the metrics and the dashboard.
func (s *Switch) Doctor(ctx context.Context, o doctor.Options) *doctor.Report {
	in := s.doctorInputs()
	if s.memory {
		o.NoProbe = true // in-memory tunnels have no underlay to probe
	}
	r, probes := doctor.Run(ctx, in, doctor.ICMPProber{}, doctor.System{}, o)
	if s.obs != nil {
		s.obs.mu.Lock()
		for _, p := range probes {
			s.obs.probes[p.Port+"|"+p.Remote.String()] = p
		}
		s.obs.mu.Unlock()
	}
	return r
}

func (s *Switch) doctorInputs() doctor.Inputs {
	cfg, _ := s.store.Get()
	show := s.Show()
	in := doctor.Inputs{StateDir: s.stateDir(), Offload: s.offload}
	if s.obs != nil {
		in.Started = s.obs.started
	}
	remotes := map[string]map[netip.Addr]int{}
	if s.obs != nil {
		s.obs.mu.Lock()
		for port, m := range s.obs.remotes {
			remotes[port] = map[netip.Addr]int{}
			for a, r := range m {
				remotes[port][a] = r.macs
			}
		}
		s.obs.mu.Unlock()
	}
	for _, b := range show.Bridges {
		db := doctor.Bridge{Name: b.Name, FDBEntries: b.FDB.Entries, FDBStatic: b.FDB.Static, FDBMax: b.MaxLearned,
			FDBRefused: b.FDB.Refused, FDBEvicted: b.FDB.Evicted, FullPolicy: b.FullPolicy}
		for _, p := range b.Ports {
			dp := doctor.Port{Name: p.Name, Type: p.Type, Status: p.Status, Reason: p.Reason, NetNS: p.NetNS, Peer: p.Peer,
				VethPeer: p.VethPeer, Drops: p.Stats.Drops, AccessVLAN: p.VLAN, VLANs: carriedVLANs(&p.Port)}
			if p.Type == config.TypePatch {
				if peer := cfg.Ports[p.Peer]; peer != nil && peer.Bridge != b.Name {
					db.PatchPeers = append(db.PatchPeers, peer.Bridge)
				}
			}
			if !s.memory {
				s.lookDevices(&dp)
			}
			if t := p.Tunnel; t != nil {
				dt := &doctor.Tunnel{Encap: p.Type, Group: t.Group, UnderlayMTU: p.MTU, Overhead: p.Overhead, VMMTU: p.VMMTU, UDPCsum: t.UDPCsum != "off"}
				dt.Local, _ = netip.ParseAddr(t.Local)
				for _, r := range t.Remotes {
					if a, err := netip.ParseAddr(r); err == nil {
						dt.Remotes = append(dt.Remotes, doctor.Remote{Addr: a, Configured: true, MACs: remotes[p.Name][a.Unmap()]})
					}
				}
				for a, n := range remotes[p.Name] {
					known := false
					for _, r := range dt.Remotes {
						known = known || r.Addr == a
					}
					if !known && n > 0 {
						dt.Remotes = append(dt.Remotes, doctor.Remote{Addr: a, MACs: n})
					}
				}
				if !s.memory && dt.Local.IsValid() {
					dt.UnderlayDev = underlayDevice(dt.Local)
				}
				dp.Tunnel = dt
			}
			db.Ports = append(db.Ports, dp)
		}
		in.Bridges = append(in.Bridges, db)
	}
	return in
}

// carriedVLANs returns the VLANs a port carries (nil: every VLAN).
func carriedVLANs(p *config.Port) map[int]bool {
	m := map[int]bool{}
	switch {
	case p.Tunnel != nil && p.Tunnel.VNIMap != "":
		for _, kv := range strings.Split(p.Tunnel.VNIMap, ",") {
			v, _, _ := strings.Cut(kv, ":")
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				m[n] = true
			}
		}
	case p.VLAN != 0:
		m[p.VLAN] = true
	case p.Trunks != "":
		for _, r := range strings.Split(p.Trunks, ",") {
			lo, hi, ok := strings.Cut(strings.TrimSpace(r), "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if ok {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil {
				continue
			}
			for v := a; v <= b && v <= 4094; v++ {
				m[v] = true
			}
		}
		if p.NativeVLAN != 0 {
			m[p.NativeVLAN] = true
		}
	default:
		return nil
	}
	return m
}

// stateDir is where the store lives (the daemon's --state-dir).
func (s *Switch) stateDir() string {
	if s.obs != nil && s.obs.opts.StateDir != "" {
		return s.obs.opts.StateDir
	}
	return ""
}

// lookDevices fills a port's device and its VM side.
func (s *Switch) lookDevices(p *doctor.Port) {
	switch p.Type {
	case config.TypeTAP:
		d := lookDevice(p.Name, p.NetNS, false)
		p.Device, p.VMSide = d, d
	case config.TypeInternal:
		d := lookDevice(p.Name, "", true)
		p.Device, p.VMSide = d, d
	case config.TypeSystem:
		p.Device = lookDevice(p.Name, "", true)
		if p.VethPeer != "" && p.NetNS != "" {
			p.VMSide = lookDevice(p.VethPeer, p.NetNS, false)
		}
	}
}

// lookDevice asks netlink (and ethtool, with features) about an interface
// in a namespace.
func lookDevice(name, ns string, features bool) *doctor.Device {
	d := &doctor.Device{Name: name, NetNS: ns}
	if ns != "" && !netdev.NetNSExists(ns) {
		d.Checked, d.Err = true, "netns "+ns+" is gone"
		return d
	}
	err := inNamespace(ns, func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				d.Checked = true
				return nil
			}
			return err
		}
		a := l.Attrs()
		d.Checked, d.Exists, d.MTU = true, true, a.MTU
		d.AdminUp = a.Flags&net.FlagUp != 0
		// A TAP whose queue is open reports up; one without carrier
		// reports down; virtual devices often report unknown.
		d.OperUp = a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown && a.Flags&net.FlagRunning != 0
		if features {
			d.Features = ethFeatures(name)
		}
		return nil
	})
	if err != nil {
		d.Checked, d.Err = false, err.Error()
	}
	return d
}

// ethFeatures returns an interface's ethtool features by kernel name, with
// the names ethtool's command line shows for the aggregates.
func ethFeatures(name string) map[string]bool {
	e, err := ethtool.NewEthtool()
	if err != nil {
		return nil
	}
	defer e.Close()
	f, err := e.Features(name)
	if err != nil {
		return nil
	}
	out := make(map[string]bool, len(f)+3)
	csum, known := false, false
	for k, v := range f {
		out[k] = v
		if strings.HasPrefix(k, "tx-checksum-") {
			known = true
			csum = csum || v
		}
	}
	if known {
		out["tx-checksumming"] = csum
	}
	if v, ok := f["rx-lro"]; ok {
		out["large-receive-offload"] = v
	}
	return out
}

// underlayDevice finds the interface that holds the local VTEP address.
func underlayDevice(local netip.Addr) *doctor.Device {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != local.Unmap() {
			continue
		}
		l, err := netlink.LinkByIndex(a.LinkIndex)
		if err != nil {
			return nil
		}
		return lookDevice(l.Attrs().Name, "", true)
	}
	return nil
}

// inNamespace runs fn on a thread in namespace ns ("" = the daemon's).
func inNamespace(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	if !netdev.NetNSExists(ns) {
		return fmt.Errorf("netns %q does not exist", ns)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread stays in the namespace and is thrown away with the
		// goroutine (never unlocked).
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}
