package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cmdTimeout bounds every plain command (ip, ethtool, ovs-vsctl, the
// switchyard CLI). Traffic commands get their own, longer bounds.
const cmdTimeout = 60 * time.Second

// run runs a command and returns its combined output; the error names the
// command and carries its output.
func run(ctx context.Context, args ...string) (string, error) {
	return runEnv(ctx, nil, args...)
}

func runEnv(ctx context.Context, env []string, args ...string) (string, error) {
	return runEnvTimeout(ctx, cmdTimeout, env, args...)
}

// runEnvTimeout is runEnv bounded by timeout instead of cmdTimeout.
func runEnvTimeout(ctx context.Context, timeout time.Duration, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// runAll runs commands in order and stops at the first failure.
func runAll(ctx context.Context, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := run(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// inNS prefixes a command with `ip netns exec NS`.
func inNS(ns string, args ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, args...)
}

// scope owns everything one topology build made: namespaces, processes,
// temp dirs. Close undoes it all in reverse order. Every undo step runs
// with its own background context, so cleanup also works after Ctrl-C
// cancelled the run's context.
type scope struct {
	name string
	mu   sync.Mutex
	undo []undoStep
	ns   []string
}

type undoStep struct {
	what string
	fn   func() error
}

func newScope(name string) *scope { return &scope{name: name} }

func (s *scope) deferUndo(what string, fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.undo = append(s.undo, undoStep{what, fn})
}

// Close runs the undo steps, last first, and reports the ones that failed.
func (s *scope) Close() error {
	s.mu.Lock()
	steps := s.undo
	s.undo = nil
	s.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(); err != nil {
			slog.Warn("cleanup step failed", "scope", s.name, "step", steps[i].what, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", steps[i].what, err))
		}
	}
	return errors.Join(errs...)
}

// tempDir makes a temp dir that Close removes.
func (s *scope) tempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	s.deferUndo("remove "+d, func() error { return os.RemoveAll(d) })
	return d, nil
}

// netns creates namespace name with loopback up and IPv6 off (no MLD or
// router-solicitation chatter in the measurements). Close kills whatever
// still runs inside it (it is ours: we made it) and deletes it, which also
// removes its links.
func (s *scope) netns(ctx context.Context, name string) error {
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return err
	}
	s.mu.Lock()
	s.ns = append(s.ns, name)
	s.mu.Unlock()
	s.deferUndo("delete netns "+name, func() error { return deleteNetns(name) })
	_, _ = run(ctx, inNS(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")...)
	_, err := run(ctx, "ip", "-n", name, "link", "set", "lo", "up")
	return err
}

// deleteNetns kills the processes left inside namespace name (by PID, from
// `ip netns pids`; the namespace was made by this harness, so they are its
// own) and deletes the namespace.
func deleteNetns(name string) error {
	if _, err := os.Stat(filepath.Join("/var/run/netns", name)); err != nil {
		return nil
	}
	ctx := context.Background()
	for attempt := 0; attempt < 2; attempt++ {
		out, _ := run(ctx, "ip", "netns", "pids", name)
		pids := strings.Fields(out)
		if len(pids) == 0 {
			break
		}
		sig := syscall.SIGTERM
		if attempt > 0 {
			sig = syscall.SIGKILL
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
				slog.Warn("process left in namespace; killing it", "netns", name, "pid", pid, "cmd", procCmdline(pid), "signal", sig)
				_ = syscall.Kill(pid, sig)
			}
		}
		waitUntil(3*time.Second, func() bool {
			out, _ := run(ctx, "ip", "netns", "pids", name)
			return strings.TrimSpace(out) == ""
		})
	}
	_, err := run(ctx, "ip", "netns", "del", name)
	return err
}

func procCmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// waitUntil polls cond every 50 ms until it is true or d has passed.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// permanentError marks a poll condition that can never become true (the
// process it waits for has exited): poll gives up at once.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

// poll calls cond until it returns nil, the deadline passes (the error then
// carries cond's last error), cond returns a permanent error, or ctx is
// cancelled.
func poll(ctx context.Context, d time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var pe permanentError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: %w", what, pe.error)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not true after %v: %w", what, d, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// proc is a long-running child process (daemon, OVS, iperf3 server).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
	mu   sync.Mutex
	err  error
}

// lockedWriter serializes writes from the child's stdout and stderr.
type lockedWriter struct {
	p *proc
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.log.Len() < 1<<20 {
		w.p.log.Write(b)
	}
	return len(b), nil
}

// startProc starts args as a child in its own process group (so a Ctrl-C
// at the terminal reaches only the harness, which then stops children in
// order) with SIGKILL as its parent-death signal (so nothing outlives a
// harness killed with SIGKILL). With env set, those variables are added.
func startProc(name string, env []string, args ...string) (*proc, error) {
	p := &proc{name: name, done: make(chan struct{}), log: &bytes.Buffer{}}
	p.cmd = exec.Command(args[0], args[1:]...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(args, " "), err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitErr is how the process ended (nil while it runs or if it exited 0).
func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// output returns what the process printed so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait waits for the process to exit, at most d; false if it still runs.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop sends SIGTERM to the process's PID, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = syscall.Kill(p.pid(), syscall.SIGTERM)
	if p.wait(grace) {
		return nil
	}
	slog.Warn("process did not stop on SIGTERM; killing it", "proc", p.name, "pid", p.pid())
	_ = syscall.Kill(p.pid(), syscall.SIGKILL)
	if !p.wait(5 * time.Second) {
		return fmt.Errorf("%s (pid %d) did not die on SIGKILL", p.name, p.pid())
	}
	return nil
}
