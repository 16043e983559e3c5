package vswitchd

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/flowtext"
)

// bridgePorts names a bridge's ports by their stored numbers (ports that
// are configured but not running keep theirs), for parsing and printing
// flows.
type bridgePorts struct {
	byName map[string]uint32
	byNo   map[uint32]string
}

func (b bridgePorts) PortNumber(name string) (uint32, bool) { n, ok := b.byName[name]; return n, ok }
func (b bridgePorts) PortName(no uint32) string             { return b.byNo[no] }

func portsOf(cfg *config.Config, bridge string) bridgePorts {
	bp := bridgePorts{byName: map[string]uint32{}, byNo: map[uint32]string{}}
	for _, p := range cfg.PortsOf(bridge) {
		bp.byName[p.Name] = uint32(p.OFPort)
		bp.byNo[uint32(p.OFPort)] = p.Name
	}
	return bp
}

// restoreFlows loads a new bridge's stored rules (or stores the default
// rule of a bridge that never had any) before any of its ports forwards.
func (s *Switch) restoreFlows(rb *runBridge) {
	name := rb.dp.Name()
	lines, initialized, err := s.store.Flows(name)
	if err != nil {
		s.log.Error("load stored flows", "bridge", name, "err", err)
		return
	}
	if !initialized {
		if err := s.persistFlows(name, rb.dp.Rules(), nil); err != nil {
			s.log.Error("store default flow", "bridge", name, "err", err)
		}
		return
	}
	rules := make([]datapath.Rule, 0, len(lines))
	for _, l := range lines {
		f, err := flowtext.Parse(l, nil, flowtext.ForAdd)
		if err != nil {
			s.log.Error("stored flow does not parse; skipped", "bridge", name, "flow", l, "err", err)
			continue
		}
		rules = append(rules, f.Rule())
	}
	if err := rb.dp.ReplaceFlows(rules); err != nil {
		s.log.Error("restore flows", "bridge", name, "err", err)
		return
	}
	s.log.Info("flows restored", "bridge", name, "rules", len(rules))
}

// persistFlows stores rules that were added and forgets rules that left
// (the ones installed through the CLI or API; an OpenFlow controller's are
// not stored, as in Open vSwitch).
func (s *Switch) persistFlows(bridge string, added []*datapath.Rule, removed []datapath.FlowRemoved) error {
	put := map[string]string{}
	var del []string
	for _, fr := range removed {
		if fr.Rule.Origin == datapath.OriginAPI {
			del = append(del, hex.EncodeToString(datapath.RuleID(fr.Rule)))
		}
	}
	for _, r := range added {
		if r.Origin == datapath.OriginAPI {
			put[hex.EncodeToString(datapath.RuleID(r))] = flowtext.Line(r, nil)
		}
	}
	return s.store.WriteFlows(bridge, put, del)
}

// flowsExpired forgets stored rules that timed out.
func (s *Switch) flowsExpired(bridge string, l []datapath.FlowRemoved) {
	var gone []datapath.FlowRemoved
	for _, fr := range l {
		if fr.Reason == datapath.RemovedIdle || fr.Reason == datapath.RemovedHard {
			gone = append(gone, fr)
		}
	}
	if len(gone) == 0 {
		return
	}
	if err := s.persistFlows(bridge, nil, gone); err != nil {
		s.log.Warn("forget expired flows", "bridge", bridge, "err", err)
	}
}

// ApplyFlowMods applies changes to a bridge's flow tables all or nothing:
// every change is checked, the result is stored, and only then made visible
// to the datapath. A rejected change leaves both as they were. It returns
// the changes and, on error, the index of the change at fault.
func (s *Switch) ApplyFlowMods(bridge string, mods []datapath.FlowMod) (datapath.FlowChanges, int, error) {
	rb, err := s.bridge(bridge)
	if err != nil {
		return datapath.FlowChanges{}, -1, err
	}
	t := rb.dp.BeginFlows()
	for i := range mods {
		if err := t.Apply(&mods[i]); err != nil {
			t.Abort()
			return datapath.FlowChanges{}, i, err
		}
	}
	ch := t.Pending()
	if err := s.persistFlows(bridge, ch.Added, ch.Removed); err != nil {
		t.Abort()
		return datapath.FlowChanges{}, -1, err
	}
	return t.Commit(), -1, nil
}

