package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOvsdbClientBasics(t *testing.T) {
	ts := startServer(t, Config{})
	if got := ok(t, "ovsdb-client", "list-dbs", ts.remote()); got != "Open_vSwitch\n_Server\n" {
		t.Fatalf("list-dbs: %q", got)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(ok(t, "ovsdb-client", "get-schema", ts.remote(), "Open_vSwitch")), &schema); err != nil {
		t.Fatal(err)
	}
	if schema["name"] != "Open_vSwitch" || schema["version"] != "8.3.1" {
		t.Fatalf("schema %v %v", schema["name"], schema["version"])
	}
	tables := ok(t, "ovsdb-client", "list-tables", ts.remote(), "Open_vSwitch")
	for _, tn := range []string{"Open_vSwitch", "Bridge", "Port", "Interface", "Mirror", "QoS", "Queue", "Controller", "Manager", "Flow_Table", "SSL"} {
		if !strings.Contains(tables, "\n"+tn+"\n") {
			t.Errorf("list-tables lacks %s:\n%s", tn, tables)
		}
	}
	cols := ok(t, "ovsdb-client", "list-columns", ts.remote(), "Open_vSwitch", "Interface")
	if !strings.Contains(cols, "ofport_request") || !strings.Contains(cols, "options") {
		t.Fatalf("list-columns Interface:\n%s", cols)
	}
	// The _Server database, as the IDL reads it.
	sdump := ok(t, "ovsdb-client", "dump", ts.remote(), "_Server")
	if !strings.Contains(sdump, "standalone") || !strings.Contains(sdump, "Open_vSwitch") {
		t.Fatalf("_Server dump:\n%s", sdump)
	}
	// _Server is read-only to clients.
	out := ok(t, "ovsdb-client", "transact", ts.remote(), `["_Server",{"op":"delete","table":"Database","where":[]}]`)
	if !strings.Contains(out, `"not allowed"`) {
		t.Fatalf("delete from _Server: %s", out)
	}
	if sid := strings.TrimSpace(ok(t, "ovsdb-client", "get-schema-version", ts.remote(), "Open_vSwitch")); sid != "8.3.1" {
		t.Fatalf("schema version %q", sid)
	}
}

// transact runs one ovsdb-client transaction and decodes the result.
func transact(t *testing.T, ts *testServer, ops string) []map[string]any {
	t.Helper()
	out := ok(t, "ovsdb-client", "transact", ts.remote(), `["Open_vSwitch",`+ops+`]`)
	var res []map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result %q: %v", out, err)
	}
	return res
}

func lastError(res []map[string]any) (string, string) {
	for _, r := range res {
		if e, ok := r["error"].(string); ok {
			d, _ := r["details"].(string)
			return e, d
		}
	}
	return "", ""
}

func TestOvsdbClientTransactErrorsChangeNothing(t *testing.T) {
	ts := startServer(t, Config{})
	res := transact(t, ts, `{"op":"insert","table":"Open_vSwitch","row":{"bridges":["named-uuid","b"]}},
		{"op":"insert","table":"Bridge","uuid-name":"b","row":{"name":"br0","ports":["named-uuid","p"]}},
		{"op":"insert","table":"Port","uuid-name":"p","row":{"name":"p0","interfaces":["named-uuid","i"]}},
		{"op":"insert","table":"Interface","uuid-name":"i","row":{"name":"p0"}}`)
	if e, d := lastError(res); e != "" {
		t.Fatalf("setup: %s: %s", e, d)
	}
	before := ok(t, "ovsdb-client", "dump", ts.remote(), "Open_vSwitch")
	cases := []struct {
		name, ops, err, details string
	}{
		{"enum", `{"op":"insert","table":"Port","row":{"name":"x","vlan_mode":"bogus","interfaces":["named-uuid","i"]}},{"op":"insert","table":"Interface","uuid-name":"i","row":{"name":"x"}}`,
			"constraint violation", "not one of the allowed values"},
		{"range", `{"op":"update","table":"Interface","where":[["name","==","p0"]],"row":{"ofport_request":70000}}`, "constraint violation", "70000"},
		{"set size", `{"op":"update","table":"Port","where":[],"row":{"interfaces":["set",[]]}}`, "constraint violation", "elements"},
		{"strong ref", `{"op":"update","table":"Bridge","where":[],"row":{"ports":["uuid","2b9a4d0e-0000-4000-8000-000000000001"]}}`,
			"referential integrity violation", "references nonexistent row"},
		{"delete referenced", `{"op":"delete","table":"Port","where":[]}`, "referential integrity violation", "remaining reference"},
		{"index", `{"op":"insert","table":"Bridge","uuid-name":"b","row":{"name":"br0"}},{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","b"]]]}`, "constraint violation", "identical values"},
		// An unreferenced row of a non-root table is collected, not kept.
		{"gc", `{"op":"insert","table":"Bridge","row":{"name":"brgc"}},{"op":"abort"}`, "aborted", ""},
		{"maxRows", `{"op":"insert","table":"Open_vSwitch","row":{}}`, "constraint violation", "limit of 1 row"},
		{"immutable", `{"op":"update","table":"Bridge","where":[],"row":{"name":"br9"}}`, "constraint violation", "immutable"},
		{"abort", `{"op":"insert","table":"Bridge","row":{"name":"br7"}},{"op":"abort"}`, "aborted", ""},
		{"unknown column", `{"op":"insert","table":"Bridge","row":{"nope":1}}`, "syntax error", "nope"},
		{"type", `{"op":"insert","table":"Bridge","row":{"name":7}}`, "syntax error", "expected string"},
		{"wait", `{"op":"wait","table":"Bridge","timeout":0,"where":[],"columns":["name"],"until":"==","rows":[{"name":"brX"}]}`, "timed out", ""},
		{"assert", `{"op":"assert","lock":"nobody"}`, "not owner", ""},
		{"divide", `{"op":"mutate","table":"Port","where":[],"mutations":[["bond_updelay","/=",0]]}`, "domain error", ""},
		{"mutate range", `{"op":"mutate","table":"Port","where":[],"mutations":[["tag","insert",["set",[1,2]]]]}`, "constraint violation", "elements"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := transact(t, ts, c.ops)
			e, d := lastError(res)
			if e != c.err || !strings.Contains(d, c.details) {
				t.Fatalf("got %q %q, want %q containing %q (%v)", e, d, c.err, c.details, res)
			}
			if after := ok(t, "ovsdb-client", "dump", ts.remote(), "Open_vSwitch"); after != before {
				t.Fatalf("a rejected transaction changed the database:\n%s\n---\n%s", before, after)
			}
		})
	}
	// Commit-time errors come as an extra result after one per operation.
	res = transact(t, ts, `{"op":"insert","table":"Bridge","uuid-name":"b","row":{"name":"br0"}},{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","b"]]]}`)
	if len(res) != 3 || res[2]["error"] != "constraint violation" || res[1]["count"] != 1.0 {
		t.Fatalf("commit-time error shape: %v", res)
	}
	// An unreferenced insert into a non-root table is garbage-collected.
	transact(t, ts, `{"op":"insert","table":"Bridge","row":{"name":"brgc"}}`)
	if res := transact(t, ts, `{"op":"select","table":"Bridge","where":[["name","==","brgc"]]}`); len(res[0]["rows"].([]any)) != 0 {
		t.Fatalf("unreferenced Bridge row kept: %v", res)
	}
	// A failing operation: its error, nulls after.
	out := ok(t, "ovsdb-client", "transact", ts.remote(), `["Open_vSwitch",{"op":"select","table":"Bridge","where":[]},{"op":"abort"},{"op":"select","table":"Bridge","where":[]}]`)
	var shape []map[string]any
	if err := json.Unmarshal([]byte(out), &shape); err != nil || len(shape) != 3 || shape[0]["rows"] == nil || shape[1]["error"] != "aborted" || shape[2] != nil {
		t.Fatalf("abort shape: %s", out)
	}
}

