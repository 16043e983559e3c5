package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// nsClient is an HTTP client whose connections are made inside network
// namespace ns (to reach a server on that namespace's loopback).
func nsClient(ns string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := testnet.InNS(ns, func() (err error) {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return
			})
			return c, err
		}}}
}

// startInNS starts a long-running program inside ns and stops it (by PID)
// when the test ends.
func startInNS(t *testing.T, ns string, log *bytes.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestPrometheusScrapesADaemon runs a small lab (a host namespace with a
// daemon, two VMs on TAPs and a VXLAN port to a second host) whose daemon
// serves /metrics on its namespace's loopback, and a real Prometheus
// server in the same namespace that scrapes it every second; Prometheus
// must answer queries on the switch's counters, and the scrape passes
// promtool.
func TestPrometheusScrapesADaemon(t *testing.T) {
	testnet.RequireRoot(t)
	for _, bin := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing (Debian's prometheus package; CI installs it)", bin)
		}
	}
	a, b := underlayPair(t)
	da := testnet.StartDaemon(t, a, "--metrics-listen", "127.0.0.1:9475")
	db := testnet.StartDaemon(t, b)
	for i, d := range []*testnet.Daemon{da, db} {
		d.MustCLI("bridge", "add", "br0")
		d.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "5001", "--local", fmt.Sprintf("198.18.0.%d", i+1), "--remote", fmt.Sprintf("198.18.0.%d", 2-i))
	}
	v1 := tapVM(t, da, "br0", "203.0.113.1")
	v2 := tapVM(t, da, "br0", "203.0.113.2")
	v3 := tapVM(t, db, "br0", "203.0.113.3")
	reach(t, v1, v2)
	reach(t, v1, v3)
	// promtool over a scrape of the real daemon, with traffic counted.
	scrape, err := api.NewClient(da.Socket).Metrics()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: switchyard
    static_configs:
      - targets: ['127.0.0.1:9475']
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var plog bytes.Buffer
	startInNS(t, a, &plog, "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:9090", "--log.level=warn")
	defer func() {
		if t.Failed() {
			t.Logf("prometheus log:\n%s", plog.String())
		}
	}()
	hc := nsClient(a)
	query := func(q string) (float64, error) {
		resp, err := hc.Get("http://127.0.0.1:9090/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
			return 0, fmt.Errorf("query %s: %v %s", q, err, body)
		}
		if len(r.Data.Result) != 1 {
			return 0, fmt.Errorf("query %s: %d series: %s", q, len(r.Data.Result), body)
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		return strconv.ParseFloat(s, 64)
	}
	// Traffic while Prometheus scrapes.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = testnet.NS(v1.ns, "ping", "-c", "5", "-i", "0.2", "-W", "1", "-q", v3.ip)
			}
		}
	}()
	checks := []struct{ q, what string }{
		{`up{job="switchyard"}`, "the target is up"},
		{fmt.Sprintf(`switchyard_port_rx_packets_total{bridge="br0",port=%q}`, v1.nic), "rx packets of the first VM's port"},
		{`sum(rate(switchyard_port_tx_packets_total{port="vx0"}[5s]))`, "the tunnel port's send rate"},
		{`switchyard_tunnel_remote_fdb_entries{port="vx0",remote="198.18.0.2"}`, "MACs behind the remote VTEP"},
		{`switchyard_tunnel_remote_rx_packets_total{port="vx0",remote="198.18.0.2"}`, "frames received from the remote VTEP"},
		{`switchyard_tunnel_remote_tx_bytes_total{port="vx0",remote="198.18.0.2"}`, "bytes sent to the remote VTEP"},
		{`switchyard_fdb_entries{bridge="br0"}`, "FDB size"},
		{`switchyard_decision_cache_hits_total{bridge="br0"}`, "decision cache hits"},
	}
	for _, c := range checks {
		testnet.Eventually(t, 60*time.Second, "Prometheus answers "+c.what, func() error {
			v, err := query(c.q)
			if err != nil {
				return err
			}
			if v <= 0 {
				return fmt.Errorf("%s = %v", c.q, v)
			}
			t.Logf("%s = %v", c.q, v)
			return nil
		})
	}
}