// parseFlows parses lines for bridge (numbering errors by line when there
// are several).
func (s *Switch) parseFlows(bridge string, lines []string, mode flowtext.Mode) ([]*flowtext.Flow, error) {
	cfg := s.Config()
	if _, ok := cfg.Bridges[bridge]; !ok {
		return nil, notFound("bridge", "bridge %q does not exist", bridge)
	}
	ports := portsOf(cfg, bridge)
	var out []*flowtext.Flow
	for i, l := range lines {
		f, err := flowtext.Parse(l, ports, mode)
		if err != nil {
			if e, ok := errs.As(err); ok && len(lines) > 1 {
				c := *e
				c.Message = fmt.Sprintf("line %d: %s", i+1, e.Message)
				return nil, &c
			}
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// AddFlows adds rules given as ovs-ofctl lines, all or nothing.
func (s *Switch) AddFlows(bridge string, r api.FlowsRequest) (api.FlowResult, error) {
	if len(r.Flows) == 0 {
		return api.FlowResult{}, invalid("flows", "one or more flows in ovs-ofctl syntax", "no flows given")
	}
	flows, err := s.parseFlows(bridge, r.Flows, flowtext.ForAdd)
	if err != nil {
		return api.FlowResult{}, err
	}
	mods := make([]datapath.FlowMod, len(flows))
	for i, f := range flows {
		mods[i] = datapath.FlowMod{Command: datapath.FlowAdd, Rule: f.Rule()}
	}
	ch, at, err := s.ApplyFlowMods(bridge, mods)
	if err != nil {
		return api.FlowResult{}, lineError(err, at, len(mods))
	}
	return api.FlowResult{Added: len(ch.Added)}, nil
}

func lineError(err error, at, n int) error {
	if e, ok := errs.As(err); ok && at >= 0 && n > 1 {
		c := *e
		c.Message = fmt.Sprintf("line %d: %s", at+1, e.Message)
		return &c
	}
	return err
}

// ModFlows changes the actions of the rules a flow's match selects
// (strictly: the rule with exactly that match and priority).
func (s *Switch) ModFlows(bridge string, r api.FlowModRequest) (api.FlowResult, error) {
	flows, err := s.parseFlows(bridge, []string{r.Flow}, flowtext.ForModify)
	if err != nil {
		return api.FlowResult{}, err
	}
	f := flows[0]
	cmd := datapath.FlowModify
	if r.Strict {
		cmd = datapath.FlowModifyStrict
	}
	rule := f.Rule()
	if !f.TableSet {
		rule.Table = datapath.TableAll
	}
	ch, _, err := s.ApplyFlowMods(bridge, []datapath.FlowMod{{Command: cmd, Rule: rule, CookieMask: f.CookieMask}})
	if err != nil {
		return api.FlowResult{}, err
	}
	return api.FlowResult{Modified: len(ch.Added)}, nil
}

// DelFlows deletes the rules a match selects (all rules for an empty
// match).
func (s *Switch) DelFlows(bridge string, r api.FlowDelRequest) (api.FlowResult, error) {
	match := r.Match
	flows, err := s.parseFlows(bridge, []string{match}, flowtext.ForMatch)
	if err != nil {
		return api.FlowResult{}, err
	}
	f := flows[0]
	cmd := datapath.FlowDelete
	if r.Strict {
		cmd = datapath.FlowDeleteStrict
	}
	ch, _, err := s.ApplyFlowMods(bridge, []datapath.FlowMod{{Command: cmd, Rule: f.Rule(), CookieMask: f.CookieMask, OutPort: f.OutPort, OutGroup: f.OutGroup}})
	if err != nil {
		return api.FlowResult{}, err
	}
	return api.FlowResult{Deleted: len(ch.Removed)}, nil
}

// DumpFlows lists a bridge's rules that a match selects, with counters.
func (s *Switch) DumpFlows(bridge, match string, table int) ([]api.FlowEntry, error) {
	rb, err := s.bridge(bridge)
	if err != nil {
		return nil, err
	}
	flows, err := s.parseFlows(bridge, []string{match}, flowtext.ForMatch)
	if err != nil {
		return nil, err
	}
	f := flows[0]
	tid := f.Table
	if table >= 0 {
		if table >= datapath.NumTables {
			return nil, invalid("table", fmt.Sprintf("0-%d", datapath.NumTables-1), "%d", table)
		}
		tid = uint8(table)
	}
	var filter *datapath.Match
	if match != "" {
		filter = &f.Match
	}
	mask := f.CookieMask
	ports := flowtext.Namer(portsOf(s.Config(), bridge))
	out := []api.FlowEntry{}
	for _, e := range rb.dp.DumpFlows(tid, filter, f.Cookie, mask, f.OutPort) {
		r := e.Rule
		fe := api.FlowEntry{Table: r.Table, Priority: r.Priority, Cookie: fmt.Sprintf("%#x", r.Cookie), Duration: e.Stats.Duration.Seconds(),
			Packets: e.Stats.Packets, Bytes: e.Stats.Bytes, IdleAge: e.Stats.IdleAge, IdleTimeout: r.IdleTimeout, HardTimeout: r.HardTimeout,
			Match: flowtext.FormatMatch(&r.Match, ports), Actions: flowtext.FormatInstructions(&r.Instr, ports), Origin: "api",
			Text: flowtext.FormatEntry(e, ports)}
		if r.Origin == datapath.OriginOpenFlow {
			fe.Origin = "openflow"
		}
		for bit, name := range map[uint16]string{datapath.FlagSendFlowRem: "send_flow_rem", datapath.FlagCheckOverlap: "check_overlap", datapath.FlagNoPktCounts: "no_packet_counts", datapath.FlagNoBytCounts: "no_byte_counts"} {
			if r.Flags&bit != 0 {
				fe.Flags = append(fe.Flags, name)
			}
		}
		out = append(out, fe)
	}
	return out, nil
}

// Trace runs a frame through a bridge's pipeline with no side effects.
func (s *Switch) Trace(bridge string, r api.TraceRequest) (*api.TraceResult, error) {
	rb, err := s.bridge(bridge)
	if err != nil {
		return nil, err
	}
	flows, err := s.parseFlows(bridge, []string{r.Flow}, flowtext.ForMatch)
	if err != nil {
		return nil, err
	}
	f := flows[0]
	if !f.Match.Has(datapath.FieldInPort) {
		return nil, invalid("in_port", "in_port=PORT (a port of the bridge) in the flow", "the trace needs the port the frame arrives on")
	}
	var tr *datapath.Trace
	var d *datapath.Decision
	if r.Packet != "" {
		frame, err := hex.DecodeString(strings.NewReplacer(" ", "", ":", "", "\n", "").Replace(r.Packet))
		if err != nil {
			return nil, invalid("packet", "the frame in hex (spaces and colons allowed)", "%v", err)
		}
		in := f.Match.Key.Get(datapath.FieldInPort).Lo
		var tun *datapath.TunnelMeta
		if f.Match.Has(datapath.FieldTunID) {
			tun = &datapath.TunnelMeta{Valid: true, VNI: uint32(f.Match.Key.Get(datapath.FieldTunID).Lo)}
		}
		if tr, d, err = rb.dp.TraceFrame(frame, uint16(in), tun, flowtext.Formatter{}); err != nil {
			return nil, err
		}
	} else {
		tr, d = rb.dp.TraceKey(f.Match.Key, flowtext.Formatter{})
	}
	_ = d
	res := &api.TraceResult{Root: tr.Root, Outputs: tr.Outputs, Text: tr.String()}
	for _, n := range tr.Root.Children {
		if n.Kind == "megaflow" {
			res.Megaflow = strings.TrimPrefix(n.Text, "Megaflow: ")
		}
	}
	return res, nil
}

// TraceLive traces the next count frames arriving on port of bridge.
func (s *Switch) TraceLive(bridge, port string, count int) (<-chan *datapath.Trace, func(), error) {
	rb, err := s.bridge(bridge)
	if err != nil {
		return nil, nil, err
	}
	return rb.dp.TraceLive(port, count, flowtext.Formatter{})
}

// DatapathFlows lists a bridge's decision cache.
func (s *Switch) DatapathFlows(bridge string) ([]api.DatapathFlow, error) {
	rb, err := s.bridge(bridge)
	if err != nil {
		return nil, err
	}
	now := rb.dp.Clock()
	out := []api.DatapathFlow{}
	for _, e := range rb.dp.CacheEntries() {
		df := api.DatapathFlow{Match: flowtext.FormatDatapathMatch(&e.Key, &e.Mask), Actions: e.Decision.DatapathActions(), Packets: e.Packets, Bytes: e.Bytes, Used: -1}
		used := "never"
		if e.Packets > 0 {
			df.Used = float64(now - e.Used)
			used = fmt.Sprintf("%.1fs", df.Used)
		}
		df.Text = fmt.Sprintf("%s, packets:%d, bytes:%d, used:%s, actions:%s", df.Match, df.Packets, df.Bytes, used, df.Actions)
		out = append(out, df)
	}
	return out, nil
}
