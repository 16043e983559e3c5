package agent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Dataplane is the contract between the agent and a host's switch: what the
// daemon implements on its engine (and memdp implements in memory).
//
// The agent owns a set of brain-managed objects on the switch — per
// network wiring, local VIFs, static remote FDB entries and
// neighbour-responder entries — and changes them only through Apply. The
// switch must keep them across an agent restart and report them with
// Programmed, so that a restarted agent changes only what differs.
//
// Semantics the switch must honour:
//
//   - A network's Wiring attaches the network to the host's integration
//     bridge: a local segment (e.g. a VLAN) bound to a tunnel port with the
//     network's encapsulation and VNI, MAC learning off on that tunnel
//     port, and the flood list (head-end replication) set to exactly Flood.
//     A put of an existing network changes it in place (a new flood list
//     or MTU must not reopen the tunnel or disturb its traffic).
//   - Broadcast, multicast and unknown unicast of a network go to its local
//     ports and to the VTEPs in Flood, nowhere else. A destination MAC with
//     an FDB entry never floods.
//   - An FDB entry (network, MAC) → VTEP is static: never aged, never
//     overwritten by learning; frames to MAC leave in one tunnel packet to
//     VTEP.
//   - A neighbour entry (network, IP) → MAC makes the switch answer, on the
//     local ports of the network, ARP requests for an IPv4 address and
//     neighbour solicitations for an IPv6 address itself (an ARP reply, a
//     neighbour advertisement with the solicited and override flags), so
//     the request never enters a tunnel. Requests for other addresses are
//     flooded as usual.
//   - A VIF is a TAP named IfName created inside network namespace NetNS
//     (or adopted if it exists, so a VM keeps its NIC across restarts), with
//     address MAC and the network's MTU, attached to the network's local
//     segment. A put of a VIF whose (NetNS, IfName) is held by another ID
//     takes it over.
//   - Apply applies ops in the order given (the agent orders them: adds
//     and changes before deletes) and is idempotent: a put of what is
//     there, or a delete of what is not, is no error. An op that fails does
//     not stop the others; Apply returns the failures.
type Dataplane interface {
	// Programmed returns the brain-managed state the switch holds now.
	Programmed(ctx context.Context) (*State, error)
	// Apply applies ops in order and returns those that failed.
	Apply(ctx context.Context, ops []Op) []OpError
}

// Wiring is a network's local wiring on this host.
type Wiring struct {
	Network string       `json:"network"`
	Encap   string       `json:"encap"` // vxlan or geneve
	VNI     uint32       `json:"vni"`
	MTU     int          `json:"mtu"`
	Local   netip.Addr   `json:"local"` // this host's VTEP
	Flood   []netip.Addr `json:"flood"` // remote VTEPs with ports in the network, sorted
}

func (w *Wiring) equal(o *Wiring) bool {
	if w.Network != o.Network || w.Encap != o.Encap || w.VNI != o.VNI || w.MTU != o.MTU || w.Local != o.Local || len(w.Flood) != len(o.Flood) {
		return false
	}
	for i := range w.Flood {
		if w.Flood[i] != o.Flood[i] {
			return false
		}
	}
	return true
}

func (w Wiring) String() string {
	f := make([]string, len(w.Flood))
	for i, a := range w.Flood {
		f[i] = a.String()
	}
	return fmt.Sprintf("%s vni %d mtu %d local %s flood [%s]", w.Encap, w.VNI, w.MTU, w.Local, strings.Join(f, " "))
}

// VIF is a local VM port to create.
type VIF struct {
	ID      string       `json:"id"`
	Network string       `json:"network"`
	MAC     MAC          `json:"mac"`
	IPs     []netip.Addr `json:"ips,omitempty"`
	NetNS   string       `json:"netns,omitempty"`
	IfName  string       `json:"ifname"`
	MTU     int          `json:"mtu"`
}

