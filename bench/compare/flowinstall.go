package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// flowInstallRun is one round of the flow-install comparison: the same
// file of N rules loaded into a fresh Switchyard bridge and a fresh Open
// vSwitch bridge.
type flowInstallRun struct {
	Round      int             `json:"round"`
	Rules      int             `json:"rules"`
	LoadAvg    string          `json:"loadavg_at_start"`
	Switchyard *installFigures `json:"switchyard"`
	OVS        *installFigures `json:"ovs"`
	// TimeRatio is Switchyard's seconds ÷ OVS's (< 1: Switchyard faster).
	TimeRatio float64 `json:"time_ratio,omitempty"`
}

// installFigures is one switch loading the file.
type installFigures struct {
	Command     string  `json:"command"`
	Seconds     float64 `json:"seconds,omitempty"`
	RulesPerSec float64 `json:"rules_per_s,omitempty"`
	// RulesBefore and RulesAfter are the switch's own counts (GET
	// /v1/show rules; ovs-ofctl dump-aggregate flow_count).
	RulesBefore int `json:"rules_before"`
	RulesAfter  int `json:"rules_after"`
	// Heap is the Go heap in use after a forced GC (Switchyard only;
	// HeapForcedGC false: heap_alloc as read, no GC endpoint).
	HeapBefore       uint64  `json:"heap_alloc_before,omitempty"`
	HeapAfter        uint64  `json:"heap_alloc_after,omitempty"`
	HeapForcedGC     bool    `json:"heap_forced_gc,omitempty"`
	HeapBytesPerRule float64 `json:"heap_bytes_per_rule,omitempty"`
	// RSS is the daemon's VmRSS from /proc/PID/status.
	RSSBefore       uint64  `json:"vmrss_before,omitempty"`
	RSSAfter        uint64  `json:"vmrss_after,omitempty"`
	RSSBytesPerRule float64 `json:"vmrss_bytes_per_rule,omitempty"`
	// StateFS is the filesystem type of Switchyard's state dir (`stat -f
	// -c %T`): the rules are synced there before flow add returns.
	StateFS      string `json:"state_fs,omitempty"`
	Error        string `json:"error,omitempty"`
	CleanupError string `json:"cleanup_error,omitempty"`
}

func (f *flowInstallRun) brief() string {
	part := func(name string, x *installFigures) string {
		if x == nil {
			return name + " –"
		}
		if x.Error != "" {
			return name + " error: " + x.Error
		}
		return fmt.Sprintf("%s %.3f s (%.0f rules/s, %.0f B/rule)", name, x.Seconds, x.RulesPerSec, x.bytesPerRule())
	}
	s := part("switchyard", f.Switchyard) + "; " + part("ovs", f.OVS)
	if f.TimeRatio > 0 {
		s += fmt.Sprintf("; time ratio %.2f", f.TimeRatio)
	}
	return s
}

// bytesPerRule is the headline memory figure: the live Go heap for
// Switchyard, VmRSS for OVS.
func (x *installFigures) bytesPerRule() float64 {
	if x.HeapBytesPerRule != 0 {
		return x.HeapBytesPerRule
	}
	return x.RSSBytesPerRule
}

// installTimeout bounds one install of n rules (generous: the machine is
// shared, and a stall must end as a reported error, not a hang).
func installTimeout(n int) time.Duration {
	return 60*time.Second + time.Duration(n)*time.Millisecond
}

