package vswitchd

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// BenchmarkOpenFlowFlowMod: distinct flows over one connection to a
// bridge's management socket, a barrier per 1000, into the engine (the
// whole path: codec, agent, translation, flow table, publication). The
// table is emptied (untimed) every `table` flows.
func BenchmarkOpenFlowFlowMod(b *testing.B) {
	for _, table := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("table=%d", table), func(b *testing.B) {
			o := newOFSwitch(b, config.Bridge{Name: "brbench"}, 2)
			c := o.dial(v13)
			raws := make([][]byte, table)
			for i := range raws {
				fm := flowAdd(100, []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1), ofp.OXMUint(ofp.FieldEthType, 0x0800), ofp.OXMUint(ofp.FieldIPv4Dst, uint64(0xc6120000+i))}, ofp.ActionOutput{Port: 2})
				raws[i], _ = ofp.Marshal(ofp.Version13, uint32(i), fm)
			}
			batch := make([]byte, 0, 1000*96)
			b.ReportAllocs()
			b.ResetTimer()
			var el, cpu time.Duration
			for n := 0; n < b.N; {
				start, c0 := time.Now(), cpuTime()
				for k := 0; k < table && n < b.N; {
					batch = batch[:0]
					for i := 0; i < 1000 && k < table && n < b.N; i, k, n = i+1, k+1, n+1 {
						batch = append(batch, raws[k]...)
					}
					c.SendRaw(batch)
					c.Barrier()
				}
				el += time.Since(start)
				cpu += cpuTime() - c0
				b.StopTimer()
				c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
				c.Barrier()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "flow_mods/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkOpenFlowPacketInOut: a frame into port 1 goes to the controller
// (table-miss flow), which sends it out of port 2 with a packet-out; one
// round trip at a time, the whole path in one process.
func BenchmarkOpenFlowPacketInOut(b *testing.B) {
	o := newOFSwitch(b, config.Bridge{Name: "brrt", PacketInRate: -1}, 2)
	c := o.dial(v13)
	c.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 128}})
	c.Send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	c.Send(flowAdd(0, nil, ofp.ActionOutput{Port: ofp.PortController, MaxLen: ofp.ControllerNoBuffer}))
	c.Barrier()
	f := ofEthFrame(2, 1, 50)
	po, _ := ofp.Marshal(ofp.Version13, 7, &ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 1, Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}, Data: f})
	dev := o.dev(2)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		o.inject(1, f)
		for {
			if _, ok := c.Recv(5 * time.Second).Msg.(*ofp.PacketIn); ok {
				break
			}
		}
		c.SendRaw(po)
		if _, err := dev.Wait(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "roundtrips/s")
}

// cpuTime is the process's CPU time (user and system), a measure that
// other load on the machine disturbs less than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBackendFlowMod: the Backend's share of a flow-mod (translation,
// the engine's transaction), without the codec and the agent; a barrier
// (commit) per 1000, 10,000 distinct flows then emptied (untimed).
func BenchmarkBackendFlowMod(b *testing.B) {
	o := newOFSwitch(b, config.Bridge{Name: "brbe"}, 2)
	ob := o.ofBridge(o.br)
	const table = 10000
	fms := make([]*ofp.FlowMod, table)
	for i := range fms {
		fm, err := ofp.CheckFlowMod(flowAdd(100, []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1), ofp.OXMUint(ofp.FieldEthType, 0x0800), ofp.OXMUint(ofp.FieldIPv4Dst, uint64(0xc6120000+i))}, ofp.ActionOutput{Port: 2}))
		if err != nil {
			b.Fatal(err)
		}
		fm.Version = ofp.Version13
		fms[i] = fm
	}
	ctx := context.Background()
	del := &ofp.FlowMod{Version: ofp.Version13, Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		for k := 0; k < table && n < b.N; k, n = k+1, n+1 {
			if err := ob.FlowMod(ctx, fms[k]); err != nil {
				b.Fatal(err)
			}
			if k%1000 == 999 {
				ob.Barrier(ctx)
			}
		}
		b.StopTimer()
		ob.FlowMod(ctx, del)
		ob.Barrier(ctx)
		b.StartTimer()
	}
}
