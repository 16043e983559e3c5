package datapath

import (
	"encoding/binary"
	"math/bits"
)

// KeyWords is the number of 64-bit words in a flow key (29 in use; 32 so
// that a word index masked with 31 needs no bounds check).
const KeyWords = 32

// Key is a flow key: every field of a frame (and of its metadata) that the
// pipeline can match, packed into fixed 64-bit words so that masking,
// hashing and comparing are word operations. A Key is also a mask (the bits
// a rule or a cached decision consulted). Field layout:
//
//	w0  in_port(0-31) vlan_tci(32-47: vid 0-11, present 12, pcp 13-15) dei(48) frag(49-50)
//	w1  eth_dst(0-47) eth_type(48-63)
//	w2  eth_src(0-47) ip_proto(48-55) ip_tos(56-63: ecn 56-57, dscp 58-63)
//	w3  ipv4_src/arp_spa(0-31) ipv4_dst/arp_tpa(32-63)
//	w4-5 ipv6_src     w6-7 ipv6_dst
//	w8  tp_src/icmp_type(0-15) tp_dst/icmp_code(16-31) tcp_flags(32-47) arp_op(48-63)
//	w9  ipv6_label(0-19) ip_ttl(32-39)
//	w10 arp_sha/nd_sll  w11 arp_tha/nd_tll  w12-13 nd_target
//	w14 metadata  w15 tun_id  w16 tun_ipv4_src(0-31) tun_ipv4_dst(32-63)
//	w17-18 tun_ipv6_src  w19-20 tun_ipv6_dst  w21-28 reg0..reg15 (two per word)
//
// The VLAN field follows Open vSwitch: bit 12 of vlan_tci says a tag is
// present (OpenFlow's OFPVID_PRESENT), so vlan_vid is bits 0-12 and the real
// DEI bit lives apart.
type Key [KeyWords]uint64

// Field identifies a match field.
type Field uint8

// Match fields.
const (
	FieldInPort Field = iota
	FieldVLANVID
	FieldVLANPCP
	FieldEthDst
	FieldEthType
	FieldEthSrc
	FieldIPProto
	FieldIPDSCP
	FieldIPECN
	FieldIPv4Src
	FieldIPv4Dst
	FieldIPv6Src
	FieldIPv6Dst
	FieldTPSrc // tcp_src, udp_src, sctp_src
	FieldTPDst
	FieldTCPFlags
	FieldICMPType // icmpv4_type and icmpv6_type
	FieldICMPCode
	FieldARPOp
	FieldARPSPA
	FieldARPTPA
	FieldARPSHA
	FieldARPTHA
	FieldIPv6Label
	FieldIPTTL
	FieldNDTarget
	FieldNDSLL
	FieldNDTLL
	FieldMetadata
	FieldTunID
	FieldTunIPv4Src
	FieldTunIPv4Dst
	FieldTunIPv6Src
	FieldTunIPv6Dst
	FieldReg0
	// FieldReg0+i is register i (0-15).
	FieldRegLast = FieldReg0 + 15
	// FieldIPFrag is Open vSwitch's nw_frag: bit 0 fragment, bit 1 later
	// fragment.
	FieldIPFrag = FieldRegLast + 1
	// NumFields is the number of fields.
	NumFields = FieldIPFrag + 1
)

// FieldInfo describes where a field lives in a Key and what OpenFlow says
// about it.
type FieldInfo struct {
	Name     string // the OpenFlow 1.3 OXM name (eth_src, ipv4_dst, reg3…)
	Word     uint8  // first word
	Shift    uint8  // bit offset in the word (fields ≤ 64 bits)
	Bits     uint8  // width in bits (128 for IPv6 addresses)
	Maskable bool   // OpenFlow allows a mask
	Writable bool   // set_field may write it
	// Prereq is what a match must also say for this field to be allowed
	// (OpenFlow 1.3 prerequisites), or PrereqNone.
	Prereq Prereq
}

// Prereq is a match prerequisite.
type Prereq uint8

