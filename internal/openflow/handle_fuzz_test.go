package openflow

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// okBackend accepts everything and answers stats with empty replies.
type okBackend struct{}

func (okBackend) Features(context.Context) (Features, error) {
	return Features{DatapathID: 1, NTables: 4}, nil
}
func (okBackend) Ports(context.Context) ([]ofp.Port, error) {
	return []ofp.Port{{PortNo: 1, Name: "p1"}}, nil
}
func (okBackend) FlowMod(context.Context, *ofp.FlowMod) error     { return nil }
func (okBackend) GroupMod(context.Context, *ofp.GroupMod) error   { return nil }
func (okBackend) MeterMod(context.Context, *ofp.MeterMod) error   { return nil }
func (okBackend) PortMod(context.Context, *ofp.PortMod) error     { return nil }
func (okBackend) TableMod(context.Context, *ofp.TableMod) error   { return nil }
func (okBackend) PacketOut(context.Context, *ofp.PacketOut) error { return nil }
func (okBackend) SetFragments(context.Context, uint16) error      { return nil }
func (okBackend) Queues(context.Context, uint32) ([]ofp.Queue, error) {
	return nil, nil
}
func (okBackend) Barrier(context.Context) error { return nil }
func (okBackend) Stats(_ context.Context, req ofp.MultipartBody) (ofp.MultipartBody, error) {
	switch req.(type) {
	case *ofp.FlowStatsRequest:
		return &ofp.FlowStatsReply{Flows: []ofp.FlowStats{{Priority: 1}}}, nil
	case *ofp.AggregateStatsRequest:
		return &ofp.AggregateStats{}, nil
	case *ofp.TableStatsRequest:
		return &ofp.TableStatsReply{Tables: []ofp.TableStats{{}}}, nil
	case *ofp.TableFeaturesRequest:
		return &ofp.TableFeaturesReply{Tables: ofp.BuildTableFeatures(2, 10, ofp.DefaultTableCaps())}, nil
	case *ofp.PortStatsRequest:
		return &ofp.PortStatsReply{Ports: []ofp.PortStats{{PortNo: 1}}}, nil
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
	return nil, ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadMultipart, "no")
}

// FuzzHandle feeds arbitrary messages to a connection's handler after the
// handshake: nothing a peer sends may panic the agent, and whatever the
// agent answers must be a valid message.
func FuzzHandle(f *testing.F) {
	for _, seed := range [][]byte{
		{4, 5, 0, 8, 0, 0, 0, 1},
		{4, 2, 0, 12, 0, 0, 0, 1, 1, 2, 3, 4},
		{4, 18, 0, 16, 0, 0, 0, 1, 0, 13, 0, 0, 0, 0, 0, 0},
		{4, 24, 0, 24, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5},
		{1, 4, 0, 20, 0, 0, 0, 2, 0, 0, 0x23, 0x20, 0, 0, 0, 12, 0, 0, 0, 2},
	} {
		f.Add(seed, seed[0] == 1)
	}
	a, err := New(Config{Name: "fuzz", Backend: okBackend{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer a.cancel()
	f.Fuzz(func(t *testing.T, raw []byte, ten bool) {
		v := ofp.Version13
		if ten {
			v = ofp.Version10
		}
		if len(raw) >= 4 {
			raw[0] = v
			raw[2], raw[3] = byte(len(raw)>>8), byte(len(raw))
		}
		ours, theirs := net.Pipe()
		defer theirs.Close()
		c := a.newConn(ours, Target{Kind: PassiveUnix, Addr: "fuzz"})
		defer c.close()
		c.settings.Store(&connSettings{version: v, async: ofp.DefaultAsyncConfig})
		c.handshaken.Store(true)
		c.handle(v, raw)
		// Every queued answer decodes.
		for {
			select {
			case b := <-c.send:
				if _, _, err := ofp.Unmarshal(b); err != nil {
					t.Fatalf("agent answered %x with an undecodable %x: %v", raw, b, err)
				}
				continue
			default:
			}
			break
		}
	})
}
