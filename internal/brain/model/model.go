// Package model holds the brain's records — networks, hosts, ports (VIFs)
// and what agents report — their validation, and the etcd key layout they
// are stored under. It imports nothing of etcd: the agent, the CLI and the
// brain's Go client use it without carrying an etcd client.
//
// Key layout (Prefix is "/switchyard/v1" unless configured; every value is
// JSON):
//
//	<P>/networks/<name>            Network                  created by `network create`
//	<P>/index/vni/<vni>            network name             VNI uniqueness (one VNI, one network)
//	<P>/ports/<id>                 Port                     created by `vif plug`, changed by `vif move`
//	<P>/index/mac/<network>/<mac>  port id                  MAC uniqueness per network
//	<P>/index/ip/<network>/<ip>    port id                  IP uniqueness per network
//	<P>/hosts/<name>               Host                     written when an agent registers (kept when it dies)
//	<P>/alive/<name>               Alive                    attached to the host's etcd lease: present = alive
//	<P>/status/hosts/<name>        HostStatus               applied revision, written by the brain, coalesced
//
// Every uniqueness rule is enforced inside the etcd transaction that
// creates the record (compare CreateRevision == 0 on the index keys), never
// by reading first and writing after. A port's Version is the etcd
// ModRevision of its key: strictly increasing across every change of the
// binding, also across unplug and plug of the same MAC, which is what the
// agents order MAC moves by.
package model

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DefaultPrefix is where the brain keeps its keys in etcd.
const DefaultPrefix = "/switchyard/v1"

// Encapsulations a brain network may use.
const (
	EncapVXLAN  = "vxlan"
	EncapGeneve = "geneve"
)

// Encaps lists the allowed encapsulations, for error messages.
var Encaps = []string{EncapVXLAN, EncapGeneve}

// Limits.
const (
	MinVNI     = 1
	MaxVNI     = 1<<24 - 1
	MinMTU     = 576
	MaxMTU     = 9000
	DefaultMTU = 1450
	MaxIPs     = 16
	MaxVTEPs   = 4
)

// Network is a tenant network: one L2 segment carried between hosts in a
// tunnel with its own VNI.
type Network struct {
	Name  string `json:"name"`
	Encap string `json:"encap"`
	VNI   uint32 `json:"vni"`
	MTU   int    `json:"mtu"`
	// Revision is the etcd ModRevision of the record (not stored).
	Revision int64 `json:"revision,omitempty"`
}

// Port is a VIF: a VM's NIC on a tenant network, bound to one host. The
// agent on that host creates the TAP (named IfName) in the VM's network
// namespace NetNS; every other host with ports in the network gets a static
// MAC → VTEP entry and neighbour-responder entries for its IPs.
type Port struct {
	ID      string   `json:"id"`
	Network string   `json:"network"`
	MAC     string   `json:"mac"`
	IPs     []string `json:"ips,omitempty"`
	Host    string   `json:"host"`
	NetNS   string   `json:"netns,omitempty"`
	IfName  string   `json:"ifname,omitempty"`
	// MigratingTo is the target host of a make-before-break move in
	// progress: the target creates the VIF and joins the network while
	// every host still forwards to Host.
	MigratingTo string `json:"migrating_to,omitempty"`
	// Moves counts the changes of Host (the RFC 7432 mobility sequence).
	Moves int `json:"moves,omitempty"`
	// Version is the etcd ModRevision of the record (not stored).
	Version int64 `json:"version,omitempty"`
}

// Host is a hypervisor: its agent's registration.
type Host struct {
	Name   string   `json:"name"`
	VTEPs  []string `json:"vteps"`
	Encaps []string `json:"encaps"`
	// Revision is the etcd ModRevision of the record (not stored).
	Revision int64 `json:"revision,omitempty"`
}

// Alive is the value of a host's lease-bound liveness key.
type Alive struct {
	Session string `json:"session"`
	Since   string `json:"since"` // RFC 3339
	TTL     int64  `json:"ttl"`
}

// HostStatus is what the brain records of an agent's progress.
type HostStatus struct {
	Applied int64  `json:"applied"`
	At      string `json:"at"`
}

// Error is a rejected request: the field at fault, what was wrong and the
// allowed values. Code is one of the api-style codes below.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Allowed string `json:"allowed,omitempty"`
}

