package packet

import (
	"bytes"
	"errors"
)

// This file holds the software fallbacks of the segmentation and checksum
// offloads that virtio_net_hdr describes: FinishChecksum (NEEDS_CSUM),
// Segment (TSO/USO, as the Linux kernel's GSO does it) and GROBuilder
// (TCP receive-side coalescing, as Linux's tcp_gro_receive does it). All of
// them work in caller-provided buffers and allocate nothing, errors
// included (they are the sentinels below).

// GSO types: the values of virtio_net_hdr.gso_type.
const (
	// GSOTypeNone is an ordinary frame, not a super-frame.
	GSOTypeNone = 0
	// GSOTypeTCPv4 is a TCP over IPv4 super-frame (TSO).
	GSOTypeTCPv4 = 1
	// GSOTypeUDP is legacy UDP fragmentation offload (UFO), which Segment
	// rejects: it would produce IP fragments.
	GSOTypeUDP = 3
	// GSOTypeTCPv6 is a TCP over IPv6 super-frame (TSO).
	GSOTypeTCPv6 = 4
	// GSOTypeUDPL4 is a UDP super-frame split into whole datagrams (USO,
	// UDP_SEGMENT), over IPv4 or IPv6.
	GSOTypeUDPL4 = 5
	// GSOTypeECN is a flag bit: the TCP super-frame may carry CWR
	// (VIRTIO_NET_HDR_GSO_ECN). It is valid only together with a type.
	GSOTypeECN = 0x80
)

// GSO is the offload description of a frame, mirroring struct
// virtio_net_hdr. All offsets are from the start of the Ethernet frame.
type GSO struct {
	// Type is one of the GSOType constants, optionally OR-ed with
	// GSOTypeECN.
	Type uint8
	// Size is gso_size: the L4 payload bytes per segment (the MSS for TCP).
	Size int
	// HdrLen is the hdr_len hint: the length of the headers up to the L4
	// payload. Senders get it wrong or leave it zero, so Segment ignores it
	// and recomputes it from the headers (see GSOHeaderLen).
	HdrLen int
	// NeedsCsum is VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum field at
	// CsumStart+CsumOffset holds only the pseudo-header sum and the sum of
	// frame[CsumStart:] must still be folded in (see FinishChecksum).
	NeedsCsum bool
	// CsumStart is where the checksummed data starts (the L4 header).
	CsumStart int
	// CsumOffset is the offset of the checksum field from CsumStart (16 for
	// TCP, 6 for UDP).
	CsumOffset int
	// DataValid is VIRTIO_NET_HDR_F_DATA_VALID: the checksum was already
	// verified (never set together with NeedsCsum on output).
	DataValid bool
}

// IsSuper reports whether the frame is a super-frame that must be segmented
// before it can go out where super-frames are not taken.
func (g *GSO) IsSuper() bool { return g.Type&^GSOTypeECN != GSOTypeNone }

// Shift moves the offsets by delta bytes, for a header of delta bytes pushed
// in front of the L3 header (a VLAN tag: +4) or popped (-4).
func (g *GSO) Shift(delta int) {
	if g.NeedsCsum {
		g.CsumStart += delta
	}
	if g.HdrLen != 0 {
		g.HdrLen += delta
	}
}