func (v *VIF) equal(o *VIF) bool {
	if v.ID != o.ID || v.Network != o.Network || v.MAC != o.MAC || v.NetNS != o.NetNS || v.IfName != o.IfName || v.MTU != o.MTU || len(v.IPs) != len(o.IPs) {
		return false
	}
	for i := range v.IPs {
		if v.IPs[i] != o.IPs[i] {
			return false
		}
	}
	return true
}

func (v VIF) String() string {
	return fmt.Sprintf("%s net %s mac %s ips %v netns %s ifname %s mtu %d", v.ID, v.Network, v.MAC, v.IPs, v.NetNS, v.IfName, v.MTU)
}

// FDBKey names a static remote FDB entry.
type FDBKey struct {
	Network string
	MAC     MAC
}

// NeighKey names a neighbour-responder entry.
type NeighKey struct {
	Network string
	IP      netip.Addr
}

// State is everything brain-managed on a host's switch.
type State struct {
	Networks map[string]Wiring
	VIFs     map[string]VIF // by port ID
	FDB      map[FDBKey]netip.Addr
	Neigh    map[NeighKey]MAC
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Networks: map[string]Wiring{}, VIFs: map[string]VIF{}, FDB: map[FDBKey]netip.Addr{}, Neigh: map[NeighKey]MAC{}}
}

// Entries counts the objects in a state.
func (s *State) Entries() int { return len(s.Networks) + len(s.VIFs) + len(s.FDB) + len(s.Neigh) }

// OpKind is what an Op does.
type OpKind uint8

// Op kinds, in the order a change set applies them.
const (
	OpNetworkPut OpKind = iota + 1 // Wiring
	OpVIFPut                       // VIF
	OpFDBPut                       // Network, MAC, VTEP
	OpNeighPut                     // Network, IP, MAC
	OpNeighDel                     // Network, IP
	OpFDBDel                       // Network, MAC
	OpVIFDel                       // VIF (ID, and the rest as last programmed)
	OpNetworkDel                   // Network
)

var opNames = [...]string{"", "network-put", "vif-put", "fdb-put", "neigh-put", "neigh-del", "fdb-del", "vif-del", "network-del"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", k)
}

// Op is one change to the dataplane.
type Op struct {
	Kind    OpKind
	Network string
	Wiring  *Wiring
	VIF     *VIF
	MAC     MAC
	VTEP    netip.Addr
	IP      netip.Addr
}

func (o Op) String() string {
	switch o.Kind {
	case OpNetworkPut:
		return fmt.Sprintf("%s %s %s", o.Kind, o.Network, o.Wiring)
	case OpVIFPut, OpVIFDel:
		return fmt.Sprintf("%s %s", o.Kind, o.VIF)
	case OpFDBPut:
		return fmt.Sprintf("%s %s %s → %s", o.Kind, o.Network, o.MAC, o.VTEP)
	case OpFDBDel:
		return fmt.Sprintf("%s %s %s", o.Kind, o.Network, o.MAC)
	case OpNeighPut:
		return fmt.Sprintf("%s %s %s → %s", o.Kind, o.Network, o.IP, o.MAC)
	case OpNeighDel:
		return fmt.Sprintf("%s %s %s", o.Kind, o.Network, o.IP)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Network)
}

// OpError is an op the dataplane could not apply.
type OpError struct {
	Op  Op
	Err error
}

// MAC is an Ethernet address.
type MAC [6]byte

// ParseMAC parses "02:00:00:00:00:01".
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("mac %q: not aa:bb:cc:dd:ee:ff", s)
	}
	for i := 0; i < 6; i++ {
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 || (i < 5 && s[3*i+2] != ':') {
			return m, fmt.Errorf("mac %q: not aa:bb:cc:dd:ee:ff", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (m MAC) String() string {
	const h = "0123456789abcdef"
	b := make([]byte, 17)
	for i := 0; i < 6; i++ {
		b[3*i], b[3*i+1] = h[m[i]>>4], h[m[i]&15]
		if i < 5 {
			b[3*i+2] = ':'
		}
	}
	return string(b)
}

// MarshalText makes MAC a JSON string.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses a MAC.
func (m *MAC) UnmarshalText(b []byte) error {
	x, err := ParseMAC(string(b))
	*m = x
	return err
}
