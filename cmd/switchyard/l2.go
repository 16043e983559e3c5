package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/bond"
	"github.com/switchyard-net/switchyard/internal/config"
)

// Flags of the link-layer settings (bonds, spanning tree).
var (
	bridgeSTPFlags = flagSpec{"stp": true, "rstp": true, "stp-priority": true, "stp-hello-time": true, "stp-max-age": true,
		"stp-forward-delay": true, "hwaddr": true}
	portSTPFlags = flagSpec{"stp-cost": true, "stp-priority": true, "edge": true, "bpdu-guard": true, "root-guard": true}
	bondFlags    = flagSpec{"members": true, "bond-mode": true, "lacp": true, "lacp-rate": true, "lacp-fallback-ab": true,
		"updelay": true, "downdelay": true}
)

// onOff parses an on|off flag.
func onOff(p *parsed, name string) (bool, error) {
	switch v := p.flags[name]; v {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	default:
		return false, usagef("%s: %q is not valid; allowed: on, off", name, v)
	}
}

// bridgeSTPSettings applies the spanning tree flags of a command line to
// b, whose current settings are cur (bridge set keeps what is not given).
func bridgeSTPSettings(p *parsed, b *config.Bridge, cur config.BridgeSTP) error {
	b.BridgeSTP = cur
	if p.set["stp"] && p.set["rstp"] {
		if p.flags["stp"] == "on" && p.flags["rstp"] == "on" {
			return usagef("stp, rstp: pick one protocol; allowed: --stp on (IEEE 802.1D) or --rstp on (802.1w)")
		}
	}
	for _, f := range []struct{ flag, proto string }{{"stp", "stp"}, {"rstp", "rstp"}} {
		if !p.set[f.flag] {
			continue
		}
		on, err := onOff(p, f.flag)
		if err != nil {
			return err
		}
		switch {
		case on:
			b.STP = f.proto
		case b.STP == f.proto || b.STP == "":
			b.STP = "off"
		}
	}
	if p.set["stp-priority"] {
		n, err := p.intFlag("stp-priority", "multiples of 4096 from 0 to 61440")
		if err != nil {
			return err
		}
		b.STPPriority = config.Opt(n)
	}
	for _, f := range []struct {
		flag string
		dst  *int
		allw string
	}{{"stp-hello-time", &b.STPHelloTime, "1-10 seconds"}, {"stp-max-age", &b.STPMaxAge, "6-40 seconds"},
		{"stp-forward-delay", &b.STPForwardDelay, "4-30 seconds"}} {
		if p.set[f.flag] {
			n, err := p.intFlag(f.flag, f.allw)
			if err != nil {
				return err
			}
			*f.dst = n
		}
	}
	if p.set["hwaddr"] {
		b.HWAddr = p.flags["hwaddr"]
	}
	return nil
}

// portSTPSettings applies the per-port spanning tree flags to port.
func portSTPSettings(p *parsed, port *config.Port) error {
	if p.set["stp-cost"] {
		n, err := p.intFlag("stp-cost", "1-65535 (stp), 1-200000000 (rstp)")
		if err != nil {
			return err
		}
		port.STPCost = n
	}
	if p.set["stp-priority"] {
		n, err := p.intFlag("stp-priority", "multiples of 16 from 0 to 240")
		if err != nil {
			return err
		}
		port.STPPortPriority = config.Opt(n)
	}
	if p.set["edge"] {
		port.Edge = p.flags["edge"]
	}
	for _, f := range []struct {
		flag string
		dst  *bool
	}{{"bpdu-guard", &port.BPDUGuard}, {"root-guard", &port.RootGuard}} {
		if p.set[f.flag] {
			on, err := onOff(p, f.flag)
			if err != nil {
				return err
			}
			*f.dst = on
		}
	}
	return nil
}

