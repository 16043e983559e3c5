package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/events"
	"github.com/switchyard-net/switchyard/internal/vswitchd"
)

// memDaemon runs a daemon in this process with in-memory devices and
// returns its socket.
func memDaemon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "sy.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- vswitchd.Run(ctx, vswitchd.Options{StateDir: filepath.Join(dir, "state"), Socket: sock, Memory: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c := api.NewClient(sock)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Show(); err == nil {
			return sock
		} else if time.Now().After(deadline) {
			t.Fatalf("daemon did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sy runs one command line in process: output, error output, exit code.
func sy(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func must(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := sy(args...)
	if code != 0 {
		t.Fatalf("switchyard %v: exit %d: %s%s", args, code, out, errs)
	}
	return out
}

func TestGlobalFlagsWhereUsersTypeThem(t *testing.T) {
	s := memDaemon(t)
	must(t, "--socket", s, "bridge", "add", "br0")
	must(t, "--socket="+s, "port", "add", "br0", "p1", "--type", "tap", "--vlan", "10")
	must(t, "port", "add", "br0", "p2", "--socket", s, "--type", "tap")
	for _, args := range [][]string{
		{"--json", "--socket", s, "show"},
		{"--socket", s, "--json", "show"},
		{"show", "--json", "--socket", s},
		{"--socket", s, "bridge", "--json", "list"},
		{"--socket", s, "bridge", "list", "--json"},
		{"--json", "--socket", s, "port", "list", "br0"},
		{"--json", "--socket", s, "stats", "br0", "p1"},
	} {
		out := must(t, args...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%v: not JSON: %v\n%s", args, err, out)
		}
	}
	// Tables stay as they were.
	if out := must(t, "--socket", s, "bridge", "list"); !strings.HasPrefix(out, "BRIDGE  PORTS  AGING(s)  FDB") || !strings.Contains(out, "br0") {
		t.Fatalf("bridge list:\n%s", out)
	}
	// Errors keep their exit codes and messages.
	if _, e, code := sy("--socket", s, "port", "add", "br0", "px", "--type", "tap", "--bogus-flag"); code != 1 || !strings.Contains(e, "bogus-flag") || !strings.Contains(e, "allowed") {
		t.Fatalf("unknown flag: exit %d: %s", code, e)
	}
	if _, e, code := sy("--bogus", "show"); code != 1 || !strings.Contains(e, "--bogus") {
		t.Fatalf("unknown global flag: exit %d: %s", code, e)
	}
	missing := filepath.Join(t.TempDir(), "none.sock")
	if _, e, code := sy("--socket", missing, "show"); code != 2 || !strings.Contains(e, missing) {
		t.Fatalf("unreachable: exit %d: %s", code, e)
	}
	// The dashboard off loopback needs a token; checked before anything starts.
	if _, e, code := sy("daemon", "--web", "0.0.0.0:8080", "--state-dir", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "x.sock")); code != 1 || !strings.Contains(e, "web-token") {
		t.Fatalf("--web off loopback without a token: exit %d: %s", code, e)
	}
	if _, e, code := sy("daemon", "--metrics-listen", "9475", "--state-dir", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "x.sock")); code != 1 || !strings.Contains(e, "metrics-listen") {
		t.Fatalf("--metrics-listen without a host: exit %d: %s", code, e)
	}
	if _, e, code := sy("--socket"); code != 1 || !strings.Contains(e, "needs a value") {
		t.Fatalf("--socket without value: exit %d: %s", code, e)
	}
}

func TestHelpGivesSynopsisAndFlags(t *testing.T) {
	out := must(t)
	for _, c := range commands {
		if !c.hidden && !strings.Contains(out, "switchyard "+c.name) {
			t.Errorf("usage lacks %s", c.name)
		}
	}
	for _, args := range [][]string{{"help", "port", "add"}, {"port", "add", "--help"}, {"port", "add", "-h"}, {"--help", "port", "add"}} {
		out := must(t, args...)
		if !strings.Contains(out, "switchyard port add BRIDGE NAME --type") || !strings.Contains(out, "--vni-map VLAN:VNI,...") || !strings.Contains(out, "--socket PATH") {
			t.Errorf("%v:\n%s", args, out)
		}
		if strings.Contains(out, "port del") {
			t.Errorf("%v shows other subcommands:\n%s", args, out)
		}
	}
	if out := must(t, "help", "port"); !strings.Contains(out, "port del BRIDGE NAME") || !strings.Contains(out, "port list BRIDGE") {
		t.Errorf("help port:\n%s", out)
	}
	if out := must(t, "capture", "--help"); !strings.Contains(out, "--direction in|out|both") || !strings.Contains(out, "-w FILE") {
		t.Errorf("capture --help:\n%s", out)
	}
	if _, e, code := sy("help", "bogus"); code != 1 || !strings.Contains(e, "allowed") {
		t.Errorf("help bogus: %d %s", code, e)
	}
	if _, e, code := sy("help", "port", "bogus"); code != 1 || !strings.Contains(e, "port bogus") {
		t.Errorf("help port bogus: %d %s", code, e)
	}
}

// The flags help lists are exactly the flags each command's parser takes
// (read back from the parser's own "unknown flag" message).
func TestHelpFlagsMatchTheParsers(t *testing.T) {
	check := func(name string, argv []string, documented flagSpec) {
		t.Helper()
		_, e, code := sy(append(argv, "--zz-no-such-flag", "--socket", "/nonexistent/sock")...)
		i := strings.Index(e, "allowed: ")
		if code != 1 || i < 0 {
			t.Errorf("%s: exit %d: %s", name, code, e)
			return
		}
		var got []string
		for _, f := range strings.Split(strings.TrimSpace(e[i+len("allowed: "):]), ", ") {
			f = strings.TrimLeft(strings.Fields(f)[0], "-")
			if f != "socket" && f != "json" {
				got = append(got, f)
			}
		}
		var want []string
		for f := range documented {
			want = append(want, f)
			if _, ok := flagDocs[f]; !ok {
				t.Errorf("%s: flag --%s has no description", name, f)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: the parser takes %v, help documents %v", name, got, want)
		}
	}
	for _, c := range commands {
		if c.hidden || c.name == "help" {
			continue
		}
		if c.subs == nil {
			check(c.name, []string{c.name}, c.flags)
			continue
		}
		for _, s := range c.subs {
			check(c.name+" "+s.name, []string{c.name, s.name}, s.flags)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	if out := must(t, "version"); out != "switchyard "+vswitchd.Version+"\n" {
		t.Fatalf("version: %q", out)
	}
	var v versionInfo
	for _, args := range [][]string{{"version", "--json"}, {"--json", "version"}} {
		if err := json.Unmarshal([]byte(must(t, args...)), &v); err != nil || v.Version != vswitchd.Version || v.GoVersion == "" || v.OS != "linux" {
			t.Fatalf("%v: %+v %v", args, v, err)
		}
	}
}

// The completion script is valid bash and completes commands,
// subcommands, flags, flag values, and bridge and port names from the
// daemon.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash")
	}
	script := must(t, "completion", "bash")
	dir := t.TempDir()
	f := filepath.Join(dir, "sy.bash")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	// A switchyard on PATH for the script's __complete calls: this test
	// binary, dispatching to run() (see TestMain).
	self, _ := os.Executable()
	if err := os.Symlink(self, filepath.Join(dir, "switchyard")); err != nil {
		t.Fatal(err)
	}
	s := memDaemon(t)
	must(t, "--socket", s, "bridge", "add", "br0")
	must(t, "--socket", s, "port", "add", "br0", "tap1", "--type", "tap")
	complete := func(line string) []string {
		t.Helper()
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		prog := "source " + f + "; COMP_WORDS=(" + strings.Join(q, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) + "; _switchyard; printf '%s\\n' \"${COMPREPLY[@]}\""
		cmd := exec.Command(bash, "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "SWITCHYARD_AS_CLI=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		return strings.Fields(string(out))
	}
	for line, want := range map[string]string{
		"switchyard po":                               "port",
		"switchyard port a":                           "add",
		"switchyard capture --dir":                    "--direction",
		"switchyard capture br0 tap1 --direction ":    "both in out",
		"switchyard port add br0 x --type ":           "geneve gre internal patch system tap vxlan",
		"switchyard --socket " + s + " fdb show ":     "br0",
		"switchyard --socket " + s + " capture br0 ":  "tap1",
		"switchyard --socket " + s + " port del br0 ": "tap1",
		"switchyard help ca":                          "capture",
		"switchyard lab ":                             "down status up",
	} {
		got := complete(line)
		sort.Strings(got)
		if strings.Join(got, " ") != want {
			t.Errorf("%q completes to %q, want %q", line, got, want)
		}
	}
}

// The test binary doubles as the CLI when the completion script calls it.
func TestMain(m *testing.M) {
	if os.Getenv("SWITCHYARD_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestEventsAndDoctorCommands(t *testing.T) {
	s := memDaemon(t)
	must(t, "--socket", s, "bridge", "add", "br0")
	must(t, "--socket", s, "port", "add", "br0", "tap1", "--type", "tap")
	var evs []events.Event
	if err := json.Unmarshal([]byte(must(t, "--socket", s, "events", "--json", "--kind", "config")), &evs); err != nil || len(evs) != 2 {
		t.Fatalf("events --json: %v %+v", err, evs)
	}
	if !strings.Contains(evs[1].What, "port tap1 added to br0 (tap)") || !strings.Contains(evs[1].Who, "pid ") || !strings.Contains(evs[1].Who, "uid ") {
		t.Fatalf("config event: %+v", evs[1])
	}
	if out := must(t, "--socket", s, "events", "--kind", "daemon"); !strings.Contains(out, "daemon.start") {
		t.Fatalf("events:\n%s", out)
	}
	// Follow: the backlog, then what happens next.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan events.Event, 16)
	go func() {
		_ = api.NewClient(s).FollowEvents(ctx, events.Query{Kind: "config"}, func(e events.Event) { got <- e })
	}()
	for i := 0; i < 2; i++ {
		<-got
	}
	must(t, "--socket", s, "bridge", "set", "br0", "--fdb-max", "100")
	select {
	case e := <-got:
		if !strings.Contains(e.Message, "bridge br0 changed: fdb-max 100") {
			t.Fatalf("followed event: %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("the change never reached the follower")
	}
	// doctor: healthy, then a patch port without its peer.
	if out, e, code := sy("--socket", s, "doctor", "--no-probe"); code != 0 || !strings.Contains(out, "healthy") {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, e)
	}
	must(t, "--socket", s, "port", "add", "br0", "pa", "--type", "patch", "--peer", "pb")
	out, _, code := sy("--socket", s, "doctor", "--no-probe")
	if code != 1 || !strings.Contains(out, "ERROR [ports] br0/pa") || !strings.Contains(out, "fix: switchyard port add OTHER-BRIDGE pb --type patch --peer pa") {
		t.Fatalf("doctor with a lone patch port: exit %d\n%s", code, out)
	}
	var r doctor.Report
	out, _, code = sy("--socket", s, "doctor", "--no-probe", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || r.Healthy || len(r.Findings) == 0 {
		t.Fatalf("doctor --json: exit %d %v %+v", code, err, r)
	}
}
