package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
	"github.com/switchyard-net/switchyard/internal/agent/memdp"
	"github.com/switchyard-net/switchyard/internal/brain/client"
	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// Params are the benchmark's knobs.
type Params struct {
	Hosts, Networks, Ports int
	Zipf                   float64
	MaxPortsPerNet         int
	PortsPerHostPerNet     int
	FillConcurrency        int
	SteadyRate             float64
	SteadyFor              time.Duration
	Burst                  int
	HeapMACs               int
	Split                  bool
	NoFsync                bool
	Dir                    string
	Seed                   uint64
	BrainProfile           string
	AgentsProfile          string
	Out                    io.Writer
}

// Result is what a run measured.
type Result struct {
	Params          Params        `json:"-"`
	FsyncP50        time.Duration `json:"fsync_p50"`
	FsyncP99        time.Duration `json:"fsync_p99"`
	ViewEntries     int           `json:"view_entries"`
	MeanHostsPerNet float64       `json:"mean_hosts_per_bind"`
	ConnectAll      time.Duration `json:"connect_all"`
	NetworksTook    time.Duration `json:"networks_took"`

	FillBinds     int           `json:"fill_binds"`
	FillWriteRate float64       `json:"fill_write_rate"`
	FillRate      float64       `json:"fill_programmed_rate"`
	FillLatency   stats         `json:"fill_latency"`
	SteadyLatency stats         `json:"steady_latency"`
	SteadyRate    float64       `json:"steady_rate"`
	MsgsPerBind   float64       `json:"msgs_per_bind"`
	HostsPerBind  float64       `json:"hosts_per_bind"`
	IdlePerHost10 float64       `json:"idle_msgs_per_host_per_10s"`
	BurstBinds    int           `json:"burst_binds"`
	BurstTook     time.Duration `json:"burst_converged"`
	BurstLatency  stats         `json:"burst_latency"`
	BrainCPUBind  time.Duration `json:"brain_cpu_per_bind"`
	EtcdCPUBind   time.Duration `json:"etcd_cpu_per_bind"`
	Reconnect     time.Duration `json:"reconnect_converged"`
	ReconnectOps  uint64        `json:"reconnect_ops"`
	HeapMACs      int           `json:"heap_macs"`
	HeapBytes     int64         `json:"agent_heap_bytes"`
	HeapPer100k   int64         `json:"agent_heap_per_100k_macs"`
	DBBefore      int64         `json:"db_before_compaction"`
	DBAfter       int64         `json:"db_after_compaction_defrag"`
	BrainRSS      int64         `json:"brain_rss"`
	EtcdRSS       int64         `json:"etcd_rss"`
	AgentsRSS     int64         `json:"agents_rss"`
	LoadStart     string        `json:"loadavg_start"`
	LoadEnd       string        `json:"loadavg_end"`
	JoinMsgs      float64       `json:"join_msgs_per_bind"`
	RestartResync time.Duration `json:"agent_restart_resync"`
	RestartOps    uint64        `json:"agent_restart_ops"`
	Resyncs       uint64        `json:"resyncs"`
}