// ovsdb-client monitor and monitor-cond see changes another client makes.
func TestOvsdbClientMonitorSeesOtherClients(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	for _, mode := range []string{"monitor", "monitor-cond"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{mode, ts.remote(), "Open_vSwitch", "Bridge", "name,fail_mode"}
			if mode == "monitor-cond" {
				args = []string{mode, ts.remote(), "Open_vSwitch", `[["name","==","brm"]]`, "Bridge", "name,fail_mode"}
			}
			eventually(t, 5*time.Second, "the previous monitor to go", func() bool { return ts.srv.Stats().Monitors.Load() == 0 })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, need(t, "ovsdb-client"), append(args, "--format=csv")...)
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cancel(); _ = cmd.Wait() }()
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			expect := func(sub string) {
				t.Helper()
				timeout := time.After(10 * time.Second)
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("monitor ended before %q", sub)
						}
						if strings.Contains(l, sub) {
							return
						}
					case <-timeout:
						t.Fatalf("monitor never printed %q", sub)
					}
				}
			}
			// Changes start once the server has registered the monitor.
			eventually(t, 5*time.Second, "the monitor to be registered", func() bool { return ts.srv.Stats().Monitors.Load() >= 1 })
			ts.vsctl("add-br", "brm")
			expect("brm")
			ts.vsctl("set", "bridge", "brm", "fail_mode=secure")
			expect("secure")
			ts.vsctl("set", "bridge", "brm", "fail_mode=standalone")
			expect("standalone")
			ts.vsctl("del-br", "brm")
			expect("delete")
		})
	}
}

// rpcClient is a raw JSON-RPC client for the protocol tests.
type rpcClient struct {
	t    *testing.T
	conn io.ReadWriteCloser
	dec  *json.Decoder
	mu   sync.Mutex
	id   int
	// notes holds notifications received while waiting for replies.
	notes []map[string]any
}

func dialRPC(t *testing.T, ts *testServer) *rpcClient {
	t.Helper()
	c, err := netDial(ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d := json.NewDecoder(c)
	d.UseNumber()
	return &rpcClient{t: t, conn: c, dec: d}
}

func (c *rpcClient) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatal(err)
	}
}

// call sends a request and returns its reply, keeping notifications.
func (c *rpcClient) call(method string, params ...any) map[string]any {
	c.t.Helper()
	c.id++
	id := c.id
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	c.send(string(b))
	for {
		m := c.read()
		if m["method"] != nil {
			c.notes = append(c.notes, m)
			continue
		}
		if n, _ := m["id"].(json.Number); n.String() == jsonInt(id) {
			return m
		}
	}
}

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }

func (c *rpcClient) read() map[string]any {
	c.t.Helper()
	type res struct {
		m   map[string]any
		err error
	}
	ch := make(chan res, 1)
	go func() {
		var m map[string]any
		err := c.dec.Decode(&m)
		ch <- res{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			c.t.Fatalf("read: %v", r.err)
		}
		return r.m
	case <-time.After(10 * time.Second):
		c.t.Fatal("no message within 10 s")
	}
	return nil
}

// note waits for a notification of the method.
func (c *rpcClient) note(method string) map[string]any {
	c.t.Helper()
	for i, n := range c.notes {
		if n["method"] == method {
			c.notes = append(c.notes[:i], c.notes[i+1:]...)
			return n
		}
	}
	for {
		m := c.read()
		if m["method"] == method {
			return m
		}
		c.notes = append(c.notes, m)
	}
}