// bondSettings reads the bond flags of `port add … --type bond`.
func bondSettings(p *parsed, port *config.Port) error {
	if port.Type != config.TypeBond {
		for name := range bondFlags {
			if p.set[name] {
				return usagef("%s: applies to bond ports only (--type bond), not %s", name, port.Type)
			}
		}
		return nil
	}
	b := &config.Bond{Members: config.ParseMembers(p.flags["members"]), Mode: p.flags["bond-mode"], LACP: p.flags["lacp"],
		LACPRate: p.flags["lacp-rate"]}
	if len(b.Members) == 0 {
		return usagef("members: missing; allowed: 2-32 interface names like --members eth1,eth2")
	}
	if p.set["lacp-fallback-ab"] {
		on, err := onOff(p, "lacp-fallback-ab")
		if err != nil {
			return err
		}
		b.LACPFallbackAB = on
	}
	var err error
	if b.UpDelay, err = p.intFlag("updelay", "0-3600000 ms"); err != nil {
		return err
	}
	if b.DownDelay, err = p.intFlag("downdelay", "0-3600000 ms"); err != nil {
		return err
	}
	port.Bond = b
	return nil
}

// cmdBond is `switchyard bond show [BOND] [--json]`: like ovs-appctl
// bond/show and lacp/show together.
func cmdBond(sub string, argv []string, out io.Writer) error {
	if sub != "show" {
		return usagef("unknown command `bond %s`; allowed: show", sub)
	}
	p, err := parse("bond show", argv, nil)
	if err != nil {
		return err
	}
	if err := p.want(0, 1, "[BOND]"); err != nil {
		return err
	}
	s, err := client(p).Show()
	if err != nil {
		return err
	}
	var bonds []*bond.Status
	for _, b := range s.Bridges {
		for _, port := range b.Ports {
			if port.Type != config.TypeBond || len(p.args) == 1 && port.Name != p.args[0] {
				continue
			}
			st := port.BondStatus
			if st == nil {
				st = &bond.Status{Name: port.Name, Mode: "-", LACP: "-", LACPStatus: port.Status + " " + port.Reason, Members: []bond.MemberStatus{}}
			}
			bonds = append(bonds, st)
		}
	}
	if len(p.args) == 1 && len(bonds) == 0 {
		return &api.Error{Code: api.CodeNotFound, Field: "bond", Message: fmt.Sprintf("no bond port %q", p.args[0])}
	}
	if p.set["json"] {
		if len(p.args) == 1 {
			return printJSON(out, bonds[0])
		}
		return printJSON(out, bonds)
	}
	if len(bonds) == 0 {
		fmt.Fprintln(out, "no bond ports (add one with `switchyard port add BRIDGE NAME --type bond --members a,b`)")
	}
	for i, b := range bonds {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprint(out, b.Text())
	}
	return nil
}

// printSTP prints a bridge's spanning tree under it in `show`.
func printSTP(out io.Writer, b api.BridgeStatus) {
	st := b.SpanningTree
	if st == nil {
		return
	}
	root := "this bridge is the root"
	if !st.IsRoot {
		root = fmt.Sprintf("root %s, cost %d, root port %s", st.RootID, st.RootPathCost, orDash(st.RootPortName))
	}
	fmt.Fprintf(out, "  spanning tree %s: bridge %s, %s; hello %d s, max age %d s, forward delay %d s; topology changes %d\n",
		st.Protocol, st.BridgeID, root, st.HelloTimeS, st.MaxAgeS, st.ForwardDelayS, st.TopologyChanges)
	var rows [][]string
	for _, p := range st.Ports {
		var flags []string
		if p.OperEdge {
			flags = append(flags, "edge")
		}
		if p.GuardDisabled {
			flags = append(flags, "bpdu-guard-disabled")
		}
		if p.RootGuardHeld {
			flags = append(flags, "root-guard-inconsistent")
		}
		if p.Counters.BPDUGuard+p.Counters.RootGuard > 0 {
			flags = append(flags, fmt.Sprintf("guard-events=%d", p.Counters.BPDUGuard+p.Counters.RootGuard))
		}
		rows = append(rows, []string{"  " + p.Name, p.Role, p.State, strconv.FormatUint(uint64(p.PathCost), 10), p.PortID,
			p.DesignatedBridge, orDash(strings.Join(flags, ","))})
	}
	table(out, "  STP-PORT\tROLE\tSTATE\tCOST\tPORT-ID\tDESIGNATED-BRIDGE\tFLAGS", rows)
}
