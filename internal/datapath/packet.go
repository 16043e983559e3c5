package datapath

import "github.com/switchyard-net/switchyard/internal/packet"

// Headroom is the number of bytes kept free in front of every frame so that a
// VLAN tag, a vnet header or a whole tunnel header (VXLAN over IPv6 needs 70
// bytes) can be pushed without copying the frame.
const Headroom = 128

// MaxFrame is the largest frame a Packet holds: a 64 KiB GSO super-frame plus
// its Ethernet and VLAN headers.
const MaxFrame = 65535 + 14 + 8

// Packet is one frame in a buffer with headroom. The frame is
// Buf[Off:Off+Len]; Buf[:Off] is headroom that a device may write into while
// it transmits the packet (a vnet header, an outer tunnel header).
type Packet struct {
	Buf []byte
	Off int
	Len int
	// Offload is the frame's offload metadata (virtio_net_hdr semantics):
	// a super-frame's segmentation, a partial checksum. It travels with the
	// frame so a super-frame can leave whole where the egress takes it and
	// be segmented in software only where it cannot.
	Offload packet.GSO
	// Tunnel is set by a tunnel port on receive: the VNI and the outer
	// source address (as an endpoint handle) the frame came from.
	Tunnel TunnelMeta
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
	p.Offload = packet.GSO{}
	p.Tunnel = TunnelMeta{}
}

// Reset sets the packet to an empty frame at the standard headroom, with its
// whole tail available to a reader: Buf[Off:] is where a port reads into.
func (p *Packet) Reset() {
	p.Off = Headroom
	p.Len = 0
	p.Offload = packet.GSO{}
	p.Tunnel = TunnelMeta{}
}

// copyPacket copies src's frame and metadata into dst at the standard
// headroom (dst's buffer must be large enough; see growBuf).
func copyPacket(dst, src *Packet) {
	dst.Off = Headroom
	dst.Len = copy(dst.Buf[Headroom:], src.Buf[src.Off:src.Off+src.Len])
	dst.Offload = src.Offload
	dst.Tunnel = src.Tunnel
}

// growBuf makes sure p's buffer holds a frame of n bytes plus a tag: 2 KiB
// for ordinary frames, MaxFrame once a super-frame came by (so that a
// stream of them reallocates once).
func growBuf(p *Packet, n int) {
	if len(p.Buf) >= Headroom+n+4 {
		return
	}
	size := 2048
	if n+4 > size {
		size = MaxFrame + 4
	}
	p.Buf = make([]byte, Headroom+size)
}
