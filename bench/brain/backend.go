package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/switchyard-net/switchyard/internal/brain"
)

// backend runs etcd and the brain: in child processes (so the brain's CPU
// is its own process's), or in this process (short runs, tests).
type backend struct {
	split  bool
	dir    string
	socket string
	etcdEP string
	cli    *clientv3.Client
	ttl    int64
	prof   string

	etcdCmd, brainCmd *exec.Cmd

	etcd   *embed.Etcd
	brain  *brain.Brain
	cancel context.CancelFunc
	done   chan error
}

func startBackend(p *Params) (*backend, error) {
	b := &backend{split: p.Split, dir: p.Dir, socket: filepath.Join(p.Dir, "brain.sock"), ttl: 10, prof: p.BrainProfile}
	if p.Split {
		cmd, line, err := child("etcd", "-dir", filepath.Join(p.Dir, "etcd"), "-no-fsync="+strconv.FormatBool(p.NoFsync))
		if err != nil {
			return nil, err
		}
		b.etcdCmd, b.etcdEP = cmd, line
	} else {
		e, ep, err := brain.StartEmbedded(brain.EmbeddedOptions{Dir: filepath.Join(p.Dir, "etcd"), NoFsync: p.NoFsync, Quiet: true})
		if err != nil {
			return nil, err
		}
		b.etcd, b.etcdEP = e, ep
	}
	var err error
	b.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{b.etcdEP}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), MaxCallRecvMsgSize: 1 << 30})
	if err != nil {
		b.close()
		return nil, err
	}
	if err := b.startBrain(b.prof); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// child starts this binary in a role and waits for its READY line.
func child(mode string, args ...string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, append([]string{"-mode", mode}, args...)...)
	cmd.Stderr = os.Stderr
	// The child exits when its stdin closes, i.e. when this process ends
	// however it ends (Pdeathsig would follow the spawning thread, which
	// Go may retire).
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- l
			}
		}
	}()
	select {
	case l := <-ready:
		return cmd, l, nil
	case <-time.After(120 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("%s child did not become ready", mode)
	}
}

func (b *backend) startBrain(prof string) error {
	if b.split {
		args := []string{"-etcd", b.etcdEP, "-socket", b.socket}
		if prof != "" {
			args = append(args, "-cpuprofile", prof)
		}
		cmd, _, err := child("brain", args...)
		if err != nil {
			return err
		}
		b.brainCmd = cmd
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	br, err := brain.New(ctx, b.cli, brain.Options{TTL: b.ttl})
	if err != nil {
		return err
	}
	ln, err := brain.Listen("unix:" + b.socket)
	if err != nil {
		br.Close()
		return err
	}
	sctx, scancel := context.WithCancel(context.Background())
	b.brain, b.cancel, b.done = br, scancel, make(chan error, 1)
	go func() { b.done <- br.Serve(sctx, ln, "") }()
	return nil
}

// stopProfile makes the brain child write its CPU profile.
func (b *backend) stopProfile() {
	if b.split && b.brainCmd != nil && b.prof != "" {
		_ = b.brainCmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(500 * time.Millisecond)
	}
}

// killBrain kills the brain abruptly (kill -9 in split mode).
func (b *backend) killBrain() {
	if b.split {
		if b.brainCmd != nil {
			_ = b.brainCmd.Process.Kill()
			_ = b.brainCmd.Wait()
			b.brainCmd = nil
		}
		return
	}
	if b.brain != nil {
		b.cancel()
		<-b.done
		b.brain.Close()
		b.brain = nil
	}
}

// brainCPU is the brain process's CPU time so far (split mode).
func (b *backend) brainCPU() time.Duration {
	if !b.split || b.brainCmd == nil {
		return 0
	}
	return procCPU(b.brainCmd.Process.Pid)
}

func (b *backend) etcdCPU() time.Duration {
	if !b.split || b.etcdCmd == nil {
		return 0
	}
	return procCPU(b.etcdCmd.Process.Pid)
}

func (b *backend) pids() (etcd, brain int) {
	if b.etcdCmd != nil {
		etcd = b.etcdCmd.Process.Pid
	}
	if b.brainCmd != nil {
		brain = b.brainCmd.Process.Pid
	}
	return
}

// procCPU reads utime+stime of a process.
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// procRSS reads VmRSS in bytes.
func procRSS(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n * 1024
		}
	}
	return 0
}

func (b *backend) close() {
	b.killBrain()
	if b.cli != nil {
		b.cli.Close()
	}
	if b.etcdCmd != nil {
		_ = b.etcdCmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = b.etcdCmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = b.etcdCmd.Process.Kill()
			<-done
		}
	}
	if b.etcd != nil {
		b.etcd.Close()
	}
}

// ---- child roles ----

// exitWithParent ends a child when the benchmark's pipe to it closes.
func exitWithParent() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
}

func runEtcdChild(dir string, noFsync bool) error {
	exitWithParent()
	e, ep, err := brain.StartEmbedded(brain.EmbeddedOptions{Dir: dir, NoFsync: noFsync, Quiet: true})
	if err != nil {
		return err
	}
	fmt.Println("READY " + ep)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	e.Close()
	return nil
}

func runBrainChild(ep, socket, prof string) error {
	exitWithParent()
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		usr := make(chan os.Signal, 1)
		signal.Notify(usr, syscall.SIGUSR1)
		go func() { <-usr; pprof.StopCPUProfile(); f.Close() }()
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), MaxCallRecvMsgSize: 1 << 30})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	b, err := brain.New(ctx, cli, brain.Options{TTL: 10})
	cancel()
	if err != nil {
		return err
	}
	ln, err := brain.Listen("unix:" + socket)
	if err != nil {
		return err
	}
	fmt.Println("READY " + socket)
	sctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return b.Serve(sctx, ln, "")
}
