package vswitchd

import (
	"context"
	"time"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/openflow/ofbackend"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// Stats implements openflow.Backend: the multipart replies, from the
// engine's counters.
func (o *ofBridge) Stats(ctx context.Context, req ofp.MultipartBody) (ofp.MultipartBody, error) {
	o.commit()
	pm := o.pm()
	switch r := req.(type) {
	case *ofp.FlowStatsRequest:
		l, err := o.selectFlows(r, pm)
		if err != nil {
			return nil, err
		}
		out := &ofp.FlowStatsReply{Flows: make([]ofp.FlowStats, 0, len(l))}
		for _, e := range l {
			out.Flows = append(out.Flows, ofbackend.FlowStats(e, pm))
		}
		return out, nil
	case *ofp.AggregateStatsRequest:
		l, err := o.selectFlows(&r.FlowStatsRequest, pm)
		if err != nil {
			return nil, err
		}
		out := &ofp.AggregateStats{FlowCount: uint32(len(l))}
		for _, e := range l {
			if e.Rule.Flags&datapath.FlagNoPktCounts == 0 {
				out.PacketCount += e.Stats.Packets
			}
			if e.Rule.Flags&datapath.FlagNoBytCounts == 0 {
				out.ByteCount += e.Stats.Bytes
			}
		}
		return out, nil
	case *ofp.TableStatsRequest:
		counts := map[uint8]datapath.TableStats{}
		for _, t := range o.dp.TableStats() {
			counts[t.Table] = t
		}
		out := &ofp.TableStatsReply{Tables: make([]ofp.TableStats, 0, datapath.NumTables)}
		for id := 0; id < datapath.NumTables; id++ {
			t := counts[uint8(id)]
			out.Tables = append(out.Tables, ofp.TableStats{TableID: uint8(id), ActiveCount: uint32(t.Active), LookupCount: t.Lookups, MatchedCount: t.Matched,
				Name: tableName(id), Wildcards: 0x3fffff, MaxEntries: datapath.DefaultMaxRules})
		}
		return out, nil
	case *ofp.TableFeaturesRequest:
		if len(r.Tables) > 0 {
			return nil, ofp.Errorf(ofp.ErrTableFeaturesFailed, ofp.TableFeaturesFailedEPerm, "the tables' features cannot be changed")
		}
		return &ofp.TableFeaturesReply{Tables: ofp.BuildTableFeatures(datapath.NumTables, datapath.DefaultMaxRules, ofbackend.TableCaps())}, nil
	case *ofp.PortStatsRequest:
		out := &ofp.PortStatsReply{}
		o.mu.Lock()
		ports := make([]*ofPort, 0, len(o.ports))
		for _, p := range o.ports {
			if r.PortNo == ofp.PortAny || pm.ToEngine(r.PortNo) == uint32(p.no) {
				ports = append(ports, p)
			}
		}
		o.mu.Unlock()
		if r.PortNo != ofp.PortAny && len(ports) == 0 {
			return nil, ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadPort, "port %d is not a port of bridge %s", r.PortNo, o.name)
		}
		sortPorts(ports)
		now := time.Now()
		for _, p := range ports {
			out.Ports = append(out.Ports, portStats(p, pm, now))
		}
		return out, nil
	case *ofp.QueueStatsRequest:
		if r.PortNo != ofp.PortAny && o.port(r.PortNo) == nil {
			return nil, ofp.Errorf(ofp.ErrQueueOpFailed, ofp.QueueOpFailedBadPort, "port %d is not a port of bridge %s", r.PortNo, o.name)
		}
		return &ofp.QueueStatsReply{}, nil
	case *ofp.GroupStatsRequest:
		out := &ofp.GroupStatsReply{}
		for _, g := range o.dp.Groups() {
			if r.GroupID == ofp.GroupAll || r.GroupID == g.Config.ID {
				out.Groups = append(out.Groups, ofbackend.GroupStats(g))
			}
		}
		return out, nil
	case *ofp.GroupDescRequest:
		out := &ofp.GroupDescReply{}
		for _, g := range o.dp.Groups() {
			out.Groups = append(out.Groups, ofbackend.GroupDesc(g, pm))
		}
		return out, nil
	case *ofp.GroupFeaturesRequest:
		return ofbackend.GroupFeatures(), nil
	case *ofp.MeterStatsRequest:
		out := &ofp.MeterStatsReply{}
		for _, m := range o.dp.Meters() {
			if r.MeterID == ofp.MeterAll || r.MeterID == m.Config.ID {
				out.Meters = append(out.Meters, ofbackend.MeterStats(m))
			}
		}
		return out, nil
	case *ofp.MeterConfigRequest:
		out := &ofp.MeterConfigReply{}
		for _, m := range o.dp.Meters() {
			if r.MeterID == ofp.MeterAll || r.MeterID == m.Config.ID {
				out.Meters = append(out.Meters, ofbackend.MeterConfigToOF(m.Config))
			}
		}
		return out, nil
	case *ofp.MeterFeaturesRequest:
		return ofbackend.MeterFeatures(), nil
	}
	return nil, ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadMultipart, "%s is not supported", req.MultipartType())
}

