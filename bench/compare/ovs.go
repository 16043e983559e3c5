package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ovsSchema is where Debian's openvswitch-common puts the database schema.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// ovsInstance is one Open vSwitch (ovsdb-server + ovs-vswitchd
// --disable-system, userspace "netdev" datapath) running inside a host
// namespace with private run/db/log directories, so it never meets the
// machine's own OVS (if any) or another user's.
type ovsInstance struct {
	ns  string
	dir string
	env []string
}

// startOVS starts ovsdb-server and ovs-vswitchd in ns with everything under
// dir. otherConfig is set on the Open_vSwitch row before ovs-vswitchd
// starts (userspace-tso-enable is only read at start). Both run as
// children of the harness (not --detach) with --pidfile; they are stopped
// by the PID in their pidfile (checked against the child's PID).
func startOVS(ctx context.Context, s *scope, ns, dir string, otherConfig map[string]string) (*ovsInstance, error) {
	o := &ovsInstance{ns: ns, dir: dir}
	o.env = []string{"OVS_RUNDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_SYSCONFDIR=" + dir, "OVS_PKGDATADIR=/usr/share/openvswitch"}
	db := filepath.Join(dir, "conf.db")
	if _, err := runEnv(ctx, o.env, "ovsdb-tool", "create", db, ovsSchema); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "db.sock")
	if err := o.startDaemon(ctx, s, "ovsdb-server", db, "--remote=punix:"+sock,
		"--pidfile="+filepath.Join(dir, "ovsdb-server.pid"), "--log-file="+filepath.Join(dir, "ovsdb-server.log")); err != nil {
		return nil, err
	}
	if err := poll(ctx, 15*time.Second, "ovsdb-server answers on "+sock, func() error {
		_, err := o.vsctl(ctx, "--no-wait", "init")
		return err
	}); err != nil {
		return nil, err
	}
	for k, v := range otherConfig {
		if _, err := o.vsctl(ctx, "--no-wait", "set", "Open_vSwitch", ".", "other_config:"+k+"="+v); err != nil {
			return nil, err
		}
	}
	if err := o.startDaemon(ctx, s, "ovs-vswitchd", "unix:"+sock, "--disable-system",
		"--pidfile="+filepath.Join(dir, "ovs-vswitchd.pid"), "--log-file="+filepath.Join(dir, "ovs-vswitchd.log")); err != nil {
		return nil, err
	}
	return o, nil
}

// startDaemon starts one OVS daemon, waits for its pidfile and registers
// its stop.
func (o *ovsInstance) startDaemon(ctx context.Context, s *scope, name string, args ...string) error {
	pidfile := filepath.Join(o.dir, name+".pid")
	p, err := startProc(name+" in "+o.ns, o.env, inNS(o.ns, append([]string{name}, args...)...)...)
	if err != nil {
		return err
	}
	s.deferUndo("stop "+name+" in "+o.ns, func() error {
		// Kill by the PID in the pidfile, which must be our child's.
		if b, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != p.pid() {
				return fmt.Errorf("%s: pidfile %s says %d but we started %d; killing only %d", name, pidfile, pid, p.pid(), p.pid())
			}
		}
		return p.stop(5 * time.Second)
	})
	return poll(ctx, 15*time.Second, name+" writes "+pidfile, func() error {
		if p.exited() {
			return permanent(fmt.Errorf("%s exited (%v): %q", name, p.exitErr(), strings.TrimSpace(p.output())))
		}
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("pidfile %s: %w", pidfile, err)
		}
		if pid != p.pid() {
			return fmt.Errorf("pidfile %s has pid %d, our child is %d", pidfile, pid, p.pid())
		}
		if syscall.Kill(pid, 0) != nil {
			return fmt.Errorf("pid %d gone", pid)
		}
		return nil
	})
}

// vsctl runs ovs-vsctl against this instance's database, in its namespace.
// Without --no-wait it waits (up to 30 s) until ovs-vswitchd applied the
// change.
func (o *ovsInstance) vsctl(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"ovs-vsctl", "--timeout=30", "--db=unix:" + filepath.Join(o.dir, "db.sock")}, args...)
	return runEnv(ctx, o.env, inNS(o.ns, full...)...)
}

// version returns `ovs-vswitchd --version`'s first line.
func ovsVersion(ctx context.Context) string {
	out, err := run(ctx, "ovs-vswitchd", "--version")
	if err != nil {
		return "not installed (" + firstLine(err.Error()) + ")"
	}
	return firstLine(out)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
