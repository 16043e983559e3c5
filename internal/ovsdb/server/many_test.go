package server

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
)

// Many clients at once: concurrent writers, each served in order, and a
// monitor that sees every insert exactly once.
func TestManyClients(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	mon := dialRPC(t, ts)
	mon.call("monitor_cond", "Open_vSwitch", "m", map[string]any{"Bridge": map[string]any{"columns": []any{"name"}, "select": map[string]any{"initial": false}}})
	const clients, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c, err := net.Dial("unix", ts.sock)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			dec := json.NewDecoder(c)
			// Pipeline all requests, then read the replies: they must come
			// back in order.
			for i := 0; i < each; i++ {
				b, _ := json.Marshal(map[string]any{"id": i, "method": "transact", "params": []any{"Open_vSwitch",
					map[string]any{"op": "insert", "table": "Bridge", "uuid-name": "b", "row": map[string]any{"name": fmt.Sprintf("g%d-%d", g, i)}},
					map[string]any{"op": "mutate", "table": "Open_vSwitch", "where": []any{}, "mutations": []any{[]any{"bridges", "insert", []any{"named-uuid", "b"}}}}}})
				if _, err := c.Write(b); err != nil {
					errs <- err
					return
				}
			}
			for i := 0; i < each; i++ {
				var m struct {
					ID     int               `json:"id"`
					Result []json.RawMessage `json:"result"`
				}
				if err := dec.Decode(&m); err != nil {
					errs <- err
					return
				}
				if m.ID != i || len(m.Result) != 2 {
					errs <- fmt.Errorf("client %d: reply %d (%d results) out of order at %d", g, m.ID, len(m.Result), i)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for len(seen) < clients*each {
		n := mon.note("update2")
		for _, row := range n["params"].([]any)[1].(map[string]any)["Bridge"].(map[string]any) {
			ins := row.(map[string]any)["insert"].(map[string]any)
			seen[ins["name"].(string)]++
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times", name, n)
		}
	}
	if got := len(ts.db.Rows("Bridge")); got != clients*each {
		t.Fatalf("%d bridges, want %d", got, clients*each)
	}
}
