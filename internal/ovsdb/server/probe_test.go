package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ptcp remote, and the inactivity probe: an idle TCP client gets an echo
// request and, answering nothing, is disconnected; one that answers stays.
func TestTCPInactivityProbe(t *testing.T) {
	ts := startServer(t, Config{ProbeInterval: 100 * time.Millisecond})
	l, err := Listen("ptcp:0:127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ts.srv.Serve(ctx, l)
	addr := l.Addr().String()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	polite, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer polite.Close()
	go func() {
		dec := json.NewDecoder(polite)
		for {
			var m map[string]any
			if dec.Decode(&m) != nil {
				return
			}
			if m["method"] == "echo" {
				b, _ := json.Marshal(map[string]any{"id": m["id"], "result": m["params"], "error": nil})
				polite.Write(b)
			}
		}
	}()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(silent)
	var m map[string]any
	if err := json.NewDecoder(r).Decode(&m); err != nil || m["method"] != "echo" {
		t.Fatalf("no echo probe: %v %v", m, err)
	}
	start := time.Now()
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("silent client not disconnected")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("disconnected too late")
	}
	// The polite one is still served after several intervals.
	eventually(t, 5*time.Second, "a few probe intervals", func() bool { return time.Since(start) > 500*time.Millisecond })
	b, _ := json.Marshal(map[string]any{"id": "x", "method": "list_dbs", "params": []any{}})
	if _, err := polite.Write(b); err != nil {
		t.Fatalf("polite client dropped: %v", err)
	}
}

// ovsdb-client's own lock commands.
func TestOvsdbClientLock(t *testing.T) {
	ts := startServer(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	holder := exec.CommandContext(ctx, need(t, "ovsdb-client"), "lock", ts.remote(), "L")
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); holder.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, `"locked":true`) {
		t.Fatalf("ovsdb-client lock: %q %v", line, err)
	}
	c := dialRPC(t, ts)
	if r := c.call("lock", "L"); !strings.Contains(jsonStr(r["result"]), `"locked":false`) {
		t.Fatalf("second locker: %v", r)
	}
	holder.Process.Kill()
	if n := c.note("locked"); jsonStr(n["params"]) != `["L"]` {
		t.Fatalf("locked after the holder died: %v", n)
	}
}

func jsonStr(v any) string { b, _ := json.Marshal(v); return string(b) }