// Errors of Segment, GSOHeaderLen and FinishChecksum. They are
// sentinels (compare with errors.Is or ==), so returning one allocates
// nothing; each says which check failed.
var (
	// ErrGSOType: gso_type is legacy UFO, unknown, or the ECN bit alone.
	ErrGSOType = errors.New("packet: GSO: unsupported gso_type (legacy UFO, unknown type, or ECN bit without a type)")
	// ErrGSOSize: gso_size is zero or negative for a GSO type.
	ErrGSOSize = errors.New("packet: GSO: gso_size must be positive")
	// ErrGSOHeader: the frame is not Ethernet (with up to two VLAN tags),
	// then IPv4 (not a fragment) or IPv6 (no extension headers), then a
	// whole TCP or UDP header, with IP lengths that fit the frame.
	ErrGSOHeader = errors.New("packet: GSO: headers do not parse as Ethernet[+VLAN]/IPv4-or-IPv6/TCP-or-UDP")
	// ErrGSOTypeMismatch: the headers parse, but not as the protocols
	// gso_type names (TCPv4 on an IPv6 frame, UDP_L4 on TCP, ...).
	ErrGSOTypeMismatch = errors.New("packet: GSO: gso_type does not match the frame's IP version or L4 protocol")
	// ErrGSOOutBuffers: fewer out buffers than segments (see SegmentCount).
	ErrGSOOutBuffers = errors.New("packet: GSO: not enough out buffers for the segments")
	// ErrGSOBufferSmall: an out buffer's capacity is less than its segment's
	// length (see SegmentCount for the largest).
	ErrGSOBufferSmall = errors.New("packet: GSO: out buffer too small for its segment")
	// ErrCsumRange: csum_start/csum_offset put the checksum field outside
	// the frame.
	ErrCsumRange = errors.New("packet: checksum start/offset outside the frame")
)

// TCP flag bits used by segmentation and coalescing.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
	tcpECE = 0x40
	tcpCWR = 0x80
)

// FinishChecksum completes the checksum of a NEEDS_CSUM frame: the field at
// csumStart+csumOffset holds the pseudo-header sum, so it sums
// frame[csumStart:] with the field in place, folds, complements and stores
// the result in the field. A result of 0 is stored as 0xffff, as Linux's
// skb_checksum_help does: for UDP 0 would mean "no checksum", and for TCP
// 0xffff is the same ones'-complement value and verifies alike. The frame
// must end where the L4 data ends (no Ethernet padding). It returns
// ErrCsumRange, without touching the frame, when the two-byte field is not
// inside frame[csumStart:].
func FinishChecksum(frame []byte, csumStart, csumOffset int) error {
	if csumStart < 0 || csumOffset < 0 || csumStart > len(frame) || csumOffset > len(frame)-csumStart-2 {
		return ErrCsumRange
	}
	at := csumStart + csumOffset
	c := ^Fold(Checksum(frame[csumStart:], 0))
	if c == 0 {
		c = 0xffff
	}
	be.PutUint16(frame[at:], c)
	return nil
}

// gsoLayout is where the headers of a super-frame are.
type gsoLayout struct {
	l3, l4 int // IP and TCP/UDP header offsets
	pay    int // L4 payload offset = the length of the copied headers
	end    int // end of the IP packet (Ethernet padding excluded)
	v6     bool
	udp    bool
}

// count is the number of segments of at most size payload bytes.
func (l *gsoLayout) count(size int) int {
	plen := l.end - l.pay
	if plen == 0 {
		return 1
	}
	n := plen / size
	if plen%size != 0 {
		n++
	}
	return n
}

// maxLen is the length of the longest segment.
func (l *gsoLayout) maxLen(size int) int { return l.pay + min(size, l.end-l.pay) }

