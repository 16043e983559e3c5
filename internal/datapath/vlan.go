package datapath

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// VLANMode is how a port treats 802.1Q tags.
type VLANMode uint8

const (
	// ModeTrunk carries the VLANs of Trunks tagged, and untagged frames in
	// the native VLAN. A port with no VLAN settings is a trunk of every VLAN
	// whose native VLAN is the bridge's untagged domain (VLAN 0), as in
	// Open vSwitch.
	ModeTrunk VLANMode = iota
	// ModeAccess carries one VLAN, untagged on the wire.
	ModeAccess
)

func (m VLANMode) String() string {
	if m == ModeAccess {
		return "access"
	}
	return "trunk"
}

// MaxVID is the largest usable VLAN ID; 4095 is reserved.
const MaxVID = 4094

// MaxVNI is the largest VXLAN/Geneve VNI (24 bits).
const MaxVNI = 1<<24 - 1

// Allowed-value texts shared by every validator (one home per range).
const (
	AllowedVID      = "1-4094"
	AllowedVIDOrAll = "0-4094 (0 = untagged)"
	AllowedVNI      = "0-16777215"
	AllowedVLANList = "VLAN IDs 1-4094 as a list, like 10,20,30-40"
)

// VLANSet is a set of VLAN IDs 0–4095.
type VLANSet [64]uint64

// Add puts vid in the set.
func (s *VLANSet) Add(vid uint16) { s[vid>>6&63] |= 1 << (vid & 63) }

// Remove takes vid out of the set.
func (s *VLANSet) Remove(vid uint16) { s[vid>>6&63] &^= 1 << (vid & 63) }

// Has reports whether vid is in the set.
func (s *VLANSet) Has(vid uint16) bool { return s[vid>>6&63]&(1<<(vid&63)) != 0 }

// IsEmpty reports whether the set holds no VLAN.
func (s *VLANSet) IsEmpty() bool { return *s == VLANSet{} }

// List returns the VLAN IDs in the set, in order.
func (s *VLANSet) List() []uint16 {
	var l []uint16
	for v := 0; v < 4096; v++ {
		if s.Has(uint16(v)) {
			l = append(l, uint16(v))
		}
	}
	return l
}

// String formats the set as ranges: "10,20-29".
func (s *VLANSet) String() string {
	var b strings.Builder
	l := s.List()
	for i := 0; i < len(l); {
		j := i
		for j+1 < len(l) && l[j+1] == l[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(l[i])))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(l[j])))
		}
		i = j + 1
	}
	return b.String()
}

// ParseVLANList parses "10,20,30-40" into a set. Every ID must be 1–4094.
func ParseVLANList(s string) (VLANSet, error) {
	var set VLANSet
	if strings.TrimSpace(s) == "" {
		return set, errs.Invalidf("trunk", AllowedVLANList, "empty VLAN list")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := ParseVID("trunk", lo)
		if err != nil {
			return set, err
		}
		b := a
		if isRange {
			if b, err = ParseVID("trunk", hi); err != nil {
				return set, err
			}
			if b < a {
				return set, errs.Invalidf("trunk", "LOW-HIGH with LOW <= HIGH", "VLAN range %q runs backwards", part)
			}
		}
		for v := a; v <= b; v++ {
			set.Add(v)
		}
	}
	return set, nil
}

// ParseVID parses a VLAN ID 1–4094 for field.
func ParseVID(field, s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxVID {
		return 0, errs.Invalidf(field, AllowedVID, "VLAN ID %q is not valid", s)
	}
	return uint16(n), nil
}

// PortConfig is the switching configuration of one bridge port.
type PortConfig struct {
	// Mode is access or trunk.
	Mode VLANMode
	// VLAN is the access VLAN (1–4094) in access mode.
	VLAN uint16
	// Trunks is the set of VLANs a trunk carries tagged. An empty set means
	// every VLAN 1–4094 (Open vSwitch's default).
	Trunks VLANSet
	// NativeVLAN is the VLAN untagged frames belong to on a trunk; 0 means
	// the bridge's untagged domain, which only ports without VLAN settings
	// share.
	NativeVLAN uint16
	// NativeTagged sends native-VLAN frames tagged instead of untagged
	// (Open vSwitch's native-tagged); untagged frames are still accepted.
	NativeTagged bool
	// VNIs maps VLAN → VNI on a tunnel port. With a map the port carries
	// exactly the mapped VLANs, each untagged inside its own VNI. Without
	// one a tunnel port carries its VLANs like any port, in VNI.
	VNIs map[uint16]uint32
	// VNI is the tunnel key of a tunnel port without a VNI map.
	VNI uint32
	// Tunnel marks a tunnel port (VXLAN, Geneve, GRE): frames to it carry a
	// VNI and a remote endpoint, and frames from it learn that endpoint.
	Tunnel bool
	// TunnelLocal is a tunnel port's local VTEP address (the tun_ipv4_dst
	// or tun_ipv6_dst of frames it receives).
	TunnelLocal netip.Addr
	// NoLearning turns MAC learning off on this port (for ports whose
	// addresses a control plane installs).
	NoLearning bool
}