// flowInstall runs one round of the comparison: N rules from aclFlows into
// a file, loaded into Switchyard and then into OVS, each in its own
// namespace and temp dir, each torn down afterwards.
func (h *harness) flowInstall(ctx context.Context, round, n int, noOVS string) *flowInstallRun {
	fi := &flowInstallRun{Round: round, Rules: n, LoadAvg: loadavg()}
	tag := fmt.Sprintf("r%dfi", round)
	s := newScope("flow install round " + strconv.Itoa(round))
	dir, err := s.tempDir(h.prefix + tag + "-")
	if err != nil {
		fi.Switchyard = &installFigures{Error: err.Error()}
		fi.OVS = &installFigures{Error: err.Error()}
		_ = s.Close()
		return fi
	}
	file := filepath.Join(dir, fmt.Sprintf("flows-%d.txt", n))
	if err := writeFlows(file, aclFlows(n)); err != nil {
		fi.Switchyard = &installFigures{Error: err.Error()}
		fi.OVS = &installFigures{Error: err.Error()}
		_ = s.Close()
		return fi
	}
	logDir := filepath.Join(h.runDir, "logs", tag+"-flow-install")
	s.deferUndo("keep logs", func() error { return copyLogs(dir, logDir) })

	fi.Switchyard = h.installSwitchyard(ctx, filepath.Join(dir, "sy"), h.prefix+tag+"-sy", file, n)
	if noOVS != "" {
		fi.OVS = &installFigures{Error: noOVS}
	} else {
		fi.OVS = h.installOVS(ctx, filepath.Join(dir, "ovs"), h.prefix+tag+"-ovs", file, n)
	}
	if err := s.Close(); err != nil {
		fi.Switchyard.CleanupError = err.Error()
	}
	if fi.Switchyard.Error == "" && fi.OVS.Error == "" && fi.OVS.Seconds > 0 {
		fi.TimeRatio = fi.Switchyard.Seconds / fi.OVS.Seconds
	}
	return fi
}

// installSwitchyard starts a daemon with in-memory devices in namespace ns
// (state and socket under dir), adds bridge br0, and times `switchyard flow
// add br0 --file FILE`; the heap (after a forced GC) and VmRSS are read
// before and after.
func (h *harness) installSwitchyard(ctx context.Context, dir, ns, file string, n int) (x *installFigures) {
	x = &installFigures{Command: "switchyard flow add br0 --file FILE (daemon --devices memory)"}
	s := newScope("flow install switchyard")
	defer func() {
		if err := s.Close(); err != nil {
			x.CleanupError = err.Error()
		}
	}()
	fail := func(err error) *installFigures { x.Error = err.Error(); return x }
	if err := mkdir(dir); err != nil {
		return fail(err)
	}
	if out, err := run(ctx, "stat", "-f", "-c", "%T", dir); err == nil {
		x.StateFS = strings.TrimSpace(out)
	}
	if err := s.netns(ctx, ns); err != nil {
		return fail(err)
	}
	d, err := startSwitchyard(ctx, s, h.bin, ns, dir, "--devices", "memory")
	if err != nil {
		return fail(err)
	}
	if err := checkExe(d.p.pid(), h.bin); err != nil {
		return fail(err)
	}
	if _, err := d.cli(ctx, "bridge", "add", "br0"); err != nil {
		return fail(err)
	}
	if x.RulesBefore, err = d.bridgeRules(ctx, "br0"); err != nil {
		return fail(err)
	}
	if x.HeapBefore, x.HeapForcedGC, err = d.heapAfterGC(ctx); err != nil {
		return fail(err)
	}
	if x.RSSBefore, err = vmRSS(d.p.pid()); err != nil {
		return fail(err)
	}
	start := time.Now()
	out, err := d.cliTimeout(ctx, installTimeout(n), "flow", "add", "br0", "--file", file)
	x.Seconds = time.Since(start).Seconds()
	if err != nil {
		return fail(err)
	}
	x.RulesPerSec = float64(n) / x.Seconds
	if want := fmt.Sprintf("%d flows added", n); strings.TrimSpace(out) != want {
		return fail(fmt.Errorf("flow add said %q, want %q", strings.TrimSpace(out), want))
	}
	if x.RulesAfter, err = d.bridgeRules(ctx, "br0"); err != nil {
		return fail(err)
	}
	if x.RulesAfter != n {
		return fail(fmt.Errorf("bridge br0 reports %d rules after adding %d (GET /v1/show rules; %d before)", x.RulesAfter, n, x.RulesBefore))
	}
	var gc bool
	if x.HeapAfter, gc, err = d.heapAfterGC(ctx); err != nil {
		return fail(err)
	}
	x.HeapForcedGC = x.HeapForcedGC && gc
	if x.RSSAfter, err = vmRSS(d.p.pid()); err != nil {
		return fail(err)
	}
	x.HeapBytesPerRule = (float64(x.HeapAfter) - float64(x.HeapBefore)) / float64(n)
	x.RSSBytesPerRule = (float64(x.RSSAfter) - float64(x.RSSBefore)) / float64(n)
	return x
}