// parseGSO checks g against the frame's headers and returns their layout.
func parseGSO(frame []byte, g GSO) (gsoLayout, error) {
	var lay gsoLayout
	var wantV6, anyIP, wantUDP bool
	switch g.Type &^ GSOTypeECN {
	case GSOTypeTCPv4:
	case GSOTypeTCPv6:
		wantV6 = true
	case GSOTypeUDPL4:
		anyIP, wantUDP = true, true
	default:
		return lay, ErrGSOType
	}
	if g.Size <= 0 {
		return lay, ErrGSOSize
	}
	l, err := ParseL2(frame)
	if err != nil {
		return lay, ErrGSOHeader
	}
	lay.l3 = l.L3
	var proto uint8
	switch l.EtherType {
	case EtherTypeIPv4:
		ip, err := ParseIPv4(frame[l.L3:])
		if err != nil || ip.IsFragment() {
			return lay, ErrGSOHeader
		}
		proto, lay.l4, lay.end = ip.Protocol(), l.L3+ip.HeaderLen(), l.L3+len(ip)
	case EtherTypeIPv6:
		ip, err := ParseIPv6(frame[l.L3:])
		if err != nil {
			return lay, ErrGSOHeader
		}
		proto, lay.l4, lay.end, lay.v6 = ip.NextHeader(), l.L3+IPv6Len, l.L3+len(ip), true
	default:
		return lay, ErrGSOHeader
	}
	switch proto {
	case ProtoTCP:
		t, err := ParseTCP(frame[lay.l4:lay.end])
		if err != nil {
			return lay, ErrGSOHeader
		}
		lay.pay = lay.l4 + t.HeaderLen()
	case ProtoUDP:
		if lay.end-lay.l4 < UDPLen {
			return lay, ErrGSOHeader
		}
		lay.pay, lay.udp = lay.l4+UDPLen, true
	default:
		// Includes IPv6 extension headers, which are not supported.
		return lay, ErrGSOHeader
	}
	if lay.udp != wantUDP || (!anyIP && lay.v6 != wantV6) {
		return lay, ErrGSOTypeMismatch
	}
	return lay, nil
}

// SegmentCount returns how many frames Segment writes for frame and g and
// the length of the longest of them (each out buffer needs at least that
// capacity; only the last segment may be shorter). It returns 0, 0 when
// Segment would reject frame or g for its type, size, headers or checksum
// offsets. It parses only the headers.
func SegmentCount(frame []byte, g GSO) (n, maxLen int) {
	if g.Type == GSOTypeNone {
		if g.NeedsCsum && !csumInRange(frame, g) {
			return 0, 0
		}
		return 1, len(frame)
	}
	lay, err := parseGSO(frame, g)
	if err != nil {
		return 0, 0
	}
	return lay.count(g.Size), lay.maxLen(g.Size)
}

// GSOHeaderLen returns the true hdr_len of a super-frame: the length of its
// Ethernet, VLAN, IP and TCP/UDP headers, which Segment copies into every
// segment. g.HdrLen is not consulted. It fails as Segment would on a bad
// type, size or headers; for GSOTypeNone it returns ErrGSOType.
func GSOHeaderLen(frame []byte, g GSO) (int, error) {
	lay, err := parseGSO(frame, g)
	if err != nil {
		return 0, err
	}
	return lay.pay, nil
}

func csumInRange(frame []byte, g GSO) bool {
	return g.CsumStart >= 0 && g.CsumOffset >= 0 && g.CsumStart <= len(frame) && g.CsumOffset <= len(frame)-g.CsumStart-2
}