// Prerequisites (OpenFlow 1.3.5 table 12).
const (
	PrereqNone  Prereq = iota
	PrereqVLAN         // vlan_vid present (vlan_pcp)
	PrereqIP           // eth_type 0x0800 or 0x86dd
	PrereqIPv4         // eth_type 0x0800
	PrereqIPv6         // eth_type 0x86dd
	PrereqARP          // eth_type 0x0806
	PrereqTCP          // ip_proto 6
	PrereqUDP          // ip_proto 17
	PrereqSCTP         // ip_proto 132
	PrereqTPort        // ip_proto 6, 17 or 132 (tp_src/tp_dst)
	PrereqICMP         // IPv4 ip_proto 1 or IPv6 ip_proto 58
	PrereqND           // ICMPv6 type 135 or 136
	PrereqNDSLL        // ICMPv6 type 135 (neighbour solicitation)
	PrereqNDTLL        // ICMPv6 type 136 (neighbour advertisement)
)

var fieldInfo [NumFields]FieldInfo

func init() {
	set := func(f Field, name string, word, shift, bits uint8, maskable, writable bool, pre Prereq) {
		fieldInfo[f] = FieldInfo{Name: name, Word: word, Shift: shift, Bits: bits, Maskable: maskable, Writable: writable, Prereq: pre}
	}
	set(FieldInPort, "in_port", 0, 0, 32, false, false, PrereqNone)
	set(FieldVLANVID, "vlan_vid", 0, 32, 13, true, true, PrereqNone)
	set(FieldVLANPCP, "vlan_pcp", 0, 45, 3, false, true, PrereqVLAN)
	set(FieldIPFrag, "nw_frag", 0, 49, 2, true, false, PrereqIP)
	set(FieldEthDst, "eth_dst", 1, 0, 48, true, true, PrereqNone)
	set(FieldEthType, "eth_type", 1, 48, 16, false, false, PrereqNone)
	set(FieldEthSrc, "eth_src", 2, 0, 48, true, true, PrereqNone)
	set(FieldIPProto, "ip_proto", 2, 48, 8, false, false, PrereqIP)
	set(FieldIPECN, "ip_ecn", 2, 56, 2, false, true, PrereqIP)
	set(FieldIPDSCP, "ip_dscp", 2, 58, 6, false, true, PrereqIP)
	set(FieldIPv4Src, "ipv4_src", 3, 0, 32, true, true, PrereqIPv4)
	set(FieldIPv4Dst, "ipv4_dst", 3, 32, 32, true, true, PrereqIPv4)
	set(FieldARPSPA, "arp_spa", 3, 0, 32, true, true, PrereqARP)
	set(FieldARPTPA, "arp_tpa", 3, 32, 32, true, true, PrereqARP)
	set(FieldIPv6Src, "ipv6_src", 4, 0, 128, true, true, PrereqIPv6)
	set(FieldIPv6Dst, "ipv6_dst", 6, 0, 128, true, true, PrereqIPv6)
	set(FieldTPSrc, "tp_src", 8, 0, 16, true, true, PrereqTPort)
	set(FieldTPDst, "tp_dst", 8, 16, 16, true, true, PrereqTPort)
	set(FieldICMPType, "icmp_type", 8, 0, 8, false, true, PrereqICMP)
	set(FieldICMPCode, "icmp_code", 8, 16, 8, false, true, PrereqICMP)
	set(FieldTCPFlags, "tcp_flags", 8, 32, 12, true, false, PrereqTCP)
	set(FieldARPOp, "arp_op", 8, 48, 16, false, true, PrereqARP)
	set(FieldIPv6Label, "ipv6_flabel", 9, 0, 20, true, true, PrereqIPv6)
	set(FieldIPTTL, "nw_ttl", 9, 32, 8, false, true, PrereqIP)
	set(FieldARPSHA, "arp_sha", 10, 0, 48, true, true, PrereqARP)
	set(FieldNDSLL, "ipv6_nd_sll", 10, 0, 48, true, true, PrereqNDSLL)
	set(FieldARPTHA, "arp_tha", 11, 0, 48, true, true, PrereqARP)
	set(FieldNDTLL, "ipv6_nd_tll", 11, 0, 48, true, true, PrereqNDTLL)
	set(FieldNDTarget, "ipv6_nd_target", 12, 0, 128, true, true, PrereqND)
	set(FieldMetadata, "metadata", 14, 0, 64, true, true, PrereqNone)
	set(FieldTunID, "tunnel_id", 15, 0, 64, true, true, PrereqNone)
	set(FieldTunIPv4Src, "tun_ipv4_src", 16, 0, 32, true, true, PrereqNone)
	set(FieldTunIPv4Dst, "tun_ipv4_dst", 16, 32, 32, true, true, PrereqNone)
	set(FieldTunIPv6Src, "tun_ipv6_src", 17, 0, 128, true, true, PrereqNone)
	set(FieldTunIPv6Dst, "tun_ipv6_dst", 19, 0, 128, true, true, PrereqNone)
	for i := 0; i < 16; i++ {
		set(FieldReg0+Field(i), "reg"+itoa(i), uint8(21+i/2), uint8(32*(i%2)), 32, true, true, PrereqNone)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return "1" + string(rune('0'+i-10))
}

// Info returns the field's description.
func (f Field) Info() FieldInfo {
	if f < NumFields {
		return fieldInfo[f]
	}
	return FieldInfo{Name: "unknown"}
}

func (f Field) String() string { return f.Info().Name }

// FieldByName returns the field with the OpenFlow 1.3 name.
func FieldByName(name string) (Field, bool) {
	for f := Field(0); f < NumFields; f++ {
		if fieldInfo[f].Name == name {
			return f, true
		}
	}
	return 0, false
}

// Value is a field's value (or mask): up to 128 bits, Hi holding the upper
// 64 bits of a 128-bit field.
type Value struct{ Hi, Lo uint64 }

// IsZero reports whether every bit is zero.
func (v Value) IsZero() bool { return v.Hi|v.Lo == 0 }

// And returns v & m.
func (v Value) And(m Value) Value { return Value{v.Hi & m.Hi, v.Lo & m.Lo} }

// FullMask returns the all-ones mask of the field's width.
func (f Field) FullMask() Value {
	b := fieldInfo[f].Bits
	if b >= 128 {
		return Value{^uint64(0), ^uint64(0)}
	}
	if b == 64 {
		return Value{0, ^uint64(0)}
	}
	return Value{0, 1<<b - 1}
}

// Get returns the field's value in k.
func (k *Key) Get(f Field) Value {
	fi := &fieldInfo[f]
	if fi.Bits == 128 {
		return Value{k[fi.Word], k[fi.Word+1]}
	}
	if fi.Bits == 64 {
		return Value{0, k[fi.Word]}
	}
	return Value{0, k[fi.Word] >> fi.Shift & (1<<fi.Bits - 1)}
}

// Set stores v (truncated to the field's width) as the field's value in k.
func (k *Key) Set(f Field, v Value) {
	fi := &fieldInfo[f]
	switch fi.Bits {
	case 128:
		k[fi.Word], k[fi.Word+1] = v.Hi, v.Lo
	case 64:
		k[fi.Word] = v.Lo
	default:
		m := uint64(1)<<fi.Bits - 1
		k[fi.Word] = k[fi.Word]&^(m<<fi.Shift) | (v.Lo&m)<<fi.Shift
	}
}

// SetMasked stores v under mask m: only the bits set in m change.
func (k *Key) SetMasked(f Field, v, m Value) {
	old := k.Get(f)
	k.Set(f, Value{old.Hi&^m.Hi | v.Hi&m.Hi, old.Lo&^m.Lo | v.Lo&m.Lo})
}

// Or adds every bit of m to k (for accumulating masks).
func (k *Key) Or(m *Key) {
	for i := range k {
		k[i] |= m[i]
	}
}

// Equal reports whether a and b agree on every bit of mask.
func EqualMasked(a, b, mask *Key) bool {
	var d uint64
	for i := range a {
		d |= (a[i] ^ b[i]) & mask[i]
	}
	return d == 0
}

// dmask is a mask in dense form: the words it has bits in and their bits,
// so hashing, comparing and accumulating touch those words only.
type dmask struct {
	words []uint8
	bits  []uint64
}

func newDMask(m *Key) dmask {
	var d dmask
	for i, x := range m {
		if x != 0 {
			d.words = append(d.words, uint8(i))
			d.bits = append(d.bits, x)
		}
	}
	return d
}

const hashSeed = 0x9E3779B97F4A7C15

// hash hashes k under the mask: one xor and one multiply per word (a
// bijection of the state, so no word's bits are lost), then the high half folded
// into the low one the tables index by.
func (d *dmask) hash(k *Key) uint64 {
	h := uint64(hashSeed)
	bits := d.bits[:len(d.words)]
	for i, w := range d.words {
		h = (h ^ k[w&31]&bits[i]) * 0xbf58476d1ce4e5b9
	}
	return h ^ h>>32
}

// vals returns k's masked values at the mask's words (an entry's dense key).
func (d *dmask) vals(k *Key) []uint64 {
	return d.valsInto(make([]uint64, 0, len(d.words)), k)
}

// valsInto is vals appended to v.
func (d *dmask) valsInto(v []uint64, k *Key) []uint64 {
	for i, w := range d.words {
		v = append(v, k[w&31]&d.bits[i])
	}
	return v
}

// equal reports whether k under the mask has the dense values v.
func (d *dmask) equal(k *Key, v []uint64) bool {
	bits := d.bits[:len(d.words)]
	v = v[:len(d.words)]
	for i, w := range d.words {
		if k[w&31]&bits[i] != v[i] {
			return false
		}
	}
	return true
}

// orInto adds the mask's bits to wc.
func (d *dmask) orInto(wc *Key) {
	bits := d.bits[:len(d.words)]
	for i, w := range d.words {
		wc[w&31] |= bits[i]
	}
}

// Key accessors used by the forwarding path.
func (k *Key) inPort() uint16    { return uint16(k[0]) }
func (k *Key) vlanTCI() uint16   { return uint16(k[0] >> 32) }
func (k *Key) dei() bool         { return k[0]>>48&1 != 0 }
func (k *Key) ethDst() [6]byte   { return u48(k[1]) }
func (k *Key) ethSrc() [6]byte   { return u48(k[2]) }
func (k *Key) ethType() uint16   { return uint16(k[1] >> 48) }
func (k *Key) dstWord() uint64   { return k[1] & (1<<48 - 1) }
func (k *Key) srcWord() uint64   { return k[2] & (1<<48 - 1) }
func (k *Key) ipProto() uint8    { return uint8(k[2] >> 48) }
func (k *Key) ttl() uint8        { return uint8(k[9] >> 32) }
func (k *Key) setTCI(tci uint16) { k[0] = k[0]&^(0xffff<<32) | uint64(tci)<<32 }

// vlanPresent reports whether the frame carries an 802.1Q tag.
func (k *Key) vlanPresent() bool { return k[0]>>(32+12)&1 != 0 }

// wireTCI is the frame's real TCI (PCP, DEI, VID).
func (k *Key) wireTCI() uint16 {
	t := k.vlanTCI()&0xefff | uint16(k[0]>>48&1)<<12
	return t
}

func u48(w uint64) (m [6]byte) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], w<<16)
	copy(m[:], b[:6])
	return m
}

func macWord(m []byte) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// Mask accumulation helpers for decide: set the mask bits of a field.
func (k *Key) unwildcard(f Field) {
	w := &fieldWords[f]
	k[w.word&31] |= w.first
	k[(w.word+1)&31] |= w.second
}

// fieldWords is each field's full mask as the bits of the key words it
// occupies (second: the next word, for 128-bit fields).
var fieldWords [NumFields]struct {
	word          uint8
	first, second uint64
}

func init() {
	for f := range Field(NumFields) {
		var m Key
		m.Set(f, f.FullMask())
		w := fieldInfo[f].Word
		fieldWords[f].word, fieldWords[f].first = w, m[w]
		if w+1 < uint8(len(m)) {
			fieldWords[f].second = m[w+1]
		}
	}
}

// popcount returns the number of mask bits (for tracing and tests).
func (k *Key) popcount() int {
	n := 0
	for _, w := range k {
		n += bits.OnesCount64(w)
	}
	return n
}
