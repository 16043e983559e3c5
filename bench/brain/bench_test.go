package main

import (
	"os"
	"testing"
	"time"
)

// TestShort runs the whole benchmark small, in one process, in a few
// seconds: every phase must complete and converge (the figures of a short
// run say nothing; `go run ./bench/brain` is the measurement).
func TestShort(t *testing.T) {
	dir, err := os.MkdirTemp("", "sybench")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	r, err := Run(Params{Hosts: 20, Networks: 30, Ports: 600, Zipf: 0.8, MaxPortsPerNet: 60, PortsPerHostPerNet: 2, FillConcurrency: 16,
		SteadyRate: 50, SteadyFor: 2 * time.Second, Burst: 200, HeapMACs: 2000, Split: false, Dir: dir, Seed: 1, Out: testOut{t}})
	if err != nil {
		t.Fatal(err)
	}
	if r.SteadyLatency.N != 100 || r.BurstLatency.N != 200 || r.FillLatency.N != 300 {
		t.Fatalf("latency samples: fill %d steady %d burst %d", r.FillLatency.N, r.SteadyLatency.N, r.BurstLatency.N)
	}
	if r.ReconnectOps != 0 {
		t.Fatalf("reconnect changed %d entries", r.ReconnectOps)
	}
	// Every interested host hears of a bind: an update, or (joining the
	// network) the network itself.
	if r.MsgsPerBind+r.JoinMsgs < r.HostsPerBind || r.MsgsPerBind > 1.1*r.HostsPerBind {
		t.Fatalf("%.2f update + %.2f join messages per bind for %.2f hosts", r.MsgsPerBind, r.JoinMsgs, r.HostsPerBind)
	}
	if r.RestartOps != 0 || r.RestartResync <= 0 {
		t.Fatalf("agent restart: %d ops in %s", r.RestartOps, r.RestartResync)
	}
	// The heap figure of a short in-process run is noise (other agents'
	// garbage moves it either way); the phase must complete.
	if r.HeapMACs != 2000 || r.DBAfter <= 0 {
		t.Fatalf("heap phase with %d MACs, db %d", r.HeapMACs, r.DBAfter)
	}
}

type testOut struct{ t *testing.T }

func (w testOut) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
