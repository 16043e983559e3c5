// Command brain is the brain's scale benchmark: 1,000 hosts (the real agent
// code on in-memory dataplanes, in this process), 100,000 ports and 5,000
// networks, against an embedded etcd with fsync on and the brain, each in
// its own child process so that their CPU is measured apart. See
// docs/brain.md for what it measures and the figures.
//
//	go run ./bench/brain [-hosts 1000] [-networks 5000] [-ports 100000] [-steady 60s] [-burst 10000] [-json FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	mode := flag.String("mode", "bench", "bench, or a child role: etcd, brain")
	dir := flag.String("dir", "", "work directory (etcd data, socket); default a new temporary one")
	noFsync := flag.Bool("no-fsync", false, "etcd without fsync (a labelled comparison only)")
	ep := flag.String("etcd", "", "brain child: etcd endpoint")
	socket := flag.String("socket", "", "brain child: socket")
	prof := flag.String("cpuprofile", "", "brain child: write a CPU profile")
	expect := flag.Int("expect", 0, "heapagent child: remote MACs to wait for")
	hosts := flag.Int("hosts", 1000, "hosts (agents)")
	nets := flag.Int("networks", 5000, "networks")
	ports := flag.Int("ports", 100000, "ports")
	zipf := flag.Float64("zipf", 0.8, "exponent of the network size distribution")
	maxPorts := flag.Int("max-ports-per-net", 500, "largest network")
	pphn := flag.Int("ports-per-host-per-net", 2, "ports per host in a network (hosts per network = ports / this, at most 500)")
	conc := flag.Int("fill-concurrency", 64, "concurrent binds during the fill")
	rate := flag.Float64("rate", 50, "steady binds per second")
	steady := flag.Duration("steady", 60*time.Second, "steady phase length")
	burst := flag.Int("burst", 10000, "binds issued at once")
	heap := flag.Int("heap-macs", 100000, "remote MACs loaded into one agent for the heap figure (0: skip)")
	split := flag.Bool("split", true, "etcd and the brain in child processes (their CPU apart)")
	brainProf := flag.String("brain-profile", "", "write the brain's CPU profile (fill to burst) to this file")
	agentsProf := flag.String("agents-profile", "", "write this process's (the agents') CPU profile, fill to burst")
	jsonOut := flag.String("json", "", "write the result as JSON to this file")
	flag.Parse()
	var err error
	switch *mode {
	case "etcd":
		err = runEtcdChild(*dir, *noFsync)
	case "brain":
		err = runBrainChild(*ep, *socket, *prof)
	case "heapagent":
		exitWithParent()
		var b int64
		var ops uint64
		b, ops, err = heapAgent(context.Background(), *socket, *expect)
		if err == nil {
			fmt.Printf("READY %d %d\n", b, ops)
			select {}
		}
	case "bench":
		d := *dir
		if d == "" {
			d, err = os.MkdirTemp("/var/tmp", "sybench")
			if err != nil {
				break
			}
			defer os.RemoveAll(d)
		}
		var r *Result
		r, err = Run(Params{Hosts: *hosts, Networks: *nets, Ports: *ports, Zipf: *zipf, MaxPortsPerNet: *maxPorts, PortsPerHostPerNet: *pphn,
			FillConcurrency: *conc, SteadyRate: *rate, SteadyFor: *steady, Burst: *burst, HeapMACs: *heap, Split: *split, NoFsync: *noFsync,
			Dir: d, Seed: 1, BrainProfile: *brainProf, AgentsProfile: *agentsProf, Out: os.Stdout})
		if err == nil {
			printTable(r)
			if *jsonOut != "" {
				b, _ := json.MarshalIndent(r, "", "  ")
				err = os.WriteFile(*jsonOut, b, 0o644)
			}
		}
	default:
		err = fmt.Errorf("mode %q is not valid; allowed: bench, etcd, brain", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/brain:", err)
		os.Exit(1)
	}
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func printTable(r *Result) {
	p := r.Params
	fmt.Printf("\n| measure | result | target | |\n|---|---|---|---|\n")
	fmt.Printf("| disk fdatasync 4 KiB | p50 %s, p99 %s | (reported) | |\n", r.FsyncP50, r.FsyncP99)
	fmt.Printf("| bind → all interested agents programmed at %.0f binds/s | p50 %s, p99 %s (max %s, n=%d) | p50 ≤ 30 ms, p99 ≤ 150 ms | %s |\n", r.SteadyRate, r.SteadyLatency.P50, r.SteadyLatency.P99, r.SteadyLatency.Max, r.SteadyLatency.N,
		mark(r.SteadyLatency.P50 <= 30*time.Millisecond && r.SteadyLatency.P99 <= 150*time.Millisecond))
	fmt.Printf("| %d binds at once, converged | %s | ≤ 10 s | %s |\n", r.BurstBinds, r.BurstTook.Round(time.Millisecond), mark(r.BurstTook <= 10*time.Second))
	fmt.Printf("| sustained binds/s (fill of %d, all programmed) | %.0f/s (writes %.0f/s; p50 %s p99 %s) | ≥ 500/s | %s |\n", r.FillBinds, r.FillRate, r.FillWriteRate, r.FillLatency.P50, r.FillLatency.P99, mark(r.FillRate >= 500))
	fmt.Printf("| agent heap per 100k remote MACs | %.1f MB | ≤ 20 MB | %s |\n", float64(r.HeapPer100k)/1e6, mark(r.HeapPer100k > 0 && r.HeapPer100k <= 20e6))
	fmt.Printf("| agent kill -9 and restart with %d remote MACs | resynced in %s, %d entries changed | ≤ 2 s, 0 changed | %s |\n", r.HeapMACs, r.RestartResync.Round(time.Millisecond), r.RestartOps, mark(r.RestartResync > 0 && r.RestartResync <= 2*time.Second && r.RestartOps == 0))
	if p.Split {
		fmt.Printf("| brain CPU per bind | %s (etcd %s) | ≤ 200 µs | %s |\n", r.BrainCPUBind, r.EtcdCPUBind, mark(r.BrainCPUBind <= 200*time.Microsecond))
	}
	fmt.Printf("| update messages per bind / hosts in the network | %.2f / %.2f = %.2f× (+%.2f per bind to hosts joining a network; idle %.2f msgs/host/10 s) | ≤ 1.1× | %s |\n", r.MsgsPerBind, r.HostsPerBind, r.MsgsPerBind/max(r.HostsPerBind, 1e-9), r.JoinMsgs, r.IdlePerHost10, mark(r.MsgsPerBind <= 1.1*r.HostsPerBind))
	fmt.Printf("| all %d agents reconnect at once (brain kill -9) | %s, %d entries changed | ≤ 15 s | %s |\n", p.Hosts, r.Reconnect.Round(time.Millisecond), r.ReconnectOps, mark(r.Reconnect <= 15*time.Second))
	fmt.Printf("| etcd db after compaction + defrag | %.1f MB (before %.1f MB) | ≤ 150 MB | %s |\n", float64(r.DBAfter)/1e6, float64(r.DBBefore)/1e6, mark(r.DBAfter <= 150e6))
	if p.Split {
		fmt.Printf("| RSS | brain %d MB, etcd %d MB, %d agents + driver %d MB | | |\n", r.BrainRSS>>20, r.EtcdRSS>>20, p.Hosts, r.AgentsRSS>>20)
	}
	fmt.Printf("\n%d hosts, %d networks, %d ports (Zipf %.1f, ≤ %d ports and ≤ %d hosts per network): %d port records in all views.\n",
		p.Hosts, p.Networks, p.Ports, p.Zipf, p.MaxPortsPerNet, min(500, p.MaxPortsPerNet/p.PortsPerHostPerNet), r.ViewEntries)
}
