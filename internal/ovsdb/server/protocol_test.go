package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
)

func TestLockStealUnlock(t *testing.T) {
	ts := startServer(t, Config{})
	a, b := dialRPC(t, ts), dialRPC(t, ts)
	if r := a.call("lock", "L"); fmt.Sprint(r["result"]) != "map[locked:true]" {
		t.Fatalf("a lock: %v", r)
	}
	if r := b.call("lock", "L"); fmt.Sprint(r["result"]) != "map[locked:false]" {
		t.Fatalf("b lock: %v", r)
	}
	// Only the owner's assert passes.
	assert := []any{"Open_vSwitch", map[string]any{"op": "assert", "lock": "L"}}
	if r := a.call("transact", assert...); fmt.Sprint(r["result"]) != "[map[]]" {
		t.Fatalf("owner assert: %v", r)
	}
	if r := b.call("transact", assert...); !strings.Contains(fmt.Sprint(r["result"]), "not owner") {
		t.Fatalf("waiter assert: %v", r)
	}
	// a unlocks: b is told "locked".
	a.call("unlock", "L")
	if n := b.note("locked"); fmt.Sprint(n["params"]) != "[L]" {
		t.Fatalf("locked notification: %v", n)
	}
	// a steals: b is told "stolen"; the lock returns to b when a unlocks.
	if r := a.call("steal", "L"); fmt.Sprint(r["result"]) != "map[locked:true]" {
		t.Fatalf("steal: %v", r)
	}
	if n := b.note("stolen"); fmt.Sprint(n["params"]) != "[L]" {
		t.Fatalf("stolen notification: %v", n)
	}
	a.call("unlock", "L")
	b.note("locked")
	// A session that goes away releases its locks.
	c := dialRPC(t, ts)
	c.call("lock", "L")
	b.conn.Close()
	c.note("locked")
}

