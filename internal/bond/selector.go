package bond

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// Hashing is what a bond's member choice depends on right now.
type Hashing uint8

// Hashing kinds.
const (
	// HashDrop: no member may carry traffic (LACP not negotiated without
	// fallback, or every member down); frames to the bond are dropped.
	HashDrop Hashing = iota
	// HashNone: active-backup (or LACP fallback); the active member.
	HashNone
	// HashSrcMAC: balance-slb, by source MAC and VLAN.
	HashSrcMAC
	// HashL4: balance-tcp, by the L3/L4 flow hash (packet.FlowHash).
	HashL4
)

// Verdict is what the admission rules say about a frame received on a
// member (Open vSwitch's bond_verdict).
type Verdict uint8

// Verdicts.
const (
	// Accept: forward and learn as usual.
	Accept Verdict = iota
	// Drop: count and drop.
	Drop
	// DropIfMoved: look the frame's source MAC and VLAN up in the FDB; if
	// it is learned on another port than this bond, the frame is our own
	// flood coming back from a non-LACP upstream: drop it, and do not
	// learn from it. A gratuitous ARP (IsGratuitousARP) is the exception
	// (the host really moved), unless the FDB entry was refreshed by a
	// gratuitous ARP on another port within the last 5 s (Open vSwitch's
	// grat-ARP lock, which stops the reflection of that very ARP).
	DropIfMoved
)

func (v Verdict) String() string {
	switch v {
	case Drop:
		return "drop"
	case DropIfMoved:
		return "drop-if-moved"
	}
	return "accept"
}

// Selector is an immutable snapshot of a bond's forwarding state, read by
// the forwarding path without locks. Its methods allocate nothing.
type Selector struct {
	gen       uint64
	hash      Hashing
	mode      Mode
	lacp      LACPStatus
	fallback  bool
	allActive bool
	active    int8
	enabled   uint64 // bit per member
	mayEnable uint64 // LACP (and carrier) allow it, enabled or not yet
	basis     uint32
	buckets   [Buckets]int8
	load      *[Buckets]atomic.Uint64
}

// Generation increases with every published selector.
func (s *Selector) Generation() uint64 { return s.gen }

// Hashing tells what Choose looks at, so a decision cache can mask the
// right fields: nothing (HashNone, HashDrop), the source MAC and VLAN
// (HashSrcMAC) or the L3/L4 fields packet.FlowHash reads (HashL4).
func (s *Selector) Hashing() Hashing { return s.hash }

// Active is the active member (active-backup, and the member that admits
// multicast on a non-LACP balance-slb bond), or -1.
func (s *Selector) Active() int { return int(s.active) }

// Enabled reports whether member i may carry traffic.
func (s *Selector) Enabled(i int) bool { return i >= 0 && i < 64 && s.enabled&(1<<i) != 0 }

// fmix is MurmurHash3's 64-bit finaliser.
func fmix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// HashMAC is balance-slb's hash of a source MAC and VLAN.
func HashMAC(mac packet.MAC, vlan uint16, basis uint32) uint32 {
	x := uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 | uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
	return uint32(fmix(x ^ uint64(vlan&0xfff)<<48 ^ uint64(basis)<<20 ^ uint64(basis)<<52))
}

// HashFlow is balance-tcp's hash from packet.FlowHash.
func HashFlow(flowHash, basis uint32) uint32 {
	return uint32(fmix(uint64(flowHash) ^ uint64(basis)<<32))
}

// Bucket returns the bucket of a frame in logical VLAN vlan, or -1 when the
// bond does not hash. frame is the Ethernet frame as it leaves (the source
// MAC at 6:12).
func (s *Selector) Bucket(frame []byte, vlan uint16) int {
	switch s.hash {
	case HashSrcMAC:
		if len(frame) < 12 {
			return 0
		}
		return int(HashMAC(packet.MAC(frame[6:12]), vlan, s.basis) & (Buckets - 1))
	case HashL4:
		return int(HashFlow(packet.FlowHash(frame), s.basis) & (Buckets - 1))
	}
	return -1
}

