package datapath

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is the device side of a bridge port: whatever moves frames in and out
// of the OS (a TAP, an AF_PACKET socket, a tunnel socket) or another bridge
// (a patch port), or memory in tests.
//
// A device hands received frames to the engine by calling Receive on the
// *BridgePort that Bridge.AddPort returned, one batch at a time, from one
// goroutine at a time.
type Port interface {
	// Send transmits a batch of frames. The packets are borrowed: Send must
	// not keep them or change the frame bytes after it returns, but it may
	// write into a packet's headroom (Buf[:Off]) while it runs, and it may
	// finish a partial checksum in place if it clears OffloadNeedsCsum with
	// it (the frame stays the same frame for the other ports of a flood).
	// A super-frame (Offload.IsGSO) that the device cannot send whole is
	// segmented into the device's own buffers, never in place. Send may be
	// called from several goroutines at once (one per ingress port).
	Send(batch []Out)
}

// Out is one frame queued to one output port.
type Out struct {
	Pkt *Packet
	// VNI is the tunnel key for a tunnel port (from the port's VLAN↔VNI
	// map); zero for other ports.
	VNI uint32
	// Remote is the remote VTEP to send to on a tunnel port; NoEndpoint
	// means flood (to the multicast group or every remote of the port).
	Remote Endpoint
}

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

// VLANSet is a set of VLAN IDs 0–4095.
type VLANSet [64]uint64

// Add puts vid in the set.
func (s *VLANSet) Add(vid uint16) { s[vid>>6&63] |= 1 << (vid & 63) }

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
		return set, fmt.Errorf("empty VLAN list; want IDs 1-4094 like 10,20,30-40")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseVID(lo)
		if err != nil {
			return set, err
		}
		b := a
		if isRange {
			if b, err = parseVID(hi); err != nil {
				return set, err
			}
			if b < a {
				return set, fmt.Errorf("VLAN range %q runs backwards; want LOW-HIGH", part)
			}
		}
		for v := a; v <= b; v++ {
			set.Add(v)
		}
	}
	return set, nil
}

func parseVID(s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxVID {
		return 0, fmt.Errorf("VLAN ID %q is not valid; allowed 1-4094", s)
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
	// NoLearning turns MAC learning off on this port (for ports whose
	// addresses a control plane installs).
	NoLearning bool
}

// Validate checks the configuration and returns an error that names the
// field and the allowed values.
func (c *PortConfig) Validate() error {
	switch c.Mode {
	case ModeAccess:
		if c.VLAN < 1 || c.VLAN > MaxVID {
			return fmt.Errorf("vlan %d is not valid for an access port; allowed 1-4094", c.VLAN)
		}
		if !c.Trunks.IsEmpty() || c.NativeVLAN != 0 || c.NativeTagged {
			return fmt.Errorf("trunk, native-vlan and native-tagged do not apply to an access port (vlan %d)", c.VLAN)
		}
	case ModeTrunk:
		if c.Trunks.Has(0) || c.Trunks.Has(4095) {
			return fmt.Errorf("trunk holds VLAN 0 or 4095; allowed 1-4094")
		}
		if c.NativeVLAN > MaxVID {
			return fmt.Errorf("native-vlan %d is not valid; allowed 1-4094", c.NativeVLAN)
		}
		if c.NativeTagged && c.NativeVLAN == 0 {
			return fmt.Errorf("native-tagged needs native-vlan (1-4094)")
		}
	default:
		return fmt.Errorf("vlan mode %d is not valid; allowed access, trunk", c.Mode)
	}
	if c.VNI > 1<<24-1 {
		return fmt.Errorf("vni %d is not valid; allowed 0-16777215", c.VNI)
	}
	seen := make(map[uint32]uint16, len(c.VNIs))
	for vlan, vni := range c.VNIs {
		if !c.Tunnel {
			return fmt.Errorf("vni-map applies to tunnel ports only")
		}
		if vlan < 1 || vlan > MaxVID {
			return fmt.Errorf("vni-map VLAN %d is not valid; allowed 1-4094", vlan)
		}
		if vni > 1<<24-1 {
			return fmt.Errorf("vni-map VNI %d is not valid; allowed 0-16777215", vni)
		}
		if other, dup := seen[vni]; dup {
			return fmt.Errorf("vni-map maps VNI %d to both VLAN %d and VLAN %d; each VNI carries one VLAN", vni, other, vlan)
		}
		seen[vni] = vlan
	}
	if len(c.VNIs) > 0 && c.Mode == ModeAccess {
		return fmt.Errorf("vni-map and an access vlan exclude each other; use --vni with --vlan")
	}
	return nil
}

// carries reports whether the port carries VLAN vid (0 = untagged domain).
func (c *PortConfig) carries(vid uint16) bool {
	if c.Mode == ModeAccess {
		return vid == c.VLAN
	}
	if len(c.VNIs) > 0 {
		_, ok := c.VNIs[vid]
		return ok
	}
	if vid == c.NativeVLAN {
		return true
	}
	if vid == 0 {
		return false
	}
	return c.Trunks.IsEmpty() || c.Trunks.Has(vid)
}
