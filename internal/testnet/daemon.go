package testnet

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Daemon is a switchyard daemon started by a test, in a namespace, with its
// own state directory and socket.
type Daemon struct {
	t        testing.TB
	Bin      string
	NS       string // "" = the test's namespace
	StateDir string
	Socket   string
	Args     []string // extra daemon flags (e.g. --offload off)
	cmd      *exec.Cmd
	log      *bytes.Buffer
}

// StartDaemon starts a daemon in ns with a fresh state dir and socket, waits
// until it answers, and stops it (by PID) when the test ends.
func StartDaemon(t testing.TB, ns string, args ...string) *Daemon {
	t.Helper()
	dir := t.TempDir()
	d := &Daemon{t: t, Bin: Binary(t), NS: ns, StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "sy.sock"), Args: args}
	d.Start()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("daemon log (%s):\n%s", ns, d.log.String())
		}
	})
	return d
}

// Start starts the daemon process (again) with the same state dir and
// socket and waits until its API answers.
func (d *Daemon) Start() {
	d.t.Helper()
	args := append([]string{d.Bin, "daemon", "--state-dir", d.StateDir, "--socket", d.Socket}, d.Args...)
	if d.NS != "" {
		args = append([]string{"ip", "netns", "exec", d.NS}, args...)
	}
	d.cmd = exec.Command(args[0], args[1:]...)
	if d.log == nil {
		d.log = &bytes.Buffer{}
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start daemon: %v", err)
	}
	Eventually(d.t, 15*time.Second, "daemon answers on "+d.Socket, func() error {
		if d.cmd.ProcessState != nil {
			return fmt.Errorf("daemon exited: %s", d.log.String())
		}
		_, err := d.CLI("bridge", "list")
		return err
	})
}

// Kill sends SIGKILL to the daemon and waits for it to die.
func (d *Daemon) Kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	_ = d.cmd.Wait()
	d.cmd = nil
}

// Stop asks the daemon to stop (SIGTERM), then kills it after 10 s.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	d.cmd = nil
}

// CLI runs `switchyard ARGS --socket SOCKET` (in the daemon's namespace,
// since ports with --netns and system ports are resolved there) and
// returns its output.
func (d *Daemon) CLI(args ...string) (string, error) {
	full := append([]string{d.Bin}, args...)
	full = append(full, "--socket", d.Socket)
	if d.NS != "" {
		full = append([]string{"ip", "netns", "exec", d.NS}, full...)
	}
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = append(os.Environ(), "SWITCHYARD_SOCKET=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("switchyard %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustCLI runs the CLI and fails the test on error.
func (d *Daemon) MustCLI(args ...string) string {
	d.t.Helper()
	out, err := d.CLI(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}