// Choose returns the member that sends frame (in logical VLAN vlan), and
// its bucket (-1 when not hashing); member -1 means drop. Floods and known
// unicast alike go out on one member.
func (s *Selector) Choose(frame []byte, vlan uint16) (member, bucket int) {
	switch s.hash {
	case HashNone:
		return int(s.active), -1
	case HashSrcMAC, HashL4:
		bk := s.Bucket(frame, vlan)
		return int(s.buckets[bk]), bk
	}
	return -1, -1
}

// MemberOfBucket returns the member a bucket maps to (-1 if none).
func (s *Selector) MemberOfBucket(bk int) int {
	if bk < 0 || bk >= Buckets || (s.hash != HashSrcMAC && s.hash != HashL4) {
		return -1
	}
	return int(s.buckets[bk])
}

// Account adds bytes sent in bucket bk to its load, for rebalancing. The
// engine may call it per frame, per batch or from cached-flow statistics.
func (s *Selector) Account(bk, bytes int) {
	if bk >= 0 && bk < Buckets && s.load != nil {
		s.load[bk].Add(uint64(bytes))
	}
}

// Admit applies Open vSwitch's admission rules to a frame that arrived on
// member i with destination dst:
//   - LACP negotiated: accept on a member that is (or is about to be)
//     enabled; a correct partner sends nothing on the others.
//   - LACP configured but not negotiated: drop, unless fallback-ab.
//   - balance-tcp without LACP: drop.
//   - multicast and broadcast only on the active member (unless
//     all-members-active), so a flood we sent is not taken back on
//     another member of a non-LACP bond.
//   - active-backup (and falling back): only the active member.
//   - balance-slb: DropIfMoved.
func (s *Selector) Admit(i int, dst packet.MAC) Verdict {
	if i < 0 || i >= 64 {
		return Drop
	}
	switch s.lacp {
	case LACPNegotiated:
		if (s.enabled|s.mayEnable)&(1<<i) != 0 {
			return Accept
		}
		return Drop
	case LACPConfigured:
		if !s.fallback {
			return Drop
		}
	case LACPDisabled:
		if s.mode == BalanceTCP {
			return Drop
		}
	}
	if dst.IsMulticast() && int(s.active) != i && !s.allActive {
		return Drop
	}
	if s.mode == ActiveBackup || s.mode == BalanceTCP || s.lacp == LACPConfigured {
		if int(s.active) != i {
			return Drop
		}
		return Accept
	}
	return DropIfMoved
}

// LearningFrameLen is the length of a learning frame without a VLAN tag.
const LearningFrameLen = 60

// LearningFrame appends to b the gratuitous learning frame for a host mac
// in VLAN vlan (0 = untagged) and returns the member to send it on (-1:
// none). It is an RARP request (EtherType 0x8035, op 3) from mac to
// broadcast with mac as sender and target hardware address and zero IP
// addresses, as Open vSwitch's compose_rarp sends: every switch upstream
// learns mac on the member the bond now uses for it, and no host answers.
func (s *Selector) LearningFrame(b []byte, mac packet.MAC, vlan uint16) (int, []byte) {
	off := len(b)
	n := LearningFrameLen
	if vlan != 0 {
		n += 4
	}
	b = append(b, make([]byte, n)...)
	f := b[off:]
	copy(f[0:6], packet.Broadcast[:])
	copy(f[6:12], mac[:])
	p := 12
	if vlan != 0 {
		binary.BigEndian.PutUint16(f[12:], packet.EtherTypeVLAN)
		binary.BigEndian.PutUint16(f[14:], vlan&0xfff)
		p = 16
	}
	binary.BigEndian.PutUint16(f[p:], 0x8035)
	a := f[p+2:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 3) // reverse request
	copy(a[8:14], mac[:])
	copy(a[18:24], mac[:])
	m, _ := s.Choose(f, vlan)
	return m, b
}

// IsGratuitousARP reports whether frame is a gratuitous ARP (request or
// reply whose sender and target IP are the same), the exception to
// DropIfMoved. The frame may carry one 802.1Q tag.
func IsGratuitousARP(frame []byte) bool {
	l, err := packet.ParseL2(frame)
	if err != nil || l.EtherType != packet.EtherTypeARP {
		return false
	}
	a, err := packet.ParseARP(frame[l.L3:])
	if err != nil {
		return false
	}
	return a.SenderIP() == a.TargetIP()
}
