package vswitchd

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/netdev"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
	"github.com/switchyard-net/switchyard/internal/openflow/oftest"
)

var ofTestSeq atomic.Int64

// ofSwitch is an in-memory switch (every port a netdev.Memory) with its
// management sockets in a temporary directory, a bridge and n ports
// named uniquely (memory devices are process-wide by name).
type ofSwitch struct {
	*Switch
	t     testing.TB
	br    string
	ports []string
}

func newOFSwitch(t testing.TB, br config.Bridge, n int) *ofSwitch {
	t.Helper()
	store, err := config.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := newSwitch(ctx, store, slog.New(slog.NewTextHandler(io.Discard, nil)), true, true)
	dir, err := os.MkdirTemp("", "syof")
	if err != nil {
		t.Fatal(err)
	}
	s.setOpenFlowDir(dir)
	t.Cleanup(func() { s.close(); cancel(); store.Close(); os.RemoveAll(dir) })
	o := &ofSwitch{Switch: s, t: t, br: br.Name}
	if err := s.AddBridge(br); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("of%d%c%d", os.Getpid()%10000, 'a'+rune(ofTestSeq.Add(1)%26), i)
		if err := s.AddPort(config.Port{Bridge: br.Name, Name: name, Type: config.TypeTAP, OFPort: i}); err != nil {
			t.Fatal(err)
		}
		o.ports = append(o.ports, name)
	}
	return o
}

func (o *ofSwitch) dial(versions uint32) *oftest.Client {
	o.t.Helper()
	return oftest.Dial(o.t, "unix", o.MgmtSocket(o.br), versions)
}

func (o *ofSwitch) dev(i int) *netdev.Memory { return netdev.MemoryDevice(o.ports[i-1]) }

func (o *ofSwitch) inject(i int, frames ...[]byte) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.dev(i).Inject(ctx, frames...); err != nil {
		o.t.Fatal(err)
	}
}

// sent returns how many frames each port was sent since the last call.
func (o *ofSwitch) sent() []int {
	n := make([]int, len(o.ports)+1)
	for i := range o.ports {
		n[i+1] = len(o.dev(i + 1).Take())
	}
	return n
}

func ofEthFrame(dst, src byte, payload int) []byte {
	b := []byte{2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src, 0x08, 0x00}
	return append(b, bytes.Repeat([]byte{0x45}, payload)...)
}

const v13 = 1 << ofp.Version13

func flowAdd(prio uint16, match []ofp.OXM, acts ...ofp.Action) *ofp.FlowMod {
	return &ofp.FlowMod{Command: ofp.FlowAdd, Priority: prio, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Match: ofp.Match{Fields: match}, Instructions: []ofp.Instruction{ofp.InstApplyActions{Actions: acts}}}
}

func inPort(p uint32) []ofp.OXM { return []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, uint64(p))} }

func expectNoError(t *testing.T, c *oftest.Client) {
	t.Helper()
	for _, r := range c.Barrier() {
		if e, ok := r.Msg.(*ofp.ErrorMsg); ok {
			t.Fatalf("switch answered with an error: %v", e.Err(c.Version))
		}
	}
}

// A frame sent after a barrier reply meets the flows sent before the
// barrier, also when a cached decision for its flow existed: the rule
// flips between two ports 300 times and every frame goes where the
// latest rule says.
func TestOpenFlowBarrierMakesFlowsVisible(t *testing.T) {
	o := newOFSwitch(t, config.Bridge{Name: "brb"}, 3)
	c := o.dial(v13)
	c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	f := ofEthFrame(2, 1, 50)
	for i := 0; i < 300; i++ {
		to := uint32(2 + i%2)
		fm := flowAdd(100, inPort(1), ofp.ActionOutput{Port: to})
		if i > 0 {
			fm.Command = ofp.FlowModifyStrict
		}
		c.Send(fm)
		expectNoError(t, c)
		o.inject(1, f, f)
		n := o.sent()
		if n[to] != 2 || n[5-to] != 0 {
			t.Fatalf("round %d: rule says port %d, frames went %v", i, to, n)
		}
	}
	// The OpenFlow rules are not stored.
	lines, _, err := o.store.Flows(o.br)
	if err != nil || len(lines) != 1 {
		t.Fatalf("stored flows after OpenFlow changes: %v %v (want the default rule only)", lines, err)
	}
}

