package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
)

// No update overtakes a monitor's reply while others commit, and a
// client's own transaction's update comes before the transaction's reply
// (ovsdb-server(7) 4.1.5).
func TestMonitorOrdering(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			// Ephemeral: no fsync, so commits come fast.
			ts.db.Transact(ctx, []ovsdb.Operation{ovsdb.Update("Open_vSwitch", nil, map[string]ovsdb.Datum{"statistics": ovsdb.StringMap(map[string]string{"i": fmt.Sprint(i)})})}, ovsdb.TxnOptions{})
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	c := dialRPC(t, ts)
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("m%d", i)
		b, _ := json.Marshal(map[string]any{"id": id, "method": "monitor_cond", "params": []any{"Open_vSwitch", id, map[string]any{"Open_vSwitch": map[string]any{"columns": []any{"statistics"}}}}})
		c.send(string(b))
		for {
			m := c.read()
			if m["id"] == id {
				break
			}
			if p, ok := m["params"].([]any); ok && len(p) > 0 && p[0] == id {
				t.Fatalf("update for %s before its reply: %v", id, m)
			}
		}
		c.call("monitor_cancel", id)
	}
	cancel()
	wg.Wait()
	// Own transaction: update2 first, then the reply.
	c2 := dialRPC(t, ts)
	c2.call("monitor_cond", "Open_vSwitch", "own", map[string]any{"Bridge": map[string]any{"columns": []any{"name"}}})
	b, _ := json.Marshal(map[string]any{"id": "tx", "method": "transact", "params": []any{"Open_vSwitch",
		map[string]any{"op": "insert", "table": "Bridge", "uuid-name": "b", "row": map[string]any{"name": "brx"}},
		map[string]any{"op": "mutate", "table": "Open_vSwitch", "where": []any{}, "mutations": []any{[]any{"bridges", "insert", []any{"named-uuid", "b"}}}}}})
	c2.send(string(b))
	sawUpdate := false
	for {
		m := c2.read()
		if m["method"] == "update2" {
			sawUpdate = true
			continue
		}
		if m["id"] == "tx" {
			break
		}
	}
	if !sawUpdate {
		t.Fatal("the transaction's reply came before its update")
	}
}
