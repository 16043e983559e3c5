package stp

import (
	"fmt"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// Protocol is the spanning tree protocol a bridge runs.
type Protocol uint8

// Protocols.
const (
	// STP is IEEE 802.1D-1998 (clause 8): blocking, listening, learning,
	// forwarding; reconvergence in 2 × forward delay (plus max age when
	// the failure is indirect).
	STP Protocol = iota
	// RSTP is IEEE 802.1D-2004 clause 17 (802.1w): rapid transitions by
	// proposal/agreement on point-to-point links, alternate ports that
	// take over at once, STP BPDUs towards STP bridges.
	RSTP
)

func (p Protocol) String() string {
	if p == RSTP {
		return "rstp"
	}
	return "stp"
}

// Timer ranges and defaults (802.1D-2004 Table 17-1, 802.1D-1998 Table 8-3).
const (
	DefaultHelloTime    = 2 * time.Second
	DefaultMaxAge       = 20 * time.Second
	DefaultForwardDelay = 15 * time.Second
	DefaultPriority     = 32768
	DefaultPortPriority = 128
	DefaultTxHoldCount  = 6
	// MigrateTime is RSTP's mdelay: how long a port keeps the protocol
	// version it chose before it looks again (17.13.9).
	MigrateTime = 3 * time.Second
	// HoldTime is STP's minimum interval between Configuration BPDUs on a
	// port (802.1D-1998 8.10.3, the Linux bridge's BR_HOLD_TIME).
	HoldTime = 1 * time.Second
	// MessageAgeIncrement is added to the message age at each hop.
	MessageAgeIncrement = 1 * time.Second
)

// Config is a bridge's spanning tree configuration.
type Config struct {
	Protocol Protocol
	// Address is the bridge's MAC address (the bridge ID's low 48 bits).
	Address packet.MAC
	// Priority is the bridge priority, a multiple of 4096 from 0 to 61440
	// (default 32768). Lower wins the root election.
	Priority uint16
	// PrioritySet marks Priority 0 as meant (0 is a valid priority).
	PrioritySet bool
	// HelloTime (1-10 s), MaxAge (6-40 s) and ForwardDelay (4-30 s), with
	// 2 × (ForwardDelay − 1 s) ≥ MaxAge ≥ 2 × (HelloTime + 1 s). Zero picks
	// the default (2 s, 20 s, 15 s). Only the root's values are in force.
	HelloTime, MaxAge, ForwardDelay time.Duration
	// TxHoldCount is RSTP's Transmit Hold Count (1-10, default 6): BPDUs a
	// port may send per second.
	TxHoldCount int
}

func (c Config) withDefaults() Config {
	if c.Priority == 0 && !c.PrioritySet {
		c.Priority = DefaultPriority
	}
	if c.HelloTime == 0 {
		c.HelloTime = DefaultHelloTime
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.ForwardDelay == 0 {
		c.ForwardDelay = DefaultForwardDelay
	}
	if c.TxHoldCount == 0 {
		c.TxHoldCount = DefaultTxHoldCount
	}
	return c
}

func secs(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return d.String()
}

// Validate checks the configuration and names the field at fault.
func (c *Config) Validate() error {
	d := c.withDefaults()
	if d.Protocol > RSTP {
		return errs.Invalidf("stp", "off, stp, rstp", "protocol %d", d.Protocol)
	}
	if d.Address.IsZero() || d.Address.IsMulticast() {
		return errs.Invalidf("hwaddr", "a non-zero unicast MAC address", "bridge address %s cannot be a bridge ID", d.Address)
	}
	if d.Priority%4096 != 0 || d.Priority > 61440 {
		return errs.Invalidf("stp-priority", "multiples of 4096 from 0 to 61440", "%d", d.Priority)
	}
	for _, t := range []struct {
		name    string
		v       time.Duration
		lo, hi  time.Duration
		flagRef string
	}{
		{"hello-time", d.HelloTime, time.Second, 10 * time.Second, ""},
		{"max-age", d.MaxAge, 6 * time.Second, 40 * time.Second, ""},
		{"forward-delay", d.ForwardDelay, 4 * time.Second, 30 * time.Second, ""},
	} {
		if t.v < t.lo || t.v > t.hi || t.v%time.Second != 0 {
			return errs.Invalidf(t.name, fmt.Sprintf("whole seconds %s-%s", secs(t.lo), secs(t.hi)), "%s", secs(t.v))
		}
	}
	if 2*(d.ForwardDelay-time.Second) < d.MaxAge {
		return errs.Invalidf("max-age", "2 × (forward-delay − 1 s) ≥ max-age ≥ 2 × (hello-time + 1 s)", "max-age %s is too long for forward-delay %s", secs(d.MaxAge), secs(d.ForwardDelay))
	}
	if d.MaxAge < 2*(d.HelloTime+time.Second) {
		return errs.Invalidf("max-age", "2 × (forward-delay − 1 s) ≥ max-age ≥ 2 × (hello-time + 1 s)", "max-age %s is too short for hello-time %s", secs(d.MaxAge), secs(d.HelloTime))
	}
	if d.TxHoldCount < 1 || d.TxHoldCount > 10 {
		return errs.Invalidf("tx-hold-count", "1-10", "%d", d.TxHoldCount)
	}
	return nil
}

// EdgeMode is a port's edge configuration.
type EdgeMode uint8

// Edge modes.
const (
	// EdgeAuto: not an edge port until no BPDU was heard for a while
	// (RSTP's AutoEdge, 17.25), then forwarding without delay.
	EdgeAuto EdgeMode = iota
	// EdgeOn: an edge port (a VM's NIC): forwarding at once, no topology
	// change when it goes up or down; a BPDU heard makes it a normal port
	// again (or, with BPDU guard, disables it).
	EdgeOn
	// EdgeOff: never an edge port.
	EdgeOff
)

func (e EdgeMode) String() string {
	switch e {
	case EdgeOn:
		return "on"
	case EdgeOff:
		return "off"
	}
	return "auto"
}

// ParseEdgeMode parses on, off or auto.
func ParseEdgeMode(s string) (EdgeMode, error) {
	switch s {
	case "auto", "":
		return EdgeAuto, nil
	case "on":
		return EdgeOn, nil
	case "off":
		return EdgeOff, nil
	}
	return 0, errs.Invalidf("edge", "on, off, auto", "%q", s)
}

// P2P is a port's point-to-point configuration (adminPointToPointMAC).
type P2P uint8

// Point-to-point modes. Auto means point-to-point: every link Switchyard
// has (veth, TAP, tunnel, patch) is full duplex.
const (
	P2PAuto P2P = iota
	P2POn
	P2POff
)

// PortConfig is one port's spanning tree configuration.
type PortConfig struct {
	// Priority is the port priority, a multiple of 16 from 0 to 240
	// (default 128); set PrioritySet to mean 0.
	Priority    uint8
	PrioritySet bool
	// PathCost is the port's cost (0 = from the link speed: 802.1D-1998
	// costs for STP, as the Linux bridge uses, 802.1D-2004 costs for
	// RSTP). STP allows 1-65535, RSTP 1-200000000.
	PathCost uint32
	// Edge is on, off or auto.
	Edge EdgeMode
	// PointToPoint is auto (on), on or off; RSTP's rapid transitions of a
	// designated port need a point-to-point link.
	PointToPoint P2P
	// BPDUGuard disables the port when a BPDU arrives on it (counted);
	// it comes back when its link goes down and up, or with ClearGuard.
	BPDUGuard bool
	// RootGuard keeps the port from becoming the root port: superior
	// BPDUs on it make it discarding (alternate) until they stop
	// (802.1Q's restrictedRole), counted.
	RootGuard bool
	// MAC is the source address of the port's BPDUs (default the bridge's).
	MAC packet.MAC
}

func (c PortConfig) withDefaults() PortConfig {
	if c.Priority == 0 && !c.PrioritySet {
		c.Priority = DefaultPortPriority
	}
	return c
}

// Validate checks the port configuration for protocol p and names the field.
func (c *PortConfig) Validate(p Protocol) error {
	d := c.withDefaults()
	if d.Priority%16 != 0 || d.Priority > 240 {
		return errs.Invalidf("stp-priority", "multiples of 16 from 0 to 240 (a port's)", "%d", d.Priority)
	}
	maxCost := uint32(200_000_000)
	if p == STP {
		maxCost = 65535
	}
	if d.PathCost > maxCost {
		return errs.Invalidf("stp-cost", fmt.Sprintf("1-%d for %s (0 = from the link speed)", maxCost, p), "%d", d.PathCost)
	}
	if d.Edge > EdgeOff {
		return errs.Invalidf("edge", "on, off, auto", "mode %d", d.Edge)
	}
	if d.PointToPoint > P2POff {
		return errs.Invalidf("point-to-point", "auto, on, off", "mode %d", d.PointToPoint)
	}
	if d.MAC.IsMulticast() {
		return errs.Invalidf("mac", "a unicast MAC address", "%s", d.MAC)
	}
	return nil
}

// DefaultPathCost returns the path cost of a link of speedMbps: with long
// false the 802.1D-1998 values (10 Mb/s 100, 100 Mb/s 19, 1 Gb/s 4,
// 10 Gb/s 2, faster 1), which the Linux bridge uses; with long true the
// 802.1D-2004 Table 17-3 values, 20,000,000,000 / speed in kb/s (10 Gb/s
// 2,000). An unknown speed (0) counts as 10 Gb/s, what veth reports.
func DefaultPathCost(speedMbps int, long bool) uint32 {
	if speedMbps <= 0 {
		speedMbps = 10000
	}
	if long {
		c := uint64(20_000_000) / uint64(speedMbps)
		if c < 1 {
			c = 1
		}
		if c > 200_000_000 {
			c = 200_000_000
		}
		return uint32(c)
	}
	switch {
	case speedMbps >= 100000:
		return 1
	case speedMbps >= 10000:
		return 2
	case speedMbps >= 1000:
		return 4
	case speedMbps >= 100:
		return 19
	case speedMbps >= 10:
		return 100
	}
	return 250
}

// State is a port's state: what the forwarding path does with its frames.
type State uint8

// Port states. STP has blocking and listening; RSTP has discarding in their
// place.
const (
	Disabled State = iota
	Blocking
	Listening
	Learning
	Forwarding
	Discarding
)

var stateNames = [...]string{"disabled", "blocking", "listening", "learning", "forwarding", "discarding"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

// Learns reports whether frames received on the port teach the FDB
// (learning and forwarding).
func (s State) Learns() bool { return s == Learning || s == Forwarding }

// Forwards reports whether the port forwards frames (in and out). BPDUs
// are exchanged in every state but disabled.
func (s State) Forwards() bool { return s == Forwarding }

// Role is a port's spanning tree role.
type Role uint8

// Port roles (802.1D-2004 17.7). STP's non-designated ports are reported
// as alternate (or backup, when the designated port is this bridge's).
const (
	RoleDisabled Role = iota
	RoleRoot
	RoleDesignated
	RoleAlternate
	RoleBackup
)

var roleNames = [...]string{"disabled", "root", "designated", "alternate", "backup"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// Frame is a BPDU to send on a port.
type Frame struct {
	Port uint16
	Data []byte
}

// PortChange is a port's new state (and role) for the forwarding path.
type PortChange struct {
	Port  uint16
	State State
	Role  Role
}

// Output is what a call asks of the caller, in order: apply Changes to the
// forwarding path, perform Flushes, send Frames.
type Output struct {
	Frames  []Frame
	Changes []PortChange
	// Flushes lists ports whose learned FDB entries must be removed now
	// (RSTP's fdbFlush; a port leaving forwarding).
	Flushes []uint16
	// AgingChanged: STP asks for short aging (AgingTime = forward delay)
	// while a topology change is in progress, and for the bridge's normal
	// aging again (AgingTime 0) when it ends (802.1D-1998 8.3.5).
	AgingChanged bool
	AgingTime    time.Duration
}

func (o *Output) flush(port uint16) {
	for _, p := range o.Flushes {
		if p == port {
			return
		}
	}
	o.Flushes = append(o.Flushes, port)
}