// Error codes (the same words as the daemon's API).
const (
	CodeInvalid     = "invalid_argument"
	CodeNotFound    = "not_found"
	CodeExists      = "already_exists"
	CodeFailed      = "failed_precondition"
	CodeUnavailable = "unavailable"
	CodeTimeout     = "deadline_exceeded"
	CodeInternal    = "internal"
)

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Allowed != "" {
		msg += "; allowed: " + e.Allowed
	}
	return msg
}

// Invalid returns an invalid-argument error for field.
func Invalid(field, allowed, format string, a ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Allowed: allowed, Message: fmt.Sprintf(format, a...)}
}

// NotFound returns a not-found error for field.
func NotFound(field, format string, a ...any) *Error {
	return &Error{Code: CodeNotFound, Field: field, Message: fmt.Sprintf(format, a...)}
}

// Exists returns an already-exists error for field.
func Exists(field, format string, a ...any) *Error {
	return &Error{Code: CodeExists, Field: field, Message: fmt.Sprintf(format, a...)}
}

// Failed returns a failed-precondition error for field.
func Failed(field, format string, a ...any) *Error {
	return &Error{Code: CodeFailed, Field: field, Message: fmt.Sprintf(format, a...)}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

const nameAllowed = "1-64 of a-z 0-9 . _ -, starting and ending with a letter or digit"

// CheckName validates a network, host or port name.
func CheckName(field, s string) error {
	if !nameRE.MatchString(s) {
		return Invalid(field, nameAllowed, "%q is not a valid name", s)
	}
	return nil
}

// Normalize fills defaults and validates a network.
func (n *Network) Normalize() error {
	if err := CheckName("name", n.Name); err != nil {
		return err
	}
	if n.Encap == "" {
		n.Encap = EncapVXLAN
	}
	if n.Encap != EncapVXLAN && n.Encap != EncapGeneve {
		return Invalid("encap", strings.Join(Encaps, ", "), "%q is not a brain encapsulation", n.Encap)
	}
	if n.VNI < MinVNI || n.VNI > MaxVNI {
		return Invalid("vni", fmt.Sprintf("%d-%d", MinVNI, MaxVNI), "%d is out of range", n.VNI)
	}
	if n.MTU == 0 {
		n.MTU = DefaultMTU
	}
	if n.MTU < MinMTU || n.MTU > MaxMTU {
		return Invalid("mtu", fmt.Sprintf("%d-%d", MinMTU, MaxMTU), "%d is out of range", n.MTU)
	}
	return nil
}

// ParseMAC parses a unicast Ethernet MAC and returns its canonical form
// (lower case, colons).
func ParseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", Invalid("mac", "a unicast EUI-48 such as 02:00:00:00:00:01", "%q is not a MAC address", s)
	}
	if hw[0]&1 != 0 {
		return "", Invalid("mac", "a unicast EUI-48 (first octet even)", "%s is a multicast address", hw)
	}
	if hw.String() == "00:00:00:00:00:00" {
		return "", Invalid("mac", "a unicast EUI-48, not all zeros", "00:00:00:00:00:00 is not an address")
	}
	return hw.String(), nil
}

// ParseIP parses a port address (IPv4 or IPv6 unicast, no zone) and
// returns its canonical form.
func ParseIP(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, Invalid(field, "an IPv4 or IPv6 unicast address without zone", "%q is not an address", s)
	}
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || (a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return netip.Addr{}, Invalid(field, "an IPv4 or IPv6 unicast address", "%s is not a unicast host address", a)
	}
	return a, nil
}

var ifnameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// DefaultIfName is the TAP name used when a port gives none: "sy" and 8
// hex digits of a hash of the port ID (unique enough inside one VM's
// namespace, and within the kernel's 15 characters).
func DefaultIfName(id string) string {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return fmt.Sprintf("sy%08x", h)
}

