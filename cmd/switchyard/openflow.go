package main

import (
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
