package server

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
	"github.com/switchyard-net/switchyard/internal/ovsdb/vswitch"
)

// testServer is a server on a unix socket in a temporary directory, with
// the Open_vSwitch database in a file there.
type testServer struct {
	t      *testing.T
	dir    string
	sock   string
	db     *ovsdb.DB
	srv    *Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "syovsdb")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, dir: dir, sock: filepath.Join(dir, "db.sock")}
	ts.db, err = ovsdb.Open(filepath.Join(dir, "conf.db"), vswitch.Schema(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = New(cfg)
	if err := ts.srv.AddDB(ts.db); err != nil {
		t.Fatal(err)
	}
	ts.listen()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) listen() {
	l, err := Listen("punix:" + ts.sock)
	if err != nil {
		ts.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel, ts.done = cancel, make(chan struct{})
	go func() { defer close(ts.done); _ = ts.srv.Serve(ctx, l) }()
}

// drop closes every session and the listener (the database stays), then
// listens again: clients see the server go away and come back.
func (ts *testServer) drop() {
	ts.cancel()
	<-ts.done
	ts.listen()
}

func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	<-ts.done
	ts.cancel = nil
	ts.db.Close()
	os.RemoveAll(ts.dir)
}

func (ts *testServer) remote() string { return "unix:" + ts.sock }

// need returns the path of a peer program: missing, it fails the test as
// root (CI installs it) and skips it otherwise.
func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getuid() == 0 {
			t.Fatalf("%s is needed (Debian openvswitch-common / openvswitch-switch): %v", prog, err)
		}
		t.Skipf("%s not installed", prog)
	}
	return p
}

// run runs a program with a timeout and returns stdout, stderr and the
// exit code.
func run(t *testing.T, prog string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, need(t, prog), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %s: %v", prog, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// ok runs a program that must succeed and returns its output.
func ok(t *testing.T, prog string, args ...string) string {
	t.Helper()
	out, errs, code := run(t, prog, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d: %s%s", prog, strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (ts *testServer) vsctl(args ...string) string {
	ts.t.Helper()
	return ok(ts.t, "ovs-vsctl", append([]string{"--no-wait", "--timeout=10", "--db=" + ts.remote()}, args...)...)
}

func (ts *testServer) vsctlFail(args ...string) (string, int) {
	ts.t.Helper()
	out, errs, code := run(ts.t, "ovs-vsctl", append([]string{"--no-wait", "--timeout=10", "--db=" + ts.remote()}, args...)...)
	return out + errs, code
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
