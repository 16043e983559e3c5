// Package overlay holds Switchyard's tunnel ports: VXLAN (RFC 7348), Geneve
// (RFC 8926) and GRE with transparent Ethernet bridging and a key.
//
// Receive: one socket per (encapsulation, local address, port) — a UDP
// socket for VXLAN and Geneve, a raw IPPROTO_GRE socket for GRE — serves
// every VNI and every tunnel port on it. Its loop reads batches with
// recvmmsg (with UDP_GRO: runs of datagrams arrive glued and are split
// again), checks the tunnel header, finds the bridge port that carries the
// VNI and hands it the decapsulated frames, tagged with the VNI and the
// remote VTEP they came from (the engine learns inner MAC → remote VTEP);
// in-order TCP segments of a flow are merged into super-frames first (see
// rx.go).
//
// Transmit: a send-only raw socket (IPPROTO_RAW, the IP header is ours)
// sends each packet with its own outer header, so that the UDP source port
// is a hash of the inner flow (RFC 7348 §5: 49152–65535 by default), DF is
// set (tunnels never fragment: a frame that does not fit the underlay MTU
// is dropped and counted), and TTL and TOS are per port (TOS may be
// inherited from the inner IP header). The outer header is written into a
// small per-message buffer and the inner frame is sent from where it lies
// (scatter/gather), so nothing is copied. A super-frame is segmented and
// sent with UDP GSO instead (see gso.go). A frame to an unknown destination
// is flooded: to the multicast group, or to every remote VTEP of the port
// (head-end replication).
//
// Checksums: the IPv4 outer UDP checksum is computed by default (RFC 7348
// says it SHOULD be zero, but Linux 6.x computes it by default and UDP GSO
// — the speed path — needs it); --udp-csum off sends zero. On receive the
// kernel's UDP socket accepts a zero checksum and verifies a non-zero one,
// dropping a bad one and counting it in UdpInCsumErrors (shown by `show`).
// Over IPv6 the checksum is always computed.
//
// Inner checksums: a Linux VXLAN peer whose underlay is a veth with transmit
// checksum offload sends inner TCP/UDP segments whose checksum is still
// partial (only the pseudo-header sum). Decapsulated frames are checked and
// exactly that case is recorded as offload metadata (NEEDS_CSUM), which a TAP
// takes as is and a port without offloads finishes; a checksum that is
// simply wrong is left for the receiving VM to drop.
package overlay

import (
	"net/netip"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// Encap is a tunnel encapsulation.
type Encap uint8

// Encapsulations.
const (
	VXLAN Encap = iota
	Geneve
	GRE
)

// PortConfig is a tunnel port's configuration.
type PortConfig struct {
	Encap Encap
	// Local is this host's VTEP address.
	Local netip.Addr
	// Remotes are the remote VTEPs (one: point to point; several: head-end
	// replication of broadcast, unknown unicast and multicast).
	Remotes []netip.Addr
	// Group is a multicast group to flood to (and join on Dev) instead.
	Group netip.Addr
	Dev   string
	// DstPort is the UDP port (default 4789 VXLAN, 6081 Geneve).
	DstPort uint16
	// SrcPortMin/Max bound the outer source port (default 49152–65535).
	SrcPortMin, SrcPortMax uint16
	// NoUDPCsum sends a zero outer UDP checksum over IPv4.
	NoUDPCsum bool
	// TTL of the outer header (0 = 64, or 1 towards a multicast group, as
	// Linux does).
	TTL uint8
	// TOS of the outer header; InheritTOS copies the inner IP's.
	TOS        uint8
	InheritTOS bool
	// UnderlayMTU is the MTU of the underlay (0 = the MTU of the interface
	// that holds Local).
	UnderlayMTU int
}

func (c *PortConfig) withDefaults() PortConfig {
	d := *c
	if d.DstPort == 0 {
		d.DstPort = d.Encap.kind().port // 0 for GRE
	}
	if d.SrcPortMin == 0 && d.SrcPortMax == 0 {
		d.SrcPortMin, d.SrcPortMax = 49152, 65535
	}
	if d.TTL == 0 {
		d.TTL = 64
		if d.Group.IsValid() {
			d.TTL = 1
		}
	}
	return d
}

// headerLen is the encapsulation header after the outer IP header.
func (c *PortConfig) headerLen() int {
	k := c.Encap.kind()
	if k.udp {
		return packet.UDPLen + k.tunLen
	}
	return k.tunLen
}

// Overhead is how many bytes the encapsulation adds to an inner frame,
// counting the inner Ethernet header as the underlay MTU does: 50 for
// VXLAN over IPv4, 70 over IPv6; 50/70 for Geneve without options; 42/62
// for GRE with a key.
func (c *PortConfig) Overhead() int {
	ip := packet.IPv4MinLen
	if c.Local.Is6() && !c.Local.Is4In6() {
		ip = packet.IPv6Len
	}
	return ip + c.headerLen() + packet.EthernetLen
}
