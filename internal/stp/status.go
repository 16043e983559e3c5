package stp

import (
	"fmt"
	"strings"
	"time"
)

// PortStatus is one port in `show` (like ovs-appctl rstp/show and the
// Linux bridge's `bridge -d link`).
type PortStatus struct {
	Port             uint16       `json:"port"`
	PortID           string       `json:"port_id"`
	Role             string       `json:"role"`
	State            string       `json:"state"`
	PathCost         uint32       `json:"path_cost"`
	Priority         uint8        `json:"priority"`
	Edge             string       `json:"edge"`
	OperEdge         bool         `json:"oper_edge"`
	PointToPoint     bool         `json:"point_to_point"`
	SendRSTP         bool         `json:"send_rstp"`
	DesignatedRoot   string       `json:"designated_root"`
	DesignatedCost   uint32       `json:"designated_cost"`
	DesignatedBridge string       `json:"designated_bridge"`
	DesignatedPort   string       `json:"designated_port"`
	BPDUGuard        bool         `json:"bpdu_guard"`
	GuardDisabled    bool         `json:"bpdu_guard_disabled"`
	RootGuard        bool         `json:"root_guard"`
	RootGuardHeld    bool         `json:"root_guard_inconsistent"`
	Counters         PortCounters `json:"counters"`
}

// Status is a bridge's spanning tree state.
type Status struct {
	Protocol         string       `json:"protocol"`
	BridgeID         string       `json:"bridge_id"`
	RootID           string       `json:"root_id"`
	IsRoot           bool         `json:"is_root"`
	RootPort         uint16       `json:"root_port,omitempty"`
	RootPathCost     uint32       `json:"root_path_cost"`
	HelloTimeS       int          `json:"hello_time_s"`
	MaxAgeS          int          `json:"max_age_s"`
	ForwardDelayS    int          `json:"forward_delay_s"`
	BridgeHelloS     int          `json:"bridge_hello_time_s"`
	BridgeMaxAgeS    int          `json:"bridge_max_age_s"`
	BridgeForwardS   int          `json:"bridge_forward_delay_s"`
	TopologyChange   bool         `json:"topology_change"`
	TopologyChanges  uint64       `json:"topology_changes"`
	SinceLastChangeS int64        `json:"since_last_topology_change_s,omitempty"`
	Ports            []PortStatus `json:"ports"`
}

// Status returns the bridge's state at now.
func (b *Bridge) Status(now time.Time) Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Status{Protocol: b.cfg.Protocol.String(), BridgeID: b.id.String(), TopologyChanges: b.topologyChanges,
		BridgeHelloS: durSecs(b.cfg.HelloTime), BridgeMaxAgeS: durSecs(b.cfg.MaxAge), BridgeForwardS: durSecs(b.cfg.ForwardDelay),
		Ports: []PortStatus{}}
	if !b.lastTC.IsZero() {
		s.SinceLastChangeS = int64(now.Sub(b.lastTC) / time.Second)
	}
	if b.cfg.Protocol == RSTP {
		r := &b.r
		s.RootID = r.rootPriority.root.String()
		s.IsRoot = r.rootPriority.root == b.id
		s.RootPort = r.rootPortID.Number()
		s.RootPathCost = r.rootPriority.cost
		s.HelloTimeS, s.MaxAgeS, s.ForwardDelayS = r.rootTimes.hello, r.rootTimes.maxAge, r.rootTimes.fwdDelay
	} else {
		c := &b.c
		s.RootID = c.designatedRoot.String()
		s.IsRoot = b.isRoot()
		s.RootPort = c.rootPort
		s.RootPathCost = c.rootCost
		s.HelloTimeS, s.MaxAgeS, s.ForwardDelayS = durSecs(c.hello), durSecs(c.maxAge), durSecs(c.fwdDelay)
	}
	for _, no := range b.order {
		p := b.ports[no]
		ps := PortStatus{Port: no, PortID: p.id.String(), Role: p.role.String(), State: p.state.String(), PathCost: p.cost,
			Priority: p.id.Priority(), Edge: p.cfg.Edge.String(), PointToPoint: p.operP2P(), BPDUGuard: p.cfg.BPDUGuard,
			GuardDisabled: p.guardDown, RootGuard: p.cfg.RootGuard, RootGuardHeld: p.rootGuard, Counters: p.counters}
		if b.cfg.Protocol == RSTP {
			ps.OperEdge, ps.SendRSTP = p.r.operEdge, p.r.sendRSTP
			v := p.r.portPriority
			if p.r.infoIs == infoDisabled || p.r.infoIs == infoAged {
				v = p.r.designatedPriority
			}
			ps.DesignatedRoot, ps.DesignatedCost, ps.DesignatedBridge, ps.DesignatedPort = v.root.String(), v.cost, v.bridge.String(), v.port.String()
			if p.r.tcWhile != 0 {
				s.TopologyChange = true
			}
		} else {
			ps.OperEdge = p.operEdgeSt
			ps.DesignatedRoot, ps.DesignatedCost, ps.DesignatedBridge, ps.DesignatedPort = p.c.dRoot.String(), p.c.dCost, p.c.dBridge.String(), p.c.dPort.String()
		}
		s.Ports = append(s.Ports, ps)
	}
	if b.cfg.Protocol == STP {
		s.TopologyChange = b.c.tc
	}
	return s
}

// Text formats the status like ovs-appctl rstp/show.
func (s Status) Text() string {
	var w strings.Builder
	fmt.Fprintf(&w, "protocol: %s\n  Root ID: %s", s.Protocol, s.RootID)
	if s.IsRoot {
		fmt.Fprintf(&w, " (this bridge is the root)")
	}
	fmt.Fprintf(&w, "\n  cost %d, root port %d\n  Hello Time %d s, Max Age %d s, Forward Delay %d s\n", s.RootPathCost, s.RootPort, s.HelloTimeS, s.MaxAgeS, s.ForwardDelayS)
	fmt.Fprintf(&w, "  Bridge ID: %s\n  topology changes: %d\n\n", s.BridgeID, s.TopologyChanges)
	fmt.Fprintf(&w, "  %-6s %-11s %-11s %-10s %s\n", "Port", "Role", "State", "Cost", "Port ID")
	for _, p := range s.Ports {
		fmt.Fprintf(&w, "  %-6d %-11s %-11s %-10d %s\n", p.Port, p.Role, p.State, p.PathCost, p.PortID)
	}
	return w.String()
}