// Segment is software TSO/USO: it splits the super-frame frame, described by
// g, into ordinary frames of at most g.Size L4 payload bytes, writing
// segment i into out[i] and re-slicing out[i] to its length; it returns the
// number of segments.
//
// The frame is Ethernet with up to two 802.1Q/802.1ad tags, then IPv4 (not
// a fragment; options are copied) or IPv6 (no extension headers), then TCP
// (GSOTypeTCPv4, GSOTypeTCPv6) or UDP (GSOTypeUDPL4). The IP length fields
// bound the data, so Ethernet padding is dropped; g.HdrLen, the input's L4
// checksum field and its UDP length field are not trusted. Each segment gets,
// as Linux's TSO gives it: the headers copied, the IPv4 total length and
// header checksum, IPv4 ID = the super-frame's ID + i, the IPv6 payload
// length, TCP seq = seq + i*Size, FIN and PSH only on the last segment, CWR
// only on the first, the UDP length, and a complete TCP/UDP checksum computed
// from the pseudo-header (UDP 0 is sent as 0xffff). Other TCP fields,
// URG and the urgent pointer included, are copied unchanged.
//
// A GSO frame whose payload fits one segment yields one such complete frame.
// A GSOTypeNone frame is copied to out[0] unchanged except that, with
// g.NeedsCsum, its checksum is finished at g.CsumStart+g.CsumOffset (see
// FinishChecksum); its headers are not parsed, so any protocol is fine.
//
// out[i] needs capacity (cap, not len) for the headers plus segment i's
// payload; SegmentCount gives the number and the largest length. The out
// buffers must not overlap frame. On error nothing is written and n is 0.
// Segment never panics and allocates nothing.
func Segment(frame []byte, g GSO, out [][]byte) (n int, err error) {
	if g.Type == GSOTypeNone {
		if len(out) < 1 {
			return 0, ErrGSOOutBuffers
		}
		if g.NeedsCsum && !csumInRange(frame, g) {
			return 0, ErrCsumRange
		}
		if cap(out[0]) < len(frame) {
			return 0, ErrGSOBufferSmall
		}
		b := out[0][:len(frame)]
		copy(b, frame)
		if g.NeedsCsum {
			_ = FinishChecksum(b, g.CsumStart, g.CsumOffset) // range checked above
		}
		out[0] = b
		return 1, nil
	}
	lay, err := parseGSO(frame, g)
	if err != nil {
		return 0, err
	}
	size := g.Size
	n = lay.count(size)
	if len(out) < n {
		return 0, ErrGSOOutBuffers
	}
	hdr, plen := lay.pay, lay.end-lay.pay
	if n > 1 {
		for i := 0; i < n-1; i++ {
			if cap(out[i]) < hdr+size {
				return 0, ErrGSOBufferSmall
			}
		}
	}
	if cap(out[n-1]) < hdr+plen-(n-1)*size {
		return 0, ErrGSOBufferSmall
	}

	l3, l4 := lay.l3, lay.l4
	var addrSum uint32
	var id uint16
	if lay.v6 {
		addrSum = PseudoHeaderSum(frame[l3+8:l3+24], frame[l3+24:l3+40], 0, 0)
	} else {
		addrSum = PseudoHeaderSum(frame[l3+12:l3+16], frame[l3+16:l3+20], 0, 0)
		id = be.Uint16(frame[l3+4:])
	}
	var seq uint32
	var flags uint8
	proto := uint32(ProtoUDP)
	if !lay.udp {
		proto = ProtoTCP
		seq, flags = be.Uint32(frame[l4+4:]), frame[l4+13]
	}
	for i, off := 0, 0; i < n; i++ {
		seg := min(size, plen-off)
		b := out[i][:hdr+seg]
		copy(b, frame[:hdr])
		copy(b[hdr:], frame[hdr+off:hdr+off+seg])
		l4len := hdr - l4 + seg
		if lay.v6 {
			be.PutUint16(b[l3+4:], uint16(l4len))
		} else {
			ip := b[l3:l4]
			be.PutUint16(ip[2:], uint16(l4-l3+l4len))
			be.PutUint16(ip[4:], id+uint16(i))
			ip[10], ip[11] = 0, 0
			be.PutUint16(ip[10:], ^Fold(Checksum(ip, 0)))
		}
		t := b[l4:]
		pseudo := addrSum + proto + uint32(l4len)
		if lay.udp {
			be.PutUint16(t[4:], uint16(l4len))
			t[6], t[7] = 0, 0
			c := ^Fold(Checksum(t, pseudo))
			if c == 0 {
				c = 0xffff
			}
			be.PutUint16(t[6:], c)
		} else {
			be.PutUint32(t[4:], seq+uint32(off))
			f := flags
			if i > 0 {
				f &^= tcpCWR
			}
			if i < n-1 {
				f &^= tcpFIN | tcpPSH
			}
			t[13] = f
			t[16], t[17] = 0, 0
			be.PutUint16(t[16:], ^Fold(Checksum(t, pseudo)))
		}
		out[i] = b
		off += seg
	}
	return n, nil
}

