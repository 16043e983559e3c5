// Package config holds Switchyard's desired state as typed objects, its
// validation, and the persistent store: an embedded bbolt database in the
// state directory in which every change is one transaction, validated whole
// before it commits. A rejected change leaves the store exactly as it was.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// Port types.
const (
	TypeTAP      = "tap"
	TypeSystem   = "system"
	TypeInternal = "internal"
	TypePatch    = "patch"
	TypeVXLAN    = "vxlan"
	TypeGeneve   = "geneve"
	TypeGRE      = "gre"
)

// PortTypes lists the port types, for error messages.
var PortTypes = []string{TypeTAP, TypeSystem, TypeInternal, TypePatch, TypeVXLAN, TypeGeneve, TypeGRE, TypeBond}

// Config is the whole desired state of a switch.
type Config struct {
	Bridges map[string]*Bridge `json:"bridges"`
	Ports   map[string]*Port   `json:"ports"`
	FDB     []StaticFDB        `json:"fdb"`
}

// Bridge is a bridge's configuration.
type Bridge struct {
	Name string `json:"name"`
	// FDBAging is the aging time in seconds (0 = default, 300).
	FDBAging int `json:"fdb_aging,omitempty"`
	// FDBMax is the learned-address limit (0 = default, 8192).
	FDBMax int `json:"fdb_max,omitempty"`
	// FDBFullPolicy is refuse (default) or evict-oldest.
	FDBFullPolicy string `json:"fdb_full_policy,omitempty"`
	// FlowCacheMax bounds the decision cache (0 = default, 65536).
	FlowCacheMax int `json:"flow_cache_max,omitempty"`

	BridgeSTP // spanning tree (l2.go)
	// OpenFlow (docs/openflow.md). Every bridge listens on its management
	// socket (punix:<API socket dir>/BRIDGE.mgmt).
	//
	// Controllers are the controllers the bridge connects to, comma
	// separated: tcp:IP[:PORT] (port 6653 by default), unix:PATH.
	Controllers string `json:"controllers,omitempty"`
	// Listen are more passive targets, comma separated: ptcp:PORT[:IP],
	// punix:PATH.
	Listen string `json:"listen,omitempty"`
	// FailMode is standalone (the default: with controllers configured
	// and none reachable, the bridge behaves as NORMAL) or secure (the
	// flows stay as they are).
	FailMode string `json:"fail_mode,omitempty"`
	// Protocols are the OpenFlow versions allowed, comma separated:
	// OpenFlow10, OpenFlow13 (default: both).
	Protocols string `json:"protocols,omitempty"`
	// DatapathID is the bridge's datapath id, 16 hex digits. A bridge
	// stored without one gets one derived from its MAC (BridgeMAC), once:
	// it is stored and stays.
	DatapathID string `json:"datapath_id,omitempty"`
	// PacketInRate bounds the packet-ins per second the bridge sends its
	// controllers (0: 10000; -1: unlimited); PacketInBurst is the
	// bucket's depth (0: 1000).
	PacketInRate  int `json:"packet_in_rate,omitempty"`
	PacketInBurst int `json:"packet_in_burst,omitempty"`
}

// Port is a port's configuration.
type Port struct {
	Name   string `json:"name"`
	Bridge string `json:"bridge"`
	Type   string `json:"type"`
	// NetNS is the namespace a TAP lives in, or a veth's peer end.
	NetNS string `json:"netns,omitempty"`
	// Peer is a patch port's peer port (on another bridge).
	Peer string `json:"peer,omitempty"`
	// VethPeer is the name of the peer end of a veth that `veth add` made.
	VethPeer string `json:"veth_peer,omitempty"`
	// Created says Switchyard created the OS device (a TAP it made, a veth
	// pair), so removing the port removes it; adopted devices stay.
	Created bool `json:"created,omitempty"`
	// OFPort is the port's stable OpenFlow port number on its bridge
	// (1-65279), given with --ofport or assigned when the port is added:
	// the lowest number no other port of the bridge holds. It is stored,
	// so it survives restarts, and reused only after the port is deleted.
	OFPort int `json:"ofport,omitempty"`

	VLAN         int    `json:"vlan,omitempty"`          // access VLAN
	Trunks       string `json:"trunks,omitempty"`        // "10,20-30"; empty = all
	NativeVLAN   int    `json:"native_vlan,omitempty"`   // trunk's native VLAN
	NativeTagged bool   `json:"native_tagged,omitempty"` // send native VLAN tagged
	NoLearning   bool   `json:"no_learning,omitempty"`

	Tunnel *Tunnel `json:"tunnel,omitempty"`

	// Bond holds a bond port's members and settings (type bond; l2.go).
	Bond *Bond `json:"bond,omitempty"`

	PortSTP // spanning tree (l2.go)
}

