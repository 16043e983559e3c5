package config

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strconv"
	"strings"

	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/openflow"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// Fail modes.
const (
	FailStandalone = "standalone"
	FailSecure     = "secure"
)

// Allowed-value texts of the OpenFlow settings.
const (
	AllowedControllers = "tcp:IP[:PORT] or unix:PATH, comma separated"
	AllowedListen      = "ptcp:PORT[:IP] or punix:PATH, comma separated"
	AllowedFailMode    = "standalone, secure"
	AllowedProtocols   = "OpenFlow10, OpenFlow13, comma separated"
	AllowedDatapathID  = "16 hex digits, like 0000020000aa0001"
	AllowedPacketIn    = "-1 (unlimited), 0 (default 10000) or 1-10000000 per second"
	AllowedBurst       = "0 (default 1000) or 1-1000000"
)

// BridgeMAC is a bridge's own MAC: locally administered and derived from
// its name, so it is the same on every start.
func BridgeMAC(name string) net.HardwareAddr {
	h := sha256.Sum256([]byte("switchyard bridge " + name))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// DefaultDatapathID is the datapath id of a bridge that was not given one:
// 16 zero bits and the bridge's MAC, as Open vSwitch derives it.
func DefaultDatapathID(name string) string {
	return "0000" + hex.EncodeToString(BridgeMAC(name))
}

// split splits a comma-separated list, dropping blanks.
func split(s string) []string {
	var l []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l = append(l, p)
		}
	}
	return l
}

func targets(field, allowed, list string, passive bool) ([]openflow.Target, error) {
	var out []openflow.Target
	seen := map[string]bool{}
	for _, s := range split(list) {
		t, err := openflow.ParseTarget(s)
		if err != nil {
			return nil, errs.Invalidf(field, allowed, "%q: %v", s, err)
		}
		if t.Kind.Passive() != passive {
			return nil, errs.Invalidf(field, allowed, "%q is a %s target", s, map[bool]string{true: "passive (listening)", false: "controller (connecting)"}[t.Kind.Passive()])
		}
		if seen[t.String()] {
			return nil, errs.Invalidf(field, allowed, "%q is given twice", s)
		}
		seen[t.String()] = true
		out = append(out, t)
	}
	return out, nil
}

// ControllerTargets returns the bridge's controllers.
func (b *Bridge) ControllerTargets() ([]openflow.Target, error) {
	return targets("controller", AllowedControllers, b.Controllers, false)
}

// ListenTargets returns the bridge's extra passive targets.
func (b *Bridge) ListenTargets() ([]openflow.Target, error) {
	return targets("listen", AllowedListen, b.Listen, true)
}

// OpenFlowVersions returns the bitmap of the allowed OpenFlow versions.
func (b *Bridge) OpenFlowVersions() (uint32, error) {
	if strings.TrimSpace(b.Protocols) == "" {
		return ofp.SupportedVersions, nil
	}
	var v uint32
	for _, p := range split(b.Protocols) {
		switch p {
		case "OpenFlow10":
			v |= 1 << ofp.Version10
		case "OpenFlow13":
			v |= 1 << ofp.Version13
		default:
			return 0, errs.Invalidf("protocols", AllowedProtocols, "%q is not a supported version", p)
		}
	}
	if v == 0 {
		return 0, errs.Invalidf("protocols", AllowedProtocols, "no version given")
	}
	return v, nil
}

// DPID returns the bridge's datapath id as a number.
func (b *Bridge) DPID() (uint64, error) {
	s := b.DatapathID
	if s == "" {
		s = DefaultDatapathID(b.Name)
	}
	if len(s) != 16 {
		return 0, errs.Invalidf("datapath-id", AllowedDatapathID, "%q has %d characters", b.DatapathID, len(s))
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, errs.Invalidf("datapath-id", AllowedDatapathID, "%q is not hexadecimal", b.DatapathID)
	}
	return v, nil
}

// FailSecure reports whether the bridge's fail mode is secure.
func (b *Bridge) FailSecure() bool { return b.FailMode == FailSecure }

func (b *Bridge) validateOpenFlow() error {
	if _, err := b.ControllerTargets(); err != nil {
		return err
	}
	if _, err := b.ListenTargets(); err != nil {
		return err
	}
	switch b.FailMode {
	case "", FailStandalone, FailSecure:
	default:
		return errs.Invalidf("fail-mode", AllowedFailMode, "%q", b.FailMode)
	}
	if _, err := b.OpenFlowVersions(); err != nil {
		return err
	}
	if _, err := b.DPID(); err != nil {
		return err
	}
	if b.PacketInRate < -1 || b.PacketInRate > 10_000_000 {
		return errs.Invalidf("packet-in-rate", AllowedPacketIn, "%d", b.PacketInRate)
	}
	if b.PacketInBurst < 0 || b.PacketInBurst > 1_000_000 {
		return errs.Invalidf("packet-in-burst", AllowedBurst, "%d", b.PacketInBurst)
	}
	return nil
}

// String describes the fail mode for status.
func failModeName(m string) string {
	if m == "" {
		return FailStandalone
	}
	return m
}

// FailModeName returns the fail mode with the default filled in.
func (b *Bridge) FailModeName() string { return failModeName(b.FailMode) }
