package datapath

import "github.com/switchyard-net/switchyard/internal/packet"

// Headroom is the number of bytes kept free in front of every frame so that a
// VLAN tag, a vnet header or a whole tunnel header (VXLAN over IPv6 needs 70
// bytes) can be pushed without copying the frame.
const Headroom = 128

// MaxFrame is the largest frame a Packet holds: a 64 KiB GSO super-frame plus
// its Ethernet and VLAN headers.
const MaxFrame = 65535 + 14 + 8

// Offload flags, with the semantics of struct virtio_net_hdr.
const (
	// OffloadNeedsCsum means the L4 checksum is partial: the pseudo-header
	// sum is in place and the sum over CsumStart.. must still be folded in
	// at CsumStart+CsumOffset (VIRTIO_NET_HDR_F_NEEDS_CSUM).
	OffloadNeedsCsum = 1
	// OffloadDataValid means the checksum was already verified
	// (VIRTIO_NET_HDR_F_DATA_VALID).
	OffloadDataValid = 2
)

// GSO types, with the values of virtio_net_hdr.gso_type.
const (
	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3
	GSOTCPv6 = 4
	GSOUDPL4 = 5
	GSOECN   = 0x80
)

// Offload is the offload metadata that travels with a frame through the
// engine, so a super-frame can leave whole where the egress takes it and be
// segmented in software only where it cannot. Its fields mirror
// virtio_net_hdr.
type Offload struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// IsGSO reports whether the frame is a super-frame that needs segmentation
// before it can go out on a port that does not take GSO frames.
func (o *Offload) IsGSO() bool { return o.GSOType&^GSOECN != GSONone }

// GSO returns the metadata in the packet package's terms (for segmenting
// and checksumming).
func (o *Offload) GSO() packet.GSO {
	return packet.GSO{
		Type:       o.GSOType,
		Size:       int(o.GSOSize),
		HdrLen:     int(o.HdrLen),
		NeedsCsum:  o.Flags&OffloadNeedsCsum != 0,
		CsumStart:  int(o.CsumStart),
		CsumOffset: int(o.CsumOffset),
	}
}

// SetGSO sets the metadata from the packet package's (the inverse of GSO).
func (o *Offload) SetGSO(g packet.GSO) {
	*o = Offload{GSOType: g.Type, GSOSize: uint16(g.Size), HdrLen: uint16(g.HdrLen)}
	if g.NeedsCsum {
		o.Flags = OffloadNeedsCsum
		o.CsumStart, o.CsumOffset = uint16(g.CsumStart), uint16(g.CsumOffset)
	}
}

// Packet is one frame in a buffer with headroom. The frame is
// Buf[Off:Off+Len]; Buf[:Off] is headroom that a port may write into while
// it transmits the packet (a vnet header, an outer tunnel header).
type Packet struct {
	Buf     []byte
	Off     int
	Len     int
	Offload Offload
	// Tunnel is set by a tunnel port on receive: the VNI and the outer
	// source address (as an endpoint handle) the frame came from.
	Tunnel TunnelMeta

	hops uint8 // patch ports crossed
}

// TunnelMeta describes the tunnel a received frame came through.
type TunnelMeta struct {
	// Valid is true when the frame was decapsulated from a tunnel.
	Valid bool
	// VNI is the 24-bit virtual network identifier (or GRE key).
	VNI uint32
	// Remote is the handle (see Endpoints) of the remote VTEP that sent it.
	Remote Endpoint
}

// NewPacket returns a packet with a buffer of Headroom+size bytes and no frame.
func NewPacket(size int) *Packet {
	return &Packet{Buf: make([]byte, Headroom+size), Off: Headroom}
}

// Data returns the frame.
func (p *Packet) Data() []byte { return p.Buf[p.Off : p.Off+p.Len] }

// SetData copies frame into the packet at the standard headroom and clears
// the metadata. It panics if the frame does not fit the buffer, which is a
// programming error (buffers are sized for MaxFrame).
func (p *Packet) SetData(frame []byte) {
	p.Off = Headroom
	p.Len = copy(p.Buf[Headroom:], frame)
	if p.Len != len(frame) {
		panic("datapath: frame larger than packet buffer")
	}
	p.Offload = Offload{}
	p.Tunnel = TunnelMeta{}
	p.hops = 0
}

// Reset sets the packet to an empty frame at the standard headroom, with its
// whole tail available to a reader: Buf[Off:] is where a port reads into.
func (p *Packet) Reset() {
	p.Off = Headroom
	p.Len = 0
	p.Offload = Offload{}
	p.Tunnel = TunnelMeta{}
	p.hops = 0
}
