package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// Trace records every step of a decision as a tree, like Open vSwitch's
// ofproto/trace: the tables visited and the rule that matched in each, the
// actions and what they changed, NORMAL's VLAN admission, learning, FDB
// hits and flood sets, patch-port hops into peer bridges, tunnel
// encapsulation and the final outputs or drop.
type Trace struct {
	Root *TraceNode `json:"root"`
	// Outputs are where the frame goes (or why it goes nowhere), in
	// order: the decision's explicit outputs and what NORMAL does with the
	// FDB as it is now, across patch ports.
	Outputs []TraceOutput `json:"outputs"`
	// Fmt renders matches and actions in flow syntax (the caller's
	// choice); without one a plain fallback is used.
	Fmt   Formatter `json:"-"`
	stack []*TraceNode
}

// Formatter renders rules and actions for a trace.
type Formatter interface {
	Match(m *Match, ports func(uint32) string) string
	Instructions(in *Instructions, ports func(uint32) string) string
	Action(a *Action, ports func(uint32) string) string
}

// TraceNode is one step of a trace.
type TraceNode struct {
	Kind     string       `json:"kind"`
	Text     string       `json:"text"`
	Rule     *TraceRule   `json:"rule,omitempty"`
	Children []*TraceNode `json:"children,omitempty"`
}

// TraceOutput is one place a traced frame goes, or a drop.
type TraceOutput struct {
	Bridge string `json:"bridge,omitempty"`
	Port   string `json:"port,omitempty"`
	// VLAN is the VLAN tag the copy leaves with, -1 for untagged.
	VLAN   int    `json:"vlan"`
	PCP    int    `json:"pcp,omitempty"`
	VNI    uint32 `json:"vni,omitempty"`
	Remote string `json:"remote,omitempty"`
	// Drop is the drop reason when this is a drop, not an output.
	Drop string `json:"drop,omitempty"`
}

func (o TraceOutput) String() string {
	if o.Drop != "" {
		return "drop(" + o.Drop + ")"
	}
	s := o.Port
	if o.VLAN >= 0 {
		s += fmt.Sprintf("[vlan %d pcp %d]", o.VLAN, o.PCP)
	}
	if o.VNI != 0 || o.Remote != "" {
		s += fmt.Sprintf("(vni %d", o.VNI)
		if o.Remote != "" {
			s += ", remote " + o.Remote
		}
		s += ")"
	}
	return s
}

// TraceRule is the rule a table lookup matched.
type TraceRule struct {
	Table    uint8  `json:"table"`
	Priority uint16 `json:"priority"`
	Cookie   uint64 `json:"cookie"`
	Match    string `json:"match"`
	Actions  string `json:"actions"`
}

type traceKind uint8

const (
	nodeBridge traceKind = iota
	nodeTable
	nodeAction
	nodeNormal
	nodeDetail
	nodeOutput
	nodePatch
	nodeResubmit
	nodeResult
)

var traceKinds = [...]string{"bridge", "table", "action", "normal", "detail", "output", "patch", "resubmit", "result"}

// NewTrace returns an empty trace with a root node for bridge.
func NewTrace(bridge string, f Formatter) *Trace {
	t := &Trace{Fmt: f, Root: &TraceNode{Kind: "bridge", Text: "bridge " + bridge}}
	t.stack = []*TraceNode{t.Root}
	return t
}

func (t *Trace) add(kind traceKind, format string, a ...any) {
	n := &TraceNode{Kind: traceKinds[kind], Text: fmt.Sprintf(format, a...)}
	top := t.stack[len(t.stack)-1]
	top.Children = append(top.Children, n)
}

func (t *Trace) push(kind traceKind, format string, a ...any) {
	t.add(kind, format, a...)
	top := t.stack[len(t.stack)-1]
	t.stack = append(t.stack, top.Children[len(top.Children)-1])
}

func (t *Trace) pop() {
	if len(t.stack) > 1 {
		t.stack = t.stack[:len(t.stack)-1]
	}
}

func (t *Trace) last() *TraceNode {
	top := t.stack[len(t.stack)-1]
	if n := len(top.Children); n > 0 {
		return top.Children[n-1]
	}
	return top
}

