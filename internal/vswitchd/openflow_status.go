package vswitchd

import (
	"fmt"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
)

// The OpenFlow status types live in the API package (they are part of
// `show`); these are their names here.
type (
	OpenFlowStatus   = api.OpenFlowStatus
	ControllerStatus = api.ControllerStatus
	ConnectionStatus = api.ConnectionStatus
	PacketInStatus   = api.PacketInStatus
)

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