func recvType[T ofp.Message](t *testing.T, c *oftest.Client) T {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.TryRecv(time.Until(deadline))
		if err != nil {
			break
		}
		if m, ok := r.Msg.(T); ok {
			return m
		}
	}
	var zero T
	t.Fatalf("no %T from the switch", zero)
	return zero
}

func TestOpenFlowFlowModSemantics(t *testing.T) {
	o := newOFSwitch(t, config.Bridge{Name: "brf"}, 3)
	c := o.dial(v13)
	c.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 128}}) // service connections get async messages once asked
	del := &ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}
	c.Send(del)
	ip := []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1), ofp.OXMUint(ofp.FieldEthType, 0x0800)}
	a := flowAdd(10, ip, ofp.ActionOutput{Port: 2})
	a.Cookie, a.Flags = 0x11, ofp.FlowFlagSendFlowRem
	b := flowAdd(20, inPort(1), ofp.ActionOutput{Port: 3})
	b.Cookie, b.Flags = 0x22, ofp.FlowFlagSendFlowRem|ofp.FlowFlagNoPktCounts
	c.Send(a)
	c.Send(b)
	expectNoError(t, c)
	// CHECK_OVERLAP: same priority, overlapping match.
	ov := flowAdd(20, ip, ofp.ActionOutput{Port: 2})
	ov.Flags = ofp.FlowFlagCheckOverlap
	if r := c.Request(ov); r.Header.Type != uint8(ofp.TypeError) {
		t.Fatalf("overlap: %T", r.Msg)
	} else if e := r.Msg.(*ofp.ErrorMsg).Err(c.Version); e.Type != ofp.ErrFlowModFailed || e.Code != ofp.FlowModFailedOverlap {
		t.Fatalf("overlap: %v", e)
	}
	// Counters and no_packet_counts.
	o.inject(1, ofEthFrame(2, 1, 50))
	st := c.Request(&ofp.MultipartRequest{Body: &ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}}).Msg.(*ofp.MultipartReply).Body.(*ofp.FlowStatsReply)
	if len(st.Flows) != 2 || st.Flows[0].Priority != 20 || st.Flows[0].PacketCount != ^uint64(0) || st.Flows[0].ByteCount != 64 {
		t.Fatalf("flow stats %+v", st.Flows)
	}
	// out_port filter on delete, cookie mask, strict.
	c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: 3, OutGroup: ofp.GroupAny, Cookie: 0x11, CookieMask: 0xff})
	expectNoError(t, c)
	if n := len(o.dp().DumpFlows(datapath.TableAll, nil, 0, 0, datapath.PortAny)); n != 2 {
		t.Fatalf("delete with out_port 3 and cookie 0x11 removed something: %d left", n)
	}
	c.Send(&ofp.FlowMod{Command: ofp.FlowDeleteStrict, TableID: 0, Priority: 20, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny, Match: ofp.Match{Fields: ip}})
	expectNoError(t, c)
	if n := len(o.dp().DumpFlows(datapath.TableAll, nil, 0, 0, datapath.PortAny)); n != 2 {
		t.Fatalf("strict delete of a priority/match that does not exist removed something: %d left", n)
	}
	c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny, Cookie: 0x22, CookieMask: 0xff})
	fr := recvType[*ofp.FlowRemoved](t, c)
	if fr.Cookie != 0x22 || fr.Reason != ofp.RemovedDelete || fr.PacketCount != ^uint64(0) || fr.Priority != 20 {
		t.Fatalf("flow removed %+v", fr)
	}
	// A modify (1.3) keeps the cookie and counters; RESET_COUNTS clears
	// them. No FLOW_REMOVED for a modified flow.
	o.inject(1, ofEthFrame(2, 1, 50))
	m := flowAdd(10, ip, ofp.ActionOutput{Port: 3})
	m.Command, m.Cookie = ofp.FlowModifyStrict, 0x99
	c.Send(m)
	expectNoError(t, c)
	l := o.dp().DumpFlows(0, nil, 0, 0, datapath.PortAny)
	if len(l) != 1 || l[0].Rule.Cookie != 0x11 || l[0].Stats.Packets != 1 || l[0].Rule.Instr.Apply[0].Port != 3 {
		t.Fatalf("after modify-strict: %+v", l)
	}
	m.Flags = ofp.FlowFlagResetCounts
	c.Send(m)
	expectNoError(t, c)
	if l := o.dp().DumpFlows(0, nil, 0, 0, datapath.PortAny); l[0].Stats.Packets != 0 {
		t.Fatalf("reset_counts left %d packets", l[0].Stats.Packets)
	}
	// A hard timeout: FLOW_REMOVED with reason hard.
	h := flowAdd(30, inPort(2), ofp.ActionOutput{Port: 1})
	h.HardTimeout, h.Flags, h.Cookie = 1, ofp.FlowFlagSendFlowRem, 0x33
	c.Send(h)
	expectNoError(t, c)
	o.tick(time.Now().Add(2 * time.Second))
	fr = recvType[*ofp.FlowRemoved](t, c)
	if fr.Cookie != 0x33 || fr.Reason != ofp.RemovedHardTimeout {
		t.Fatalf("hard timeout flow removed %+v", fr)
	}
	// Unknown table, group, meter.
	bad := flowAdd(1, nil, ofp.ActionGroup{GroupID: 4})
	if e := c.Request(bad).Msg.(*ofp.ErrorMsg).Err(c.Version); e.Type != ofp.ErrBadAction || e.Code != ofp.BadActionBadOutGroup {
		t.Errorf("unknown group: %v", e)
	}
	bad = flowAdd(1, nil)
	bad.TableID = 254
	if e := c.Request(bad).Msg.(*ofp.ErrorMsg).Err(c.Version); e.Type != ofp.ErrFlowModFailed || e.Code != ofp.FlowModFailedBadTableID {
		t.Errorf("table 254: %v", e)
	}
	bad = flowAdd(1, nil)
	bad.Instructions = append(bad.Instructions, ofp.InstMeter{MeterID: 5})
	if e := c.Request(bad).Msg.(*ofp.ErrorMsg).Err(c.Version); e.Type != ofp.ErrMeterModFailed || e.Code != ofp.MeterModFailedUnknownMeter {
		t.Errorf("unknown meter: %v", e)
	}
}