func tableName(id int) string {
	if id == 0 {
		return "classifier"
	}
	return "table" + itoa(id)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [8]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// selectFlows returns the rules a flow or aggregate stats request selects.
func (o *ofBridge) selectFlows(r *ofp.FlowStatsRequest, pm ofbackend.PortMap) ([]datapath.FlowEntry, error) {
	if r.TableID != ofp.TableAll && int(r.TableID) >= datapath.NumTables {
		return nil, ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadTableID, "table %d (0-%d or ALL)", r.TableID, datapath.NumTables-1)
	}
	var filter *datapath.Match
	if len(r.Match.Fields) > 0 {
		m, err := ofbackend.Match(&r.Match, pm)
		if err != nil {
			return nil, err
		}
		filter = &m
	}
	out := pm.ToEngine(r.OutPort)
	l := o.dp.DumpFlows(r.TableID, filter, r.Cookie, r.CookieMask, out)
	if r.OutGroup == ofp.GroupAny {
		return l, nil
	}
	k := l[:0]
	for _, e := range l {
		if outputsToGroup(e.Rule, r.OutGroup) {
			k = append(k, e)
		}
	}
	return k, nil
}

func outputsToGroup(r *datapath.Rule, g uint32) bool {
	for _, l := range [2][]datapath.Action{r.Instr.Apply, r.Instr.Write} {
		for _, a := range l {
			if a.Kind == datapath.ActGroup && a.ID == g {
				return true
			}
		}
	}
	return false
}

func sortPorts(l []*ofPort) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].no < l[j-1].no; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// portStats converts a port's counters: what the engine dropped on
// receive is rx_dropped, what a device could not send tx_dropped.
func portStats(p *ofPort, pm ofbackend.PortMap, now time.Time) ofp.PortStats {
	c := p.bp.Counters()
	s := ofp.PortStats{PortNo: pm.ToOF(uint32(p.no)), RxPackets: c.RxPackets.Load(), TxPackets: c.TxPackets.Load(),
		RxBytes: c.RxBytes.Load(), TxBytes: c.TxBytes.Load()}
	for r := datapath.DropReason(0); r < datapath.NumDropReasons; r++ {
		n := c.Drops[r].Load()
		switch r {
		case datapath.DropNoSpace, datapath.DropMTU:
			s.TxDropped += n
		case datapath.DropTxError:
			s.TxErrors += n
		case datapath.DropBadFrame, datapath.DropBadTunnel:
			s.RxErrors += n
			s.RxFrameErr += n
		default:
			s.RxDropped += n
		}
	}
	d := now.Sub(p.start)
	s.DurationSec, s.DurationNsec = uint32(d/time.Second), uint32(d%time.Second)
	return s
}