// GROKey identifies the TCP flow of a frame for coalescing: segments merge
// only when their keys are equal. It is comparable, so it can key a map.
type GROKey struct {
	// DstMAC and SrcMAC are the Ethernet addresses.
	DstMAC, SrcMAC MAC
	// Tags are the raw VLAN tags (TPID<<16 | TCI), outer first; zero when
	// absent.
	Tags [2]uint32
	// IPv6 is the IP version: false for IPv4, true for IPv6.
	IPv6 bool
	// SrcIP and DstIP are the addresses; an IPv4 address is in the first 4
	// bytes.
	SrcIP, DstIP [16]byte
	// SrcPort and DstPort are the TCP or UDP ports.
	SrcPort, DstPort uint16
	// Proto is the L4 protocol: ProtoTCP (ParseGRO) or ProtoUDP
	// (ParseUDPGRO).
	Proto uint8
}

// GROFlow is what ParseGRO extracts from a TCP/IP frame: the flow key, the
// fields that must agree between merged segments, and where the payload is.
type GROFlow struct {
	// Key is the flow.
	Key GROKey
	// TOS is the IPv4 type of service or the IPv6 traffic class (DSCP and
	// ECN), TTL the IPv4 time to live or IPv6 hop limit, DF the IPv4
	// don't-fragment flag, FlowLabel the IPv6 flow label, ID the IPv4
	// identification (informational: merging keeps the first segment's).
	TOS, TTL  uint8
	DF        bool
	FlowLabel uint32
	ID        uint16
	// Seq, Ack, Flags and Window are the TCP fields of those names.
	Seq, Ack uint32
	Flags    uint8
	Window   uint16
	// TCPHdrLen is the TCP header length with options.
	TCPHdrLen int
	// L3 and L4 are the offsets of the IP and TCP headers in the frame.
	L3, L4 int
	// PayloadOff and PayloadLen locate the TCP payload in the frame.
	PayloadOff, PayloadLen int
}

// groIP is the Ethernet and IP part of a frame parsed for coalescing.
type groIP struct {
	key         GROKey // without the ports
	tos, ttl    uint8
	df          bool
	flowLabel   uint32
	id          uint16
	l3, l4, end int // IP header, L4 header, end of the IP packet
}

// parseGROIP parses what ParseGRO and ParseUDPGRO share: Ethernet with up to
// two VLAN tags, IPv4 without options, not a fragment, with a valid header
// checksum (and a total length of at least minTotal), or IPv6 without
// extension headers (and a payload of at least minPayload), carrying proto,
// with IP lengths that match the frame's but for Ethernet padding on a frame
// of at most groMaxPadded bytes. The key's MACs, tags and protocol are set
// as soon as the frame is Ethernet, its addresses once the IP header parses.
func parseGROIP(frame []byte, proto uint8, minTotal, minPayload int) (groIP, bool) {
	var r groIP
	l, err := ParseL2(frame)
	if err != nil {
		return r, false
	}
	r.key.DstMAC, r.key.SrcMAC, r.key.Proto = l.Dst, l.Src, proto
	if l.Tagged {
		r.key.Tags[0] = be.Uint32(frame[12:])
	}
	if l.InnerTagged {
		r.key.Tags[1] = be.Uint32(frame[16:])
	}
	r.l3 = l.L3
	b := frame[l.L3:]
	switch l.EtherType {
	case EtherTypeIPv4:
		if len(b) < IPv4MinLen || b[0] != 0x45 {
			return r, false
		}
		ip := IPv4(b[:IPv4MinLen])
		total := ip.TotalLen()
		if total < minTotal || total > len(b) || ip.IsFragment() || ip.Protocol() != proto || !ip.HeaderChecksumValid() {
			return r, false
		}
		r.tos, r.ttl, r.df, r.id = ip.TOS(), ip.TTL(), ip.DF(), ip.ID()
		copy(r.key.SrcIP[:], ip[12:16])
		copy(r.key.DstIP[:], ip[16:20])
		r.l4, r.end = l.L3+IPv4MinLen, l.L3+total
	case EtherTypeIPv6:
		if len(b) < IPv6Len || b[0]>>4 != 6 {
			return r, false
		}
		ip := IPv6(b[:IPv6Len])
		plen := ip.PayloadLen()
		if ip.NextHeader() != proto || plen < minPayload || plen > len(b)-IPv6Len {
			return r, false
		}
		r.key.IPv6 = true
		r.tos, r.flowLabel, r.ttl = ip.TrafficClass(), ip.FlowLabel(), ip.HopLimit()
		copy(r.key.SrcIP[:], ip[8:24])
		copy(r.key.DstIP[:], ip[24:40])
		r.l4, r.end = l.L3+IPv6Len, l.L3+IPv6Len+plen
	default:
		return r, false
	}
	if r.end != len(frame) && len(frame) > groMaxPadded {
		return r, false
	}
	return r, true
}