func (o *ofSwitch) dp() *datapath.Bridge {
	rb, err := o.bridge(o.br)
	if err != nil {
		o.t.Fatal(err)
	}
	return rb.dp
}

// An OpenFlow 1.0 modify that matches nothing adds the flow (OpenFlow
// 1.0, as Open vSwitch does); with 1.3 it changes nothing.
func TestOpenFlow10ModifyAdds(t *testing.T) {
	o := newOFSwitch(t, config.Bridge{Name: "brm"}, 2)
	c10 := o.dial(1 << ofp.Version10)
	fm := &ofp.FlowMod{Version: ofp.Version10, Command: ofp.FlowModify, Priority: 7, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Cookie: 5, Match: ofp.Match{Fields: inPort(2)}, Instructions: []ofp.Instruction{ofp.InstApplyActions{Actions: []ofp.Action{ofp.ActionOutput{Port: 1}}}}}
	c10.Send(fm)
	expectNoError(t, c10)
	l := o.dp().DumpFlows(0, nil, 0, 0, datapath.PortAny)
	found := false
	for _, e := range l {
		if e.Rule.Priority == 7 && e.Rule.Cookie == 5 && e.Rule.Origin == datapath.OriginOpenFlow {
			found = true
		}
	}
	if !found {
		t.Fatalf("1.0 modify of nothing did not add: %+v", l)
	}
	c13 := o.dial(v13)
	fm13 := flowAdd(8, inPort(1), ofp.ActionOutput{Port: 2})
	fm13.Command = ofp.FlowModify
	c13.Send(fm13)
	expectNoError(t, c13)
	for _, e := range o.dp().DumpFlows(0, nil, 0, 0, datapath.PortAny) {
		if e.Rule.Priority == 8 {
			t.Fatal("1.3 modify of nothing added a flow")
		}
	}
}