// Tunnel is a tunnel port's configuration (vxlan, geneve, gre).
type Tunnel struct {
	VNI     int      `json:"vni,omitempty"`
	VNIMap  string   `json:"vni_map,omitempty"` // "10:5001,20:5002"
	Local   string   `json:"local"`
	Remotes []string `json:"remotes,omitempty"`
	Group   string   `json:"group,omitempty"`
	Dev     string   `json:"dev,omitempty"`
	DstPort int      `json:"dst_port,omitempty"`
	// SrcPortMin/Max bound the outer UDP source port (default 49152-65535).
	SrcPortMin int `json:"src_port_min,omitempty"`
	SrcPortMax int `json:"src_port_max,omitempty"`
	// UDPCsum is "on" (default) or "off" for the IPv4 outer UDP checksum.
	UDPCsum string `json:"udp_csum,omitempty"`
	TTL     int    `json:"ttl,omitempty"`
	// TOS is a number 0-255 or "inherit".
	TOS string `json:"tos,omitempty"`
}

// StaticFDB is a static forwarding entry.
type StaticFDB struct {
	Bridge string `json:"bridge"`
	MAC    string `json:"mac"`
	VLAN   int    `json:"vlan"`
	Port   string `json:"port"`
	Remote string `json:"remote,omitempty"`
}

// Empty returns an empty configuration.
func Empty() *Config {
	return &Config{Bridges: map[string]*Bridge{}, Ports: map[string]*Port{}}
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	n := Empty()
	for k, b := range c.Bridges {
		bb := *b
		n.Bridges[k] = &bb
	}
	for k, p := range c.Ports {
		pp := *p
		if p.Tunnel != nil {
			t := *p.Tunnel
			t.Remotes = append([]string(nil), p.Tunnel.Remotes...)
			pp.Tunnel = &t
		}
		pp.Bond = p.Bond.clone()
		n.Ports[k] = &pp
	}
	n.FDB = append([]StaticFDB(nil), c.FDB...)
	return n
}

// AssignOFPorts gives every port without a port number the lowest number
// no other port of its bridge holds (ports in name order), and every bridge
// without a datapath id the one derived from its MAC: both are stored, so
// both stay.
func (c *Config) AssignOFPorts() {
	for name, b := range c.Bridges {
		if b.DatapathID == "" {
			b.DatapathID = DefaultDatapathID(name)
		}
	}
	used := map[string]map[int]bool{}
	var names []string
	for n, p := range c.Ports {
		names = append(names, n)
		if used[p.Bridge] == nil {
			used[p.Bridge] = map[int]bool{}
		}
		if p.OFPort != 0 {
			used[p.Bridge][p.OFPort] = true
		}
	}
	sort.Strings(names)
	for _, n := range names {
		p := c.Ports[n]
		if p.OFPort != 0 {
			continue
		}
		no := 1
		for used[p.Bridge][no] {
			no++
		}
		p.OFPort = no
		used[p.Bridge][no] = true
	}
}

// BridgeNames returns the bridges' names, sorted.
func (c *Config) BridgeNames() []string {
	var l []string
	for n := range c.Bridges {
		l = append(l, n)
	}
	sort.Strings(l)
	return l
}