// finishGROIP sets the IP lengths of a merged frame fr whose IP header is at
// l3 and L4 header at l4 (and the IPv4 header checksum), and returns the
// pseudo-header sum over the L4 length.
func finishGROIP(fr []byte, l3, l4 int, v6 bool, proto uint8) uint32 {
	n := len(fr) - l4
	if v6 {
		be.PutUint16(fr[l3+4:], uint16(n))
		return PseudoHeaderSum(fr[l3+8:l3+24], fr[l3+24:l3+40], proto, n)
	}
	ip := IPv4(fr[l3:l4])
	be.PutUint16(ip[2:], uint16(len(fr)-l3))
	ip.SetHeaderChecksum()
	return PseudoHeaderSum(ip[12:16], ip[16:20], proto, n)
}

// groMaxPadded is the longest frame that may carry Ethernet padding after
// its IP packet: the 60-byte minimum frame, plus a VLAN tag.
const groMaxPadded = 64

// ParseGRO parses a frame for coalescing and reports whether it may be
// merged (when it may not but is TCP over IP, the returned Key is still the
// frame's flow): Ethernet with up to two VLAN tags; IPv4 without options, not a
// fragment, with a valid header checksum, or IPv6 without extension headers;
// TCP with no flag but ACK and PSH (SYN, FIN, RST, URG, ECE and CWR
// segments are not merged); a non-empty payload; IP lengths that match the
// frame's, except that a frame of at most 64 bytes may carry Ethernet
// padding.
//
// ParseGRO does not verify the TCP checksum (that would read the whole
// payload): coalescing assumes segments whose checksums are valid, or
// already verified (DATA_VALID), since the merged frame carries a fresh
// partial checksum that hides a corrupted segment. Callers that receive from
// an untrusted wire must verify first (see TCPChecksumValid). ParseGRO never
// panics and allocates nothing.
func ParseGRO(frame []byte) (GROFlow, bool) {
	var f GROFlow
	ip, ok := parseGROIP(frame, ProtoTCP, IPv4MinLen+TCPMinLen, TCPMinLen)
	f.Key, f.L3, f.L4 = ip.key, ip.l3, ip.l4
	if !ok {
		return f, false
	}
	f.TOS, f.TTL, f.DF, f.ID, f.FlowLabel = ip.tos, ip.ttl, ip.df, ip.id, ip.flowLabel
	ipEnd := ip.end
	t := TCP(frame[f.L4:ipEnd])
	// The key is whole from here on, also for a segment that is refused
	// (a pure ACK, a FIN), so a caller can end that flow's run.
	f.Key.SrcPort, f.Key.DstPort = t.SrcPort(), t.DstPort()
	thl := t.HeaderLen()
	if thl < TCPMinLen || thl >= len(t) || t.Flags()&^(tcpACK|tcpPSH) != 0 {
		return f, false
	}
	f.Seq, f.Ack, f.Flags, f.Window = t.Seq(), t.Ack(), t.Flags(), be.Uint16(t[14:])
	f.TCPHdrLen, f.PayloadOff, f.PayloadLen = thl, f.L4+thl, len(t)-thl
	return f, true
}

