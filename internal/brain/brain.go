// Package brain is Switchyard's control plane: it keeps tenant networks,
// hosts and VIFs in etcd and pushes to every host's agent exactly what that
// host needs (Neutron's l2population with the ARP responder, the shape OVN
// and EVPN have): the flood list of each network it has ports in, a static
// MAC → VTEP entry for every remote port and the IP → MAC bindings its
// switch answers ARP and neighbour solicitations from.
//
// State lives in etcd under the layout of package model; the brain is a
// cache of it and a fan-out layer (one etcd watch, one filtered stream per
// agent), so every bind costs one etcd transaction and one message per host
// in that network. See docs/brain.md.
package brain

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/internal/brain/model"
)

// Version is the brain's protocol and build version.
const Version = "0.1.0"

// Options configure a brain.
type Options struct {
	// Prefix of every key (default model.DefaultPrefix).
	Prefix string
	// TTL is the default host lease in seconds (default 10; agents may ask
	// for 2-300).
	TTL int64
	// Grace is how long after start a host that has no lease is still
	// reported alive, so that hosts re-registering after a brain outage do
	// not flap (default TTL + the heartbeat interval). Zero uses the
	// default; negative disables it.
	Grace time.Duration
	// QueueMax bounds one agent's queued output in bytes (default 8 MiB);
	// beyond it the queue is dropped and the agent reconnects and resyncs
	// (a snapshot in progress may exceed it).
	QueueMax int
	// IdleProgress is how often agents that heard nothing are told the
	// head revision (default 10 s).
	IdleProgress time.Duration
	// SessionTimeout drops a session whose agent stopped reporting
	// (default 3 TTLs).
	SessionTimeout time.Duration
	Logger         *slog.Logger
	// Endpoints are shown in status.
	Endpoints []string
	Embedded  bool
}

// Brain is the running control plane.
type Brain struct {
	cli  *clientv3.Client
	keys model.Keys
	opts Options
	log  *slog.Logger
	hub  *hub

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}

	admit chan struct{} // bounds concurrent registrations

	auditMu  sync.Mutex
	auditRev int64
	auditKVs []kv
}

// HeartbeatFraction: agents report every TTL/3.
func heartbeat(ttl int64) time.Duration { return time.Duration(ttl) * time.Second / 3 }

