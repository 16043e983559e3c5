package packet

// UDP receive-side coalescing: consecutive datagrams of one UDP flow with
// the same payload size (the last may be shorter) become one UDP_L4 GSO
// super-frame, as Linux's udp_gro_receive does for a socket with UDP_GRO. A
// TAP takes it in one write and the receiving kernel splits it back into the
// same datagrams (or hands it whole to a socket with UDP_GRO).

// udpGROMaxSegs is the most datagrams merged into one super-frame (the
// kernel's UDP_MAX_SEGMENTS is 128; 64 keeps one super-frame's datagram
// count what one UDP_SEGMENT send takes here).
const udpGROMaxSegs = 64

// UDPGROFlow is what ParseUDPGRO extracts from a UDP/IP frame.
type UDPGROFlow struct {
	// Key is the flow (Key.Proto is ProtoUDP).
	Key GROKey
	// TOS, TTL, DF and FlowLabel must agree between merged datagrams.
	TOS, TTL  uint8
	DF        bool
	FlowLabel uint32
	// L3 and L4 are the offsets of the IP and UDP headers.
	L3, L4 int
	// PayloadOff and PayloadLen locate the UDP payload.
	PayloadOff, PayloadLen int
}

// ParseUDPGRO parses a frame for UDP coalescing and reports whether it may
// be merged: Ethernet with up to two VLAN tags, IPv4 without options and not
// a fragment with a valid header checksum, or IPv6 without extension
// headers, then UDP whose length matches the IP packet's, with a non-empty
// payload, and no Ethernet padding except on a frame of at most 64 bytes.
// Like ParseGRO it does not verify the UDP checksum. It never panics and
// allocates nothing.
func ParseUDPGRO(frame []byte) (UDPGROFlow, bool) {
	var f UDPGROFlow
	ip, ok := parseGROIP(frame, ProtoUDP, IPv4MinLen+UDPLen, UDPLen)
	f.Key, f.L3, f.L4 = ip.key, ip.l3, ip.l4
	if !ok {
		return f, false
	}
	f.TOS, f.TTL, f.DF, f.FlowLabel = ip.tos, ip.ttl, ip.df, ip.flowLabel
	ipEnd := ip.end
	u := frame[f.L4:ipEnd]
	f.Key.SrcPort, f.Key.DstPort = be.Uint16(u[0:]), be.Uint16(u[2:])
	if int(be.Uint16(u[4:])) != len(u) || len(u) == UDPLen {
		return f, false
	}
	f.PayloadOff, f.PayloadLen = f.L4+UDPLen, len(u)-UDPLen
	return f, true
}

// UDPGROBuilder merges datagrams of one flow into a UDP_L4 super-frame in a
// caller-provided buffer. Its zero value is ready; it allocates nothing.
type UDPGROBuilder struct {
	dst      []byte
	frameLen int
	end      int
	first    UDPGROFlow
	segs     int
	closed   bool
}

// Start begins a super-frame in dst with the first datagram (copied whole).
// f must be ParseUDPGRO(frame). It returns false, leaving the builder empty,
// if dst cannot hold the frame or f does not describe it.
func (b *UDPGROBuilder) Start(dst, frame []byte, f UDPGROFlow) bool {
	*b = UDPGROBuilder{}
	if f.PayloadLen <= 0 || f.PayloadOff != f.L4+UDPLen || f.L4 <= f.L3 || f.PayloadOff+f.PayloadLen > len(frame) ||
		f.PayloadOff+f.PayloadLen-f.L3 > 65535 || len(frame) > len(dst) {
		return false
	}
	b.dst, b.first, b.segs = dst, f, 1
	b.frameLen = copy(dst, frame)
	b.end = f.PayloadOff + f.PayloadLen
	return true
}

// TryAppend appends frame's payload if it is the same flow with the same
// TOS, TTL, DF and flow label, its payload is no larger than the first's and
// every earlier one was exactly that size, and the result stays within
// 65535 bytes of IP packet, 64 datagrams and len(dst). A shorter datagram
// ends the run.
func (b *UDPGROBuilder) TryAppend(frame []byte, f UDPGROFlow) bool {
	p := &b.first
	switch {
	case b.segs == 0 || b.closed || b.segs == udpGROMaxSegs,
		f.Key != p.Key, f.L3 != p.L3, f.L4 != p.L4, f.PayloadOff != p.PayloadOff,
		f.TOS != p.TOS || f.TTL != p.TTL || f.DF != p.DF || f.FlowLabel != p.FlowLabel,
		f.PayloadLen <= 0 || f.PayloadLen > p.PayloadLen,
		f.PayloadOff > len(frame) || f.PayloadLen > len(frame)-f.PayloadOff,
		b.end-p.L3+f.PayloadLen > 65535 || f.PayloadLen > len(b.dst)-b.end:
		return false
	}
	b.end += copy(b.dst[b.end:], frame[f.PayloadOff:f.PayloadOff+f.PayloadLen])
	b.segs++
	if f.PayloadLen < p.PayloadLen {
		b.closed = true
	}
	return true
}

// Finish completes the super-frame and returns it (a slice of dst) with its
// offload description. With two or more datagrams it sets the IP lengths
// (and the IPv4 header checksum), the UDP length, and the pseudo-header sum
// in the UDP checksum field: GSO{Type: GSOTypeUDPL4, Size: the first
// payload's length, HdrLen, NeedsCsum: true, CsumStart: the UDP header
// offset, CsumOffset: 6}. With one it returns the frame as received and
// GSO{}; with none, nil.
func (b *UDPGROBuilder) Finish() (frame []byte, g GSO) {
	if b.segs == 0 {
		return nil, GSO{}
	}
	b.closed = true
	if b.segs == 1 {
		return b.dst[:b.frameLen], GSO{}
	}
	p := &b.first
	fr := b.dst[:b.end]
	pseudo := finishGROIP(fr, p.L3, p.L4, p.Key.IPv6, ProtoUDP)
	u := fr[p.L4:]
	be.PutUint16(u[4:], uint16(b.end-p.L4))
	be.PutUint16(u[6:], Fold(pseudo))
	return fr, GSO{Type: GSOTypeUDPL4, Size: p.PayloadLen, HdrLen: p.PayloadOff, NeedsCsum: true, CsumStart: p.L4, CsumOffset: 6}
}

// Segments returns the number of datagrams in the super-frame.
func (b *UDPGROBuilder) Segments() int { return b.segs }

// UDPChecksumValid reports whether frame is Ethernet/IP/UDP with a checksum
// that verifies, or (over IPv4) none at all. It reads the whole datagram.
func UDPChecksumValid(frame []byte) bool {
	s, ok := FindL4Checksum(frame)
	if !ok {
		// No checksum (UDP over IPv4 with zero) or not UDP.
		l, err := ParseL2(frame)
		if err != nil || l.EtherType != EtherTypeIPv4 {
			return false
		}
		ip, err := ParseIPv4(frame[l.L3:])
		if err != nil || ip.Protocol() != ProtoUDP || len(ip.Payload()) < UDPLen {
			return false
		}
		return UDP(ip.Payload()).Checksum() == 0
	}
	return s.Offset == 6 && Fold(Checksum(frame[s.Start:s.End], s.Pseudo)) == 0xffff
}