// TCPChecksumValid reports whether frame is Ethernet (with up to two VLAN
// tags), IPv4 (not a fragment) or IPv6 (extension headers skipped), then TCP
// with a checksum that verifies against the pseudo-header. It reads the whole
// segment; it allocates nothing.
func TCPChecksumValid(frame []byte) bool {
	l, err := ParseL2(frame)
	if err != nil {
		return false
	}
	switch l.EtherType {
	case EtherTypeIPv4:
		ip, err := ParseIPv4(frame[l.L3:])
		if err != nil || ip.IsFragment() || ip.Protocol() != ProtoTCP {
			return false
		}
		t, err := ParseTCP(ip.Payload())
		return err == nil && t.ChecksumValid(ip.PseudoSum())
	case EtherTypeIPv6:
		ip, err := ParseIPv6(frame[l.L3:])
		if err != nil {
			return false
		}
		p, off, err := ip.UpperLayer()
		if err != nil || p != ProtoTCP {
			return false
		}
		t, err := ParseTCP(ip[off:])
		return err == nil && t.ChecksumValid(ip.PseudoSum(ProtoTCP, len(t)))
	}
	return false
}

// GROBuilder coalesces in-order TCP segments of one flow into one
// super-frame, in a buffer the caller provides: Start with the first
// segment, TryAppend the next ones while it returns true, then Finish. The
// zero value is an empty builder; it allocates nothing.
//
// The merged frame keeps the first segment's headers: its IPv4 ID (as Linux
// GRO does; re-segmenting it numbers IDs from there), TCP options (which
// must be byte-identical in every segment), ack and window (which must be
// equal too).
type GROBuilder struct {
	dst      []byte
	frameLen int // length of the first frame, padding included
	end      int // end of the merged IP packet in dst
	first    GROFlow
	next     uint32 // next expected seq
	segs     int
	psh      bool // an appended segment had PSH
	closed   bool // no more appends: short segment, PSH, or Finish
}

// Start begins a super-frame in dst with the first segment: it copies the
// whole frame into dst (dst must hold at least len(frame) bytes; the
// super-frame can grow to len(dst)). f must be ParseGRO(frame). It returns
// false, leaving the builder empty (Segments 0, TryAppend false, Finish nil),
// if dst is too small or f does not describe a mergeable frame of this size.
// A first segment with PSH is held alone: nothing can be appended to it.
// The builder keeps dst (not frame) until the next Start: do not write to
// dst while a run is being built.
func (b *GROBuilder) Start(dst []byte, frame []byte, f GROFlow) bool {
	*b = GROBuilder{}
	l3len := IPv4MinLen
	if f.Key.IPv6 {
		l3len = IPv6Len
	}
	switch {
	case f.L3 < EthernetLen || f.L3 > EthernetLen+8 || f.L4 != f.L3+l3len,
		f.TCPHdrLen < TCPMinLen || f.TCPHdrLen > 60 || f.PayloadOff != f.L4+f.TCPHdrLen,
		f.PayloadLen <= 0 || f.PayloadOff > len(frame) || f.PayloadLen > len(frame)-f.PayloadOff,
		f.PayloadOff+f.PayloadLen-f.L3 > 65535,
		f.Flags&^(tcpACK|tcpPSH) != 0,
		len(frame) > len(dst):
		return false
	}
	b.dst = dst
	b.frameLen = copy(dst, frame)
	b.end = f.PayloadOff + f.PayloadLen
	b.first = f
	b.next = f.Seq + uint32(f.PayloadLen)
	b.segs = 1
	b.closed = f.Flags&tcpPSH != 0
	return true
}

