package main

import (
	"fmt"
	"io"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
)

// ofBridgeFlags are the OpenFlow settings of `bridge add` and `bridge set`.
var ofBridgeFlags = flagSpec{"controller": true, "listen": true, "fail-mode": true, "protocols": true,
	"datapath-id": true, "packet-in-rate": true, "packet-in-burst": true}

const ofBridgeUsage = "[--controller tcp:IP[:PORT][,unix:PATH…]] [--listen ptcp:PORT[:IP][,…]] [--fail-mode standalone|secure] " +
	"[--protocols OpenFlow10,OpenFlow13] [--datapath-id HEX16] [--packet-in-rate N] [--packet-in-burst N]"

// openflowSettings applies the OpenFlow flags of a command line to b;
// settings not given keep cur's (cur is nil for `bridge add`). An empty
// value (--controller "") clears a setting.
func openflowSettings(p *parsed, b *config.Bridge, cur *config.Bridge) error {
	keep := func(flag string, dst *string, from string) {
		if p.set[flag] {
			*dst = p.flags[flag]
		} else if cur != nil {
			*dst = from
		}
	}
	var c config.Bridge
	if cur != nil {
		c = *cur
	}
	keep("controller", &b.Controllers, c.Controllers)
	keep("listen", &b.Listen, c.Listen)
	keep("fail-mode", &b.FailMode, c.FailMode)
	keep("protocols", &b.Protocols, c.Protocols)
	keep("datapath-id", &b.DatapathID, c.DatapathID)
	var err error
	if p.set["packet-in-rate"] {
		if b.PacketInRate, err = p.intFlag("packet-in-rate", config.AllowedPacketIn); err != nil {
			return err
		}
	} else {
		b.PacketInRate = c.PacketInRate
	}
	if p.set["packet-in-burst"] {
		if b.PacketInBurst, err = p.intFlag("packet-in-burst", config.AllowedBurst); err != nil {
			return err
		}
	} else {
		b.PacketInBurst = c.PacketInBurst
	}
	if cur != nil && !p.set["flow-cache-max"] {
		b.FlowCacheMax = c.FlowCacheMax
	}
	return nil
}

// printOpenFlow prints a bridge's OpenFlow side under it in `show`.
func printOpenFlow(out io.Writer, o *api.OpenFlowStatus) {
	if o == nil {
		return
	}
	mode := o.FailMode
	if o.FailOpen {
		mode += " (fail-open: no controller reachable, NORMAL)"
	}
	fmt.Fprintf(out, "  openflow: datapath id %s, fail mode %s, ovs-ofctl at unix:%s\n", o.DatapathID, mode, o.Management)
	for _, c := range o.Controllers {
		state := "connecting"
		if c.Connected {
			state = "connected"
		} else if c.LastError != "" {
			state = "not connected: " + c.LastError
		}
		fmt.Fprintf(out, "    controller %s: %s\n", c.Target, state)
	}
	for _, c := range o.Connections {
		fmt.Fprintf(out, "    connection %s from %s: %s, role %s, up %.0fs, %d received, %d sent\n", c.Target, c.Remote, c.Version, c.Role, c.Up, c.Received, c.Sent)
	}
	if p := o.PacketIns; p.Sent+p.DroppedRate+p.DroppedFull > 0 {
		fmt.Fprintf(out, "    packet-ins: %d sent, %d over the rate, %d queue full\n", p.Sent, p.DroppedRate, p.DroppedFull)
	}
	if o.Error != "" {
		fmt.Fprintf(out, "    error: %s\n", o.Error)
	}
}
