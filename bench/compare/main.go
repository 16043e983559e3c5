// Command compare builds the same topologies on the Linux kernel, Open
// vSwitch 3.1 (userspace datapath) and Switchyard, drives the same traffic
// (iperf3 TCP 1 and 4 streams, iperf3 UDP with 64-byte payloads, ping)
// through each in one run, in interleaved rounds, and reports the medians
// and Switchyard's ratios to the kernel and to OVS of the same class.
//
// Run it as root from the module root, usually as
//
//	make bench-compare ARGS="--rounds 3 --duration 5"
//
// Everything it makes lives in network namespaces named cmp<pid>-…, with
// overlay 203.0.113.0/24 and underlay 198.18.0.0/24 addresses and no route
// out, and is removed after each system, also on failure and on Ctrl-C.
// See bench/compare/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cmdTimeoutShort bounds waits for a device to appear.
const cmdTimeoutShort = 15 * time.Second

type options struct {
	bin             string
	rounds          int
	duration        int
	only            string
	out             string
	profile         string
	underlayEthtool string
	udpLen          int
	udpRate         string
	pingCount       int
	flowsInstall    int
	verbose         bool
}

// harness is one invocation.
type harness struct {
	opts    options
	bin     string
	root    string // module root
	prefix  string // "cmp<pid>-"
	goBin   string
	runDir  string // <out>/<start time>: this run's results, raw outputs and logs
	started time.Time
	machine machineInfo
}

func main() {
	os.Exit(mainErr())
}

func mainErr() int {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/switchyard", "switchyard binary (relative to the module root unless absolute); built with 'go build ./cmd/switchyard' if missing")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds: each round builds and measures every selected system once")
	flag.IntVar(&o.duration, "duration", 5, "seconds per iperf3 run")
	flag.StringVar(&o.only, "only", "", "comma-separated systems to run: names (linux-bridge,switchyard-tap,...), numbers 1-10 (as listed above), a/b for a whole class, or none (only the flow-install comparison); default all")
	flag.StringVar(&o.out, "out", "bench/compare/out", "directory for results.md, results.json and logs (relative to the module root unless absolute)")
	flag.StringVar(&o.profile, "profile", "", "if set, fetch a 5 s CPU profile of each Switchyard daemon during an extra TCP run in the first round into this directory, and print 'go tool pprof -top'")
	flag.StringVar(&o.underlayEthtool, "underlay-ethtool", "tx off gro on", "'ethtool -K ul0' settings applied to both ends of the two-host underlay veth, for every two-host system (empty: kernel defaults)")
	flag.IntVar(&o.udpLen, "udp-len", 64, "iperf3 UDP payload bytes (-l)")
	flag.StringVar(&o.udpRate, "udp-rate", "0", "iperf3 UDP target rate (-b); 0 = as fast as the sender can")
	flag.IntVar(&o.pingCount, "ping-count", 20, "pings per RTT measurement (-c, at -i 0.01)")
	flag.IntVar(&o.flowsInstall, "flows-install", 100000, fmt.Sprintf("`N` rules for the flow-install comparison, run once per round after the systems: 'switchyard flow add br0 --file F' (daemon with --devices memory) vs 'ovs-ofctl -O OpenFlow13 add-flows br0 F' (OVS 3.1 netdev), seconds, rules/s, bytes per rule, time ratio; 0 = off, else %d-%d", aclMinRules, aclMaxRules))
	flag.BoolVar(&o.verbose, "v", false, "debug logging")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/compare [flags]   (as root)\n\nSystems:\n")
		for i, t := range topologies {
			fmt.Fprintf(flag.CommandLine.Output(), "  %2d %-20s (%s) %s\n", i+1, t.Name, t.Class, t.Desc)
		}
		fmt.Fprintln(flag.CommandLine.Output(), "\n(The *-acl systems are numbered next to their NORMAL-only twin: from 3 on, the\nnumbers are one or two higher than before they existed, see README.md.)")
		fmt.Fprintln(flag.CommandLine.Output(), "\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "compare: unexpected arguments %q (flags only; see -h)\n", flag.Args())
		return 2
	}
	if o.rounds < 1 || o.duration < 1 || o.pingCount < 1 || o.udpLen < 16 {
		fmt.Fprintln(os.Stderr, "compare: --rounds, --duration and --ping-count must be ≥ 1 and --udp-len ≥ 16")
		return 2
	}
	if o.flowsInstall != 0 && (o.flowsInstall < aclMinRules || o.flowsInstall > aclMaxRules) {
		fmt.Fprintf(os.Stderr, "compare: --flows-install %d: allowed: 0 (off) or %d-%d rules\n", o.flowsInstall, aclMinRules, aclMaxRules)
		return 2
	}
	selected, err := selectTopologies(o.only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 2
	}
	if len(selected) == 0 && o.flowsInstall == 0 {
		fmt.Fprintln(os.Stderr, "compare: --only none with --flows-install 0: nothing to do")
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "compare: must run as root: it creates network namespaces, veth/TAP/VXLAN links, and runs Switchyard and Open vSwitch daemons inside them (try: sudo make bench-compare)")
		return 1
	}

	h := &harness{opts: o, prefix: fmt.Sprintf("cmp%d-", os.Getpid())}
	if err := h.prepare(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	interrupted := false
	go func() {
		for s := range sigc {
			if !interrupted {
				interrupted = true
				slog.Warn("signal received: stopping the current measurement and cleaning up", "signal", s)
				cancel()
			} else {
				slog.Warn("cleanup in progress, please wait (it is bounded by timeouts)", "signal", s)
			}
		}
	}()

	res := h.runAll(ctx, selected)
	res.Interrupted = ctx.Err() != nil
	if err := h.writeResults(res); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	h.checkLeftovers()
	if res.Interrupted {
		return 130
	}
	return 0
}

