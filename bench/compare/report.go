package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Measure keys (in results.json and the tables).
const (
	mTCP1     = "tcp1_gbps"
	mTCP1Retr = "tcp1_retransmits"
	mTCP4     = "tcp4_gbps"
	mTCP4Retr = "tcp4_retransmits"
	mUDP      = "udp_kpps"
	mUDPLoss  = "udp_loss_pct"
	mRTT      = "rtt_us"
	mGC       = "gc_per_10s"
	mMallocs  = "mallocs_per_pkt"
)

// measures in table order, with headers and formats.
var measures = []struct {
	key, header, format string
}{
	{mTCP1, "TCP 1 stream Gbit/s", "%.2f"},
	{mTCP1Retr, "retr", "%.0f"},
	{mTCP4, "TCP 4 streams Gbit/s", "%.2f"},
	{mTCP4Retr, "retr", "%.0f"},
	{mUDP, "UDP 64 B kpps rcvd", "%.1f"},
	{mUDPLoss, "UDP loss %", "%.1f"},
	{mRTT, "ping RTT µs", "%.0f"},
	{mGC, "GCs / 10 s", "%.1f"},
	{mMallocs, "mallocs / pkt", "%.3f"},
}

// ratioMeasures are the measures Switchyard is compared on.
var ratioMeasures = []struct{ key, header string }{
	{mTCP1, "TCP 1"},
	{mTCP4, "TCP 4"},
	{mUDP, "UDP pps"},
	{mRTT, "RTT"},
}

type machineInfo struct {
	CPU          string `json:"cpu"`
	CPUs         int    `json:"cpus"`
	Kernel       string `json:"kernel"`
	GoHarness    string `json:"go_harness"`
	GoToolchain  string `json:"go_toolchain"`
	GoSwitchyard string `json:"go_switchyard_binary"`
	Switchyard   string `json:"switchyard_version"`
	SwitchyardAt string `json:"switchyard_binary"`
	OVS          string `json:"ovs_vswitchd_version"`
	Iperf3       string `json:"iperf3_version"`
	LoadStart    string `json:"loadavg_start"`
	LoadEnd      string `json:"loadavg_end,omitempty"`
	GitHead      string `json:"git_head,omitempty"`
}

func describeMachine(ctx context.Context, h *harness) machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), GoHarness: runtime.Version(), SwitchyardAt: h.bin}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := run(ctx, h.goBin, "version"); err == nil {
		m.GoToolchain = strings.TrimSpace(out)
	}
	if out, err := run(ctx, h.goBin, "version", h.bin); err == nil {
		m.GoSwitchyard = strings.TrimSpace(out)
	}
	if out, err := run(ctx, h.bin, "version"); err == nil {
		m.Switchyard = strings.Join(strings.Fields(out), " ")
	}
	m.OVS = ovsVersion(ctx)
	if out, err := run(ctx, "iperf3", "--version"); err == nil {
		m.Iperf3 = firstLine(out)
	}
	m.LoadStart = loadavg()
	if out, err := run(ctx, "git", "-C", h.root, "log", "-1", "--format=%h %s"); err == nil {
		m.GitHead = strings.TrimSpace(out)
		if st, err := run(ctx, "git", "-C", h.root, "status", "--porcelain", "--untracked-files=no"); err == nil && strings.TrimSpace(st) != "" {
			m.GitHead += " (+ uncommitted changes)"
		}
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return strings.TrimSpace(string(b))
}

