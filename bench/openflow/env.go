package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// scope undoes, in reverse order, everything the benchmark made:
// processes (by PID), namespaces, directories.
type scope struct{ undo []func() }

func (s *scope) defer_(fn func()) { s.undo = append(s.undo, fn) }

func (s *scope) close() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

func run(args ...string) (string, error) { return runEnv(nil, args...) }

func runEnv(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func must(out string, err error) string {
	if err != nil {
		fatal(err)
	}
	return out
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench-openflow:", err)
	if cleanup != nil {
		cleanup.close()
	}
	os.Exit(1)
}

var cleanup *scope

func nsExec(ns string, args ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, args...)
}

// proc is a daemon the benchmark started; it is stopped by its PID.
type proc struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func start(s *scope, env []string, args ...string) *proc {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	s.defer_(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return p
}

func waitFor(what string, d time.Duration, cond func() error) {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			fatal(fmt.Errorf("%s: %w", what, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inNS runs fn on an OS thread switched into namespace ns; sockets made in
// fn stay in ns.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// ovs is one Open vSwitch 3.1 userspace (ovsdb-server and ovs-vswitchd
// --disable-system, datapath_type=netdev) with private directories, in the
// benchmark's namespace.
type ovs struct {
	ns, dir string
	env     []string
}

func startOVS(s *scope, ns, dir string) *ovs {
	o := &ovs{ns: ns, dir: dir, env: []string{"OVS_RUNDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_SYSCONFDIR=" + dir}}
	db := filepath.Join(dir, "conf.db")
	must(runEnv(o.env, "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"))
	sock := filepath.Join(dir, "db.sock")
	start(s, o.env, nsExec(ns, "ovsdb-server", db, "--remote=punix:"+sock, "--pidfile="+filepath.Join(dir, "ovsdb-server.pid"))...)
	waitFor("ovsdb-server", 15*time.Second, func() error { _, err := o.vsctl("--no-wait", "init"); return err })
	start(s, o.env, nsExec(ns, "ovs-vswitchd", "unix:"+sock, "--disable-system", "--pidfile="+filepath.Join(dir, "ovs-vswitchd.pid"),
		"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"))...)
	return o
}

func (o *ovs) vsctl(args ...string) (string, error) {
	return runEnv(o.env, nsExec(o.ns, append([]string{"ovs-vsctl", "--db=unix:" + filepath.Join(o.dir, "db.sock"), "--timeout=30"}, args...)...)...)
}

func ovsVersion() string {
	out, err := run("ovs-vswitchd", "--version")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
}

func atoi(s string) int { n, _ := strconv.Atoi(strings.TrimSpace(s)); return n }
