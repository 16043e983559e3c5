// Command ovsdb measures Switchyard's OVSDB server next to Open vSwitch's
// ovsdb-server in one run, both driven by the same ovs-vsctl commands and
// the same JSON-RPC client, and prints the figures and the ratios:
//
//	go run ./bench/ovsdb [--rounds 3] [--ports 1000] [--singles 1000] [--monitor-ports 10000] [--json FILE]
//
// Scenarios (each server in its own process, on a fresh database file):
//   - bulk: `ovs-vsctl --no-wait add-br br0 -- add-port br0 p1 -- … -- add-port br0 pN`
//     (N ports in one transaction);
//   - single: N `ovs-vsctl --no-wait add-port br0 pI` runs, one transaction
//     each (every run also connects, reads the schema and the database);
//   - monitor: a database of M ports (one Port and one Interface each) is
//     loaded in one transaction, then a client sends monitor_cond for
//     Bridge, Port and Interface (all columns); the time until the whole
//     initial reply is read, the server's resident memory before the
//     monitor and its peak (VmHWM) after it.
//
// Switchyard fsyncs every transaction before replying; ovsdb-server writes
// without fsync unless a transaction asks for "commit durable". The
// figures say so next to the ratio.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
	"github.com/switchyard-net/switchyard/internal/ovsdb/server"
	"github.com/switchyard-net/switchyard/internal/ovsdb/vswitch"
)

func main() {
	if dir := os.Getenv("SYOVSDB_BENCH_CHILD"); dir != "" {
		serveChild(dir)
		return
	}
	rounds := flag.Int("rounds", 3, "rounds (servers interleaved in each)")
	ports := flag.Int("ports", 1000, "ports in the bulk transaction")
	singles := flag.Int("singles", 1000, "single-port ovs-vsctl transactions")
	monPorts := flag.Int("monitor-ports", 10000, "ports in the monitored database")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.Parse()
	for _, p := range []string{"ovs-vsctl", "ovsdb-server", "ovsdb-tool"} {
		if _, err := exec.LookPath(p); err != nil {
			fatal("%s is needed (Debian openvswitch-common / openvswitch-switch): %v", p, err)
		}
	}
	res := map[string]map[string][]float64{}
	add := func(server, metric string, v float64) {
		if res[metric] == nil {
			res[metric] = map[string][]float64{}
		}
		res[metric][server] = append(res[metric][server], v)
	}
	for r := 0; r < *rounds; r++ {
		for _, kind := range []string{"switchyard", "ovs"} {
			fmt.Fprintf(os.Stderr, "round %d/%d: %s\n", r+1, *rounds, kind)
			s := start(kind)
			add(kind, "bulk_s", s.bulk(*ports))
			s.stop()
			s = start(kind)
			add(kind, "single_s", s.singles(*singles))
			s.stop()
			s = start(kind)
			t, rss, hwm, n := s.monitor(*monPorts)
			s.stop()
			add(kind, "monitor_initial_s", t)
			add(kind, "rss_before_mib", rss)
			add(kind, "peak_rss_mib", hwm)
			add(kind, "initial_reply_mib", n)
		}
	}
	report(res, *rounds, *ports, *singles, *monPorts, *jsonOut)
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench/ovsdb: "+format+"\n", a...)
	os.Exit(1)
}

// serveChild is Switchyard's server process.
func serveChild(dir string) {
	db, err := ovsdb.Open(filepath.Join(dir, "conf.db"), vswitch.Schema(), ovsdb.Options{})
	if err != nil {
		fatal("%v", err)
	}
	srv := server.New(server.Config{})
	_ = srv.AddDB(db)
	l, err := server.Listen("punix:" + filepath.Join(dir, "db.sock"))
	if err != nil {
		fatal("%v", err)
	}
	fmt.Println("ready")
	_ = srv.Serve(context.Background(), l)
}

type srv struct {
	kind, dir, sock string
	cmd             *exec.Cmd
}

