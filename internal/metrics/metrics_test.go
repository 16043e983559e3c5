package metrics

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

type fakeSource struct{ s *Snapshot }

func (f *fakeSource) MetricsSnapshot() *Snapshot { return f.s }

func sample() *Snapshot {
	return &Snapshot{
		Revision: 12,
		Daemon:   Daemon{Version: "0.1.0", GoVersion: "go1.26", Commit: "abc", Start: time.Unix(1700000000, 0), FailedPorts: 1},
		Events:   map[string]uint64{"fdb.move": 3, "port.up": 2}, EventsLagged: 1, Captures: 1, CaptureDropped: 7,
		Bridges: []Bridge{{
			Name: "br0", AgingSeconds: 300, FullPolicy: "refuse", FDBBytesPerEntry: 80,
			FDB:            datapath.FDBStats{Entries: 5, Static: 1, Max: 8192, Learned: 9, Moved: 2, Aged: 3, Evicted: 0, Refused: 4, Flushed: 1},
			Cache:          datapath.CacheStats{Entries: 2, Max: 65536, Masks: 1, Hits: 100, Misses: 3, Inserts: 3, Evictions: 1, Revalidations: 2},
			Rules:          1,
			LearnedPerPort: map[string]int{"tap1": 2},
			Ports: []Port{
				{Name: "tap1", Type: "tap", OFPort: 1, Status: "up", Stats: datapath.PortStats{RxPackets: 10, RxBytes: 1000, TxPackets: 8, TxBytes: 800, Drops: map[string]uint64{"vlan-not-allowed": 2}}},
				{Name: "vx0", Type: "vxlan", OFPort: 2, Status: "error", Stats: datapath.PortStats{Drops: map[string]uint64{"socket-bad-tunnel": 1}},
					Tunnel: &Tunnel{Encap: "vxlan", Local: "198.18.0.1", MTU: 1500, Overhead: 50, VMMTU: 1450, BadHeader: 1,
						Remotes: []Remote{{Addr: "198.18.0.2", Configured: true, Learned: true, MACs: 3, Probed: true, Up: true, RTT: 300 * time.Microsecond},
							{Addr: "198.18.0.9", Learned: true, MACs: 1, HasCounters: true, RxPackets: 5}}}},
			},
		}},
	}
}

func scrape(t *testing.T, src Source) string {
	t.Helper()
	srv := httptest.NewServer(Handler(NewRegistry(src)))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestScrapeHasTheSeries(t *testing.T) {
	out := scrape(t, &fakeSource{sample()})
	for _, want := range []string{
		`switchyard_port_rx_packets_total{bridge="br0",port="tap1"} 10`,
		`switchyard_port_tx_bytes_total{bridge="br0",port="tap1"} 800`,
		`switchyard_port_drops_total{bridge="br0",port="tap1",reason="vlan-not-allowed"} 2`,
		`switchyard_port_drops_total{bridge="br0",port="tap1",reason="mtu-exceeded"} 0`,
		`switchyard_port_drops_total{bridge="br0",port="vx0",reason="socket-bad-tunnel"} 1`,
		`switchyard_port_up{bridge="br0",port="vx0"} 0`,
		`switchyard_port_status{bridge="br0",port="vx0",status="error"} 1`,
		`switchyard_port_info{bridge="br0",ofport="2",port="vx0",type="vxlan"} 1`,
		`switchyard_fdb_entries{bridge="br0"} 5`,
		`switchyard_fdb_learned_limit{bridge="br0"} 8192`,
		`switchyard_fdb_refused_total{bridge="br0"} 4`,
		`switchyard_fdb_port_learned_entries{bridge="br0",port="tap1"} 2`,
		`switchyard_decision_cache_hits_total{bridge="br0"} 100`,
		`switchyard_decision_cache_revalidations_total{bridge="br0"} 2`,
		`switchyard_flow_rules{bridge="br0"} 1`,
		`switchyard_tunnel_vm_mtu_bytes{bridge="br0",port="vx0"} 1450`,
		`switchyard_tunnel_remote_info{bridge="br0",port="vx0",remote="198.18.0.2",source="configured"} 1`,
		`switchyard_tunnel_remote_info{bridge="br0",port="vx0",remote="198.18.0.9",source="learned"} 1`,
		`switchyard_tunnel_remote_fdb_entries{bridge="br0",port="vx0",remote="198.18.0.2"} 3`,
		`switchyard_tunnel_remote_up{bridge="br0",port="vx0",remote="198.18.0.2"} 1`,
		`switchyard_tunnel_remote_probe_rtt_seconds{bridge="br0",port="vx0",remote="198.18.0.2"} 0.0003`,
		`switchyard_tunnel_remote_rx_packets_total{bridge="br0",port="vx0",remote="198.18.0.9"} 5`,
		`switchyard_events_total{kind="fdb.move"} 3`,
		`switchyard_capture_dropped_total 7`,
		`switchyard_build_info{commit="abc",goversion="go1.26",version="0.1.0"} 1`,
		`switchyard_config_revision 12`,
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(out, `remote_up{bridge="br0",port="vx0",remote="198.18.0.9"}`) {
		t.Error("a remote that was never probed has an up series")
	}
}

// TestLint runs client_golang's linter and Debian's promtool over a scrape.
func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(&fakeSource{sample()}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	PromtoolCheck(t, scrape(t, &fakeSource{sample()}))
}

// PromtoolCheck runs `promtool check metrics` over a scrape and fails the
// test on any finding.
func PromtoolCheck(t *testing.T, scrape string) {
	t.Helper()
	if _, err := exec.LookPath("promtool"); err != nil {
		if os.Geteuid() == 0 {
			t.Fatal("promtool is missing (Debian's prometheus package; CI installs it)")
		}
		t.Skip("needs promtool")
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
}

func TestFamiliesAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Families() {
		if seen[f.Name] || !strings.HasPrefix(f.Name, "switchyard_") || f.Help == "" {
			t.Errorf("family %+v", f)
		}
		if f.Type == "counter" != strings.HasSuffix(f.Name, "_total") {
			t.Errorf("%s: a counter's name ends in _total, and only a counter's", f.Name)
		}
		seen[f.Name] = true
	}
	if itoa(-12) != "-12" || itoa(0) != "0" || itoa(65279) != "65279" {
		t.Fatal("itoa")
	}
}
