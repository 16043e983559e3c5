package openflow

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// TargetKind says how a connection target connects.
type TargetKind int

// Target kinds, with the syntax Open vSwitch uses for them.
const (
	// PassiveUnix (punix:PATH) listens on a unix socket: the management
	// socket ovs-ofctl connects to.
	PassiveUnix TargetKind = iota + 1
	// PassiveTCP (ptcp:PORT[:IP]) listens on TCP.
	PassiveTCP
	// ActiveTCP (tcp:IP[:PORT]) connects to a controller.
	ActiveTCP
	// ActiveUnix (unix:PATH) connects to a controller on a unix socket.
	ActiveUnix
)

// DefaultPort is the IANA OpenFlow port, used by tcp: and ptcp: targets
// that give none.
const DefaultPort = 6653

func (k TargetKind) String() string {
	switch k {
	case PassiveUnix:
		return "punix"
	case PassiveTCP:
		return "ptcp"
	case ActiveTCP:
		return "tcp"
	case ActiveUnix:
		return "unix"
	}
	return "unknown"
}

// Passive reports whether the target listens (a service connection) rather
// than connects to a controller.
func (k TargetKind) Passive() bool { return k == PassiveUnix || k == PassiveTCP }

// Target is one parsed connection target.
type Target struct {
	Kind TargetKind
	// Addr is the socket path (punix, unix) or host:port (tcp, ptcp;
	// ptcp's host may be empty for all addresses).
	Addr string
}

func (t Target) String() string {
	switch t.Kind {
	case PassiveUnix, ActiveUnix:
		return t.Kind.String() + ":" + t.Addr
	case ActiveTCP:
		return "tcp:" + t.Addr
	case PassiveTCP:
		host, port, _ := net.SplitHostPort(t.Addr)
		if host == "" {
			return "ptcp:" + port
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return "ptcp:" + port + ":" + host
	}
	return "invalid"
}

// TargetError is a target that does not parse: Field names what is wrong
// and Allowed the values that would do.
type TargetError struct {
	Target  string
	Field   string
	Value   string
	Allowed string
}

func (e *TargetError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("connection target %q: %s is missing (%s)", e.Target, e.Field, e.Allowed)
	}
	return fmt.Sprintf("connection target %q: %s %q is not valid (%s)", e.Target, e.Field, e.Value, e.Allowed)
}

const targetKinds = "punix:PATH, ptcp:PORT[:IP], tcp:IP[:PORT] or unix:PATH"

// ParseTarget parses one target in Open vSwitch's syntax: punix:PATH,
// ptcp:PORT[:IP], tcp:IP[:PORT], unix:PATH. IPv6 addresses are written in
// brackets (tcp:[2001:db8::1]:6653, ptcp:6653:[::1]). A ptcp port of 0
// picks a free port.
func ParseTarget(s string) (Target, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Target{}, &TargetError{Target: s, Field: "kind", Value: s, Allowed: targetKinds}
	}
	switch kind {
	case "punix", "unix":
		if rest == "" {
			return Target{}, &TargetError{Target: s, Field: "socket path", Allowed: "an absolute or relative file name"}
		}
		k := PassiveUnix
		if kind == "unix" {
			k = ActiveUnix
		}
		return Target{Kind: k, Addr: rest}, nil
	case "ptcp":
		portStr, host, _ := strings.Cut(rest, ":")
		port, err := parsePort(s, portStr, true)
		if err != nil {
			return Target{}, err
		}
		if host != "" {
			ip, err := parseIP(s, host)
			if err != nil {
				return Target{}, err
			}
			host = ip.String()
		}
		return Target{Kind: PassiveTCP, Addr: net.JoinHostPort(host, strconv.Itoa(port))}, nil
	case "tcp":
		host, portStr := rest, ""
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]")
			if end < 0 {
				return Target{}, &TargetError{Target: s, Field: "IP address", Value: rest, Allowed: "an IPv6 address in brackets, [2001:db8::1]"}
			}
			host, portStr = rest[:end+1], strings.TrimPrefix(rest[end+1:], ":")
			if rest[end+1:] != "" && !strings.HasPrefix(rest[end+1:], ":") {
				return Target{}, &TargetError{Target: s, Field: "port", Value: rest[end+1:], Allowed: "\":PORT\" after the address"}
			}
		} else if i := strings.LastIndex(rest, ":"); i >= 0 {
			if strings.Count(rest, ":") > 1 {
				return Target{}, &TargetError{Target: s, Field: "IP address", Value: rest, Allowed: "an IPv4 address, or an IPv6 address in brackets"}
			}
			host, portStr = rest[:i], rest[i+1:]
		}
		if host == "" {
			return Target{}, &TargetError{Target: s, Field: "IP address", Allowed: "the controller's IPv4 or [IPv6] address"}
		}
		ip, err := parseIP(s, host)
		if err != nil {
			return Target{}, err
		}
		port := DefaultPort
		if portStr != "" {
			if port, err = parsePort(s, portStr, false); err != nil {
				return Target{}, err
			}
		}
		return Target{Kind: ActiveTCP, Addr: net.JoinHostPort(ip.String(), strconv.Itoa(port))}, nil
	}
	return Target{}, &TargetError{Target: s, Field: "kind", Value: kind, Allowed: targetKinds}
}

func parsePort(target, s string, zeroOK bool) (int, error) {
	allowed := "1 to 65535"
	if zeroOK {
		allowed = "0 (any free port) to 65535"
	}
	if s == "" {
		if zeroOK {
			return DefaultPort, nil
		}
		return 0, &TargetError{Target: target, Field: "port", Allowed: allowed}
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !zeroOK) {
		return 0, &TargetError{Target: target, Field: "port", Value: s, Allowed: allowed}
	}
	return p, nil
}

func parseIP(target, s string) (netip.Addr, error) {
	inner := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	ip, err := netip.ParseAddr(inner)
	if err != nil || ip.Zone() != "" || (strings.HasPrefix(s, "[") != ip.Is6()) {
		return netip.Addr{}, &TargetError{Target: target, Field: "IP address", Value: s, Allowed: "an IPv4 address, or an IPv6 address in brackets"}
	}
	return ip.Unmap(), nil
}

// ParseTargets parses a comma-separated list of targets.
func ParseTargets(list string) ([]Target, error) {
	var out []Target
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		t, err := ParseTarget(s)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