// String renders the trace as an indented tree.
func (t *Trace) String() string {
	var b strings.Builder
	var walk func(n *TraceNode, depth int)
	walk = func(n *TraceNode, depth int) {
		b.WriteString(strings.Repeat("    ", depth))
		b.WriteString(n.Text)
		b.WriteByte('\n')
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(t.Root, 0)
	return b.String()
}

// portNamer returns a function naming port numbers of snapshot s.
func portNamer(s *snapshot) func(uint32) string {
	return func(no uint32) string { return formatPortNo(no, s) }
}

func formatPortNo(no uint32, s *snapshot) string {
	switch no {
	case PortInPort:
		return "IN_PORT"
	case PortTable:
		return "TABLE"
	case PortNormal:
		return "NORMAL"
	case PortFlood:
		return "FLOOD"
	case PortAll:
		return "ALL"
	case PortController:
		return "CONTROLLER"
	case PortLocal:
		return "LOCAL"
	case PortAny:
		return "ANY"
	}
	if s != nil && no <= MaxOFPort {
		if v := s.ports[uint16(no)]; v != nil {
			return v.p.name
		}
	}
	return fmt.Sprint(no)
}

// FormatMatch renders a match through the trace's formatter.
func (x *xlate) fmtMatch(m *Match) string {
	if x.tr == nil {
		return ""
	}
	if x.tr.Fmt != nil {
		return x.tr.Fmt.Match(m, portNamer(x.snap))
	}
	return fmt.Sprintf("match(%d bits)", m.Mask.popcount())
}

func (x *xlate) fmtInstr(in *Instructions) string {
	if x.tr == nil {
		return ""
	}
	if x.tr.Fmt != nil {
		return x.tr.Fmt.Instructions(in, portNamer(x.snap))
	}
	return fmt.Sprintf("%d actions", len(in.Apply)+len(in.Write))
}

func (x *xlate) fmtAction(a *Action) string {
	if x.tr == nil {
		return ""
	}
	if x.tr.Fmt != nil {
		return x.tr.Fmt.Action(a, portNamer(x.snap))
	}
	return fmt.Sprintf("action %d", a.Kind)
}

// describePort says how a port treats VLANs, for traces.
func describePort(st *portState) string {
	c := &st.cfg
	switch {
	case c.Mode == ModeAccess:
		return fmt.Sprintf("access VLAN %d", c.VLAN)
	case len(c.VNIs) > 0:
		return "tunnel with a VLAN↔VNI map"
	case c.Trunks.IsEmpty() && c.NativeVLAN == 0:
		return "trunk of all VLANs, untagged frames in VLAN 0"
	case c.Trunks.IsEmpty():
		return fmt.Sprintf("trunk of all VLANs, native VLAN %d", c.NativeVLAN)
	case c.NativeVLAN != 0:
		return fmt.Sprintf("trunk %s, native VLAN %d", c.Trunks.String(), c.NativeVLAN)
	}
	return "trunk " + c.Trunks.String()
}

func vlanWhy(st *portState, present bool, tci uint16) string {
	switch {
	case present && tci&0xfff != 0:
		return fmt.Sprintf(": tagged %d, carried", tci&0xfff)
	case st.vlanOf != nil:
		return ": untagged in a mapped VNI"
	case present:
		return ": priority-tagged, taken as untagged"
	}
	return ": untagged"
}

func formForm(st *portState, vlan, pcpdei uint16) string {
	if st.tagged.Has(vlan) {
		return fmt.Sprintf("tagged VLAN %d (PCP %d)", vlan, pcpdei>>13)
	}
	return "untagged"
}

// result summarises a finished decision at the end of the trace.
func (d *Decision) result(t *Trace) {
	if t == nil {
		return
	}
	var outs []string
	dropped := ""
	for _, o := range t.Outputs {
		if o.Drop != "" {
			dropped = o.Drop
			continue
		}
		outs = append(outs, o.String())
	}
	text := "Final: " + strings.Join(outs, ", ")
	if len(outs) == 0 {
		if dropped == "" {
			dropped = d.drop.String()
			t.Outputs = append(t.Outputs, TraceOutput{Drop: dropped})
		}
		text = "Final: drop (" + dropped + ")"
	}
	t.Root.Children = append(t.Root.Children, &TraceNode{Kind: traceKinds[nodeResult], Text: text})
}

// TraceKey runs the pipeline for key k, as if it arrived on the port its
// in_port field names, with no side effects: nothing is learned, cached or
// sent. The trace ends with the final outputs (or drop) and the megaflow the
// decision would be cached as.
func (b *Bridge) TraceKey(k Key, f Formatter) (*Trace, *Decision) {
	s := b.snap.Load()
	tr := NewTrace(b.name, f)
	in := s.ports[k.inPort()]
	if in == nil {
		tr.add(nodeDetail, "in_port %d is not a port of bridge %s", k.inPort(), b.name)
	}
	if f != nil {
		km := keyMatch(&k)
		tr.Root.Text = "bridge " + b.name + ": " + f.Match(&km, portNamer(s))
	}
	d := decide(s, &k, in, tr)
	d.result(tr)
	if f != nil {
		mf := Match{Mask: *d.mask}
		for i := range mf.Key {
			mf.Key[i] = k[i] & d.mask[i]
		}
		tr.Root.Children = append(tr.Root.Children, &TraceNode{Kind: "megaflow", Text: "Megaflow: " + f.Match(&mf, portNamer(s))})
	}
	return tr, d
}

// keyMatch shows a key as a match of its meaningful fields: the port, the
// Ethernet header, the VLAN tag if there is one, and every other field that
// is not zero.
func keyMatch(k *Key) Match {
	var m Match
	for f := Field(0); f < NumFields; f++ {
		v := k.Get(f)
		switch f {
		case FieldInPort, FieldEthSrc, FieldEthDst, FieldEthType:
		case FieldVLANVID, FieldVLANPCP:
			if !k.vlanPresent() {
				continue
			}
		default:
			if v.IsZero() {
				continue
			}
		}
		m.SetExact(f, v)
	}
	return m
}

// TraceFrame traces the frame as if it arrived on port inPort (with
// tunnel metadata tun for a tunnel port).
func (b *Bridge) TraceFrame(frame []byte, inPort uint16, tun *TunnelMeta, f Formatter) (*Trace, *Decision, error) {
	s := b.snap.Load()
	var local netip.Addr
	if in := s.ports[inPort]; in != nil {
		local = in.st.cfg.TunnelLocal
	}
	var k Key
	var lay layout
	if extract(&k, frame, inPort, tun, local, parseL4, &lay) != forwarded {
		return nil, nil, errs.Invalidf("packet", "an Ethernet frame of at least 14 bytes (18 with an 802.1Q tag)", "the frame has %d bytes", len(frame))
	}
	tr, d := b.TraceKey(k, f)
	return tr, d, nil
}

// KeyOfFrame extracts the flow key of a frame arriving on inPort.
func KeyOfFrame(frame []byte, inPort uint16) (Key, bool) {
	var k Key
	var lay layout
	return k, extract(&k, frame, inPort, nil, noAddr, parseL4, &lay) == forwarded
}

// liveTrace traces the next frames arriving on one port.
type liveTrace struct {
	port *Port
	left atomic.Int64 // slots not yet taken
	done atomic.Int64 // slots whose send is over
	n    int64
	ch   chan *Trace
	fmt  Formatter
}

// offer traces the frames of a batch that arrived on the traced port.
func (lt *liveTrace) offer(s *snapshot, in *portView, pkts []*Packet, keys []Key) {
	if in.p != lt.port {
		return
	}
	for i := range pkts {
		if keys[i][0] == badFrame {
			continue
		}
		if lt.left.Add(-1) < 0 {
			return
		}
		tr := NewTrace(s.b.name, lt.fmt)
		tr.Root.Text = fmt.Sprintf("bridge %s: live frame on %s (%d bytes)", s.b.name, in.p.name, pkts[i].Len)
		if lt.fmt != nil {
			km := keyMatch(&keys[i])
			tr.Root.Text += ": " + lt.fmt.Match(&km, portNamer(s))
		}
		d := decide(s, &keys[i], in, tr)
		d.result(tr)
		select {
		case lt.ch <- tr:
		default: // the reader is slow: this frame is not traced
		}
		// Each of the n slots sends (or drops) once, then counts itself
		// done: the last one done closes the channel, when no send can
		// follow, and frees the bridge for the next live trace.
		if lt.done.Add(1) == lt.n {
			s.b.live.CompareAndSwap(lt, nil)
			close(lt.ch)
		}
	}
}

// TraceLive traces the next n frames that arrive on port: each trace is
// sent on the channel (frames keep flowing untraced if the reader falls
// behind), which is closed after the n-th. stop ends the live trace early
// (the channel then stays open: the reader stops on its own).
func (b *Bridge) TraceLive(port string, n int, f Formatter) (<-chan *Trace, func(), error) {
	p := b.Port(port)
	if p == nil {
		return nil, nil, errs.NotFoundf("port", "port %q is not on bridge %q", port, b.name)
	}
	if n < 1 || n > 10000 {
		return nil, nil, errs.Invalidf("count", "1-10000", "%d", n)
	}
	lt := &liveTrace{port: p, ch: make(chan *Trace, n), fmt: f, n: int64(n)}
	lt.left.Store(int64(n))
	if !b.live.CompareAndSwap(nil, lt) {
		return nil, nil, errs.Existsf("port", "a live trace is already running on bridge %q", b.name)
	}
	stop := func() { b.live.CompareAndSwap(lt, nil) }
	return lt.ch, stop, nil
}
