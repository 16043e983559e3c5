package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-net/switchyard/internal/bond"
	"github.com/switchyard-net/switchyard/internal/lacp"
	"github.com/switchyard-net/switchyard/internal/packet"
	"github.com/switchyard-net/switchyard/internal/stp"
)

// TypeBond is a bond port: one bridge port over two or more member
// interfaces (Open vSwitch's bond), with or without LACP.
const TypeBond = "bond"

// OptInt is an integer setting that may be unset, for settings where 0 is
// a valid value (a spanning-tree priority). Unset, it is left out of the
// JSON (`omitzero`); set, it is the number.
type OptInt struct {
	Value int
	Set   bool
}

// Opt returns a set OptInt.
func Opt(v int) OptInt { return OptInt{Value: v, Set: true} }

// IsZero reports whether the setting is unset.
func (o OptInt) IsZero() bool { return !o.Set }

// Or returns the value, or def when unset.
func (o OptInt) Or(def int) int {
	if o.Set {
		return o.Value
	}
	return def
}

// MarshalJSON writes the number (null when unset).
func (o OptInt) MarshalJSON() ([]byte, error) {
	if !o.Set {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, int64(o.Value), 10), nil
}

// UnmarshalJSON reads a number (null: unset).
func (o *OptInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = OptInt{}
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*o = Opt(v)
	return nil
}

// BridgeSTP is a bridge's spanning tree settings (embedded in Bridge).
type BridgeSTP struct {
	// STP is off (the default), stp (IEEE 802.1D-1998) or rstp (802.1w).
	STP string `json:"stp,omitempty"`
	// STPPriority is the bridge priority: a multiple of 4096 from 0 to
	// 61440 (default 32768).
	STPPriority OptInt `json:"stp_priority,omitzero"`
	// STPHelloTime, STPMaxAge and STPForwardDelay are the timers in
	// seconds (0 = default 2, 20, 15; ranges 1-10, 6-40, 4-30 with
	// 2 × (forward-delay − 1) ≥ max-age ≥ 2 × (hello-time + 1)).
	STPHelloTime    int `json:"stp_hello_time,omitempty"`
	STPMaxAge       int `json:"stp_max_age,omitempty"`
	STPForwardDelay int `json:"stp_forward_delay,omitempty"`
	// HWAddr is the bridge's MAC address: its spanning-tree bridge ID and
	// its bonds' LACP system ID. Empty: derived from the bridge name and
	// the host (stable across restarts).
	HWAddr string `json:"hwaddr,omitempty"`
}

// PortSTP is a port's spanning tree settings (embedded in Port).
type PortSTP struct {
	// STPCost is the path cost (0 = from the link speed; STP 1-65535,
	// RSTP 1-200000000).
	STPCost int `json:"stp_cost,omitempty"`
	// STPPortPriority is the port priority, a multiple of 16 from 0 to 240
	// (default 128).
	STPPortPriority OptInt `json:"stp_priority,omitzero"`
	// Edge is on, off or auto; empty means on for TAP ports (a VM's NIC)
	// and auto for the others.
	Edge string `json:"edge,omitempty"`
	// BPDUGuard disables the port when a BPDU arrives on it (counted).
	BPDUGuard bool `json:"bpdu_guard,omitempty"`
	// RootGuard keeps the port from becoming the root port (counted).
	RootGuard bool `json:"root_guard,omitempty"`
}

// Bond is a bond port's settings (type bond).
type Bond struct {
	// Members are the member interfaces, in the daemon's namespace (2-32).
	Members []string `json:"members"`
	// Mode is active-backup (default), balance-slb or balance-tcp.
	Mode string `json:"bond_mode,omitempty"`
	// LACP is off (default), active or passive.
	LACP string `json:"lacp,omitempty"`
	// LACPRate is slow (default, 30 s) or fast (1 s).
	LACPRate string `json:"lacp_rate,omitempty"`
	// LACPFallbackAB carries traffic active-backup while the partner sends
	// no LACPDU.
	LACPFallbackAB bool `json:"lacp_fallback_ab,omitempty"`
	// UpDelay and DownDelay are in milliseconds (0-3600000).
	UpDelay   int `json:"updelay,omitempty"`
	DownDelay int `json:"downdelay,omitempty"`
}

