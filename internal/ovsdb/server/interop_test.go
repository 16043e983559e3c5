package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
	"github.com/switchyard-net/switchyard/internal/ovsdb/vswitch"
)

// startOVSDBServer runs Open vSwitch's ovsdb-server on file (for the
// side-by-side tests); it is stopped at cleanup.
func startOVSDBServer(t *testing.T, file, sock string) {
	t.Helper()
	prog := need(t, "ovsdb-server")
	dir := filepath.Dir(sock)
	cmd := exec.Command(prog, "--remote=punix:"+sock, "--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--no-chdir", "--log-file="+filepath.Join(dir, "ovsdb-server.log"), file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	eventually(t, 10*time.Second, "ovsdb-server's socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
}

// The file format is Open vSwitch's: ovsdb-server serves a database file
// Switchyard wrote, and Switchyard opens one ovsdb-server wrote.
func TestFileInteropWithOpenVSwitch(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	ts.vsctl("add-br", "br0", "--", "add-port", "br0", "vx0", "--", "set", "interface", "vx0", "type=vxlan", "options:remote_ip=198.18.0.2")
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.db")
	data, err := os.ReadFile(filepath.Join(ts.dir, "conf.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ours, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "ovs.sock")
	startOVSDBServer(t, ours, sock)
	show := ok(t, "ovs-vsctl", "--no-wait", "--db=unix:"+sock, "show")
	if !strings.Contains(show, "Bridge br0") || !strings.Contains(show, `remote_ip="198.18.0.2"`) {
		t.Fatalf("ovsdb-server serving our file:\n%s", show)
	}
	// And back: a file Open vSwitch made and wrote.
	theirs := filepath.Join(dir, "theirs.db")
	ok(t, "ovsdb-tool", "create", theirs, "/usr/share/openvswitch/vswitch.ovsschema")
	sock2 := filepath.Join(dir, "ovs2.sock")
	startOVSDBServer(t, theirs, sock2)
	ok(t, "ovs-vsctl", "--no-wait", "--db=unix:"+sock2, "init", "--", "add-br", "br9", "--", "set", "bridge", "br9", "other_config:mac-aging-time=41", "other_config:gone=x")
	// Later transactions modify rows: ovsdb-server writes those as diffs
	// ("_is_diff").
	ok(t, "ovs-vsctl", "--no-wait", "--db=unix:"+sock2, "set", "bridge", "br9", "other_config:mac-aging-time=42", "--", "remove", "bridge", "br9", "other_config", "gone")
	ok(t, "ovs-vsctl", "--no-wait", "--db=unix:"+sock2, "add-port", "br9", "p1", "--", "add-port", "br9", "p2")
	ok(t, "ovs-vsctl", "--no-wait", "--db=unix:"+sock2, "del-port", "br9", "p1")
	db, err := ovsdb.Open(theirs, vswitch.Schema(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var found bool
	for _, r := range db.Rows("Bridge") {
		oc := r.StringMap("other_config")
		found = found || (r.String("name") == "br9" && len(oc) == 1 && oc["mac-aging-time"] == "42" && len(r.UUIDs("ports")) == 2)
	}
	if !found {
		t.Fatalf("bridge br9 not read right from Open vSwitch's file: %v", db.Rows("Bridge")[0].Data())
	}
	var names []string
	for _, r := range db.Rows("Port") {
		names = append(names, r.String("name"))
	}
	if sort.Strings(names); strings.Join(names, ",") != "br9,p2" {
		t.Fatalf("ports %v", names)
	}
	if _, err := db.Transact(context.Background(), nil, ovsdb.TxnOptions{}); err != nil {
		t.Fatal(err)
	}
}
