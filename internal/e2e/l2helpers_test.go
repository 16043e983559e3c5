package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/bond"
	"github.com/switchyard-net/switchyard/internal/stp/l2lab"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// showOf returns the daemon's `show --json`.
func showOf(t *testing.T, d *testnet.Daemon) (*api.Show, error) {
	t.Helper()
	out, err := d.CLI("show", "--json")
	if err != nil {
		return nil, err
	}
	var s api.Show
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, fmt.Errorf("show --json: %w: %s", err, out)
	}
	return &s, nil
}

// bondOf returns `bond show NAME --json`.
func bondOf(d *testnet.Daemon, name string) (*bond.Status, error) {
	out, err := d.CLI("bond", "show", name, "--json")
	if err != nil {
		return nil, err
	}
	var s bond.Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, fmt.Errorf("bond show --json: %w: %s", err, out)
	}
	return &s, nil
}

// stpOf returns bridge br's spanning tree from `show --json`.
func stpOf(t *testing.T, d *testnet.Daemon, br string) (*api.STPStatus, error) {
	s, err := showOf(t, d)
	if err != nil {
		return nil, err
	}
	for _, b := range s.Bridges {
		if b.Name == br {
			if b.SpanningTree == nil {
				return nil, fmt.Errorf("bridge %s runs no spanning tree", br)
			}
			return b.SpanningTree, nil
		}
	}
	return nil, fmt.Errorf("no bridge %s", br)
}

// stpPort returns a port of a spanning tree status by name.
func stpPort(st *api.STPStatus, name string) *api.STPPortStatus {
	for i := range st.Ports {
		if st.Ports[i].Name == name {
			return &st.Ports[i]
		}
	}
	return nil
}

// member returns a bond member's status by name.
func member(st *bond.Status, name string) *bond.MemberStatus {
	for i := range st.Members {
		if st.Members[i].Name == name {
			return &st.Members[i]
		}
	}
	return nil
}

// waitFor polls cond every 20 ms and returns how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not true after %v: %v", what, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bg is a background command started by a test, ended by PID.
type bg struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
}

func startBG(t *testing.T, args ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { b.stop() })
	return b
}

func (b *bg) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(3 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// wait waits for the command to end (at most d) and returns its output.
func (b *bg) wait(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(d):
		b.stop()
		t.Fatalf("%s still running after %v: %s", strings.Join(b.cmd.Args, " "), d, b.out.String())
	}
	return b.out.String()
}

// iperfResult is what the tests read of iperf3 -J.
type iperfResult struct {
	Intervals []struct {
		Sum struct {
			Start   float64 `json:"start"`
			End     float64 `json:"end"`
			Bytes   float64 `json:"bytes"`
			Retrans int     `json:"retransmits"`
		} `json:"sum"`
	} `json:"intervals"`
	End struct {
		SumSent struct {
			Bytes   float64 `json:"bytes"`
			BPS     float64 `json:"bits_per_second"`
			Retrans int     `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			Bytes float64 `json:"bytes"`
			BPS   float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

func parseIperf(t *testing.T, out string) iperfResult {
	t.Helper()
	var r iperfResult
	if i := strings.Index(out, "{"); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("iperf3 -J: %v: %s", err, out)
	}
	if r.Error != "" {
		t.Fatalf("iperf3: %s", r.Error)
	}
	return r
}

// longestStall is the longest run of intervals that moved less than a
// tenth of the median interval's bytes, in seconds.
func (r iperfResult) longestStall() float64 {
	var l []float64
	for _, iv := range r.Intervals {
		l = append(l, iv.Sum.Bytes)
	}
	if len(l) == 0 {
		return 0
	}
	s := append([]float64(nil), l...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	med := s[len(s)/2]
	longest, run := 0.0, 0.0
	for _, iv := range r.Intervals {
		if iv.Sum.Bytes < med/10 {
			run += iv.Sum.End - iv.Sum.Start
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// series is the intervals' throughput in Mbit/s, for logs.
func (r iperfResult) series() string {
	var b strings.Builder
	for _, iv := range r.Intervals {
		if d := iv.Sum.End - iv.Sum.Start; d > 0 {
			fmt.Fprintf(&b, "%.0f ", iv.Sum.Bytes*8/d/1e6)
		}
	}
	return b.String()
}

// needCmd fails the test when a peer tool is missing (CI installs it).
func needCmd(t *testing.T, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s not found: install it (.ci/packages/l2int.txt)", c)
		}
	}
}

// countFrames counts the frames of a capture that match a tshark filter.
func countFrames(t *testing.T, pcap, filter string) int {
	t.Helper()
	return len(l2lab.Tshark(t, pcap, filter, "frame.number"))
}

// kernelBridge makes a Linux bridge with kernel STP in ns: priority prio,
// hello 1 s, max age 6 s, forward delay 4 s, address mac.
func kernelBridge(t *testing.T, ns string, prio int, mac string, ports ...string) {
	t.Helper()
	testnet.MustNS(t, ns, "ip", "link", "add", "br0", "type", "bridge", "stp_state", "1", "priority", strconv.Itoa(prio),
		"hello_time", "100", "max_age", "600", "forward_delay", "400")
	testnet.MustNS(t, ns, "ip", "link", "set", "br0", "address", mac)
	for _, p := range ports {
		testnet.MustNS(t, ns, "ip", "link", "set", p, "master", "br0")
		testnet.MustNS(t, ns, "ip", "link", "set", p, "up")
	}
	testnet.MustNS(t, ns, "ip", "link", "set", "br0", "up")
}
