// Package api is Switchyard's HTTP/JSON API on a unix socket (versioned
// paths under /v1, structured errors) and the Go client the CLI uses.
package api

import (
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
)

// Error is the body of every failed request:
// {"error": {"code": "invalid_argument", "field": "vlan", "message": "...", "allowed": "1-4094"}}.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Allowed string `json:"allowed,omitempty"`
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
	return msg
}

// Error codes.
const (
	CodeInvalid  = "invalid_argument"
	CodeNotFound = "not_found"
	CodeExists   = "already_exists"
	CodeFailed   = "failed_precondition"
	CodeInternal = "internal"
)

// ErrorBody wraps Error on the wire.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// PortStatus is a port's configuration, runtime status and counters.
type PortStatus struct {
	config.Port
	Number   uint16             `json:"number,omitempty"`
	Status   string             `json:"status"` // up, down, error
	Reason   string             `json:"reason,omitempty"`
	MTU      int                `json:"mtu,omitempty"`
	VMMTU    int                `json:"vm_mtu,omitempty"`   // tunnel ports: largest inner frame payload
	Overhead int                `json:"overhead,omitempty"` // tunnel ports: encapsulation bytes
	Offloads []string           `json:"offloads,omitempty"` // vnet-hdr, csum, tso4, tso6, uso, udp-gso, udp-gro
	Stats    datapath.PortStats `json:"stats"`
}

// BridgeStatus is a bridge's configuration, ports and FDB counters.
type BridgeStatus struct {
	config.Bridge
	AgingSeconds int               `json:"aging_seconds"`
	MaxLearned   int               `json:"max_learned"`
	FullPolicy   string            `json:"full_policy"`
	FDB          datapath.FDBStats `json:"fdb"`
	Ports        []PortStatus      `json:"ports"`
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
