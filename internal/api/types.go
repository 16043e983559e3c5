// Package api is Switchyard's HTTP/JSON API on a unix socket (versioned
// paths under /v1, structured errors) and the Go client the CLI uses.
package api

import (
	"fmt"
	"time"

	"github.com/switchyard-net/switchyard/internal/bond"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/stp"
)

// Error is the body of every failed request:
// {"error": {"code": "invalid_argument", "field": "vlan", "message": "...", "allowed": "1-4094"}}.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Allowed string `json:"allowed,omitempty"`
	// Offset is the 1-based position in the input text (a flow) at fault.
	Offset int `json:"offset,omitempty"`
	// Status is the HTTP status (not sent).
	Status int `json:"-"`
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Allowed != "" {
		msg += "; allowed: " + e.Allowed
	}
	if e.Offset > 0 {
		msg += fmt.Sprintf(" (at character %d)", e.Offset)
	}
	return msg
}

// Error codes.
const (
	CodeInvalid     = "invalid_argument"
	CodeNotFound    = "not_found"
	CodeExists      = "already_exists"
	CodeFailed      = "failed_precondition"
	CodeInternal    = "internal"
	CodeUnsupported = "unimplemented"
)

// ErrorBody wraps Error on the wire.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// PortStatus is a port's configuration, runtime status and counters.
type PortStatus struct {
	config.Port
	Status   string             `json:"status"` // up, down, error
	Reason   string             `json:"reason,omitempty"`
	MTU      int                `json:"mtu,omitempty"`
	VMMTU    int                `json:"vm_mtu,omitempty"`   // tunnel ports: largest inner frame payload
	Overhead int                `json:"overhead,omitempty"` // tunnel ports: encapsulation bytes
	Offloads []string           `json:"offloads,omitempty"` // vnet-hdr, csum, tso4, tso6, uso, udp-gso, udp-gro
	Stats    datapath.PortStats `json:"stats"`

	// SpanningTree is the port's role and state when its bridge runs
	// spanning tree; BondStatus a bond port's members, LACP and buckets
	// (`bond show`).
	SpanningTree *STPPortStatus `json:"spanning_tree,omitempty"`
	BondStatus   *bond.Status   `json:"bond_status,omitempty"`
}

// STPStatus is a bridge's spanning tree: protocol, bridge and root IDs,
// timers, topology changes, and its ports.
type STPStatus struct {
	stp.Status
	// RootPortName names the root port (empty on the root bridge).
	RootPortName string          `json:"root_port_name,omitempty"`
	Ports        []STPPortStatus `json:"ports"`
	// RxQueueDropped counts BPDUs dropped because the control queue was
	// full (a BPDU flood).
	RxQueueDropped uint64 `json:"rx_queue_dropped"`
}

// STPPortStatus is one port's spanning tree role, state, designated
// priority vector and counters (BPDUs, guards), with its name and the time
// of its last role or state change.
type STPPortStatus struct {
	stp.PortStatus
	Name      string    `json:"name"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// BridgeStatus is a bridge's configuration, ports and FDB counters.
type BridgeStatus struct {
	config.Bridge
	AgingSeconds int               `json:"aging_seconds"`
	MaxLearned   int               `json:"max_learned"`
	FullPolicy   string            `json:"full_policy"`
	FDB          datapath.FDBStats `json:"fdb"`
	// Cache is the decision cache's counters; Rules the number of rules.
	Cache datapath.CacheStats `json:"cache"`
	Rules int                 `json:"rules"`
	Ports []PortStatus        `json:"ports"`
	// SpanningTree is the bridge's spanning tree, when it runs one.
	SpanningTree *STPStatus `json:"spanning_tree,omitempty"`
	// OpenFlow is the bridge's OpenFlow side: datapath id, fail mode,
	// management socket, controllers and connections.
	OpenFlow *OpenFlowStatus `json:"openflow,omitempty"`
}

// Show is the answer of GET /v1/show.
type Show struct {
	Revision uint64         `json:"revision"`
	Bridges  []BridgeStatus `json:"bridges"`
}

// FDBEntry is one row of `fdb show`.
type FDBEntry struct {
	VLAN   uint16 `json:"vlan"`
	MAC    string `json:"mac"`
	Port   string `json:"port"`
	Type   string `json:"type"` // learned or static
	Remote string `json:"remote,omitempty"`
	Age    uint32 `json:"age"`
}

// FDBRequest adds or deletes an FDB entry, or flushes (Port/VLAN filters).
type FDBRequest struct {
	MAC    string `json:"mac,omitempty"`
	VLAN   int    `json:"vlan"`
	Port   string `json:"port,omitempty"`
	Remote string `json:"remote,omitempty"`
	// AllVLANs flushes every VLAN (VLAN is ignored).
	AllVLANs bool `json:"all_vlans,omitempty"`
}

// FlushResult is the answer of a flush.
type FlushResult struct {
	Removed int `json:"removed"`
}

// VethRequest creates a veth pair and attaches its host end.
type VethRequest struct {
	config.Port
	PeerName string `json:"peer_name"`
}

// Runtime is the daemon's Go runtime figures (GET /v1/debug/runtime).
type Runtime struct {
	Goroutines int    `json:"goroutines"`
	NumGC      uint32 `json:"num_gc"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	Mallocs    uint64 `json:"mallocs"`
	Uptime     string `json:"uptime"`
	Version    string `json:"version"`
}