func TestOpenFlowPacketInOut(t *testing.T) {
	o := newOFSwitch(t, config.Bridge{Name: "brp"}, 3)
	c := o.dial(v13)
	c.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 128}})
	c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	tm := flowAdd(0, nil, ofp.ActionOutput{Port: ofp.PortController, MaxLen: ofp.ControllerNoBuffer})
	tm.Cookie = 0xabc
	c.Send(tm)
	c.Send(flowAdd(5, inPort(2), ofp.ActionOutput{Port: ofp.PortController, MaxLen: 20}))
	expectNoError(t, c)
	f := ofEthFrame(9, 1, 60)
	o.inject(1, f)
	pin := recvType[*ofp.PacketIn](t, c)
	if in, _ := pin.Match.InPort(); in != 1 || pin.Reason != ofp.ReasonNoMatch || pin.Cookie != 0xabc || !bytes.Equal(pin.Data, f) {
		t.Fatalf("table-miss packet-in %+v", pin)
	}
	o.inject(2, f)
	pin = recvType[*ofp.PacketIn](t, c)
	if pin.Reason != ofp.ReasonAction || len(pin.Data) != 20 || int(pin.TotalLen) != len(f) {
		t.Fatalf("action packet-in: reason %d, %d of %d bytes", pin.Reason, len(pin.Data), pin.TotalLen)
	}
	// PACKET_OUT to a port, to FLOOD, and through the table.
	c.Send(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: ofp.PortController, Actions: []ofp.Action{ofp.ActionOutput{Port: 3}}, Data: f})
	c.Send(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 1, Actions: []ofp.Action{ofp.ActionOutput{Port: ofp.PortFlood}}, Data: f})
	expectNoError(t, c)
	if n := o.sent(); n[1] != 0 || n[2] != 1 || n[3] != 2 {
		t.Fatalf("packet-outs went %v", n)
	}
	c.Send(flowAdd(9, inPort(1), ofp.ActionOutput{Port: 2}))
	c.Send(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 1, Actions: []ofp.Action{ofp.ActionOutput{Port: ofp.PortTable}}, Data: f})
	expectNoError(t, c)
	if n := o.sent(); n[2] != 1 || n[3] != 0 {
		t.Fatalf("packet-out to TABLE went %v", n)
	}
	// A packet-out from a port that does not exist.
	r := c.Request(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 77, Actions: []ofp.Action{ofp.ActionOutput{Port: 1}}, Data: f})
	if e, ok := r.Msg.(*ofp.ErrorMsg); !ok || e.Err(c.Version).Code != ofp.BadRequestBadPort {
		t.Fatalf("packet-out from port 77: %v", r.Msg)
	}
}

