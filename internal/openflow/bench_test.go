package openflow_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
	"github.com/switchyard-net/switchyard/internal/openflow/oftest"
)

func quietAgent(tb testing.TB, be openflow.Backend, mod func(*openflow.Config)) (*openflow.Agent, string) {
	tb.Helper()
	sock := filepath.Join(tb.TempDir(), "br.mgmt")
	cfg := openflow.Config{Name: "bench", Backend: be, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Targets: []openflow.Target{{Kind: openflow.PassiveUnix, Addr: sock}}, PacketInRate: -1}
	if mod != nil {
		mod(&cfg)
	}
	a, err := openflow.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.Close)
	return a, sock
}

var benchFrame = make([]byte, 1514)

// TestEmitPacketInAllocs: the datapath's call allocates nothing, whether
// the packet is queued or dropped.
func TestEmitPacketInAllocs(t *testing.T) {
	a, _ := quietAgent(t, oftest.NewBackend(), nil)
	p := &openflow.PacketIn{InPort: 1, Reason: ofp.ReasonNoMatch, MaxLen: 128, HasTunnel: true, TunnelID: 7, Frame: benchFrame}
	if n := testing.AllocsPerRun(10000, func() { a.EmitPacketIn(p) }); n != 0 {
		t.Fatalf("EmitPacketIn allocates %.1f times per call", n)
	}
	full := &openflow.PacketIn{InPort: 1, Reason: ofp.ReasonAction, MaxLen: int(ofp.ControllerNoBuffer), Frame: benchFrame, Userdata: []byte{1, 2, 3}}
	if n := testing.AllocsPerRun(10000, func() { a.EmitPacketIn(full) }); n != 0 {
		t.Fatalf("EmitPacketIn (whole frame, userdata) allocates %.1f times per call", n)
	}
	a2, _ := quietAgent(t, oftest.NewBackend(), func(c *openflow.Config) { c.PacketInRate = 1; c.PacketInBurst = 1 })
	a2.EmitPacketIn(p)
	if n := testing.AllocsPerRun(10000, func() { a2.EmitPacketIn(p) }); n != 0 {
		t.Fatalf("rate-limited EmitPacketIn allocates %.1f times per call", n)
	}
}

// BenchmarkEmitPacketIn measures the datapath's cost of handing a
// packet-in to the agent (128 bytes of a 1514-byte frame copied).
func BenchmarkEmitPacketIn(b *testing.B) {
	a, _ := quietAgent(b, oftest.NewBackend(), nil)
	p := &openflow.PacketIn{InPort: 1, Reason: ofp.ReasonNoMatch, MaxLen: 128, Frame: benchFrame}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.EmitPacketIn(p)
		}
	})
	st := a.Status()
	b.ReportMetric(float64(st.PacketInDropFull)/float64(b.N), "dropped/op")
}

// noopBackend accepts everything.
type noopBackend struct {
	oftest.Backend
	flowMods atomic.Uint64
	outs     chan struct{}
}

func (n *noopBackend) FlowMod(ctx context.Context, fm *ofp.FlowMod) error {
	n.flowMods.Add(1)
	return nil
}
func (n *noopBackend) Barrier(ctx context.Context) error { return nil }
func (n *noopBackend) PacketOut(ctx context.Context, po *ofp.PacketOut) error {
	n.outs <- struct{}{}
	return nil
}

// BenchmarkFlowModThroughput: flow-mods through one connection with a
// barrier per 1000, into a backend that does nothing (the agent's and the
// codec's share of FLOW_MOD throughput).
func BenchmarkFlowModThroughput(b *testing.B) {
	be := &noopBackend{Backend: *oftest.NewBackend()}
	_, sock := quietAgent(b, be, nil)
	cl := oftest.Dial(b, "unix", sock, 1<<ofp.Version13)
	fm := &ofp.FlowMod{Command: ofp.FlowAdd, TableID: 0, Priority: 100, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Match:        ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1), ofp.OXMUint(ofp.FieldEthType, 0x0800), ofp.OXMUint(ofp.FieldIPv4Dst, 0xcb007100, 0xffffff00)}},
		Instructions: []ofp.Instruction{ofp.InstApplyActions{Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}}}}
	raw, _ := ofp.Marshal(ofp.Version13, 1, fm)
	batch := make([]byte, 0, 1000*len(raw))
	for i := 0; i < 1000; i++ {
		batch = append(batch, raw...)
	}
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += 1000 {
		cl.SendRaw(batch)
		cl.Barrier()
	}
	el := time.Since(start)
	b.ReportMetric(float64(be.flowMods.Load())/el.Seconds(), "flow_mods/s")
}

// BenchmarkPacketInOutRoundTrip: a packet-in emitted by the datapath, read
// by a controller on a unix socket, answered with a packet-out that reaches
// the backend.
func BenchmarkPacketInOutRoundTrip(b *testing.B) {
	be := &noopBackend{Backend: *oftest.NewBackend(), outs: make(chan struct{}, 1)}
	a, sock := quietAgent(b, be, nil)
	nc, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	cl := oftest.Server(b, nc, 1<<ofp.Version13)
	cl.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 128}})
	cl.Barrier()
	frame := benchFrame[:64]
	frame[12], frame[13] = 0x08, 0x06
	po, _ := ofp.Marshal(ofp.Version13, 9, &ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 1, Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}, Data: frame})
	p := &openflow.PacketIn{InPort: 1, Reason: ofp.ReasonNoMatch, MaxLen: openflow.UseMissSendLen, Frame: frame}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		a.EmitPacketIn(p)
		for {
			r := cl.Recv(5 * time.Second)
			if _, ok := r.Msg.(*ofp.PacketIn); ok {
				break
			}
		}
		cl.SendRaw(po)
		<-be.outs
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "roundtrips/s")
}

// BenchmarkFlowModThroughputOVS runs the same load against an Open vSwitch
// bridge's management socket given in OFBENCH_OVS_SOCKET (skipped
// otherwise), for a side-by-side figure. The flows are deleted afterwards.
func BenchmarkFlowModThroughputOVS(b *testing.B) {
	sock := os.Getenv("OFBENCH_OVS_SOCKET")
	if sock == "" {
		b.Skip("set OFBENCH_OVS_SOCKET to an Open vSwitch bridge's .mgmt socket")
	}
	cl := oftest.Dial(b, "unix", sock, 1<<ofp.Version13)
	batch := make([]byte, 0, 1000*128)
	b.ResetTimer()
	start := time.Now()
	n := 0
	for done := 0; done < b.N; done += 1000 {
		batch = batch[:0]
		for i := 0; i < 1000; i++ {
			// Distinct flows, as a table must hold them.
			fm := &ofp.FlowMod{Command: ofp.FlowAdd, TableID: 0, Priority: 100, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
				Match:        ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1), ofp.OXMUint(ofp.FieldEthType, 0x0800), ofp.OXMUint(ofp.FieldIPv4Dst, uint64(0xc6120000+n))}},
				Instructions: []ofp.Instruction{ofp.InstApplyActions{Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}}}}
			raw, _ := ofp.Marshal(ofp.Version13, uint32(n), fm)
			batch = append(batch, raw...)
			n++
		}
		cl.SendRaw(batch)
		cl.Barrier()
	}
	el := time.Since(start)
	b.ReportMetric(float64(n)/el.Seconds(), "flow_mods/s")
	b.StopTimer()
	cl.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: 0, Priority: 100, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1)}}})
	cl.Barrier()
}
