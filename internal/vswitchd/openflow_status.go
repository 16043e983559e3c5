package vswitchd

import (
	"fmt"
	"time"
)

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

// OpenFlowStatus returns a bridge's OpenFlow status.
func (s *Switch) OpenFlowStatus(bridge string) (*OpenFlowStatus, error) {
	if _, err := s.bridge(bridge); err != nil {
		return nil, err
	}
	st := s.ofStatus(bridge)
	if st == nil {
		return nil, notFound("bridge", "bridge %q has no OpenFlow agent yet", bridge)
	}
	return st, nil
}

// ofStatus is OpenFlowStatus without the switch's lock (for bridgeStatus,
// which holds it); nil when the bridge has no agent.
func (s *Switch) ofStatus(bridge string) *OpenFlowStatus {
	o := s.ofBridge(bridge)
	if o == nil {
		return nil
	}
	o.mu.Lock()
	st := &OpenFlowStatus{DatapathID: fmt.Sprintf("%016x", o.dpid), FailMode: o.cfg.FailModeName(), FailOpen: o.failOpen,
		TableMissToController: o.missCtl, Management: o.mgmt, Error: o.startErr, Controllers: []ControllerStatus{}, Connections: []ConnectionStatus{}}
	o.mu.Unlock()
	a := o.agent.Load()
	if a == nil {
		return st
	}
	as := a.Status()
	st.Connected = as.Connected
	for _, c := range as.Controllers {
		st.Controllers = append(st.Controllers, ControllerStatus{Target: c.Target, Connected: c.Connected, Attempts: c.Attempts, LastError: c.LastError})
	}
	for _, c := range as.Connections {
		st.Connections = append(st.Connections, ConnectionStatus{Target: c.Target, Remote: c.Remote, Version: c.Version, Role: c.Role,
			Up: c.Up.Round(time.Millisecond).Seconds(), Received: c.Received, Sent: c.Sent, Dropped: c.Dropped, Errors: c.Errors})
	}
	st.PacketIns = PacketInStatus{Sent: as.PacketInSent, DroppedRate: as.PacketInDropRate, DroppedFull: as.PacketInDropFull}
	return st
}