// selectTopologies parses --only.
func selectTopologies(only string) ([]*topology, error) {
	if strings.TrimSpace(only) == "" {
		return topologies, nil
	}
	want := map[string]bool{}
	for _, f := range strings.Split(only, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		switch {
		case f == "none":
		case f == "a" || f == "b":
			for _, t := range topologies {
				if t.Class == f {
					want[t.Name] = true
				}
			}
		case topologyByName(f) != nil:
			want[f] = true
		default:
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > len(topologies) {
				var names []string
				for _, t := range topologies {
					names = append(names, t.Name)
				}
				return nil, fmt.Errorf("--only: unknown system %q; allowed: %s, 1-%d, a, b, none", f, strings.Join(names, ", "), len(topologies))
			}
			want[topologies[n-1].Name] = true
		}
	}
	var sel []*topology
	for _, t := range topologies {
		if want[t.Name] {
			sel = append(sel, t)
		}
	}
	return sel, nil
}

// prepare finds the module root, the binary (building it if missing), the
// go tool, the output dirs, and the machine's description.
func (h *harness) prepare() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return fmt.Errorf("go.mod not found above %s: run from the switchyard module", wd)
		}
		root = parent
	}
	h.root = root
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	h.opts.out, h.opts.profile = abs(h.opts.out), abs(h.opts.profile)
	h.bin = abs(h.opts.bin)
	h.goBin = "go"
	if p, err := exec.LookPath("go"); err == nil {
		h.goBin = p
	} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		h.goBin = "/usr/local/go/bin/go"
	}
	if _, err := os.Stat(h.bin); err != nil {
		slog.Info("switchyard binary missing; building it", "bin", h.bin)
		cmd := exec.Command(h.goBin, "build", "-trimpath", "-o", h.bin, "./cmd/switchyard")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w: %s", h.bin, err, out)
		}
	}
	for _, tool := range []string{"ip", "ethtool", "iperf3", "ping", "curl", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: run `bash bench/compare/deps.sh` (or `make bench-compare`, which does) first", tool)
		}
	}
	h.started = time.Now()
	h.runDir = filepath.Join(h.opts.out, h.started.Format("20060102-150405"))
	for _, d := range []string{h.opts.out, h.runDir, h.opts.profile} {
		if d != "" {
			if err := mkdir(d); err != nil {
				return err
			}
		}
	}
	h.machine = describeMachine(context.Background(), h)
	return nil
}

func mkdir(d string) error {
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", d, err)
	}
	return nil
}