// Normalize fills defaults and validates a port. The ID defaults to the
// network and the MAC.
func (p *Port) Normalize() error {
	if err := CheckName("network", p.Network); err != nil {
		return err
	}
	mac, err := ParseMAC(p.MAC)
	if err != nil {
		return err
	}
	p.MAC = mac
	if p.ID == "" {
		p.ID = p.Network + "." + strings.ReplaceAll(mac, ":", "")
	}
	if err := CheckName("id", p.ID); err != nil {
		return err
	}
	if err := CheckName("host", p.Host); err != nil {
		return err
	}
	if p.MigratingTo != "" {
		if err := CheckName("migrating_to", p.MigratingTo); err != nil {
			return err
		}
		if p.MigratingTo == p.Host {
			return Invalid("migrating_to", "a host other than "+p.Host, "the port is already on %s", p.Host)
		}
	}
	if len(p.IPs) > MaxIPs {
		return Invalid("ips", fmt.Sprintf("at most %d addresses", MaxIPs), "%d addresses", len(p.IPs))
	}
	seen := map[netip.Addr]bool{}
	ips := make([]string, 0, len(p.IPs))
	for _, s := range p.IPs {
		a, err := ParseIP("ips", s)
		if err != nil {
			return err
		}
		if seen[a] {
			return Invalid("ips", "each address once", "%s is given twice", a)
		}
		seen[a] = true
		ips = append(ips, a.String())
	}
	p.IPs = ips
	if p.NetNS != "" && !ifnameRE.MatchString(p.NetNS) && !nameRE.MatchString(p.NetNS) {
		return Invalid("netns", "a namespace name of A-Z a-z 0-9 _ . -", "%q is not a namespace name", p.NetNS)
	}
	if p.IfName == "" {
		p.IfName = DefaultIfName(p.ID)
	}
	if !ifnameRE.MatchString(p.IfName) {
		return Invalid("ifname", "1-15 of A-Z a-z 0-9 _ . -", "%q is not an interface name", p.IfName)
	}
	return nil
}

// Hosts returns the hosts a port occupies: its host and, during a move,
// the target.
func (p *Port) Hosts() []string {
	if p.MigratingTo != "" {
		return []string{p.Host, p.MigratingTo}
	}
	return []string{p.Host}
}

// Normalize validates a host registration.
func (h *Host) Normalize() error {
	if err := CheckName("host", h.Name); err != nil {
		return err
	}
	if len(h.VTEPs) == 0 || len(h.VTEPs) > MaxVTEPs {
		return Invalid("vteps", fmt.Sprintf("1-%d unicast addresses", MaxVTEPs), "%d given", len(h.VTEPs))
	}
	for i, s := range h.VTEPs {
		a, err := ParseIP("vteps", s)
		if err != nil {
			return err
		}
		h.VTEPs[i] = a.String()
	}
	if len(h.Encaps) == 0 {
		h.Encaps = []string{EncapVXLAN, EncapGeneve}
	}
	for _, e := range h.Encaps {
		if e != EncapVXLAN && e != EncapGeneve {
			return Invalid("encaps", strings.Join(Encaps, ", "), "%q is not a brain encapsulation", e)
		}
	}
	sort.Strings(h.Encaps)
	return nil
}

// Supports says whether the host terminates encap.
func (h *Host) Supports(encap string) bool {
	for _, e := range h.Encaps {
		if e == encap {
			return true
		}
	}
	return false
}

// Keys builds the etcd keys under a prefix.
type Keys struct{ Prefix string }

// Networks is the prefix of every network record.
func (k Keys) Networks() string { return k.Prefix + "/networks/" }

// Network is a network's key.
func (k Keys) Network(name string) string { return k.Networks() + name }

// VNI is the VNI index key.
func (k Keys) VNI(vni uint32) string {
	return k.Prefix + "/index/vni/" + strconv.FormatUint(uint64(vni), 10)
}

// Ports is the prefix of every port record.
func (k Keys) Ports() string { return k.Prefix + "/ports/" }

// Port is a port's key.
func (k Keys) Port(id string) string { return k.Ports() + id }

// MACs is the MAC index prefix of a network.
func (k Keys) MACs(network string) string { return k.Prefix + "/index/mac/" + network + "/" }

// MAC is a MAC index key.
func (k Keys) MAC(network, mac string) string { return k.MACs(network) + mac }

// IP is an IP index key.
func (k Keys) IP(network, ip string) string { return k.Prefix + "/index/ip/" + network + "/" + ip }

// Hosts is the prefix of every host record.
func (k Keys) Hosts() string { return k.Prefix + "/hosts/" }

// Host is a host's record key.
func (k Keys) Host(name string) string { return k.Hosts() + name }

// Alives is the prefix of the liveness keys.
func (k Keys) Alives() string { return k.Prefix + "/alive/" }

// Alive is a host's liveness key (bound to its lease).
func (k Keys) Alive(name string) string { return k.Alives() + name }

// HostStatus is a host's status key.
func (k Keys) HostStatus(name string) string { return k.Prefix + "/status/hosts/" + name }

// Kind says what a key under the prefix holds, and its name.
func (k Keys) Kind(key string) (kind, name string) {
	rest, ok := strings.CutPrefix(key, k.Prefix+"/")
	if !ok {
		return "", ""
	}
	kind, name, _ = strings.Cut(rest, "/")
	return kind, name
}