func logf(p *Params, format string, a ...any) {
	if p.Out != nil {
		fmt.Fprintf(p.Out, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
	}
}

type runAgent struct {
	a  *agent.Agent
	dp *memdp.Dataplane
}

// Run runs the benchmark.
func Run(p Params) (*Result, error) {
	r := &Result{Params: p}
	t := newTopology(&p)
	r.ViewEntries = t.viewEntries()
	r.LoadStart = loadavg()
	defer func() { r.LoadEnd = loadavg() }()
	logf(&p, "topology: %d hosts, %d networks (largest %d ports on %d hosts), %d ports; all agents' views together: %d port records",
		p.Hosts, p.Networks, t.nets[0].size, len(t.nets[0].hosts), p.Ports, r.ViewEntries)
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	r.FsyncP50, r.FsyncP99, err = fsyncLatency(p.Dir, 200)
	if err != nil {
		return nil, err
	}
	logf(&p, "disk: fdatasync of 4 KiB p50 %s p99 %s (%s)", r.FsyncP50, r.FsyncP99, p.Dir)
	be, err := startBackend(&p)
	if err != nil {
		return nil, err
	}
	defer be.close()
	c, err := client.New("unix:"+be.socket, "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Agents.
	pr := newProbe(t)
	agents := make([]runAgent, p.Hosts)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < p.Hosts; i++ {
		dp := memdp.New(false)
		hi := i
		dp.OnApply = func(ops []agent.Op, at time.Time) { pr.onApply(hi, ops, at) }
		a, err := agent.New(agent.Config{Brain: "unix:" + be.socket, Host: t.hosts[i], VTEPs: []netip.Addr{netip.MustParseAddr(t.vteps[i])}, Dataplane: dp})
		if err != nil {
			return nil, err
		}
		agents[i] = runAgent{a, dp}
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	if err := waitConnected(c, p.Hosts, 120*time.Second); err != nil {
		return nil, err
	}
	r.ConnectAll = time.Since(start)
	logf(&p, "%d agents registered and streaming in %s", p.Hosts, r.ConnectAll.Round(time.Millisecond))

	// Networks.
	start = time.Now()
	if err := parallel(32, len(t.nets), func(i int) error {
		_, err := c.CreateNetwork(ctx, model.Network{Name: t.nets[i].name, VNI: t.nets[i].vni})
		return err
	}); err != nil {
		return nil, err
	}
	r.NetworksTook = time.Since(start)
	logf(&p, "%d networks created in %s", len(t.nets), r.NetworksTook.Round(time.Millisecond))

	bind := func(tp *tport) error {
		n := &t.nets[tp.net]
		n.bound[tp.host]++
		hosts := make([]int, 0, len(n.bound))
		for h := range n.bound {
			hosts = append(hosts, h)
		}
		pr.expect(tp.key, hosts, time.Now())
		_, err := c.Plug(ctx, model.Port{ID: tp.id, Network: n.name, Host: t.hosts[tp.host], MAC: tp.mac, IPs: tp.ips}, 0)
		return err
	}
	var bmu sync.Mutex // the topology's bound counts
	lockedBind := func(tp *tport) error {
		bmu.Lock()
		n := &t.nets[tp.net]
		n.bound[tp.host]++
		hosts := make([]int, 0, len(n.bound))
		for h := range n.bound {
			hosts = append(hosts, h)
		}
		pr.expect(tp.key, hosts, time.Now())
		bmu.Unlock()
		_, err := c.Plug(ctx, model.Port{ID: tp.id, Network: n.name, Host: t.hosts[tp.host], MAC: tp.mac, IPs: tp.ips}, 0)
		return err
	}
	_ = bind
	cpu0, ecpu0 := be.brainCPU(), be.etcdCPU()
	stopProf := func() {}
	if p.AgentsProfile != "" {
		f, err := os.Create(p.AgentsProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		stopProf = func() { pprof.StopCPUProfile(); f.Close() }
	}

	// Fill: as fast as the brain takes binds (sustained throughput).
	fill := p.Ports - p.Burst - int(p.SteadyRate*p.SteadyFor.Seconds())
	if fill < 0 {
		fill = 0
	}
	r.FillBinds = fill
	start = time.Now()
	if err := parallel(p.FillConcurrency, fill, func(i int) error { return lockedBind(&t.ports[i]) }); err != nil {
		return nil, err
	}
	wrote := time.Since(start)
	last, left := pr.wait(10 * time.Minute)
	if left > 0 {
		return nil, fmt.Errorf("fill: %d binds never programmed", left)
	}
	r.FillWriteRate = float64(fill) / wrote.Seconds()
	r.FillRate = float64(fill) / last.Sub(start).Seconds()
	r.FillLatency = summarize(pr.take())
	logf(&p, "fill: %d binds written at %.0f/s, all programmed at %.0f/s; bind→all programmed p50 %s p99 %s", fill, r.FillWriteRate, r.FillRate, r.FillLatency.P50, r.FillLatency.P99)

	// Steady churn at SteadyRate.
	st0, _ := c.Status(ctx)
	steady := int(p.SteadyRate * p.SteadyFor.Seconds())
	hostsSum := 0
	start = time.Now()
	var serr atomic.Value
	var swg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / p.SteadyRate))
	for i := 0; i < steady; i++ {
		<-tick.C
		tp := &t.ports[fill+i]
		bmu.Lock()
		hostsSum += len(t.nets[tp.net].bound)
		if t.nets[tp.net].bound[tp.host] == 0 {
			hostsSum++
		}
		bmu.Unlock()
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := lockedBind(tp); err != nil {
				serr.Store(err)
			}
		}()
	}
	tick.Stop()
	swg.Wait()
	if e, ok := serr.Load().(error); ok {
		return nil, e
	}
	if _, left := pr.wait(time.Minute); left > 0 {
		return nil, fmt.Errorf("steady: %d binds never programmed", left)
	}
	steadyTook := time.Since(start)
	st1, _ := c.Status(ctx)
	r.SteadyRate = float64(steady) / steadyTook.Seconds()
	r.SteadyLatency = summarize(pr.take())
	if steady > 0 {
		r.MsgsPerBind = float64((st1.Delivered-st1.Progress-st1.Joins)-(st0.Delivered-st0.Progress-st0.Joins)) / float64(steady)
		r.JoinMsgs = float64(st1.Joins-st0.Joins) / float64(steady)
		r.HostsPerBind = float64(hostsSum) / float64(steady)
		r.IdlePerHost10 = float64(st1.Progress-st0.Progress) / float64(p.Hosts) / (steadyTook.Seconds() / 10)
	}
	logf(&p, "steady: %d binds at %.1f/s; bind→all programmed p50 %s p99 %s max %s; %.1f update messages per bind for %.1f interested hosts (+%.1f to hosts joining a network); idle progress %.2f msgs/host/10s",
		steady, r.SteadyRate, r.SteadyLatency.P50, r.SteadyLatency.P99, r.SteadyLatency.Max, r.MsgsPerBind, r.HostsPerBind, r.JoinMsgs, r.IdlePerHost10)

	// Burst: Burst binds at once.
	start = time.Now()
	if err := parallel(256, p.Burst, func(i int) error { return lockedBind(&t.ports[fill+steady+i]) }); err != nil {
		return nil, err
	}
	last, left = pr.wait(5 * time.Minute)
	if left > 0 {
		return nil, fmt.Errorf("burst: %d binds never programmed", left)
	}
	r.BurstBinds = p.Burst
	r.BurstTook = last.Sub(start)
	r.BurstLatency = summarize(pr.take())
	logf(&p, "burst: %d binds at once, all programmed everywhere after %s (p50 %s p99 %s)", p.Burst, r.BurstTook.Round(time.Millisecond), r.BurstLatency.P50, r.BurstLatency.P99)
	if st, err := c.Status(ctx); err == nil {
		r.Resyncs = st.Resyncs
		logf(&p, "brain: %d messages delivered, %d agent queues dropped for a resync", st.Delivered, st.Resyncs)
	}
	if be.split {
		binds := fill + steady + p.Burst
		r.BrainCPUBind = (be.brainCPU() - cpu0) / time.Duration(binds)
		r.EtcdCPUBind = (be.etcdCPU() - ecpu0) / time.Duration(binds)
		ep, bp := be.pids()
		r.BrainRSS, r.EtcdRSS = procRSS(bp), procRSS(ep)
		logf(&p, "CPU per bind (fill+steady+burst): brain %s, etcd %s; RSS brain %d MB, etcd %d MB", r.BrainCPUBind, r.EtcdCPUBind, r.BrainRSS>>20, r.EtcdRSS>>20)
	}
	r.AgentsRSS = procRSS(os.Getpid())
	be.stopProfile()
	stopProf()

	// Every agent reconnects at once: kill -9 the brain, start a new one.
	var ops0 uint64
	for _, a := range agents {
		for _, n := range a.dp.Counts() {
			ops0 += n
		}
	}
	snaps := make([]uint64, len(agents))
	for i, a := range agents {
		snaps[i] = a.a.Stats().Snapshots
	}
	be.killBrain()
	start = time.Now()
	if err := be.startBrain(""); err != nil {
		return nil, err
	}
	head, err := be.cli.Get(ctx, "/switchyard/v1/no-such-key")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		done := 0
		for i, a := range agents {
			if a.a.Stats().Snapshots > snaps[i] && a.a.Applied() >= head.Header.Revision {
				done++
			}
		}
		if done == len(agents) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("reconnect: %d of %d agents converged", done, len(agents))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Reconnect = time.Since(start)
	var ops1 uint64
	for _, a := range agents {
		for _, n := range a.dp.Counts() {
			ops1 += n
		}
	}
	r.ReconnectOps = ops1 - ops0
	logf(&p, "reconnect: brain killed and restarted; all %d agents resynced in %s, changing %d dataplane entries", len(agents), r.Reconnect.Round(time.Millisecond), r.ReconnectOps)

	// Agent memory per remote MAC.
	if p.HeapMACs > 0 {
		if err := heapPhase(ctx, &p, r, c, be.socket); err != nil {
			return nil, err
		}
	}

	// etcd footprint after compaction and defragmentation.
	resp, err := be.cli.Status(ctx, be.etcdEP)
	if err != nil {
		return nil, err
	}
	r.DBBefore = resp.DbSize
	if _, err := be.cli.Compact(ctx, resp.Header.Revision); err != nil {
		return nil, err
	}
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Minute)
	_, err = be.cli.Defragment(dctx, be.etcdEP)
	dcancel()
	if err != nil {
		return nil, err
	}
	resp, err = be.cli.Status(ctx, be.etcdEP)
	if err != nil {
		return nil, err
	}
	r.DBAfter = resp.DbSize
	logf(&p, "etcd db: %.1f MB, %.1f MB after compaction and defragmentation", float64(r.DBBefore)/1e6, float64(r.DBAfter)/1e6)
	return r, nil
}

