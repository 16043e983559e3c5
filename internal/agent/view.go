package agent

import (
	"net/netip"
	"slices"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// The view is what the brain told this host, held compactly (a remote port
// costs one map slot and its packed addresses), and the desired dataplane
// state is a pure function of it: the per-key functions below are used both
// for incremental changes and for the full recompute, so the two cannot
// disagree by construction; audits check the rest against etcd.

type vhost struct {
	name  string
	vteps []netip.Addr
	alive bool
}

type vlocal struct{ id, netns, ifname string }

type vport struct {
	host, to *vhost
	ver      int64
	ips      string // packed: a length byte (4 or 16) and the address bytes, repeated
	local    *vlocal
}

type vnet struct {
	name  string
	encap string
	vni   uint32
	mtu   int
	ports map[MAC]vport
	hosts map[*vhost]int // ports occupying each host
	ips   map[ipKey]MAC  // owner of each address
	// digest covers the record and the ports, as the brain computes it.
	digest, recDigest wire.Digest
	// flood caches the flood list while floodOK: kept in step as hosts
	// enter and leave, rebuilt after a record of one of its hosts changed.
	flood   []netip.Addr
	floodOK bool
}

// ipKey is an address as a map key: 16 bytes (IPv4 mapped), not
// netip.Addr's 24.
type ipKey [16]byte

func keyOf(a netip.Addr) ipKey { return a.As16() }

func (k ipKey) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

type view struct {
	self  string
	local netip.Addr // our VTEP
	nets  map[string]*vnet
	hosts map[string]*vhost
	ids   map[string]FDBKey // local ports by ID
	rev   int64
	// remote and local count the ports of the view.
	nRemote, nLocal int
}

func (v *view) count(p *vport, d int) {
	if p.local != nil {
		v.nLocal += d
	}
	if p.host != nil && p.host.name != v.self {
		v.nRemote += d
	}
}

func newView(self string, local netip.Addr) *view {
	return &view{self: self, local: local, nets: map[string]*vnet{}, hosts: map[string]*vhost{}, ids: map[string]FDBKey{}}
}

// idConflict says whether a local port's ID already names another port
// (the brain never sends that; a stream that does is malformed).
func (v *view) idConflict(n *vnet, mac MAC, p vport) bool {
	if p.local == nil {
		return false
	}
	k, ok := v.ids[p.local.id]
	return ok && k != FDBKey{n.name, mac}
}

// delNet drops a network and its ports.
func (v *view) delNet(name string) {
	n := v.nets[name]
	if n == nil {
		return
	}
	for mac := range n.ports {
		v.delPort(n, mac)
	}
	delete(v.nets, name)
}

func (v *view) host(name string) *vhost {
	h := v.hosts[name]
	if h == nil {
		h = &vhost{name: name}
		v.hosts[name] = h
	}
	return h
}

// adopt returns the view's record of a host, copied from another view's
// if the view has none.
func (v *view) adopt(h *vhost) *vhost {
	if x, ok := v.hosts[h.name]; ok {
		return x
	}
	x := &vhost{name: h.name, vteps: append([]netip.Addr(nil), h.vteps...), alive: h.alive}
	v.hosts[h.name] = x
	return x
}

func packIPs(ips []string) (string, bool) {
	if len(ips) == 0 {
		return "", true
	}
	b := make([]byte, 0, len(ips)*5)
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return "", false
		}
		a = a.Unmap()
		raw := a.AsSlice()
		b = append(b, byte(len(raw)))
		b = append(b, raw...)
	}
	return string(b), true
}

func eachIP(packed string, f func(netip.Addr)) {
	for i := 0; i < len(packed); {
		n := int(packed[i])
		a, _ := netip.AddrFromSlice([]byte(packed[i+1 : i+1+n]))
		f(a)
		i += 1 + n
	}
}

func ipList(packed string) []netip.Addr {
	var out []netip.Addr
	eachIP(packed, func(a netip.Addr) { out = append(out, a) })
	return out
}