// TryAppend appends frame's payload to the super-frame and reports whether
// it did. f must be ParseGRO(frame). It refuses (and changes nothing) unless
// the builder was started and not finished; f has the first segment's flow
// key, ack, window, flags (PSH aside), header lengths, TCP options
// (byte-for-byte), TOS/traffic class, TTL/hop limit, DF and flow label; f.Seq
// is the next expected sequence number; the payload is no larger than the
// first segment's and the previously added segment was exactly that size
// (only the last may be short); and the result stays within 65535 bytes of
// IP packet and len(dst). A segment with PSH ends the run: its PSH goes
// into the super-frame and nothing more can be appended. Refusal means the
// caller should Finish this run and Start another with frame.
func (b *GROBuilder) TryAppend(frame []byte, f GROFlow) bool {
	p := &b.first
	switch {
	case b.segs == 0 || b.closed,
		f.Key != p.Key,
		f.Seq != b.next || f.Ack != p.Ack || f.Window != p.Window || f.Flags&^tcpPSH != p.Flags&^tcpPSH,
		f.L3 != p.L3 || f.L4 != p.L4 || f.TCPHdrLen != p.TCPHdrLen || f.PayloadOff != p.PayloadOff,
		f.TOS != p.TOS || f.TTL != p.TTL || f.DF != p.DF || f.FlowLabel != p.FlowLabel,
		f.PayloadLen <= 0 || f.PayloadLen > p.PayloadLen,
		f.PayloadOff > len(frame) || f.PayloadLen > len(frame)-f.PayloadOff,
		b.end-p.L3+f.PayloadLen > 65535 || f.PayloadLen > len(b.dst)-b.end:
		return false
	}
	// Data offset and reserved bits, then the options, byte for byte.
	if frame[f.L4+12] != b.dst[p.L4+12] || !bytes.Equal(frame[f.L4+TCPMinLen:f.PayloadOff], b.dst[p.L4+TCPMinLen:p.PayloadOff]) {
		return false
	}
	b.end += copy(b.dst[b.end:], frame[f.PayloadOff:f.PayloadOff+f.PayloadLen])
	b.next += uint32(f.PayloadLen)
	b.segs++
	if f.Flags&tcpPSH != 0 {
		b.psh, b.closed = true, true
	}
	if f.PayloadLen < p.PayloadLen {
		b.closed = true
	}
	return true
}

// Finish completes the super-frame and returns it (a slice of dst) with its
// offload description. With two or more segments it sets the IPv4 total
// length and header checksum or the IPv6 payload length, ORs in an appended
// PSH, and stores the pseudo-header sum in the TCP checksum field, so the
// result is GSO{Type: GSOTypeTCPv4 or GSOTypeTCPv6, Size: the first
// segment's payload length, HdrLen: the header length, NeedsCsum: true,
// CsumStart: the TCP header offset, CsumOffset: 16}; FinishChecksum or
// Segment turns it back into complete frames. With one segment it returns
// that frame exactly as received (padding and checksum included) and GSO{}
// (GSOTypeNone, NeedsCsum false). With none (not started) it returns nil and
// GSO{}. After Finish, TryAppend refuses; Finish may be called again and
// returns the same.
func (b *GROBuilder) Finish() (frame []byte, g GSO) {
	if b.segs == 0 {
		return nil, GSO{}
	}
	b.closed = true
	if b.segs == 1 {
		return b.dst[:b.frameLen], GSO{}
	}
	p := &b.first
	fr := b.dst[:b.end]
	pseudo := finishGROIP(fr, p.L3, p.L4, p.Key.IPv6, ProtoTCP)
	typ := uint8(GSOTypeTCPv4)
	if p.Key.IPv6 {
		typ = GSOTypeTCPv6
	}
	t := fr[p.L4:]
	if b.psh {
		t[13] |= tcpPSH
	}
	be.PutUint16(t[16:], Fold(pseudo))
	return fr, GSO{Type: typ, Size: p.PayloadLen, HdrLen: p.PayloadOff, NeedsCsum: true, CsumStart: p.L4, CsumOffset: 16}
}

// Segments returns the number of segments in the super-frame (0 before
// Start or after a failed Start).
func (b *GROBuilder) Segments() int { return b.segs }
