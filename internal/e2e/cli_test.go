package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// cli runs the switchyard binary and returns output and exit code.
func cli(t *testing.T, d *testnet.Daemon, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(d.Bin, append(args, "--socket", d.Socket)...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestCLIExitCodesErrorsAndJSON(t *testing.T) {
	d := testnet.StartDaemon(t, "")
	c := api.NewClient(d.Socket)
	ok := func(args ...string) string {
		t.Helper()
		out, code := cli(t, d, args...)
		if code != 0 {
			t.Fatalf("switchyard %v: exit %d: %s", args, code, out)
		}
		return out
	}
	ok("bridge", "add", "br0", "--fdb-aging", "60", "--fdb-max", "100")
	ok("bridge", "add", "br1")
	ok("port", "add", "br0", "pa", "--type", "patch", "--peer", "pb", "--trunk", "10,20")
	ok("port", "add", "br1", "pb", "--type", "patch", "--peer", "pa", "--trunk", "10,20")
	before, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	rejected := []struct {
		args  []string
		field string
	}{
		{[]string{"bridge", "add", "br2", "--fdb-aging", "5"}, "fdb-aging"},
		{[]string{"bridge", "add", "this-name-is-much-too-long"}, "bridge"},
		{[]string{"bridge", "set", "br0", "--fdb-full-policy", "lru"}, "fdb-full-policy"},
		{[]string{"bridge", "set", "br0", "--flow-cache-max", "5"}, "flow-cache-max"},
		{[]string{"port", "set", "br0", "pa", "--trunk", "10,4095"}, "trunk"},
		{[]string{"port", "set", "br0", "pa", "--vlan", "0"}, "vlan"},
		{[]string{"port", "add", "br0", "px", "--type", "bogus"}, "type"},
		{[]string{"port", "add", "br0", "px", "--type", "patch"}, "peer"},
		{[]string{"port", "add", "br0", "px", "--type", "tap", "--netns", "sy-no-such-ns"}, "netns"},
		{[]string{"port", "add", "br0", "vx", "--type", "vxlan", "--local", "198.18.0.1", "--remote", "198.18.0.2", "--vni", "16777216"}, "vni"},
		{[]string{"port", "add", "br0", "vx", "--type", "vxlan", "--local", "198.18.0.1", "--vni", "5"}, "remote"},
		{[]string{"port", "add", "br0", "vx", "--type", "vxlan", "--local", "x", "--remote", "198.18.0.2"}, "local"},
		{[]string{"port", "add", "br0", "vx", "--type", "vxlan", "--local", "198.18.0.1", "--group", "239.1.1.100"}, "dev"},
		{[]string{"fdb", "add", "br0", "ff:ff:ff:ff:ff:ff", "pa", "--vlan", "10"}, "mac"},
		{[]string{"fdb", "add", "br0", "02:00:00:00:00:01", "pa", "--vlan", "30"}, "vlan"},
		{[]string{"fdb", "show", "br0", "--vlan", "5000"}, "vlan"},
		{[]string{"port", "add", "br0", "px", "--type", "tap", "--bogus-flag"}, "bogus-flag"},
		{[]string{"daemon", "--offload", "fast", "--state-dir", t.TempDir()}, "offload"},
	}
	for _, r := range rejected {
		out, code := cli(t, d, r.args...)
		if code != 1 || !strings.Contains(out, r.field) {
			t.Errorf("switchyard %v: exit %d, want 1 with a message naming %q: %s", r.args, code, r.field, out)
		}
		if !strings.Contains(out, "allowed") && !strings.Contains(out, "bogus") {
			t.Errorf("switchyard %v: message does not give the allowed values: %s", r.args, out)
		}
	}
	after, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatal("a rejected command changed the stored configuration")
	}
	// Read commands: tables by default, JSON with --json.
	var show api.Show
	if err := json.Unmarshal([]byte(ok("show", "--json")), &show); err != nil || len(show.Bridges) != 2 {
		t.Fatalf("show --json: %v", err)
	}
	if s := ok("show"); !strings.Contains(s, "bridge br0") || !strings.Contains(s, "pa") {
		t.Fatalf("show:\n%s", s)
	}
	var ports []api.PortStatus
	if err := json.Unmarshal([]byte(ok("port", "list", "br0", "--json")), &ports); err != nil || len(ports) != 1 || ports[0].Status != "up" {
		t.Fatalf("port list --json: %v %+v", err, ports)
	}
	ok("fdb", "add", "br0", "02:00:00:00:00:01", "pa", "--vlan", "10")
	var fdb []api.FDBEntry
	if err := json.Unmarshal([]byte(ok("fdb", "show", "br0", "--json")), &fdb); err != nil || len(fdb) != 1 || fdb[0].Type != "static" {
		t.Fatalf("fdb show --json: %v %+v", err, fdb)
	}
	for _, args := range [][]string{{"bridge", "list", "--json"}, {"stats", "--json"}, {"stats", "br0", "pa", "--json"}} {
		var v any
		if err := json.Unmarshal([]byte(ok(args...)), &v); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// bridge set changes only what it names.
	ok("bridge", "set", "br0", "--flow-cache-max", "2048")
	cfg, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Bridges["br0"]; b == nil || b.FlowCacheMax != 2048 || b.FDBAging != 60 || b.FDBMax != 100 {
		t.Fatalf("after bridge set --flow-cache-max 2048: %+v (want the cache bound set and fdb-aging 60, fdb-max 100 kept)", b)
	}
	ok("fdb", "del", "br0", "02:00:00:00:00:01", "--vlan", "10")
	ok("port", "del", "br1", "pb")
	ok("bridge", "del", "br1")
	// A daemon that is not there: exit 2, naming the socket it tried.
	missing := filepath.Join(t.TempDir(), "none.sock")
	out, err := exec.Command(d.Bin, "show", "--socket", missing).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), missing) {
		t.Fatalf("unreachable daemon: %v: %s", err, out)
	}
}