func waitConnected(c *client.Client, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		hs, err := c.Hosts(context.Background())
		if err == nil {
			k := 0
			for _, h := range hs {
				if h.Connected && h.Alive {
					k++
				}
			}
			if k >= n {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("agents did not all connect within %s", d)
}

func parallel(workers, n int, f func(int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := first.Load().(error); ok {
		return e
	}
	return nil
}

// countingDP programs nothing and keeps nothing: the agent's own memory is
// what the heap phase measures.
type countingDP struct{ ops atomic.Uint64 }

func (d *countingDP) Programmed(context.Context) (*agent.State, error) { return agent.NewState(), nil }
func (d *countingDP) Apply(_ context.Context, ops []agent.Op) []agent.OpError {
	d.ops.Add(uint64(len(ops)))
	return nil
}

// heapPhase loads one agent with HeapMACs remote ports (on hosts that
// report but never stream, so nothing else receives them) and measures the
// live heap it adds.
func heapPhase(ctx context.Context, p *Params, r *Result, c *client.Client, socket string) error {
	const fake = 50
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (netConn, error) { return dialUnix(ctx, socket) }}}
	post := func(path string, in, out any) error {
		b, _ := json.Marshal(in)
		resp, err := hc.Post("http://brain"+path, "application/json", strings.NewReader(string(b)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			raw, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s: %s", path, raw)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	for i := 0; i < fake; i++ {
		var rep wire.RegisterReply
		if err := post(wire.PathRegister, wire.RegisterRequest{Host: fmt.Sprintf("heap%02d", i), VTEPs: []string{fmt.Sprintf("198.19.0.%d", i+1)}}, &rep); err != nil {
			return err
		}
		go func() {
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-hctx.Done():
					return
				case <-t.C:
					_ = post(wire.PathReport, wire.Report{Session: rep.Session}, nil)
				}
			}
		}()
	}
	if _, err := c.CreateNetwork(ctx, model.Network{Name: "heapnet", VNI: 9000000}); err != nil {
		return err
	}
	start := time.Now()
	if err := parallel(p.FillConcurrency, p.HeapMACs, func(i int) error {
		j := i + 1
		_, err := c.Plug(ctx, model.Port{ID: fmt.Sprintf("heap%06d", j), Network: "heapnet", Host: fmt.Sprintf("heap%02d", j%fake),
			MAC: fmt.Sprintf("06:00:00:%02x:%02x:%02x", byte(j>>16), byte(j>>8), byte(j)), IPs: []string{fmt.Sprintf("2001:db8:ffff::%x:%x", j>>16, j&0xffff)}}, 0)
		return err
	}); err != nil {
		return err
	}
	if _, err := c.Plug(ctx, model.Port{ID: "heap-probe-port", Network: "heapnet", Host: "heap-probe", MAC: "06:ff:00:00:00:01"}, 0); err != nil {
		return err
	}
	logf(p, "heap: %d remote ports bound in %s", p.HeapMACs, time.Since(start).Round(time.Millisecond))
	var bytes int64
	var ops uint64
	if p.Split {
		// In a process of its own, so that nothing else's memory counts.
		cmd, line, err := child("heapagent", "-socket", socket, "-expect", fmt.Sprint(p.HeapMACs))
		if err != nil {
			return err
		}
		_, _ = fmt.Sscan(line, &bytes, &ops)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	} else {
		var err error
		bytes, ops, err = heapAgent(ctx, socket, p.HeapMACs)
		if err != nil {
			return err
		}
	}
	r.HeapMACs = p.HeapMACs
	r.HeapBytes = bytes
	r.HeapPer100k = r.HeapBytes * 100000 / int64(p.HeapMACs)
	logf(p, "heap: one agent holding %d remote MACs (%d ops) adds %.1f MB of live heap: %.1f MB per 100k", p.HeapMACs, ops, float64(r.HeapBytes)/1e6, float64(r.HeapPer100k)/1e6)

	// kill -9 and restart of an agent holding all of them: the switch
	// (memdp) keeps its state; the new agent must resync without changing
	// anything.
	dp := memdp.New(false)
	cfg := agent.Config{Brain: "unix:" + socket, Host: "heap-probe", VTEPs: []netip.Addr{netip.MustParseAddr("198.19.1.1")}, Dataplane: dp}
	run := func() (*agent.Agent, context.CancelFunc, chan struct{}, error) {
		a, err := agent.New(cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		return a, cancel, done, nil
	}
	a, cancel, done, err := run()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for a.Stats().RemoteMACs < p.HeapMACs {
		if time.Now().After(deadline) {
			cancel()
			return fmt.Errorf("restart agent has %d of %d remote MACs", a.Stats().RemoteMACs, p.HeapMACs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	applied := a.Applied()
	cancel() // as kill -9: the agent does no cleanup; the dataplane keeps everything
	<-done
	var before uint64
	for _, n := range dp.Counts() {
		before += n
	}
	start = time.Now()
	a, cancel, done, err = run()
	if err != nil {
		return err
	}
	defer func() { cancel(); <-done }()
	for a.Applied() < applied || a.Stats().Snapshots == 0 {
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("restarted agent did not resync")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.RestartResync = time.Since(start)
	var after uint64
	for _, n := range dp.Counts() {
		after += n
	}
	r.RestartOps = after - before
	logf(p, "restart: an agent holding %d remote MACs killed and restarted; resynced in %s, changing %d dataplane entries", p.HeapMACs, r.RestartResync.Round(time.Millisecond), r.RestartOps)
	return nil
}

// heapAgent runs the probe agent until it holds want remote MACs and
// returns the live heap it added.
func heapAgent(ctx context.Context, socket string, want int) (int64, uint64, error) {
	before := liveHeap()
	dp := &countingDP{}
	a, err := agent.New(agent.Config{Brain: "unix:" + socket, Host: "heap-probe", VTEPs: []netip.Addr{netip.MustParseAddr("198.19.1.1")}, Dataplane: dp})
	if err != nil {
		return 0, 0, err
	}
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(actx) }()
	deadline := time.Now().Add(5 * time.Minute)
	for a.Stats().RemoteMACs < want {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("heap agent has %d of %d remote MACs", a.Stats().RemoteMACs, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := liveHeap()
	acancel()
	<-done
	runtime.KeepAlive(a)
	return after - before, dp.ops.Load(), nil
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
