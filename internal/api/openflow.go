package api

// OpenFlowStatus is a bridge's OpenFlow side, for `switchyard show`: its
// datapath id, fail mode, management socket, controllers and connections.
type OpenFlowStatus struct {
	DatapathID string `json:"datapath_id"`
	FailMode   string `json:"fail_mode"`
	// FailOpen says the standalone fail-open rule is on (no controller
	// reachable).
	FailOpen bool `json:"fail_open"`
	// TableMissToController says table misses go to the controllers (an
	// OpenFlow 1.0 connection is up).
	TableMissToController bool               `json:"table_miss_to_controller"`
	Management            string             `json:"management,omitempty"`
	Connected             bool               `json:"connected"`
	Controllers           []ControllerStatus `json:"controllers"`
	Connections           []ConnectionStatus `json:"connections"`
	PacketIns             PacketInStatus     `json:"packet_ins"`
	Error                 string             `json:"error,omitempty"`
}

// ControllerStatus is one configured controller.
type ControllerStatus struct {
	Target    string `json:"target"`
	Connected bool   `json:"connected"`
	Attempts  uint64 `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
}

// ConnectionStatus is one OpenFlow connection (controller or service).
type ConnectionStatus struct {
	Target   string  `json:"target"`
	Remote   string  `json:"remote"`
	Version  string  `json:"version"`
	Role     string  `json:"role"`
	Up       float64 `json:"up_s"`
	Received uint64  `json:"received"`
	Sent     uint64  `json:"sent"`
	Dropped  uint64  `json:"dropped"`
	Errors   uint64  `json:"errors"`
}

// PacketInStatus are a bridge's packet-in counters.
type PacketInStatus struct {
	Sent        uint64 `json:"sent"`
	DroppedRate uint64 `json:"dropped_rate"`
	DroppedFull uint64 `json:"dropped_full"`
}
