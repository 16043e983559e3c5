// Package braintest starts real etcd (embedded members) and brains for
// tests and benchmarks, and runs agents with in-memory dataplanes against
// them.
package braintest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/switchyard-net/switchyard/internal/agent"
	"github.com/switchyard-net/switchyard/internal/agent/memdp"
	"github.com/switchyard-net/switchyard/internal/brain"
)

// Env is an embedded etcd with a brain serving on a unix socket.
type Env struct {
	T        testing.TB
	Dir      string
	Etcd     *embed.Etcd
	Endpoint string
	Cli      *clientv3.Client
	Brain    *brain.Brain
	Socket   string
	Opts     brain.Options

	cancel context.CancelFunc
	done   chan error
}

// Options for Start.
type Options struct {
	Brain   brain.Options
	NoFsync bool
	// Endpoints: use this etcd instead of starting one.
	Endpoints []string
}

// Start starts etcd and a brain; everything stops at the test's end.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	dir, err := os.MkdirTemp("", "syb")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, Dir: dir, Socket: filepath.Join(dir, "brain.sock"), Opts: o.Brain}
	t.Cleanup(func() { e.Stop(); os.RemoveAll(dir) })
	eps := o.Endpoints
	if len(eps) == 0 {
		etcd, ep, err := brain.StartEmbedded(brain.EmbeddedOptions{Dir: filepath.Join(dir, "etcd"), NoFsync: o.NoFsync, Quiet: true})
		if err != nil {
			t.Fatal(err)
		}
		e.Etcd, e.Endpoint = etcd, ep
		eps = []string{ep}
	}
	e.Cli, err = Client(eps)
	if err != nil {
		t.Fatal(err)
	}
	e.StartBrain()
	return e
}

// Client returns a quiet etcd client.
func Client(eps []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second})
}

// StartBrain starts (again) the brain on the socket.
func (e *Env) StartBrain() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := brain.New(ctx, e.Cli, e.Opts)
	if err != nil {
		e.T.Fatal(err)
	}
	ln, err := brain.Listen("unix:" + e.Socket)
	if err != nil {
		b.Close()
		e.T.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	e.Brain, e.cancel, e.done = b, scancel, make(chan error, 1)
	go func() { e.done <- b.Serve(sctx, ln, "") }()
}

// StopBrain stops the brain (agents keep their state and reconnect).
func (e *Env) StopBrain() {
	if e.Brain == nil {
		return
	}
	e.cancel()
	<-e.done
	e.Brain.Close()
	e.Brain = nil
}

// Stop stops the brain and etcd.
func (e *Env) Stop() {
	e.StopBrain()
	if e.Cli != nil {
		e.Cli.Close()
		e.Cli = nil
	}
	if e.Etcd != nil {
		e.Etcd.Close()
		e.Etcd = nil
	}
}

// Agent is an agent running against the env's brain.
type Agent struct {
	*agent.Agent
	DP     *memdp.Dataplane
	Events chan agent.Event
	cancel context.CancelFunc
	done   chan struct{}
}

// AgentConfig tweaks a test agent.
type AgentConfig func(*agent.Config)

// StartAgent runs an agent for host with VTEP vtep on dp (nil: a new
// recording memdp).
func (e *Env) StartAgent(host, vtep string, dp *memdp.Dataplane, opts ...AgentConfig) *Agent {
	e.T.Helper()
	if dp == nil {
		dp = memdp.New(true)
	}
	events := make(chan agent.Event, 1024)
	cfg := agent.Config{Brain: "unix:" + e.Socket, Host: host, VTEPs: []netip.Addr{netip.MustParseAddr(vtep)}, Dataplane: dp,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		OnEvent: func(ev agent.Event) {
			select {
			case events <- ev:
			default:
			}
		}}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Agent{Agent: a, DP: dp, Events: events, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(h.done); _ = a.Run(ctx) }()
	e.T.Cleanup(h.Kill)
	return h
}

// Kill stops the agent abruptly: nothing is cleaned up (kill -9).
func (a *Agent) Kill() {
	a.cancel()
	<-a.done
}

// Eventually polls cond until it holds or d passes.
func Eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, d, err)
}

// FreePorts returns n free loopback TCP ports.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out, nil
}

// Cluster is three embedded etcd members on loopback.
type Cluster struct {
	Members   []*embed.Etcd
	Endpoints []string
	dirs      []string
	peers     []string
	clients   []string
	names     []string
}

// StartCluster starts a three-member etcd cluster in this process.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	ports, err := FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{}
	var ic []string
	for i := 0; i < 3; i++ {
		c.names = append(c.names, fmt.Sprintf("m%d", i))
		c.clients = append(c.clients, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
		c.peers = append(c.peers, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]))
		ic = append(ic, c.names[i]+"="+c.peers[i])
		d, err := os.MkdirTemp("", "sybc")
		if err != nil {
			t.Fatal(err)
		}
		c.dirs = append(c.dirs, d)
	}
	c.Members = make([]*embed.Etcd, 3)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func(i int) {
			m, _, err := brain.StartEmbedded(brain.EmbeddedOptions{Dir: c.dirs[i], Name: c.names[i], ClientURL: c.clients[i], PeerURL: c.peers[i],
				InitialCluster: strings.Join(ic, ","), ClusterState: "new", Token: "sybc", Quiet: true})
			c.Members[i] = m
			errs <- err
		}(i)
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range c.clients {
		c.Endpoints = append(c.Endpoints, strings.TrimPrefix(u, "http://"))
	}
	t.Cleanup(func() {
		for i, m := range c.Members {
			if m != nil {
				m.Close()
			}
			os.RemoveAll(c.dirs[i])
		}
	})
	return c
}

// Kill stops member i (it is closed at once; the others keep quorum).
func (c *Cluster) Kill(i int) {
	if c.Members[i] != nil {
		c.Members[i].Close()
		c.Members[i] = nil
	}
}
