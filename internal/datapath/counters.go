package datapath

import "sync/atomic"

// DropReason says why a frame was dropped.
type DropReason uint8

// Drop reasons. Ports' devices may count their own (TxError, MTU, …) through
// the Counters that the bridge binds to them.
const (
	DropBadFrame       DropReason = iota // too short or malformed
	DropInvalidSource                    // multicast, broadcast or all-zero source MAC
	DropVLANNotAllowed                   // VLAN not carried by the port (or tagged on access, untagged without native)
	DropVLANReserved                     // VID 4095
	DropLinkLocal                        // 01:80:C2:00:00:00–0F, never forwarded
	DropSamePort                         // destination is on the ingress port (or tunnel split horizon)
	DropNoPort                           // no port in the VLAN to send to
	DropLoop                             // passed through too many patch ports
	DropNoSpace                          // device queue full or no buffer
	DropTxError                          // the device failed to send
	DropMTU                              // frame larger than the egress MTU (tunnels never fragment)
	DropBadTunnel                        // malformed or refused tunnel header (no I flag, bad checksum, critical option)
	DropUnknownVNI                       // tunnel key no port carries
	DropTableMiss                        // no rule matched in a flow table
	DropByRule                           // a rule's actions drop the packet
	DropTTL                              // dec_ttl on a packet whose TTL would reach 0
	DropPoliced                          // over the port's policing rate
	DropController                       // PACKET_IN rate limit or queue full
	DropSTP                              // the port is not forwarding (spanning tree)
	DropPortDown                         // OpenFlow port config: port_down, no_recv (received) or no_fwd (sent)
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	"bad-frame", "invalid-source", "vlan-not-allowed", "vlan-reserved", "link-local",
	"same-port", "no-port", "loop", "no-space", "tx-error", "mtu-exceeded", "bad-tunnel", "unknown-vni",
	"table-miss", "rule-drop", "ttl-exceeded", "policed", "controller", "stp-blocked", "port-down",
}

// DropReasons returns every drop reason's name, in order.
func DropReasons() []string { return dropNames[:] }

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Counters are a port's traffic counters. They are updated once per batch
// with atomic adds and may be read at any time.
type Counters struct {
	RxPackets, RxBytes atomic.Uint64
	TxPackets, TxBytes atomic.Uint64
	Drops              [NumDropReasons]atomic.Uint64
}

// Drop counts n frames dropped for reason r.
func (c *Counters) Drop(r DropReason, n int) {
	if n > 0 && r < NumDropReasons {
		c.Drops[r].Add(uint64(n))
	}
}

// PortStats is a snapshot of a port's counters.
type PortStats struct {
	RxPackets uint64            `json:"rx_packets"`
	RxBytes   uint64            `json:"rx_bytes"`
	TxPackets uint64            `json:"tx_packets"`
	TxBytes   uint64            `json:"tx_bytes"`
	Drops     map[string]uint64 `json:"drops"`
}

// Snapshot returns the counters' current values; drop reasons with a zero
// count are left out.
func (c *Counters) Snapshot() PortStats {
	s := PortStats{
		RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(),
		TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(),
		Drops: map[string]uint64{},
	}
	for r := DropReason(0); r < NumDropReasons; r++ {
		if n := c.Drops[r].Load(); n > 0 {
			s.Drops[r.String()] = n
		}
	}
	return s
}

// forwarded is the "no drop" value of a DropReason result.
const forwarded = NumDropReasons
