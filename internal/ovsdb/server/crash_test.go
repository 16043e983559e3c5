package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
	"github.com/switchyard-net/switchyard/internal/ovsdb/vswitch"
)

// TestMain doubles as the server process of the crash test: with
// SYOVSDB_CHILD set, the test binary serves the database and never returns.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SYOVSDB_CHILD"); dir != "" {
		childServer(dir)
		return
	}
	os.Exit(m.Run())
}

func childServer(dir string) {
	db, err := ovsdb.Open(filepath.Join(dir, "conf.db"), vswitch.Schema(), ovsdb.Options{CompactMinBytes: 64 << 10, CompactRatio: 2})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	srv := New(Config{})
	_ = srv.AddDB(db)
	l, err := Listen("punix:" + filepath.Join(dir, "db.sock"))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_ = srv.Serve(context.Background(), l)
	os.Exit(0)
}

func startChild(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SYOVSDB_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child server: %q %v", line, err)
	}
	return cmd
}

// kill -9 of the server during a loop of writes, repeated: every
// acknowledged transaction is there after the restart, and none is half
// applied (each adds a port, its interface, the bridge's reference and a
// sequence number in Open_vSwitch, together).
func TestKill9DuringWrites(t *testing.T) {
	dir, err := os.MkdirTemp("", "syovsdbk")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "db.sock")
	rng := rand.New(rand.NewPCG(7, 9))
	acked := 0
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		cmd := startChild(t, dir)
		c, err := net.Dial("unix", sock)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal(err)
		}
		rc := &rpcClient{t: t, conn: c, dec: json.NewDecoder(c)}
		rc.dec.UseNumber()
		// Check what survived the last kill.
		seq, ports := state(t, rc)
		if seq < acked {
			t.Fatalf("round %d: sequence %d after restart, but %d was acknowledged", round, seq, acked)
		}
		for i := 1; i <= seq; i++ {
			if !ports[fmt.Sprintf("p%d", i)] {
				t.Fatalf("round %d: sequence %d is there but port p%d is not (half-applied)", round, seq, i)
			}
		}
		if len(ports) != seq {
			t.Fatalf("round %d: %d ports for sequence %d (half-applied)", round, len(ports), seq)
		}
		acked = seq
		if round == 0 {
			rc.call("transact", "Open_vSwitch", map[string]any{"op": "insert", "table": "Open_vSwitch", "row": map[string]any{"bridges": []any{"named-uuid", "b"}}},
				map[string]any{"op": "insert", "table": "Bridge", "uuid-name": "b", "row": map[string]any{"name": "br0"}})
		}
		// Write in a loop; kill -9 at a random moment.
		killAt := time.Now().Add(time.Duration(30+rng.IntN(120)) * time.Millisecond)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for n := acked + 1; ; n++ {
				b, _ := json.Marshal(map[string]any{"id": n, "method": "transact", "params": writeOps(n)})
				if _, err := c.Write(b); err != nil {
					return
				}
				var m map[string]any
				if err := rc.dec.Decode(&m); err != nil {
					return
				}
				if !strings.Contains(fmt.Sprint(m["result"]), "uuid") || strings.Contains(fmt.Sprint(m["result"]), "error") {
					t.Errorf("write %d: %v", n, m)
					return
				}
				acked = n
			}
		}()
		time.Sleep(time.Until(killAt))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		<-done
		c.Close()
		t.Logf("round %d: %d transactions acknowledged before kill -9", round, acked)
	}
	if acked < rounds {
		t.Fatalf("only %d writes in %d rounds", acked, rounds)
	}
	// Two more rounds with ovs-vsctl as the writer: each acknowledged
	// add-port (exit 0) must be there after the restart.
	vsctl := need(t, "ovs-vsctl")
	var vsAcked []string
	for round := 0; round < 2; round++ {
		cmd := startChild(t, dir)
		stop := time.Now().Add(time.Duration(150+rng.IntN(150)) * time.Millisecond)
		done := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				name := fmt.Sprintf("v%d-%d", round, i)
				// The ovs-vsctl in flight at the kill would retry until its
				// timeout; it is ended with the round (and not counted).
				if exec.CommandContext(ctx, vsctl, "--no-wait", "--timeout=5", "--db=unix:"+sock, "add-port", "br0", name).Run() != nil {
					return
				}
				vsAcked = append(vsAcked, name)
			}
		}()
		time.Sleep(time.Until(stop))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cancel()
		<-done
	}
	if len(vsAcked) == 0 {
		t.Fatal("no ovs-vsctl write was acknowledged")
	}
	// A last restart to check the final kills too.
	cmd := startChild(t, dir)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := &rpcClient{t: t, conn: c, dec: json.NewDecoder(c)}
	rc.dec.UseNumber()
	seq, ports := state(t, rc)
	if seq < acked {
		t.Fatalf("final: sequence %d, %d acknowledged", seq, acked)
	}
	for _, name := range vsAcked {
		if !ports[name] {
			t.Fatalf("ovs-vsctl add-port %s was acknowledged but is gone after kill -9", name)
		}
	}
	t.Logf("%d ovs-vsctl add-ports acknowledged across two kills, all present", len(vsAcked))
}

func writeOps(n int) []any {
	name := fmt.Sprintf("p%d", n)
	return []any{"Open_vSwitch",
		map[string]any{"op": "insert", "table": "Interface", "uuid-name": "i", "row": map[string]any{"name": name, "type": "internal"}},
		map[string]any{"op": "insert", "table": "Port", "uuid-name": "p", "row": map[string]any{"name": name, "interfaces": []any{"named-uuid", "i"}}},
		map[string]any{"op": "mutate", "table": "Bridge", "where": []any{[]any{"name", "==", "br0"}}, "mutations": []any{[]any{"ports", "insert", []any{"named-uuid", "p"}}}},
		map[string]any{"op": "update", "table": "Open_vSwitch", "where": []any{}, "row": map[string]any{"external_ids": []any{"map", []any{[]any{"seq", fmt.Sprint(n)}}}}},
	}
}

func state(t *testing.T, rc *rpcClient) (int, map[string]bool) {
	r := rc.call("transact", "Open_vSwitch",
		map[string]any{"op": "select", "table": "Open_vSwitch", "where": []any{}, "columns": []any{"external_ids"}},
		map[string]any{"op": "select", "table": "Port", "where": []any{}, "columns": []any{"name", "interfaces"}},
		map[string]any{"op": "select", "table": "Bridge", "where": []any{}, "columns": []any{"ports"}})
	res := r["result"].([]any)
	seq := 0
	for _, row := range res[0].(map[string]any)["rows"].([]any) {
		for _, kv := range row.(map[string]any)["external_ids"].([]any)[1].([]any) {
			p := kv.([]any)
			if p[0] == "seq" {
				fmt.Sscan(p[1].(string), &seq)
			}
		}
	}
	ports := map[string]bool{}
	for _, row := range res[1].(map[string]any)["rows"].([]any) {
		ports[row.(map[string]any)["name"].(string)] = true
	}
	return seq, ports
}
