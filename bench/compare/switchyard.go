package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// syDaemon is a switchyard daemon running inside a host namespace, with
// its own state dir and socket. Everything is done through the CLI and the
// HTTP API (curl on the unix socket), never through internal packages, so
// the harness keeps working while the daemon's internals change.
type syDaemon struct {
	bin    string
	ns     string
	dir    string
	socket string
	p      *proc
}

// startSwitchyard starts a daemon in ns with state under dir (and the extra
// daemon flags, e.g. --devices memory), waits until its API answers, and
// registers its stop (by PID) with s.
func startSwitchyard(ctx context.Context, s *scope, bin, ns, dir string, extra ...string) (*syDaemon, error) {
	d := &syDaemon{bin: bin, ns: ns, dir: dir, socket: filepath.Join(dir, "sy.sock")}
	args := append([]string{bin, "daemon", "--state-dir", filepath.Join(dir, "state"), "--socket", d.socket}, extra...)
	p, err := startProc("switchyard daemon in "+ns, nil, inNS(ns, args...)...)
	if err != nil {
		return nil, err
	}
	d.p = p
	s.deferUndo("stop switchyard daemon in "+ns, func() error {
		err := p.stop(10 * time.Second)
		_ = os.WriteFile(filepath.Join(dir, "daemon.log"), []byte(p.output()), 0o644)
		return err
	})
	err = poll(ctx, 15*time.Second, "switchyard daemon answers on "+d.socket, func() error {
		if p.exited() {
			return permanent(fmt.Errorf("daemon exited (%v): %q", p.exitErr(), strings.TrimSpace(p.output())))
		}
		_, err := d.cli(ctx, "bridge", "list")
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// cli runs `switchyard ARGS --socket SOCK` inside the daemon's namespace
// (ports with --netns and system ports are resolved there).
func (d *syDaemon) cli(ctx context.Context, args ...string) (string, error) {
	return d.cliTimeout(ctx, cmdTimeout, args...)
}

// cliTimeout is cli with its own bound.
func (d *syDaemon) cliTimeout(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	full := append([]string{d.bin}, args...)
	full = append(full, "--socket", d.socket)
	return runEnvTimeout(ctx, timeout, []string{"SWITCHYARD_SOCKET="}, inNS(d.ns, full...)...)
}

// bridgeRules is the rule count GET /v1/show reports for bridge br.
func (d *syDaemon) bridgeRules(ctx context.Context, br string) (int, error) {
	b, err := d.curl(ctx, "/v1/show")
	if err != nil {
		return 0, err
	}
	var show struct {
		Bridges []struct {
			Name  string `json:"name"`
			Rules *int   `json:"rules"`
		} `json:"bridges"`
	}
	if err := json.Unmarshal(b, &show); err != nil {
		return 0, fmt.Errorf("parse /v1/show: %w", err)
	}
	for _, x := range show.Bridges {
		if x.Name == br {
			if x.Rules == nil {
				return 0, fmt.Errorf("GET /v1/show: bridge %s has no \"rules\" count (daemon too old for flow tables?)", br)
			}
			return *x.Rules, nil
		}
	}
	return 0, fmt.Errorf("GET /v1/show: no bridge %s", br)
}

// heapAfterGC forces a garbage collection in the daemon (GET
// /debug/pprof/heap?gc=1 runs runtime.GC before writing the profile) and
// then reads heap_alloc, so the figure is the live heap. gc is false when
// the daemon has no pprof endpoint; heap_alloc is then as read.
func (d *syDaemon) heapAfterGC(ctx context.Context) (heap uint64, gc bool, err error) {
	if _, err := d.curl(ctx, "/debug/pprof/heap?gc=1"); err == nil {
		gc = true
	}
	b, err := d.curl(ctx, "/v1/debug/runtime")
	if err != nil {
		return 0, gc, err
	}
	var rt runtimeStats
	if err := json.Unmarshal(b, &rt); err != nil {
		return 0, gc, fmt.Errorf("parse /v1/debug/runtime %q: %w", b, err)
	}
	return rt.HeapAlloc, gc, nil
}

// runtimeStats is GET /v1/debug/runtime (internal/api.Runtime), decoded
// here on its own so the harness does not depend on the daemon's packages.
type runtimeStats struct {
	Goroutines int    `json:"goroutines"`
	NumGC      uint32 `json:"num_gc"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	Mallocs    uint64 `json:"mallocs"`
	Uptime     string `json:"uptime,omitempty"`
	Version    string `json:"version,omitempty"`
}

// snapshot is the daemon's runtime figures and total frames received over
// all ports, at one instant.
type snapshot struct {
	At        time.Time    `json:"at"`
	Runtime   runtimeStats `json:"runtime"`
	RxPackets uint64       `json:"rx_packets"`
}

func (d *syDaemon) curl(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-s", "-f", "--unix-socket", d.socket, "http://sy"+path).Output()
	if err != nil {
		return nil, fmt.Errorf("curl --unix-socket %s http://sy%s: %w", d.socket, path, err)
	}
	return out, nil
}

func (d *syDaemon) snapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{At: time.Now()}
	b, err := d.curl(ctx, "/v1/debug/runtime")
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s.Runtime); err != nil {
		return s, fmt.Errorf("parse /v1/debug/runtime %q: %w", b, err)
	}
	b, err = d.curl(ctx, "/v1/show")
	if err != nil {
		return s, err
	}
	var show struct {
		Bridges []struct {
			Ports []struct {
				Stats struct {
					RxPackets uint64 `json:"rx_packets"`
				} `json:"stats"`
			} `json:"ports"`
		} `json:"bridges"`
	}
	if err := json.Unmarshal(b, &show); err != nil {
		return s, fmt.Errorf("parse /v1/show: %w", err)
	}
	for _, br := range show.Bridges {
		for _, p := range br.Ports {
			s.RxPackets += p.Stats.RxPackets
		}
	}
	return s, nil
}

// phaseStats is what one daemon did during one traffic phase.
type phaseStats struct {
	Daemon     string  `json:"daemon"`
	Phase      string  `json:"phase"`
	Seconds    float64 `json:"seconds"`
	GCs        uint32  `json:"gcs"`
	Mallocs    uint64  `json:"mallocs"`     // net of the harness's own two API requests
	MallocsRaw uint64  `json:"mallocs_raw"` // as read
	RxPackets  uint64  `json:"rx_packets"`
	HeapBefore uint64  `json:"heap_alloc_before"`
	HeapAfter  uint64  `json:"heap_alloc_after"`
	GoroutsEnd int     `json:"goroutines_after"`
}

// diffSnapshots is what happened between snapshots a and b; overhead is
// the mallocs that reading a snapshot costs the daemon (measured idle), taken
// off so that the figure is the datapath's.
func diffSnapshots(daemon, phase string, a, b snapshot, overhead uint64) phaseStats {
	raw := b.Runtime.Mallocs - a.Runtime.Mallocs
	net := uint64(0)
	if raw > overhead {
		net = raw - overhead
	}
	return phaseStats{
		Daemon: daemon, Phase: phase, Seconds: b.At.Sub(a.At).Seconds(),
		GCs: b.Runtime.NumGC - a.Runtime.NumGC, Mallocs: net, MallocsRaw: raw,
		RxPackets: b.RxPackets - a.RxPackets, HeapBefore: a.Runtime.HeapAlloc, HeapAfter: b.Runtime.HeapAlloc,
		GoroutsEnd: b.Runtime.Goroutines,
	}
}

// profile fetches a CPU profile of secs seconds into file. ok is false (and
// the file removed) when the daemon does not serve the endpoint; msg says
// why.
func (d *syDaemon) profile(ctx context.Context, secs int, file string) (ok bool, msg string) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+20)*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://sy/debug/pprof/profile?seconds=%d", secs)
	out, err := exec.CommandContext(ctx, "curl", "-s", "--unix-socket", d.socket, url, "-o", file, "-w", "%{http_code}").Output()
	code := strings.TrimSpace(string(out))
	if err != nil {
		_ = os.Remove(file)
		return false, fmt.Sprintf("curl %s failed: %v (HTTP %q)", url, err, code)
	}
	if code != "200" {
		body, _ := os.ReadFile(file)
		_ = os.Remove(file)
		b := strings.TrimSpace(string(body))
		if len(b) > 200 {
			b = b[:200]
		}
		return false, fmt.Sprintf("GET /debug/pprof/profile answered HTTP %s (%s): this daemon build has no pprof endpoint yet", code, b)
	}
	return true, ""
}