// PortsOf returns the ports of a bridge, sorted by name.
func (c *Config) PortsOf(bridge string) []*Port {
	var l []*Port
	for _, p := range c.Ports {
		if p.Bridge == bridge {
			l = append(l, p)
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return l
}

// Error is a validation error: the field at fault, what is wrong, and the
// allowed values (the project's one domain error type).
type Error = errs.Error

func errf(field, allowed, format string, a ...any) *Error {
	return errs.Invalidf(field, allowed, format, a...)
}

const nameAllowed = "1-15 bytes of letters, digits, '-', '_', '.'"

// CheckName checks a bridge or port name (the rules of Linux interface
// names).
func CheckName(field, name string) error {
	if len(name) < 1 || len(name) > 15 {
		return errf(field, nameAllowed, "%q has %d bytes", name, len(name))
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return errf(field, nameAllowed, "%q contains %q", name, c)
		}
	}
	return nil
}

// Validate checks the whole configuration. The first problem found is
// returned as an *Error.
func (c *Config) Validate() error {
	for _, name := range c.BridgeNames() {
		b := c.Bridges[name]
		if err := CheckName("bridge", b.Name); err != nil {
			return err
		}
		if _, clash := c.Ports[b.Name]; clash {
			return errf("bridge", "a name not used by a port", "%q is also the name of a port", b.Name)
		}
		if _, err := b.DatapathConfig(); err != nil {
			return err
		}
		if _, _, err := b.STPConfig(packet.MAC{}); err != nil {
			return err
		}
		if err := b.validateOpenFlow(); err != nil {
			return err
		}
	}
	var names []string
	for n := range c.Ports {
		names = append(names, n)
	}
	sort.Strings(names)
	ofports := map[string]string{}
	for _, n := range names {
		p := c.Ports[n]
		if err := c.validatePort(p); err != nil {
			return err
		}
		if p.OFPort != 0 {
			k := fmt.Sprintf("%s/%d", p.Bridge, p.OFPort)
			if other, dup := ofports[k]; dup {
				return errs.Existsf("ofport", "port number %d is taken by port %q on bridge %q", p.OFPort, other, p.Bridge)
			}
			ofports[k] = p.Name
		}
	}
	seen := map[string]bool{}
	for _, e := range c.FDB {
		if err := c.validateFDB(e); err != nil {
			return err
		}
		k := fmt.Sprintf("%s/%d/%s", e.Bridge, e.VLAN, e.MAC)
		if seen[k] {
			return errf("mac", "one static entry per bridge, VLAN and MAC", "%s in vlan %d on bridge %q twice", e.MAC, e.VLAN, e.Bridge)
		}
		seen[k] = true
	}
	return nil
}

// DatapathConfig converts the bridge settings to the engine's, which
// validates them (the ranges live there).
func (b *Bridge) DatapathConfig() (datapath.BridgeConfig, error) {
	var cfg datapath.BridgeConfig
	policy, err := datapath.ParseFullPolicy(b.FDBFullPolicy)
	if err != nil {
		return cfg, err
	}
	switch {
	case b.FDBAging < 0:
		return cfg, errf("fdb-aging", datapath.AllowedAging, "%d", b.FDBAging)
	case b.FDBMax < 0:
		return cfg, errf("fdb-max", datapath.AllowedFDBMax, "%d", b.FDBMax)
	case b.FlowCacheMax < 0:
		return cfg, errf("flow-cache-max", datapath.AllowedCacheMax, "%d", b.FlowCacheMax)
	}
	cfg.AgingTime = timeSeconds(b.FDBAging)
	cfg.MaxLearned = b.FDBMax
	cfg.FullPolicy = policy
	cfg.CacheMax = b.FlowCacheMax
	return cfg, cfg.Validate()
}

func (c *Config) validatePort(p *Port) error {
	if err := CheckName("port", p.Name); err != nil {
		return err
	}
	if _, ok := c.Bridges[p.Bridge]; !ok {
		return errf("bridge", "an existing bridge", "bridge %q of port %q does not exist", p.Bridge, p.Name)
	}
	switch p.Type {
	case TypeTAP, TypeSystem, TypeInternal, TypePatch, TypeVXLAN, TypeGeneve, TypeGRE, TypeBond:
	default:
		return errf("type", strings.Join(PortTypes, ", "), "%q", p.Type)
	}
	if p.NetNS != "" && p.Type != TypeTAP && !(p.Type == TypeSystem && p.VethPeer != "") {
		return errf("netns", "tap ports (and veth pairs)", "netns does not apply to a %s port", p.Type)
	}
	if p.NetNS != "" {
		if err := checkNSName(p.NetNS); err != nil {
			return err
		}
	}
	if p.Type == TypePatch {
		if p.Peer == "" {
			return errf("peer", "the name of a patch port on another bridge", "a patch port needs --peer")
		}
		if p.Peer == p.Name {
			return errf("peer", "another port's name", "port %q cannot be its own peer", p.Name)
		}
		if q, ok := c.Ports[p.Peer]; ok {
			if q.Type != TypePatch {
				return errf("peer", "a patch port", "peer %q is a %s port", p.Peer, q.Type)
			}
			if q.Peer != p.Name {
				return errf("peer", fmt.Sprintf("a patch port whose peer is %q", p.Name), "peer %q is paired with %q", p.Peer, q.Peer)
			}
			if q.Bridge == p.Bridge {
				return errf("peer", "a patch port on another bridge", "%q and %q are both on bridge %q", p.Name, p.Peer, p.Bridge)
			}
		}
	} else if p.Peer != "" {
		return errf("peer", "patch ports only", "peer does not apply to a %s port", p.Type)
	}
	isTunnel := p.Type == TypeVXLAN || p.Type == TypeGeneve || p.Type == TypeGRE
	if isTunnel != (p.Tunnel != nil) {
		if isTunnel {
			return errf("local", "an IPv4 or IPv6 address", "a %s port needs tunnel settings (--local and --remote or --group)", p.Type)
		}
		return errf("type", "vxlan, geneve, gre", "tunnel settings do not apply to a %s port", p.Type)
	}
	if isTunnel {
		if err := p.Tunnel.validate(p.Type); err != nil {
			return err
		}
	}
	if p.OFPort < 0 || p.OFPort > datapath.MaxOFPort {
		return errf("ofport", fmt.Sprintf("1-%d", datapath.MaxOFPort), "%d", p.OFPort)
	}
	if err := c.validateL2(p); err != nil {
		return err
	}
	_, err := p.DatapathConfig()
	return err
}

func checkNSName(ns string) error {
	if len(ns) == 0 || len(ns) > 64 || strings.ContainsAny(ns, "/\x00") || ns == "." || ns == ".." {
		return errf("netns", "the name of a namespace under /var/run/netns (ip netns)", "%q", ns)
	}
	return nil
}

// DatapathConfig converts the port's VLAN and tunnel settings to the
// engine's PortConfig.
func (p *Port) DatapathConfig() (datapath.PortConfig, error) {
	var cfg datapath.PortConfig
	cfg.NoLearning = p.NoLearning
	if p.VLAN < 0 || p.VLAN > datapath.MaxVID {
		return cfg, errf("vlan", datapath.AllowedVID, "%d", p.VLAN)
	}
	if p.NativeVLAN < 0 || p.NativeVLAN > datapath.MaxVID {
		return cfg, errf("native-vlan", datapath.AllowedVID, "%d", p.NativeVLAN)
	}
	if p.Trunks != "" {
		set, err := datapath.ParseVLANList(p.Trunks)
		if err != nil {
			return cfg, err
		}
		cfg.Trunks = set
	}
	cfg.NativeVLAN, cfg.NativeTagged = uint16(p.NativeVLAN), p.NativeTagged
	cfg.Mode = datapath.ModeTrunk
	if p.VLAN != 0 {
		cfg.Mode, cfg.VLAN = datapath.ModeAccess, uint16(p.VLAN) // with trunk settings: refused by Validate
	}
	if t := p.Tunnel; t != nil {
		cfg.Tunnel = true
		cfg.VNI = uint32(t.VNI)
		cfg.TunnelLocal, _ = netip.ParseAddr(t.Local)
		if t.VNIMap != "" {
			m, err := ParseVNIMap(t.VNIMap)
			if err != nil {
				return cfg, err
			}
			if p.VLAN != 0 || p.Trunks != "" || p.NativeVLAN != 0 {
				return cfg, errf("vni-map", "either --vni-map or --vni with VLAN flags", "a port with a VNI map carries exactly the mapped VLANs")
			}
			cfg.VNIs = m
		}
	}
	return cfg, cfg.Validate()
}

// ParseVNIMap parses "10:5001,20:5002" into VLAN → VNI.
func ParseVNIMap(s string) (map[uint16]uint32, error) {
	const allowed = "VLAN:VNI pairs like 10:5001,20:5002 (VLAN 1-4094, VNI 0-16777215, each VNI once)"
	m := map[uint16]uint32{}
	seen := map[uint32]bool{}
	for _, part := range strings.Split(s, ",") {
		v, n, ok := strings.Cut(strings.TrimSpace(part), ":")
		vlan, err1 := strconv.Atoi(v)
		vni, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || vlan < 1 || vlan > datapath.MaxVID || vni < 0 || vni > 1<<24-1 {
			return nil, errf("vni-map", allowed, "%q", part)
		}
		if _, dup := m[uint16(vlan)]; dup || seen[uint32(vni)] {
			return nil, errf("vni-map", allowed, "%q repeats a VLAN or VNI", part)
		}
		m[uint16(vlan)] = uint32(vni)
		seen[uint32(vni)] = true
	}
	return m, nil
}

func (t *Tunnel) validate(typ string) error {
	local, err := netip.ParseAddr(t.Local)
	if err != nil {
		return errf("local", "an IPv4 or IPv6 address of this host", "%q", t.Local)
	}
	if t.VNI < 0 || t.VNI > 1<<24-1 {
		return errf("vni", "0-16777215", "%d", t.VNI)
	}
	if t.VNI != 0 && t.VNIMap != "" {
		return errf("vni", "either --vni or --vni-map", "both given")
	}
	if len(t.Remotes) == 0 && t.Group == "" {
		return errf("remote", "one or more remote VTEP addresses, or --group", "a tunnel port needs somewhere to send")
	}
	if len(t.Remotes) > 0 && t.Group != "" {
		return errf("group", "either --remote or --group", "both given")
	}
	for _, r := range t.Remotes {
		a, err := netip.ParseAddr(r)
		if err != nil || a.IsMulticast() || a.IsUnspecified() {
			return errf("remote", "unicast IPv4 or IPv6 addresses", "%q", r)
		}
		if a.Is4() != local.Is4() {
			return errf("remote", "the same address family as --local", "%q vs local %q", r, t.Local)
		}
	}
	if t.Group != "" {
		g, err := netip.ParseAddr(t.Group)
		if err != nil || !g.IsMulticast() {
			return errf("group", "a multicast address like 239.1.1.100", "%q", t.Group)
		}
		if typ == TypeGRE {
			return errf("group", "vxlan and geneve ports", "GRE floods by head-end replication only")
		}
		if t.Dev == "" {
			return errf("dev", "the underlay interface to join the group on", "--group needs --dev")
		}
	}
	if t.DstPort < 0 || t.DstPort > 65535 || (typ == TypeGRE && t.DstPort != 0) {
		return errf("dst-port", "1-65535 (vxlan, geneve)", "%d", t.DstPort)
	}
	if t.SrcPortMin != 0 || t.SrcPortMax != 0 {
		if t.SrcPortMin < 1 || t.SrcPortMax > 65535 || t.SrcPortMin > t.SrcPortMax {
			return errf("src-port-range", "LOW-HIGH within 1-65535", "%d-%d", t.SrcPortMin, t.SrcPortMax)
		}
	}
	switch t.UDPCsum {
	case "", "on", "off":
	default:
		return errf("udp-csum", "on, off", "%q", t.UDPCsum)
	}
	if t.TTL < 0 || t.TTL > 255 {
		return errf("ttl", "1-255 (0 = default 64)", "%d", t.TTL)
	}
	if t.TOS != "" && t.TOS != "inherit" {
		if n, err := strconv.Atoi(t.TOS); err != nil || n < 0 || n > 255 {
			return errf("tos", "0-255 or inherit", "%q", t.TOS)
		}
	}
	return nil
}

func (c *Config) validateFDB(e StaticFDB) error {
	if _, ok := c.Bridges[e.Bridge]; !ok {
		return errf("bridge", "an existing bridge", "%q", e.Bridge)
	}
	mac, err := net.ParseMAC(e.MAC)
	if err != nil || len(mac) != 6 || mac[0]&1 != 0 || [6]byte(mac) == [6]byte{} {
		return errf("mac", "a unicast, non-zero MAC like 02:00:00:00:00:01", "%q", e.MAC)
	}
	p, ok := c.Ports[e.Port]
	if !ok || p.Bridge != e.Bridge {
		return errf("port", "a port of bridge "+e.Bridge, "%q", e.Port)
	}
	if e.VLAN < 0 || e.VLAN > datapath.MaxVID {
		return errf("vlan", "0-4094 (0 = untagged)", "%d", e.VLAN)
	}
	cfg, _ := p.DatapathConfig()
	if !cfg.Carries(uint16(e.VLAN)) {
		return errf("vlan", "a VLAN the port carries", "port %q does not carry vlan %d", e.Port, e.VLAN)
	}
	if e.Remote != "" {
		if p.Tunnel == nil {
			return errf("remote", "tunnel ports only", "port %q is a %s port", e.Port, p.Type)
		}
		if _, err := netip.ParseAddr(e.Remote); err != nil {
			return errf("remote", "an IPv4 or IPv6 address", "%q", e.Remote)
		}
	}
	return nil
}