// Validate checks the configuration and returns an *errs.Error that names
// the field and the allowed values.
func (c *PortConfig) Validate() error {
	switch c.Mode {
	case ModeAccess:
		if c.VLAN < 1 || c.VLAN > MaxVID {
			return errs.Invalidf("vlan", AllowedVID, "%d is not a valid access VLAN", c.VLAN)
		}
		if !c.Trunks.IsEmpty() || c.NativeVLAN != 0 || c.NativeTagged {
			return errs.Invalidf("vlan", "either --vlan or --trunk/--native-vlan/--native-tagged", "an access port (vlan %d) cannot also be a trunk", c.VLAN)
		}
	case ModeTrunk:
		if c.Trunks.Has(0) || c.Trunks.Has(4095) {
			return errs.Invalidf("trunk", AllowedVLANList, "the trunk holds VLAN 0 or 4095")
		}
		if c.NativeVLAN > MaxVID {
			return errs.Invalidf("native-vlan", AllowedVID, "%d", c.NativeVLAN)
		}
		if c.NativeTagged && c.NativeVLAN == 0 {
			return errs.Invalidf("native-tagged", "with --native-vlan", "native-tagged needs a native VLAN")
		}
	default:
		return errs.Invalidf("vlan-mode", "access, trunk", "mode %d", c.Mode)
	}
	if c.VNI > MaxVNI {
		return errs.Invalidf("vni", AllowedVNI, "%d", c.VNI)
	}
	seen := make(map[uint32]uint16, len(c.VNIs))
	for vlan, vni := range c.VNIs {
		if !c.Tunnel {
			return errs.Invalidf("vni-map", "tunnel ports (vxlan, geneve, gre)", "a VNI map applies to tunnel ports only")
		}
		if vlan < 1 || vlan > MaxVID {
			return errs.Invalidf("vni-map", "VLAN:VNI pairs with VLAN "+AllowedVID, "VLAN %d", vlan)
		}
		if vni > MaxVNI {
			return errs.Invalidf("vni-map", "VLAN:VNI pairs with VNI "+AllowedVNI, "VNI %d", vni)
		}
		if other, dup := seen[vni]; dup {
			return errs.Invalidf("vni-map", "each VNI once", "VNI %d maps to both VLAN %d and VLAN %d", vni, other, vlan)
		}
		seen[vni] = vlan
	}
	if len(c.VNIs) > 0 && c.Mode == ModeAccess {
		return errs.Invalidf("vni-map", "either --vni-map or --vni with --vlan", "a VNI map and an access VLAN exclude each other")
	}
	return nil
}

// Carries reports whether the port carries VLAN vid (0 = the untagged
// domain). It is the engine's membership rule, computed by compile; every
// other layer asks it rather than restating it.
func (c *PortConfig) Carries(vid uint16) bool {
	st := compile(*c)
	return st.member.Has(vid & 0xfff)
}

// portState is a port's configuration compiled for the forwarding path.
type portState struct {
	cfg       PortConfig
	member    VLANSet // VLANs the port carries (0 = untagged domain)
	tagged    VLANSet // VLANs it sends tagged
	native    uint16  // VLAN of untagged frames
	hasNative bool
	vniOf     *[4096]uint32     // VLAN → VNI on a tunnel port with a map
	vlanOf    map[uint32]uint16 // VNI → VLAN on a tunnel port with a map
	state     PortState         // spanning tree's forwarding state
}

func compile(cfg PortConfig) *portState {
	st := &portState{cfg: cfg}
	switch {
	case cfg.Mode == ModeAccess:
		st.member.Add(cfg.VLAN)
		st.native, st.hasNative = cfg.VLAN, true
	case len(cfg.VNIs) > 0:
		st.vniOf = new([4096]uint32)
		st.vlanOf = make(map[uint32]uint16, len(cfg.VNIs))
		for vlan, vni := range cfg.VNIs {
			st.member.Add(vlan)
			st.vniOf[vlan] = vni
			st.vlanOf[vni] = vlan
		}
	default:
		if cfg.Trunks.IsEmpty() {
			for v := uint16(1); v <= MaxVID; v++ {
				st.member.Add(v)
			}
		} else {
			st.member = cfg.Trunks
		}
		st.tagged = st.member
		if cfg.NativeVLAN != 0 || cfg.Trunks.IsEmpty() {
			st.native, st.hasNative = cfg.NativeVLAN, true
			st.member.Add(cfg.NativeVLAN)
			if !cfg.NativeTagged {
				st.tagged.Remove(cfg.NativeVLAN)
			}
		}
	}
	return st
}

// vni returns the tunnel key frames of vlan carry on this (tunnel) port.
func (st *portState) vni(vlan uint16) uint32 {
	if st.vniOf != nil {
		return st.vniOf[vlan&0xfff]
	}
	return st.cfg.VNI
}

// ingressVLAN decides the VLAN of a frame with 802.1Q TCI tci (present
// says whether it had a tag) and tunnel key vni arriving on the port, or
// why it is dropped. It is the one home of 802.1Q ingress admission.
func (st *portState) ingressVLAN(present bool, tci uint16, vni uint32) (uint16, DropReason) {
	vid := tci & 0xfff
	switch {
	case present && vid == 0xfff:
		return 0, DropVLANReserved
	case present && vid != 0: // tagged
		if st.cfg.Mode == ModeAccess || st.vniOf != nil || !st.member.Has(vid) {
			return vid, DropVLANNotAllowed
		}
		return vid, forwarded
	case st.vlanOf != nil: // untagged from a tunnel port with a VNI map
		v, ok := st.vlanOf[vni]
		if !ok {
			return 0, DropUnknownVNI
		}
		return v, forwarded
	case st.hasNative: // untagged or priority-tagged
		return st.native, forwarded
	}
	return 0, DropVLANNotAllowed
}