func TestOpenFlowGroupsMetersPorts(t *testing.T) {
	o := newOFSwitch(t, config.Bridge{Name: "brg"}, 3)
	c := o.dial(v13)
	c.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 128}})
	c.Send(&ofp.GroupMod{Command: ofp.GroupAdd, GroupType: ofp.GroupTypeFastFailover, GroupID: 1, Buckets: []ofp.Bucket{
		{WatchPort: 2, WatchGroup: ofp.GroupAny, Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}},
		{WatchPort: 3, WatchGroup: ofp.GroupAny, Actions: []ofp.Action{ofp.ActionOutput{Port: 3}}}}})
	fl := flowAdd(50, inPort(1), ofp.ActionGroup{GroupID: 1})
	fl.Flags = ofp.FlowFlagSendFlowRem
	c.Send(fl)
	expectNoError(t, c)
	f := ofEthFrame(2, 1, 50)
	o.inject(1, f)
	if n := o.sent(); n[2] != 1 {
		t.Fatalf("ff group: %v", n)
	}
	// port_down on port 2 (PORT_MOD with its address from PORT_DESC):
	// PORT_STATUS, and the group fails over.
	pd := c.Request(&ofp.MultipartRequest{Body: &ofp.PortDescRequest{}}).Msg.(*ofp.MultipartReply).Body.(*ofp.PortDescReply)
	if len(pd.Ports) != 3 || pd.Ports[1].PortNo != 2 || pd.Ports[1].State&ofp.PortStateLive == 0 {
		t.Fatalf("port desc %+v", pd.Ports)
	}
	c.Send(&ofp.PortMod{PortNo: 2, HWAddr: pd.Ports[1].HWAddr, Config: ofp.PortConfigDown, Mask: ofp.PortConfigDown})
	ps := recvType[*ofp.PortStatus](t, c)
	if ps.Reason != ofp.PortModified || ps.Port.PortNo != 2 || ps.Port.Config&ofp.PortConfigDown == 0 || ps.Port.State&ofp.PortStateLive != 0 {
		t.Fatalf("port status %+v", ps)
	}
	o.inject(1, f)
	if n := o.sent(); n[2] != 0 || n[3] != 1 {
		t.Fatalf("ff group with port 2 down: %v", n)
	}
	if r := c.Request(&ofp.PortMod{PortNo: 2, HWAddr: net.HardwareAddr{2, 1, 1, 1, 1, 1}, Config: 0, Mask: ofp.PortConfigDown}); r.Header.Type != uint8(ofp.TypeError) ||
		r.Msg.(*ofp.ErrorMsg).Err(c.Version).Code != ofp.PortModFailedBadHWAddr {
		t.Fatalf("port mod with a wrong address: %T", r.Msg)
	}
	// Group stats, then delete: the flow goes with reason group_delete.
	gs := c.Request(&ofp.MultipartRequest{Body: &ofp.GroupStatsRequest{GroupID: ofp.GroupAll}}).Msg.(*ofp.MultipartReply).Body.(*ofp.GroupStatsReply)
	if len(gs.Groups) != 1 || gs.Groups[0].PacketCount != 2 || gs.Groups[0].RefCount != 1 || gs.Groups[0].Buckets[1].PacketCount != 1 {
		t.Fatalf("group stats %+v", gs.Groups)
	}
	c.Send(&ofp.GroupMod{Command: ofp.GroupDelete, GroupID: ofp.GroupAll})
	fr := recvType[*ofp.FlowRemoved](t, c)
	if fr.Reason != ofp.RemovedGroupDelete || fr.Priority != 50 {
		t.Fatalf("flow removed by group delete %+v", fr)
	}
	// Meters: a 1 packet/s meter with a burst of 5.
	c.Send(&ofp.MeterMod{Command: ofp.MeterAdd, MeterID: 1, Flags: ofp.MeterFlagPktps | ofp.MeterFlagBurst | ofp.MeterFlagStats,
		Bands: []ofp.MeterBand{{BandType: ofp.MeterBandDrop, Rate: 1, BurstSize: 5}}})
	mf := flowAdd(60, inPort(1), ofp.ActionOutput{Port: 3})
	mf.Instructions = append([]ofp.Instruction{ofp.InstMeter{MeterID: 1}}, mf.Instructions...)
	c.Send(mf)
	expectNoError(t, c)
	var burst [][]byte
	for i := 0; i < 20; i++ {
		burst = append(burst, f)
	}
	o.inject(1, burst...)
	if n := o.sent(); n[3] < 5 || n[3] > 6 {
		t.Fatalf("meter let %d of 20 through", n[3])
	}
	ms := c.Request(&ofp.MultipartRequest{Body: &ofp.MeterStatsRequest{MeterID: ofp.MeterAll}}).Msg.(*ofp.MultipartReply).Body.(*ofp.MeterStatsReply)
	if len(ms.Meters) != 1 || ms.Meters[0].PacketInCount != 20 || ms.Meters[0].FlowCount != 1 || ms.Meters[0].Bands[0].PacketBandCount < 14 {
		t.Fatalf("meter stats %+v", ms.Meters)
	}
	if r := c.Request(&ofp.MeterMod{Command: ofp.MeterAdd, MeterID: 1, Flags: ofp.MeterFlagKbps, Bands: []ofp.MeterBand{{BandType: ofp.MeterBandDrop, Rate: 9}}}); r.Msg.(*ofp.ErrorMsg).Err(c.Version).Code != ofp.MeterModFailedMeterExists {
		t.Fatal("a second meter 1 accepted")
	}
	// Port stats count what the ports did.
	pst := c.Request(&ofp.MultipartRequest{Body: &ofp.PortStatsRequest{PortNo: 1}}).Msg.(*ofp.MultipartReply).Body.(*ofp.PortStatsReply)
	if len(pst.Ports) != 1 || pst.Ports[0].RxPackets != 22 {
		t.Fatalf("port stats %+v", pst.Ports)
	}
	// Deleting a port announces it.
	if err := o.DelPort(o.br, o.ports[2]); err != nil {
		t.Fatal(err)
	}
	ps = recvType[*ofp.PortStatus](t, c)
	if ps.Reason != ofp.PortDeleted || ps.Port.PortNo != 3 {
		t.Fatalf("port deleted status %+v", ps)
	}
}