func (b *Bond) clone() *Bond {
	if b == nil {
		return nil
	}
	n := *b
	n.Members = append([]string(nil), b.Members...)
	return &n
}

// placeholder is the address validation uses when the real one is only
// known at run time (the bridge's derived MAC).
var placeholder = packet.MAC{0x02, 0, 0, 0, 0, 1}

// STPProtocol returns whether spanning tree is on, and which protocol.
func (b *Bridge) STPProtocol() (on bool, proto stp.Protocol, err error) {
	switch b.STP {
	case "", "off":
		return false, stp.STP, nil
	case "stp":
		return true, stp.STP, nil
	case "rstp":
		return true, stp.RSTP, nil
	}
	return false, 0, errf("stp", "off, stp, rstp", "%q", b.STP)
}

// BridgeMAC returns the configured hardware address, or the zero MAC.
func (b *Bridge) BridgeMAC() (packet.MAC, error) {
	if b.HWAddr == "" {
		return packet.MAC{}, nil
	}
	m, err := packet.ParseMAC(b.HWAddr)
	if err != nil || m.IsZero() || m.IsMulticast() {
		return packet.MAC{}, errf("hwaddr", "a non-zero unicast MAC like 02:00:00:00:00:01", "%q", b.HWAddr)
	}
	return m, nil
}

// STPConfig returns the bridge's spanning tree configuration with address
// addr (the zero MAC: validation only), and whether spanning tree is on.
func (b *Bridge) STPConfig(addr packet.MAC) (stp.Config, bool, error) {
	on, proto, err := b.STPProtocol()
	if err != nil {
		return stp.Config{}, false, err
	}
	if _, err := b.BridgeMAC(); err != nil {
		return stp.Config{}, false, err
	}
	for _, t := range []struct {
		name string
		v    int
	}{{"hello-time", b.STPHelloTime}, {"max-age", b.STPMaxAge}, {"forward-delay", b.STPForwardDelay}} {
		if t.v < 0 {
			return stp.Config{}, false, errf(t.name, "whole seconds (0 = the default)", "%d", t.v)
		}
	}
	if addr.IsZero() {
		addr = placeholder
	}
	c := stp.Config{Protocol: proto, Address: addr, HelloTime: timeSeconds(b.STPHelloTime), MaxAge: timeSeconds(b.STPMaxAge),
		ForwardDelay: timeSeconds(b.STPForwardDelay)}
	if b.STPPriority.Set {
		p := b.STPPriority.Value
		if p < 0 || p > 61440 || p%4096 != 0 {
			return stp.Config{}, false, errf("stp-priority", "multiples of 4096 from 0 to 61440", "%d", p)
		}
		c.Priority, c.PrioritySet = uint16(p), true
	}
	if err := c.Validate(); err != nil {
		return stp.Config{}, false, err
	}
	return c, on, nil
}

// STPPortConfig returns the port's spanning tree configuration for a
// bridge running proto.
func (p *Port) STPPortConfig(proto stp.Protocol) (stp.PortConfig, error) {
	var c stp.PortConfig
	edge := p.Edge
	if edge == "" && p.Type == TypeTAP {
		edge = "on" // a VM's NIC
	}
	e, err := stp.ParseEdgeMode(edge)
	if err != nil {
		return c, err
	}
	c.Edge = e
	if p.STPCost < 0 {
		return c, errf("stp-cost", "1-65535 (stp), 1-200000000 (rstp); 0 = from the link speed", "%d", p.STPCost)
	}
	c.PathCost = uint32(p.STPCost)
	if p.STPPortPriority.Set {
		v := p.STPPortPriority.Value
		if v < 0 || v > 240 || v%16 != 0 {
			return c, errf("stp-priority", "multiples of 16 from 0 to 240 (a port's)", "%d", v)
		}
		c.Priority, c.PrioritySet = uint8(v), true
	}
	c.BPDUGuard, c.RootGuard = p.BPDUGuard, p.RootGuard
	return c, c.Validate(proto)
}