func TestEchoGetServerIDAndErrors(t *testing.T) {
	ts := startServer(t, Config{})
	c := dialRPC(t, ts)
	if r := c.call("echo", "x", 1.5); fmt.Sprint(r["result"]) != "[x 1.5]" {
		t.Fatalf("echo: %v", r)
	}
	if r := c.call("get_server_id"); r["result"] != ts.srv.ServerID().String() {
		t.Fatalf("server id: %v", r)
	}
	if r := c.call("set_db_change_aware", true); fmt.Sprint(r["result"]) != "map[]" {
		t.Fatalf("set_db_change_aware: %v", r)
	}
	if r := c.call("nope"); r["error"] != "unknown method" {
		t.Fatalf("unknown method: %v", r)
	}
	if r := c.call("get_schema", "Nope"); !strings.Contains(fmt.Sprint(r["error"]), "unknown database") {
		t.Fatalf("unknown db: %v", r)
	}
	if r := c.call("transact", "Open_vSwitch", "not-an-op"); !strings.Contains(fmt.Sprint(r["result"]), "syntax error") {
		t.Fatalf("bad op: %v", r)
	}
	if r := c.call("monitor", "Open_vSwitch", "m", map[string]any{"Nope": map[string]any{}}); !strings.Contains(fmt.Sprint(r["error"]), "no table") {
		t.Fatalf("bad monitor: %v", r)
	}
	// Valid JSON that is not JSON-RPC gets an error; the session goes on.
	c.send(`{"foo":1}`)
	if m := c.read(); !strings.Contains(fmt.Sprint(m["error"]), "syntax error") {
		t.Fatalf("non-JSON-RPC: %v", m)
	}
	if r := c.call("echo"); r["error"] != nil {
		t.Fatalf("session broken after a bad message: %v", r)
	}
	// Broken JSON: an error and the connection closes; others carry on.
	other := dialRPC(t, ts)
	c.send(`{"id":1,"method":"echo","params":[}`)
	if m := c.read(); !strings.Contains(fmt.Sprint(m["error"]), "syntax error") {
		t.Fatalf("bad JSON: %v", m)
	}
	if r := other.call("echo"); r["error"] != nil {
		t.Fatalf("neighbour affected: %v", r)
	}
	if n := ts.srv.Stats().BadMessages.Load(); n != 2 {
		t.Fatalf("bad messages counted %d, want 2", n)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	ts := startServer(t, Config{MaxMessage: 4096})
	c := dialRPC(t, ts)
	c.send(`{"id":1,"method":"echo","params":["` + strings.Repeat("x", 5000) + `"]}`)
	if m := c.read(); !strings.Contains(fmt.Sprint(m["error"]), "resources exhausted") {
		t.Fatalf("oversized: %v", m)
	}
	var buf [1]byte
	c.conn.(net.Conn).SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Read(buf[:]); err == nil {
		t.Fatal("connection stayed open after an oversized message")
	}
}

// A wait with a timeout blocks only its own request: the session answers
// others meanwhile, and the wait completes when another client makes its
// condition true (or "cancel" ends it).
func TestWaitAndCancel(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	c := dialRPC(t, ts)
	wait := map[string]any{"op": "wait", "table": "Bridge", "timeout": 10000, "where": []any{[]any{"name", "==", "brw"}},
		"columns": []any{"name"}, "until": "!=", "rows": []any{}}
	b, _ := json.Marshal(map[string]any{"id": "w1", "method": "transact", "params": []any{"Open_vSwitch", wait}})
	c.send(string(b))
	if r := c.call("echo"); r["error"] != nil {
		t.Fatalf("echo behind a wait: %v", r)
	}
	ts.vsctl("add-br", "brw")
	for {
		m := c.read()
		if m["id"] == "w1" {
			if fmt.Sprint(m["result"]) != "[map[]]" {
				t.Fatalf("wait result: %v", m)
			}
			break
		}
	}
	b, _ = json.Marshal(map[string]any{"id": "w2", "method": "transact", "params": []any{"Open_vSwitch", map[string]any{"op": "wait", "table": "Bridge",
		"where": []any{}, "columns": []any{"name"}, "until": "==", "rows": []any{}}}})
	c.send(string(b))
	c.send(`{"id":null,"method":"cancel","params":["w2"]}`)
	for {
		m := c.read()
		if m["id"] == "w2" {
			if !strings.Contains(fmt.Sprint(m["result"]), "canceled") {
				t.Fatalf("canceled wait: %v", m)
			}
			break
		}
	}
}

// monitor_cond with a condition, monitor_cond_change moving it, and
// monitor_cancel.
func TestMonitorCondChange(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	ts.vsctl("add-br", "a", "--", "add-br", "b")
	c := dialRPC(t, ts)
	req := map[string]any{"Bridge": []any{map[string]any{"columns": []any{"name", "fail_mode"}, "where": []any{[]any{"name", "==", "a"}}}}}
	r := c.call("monitor_cond", "Open_vSwitch", "m1", req)
	init := r["result"].(map[string]any)["Bridge"].(map[string]any)
	if len(init) != 1 {
		t.Fatalf("initial rows %v", init)
	}
	var aUUID string
	for u, row := range init {
		aUUID = u
		if fmt.Sprint(row) != "map[initial:map[name:a]]" {
			t.Fatalf("initial row (defaults omitted): %v", row)
		}
	}
	ts.vsctl("set", "bridge", "b", "fail_mode=secure") // not monitored
	ts.vsctl("set", "bridge", "a", "fail_mode=secure")
	n := c.note("update2")
	upd := n["params"].([]any)[1].(map[string]any)["Bridge"].(map[string]any)
	if fmt.Sprint(upd) != fmt.Sprintf("map[%s:map[modify:map[fail_mode:secure]]]", aUUID) {
		t.Fatalf("update2: %v", upd)
	}
	// Move the condition to b: a leaves (delete), b enters (insert).
	r = c.call("monitor_cond_change", "m1", "m2", map[string]any{"Bridge": []any{map[string]any{"where": []any{[]any{"name", "==", "b"}}}}})
	if r["error"] != nil {
		t.Fatalf("cond change: %v", r)
	}
	n = c.note("update2")
	if id := n["params"].([]any)[0]; id != "m2" {
		t.Fatalf("update after change carries id %v", id)
	}
	s := fmt.Sprint(n["params"].([]any)[1])
	if !strings.Contains(s, "delete:<nil>") || !strings.Contains(s, "insert:map[fail_mode:secure name:b]") {
		t.Fatalf("cond change update: %s", s)
	}
	if r := c.call("monitor_cancel", "m2"); r["error"] != nil {
		t.Fatalf("cancel: %v", r)
	}
	ts.vsctl("set", "bridge", "b", "fail_mode=standalone")
	if r := c.call("echo"); len(c.notes) != 0 {
		t.Fatalf("update after monitor_cancel: %v %v", c.notes, r)
	}
}

// monitor_cond_since: a client that knows the last transaction gets only
// what changed after it; one with an unknown id gets everything.
func TestMonitorCondSince(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	ts.vsctl("add-br", "br0")
	req := map[string]any{"Bridge": []any{map[string]any{"columns": []any{"name"}}}}
	c := dialRPC(t, ts)
	r := c.call("monitor_cond_since", "Open_vSwitch", "m", req, ovsdb.ZeroUUID.String())
	res := r["result"].([]any)
	if res[0] != false || len(res[2].(map[string]any)["Bridge"].(map[string]any)) != 1 {
		t.Fatalf("first: %v", res)
	}
	last := res[1].(string)
	c.conn.Close()
	ts.vsctl("add-br", "br1")
	c = dialRPC(t, ts)
	r = c.call("monitor_cond_since", "Open_vSwitch", "m", req, last)
	res = r["result"].([]any)
	rows := res[2].(map[string]any)["Bridge"].(map[string]any)
	if res[0] != true || len(rows) != 1 || !strings.Contains(fmt.Sprint(rows), "insert:map[name:br1]") {
		t.Fatalf("since: %v", res)
	}
	if res[1] == last {
		t.Fatal("last-txn-id did not advance")
	}
	ts.vsctl("add-br", "br2")
	n := c.note("update3")
	if p := n["params"].([]any); len(p) != 3 || p[1] == res[1] {
		t.Fatalf("update3: %v", n)
	}
	r = c.call("monitor_cond_since", "Open_vSwitch", "m2", req, ovsdb.NewUUID().String())
	if res := r["result"].([]any); res[0] != false || len(res[2].(map[string]any)["Bridge"].(map[string]any)) != 3 {
		t.Fatalf("unknown id: %v", res)
	}
}

// A client that monitors but does not read must neither grow the server's
// memory without bound nor slow other clients: its updates are merged per
// row, and when it reads again it gets the net state.
func TestSlowMonitorClient(t *testing.T) {
	ts := startServer(t, Config{MonitorBacklog: 64 << 10, WriteTimeout: 30 * time.Second})
	ts.vsctl("init")
	ts.vsctl("add-br", "br0")
	slow, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.(*net.UnixConn).SetReadBuffer(4096)
	fmt.Fprintf(slow, `{"id":1,"method":"monitor","params":["Open_vSwitch","m",{"Bridge":{"columns":["name","external_ids"]}}]}`)
	// Big rows, many changes, and the slow client never reads.
	pad := strings.Repeat("x", 8000)
	ctx := context.Background()
	var br ovsdb.UUID
	for _, r := range ts.db.Rows("Bridge") {
		br = r.UUID
	}
	start := time.Now()
	const n = 400
	for i := 0; i < n; i++ {
		_, err := ts.db.Transact(ctx, []ovsdb.Operation{{Op: "update", Table: "Bridge", Where: []ovsdb.Condition{{Column: "_uuid", Function: "==", Value: ovsdb.Scalar(br)}},
			Row: map[string]ovsdb.Datum{"external_ids": ovsdb.StringMap(map[string]string{"i": fmt.Sprint(i), "pad": pad})}}}, ovsdb.TxnOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("writers were held up by the slow client: %v", el)
	}
	if ts.srv.Stats().CoalescedTimes.Load() == 0 {
		t.Fatal("no update was coalesced although the client did not read")
	}
	// Another client is served normally meanwhile.
	if r := dialRPC(t, ts).call("echo"); r["error"] != nil {
		t.Fatal(r)
	}
	// Now read: the last update carries the final value.
	dec := json.NewDecoder(slow)
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	msgs := 0
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("after %d messages: %v", msgs, err)
		}
		msgs++
		if strings.Contains(fmt.Sprint(m["params"]), fmt.Sprintf("[i %d]", n-1)) {
			break
		}
	}
	if msgs > n/2 {
		t.Fatalf("%d messages for %d changes: updates were not merged", msgs, n)
	}
	t.Logf("%d changes reached the slow client in %d messages", n, msgs)
}