// Standalone: with a controller configured and unreachable the bridge
// fails open (NORMAL wins over every flow); when a controller connects the
// fail-open rule goes. Secure: nothing of the kind.
func TestOpenFlowFailModes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there for now
	o := newOFSwitch(t, config.Bridge{Name: "brs", Controllers: "tcp:" + addr}, 2)
	o.of.mu.Lock()
	o.of.failOpenAfter = 300 * time.Millisecond
	o.of.mu.Unlock()
	c := o.dial(v13)
	c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	expectNoError(t, c)
	f := ofEthFrame(0xff, 1, 40)
	f[0], f[1], f[2], f[3], f[4] = 0xff, 0xff, 0xff, 0xff, 0xff
	waitCond(t, "fail-open", func() bool { return o.dp().FailOpen() })
	o.inject(1, f)
	if n := o.sent(); n[2] != 1 {
		t.Fatalf("failed open but the broadcast went %v", n)
	}
	st, _ := o.OpenFlowStatus(o.br)
	if !st.FailOpen || st.Connected || st.FailMode != "standalone" || len(st.Controllers) != 1 {
		t.Fatalf("status %+v", st)
	}
	// show carries the same status under the bridge.
	show := o.Show()
	if len(show.Bridges) != 1 || show.Bridges[0].OpenFlow == nil || !show.Bridges[0].OpenFlow.FailOpen ||
		show.Bridges[0].OpenFlow.Management != o.MgmtSocket(o.br) || show.Bridges[0].OpenFlow.DatapathID == "" {
		t.Fatalf("show's OpenFlow status: %+v", show.Bridges[0].OpenFlow)
	}
	// A controller appears.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ctl := oftest.Server(t, nc, v13)
	fr := ctl.Request(&ofp.FeaturesRequest{}).Msg.(*ofp.FeaturesReply)
	if want, _ := (&config.Bridge{Name: "brs", DatapathID: o.Config().Bridges["brs"].DatapathID}).DPID(); fr.DatapathID != want {
		t.Errorf("datapath id %x, want %x", fr.DatapathID, want)
	}
	waitCond(t, "fail-open over", func() bool { return !o.dp().FailOpen() })
	o.inject(1, f)
	if n := o.sent(); n[2] != 0 {
		t.Fatalf("fail-open over but the broadcast went %v", n)
	}
	// Secure: no fail-open even with the controller gone.
	b := o.Config().Bridges["brs"]
	b.FailMode = config.FailSecure
	if err := o.SetBridge(*b); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	l.Close()
	time.Sleep(0) // let the disconnect happen; the assertion below polls
	waitCond(t, "controller disconnected", func() bool { st, _ := o.OpenFlowStatus(o.br); return !st.Connected })
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if o.dp().FailOpen() {
			t.Fatal("a secure bridge failed open")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A bridge created in secure mode has no rules at all.
func TestSecureBridgeStartsEmpty(t *testing.T) {
	o := newOFSwitch(t, config.Bridge{Name: "bre", FailMode: config.FailSecure}, 2)
	if l := o.dp().DumpFlows(datapath.TableAll, nil, 0, 0, datapath.PortAny); len(l) != 0 {
		t.Fatalf("secure bridge rules: %+v", l)
	}
	o.inject(1, ofEthFrame(2, 1, 40))
	if n := o.sent(); n[2] != 0 {
		t.Fatalf("a secure bridge forwarded %v", n)
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The packet-in handler the daemon installs allocates nothing per packet
// (the whole path: engine → handler → agent queue).
func TestOpenFlowPacketInPathAllocatesNothing(t *testing.T) {
	o := newOFSwitch(t, config.Bridge{Name: "bra"}, 2)
	c := o.dial(v13)
	c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	c.Send(flowAdd(1, nil, ofp.ActionOutput{Port: ofp.PortController, MaxLen: 64}))
	expectNoError(t, c)
	bp := o.dp().Port(o.ports[0])
	pkts := make([]*datapath.Packet, 16)
	for i := range pkts {
		pkts[i] = datapath.NewPacket(2048)
	}
	f := ofEthFrame(2, 1, 100)
	run := func() {
		for _, p := range pkts {
			p.SetData(f)
		}
		bp.Receive(pkts)
	}
	run()
	if a := testing.AllocsPerRun(200, run); a != 0 {
		t.Fatalf("%.1f allocations per batch of packet-ins", a)
	}
	binary.BigEndian.Uint16(f) // keep imports honest
	_ = filepath.Join
}