// ovsMissing says why OVS systems cannot run, or "".
func ovsMissing() string {
	for _, tool := range []string{"ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-vsctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not installed (openvswitch-switch; run bench/compare/deps.sh)"
		}
	}
	if _, err := os.Stat(ovsSchema); err != nil {
		return ovsSchema + " missing (openvswitch-common)"
	}
	return ""
}

// runAll runs the rounds: round 1 builds and measures every system, then
// round 2, and so on.
func (h *harness) runAll(ctx context.Context, sel []*topology) *results {
	res := &results{Machine: h.machine, Started: h.started, Settings: h.settings(), Topologies: sel}
	noOVS := ovsMissing()
	for round := 1; round <= h.opts.rounds; round++ {
		for _, t := range sel {
			if ctx.Err() != nil {
				return res
			}
			idx := 0
			for i, tt := range topologies {
				if tt == t {
					idx = i + 1
				}
			}
			slog.Info("system", "round", fmt.Sprintf("%d/%d", round, h.opts.rounds), "name", t.Name)
			var rec *runRecord
			if t.Kind == "ovs" && noOVS != "" {
				rec = &runRecord{Round: round, Topology: t.Name, Error: noOVS}
			} else {
				rec = h.runOne(ctx, t, round, idx)
			}
			if rec.Error != "" {
				slog.Error("system not measured", "round", round, "name", t.Name, "err", rec.Error)
			} else {
				slog.Info("measured", "round", round, "name", t.Name, "figures", rec.brief())
			}
			res.Runs = append(res.Runs, rec)
		}
		if h.opts.flowsInstall > 0 && ctx.Err() == nil {
			slog.Info("flow install", "round", fmt.Sprintf("%d/%d", round, h.opts.rounds), "rules", h.opts.flowsInstall)
			fi := h.flowInstall(ctx, round, h.opts.flowsInstall, noOVS)
			slog.Info("flow install measured", "round", round, "figures", fi.brief())
			res.FlowInstall = append(res.FlowInstall, fi)
		}
	}
	res.Finished = time.Now()
	return res
}

// runOne builds topology t fresh, measures it, and tears it down.
func (h *harness) runOne(ctx context.Context, t *topology, round, idx int) (rec *runRecord) {
	rec = &runRecord{Round: round, Topology: t.Name, Metrics: map[string]float64{}, MetricErrors: map[string]string{}, LoadAvg: loadavg()}
	tag := fmt.Sprintf("r%dt%d", round, idx)
	s := newScope(t.Name + " round " + strconv.Itoa(round))
	defer func() {
		if err := s.Close(); err != nil {
			rec.CleanupError = err.Error()
		}
	}()
	dir, err := s.tempDir(h.prefix + tag + "-")
	if err != nil {
		rec.Error = err.Error()
		return rec
	}
	logDir := filepath.Join(h.runDir, "logs", tag+"-"+t.Name)
	// Keep the daemons' logs: copied before the temp dir goes.
	s.deferUndo("keep logs", func() error { return copyLogs(dir, logDir) })
	e := &buildEnv{ctx: ctx, s: s, b: h, tag: tag, dir: dir, inst: &instance{}, prefix: h.prefix + tag + "-"}
	start := time.Now()
	inst, err := t.build(e)
	rec.Settings = e.inst.settings
	if err != nil {
		rec.Error = "setup: " + err.Error()
		return rec
	}
	if err := waitPing(ctx, inst.client, inst.serverIP, 30*time.Second); err != nil {
		rec.Error = "no connectivity: " + err.Error()
		return rec
	}
	rec.SetupSeconds = time.Since(start).Seconds()
	h.measure(ctx, t, inst, rec, round == 1)
	if inst.aclRules > 0 && ctx.Err() == nil {
		h.checkACL(ctx, inst, rec)
	}
	if len(inst.daemons) > 0 && ctx.Err() == nil {
		h.readCache(ctx, inst, rec)
	}
	if ctx.Err() != nil && rec.Error == "" {
		rec.Error = "interrupted"
	}
	return rec
}