// settings are the run-wide settings, as reported.
func (h *harness) settings() map[string]string {
	o := h.opts
	ul := "kernel defaults (no ethtool -K)"
	if o.underlayEthtool != "" {
		ul = "ethtool -K ul0 " + o.underlayEthtool + " (both hosts, every two-host system)"
	} else {
		ul += ": the kernel's VXLAN then crosses the veth with unsegmented 64 KiB GSO datagrams, far faster than any real wire allows"
	}
	return map[string]string{
		"rounds":         fmt.Sprintf("%d, interleaved (round 1 builds and measures every system, then round 2, ...); every system built fresh and torn down each round", o.rounds),
		"duration":       fmt.Sprintf("%d s per iperf3 run", o.duration),
		"tcp":            "iperf3 -c 203.0.113.2 -t D -J -P 1 and -P 4 (VM1 client -> VM2 server); Gbit/s = sum_received, retransmits = sum_sent",
		"udp":            fmt.Sprintf("iperf3 -u -l %d -b %s -t D -J; kpps = (packets - lost) / seconds at the server", o.udpLen, o.udpRate),
		"ping":           fmt.Sprintf("ping -c %d -i 0.01 (average RTT)", o.pingCount),
		"underlay":       ul + "; underlay veth ul0 198.18.0.1/24 <-> 198.18.0.2/24, MTU 1500, VM MTU 1450, VNI 5001, UDP 4789",
		"switchyard_gc":  "GET /v1/debug/runtime (curl on the daemon socket) before and after every measured phase; GCs/10 s = the busiest daemon's num_gc delta per 10 s of traffic; mallocs/pkt = mallocs delta / frames received on all ports (GET /v1/show rx_packets; a TSO super-frame counts once)",
		"namespaces":     h.prefix + "r<round>t<system>-<role>",
		"ratio":          "Switchyard ÷ reference, per round, then the median of the per-round ratios (RTT: > 1 means Switchyard is slower)",
		"profile":        profileSetting(o.profile),
		"switchyard_bin": h.bin,
		"acl":            fmt.Sprintf("the *-acl systems install %s rules (aclFlows: %s in tables 0-2 with eight masks, values from 198.18.1.0-198.19.255.255, 0a:c1:… MACs, drop ports 1-32767 without 5201, + priority-0 rules table 0 -> 1 -> 2 -> NORMAL) with `switchyard flow add br0 --file` in every daemon before traffic, check GET /v1/show rules, and after the traffic check with `flow dump --json` that only the priority-0 rules counted packets", thousands(aclSystemRules), thousands(aclSystemRules-aclMinRules)),
		"flows_install":  flowsInstallSetting(o.flowsInstall),
	}
}

func flowsInstallSetting(n int) string {
	if n == 0 {
		return "off"
	}
	return fmt.Sprintf("once per round after the systems: aclFlows(%s) in one file; `switchyard flow add br0 --file F` into a fresh daemon (--devices memory, own namespace and state dir) and `ovs-ofctl -O OpenFlow13 add-flows br0 F` into a fresh OVS 3.1 (own namespace, br0 datapath_type=netdev protocols=OpenFlow10,OpenFlow13), wall-clock; rule counts checked (GET /v1/show rules, ovs-ofctl dump-aggregate flow_count); bytes/rule = Switchyard's heap_alloc after a forced GC (GET /debug/pprof/heap?gc=1) and both daemons' VmRSS, after minus before, ÷ rules; Switchyard stores the rules in its state dir (bbolt, synced to disk) before it answers, OVS keeps them in memory only", thousands(n))
}

func profileSetting(dir string) string {
	if dir == "" {
		return "off"
	}
	return "5 s CPU profile per Switchyard daemon during an extra (unmeasured) 1-stream TCP run in round 1, into " + dir
}

// runRecord is one system measured in one round.
type runRecord struct {
	Round        int     `json:"round"`
	Topology     string  `json:"topology"`
	Error        string  `json:"error,omitempty"`
	CleanupError string  `json:"cleanup_error,omitempty"`
	SetupSeconds float64 `json:"setup_seconds,omitempty"`
	LoadAvg      string  `json:"loadavg_at_start"`
	// SnapshotMallocs is, per daemon, what reading one snapshot costs it
	// (taken off the phase figures).
	SnapshotMallocs []uint64           `json:"snapshot_mallocs,omitempty"`
	Settings        []string           `json:"settings,omitempty"`
	Metrics         map[string]float64 `json:"metrics,omitempty"`
	MetricErrors    map[string]string  `json:"metric_errors,omitempty"`
	TCP1            *tcpResult         `json:"tcp1,omitempty"`
	TCP4            *tcpResult         `json:"tcp4,omitempty"`
	UDP             *udpResult         `json:"udp,omitempty"`
	Ping            *pingResult        `json:"ping,omitempty"`
	Daemon          []phaseStats       `json:"switchyard_runtime,omitempty"`
	Profile         *profileInfo       `json:"profile,omitempty"`
	// ACL is, for the *-acl systems, the rules' counters after the traffic.
	ACL []aclCheck `json:"acl_check,omitempty"`
	// Cache is, for Switchyard systems, br0's decision-cache counters per
	// daemon after the traffic.
	Cache []cacheStats `json:"decision_cache,omitempty"`
}

type profileInfo struct {
	Files []string     `json:"files,omitempty"`
	Notes []string     `json:"notes,omitempty"`
	Tops  []profileTop `json:"tops,omitempty"`
}