// FlowsRequest adds rules (POST /v1/bridges/{name}/flows): lines in
// ovs-ofctl syntax, applied all or nothing.
type FlowsRequest struct {
	Flows []string `json:"flows"`
}

// FlowModRequest modifies rules (POST /v1/bridges/{name}/flows/modify).
type FlowModRequest struct {
	Flow   string `json:"flow"`
	Strict bool   `json:"strict,omitempty"`
}

// FlowDelRequest deletes the rules a match selects (POST
// /v1/bridges/{name}/flows/delete); an empty match deletes every rule.
type FlowDelRequest struct {
	Match  string `json:"match,omitempty"`
	Strict bool   `json:"strict,omitempty"`
}

// FlowResult says what a flow change did.
type FlowResult struct {
	Added    int `json:"added"`
	Modified int `json:"modified"`
	Deleted  int `json:"deleted"`
}

// FlowEntry is one rule with its counters (GET /v1/bridges/{name}/flows).
type FlowEntry struct {
	Table       uint8    `json:"table"`
	Priority    uint16   `json:"priority"`
	Cookie      string   `json:"cookie"`
	Duration    float64  `json:"duration_s"`
	Packets     uint64   `json:"n_packets"`
	Bytes       uint64   `json:"n_bytes"`
	IdleAge     uint32   `json:"idle_age"`
	IdleTimeout uint16   `json:"idle_timeout,omitempty"`
	HardTimeout uint16   `json:"hard_timeout,omitempty"`
	Flags       []string `json:"flags,omitempty"`
	Match       string   `json:"match"`
	Actions     string   `json:"actions"`
	Origin      string   `json:"origin"`
	// Text is the line as ovs-ofctl dump-flows prints it.
	Text string `json:"text"`
}

// TraceRequest traces a frame (POST /v1/bridges/{name}/trace): Flow is a
// match giving in_port and the fields of the frame, or Packet is the whole
// frame in hex (with in_port in Flow).
type TraceRequest struct {
	Flow   string `json:"flow"`
	Packet string `json:"packet,omitempty"`
}

// TraceResult is a trace: the tree, the outputs, and the megaflow the
// decision would be cached as.
type TraceResult struct {
	Root     *datapath.TraceNode    `json:"root"`
	Outputs  []datapath.TraceOutput `json:"outputs"`
	Megaflow string                 `json:"megaflow"`
	// Text is the tree rendered as indented lines.
	Text string `json:"text"`
}

// DatapathFlow is one entry of the decision cache (GET
// /v1/bridges/{name}/dpctl/flows), as ovs-appctl dpctl/dump-flows shows one.
type DatapathFlow struct {
	Match   string  `json:"match"`
	Actions string  `json:"actions"`
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	Used    float64 `json:"used_s"` // seconds since the last hit (-1: never)
	Text    string  `json:"text"`
}
