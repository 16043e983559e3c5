package wire

import "github.com/switchyard-net/switchyard/internal/brain/model"

// NetworkStatus is a network with its occupancy (GET /v1/networks).
type NetworkStatus struct {
	model.Network
	Ports int      `json:"ports"`
	Hosts []string `json:"hosts"`
}

// NetworkDetail is GET /v1/networks/{name}: the network and its ports.
type NetworkDetail struct {
	NetworkStatus
	VIFs []VIFStatus `json:"vifs"`
}

// VIFStatus is a port with its realisation state.
type VIFStatus struct {
	model.Port
	// State is "up" (every interested agent applied the port's version),
	// "pending" (some have not; Waiting names them), "error" (the host's
	// agent could not create it) or "host-down".
	State   string   `json:"state"`
	Waiting []string `json:"waiting,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// PlugRequest is POST /v1/vifs.
type PlugRequest struct {
	model.Port
}

// MoveRequest is POST /v1/vifs/{id}/move.
type MoveRequest struct {
	ToHost string `json:"to_host"`
}

// HostInfo is a row of GET /v1/hosts.
type HostInfo struct {
	model.Host
	Alive     bool   `json:"alive"`
	Lease     int64  `json:"lease,omitempty"`
	LeaseTTL  int64  `json:"lease_ttl,omitempty"`
	Connected bool   `json:"connected"`
	Applied   int64  `json:"applied"`
	Lag       int64  `json:"lag"`
	Ports     int    `json:"ports"`
	Networks  int    `json:"networks"`
	Since     string `json:"since,omitempty"`
	// Errors are VIFs the host's dataplane failed to create.
	Errors map[string]string `json:"errors,omitempty"`
	Stats  *AgentStats       `json:"stats,omitempty"`
}

// Status is GET /v1/status: the brain itself.
type Status struct {
	Revision  int64    `json:"revision"`
	Endpoints []string `json:"endpoints"`
	Embedded  bool     `json:"embedded"`
	Networks  int      `json:"networks"`
	Ports     int      `json:"ports"`
	Hosts     int      `json:"hosts"`
	Sessions  int      `json:"sessions"`
	Relists   uint64   `json:"relists"`
	Delivered uint64   `json:"delivered"`
	// Progress counts the idle progress messages among Delivered.
	Progress uint64 `json:"progress"`
	// Joins counts, among Delivered, what hosts were sent because they
	// newly needed it (a network joined, a host record not seen before).
	Joins   uint64 `json:"joins"`
	Resyncs uint64 `json:"resyncs"`
	DBSize  int64  `json:"db_size,omitempty"`
	Version string `json:"version"`
}

// AuditAll is the answer of POST /v1/audit: one report per host asked.
type AuditAll struct {
	Reports []AuditReport     `json:"reports"`
	Errors  map[string]string `json:"errors,omitempty"`
}

// ErrorBody wraps an error on the wire: {"error": {...}}.
type ErrorBody struct {
	Error *model.Error `json:"error"`
}

// Admin API paths.
const (
	PathNetworks = "/v1/networks"
	PathVIFs     = "/v1/vifs"
	PathHosts    = "/v1/hosts"
	PathStatus   = "/v1/status"
	PathAuditAll = "/v1/audit"
)
