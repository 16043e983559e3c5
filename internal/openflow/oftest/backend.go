// Package oftest holds test helpers for the OpenFlow agent: a Backend that
// records what it receives and returns programmed replies, and a small
// OpenFlow client for tests that speak the protocol themselves.
package oftest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// Call is one recorded Backend call.
type Call struct {
	Method string
	Arg    any
	At     time.Time
}

// Backend is a fake openflow.Backend. It records every call and answers
// with what the test programmed (or sensible defaults: a dpid, two ports,
// 254 empty tables). It implements no flow-table semantics.
type Backend struct {
	mu    sync.Mutex
	calls []Call
	cond  *sync.Cond

	Feat     openflow.Features
	PortList []ofp.Port
	// Replies are returned by Stats for their multipart type; Stats
	// answers types without a programmed reply with an empty reply.
	Replies map[ofp.MultipartType]ofp.MultipartBody
	// err makes the named method ("FlowMod", "GroupMod" …) fail (SetErr).
	err map[string]error
	// hook, when set, runs for every call (before the reply; SetHook).
	hook func(method string, arg any) error
	// QueueList is returned by Queues.
	QueueList []ofp.Queue
}

// NewBackend returns a Backend with default features and ports.
func NewBackend() *Backend {
	b := &Backend{
		Feat: openflow.Features{DatapathID: 0x0000020000aa0001, NTables: 254,
			Desc: ofp.DescStats{MfrDesc: "Switchyard", HWDesc: "Switchyard userspace switch", SWDesc: "test", SerialNum: "None", DPDesc: "br0"}},
		PortList: []ofp.Port{
			{PortNo: 1, HWAddr: net.HardwareAddr{0x02, 0, 0, 0, 0xaa, 0x11}, Name: "p1", State: ofp.PortStateLive,
				Curr: ofp.PortFeature10GbFD | ofp.PortFeatureCopper, CurrSpeed: 10000000},
			{PortNo: ofp.PortLocal, HWAddr: net.HardwareAddr{0x02, 0, 0, 0, 0xaa, 0x01}, Name: "br0", Config: ofp.PortConfigDown,
				State: ofp.PortStateLinkDown, Curr: ofp.PortFeature10GbFD | ofp.PortFeatureCopper, CurrSpeed: 10000000},
		},
		Replies: map[ofp.MultipartType]ofp.MultipartBody{},
		err:     map[string]error{},
	}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *Backend) record(method string, arg any) error {
	b.mu.Lock()
	b.calls = append(b.calls, Call{Method: method, Arg: arg, At: time.Now()})
	err := b.err[method]
	hook := b.hook
	b.cond.Broadcast()
	b.mu.Unlock()
	if hook != nil {
		if herr := hook(method, arg); herr != nil {
			return herr
		}
	}
	return err
}

// SetErr makes method fail with err (nil: succeed again).
func (b *Backend) SetErr(method string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.err, method)
		return
	}
	b.err[method] = err
}

// SetHook installs a function run on every call (nil removes it).
func (b *Backend) SetHook(f func(method string, arg any) error) {
	b.mu.Lock()
	b.hook = f
	b.mu.Unlock()
}

// Calls returns the recorded calls of a method ("" for all).
func (b *Backend) Calls(method string) []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Call
	for _, c := range b.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the recorded calls.
func (b *Backend) Reset() {
	b.mu.Lock()
	b.calls = nil
	b.mu.Unlock()
}

// WaitCalls waits until the method has been called n times and returns the
// calls, failing the test after d.
func (b *Backend) WaitCalls(t testing.TB, method string, n int, d time.Duration) []Call {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if c := b.Calls(method); len(c) >= n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend: %d %s calls after %s, want %d (all calls: %v)", len(b.Calls(method)), method, d, n, b.methods())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *Backend) methods() []string {
	var s []string
	for _, c := range b.Calls("") {
		s = append(s, c.Method)
	}
	return s
}

// SetReply programs the reply of a multipart type.
func (b *Backend) SetReply(body ofp.MultipartBody) {
	b.mu.Lock()
	b.Replies[body.MultipartType()] = body
	b.mu.Unlock()
}

func (b *Backend) Features(ctx context.Context) (openflow.Features, error) {
	err := b.record("Features", nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Feat, err
}

func (b *Backend) Ports(ctx context.Context) ([]ofp.Port, error) {
	err := b.record("Ports", nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ofp.Port(nil), b.PortList...), err
}

func (b *Backend) FlowMod(ctx context.Context, fm *ofp.FlowMod) error {
	return b.record("FlowMod", fm)
}

func (b *Backend) GroupMod(ctx context.Context, gm *ofp.GroupMod) error {
	return b.record("GroupMod", gm)
}

func (b *Backend) MeterMod(ctx context.Context, mm *ofp.MeterMod) error {
	return b.record("MeterMod", mm)
}

func (b *Backend) PortMod(ctx context.Context, pm *ofp.PortMod) error {
	return b.record("PortMod", pm)
}

func (b *Backend) TableMod(ctx context.Context, tm *ofp.TableMod) error {
	return b.record("TableMod", tm)
}

func (b *Backend) PacketOut(ctx context.Context, po *ofp.PacketOut) error {
	return b.record("PacketOut", po)
}

func (b *Backend) SetFragments(ctx context.Context, mode uint16) error {
	return b.record("SetFragments", mode)
}

func (b *Backend) Queues(ctx context.Context, port uint32) ([]ofp.Queue, error) {
	err := b.record("Queues", port)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.QueueList, err
}

func (b *Backend) Barrier(ctx context.Context) error { return b.record("Barrier", nil) }

func (b *Backend) Stats(ctx context.Context, req ofp.MultipartBody) (ofp.MultipartBody, error) {
	if err := b.record("Stats", req); err != nil {
		return nil, err
	}
	b.mu.Lock()
	r, ok := b.Replies[req.MultipartType()]
	b.mu.Unlock()
	if ok {
		return r, nil
	}
	switch req.(type) {
	case *ofp.FlowStatsRequest:
		return &ofp.FlowStatsReply{}, nil
	case *ofp.AggregateStatsRequest:
		return &ofp.AggregateStats{}, nil
	case *ofp.TableStatsRequest:
		r := &ofp.TableStatsReply{}
		for i := 0; i < int(b.Feat.NTables); i++ {
			r.Tables = append(r.Tables, ofp.TableStats{TableID: uint8(i), Wildcards: 0x3fffff, MaxEntries: 1000000})
		}
		return r, nil
	case *ofp.TableFeaturesRequest:
		return &ofp.TableFeaturesReply{Tables: ofp.BuildTableFeatures(int(b.Feat.NTables), 1000000, ofp.DefaultTableCaps())}, nil
	case *ofp.PortStatsRequest:
		return &ofp.PortStatsReply{}, nil
	case *ofp.QueueStatsRequest:
		return &ofp.QueueStatsReply{}, nil
	case *ofp.GroupStatsRequest:
		return &ofp.GroupStatsReply{}, nil
	case *ofp.GroupDescRequest:
		return &ofp.GroupDescReply{}, nil
	case *ofp.GroupFeaturesRequest:
		return &ofp.GroupFeatures{}, nil
	case *ofp.MeterStatsRequest:
		return &ofp.MeterStatsReply{}, nil
	case *ofp.MeterConfigRequest:
		return &ofp.MeterConfigReply{}, nil
	case *ofp.MeterFeaturesRequest:
		return &ofp.MeterFeatures{}, nil
	}
	return nil, ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadMultipart, "fake backend: %s", req.MultipartType())
}