// New starts a brain on an etcd client. It lists the state, refreshes the
// leases of hosts that are alive (so that a brain restart shorter than the
// TTL costs no host), and follows the watch until Close.
func New(ctx context.Context, cli *clientv3.Client, o Options) (*Brain, error) {
	if o.Prefix == "" {
		o.Prefix = model.DefaultPrefix
	}
	if o.TTL == 0 {
		o.TTL = 10
	}
	if o.TTL < 2 || o.TTL > 300 {
		return nil, model.Invalid("ttl", "2-300 seconds", "%d", o.TTL)
	}
	if o.Grace == 0 {
		o.Grace = time.Duration(o.TTL)*time.Second + heartbeat(o.TTL)
	}
	if o.QueueMax == 0 {
		o.QueueMax = 8 << 20
	}
	if o.IdleProgress == 0 {
		o.IdleProgress = 10 * time.Second
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 3 * time.Duration(o.TTL) * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Brain{cli: cli, keys: model.Keys{Prefix: o.Prefix}, opts: o, log: o.Logger, ready: make(chan struct{}), admit: make(chan struct{}, 128)}
	b.hub = newHub(b.keys, o.QueueMax)
	if o.Grace > 0 {
		b.hub.graceEnd = time.Now().Add(o.Grace)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	rev, err := b.relist(ctx)
	if err != nil {
		b.cancel()
		return nil, fmt.Errorf("list etcd state: %w", err)
	}
	b.refreshLeases(ctx)
	close(b.ready)
	b.wg.Add(2)
	go b.watch(rev)
	go b.housekeeping()
	return b, nil
}

// Close stops the brain (sessions end; agents keep their state).
func (b *Brain) Close() {
	b.cancel()
	b.dropSessions()
	b.wg.Wait()
}

// dropSessions ends every agent session (their streams return).
func (b *Brain) dropSessions() {
	b.hub.mu.Lock()
	for _, s := range b.hub.sessions {
		b.hub.dropLocked(s)
	}
	b.hub.mu.Unlock()
}

// Revision is the etcd revision the brain's cache has applied.
func (b *Brain) Revision() int64 {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	return b.hub.rev
}

func toKVs(resp *clientv3.GetResponse) []kv {
	out := make([]kv, 0, len(resp.Kvs))
	for _, e := range resp.Kvs {
		out = append(out, kv{key: string(e.Key), value: e.Value, modRev: e.ModRevision, lease: e.Lease})
	}
	return out
}

// relist reads the whole prefix at one revision and resets the cache.
func (b *Brain) relist(ctx context.Context) (int64, error) {
	resp, err := b.cli.Get(ctx, b.opts.Prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	b.hub.reset(toKVs(resp), resp.Header.Revision)
	b.log.Info("brain: listed etcd state", "revision", resp.Header.Revision, "keys", len(resp.Kvs))
	return resp.Header.Revision, nil
}

// refreshLeases renews every live host lease once.
func (b *Brain) refreshLeases(ctx context.Context) {
	b.hub.mu.Lock()
	var leases []int64
	for _, c := range b.hub.hosts {
		if c.aliveKey && c.lease != 0 {
			leases = append(leases, c.lease)
		}
	}
	b.hub.mu.Unlock()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, l := range leases {
		wg.Add(1)
		sem <- struct{}{}
		go func(l int64) {
			defer wg.Done()
			defer func() { <-sem }()
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, _ = b.cli.KeepAliveOnce(c, clientv3.LeaseID(l))
		}(l)
	}
	wg.Wait()
}

// watch follows etcd from rev+1. A broken watch resumes from the last
// applied revision; only a compaction past it forces a relist (the agents
// then get snapshots and diff: a gap is never read as deletions).
func (b *Brain) watch(rev int64) {
	defer b.wg.Done()
	backoff := 100 * time.Millisecond
	for b.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(b.ctx))
		wch := b.cli.Watch(wctx, b.opts.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		compacted := false
		for resp := range wch {
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				compacted = true
				break
			}
			if err := resp.Err(); err != nil {
				b.log.Warn("brain: watch error, resuming", "err", err, "revision", rev)
				break
			}
			if resp.IsProgressNotify() {
				b.hub.progress(resp.Header.Revision)
				continue
			}
			evs := make([]kv, 0, len(resp.Events))
			for _, e := range resp.Events {
				x := kv{key: string(e.Kv.Key), value: e.Kv.Value, modRev: e.Kv.ModRevision, lease: e.Kv.Lease}
				if e.Type == clientv3.EventTypeDelete {
					x.deleted = true
				}
				evs = append(evs, x)
			}
			if len(evs) > 0 {
				b.hub.apply(evs)
				rev = evs[len(evs)-1].modRev
			}
			backoff = 100 * time.Millisecond
		}
		cancel()
		if b.ctx.Err() != nil {
			return
		}
		if compacted {
			b.log.Warn("brain: watch fell behind a compaction, relisting", "revision", rev)
			for b.ctx.Err() == nil {
				r, err := b.relist(b.ctx)
				if err == nil {
					rev = r
					break
				}
				sleepJitter(b.ctx, &backoff)
			}
			continue
		}
		sleepJitter(b.ctx, &backoff)
	}
}

func (b *Brain) housekeeping() {
	defer b.wg.Done()
	idle := time.NewTicker(b.opts.IdleProgress)
	defer idle.Stop()
	sweep := time.NewTicker(250 * time.Millisecond)
	defer sweep.Stop()
	var graceC <-chan time.Time
	if d := time.Until(b.hub.graceEnd); d > 0 {
		t := time.NewTimer(d + 10*time.Millisecond)
		defer t.Stop()
		graceC = t.C
	}
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-idle.C:
			b.hub.idleProgress()
		case <-graceC:
			b.hub.reevaluate()
		case now := <-sweep.C:
			b.hub.reevaluate()
			b.hub.mu.Lock()
			for _, s := range b.hub.sessions {
				if now.Sub(s.lastSeen) > b.opts.SessionTimeout && !s.streaming {
					b.hub.dropLocked(s)
				}
			}
			b.hub.mu.Unlock()
		}
	}
}

func sleepJitter(ctx context.Context, d *time.Duration) {
	t := jitter(*d)
	*d = min(*d*2, 5*time.Second)
	select {
	case <-time.After(t):
	case <-ctx.Done():
	}
}

// jitter returns a duration uniformly in [d/2, d).
func jitter(d time.Duration) time.Duration {
	var b [8]byte
	_, _ = rand.Read(b[:])
	f := float64(uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16) / float64(1<<24)
	return d/2 + time.Duration(f*float64(d/2))
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// unavailable wraps an etcd failure as the API's error.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var me *model.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &model.Error{Code: model.CodeTimeout, Message: "etcd did not answer in time: " + err.Error()}
	}
	return &model.Error{Code: model.CodeUnavailable, Message: "etcd: " + err.Error()}
}

var _ = math.MaxInt64