var flowCountRe = regexp.MustCompile(`flow_count=([0-9]+)`)

// installOVS starts Open vSwitch in namespace ns (everything under dir),
// adds a netdev bridge br0 speaking OpenFlow 1.0 and 1.3, and times
// `ovs-ofctl -O OpenFlow13 add-flows br0 FILE`; ovs-vswitchd's VmRSS is
// read before and after.
func (h *harness) installOVS(ctx context.Context, dir, ns, file string, n int) (x *installFigures) {
	x = &installFigures{Command: "ovs-ofctl -O OpenFlow13 add-flows br0 FILE (ovs-vswitchd --disable-system, br0 datapath_type=netdev)"}
	s := newScope("flow install ovs")
	defer func() {
		if err := s.Close(); err != nil {
			x.CleanupError = err.Error()
		}
	}()
	fail := func(err error) *installFigures { x.Error = err.Error(); return x }
	if err := mkdir(dir); err != nil {
		return fail(err)
	}
	if err := s.netns(ctx, ns); err != nil {
		return fail(err)
	}
	o, err := startOVS(ctx, s, ns, dir, nil)
	if err != nil {
		return fail(err)
	}
	if _, err := o.vsctl(ctx, "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "protocols=OpenFlow10,OpenFlow13"); err != nil {
		return fail(err)
	}
	ofctl := func(timeout time.Duration, args ...string) (string, error) {
		full := append([]string{"ovs-ofctl", "-O", "OpenFlow13"}, args...)
		return runEnvTimeout(ctx, timeout, o.env, inNS(ns, full...)...)
	}
	count := func() (int, error) {
		out, err := ofctl(cmdTimeout, "dump-aggregate", "br0")
		if err != nil {
			return 0, err
		}
		m := flowCountRe.FindStringSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("ovs-ofctl dump-aggregate br0: no flow_count in %q", strings.TrimSpace(out))
		}
		return strconv.Atoi(m[1])
	}
	// add-br waited for ovs-vswitchd; its OpenFlow socket may still be
	// coming up.
	if err := poll(ctx, cmdTimeoutShort, "ovs-ofctl reaches br0", func() error {
		c, err := count()
		x.RulesBefore = c
		return err
	}); err != nil {
		return fail(err)
	}
	pid, err := pidFile(filepath.Join(dir, "ovs-vswitchd.pid"))
	if err != nil {
		return fail(err)
	}
	if x.RSSBefore, err = vmRSS(pid); err != nil {
		return fail(err)
	}
	start := time.Now()
	if _, err := ofctl(installTimeout(n), "add-flows", "br0", file); err != nil {
		x.Seconds = time.Since(start).Seconds()
		return fail(err)
	}
	x.Seconds = time.Since(start).Seconds()
	x.RulesPerSec = float64(n) / x.Seconds
	if x.RulesAfter, err = count(); err != nil {
		return fail(err)
	}
	if x.RulesAfter != n {
		return fail(fmt.Errorf("ovs-ofctl dump-aggregate br0: flow_count=%d after adding %d (%d before)", x.RulesAfter, n, x.RulesBefore))
	}
	if x.RSSAfter, err = vmRSS(pid); err != nil {
		return fail(err)
	}
	x.RSSBytesPerRule = (float64(x.RSSAfter) - float64(x.RSSBefore)) / float64(n)
	return x
}

// vmRSS is VmRSS of process pid in bytes.
func vmRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("VmRSS: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS line %q", pid, l)
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

func pidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", path, err)
	}
	return pid, nil
}

// checkExe makes sure pid runs bin (`ip netns exec` execs the command, so
// the child's PID is the daemon's): the memory figures are read from it.
func checkExe(pid int, bin string) error {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	want, err := filepath.EvalSymlinks(bin)
	if err != nil {
		want = bin
	}
	if exe != want {
		return fmt.Errorf("pid %d runs %s, not the switchyard binary %s", pid, exe, want)
	}
	return nil
}