func copyLogs(from, to string) error {
	var files []string
	_ = filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".log") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		return nil
	}
	if err := mkdir(to); err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		rel, _ := filepath.Rel(from, f)
		if err := os.WriteFile(filepath.Join(to, strings.ReplaceAll(rel, string(filepath.Separator), "_")), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measure runs the traffic: ping, TCP 1 stream, (profiled extra TCP), TCP
// 4 streams, UDP small datagrams; reading the Switchyard daemons'
// runtime figures around every measured phase.
func (h *harness) measure(ctx context.Context, t *topology, inst *instance, rec *runRecord, firstRound bool) {
	o := h.opts
	// What one snapshot costs each daemon in mallocs: two snapshots back
	// to back while idle.
	overhead := make([]uint64, len(inst.daemons))
	for i, d := range inst.daemons {
		a, errA := d.snapshot(ctx)
		b, errB := d.snapshot(ctx)
		if errA != nil || errB != nil {
			rec.MetricErrors["runtime"] = fmt.Sprint("runtime stats: ", errors.Join(errA, errB))
			continue
		}
		overhead[i] = b.Runtime.Mallocs - a.Runtime.Mallocs
		rec.SnapshotMallocs = append(rec.SnapshotMallocs, overhead[i])
	}
	phase := func(name string, fn func() error) {
		if ctx.Err() != nil {
			return
		}
		before := make([]snapshot, len(inst.daemons))
		okBefore := make([]bool, len(inst.daemons))
		for i, d := range inst.daemons {
			s, err := d.snapshot(ctx)
			if err != nil {
				rec.MetricErrors["runtime"] = err.Error()
			}
			before[i], okBefore[i] = s, err == nil
		}
		if err := fn(); err != nil {
			slog.Warn("measurement failed", "system", t.Name, "phase", name, "err", err)
			rec.MetricErrors[name] = err.Error()
		}
		for i, d := range inst.daemons {
			if !okBefore[i] {
				continue
			}
			after, err := d.snapshot(ctx)
			if err != nil {
				rec.MetricErrors["runtime"] = err.Error()
				continue
			}
			rec.Daemon = append(rec.Daemon, diffSnapshots(inst.daemonNames[i], name, before[i], after, overhead[i]))
		}
	}
	// RTT first, on a quiet system (no queue left over from a flood).
	phase("ping", func() error {
		r, raw, err := pingTest(ctx, inst.client, inst.serverIP, o.pingCount)
		h.saveRaw(rec, "ping", raw)
		if err == nil {
			rec.Ping = &r
			rec.Metrics[mRTT] = r.AvgUs
		}
		return err
	})
	phase("tcp1", func() error {
		r, raw, err := tcpTest(ctx, inst.client, inst.server, inst.serverIP, o.duration, 1)
		h.saveRaw(rec, "tcp1", raw)
		if err == nil {
			rec.TCP1 = &r
			rec.Metrics[mTCP1] = r.Gbps
			rec.Metrics[mTCP1Retr] = float64(r.Retransmits)
		}
		return err
	})
	if o.profile != "" && firstRound && t.Kind == "switchyard" && ctx.Err() == nil {
		rec.Profile = h.profileRun(ctx, t, inst)
	}
	phase("tcp4", func() error {
		r, raw, err := tcpTest(ctx, inst.client, inst.server, inst.serverIP, o.duration, 4)
		h.saveRaw(rec, "tcp4", raw)
		if err == nil {
			rec.TCP4 = &r
			rec.Metrics[mTCP4] = r.Gbps
			rec.Metrics[mTCP4Retr] = float64(r.Retransmits)
		}
		return err
	})
	phase("udp", func() error {
		r, raw, err := udpTest(ctx, inst.client, inst.server, inst.serverIP, o.duration, o.udpLen, o.udpRate)
		h.saveRaw(rec, "udp", raw)
		if err == nil {
			rec.UDP = &r
			rec.Metrics[mUDP] = r.PPS / 1000
			rec.Metrics[mUDPLoss] = r.LossPct
		}
		return err
	})
	if len(inst.daemons) > 0 && len(rec.Daemon) > 0 {
		// GCs per 10 s: the busiest daemon's rate over all measured
		// phases; mallocs per packet: all daemons' mallocs over all frames
		// they received (a TSO super-frame counts as one).
		perDaemonGC := map[string]uint32{}
		perDaemonSec := map[string]float64{}
		var mallocs, pkts uint64
		for _, p := range rec.Daemon {
			perDaemonGC[p.Daemon] += p.GCs
			perDaemonSec[p.Daemon] += p.Seconds
			mallocs += p.Mallocs
			pkts += p.RxPackets
		}
		gc := 0.0
		for d, n := range perDaemonGC {
			if s := perDaemonSec[d]; s > 0 {
				gc = max(gc, float64(n)/s*10)
			}
		}
		rec.Metrics[mGC] = gc
		if pkts > 0 {
			rec.Metrics[mMallocs] = float64(mallocs) / float64(pkts)
		}
	}
}

// saveRaw keeps the raw tool output of one measurement next to the results.
func (h *harness) saveRaw(rec *runRecord, what, raw string) {
	if raw == "" {
		return
	}
	dir := filepath.Join(h.runDir, "raw")
	if mkdir(dir) != nil {
		return
	}
	_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%d-%s-%s.txt", rec.Round, rec.Topology, what)), []byte(raw), 0o644)
}

// profileRun runs an extra, unmeasured 1-stream TCP test long enough to
// cover a 5 s CPU profile of every daemon of the system, fetched at the
// same time, and prints `go tool pprof -top` for each profile.
func (h *harness) profileRun(ctx context.Context, t *topology, inst *instance) *profileInfo {
	const secs = 5
	info := &profileInfo{}
	type got struct {
		i    int
		ok   bool
		msg  string
		file string
	}
	ch := make(chan got, len(inst.daemons))
	for i, d := range inst.daemons {
		name := t.Name
		if i > 0 || len(inst.daemons) > 1 {
			name = t.Name + "-" + inst.daemonNames[i]
		}
		file := filepath.Join(h.opts.profile, name+".prof")
		go func() {
			ok, msg := d.profile(ctx, secs, file)
			ch <- got{i, ok, msg, file}
		}()
	}
	// The TCP run outlasts the profiles by a second; it is stopped as soon
	// as every fetch is done (at once when the endpoint is missing).
	tctx, tcancel := context.WithCancel(ctx)
	tcpDone := make(chan error, 1)
	go func() {
		_, _, err := tcpTest(tctx, inst.client, inst.server, inst.serverIP, secs+1, 1)
		tcpDone <- err
	}()
	var gots []got
	for range inst.daemons {
		gots = append(gots, <-ch)
	}
	tcancel()
	sort.Slice(gots, func(a, b int) bool { return gots[a].i < gots[b].i })
	if err := <-tcpDone; err != nil && tctx.Err() == nil {
		info.Notes = append(info.Notes, "profiled TCP run failed: "+err.Error())
	}
	for _, g := range gots {
		if !g.ok {
			slog.Warn("no CPU profile", "system", t.Name, "daemon", inst.daemonNames[g.i], "why", g.msg)
			info.Notes = append(info.Notes, inst.daemonNames[g.i]+": "+g.msg)
			continue
		}
		out, err := run(ctx, h.goBin, "tool", "pprof", "-top", "-nodecount=25", h.bin, g.file)
		if err != nil {
			info.Notes = append(info.Notes, fmt.Sprintf("%s: go tool pprof failed: %v", inst.daemonNames[g.i], err))
			continue
		}
		top := strings.TrimSpace(out)
		_ = os.WriteFile(strings.TrimSuffix(g.file, ".prof")+".top.txt", []byte(top+"\n"), 0o644)
		info.Files = append(info.Files, g.file)
		info.Tops = append(info.Tops, profileTop{File: g.file, Daemon: inst.daemonNames[g.i], Top: top})
		fmt.Printf("\n== CPU profile of %s (%s daemon), %d s during a 1-stream TCP run: go tool pprof -top -nodecount=25 %s %s\n%s\n",
			t.Name, inst.daemonNames[g.i], secs, h.bin, g.file, top)
	}
	return info
}

// checkLeftovers warns about any namespace with this run's prefix that
// survived cleanup.
func (h *harness) checkLeftovers() {
	out, err := run(context.Background(), "ip", "netns", "list")
	if err != nil {
		return
	}
	var left []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], h.prefix) {
			left = append(left, f[0])
		}
	}
	if len(left) > 0 {
		slog.Error("namespaces left behind; removing them", "names", left)
		for _, n := range left {
			if err := deleteNetns(n); err != nil {
				slog.Error("could not remove namespace", "name", n, "err", err)
			}
		}
	}
}