type profileTop struct {
	File   string `json:"file"`
	Daemon string `json:"daemon"`
	Top    string `json:"top"`
}

func (r *runRecord) brief() string {
	var parts []string
	for _, m := range measures {
		if v, ok := r.Metrics[m.key]; ok {
			parts = append(parts, m.key+"="+fmt.Sprintf(m.format, v))
		}
	}
	return strings.Join(parts, " ")
}

type results struct {
	Machine     machineInfo                   `json:"machine"`
	Settings    map[string]string             `json:"settings"`
	Started     time.Time                     `json:"started"`
	Finished    time.Time                     `json:"finished"`
	Interrupted bool                          `json:"interrupted,omitempty"`
	Topologies  []*topology                   `json:"systems"`
	Runs        []*runRecord                  `json:"runs"`
	Medians     map[string]map[string]float64 `json:"medians"`
	Ratios      []ratioRow                    `json:"ratios"`
	NA          map[string]string             `json:"not_measured,omitempty"`
	// FlowInstall is the flow-install comparison, one entry per round, and
	// FlowInstallMedian the medians over rounds (keys as flowInstallKeys).
	FlowInstall       []*flowInstallRun  `json:"flow_install,omitempty"`
	FlowInstallMedian map[string]float64 `json:"flow_install_median,omitempty"`
}