func start(kind string) *srv {
	dir, err := os.MkdirTemp("", "syovsdbb")
	if err != nil {
		fatal("%v", err)
	}
	s := &srv{kind: kind, dir: dir, sock: filepath.Join(dir, "db.sock")}
	switch kind {
	case "switchyard":
		self, _ := os.Executable()
		s.cmd = exec.Command(self)
		s.cmd.Env = append(os.Environ(), "SYOVSDB_BENCH_CHILD="+dir)
		out, _ := s.cmd.StdoutPipe()
		s.cmd.Stderr = os.Stderr
		if err := s.cmd.Start(); err != nil {
			fatal("%v", err)
		}
		if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "ready\n" {
			fatal("switchyard server: %q %v", l, err)
		}
	case "ovs":
		db := filepath.Join(dir, "conf.db")
		if out, err := exec.Command("ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
			fatal("ovsdb-tool create: %v %s", err, out)
		}
		s.cmd = exec.Command("ovsdb-server", "--remote=punix:"+s.sock, "--unixctl="+filepath.Join(dir, "ctl"), "--no-chdir", "--log-file="+filepath.Join(dir, "log"), db)
		if err := s.cmd.Start(); err != nil {
			fatal("%v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c, err := net.Dial("unix", s.sock); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				fatal("ovsdb-server did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.vsctl("init")
	return s
}

func (s *srv) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	os.RemoveAll(s.dir)
}

func (s *srv) vsctl(args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ovs-vsctl", append([]string{"--no-wait", "--db=unix:" + s.sock}, args...)...).CombinedOutput()
	if err != nil {
		fatal("%s: ovs-vsctl %s: %v %s", s.kind, strings.Join(args[:min(len(args), 6)], " "), err, out)
	}
}

func (s *srv) bulk(n int) float64 {
	args := []string{"add-br", "br0"}
	for i := 1; i <= n; i++ {
		args = append(args, "--", "add-port", "br0", fmt.Sprintf("p%d", i))
	}
	t0 := time.Now()
	s.vsctl(args...)
	return time.Since(t0).Seconds()
}

func (s *srv) singles(n int) float64 {
	s.vsctl("add-br", "br0")
	t0 := time.Now()
	for i := 1; i <= n; i++ {
		s.vsctl("add-port", "br0", fmt.Sprintf("p%d", i))
	}
	return time.Since(t0).Seconds()
}

// monitor loads n ports in one transaction, then times a full monitor_cond.
func (s *srv) monitor(n int) (secs, rssMiB, hwmMiB, replyMiB float64) {
	c, err := net.Dial("unix", s.sock)
	if err != nil {
		fatal("%v", err)
	}
	defer c.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(c, 1<<20))
	call := func(id int, method string, params any) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
		if _, err := c.Write(b); err != nil {
			fatal("%v", err)
		}
		for {
			var m struct {
				ID     *int            `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := dec.Decode(&m); err != nil {
				fatal("%s %s: %v", s.kind, method, err)
			}
			if m.ID != nil && *m.ID == id {
				if len(m.Error) > 0 && string(m.Error) != "null" {
					fatal("%s %s: %s", s.kind, method, m.Error)
				}
				return m.Result
			}
		}
	}
	ops := []any{"Open_vSwitch",
		map[string]any{"op": "insert", "table": "Bridge", "uuid-name": "br", "row": map[string]any{"name": "br0", "ports": []any{"named-uuid", "p0"}}},
		map[string]any{"op": "mutate", "table": "Open_vSwitch", "where": []any{}, "mutations": []any{[]any{"bridges", "insert", []any{"named-uuid", "br"}}}},
	}
	var portRefs []any
	for i := 0; i < n; i++ {
		pn, in := fmt.Sprintf("p%d", i), fmt.Sprintf("i%d", i)
		portRefs = append(portRefs, []any{"named-uuid", pn})
		ops = append(ops,
			map[string]any{"op": "insert", "table": "Interface", "uuid-name": in, "row": map[string]any{"name": pn, "type": "internal",
				"external_ids": []any{"map", []any{[]any{"iface-id", fmt.Sprintf("vm-%d", i)}, []any{"attached-mac", fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255)}}}}},
			map[string]any{"op": "insert", "table": "Port", "uuid-name": pn, "row": map[string]any{"name": pn, "tag": i%4094 + 1, "interfaces": []any{"named-uuid", in}}})
	}
	ops[1].(map[string]any)["row"].(map[string]any)["ports"] = []any{"set", portRefs}
	res := call(1, "transact", ops)
	if strings.Contains(string(res), `"error"`) {
		fatal("%s load: %.300s", s.kind, res)
	}
	rss, _ := procStatus(s.cmd.Process.Pid)
	t0 := time.Now()
	reply := call(2, "monitor_cond", []any{"Open_vSwitch", "m", map[string]any{"Bridge": map[string]any{}, "Port": map[string]any{}, "Interface": map[string]any{}}})
	secs = time.Since(t0).Seconds()
	_, hwm := procStatus(s.cmd.Process.Pid)
	var parsed map[string]map[string]any
	if err := json.Unmarshal(reply, &parsed); err != nil || len(parsed["Port"]) != n || len(parsed["Interface"]) != n {
		fatal("%s monitor reply: %d ports, %d interfaces, %v", s.kind, len(parsed["Port"]), len(parsed["Interface"]), err)
	}
	return secs, rss, hwm, float64(len(reply)) / (1 << 20)
}

// procStatus returns VmRSS and VmHWM in MiB.
func procStatus(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb float64
		if strings.HasPrefix(l, "VmRSS:") {
			fmt.Sscan(strings.TrimSpace(l[6:]), &kb)
			rss = kb / 1024
		}
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Sscan(strings.TrimSpace(l[6:]), &kb)
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(res map[string]map[string][]float64, rounds, ports, singles, monPorts int, jsonOut string) {
	rows := []struct{ metric, label string }{
		{"bulk_s", fmt.Sprintf("%d ports in one ovs-vsctl transaction (s)", ports)},
		{"single_s", fmt.Sprintf("%d single-port ovs-vsctl transactions (s)", singles)},
		{"monitor_initial_s", fmt.Sprintf("monitor_cond initial dump, %d ports (s)", monPorts)},
		{"initial_reply_mib", "initial reply size (MiB)"},
		{"rss_before_mib", fmt.Sprintf("server RSS with %d ports (MiB)", monPorts)},
		{"peak_rss_mib", "server peak RSS after the dump (MiB)"},
	}
	fmt.Printf("| scenario (median of %d) | Switchyard | Open vSwitch 3.1 ovsdb-server | ratio Switchyard/OVS |\n|---|---|---|---|\n", rounds)
	for _, r := range rows {
		a, b := median(res[r.metric]["switchyard"]), median(res[r.metric]["ovs"])
		ratio := 0.0
		if b > 0 {
			ratio = a / b
		}
		fmt.Printf("| %s | %.3f | %.3f | %.2f |\n", r.label, a, b, ratio)
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", " ")
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			fatal("%v", err)
		}
	}
}