// vtepOf picks a host's VTEP of our address family.
func (v *view) vtepOf(h *vhost) (netip.Addr, bool) {
	for _, a := range h.vteps {
		if a.Is4() == v.local.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// freezes are duplicate-detection freezes: a frozen MAC keeps pointing at
// the host it pointed at; a frozen IP keeps its MAC.
type freezes struct {
	mac map[FDBKey]frozenMAC
	ip  map[NeighKey]frozenIP
}

type frozenMAC struct {
	host     string
	vtep     netip.Addr // the host's VTEP when frozen (if the view forgets the host)
	lastMove time.Time
}

type frozenIP struct {
	mac      MAC
	lastMove time.Time
}

// ---- desired state, key by key ----

func (v *view) wiring(n *vnet) (Wiring, bool) {
	if n == nil {
		return Wiring{}, false
	}
	w := Wiring{Network: n.name, Encap: n.encap, VNI: n.vni, MTU: n.mtu, Local: v.local}
	if !n.floodOK {
		n.flood = n.flood[:0]
		for h, c := range n.hosts {
			if c <= 0 || h.name == v.self || !h.alive {
				continue
			}
			if a, ok := v.vtepOf(h); ok {
				n.flood = append(n.flood, a)
			}
		}
		slices.SortFunc(n.flood, func(a, b netip.Addr) int { return a.Compare(b) })
		n.flood = slices.Compact(n.flood)
		n.floodOK = true
	}
	if len(n.flood) > 0 {
		w.Flood = slices.Clone(n.flood)
	}
	return w, true
}

func (v *view) fdb(fz *freezes, n *vnet, mac MAC) (netip.Addr, bool) {
	if n == nil {
		return netip.Addr{}, false
	}
	p, ok := n.ports[mac]
	if !ok || p.host == nil || p.host.name == v.self {
		return netip.Addr{}, false
	}
	h := p.host
	if f, ok := fz.mac[FDBKey{n.name, mac}]; ok && f.host != v.self {
		fh, known := v.hosts[f.host]
		if !known {
			return f.vtep, f.vtep.IsValid()
		}
		h = fh
	}
	if !h.alive {
		return netip.Addr{}, false
	}
	return v.vtepOf(h)
}

func (v *view) vif(n *vnet, mac MAC) (VIF, bool) {
	if n == nil {
		return VIF{}, false
	}
	p, ok := n.ports[mac]
	if !ok || p.local == nil {
		return VIF{}, false
	}
	return VIF{ID: p.local.id, Network: n.name, MAC: mac, IPs: ipList(p.ips), NetNS: p.local.netns, IfName: p.local.ifname, MTU: n.mtu}, true
}

func (v *view) neigh(fz *freezes, n *vnet, ip netip.Addr) (MAC, bool) {
	if n == nil {
		return MAC{}, false
	}
	mac, ok := n.ips[keyOf(ip)]
	if f, frozen := fz.ip[NeighKey{n.name, ip}]; frozen {
		mac, ok = f.mac, true
	}
	if !ok {
		return MAC{}, false
	}
	p, ok := n.ports[mac]
	if !ok || p.host == nil {
		return MAC{}, false
	}
	if p.host.name != v.self && !p.host.alive {
		return MAC{}, false
	}
	return mac, true
}

// desired is the full recompute.
func (v *view) desired(fz *freezes) *State {
	s := NewState()
	for _, n := range v.nets {
		w, _ := v.wiring(n)
		s.Networks[n.name] = w
		for mac := range n.ports {
			if x, ok := v.vif(n, mac); ok {
				s.VIFs[x.ID] = x
			}
			if a, ok := v.fdb(fz, n, mac); ok {
				s.FDB[FDBKey{n.name, mac}] = a
			}
		}
		for k := range n.ips {
			ip := k.addr()
			if m, ok := v.neigh(fz, n, ip); ok {
				s.Neigh[NeighKey{n.name, ip}] = m
			}
		}
	}
	for k := range fz.ip {
		if m, ok := v.neigh(fz, v.nets[k.Network], k.IP); ok {
			s.Neigh[k] = m
		}
	}
	return s
}

// ---- applying messages to the view ----

func (v *view) setHost(w *wire.Host) *vhost {
	h := v.host(w.Name)
	old := vhost{alive: h.alive, vteps: slices.Clone(h.vteps)}
	h.alive = w.Alive
	h.vteps = h.vteps[:0]
	for _, s := range w.VTEPs {
		if a, err := netip.ParseAddr(s); err == nil {
			h.vteps = append(h.vteps, a.Unmap())
		}
	}
	if !sameHost(&old, h) {
		// Only the networks the host is in have it in their flood list.
		for _, n := range v.nets {
			if n.hosts[h] > 0 {
				n.floodOK = false
			}
		}
	}
	return h
}

func (v *view) setNet(w *wire.Net) *vnet {
	n := v.nets[w.Name]
	if n == nil {
		n = &vnet{name: w.Name, ports: map[MAC]vport{}, hosts: map[*vhost]int{}, ips: map[ipKey]MAC{}}
		v.nets[w.Name] = n
	}
	n.encap, n.vni, n.mtu = w.Encap, w.VNI, w.MTU
	n.digest.Sub(n.recDigest)
	n.recDigest = wire.NetDigest(w)
	n.digest.Add(n.recDigest)
	return n
}

// portDigest is a port's hash as the brain computes it.
func portDigest(n *vnet, mac MAC, p *vport) wire.Digest {
	var ips []string
	eachIP(p.ips, func(a netip.Addr) { ips = append(ips, a.String()) })
	host, to := "", ""
	if p.host != nil {
		host = p.host.name
	}
	if p.to != nil {
		to = p.to.name
	}
	return wire.PortDigest(n.name, mac.String(), ips, host, to, p.ver)
}

// digests returns every network's digest, for a reconnect.
func (v *view) digests() map[string]string {
	out := make(map[string]string, len(v.nets))
	for name, n := range v.nets {
		out[name] = n.digest.String()
	}
	return out
}

// adoptNet moves a network of another view into this one (its ports
// re-pointed at this view's host records).
func (v *view) adoptNet(n *vnet) {
	hosts := make(map[*vhost]int, len(n.hosts))
	for h, c := range n.hosts {
		hosts[v.adopt(h)] = c
	}
	n.hosts = hosts
	n.floodOK = false
	for mac, p := range n.ports {
		p.host = v.adopt(p.host)
		if p.to != nil {
			p.to = v.adopt(p.to)
		}
		n.ports[mac] = p
		if p.local != nil {
			v.ids[p.local.id] = FDBKey{n.name, mac}
		}
		v.count(&p, +1)
	}
	v.nets[n.name] = n
}

// occupy counts a port's hosts in or out of the network and keeps the
// cached flood list in step: a host entering or leaving inserts or removes
// its VTEP (O(hosts in the network) memory moves, no sort).
func (v *view) occupy(n *vnet, p vport, d int) {
	for _, h := range [2]*vhost{p.host, p.to} {
		if h == nil {
			continue
		}
		c := n.hosts[h]
		if (c > 0) != (c+d > 0) {
			v.floodChange(n, h, c+d > 0)
		}
		if n.hosts[h] = c + d; n.hosts[h] <= 0 {
			delete(n.hosts, h)
		}
	}
}

func (v *view) floodChange(n *vnet, h *vhost, in bool) {
	if !n.floodOK || h.name == v.self || !h.alive {
		return
	}
	a, ok := v.vtepOf(h)
	if !ok {
		return
	}
	i, found := slices.BinarySearchFunc(n.flood, a, func(x, y netip.Addr) int { return x.Compare(y) })
	switch {
	case in && !found:
		n.flood = slices.Insert(n.flood, i, a)
	case !in && found:
		for o, c := range n.hosts {
			if c > 0 && o != h && o.alive && o.name != v.self {
				if b, ok := v.vtepOf(o); ok && b == a {
					return // another host shares the VTEP: it stays
				}
			}
		}
		n.flood = slices.Delete(n.flood, i, i+1)
	}
}

// putPort stores a port; it returns the previous one.
func (v *view) putPort(n *vnet, mac MAC, p vport) (vport, bool) {
	old, had := n.ports[mac]
	if had {
		v.occupy(n, old, -1)
		eachIP(old.ips, func(a netip.Addr) {
			if n.ips[keyOf(a)] == mac {
				delete(n.ips, keyOf(a))
			}
		})
		if old.local != nil {
			delete(v.ids, old.local.id)
		}
		n.digest.Sub(portDigest(n, mac, &old))
	}
	if p.local != nil {
		v.ids[p.local.id] = FDBKey{n.name, mac}
	}
	n.digest.Add(portDigest(n, mac, &p))
	if had {
		v.count(&old, -1)
	}
	v.count(&p, +1)
	n.ports[mac] = p
	v.occupy(n, p, +1)
	eachIP(p.ips, func(a netip.Addr) { n.ips[keyOf(a)] = mac })
	return old, had
}

func (v *view) delPort(n *vnet, mac MAC) (vport, bool) {
	old, had := n.ports[mac]
	if !had {
		return old, false
	}
	v.occupy(n, old, -1)
	eachIP(old.ips, func(a netip.Addr) {
		if n.ips[keyOf(a)] == mac {
			delete(n.ips, keyOf(a))
		}
	})
	if old.local != nil {
		delete(v.ids, old.local.id)
	}
	n.digest.Sub(portDigest(n, mac, &old))
	v.count(&old, -1)
	delete(n.ports, mac)
	return old, true
}

// portFrom converts a wire port.
func (v *view) portFrom(w *wire.Port) (MAC, vport, bool) {
	mac, err := ParseMAC(w.MAC)
	if err != nil {
		return mac, vport{}, false
	}
	ips, ok := packIPs(w.IPs)
	if !ok {
		return mac, vport{}, false
	}
	p := vport{host: v.host(w.Host), ver: w.Ver, ips: ips}
	if w.To != "" {
		p.to = v.host(w.To)
	}
	if w.ID != "" && (w.Host == v.self || w.To == v.self) {
		p.local = &vlocal{id: w.ID, netns: w.NetNS, ifname: w.IfName}
	}
	return mac, p, true
}

// ---- ordering a change set ----

// diff returns the ops that turn have into want, adds and changes before
// deletes: networks (flood lists grown to the union), VIFs, FDB and
// neighbour puts, then neighbour, FDB and VIF deletes, then the networks'
// final flood lists and network deletes.
func diff(have, want *State) []Op {
	var ops, late []Op
	for name, w := range want.Networks {
		h, had := have.Networks[name]
		if had && !slices.IsSortedFunc(h.Flood, func(a, b netip.Addr) int { return a.Compare(b) }) {
			h.Flood = slices.Clone(h.Flood)
			slices.SortFunc(h.Flood, func(a, b netip.Addr) int { return a.Compare(b) })
			h.Flood = slices.Compact(h.Flood)
		}
		if had && h.equal(&w) {
			continue
		}
		wc := w
		if !had {
			ops = append(ops, Op{Kind: OpNetworkPut, Network: name, Wiring: &wc})
			continue
		}
		u := union(h.Flood, w.Flood)
		if len(u) == len(w.Flood) {
			ops = append(ops, Op{Kind: OpNetworkPut, Network: name, Wiring: &wc})
			continue
		}
		if len(u) > len(h.Flood) || h.MTU != w.MTU || h.VNI != w.VNI || h.Encap != w.Encap || h.Local != w.Local {
			mid := w
			mid.Flood = u
			ops = append(ops, Op{Kind: OpNetworkPut, Network: name, Wiring: &mid})
		}
		late = append(late, Op{Kind: OpNetworkPut, Network: name, Wiring: &wc})
	}
	for id, x := range want.VIFs {
		if h, ok := have.VIFs[id]; !ok || !h.equal(&x) {
			xc := x
			ops = append(ops, Op{Kind: OpVIFPut, Network: x.Network, VIF: &xc})
		}
	}
	for k, a := range want.FDB {
		if h, ok := have.FDB[k]; !ok || h != a {
			ops = append(ops, Op{Kind: OpFDBPut, Network: k.Network, MAC: k.MAC, VTEP: a})
		}
	}
	for k, m := range want.Neigh {
		if h, ok := have.Neigh[k]; !ok || h != m {
			ops = append(ops, Op{Kind: OpNeighPut, Network: k.Network, IP: k.IP, MAC: m})
		}
	}
	for k := range have.Neigh {
		if _, ok := want.Neigh[k]; !ok {
			ops = append(ops, Op{Kind: OpNeighDel, Network: k.Network, IP: k.IP})
		}
	}
	for k := range have.FDB {
		if _, ok := want.FDB[k]; !ok {
			ops = append(ops, Op{Kind: OpFDBDel, Network: k.Network, MAC: k.MAC})
		}
	}
	for id, x := range have.VIFs {
		if _, ok := want.VIFs[id]; !ok {
			xc := x
			ops = append(ops, Op{Kind: OpVIFDel, Network: x.Network, VIF: &xc})
		}
	}
	ops = append(ops, late...)
	for name := range have.Networks {
		if _, ok := want.Networks[name]; !ok {
			ops = append(ops, Op{Kind: OpNetworkDel, Network: name})
		}
	}
	return ops
}

// union merges two sorted lists of distinct addresses.
func union(a, b []netip.Addr) []netip.Addr {
	u := make([]netip.Addr, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].Less(b[j])):
			u = append(u, a[i])
			i++
		case i == len(a) || b[j].Less(a[i]):
			u = append(u, b[j])
			j++
		default:
			u = append(u, a[i])
			i++
			j++
		}
	}
	return u
}