// ratioRow is a Switchyard system against one reference.
type ratioRow struct {
	System    string               `json:"system"`
	Reference string               `json:"reference"`
	Kind      string               `json:"reference_kind"` // kernel, ovs or normal-only
	PerRound  []map[string]float64 `json:"per_round"`
	Median    map[string]float64   `json:"median"`
	Missing   string               `json:"missing,omitempty"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// compute fills the medians, ratios and the n/a list.
func (res *results) compute() {
	res.Medians = map[string]map[string]float64{}
	res.NA = map[string]string{}
	res.Ratios = nil
	res.computeFlowInstall()
	byTopo := map[string][]*runRecord{}
	for _, r := range res.Runs {
		byTopo[r.Topology] = append(byTopo[r.Topology], r)
	}
	for _, t := range res.Topologies {
		med := map[string]float64{}
		for _, m := range measures {
			var vals []float64
			for _, r := range byTopo[t.Name] {
				if v, ok := r.Metrics[m.key]; ok {
					vals = append(vals, v)
				}
			}
			if len(vals) > 0 {
				med[m.key] = median(vals)
			}
		}
		if len(med) > 0 {
			res.Medians[t.Name] = med
		}
		if msg := failures(byTopo[t.Name]); msg != "" {
			if len(med) == 0 {
				res.NA[t.Name] = msg
			} else {
				res.NA[t.Name+" (some rounds)"] = msg
			}
		}
	}
	selected := map[string]bool{}
	for _, t := range res.Topologies {
		selected[t.Name] = true
	}
	for _, t := range res.Topologies {
		if t.Kind != "switchyard" {
			continue
		}
		for _, ref := range []struct{ name, kind string }{{t.KernelRef, "kernel"}, {t.OVSRef, "ovs"}, {t.BaseRef, "normal-only"}} {
			if ref.name == "" {
				continue
			}
			row := ratioRow{System: t.Name, Reference: ref.name, Kind: ref.kind, Median: map[string]float64{}}
			if !selected[ref.name] {
				row.Missing = ref.name + " not selected (--only)"
				res.Ratios = append(res.Ratios, row)
				continue
			}
			perKey := map[string][]float64{}
			for round := 1; ; round++ {
				sy, rf := findRun(byTopo[t.Name], round), findRun(byTopo[ref.name], round)
				if sy == nil && rf == nil {
					break
				}
				pr := map[string]float64{}
				if sy != nil && rf != nil {
					for _, m := range ratioMeasures {
						a, okA := sy.Metrics[m.key]
						b, okB := rf.Metrics[m.key]
						if okA && okB && b > 0 {
							pr[m.key] = a / b
							perKey[m.key] = append(perKey[m.key], a/b)
						}
					}
				}
				pr["round"] = float64(round)
				row.PerRound = append(row.PerRound, pr)
			}
			for k, v := range perKey {
				row.Median[k] = median(v)
			}
			if len(perKey) == 0 {
				row.Missing = "no round where both " + t.Name + " and " + ref.name + " have figures"
			}
			res.Ratios = append(res.Ratios, row)
		}
	}
}

func findRun(rs []*runRecord, round int) *runRecord {
	for _, r := range rs {
		if r.Round == round {
			return r
		}
	}
	return nil
}

// runTagRe matches this harness's per-run names (temp dirs, namespaces),
// which differ between rounds of the same failure.
var runTagRe = regexp.MustCompile(`cmp[0-9]+-r[0-9]+(t[0-9]+|fi)-[0-9]*`)

// failures summarizes the setup failures of a system's rounds, folding
// identical ones: "rounds 1, 2: <error>".
func failures(rs []*runRecord) string {
	var order []string
	rounds := map[string][]string{}
	for _, r := range rs {
		if r.Error == "" {
			continue
		}
		msg := runTagRe.ReplaceAllString(r.Error, "cmp…")
		if _, ok := rounds[msg]; !ok {
			order = append(order, msg)
		}
		rounds[msg] = append(rounds[msg], fmt.Sprint(r.Round))
	}
	var parts []string
	for _, msg := range order {
		word := "round "
		if len(rounds[msg]) > 1 {
			word = "rounds "
		}
		parts = append(parts, word+strings.Join(rounds[msg], ", ")+": "+msg)
	}
	return strings.Join(parts, "; ")
}

// markdown renders the report.
func (res *results) markdown() string {
	var b strings.Builder
	m := res.Machine
	fmt.Fprintf(&b, "# Switchyard vs Linux kernel vs Open vSwitch — %s\n\n", res.Started.Format("2006-01-02 15:04 MST"))
	if res.Interrupted {
		b.WriteString("**Interrupted: partial results.**\n\n")
	}
	fmt.Fprintf(&b, "- Machine: %s, %d CPUs, kernel %s\n", m.CPU, m.CPUs, m.Kernel)
	fmt.Fprintf(&b, "- Go: %s (harness %s); switchyard binary: %s\n", m.GoToolchain, m.GoHarness, m.GoSwitchyard)
	fmt.Fprintf(&b, "- Switchyard: %s (%s)", m.Switchyard, m.SwitchyardAt)
	if m.GitHead != "" {
		fmt.Fprintf(&b, ", tree at %s", m.GitHead)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Open vSwitch: %s; %s\n", m.OVS, m.Iperf3)
	fmt.Fprintf(&b, "- Load average at start %s, at end %s (other work on the machine moves absolute figures; compare within one run)\n", m.LoadStart, m.LoadEnd)
	if f := strings.Fields(m.LoadStart); len(f) > 0 {
		if l, err := strconv.ParseFloat(f[0], 64); err == nil && l >= 0.5 {
			fmt.Fprintf(&b, "- **Warning: the machine was already busy when the run started (1-min load %.2f on %d CPUs): other work competes for the CPUs, so the figures are noisier than usual.**\n", l, m.CPUs)
		}
	}
	for _, k := range []string{"rounds", "duration", "tcp", "udp", "ping", "underlay", "switchyard_gc", "ratio", "profile", "acl", "flows_install"} {
		fmt.Fprintf(&b, "- %s: %s\n", k, res.Settings[k])
	}

	fmt.Fprintf(&b, "\n## Medians over rounds\n\n| system | class |")
	for _, ms := range measures {
		fmt.Fprintf(&b, " %s |", ms.header)
	}
	b.WriteString("\n|---|---|")
	for range measures {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, t := range res.Topologies {
		med, ok := res.Medians[t.Name]
		fmt.Fprintf(&b, "| %s | %s |", t.Name, t.Class)
		if !ok {
			fmt.Fprintf(&b, " n/a: %s |", mdEscape(res.NA[t.Name]))
			for range measures[1:] {
				b.WriteString(" |")
			}
			b.WriteString("\n")
			continue
		}
		for _, ms := range measures {
			if v, ok := med[ms.key]; ok {
				fmt.Fprintf(&b, " "+ms.format+" |", v)
			} else if (ms.key == mGC || ms.key == mMallocs) && t.Kind != "switchyard" {
				b.WriteString(" – |")
			} else {
				b.WriteString(" n/a |")
			}
		}
		b.WriteString("\n")
	}

	res.aclMarkdown(&b)
	res.flowInstallMarkdown(&b)

	if len(res.Ratios) > 0 {
		b.WriteString("\n## Switchyard ratios (median of per-round ratios, Switchyard ÷ reference)\n\n")
		b.WriteString("Throughput and pps: > 1 is better than the reference; RTT: < 1 is better.\n\n| system | vs | ")
		for _, rm := range ratioMeasures {
			fmt.Fprintf(&b, "%s | ", rm.header)
		}
		b.WriteString("rounds |\n|---|---|")
		for range ratioMeasures {
			b.WriteString("---:|")
		}
		b.WriteString("---:|\n")
		for _, r := range res.Ratios {
			ref := r.Reference
			if r.Kind == "normal-only" {
				ref += " (NORMAL only)"
			}
			fmt.Fprintf(&b, "| %s | %s |", r.System, ref)
			if r.Missing != "" {
				fmt.Fprintf(&b, " n/a: %s |", mdEscape(r.Missing))
				for range ratioMeasures[1:] {
					b.WriteString(" |")
				}
				b.WriteString(" |\n")
				continue
			}
			n := 0
			for _, pr := range r.PerRound {
				if len(pr) > 1 {
					n++
				}
			}
			for _, rm := range ratioMeasures {
				if v, ok := r.Median[rm.key]; ok {
					fmt.Fprintf(&b, " %.2f× |", v)
				} else {
					b.WriteString(" n/a |")
				}
			}
			fmt.Fprintf(&b, " %d |\n", n)
		}
	}

	b.WriteString("\n## Every round\n\n| round | system | TCP 1 | retr | TCP 4 | retr | UDP kpps | loss % | RTT µs | GC/10 s | mallocs/pkt | load avg | note |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range res.Runs {
		fmt.Fprintf(&b, "| %d | %s |", r.Round, r.Topology)
		for _, ms := range measures {
			if v, ok := r.Metrics[ms.key]; ok {
				fmt.Fprintf(&b, " "+ms.format+" |", v)
			} else {
				b.WriteString(" – |")
			}
		}
		var notes []string
		if r.Error != "" {
			notes = append(notes, r.Error)
		}
		keys := make([]string, 0, len(r.MetricErrors))
		for k := range r.MetricErrors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			notes = append(notes, k+": "+r.MetricErrors[k])
		}
		if r.CleanupError != "" {
			notes = append(notes, "cleanup: "+r.CleanupError)
		}
		fmt.Fprintf(&b, " %s | %s |\n", r.LoadAvg, mdEscape(strings.Join(notes, "; ")))
	}

	b.WriteString("\n## Systems and their settings\n\n")
	for _, t := range res.Topologies {
		fmt.Fprintf(&b, "- **%s** (%s): %s\n", t.Name, t.Class, t.Desc)
		for _, r := range res.Runs {
			if r.Topology == t.Name && len(r.Settings) > 0 {
				for _, s := range r.Settings {
					fmt.Fprintf(&b, "  - %s\n", s)
				}
				break
			}
		}
		if t.Class == "b" {
			fmt.Fprintf(&b, "  - underlay: %s\n", res.Settings["underlay"])
		}
	}
	if len(res.NA) > 0 {
		b.WriteString("\n## Not measured\n\n")
		keys := make([]string, 0, len(res.NA))
		for k := range res.NA {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %s\n", k, res.NA[k])
		}
	}
	var profs []string
	for _, r := range res.Runs {
		if r.Profile == nil {
			continue
		}
		for _, n := range r.Profile.Notes {
			profs = append(profs, fmt.Sprintf("- %s: %s\n", r.Topology, n))
		}
		for _, t := range r.Profile.Tops {
			profs = append(profs, fmt.Sprintf("\n%s, %s daemon (`%s`):\n\n```\n%s\n```\n", r.Topology, t.Daemon, t.File, t.Top))
		}
	}
	if len(profs) > 0 {
		b.WriteString("\n## CPU profiles\n\n")
		for _, p := range profs {
			b.WriteString(p)
		}
	}
	return b.String()
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

// writeResults computes the summary and writes results.md and results.json
// into --out (plus a timestamped copy of each), and prints the Markdown.
func (h *harness) writeResults(res *results) error {
	res.Machine.LoadEnd = loadavg()
	if res.Finished.IsZero() {
		res.Finished = time.Now()
	}
	res.compute()
	md := res.markdown()
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	for _, dir := range []string{h.opts.out, h.runDir} {
		for name, data := range map[string][]byte{"results.md": []byte(md), "results.json": js} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				return fmt.Errorf("write results: %w", err)
			}
		}
	}
	fmt.Println()
	fmt.Print(md)
	fmt.Printf("\nResults: %s and %s (a copy, raw tool outputs and daemon logs in %s)\n",
		filepath.Join(h.opts.out, "results.md"), filepath.Join(h.opts.out, "results.json"), h.runDir)
	return nil
}