// BondConfig returns the bond's configuration with LACP system ID sysID
// (the zero MAC: validation only) and its member names.
func (p *Port) BondConfig(sysID packet.MAC) (bond.Config, []string, error) {
	b := p.Bond
	if b == nil {
		return bond.Config{}, nil, errf("members", "2-32 interface names (--members a,b)", "a bond port needs members")
	}
	mode, err := bond.ParseMode(b.Mode)
	if err != nil {
		return bond.Config{}, nil, err
	}
	lm, err := bond.ParseLACPMode(b.LACP)
	if err != nil {
		return bond.Config{}, nil, err
	}
	rate, err := lacp.ParseRate(b.LACPRate)
	if err != nil {
		return bond.Config{}, nil, err
	}
	if sysID.IsZero() {
		sysID = placeholder
	}
	c := bond.Config{Name: p.Name, Mode: mode, LACP: lm, LACPRate: rate, LACPFallbackAB: b.LACPFallbackAB, SystemID: sysID,
		UpDelay: time.Duration(b.UpDelay) * time.Millisecond, DownDelay: time.Duration(b.DownDelay) * time.Millisecond}
	if lm == bond.LACPOff {
		c.SystemID = packet.MAC{}
	}
	var mcs []bond.MemberConfig
	for _, m := range b.Members {
		if err := CheckName("members", m); err != nil {
			return bond.Config{}, nil, err
		}
		mcs = append(mcs, bond.MemberConfig{Name: m})
	}
	if err := c.Validate(mcs); err != nil {
		return bond.Config{}, nil, err
	}
	return c, append([]string(nil), b.Members...), nil
}

// validateL2 checks a port's bond and spanning tree settings, and that no
// bond member is also a port or a member of another bond.
func (c *Config) validateL2(p *Port) error {
	if p.Type == TypeBond {
		if _, _, err := p.BondConfig(packet.MAC{}); err != nil {
			return err
		}
		for _, m := range p.Bond.Members {
			if _, clash := c.Ports[m]; clash {
				return errf("members", "interfaces that are not ports themselves", "%q is also a port", m)
			}
			if _, clash := c.Bridges[m]; clash {
				return errf("members", "interfaces that are not bridges", "%q is a bridge", m)
			}
			for _, q := range c.Ports {
				if q != p && q.Bond != nil && q.Name < p.Name && contains(q.Bond.Members, m) {
					return errf("members", "interfaces in one bond only", "%q is also a member of bond %q", m, q.Name)
				}
			}
		}
	} else if p.Bond != nil {
		return errf("members", "bond ports only (--type bond)", "bond settings do not apply to a %s port", p.Type)
	}
	proto := stp.STP
	if br := c.Bridges[p.Bridge]; br != nil {
		_, proto, _ = br.STPProtocol()
	}
	_, err := p.STPPortConfig(proto)
	return err
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// ParseMembers splits a comma-separated member list ("eth1,eth2").
func ParseMembers(s string) []string {
	var l []string
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			l = append(l, m)
		}
	}
	return l
}

// MemberOf returns the bond port that has interface name as a member, or
// nil.
func (c *Config) MemberOf(name string) *Port {
	for _, p := range c.Ports {
		if p.Bond != nil && contains(p.Bond.Members, name) {
			return p
		}
	}
	return nil
}

func (o OptInt) String() string {
	if !o.Set {
		return "default"
	}
	return fmt.Sprint(o.Value)
}
