// Package agent is the per-host half of the brain: it registers its host
// with a lease, receives from the brain exactly the networks it has ports
// in (with their ports and the hosts they are on), computes the desired
// dataplane state and programs it through the Dataplane interface the
// host's switch implements.
//
// Algorithm (see docs/brain.md): the agent holds the brain's view and
// derives the desired state from it key by key. A stream starts with a
// snapshot; at its end the agent asks the dataplane what is programmed,
// diffs against the full recompute and applies the difference, adds and
// changes before deletes — so a restart, a reconnect or a relist after a
// compaction never removes an entry that is still wanted. Later messages
// are applied incrementally: the keys a message touches are noted with
// their desired value before the change, and after a batch the agent emits
// ops for the keys whose value changed (the same ordering). A port update
// older than the one held (by etcd revision) never wins. If the brain is
// unreachable the agent keeps what is programmed (fail-static) and
// reconnects with jittered exponential back-off.
package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// Config configures an agent.
type Config struct {
	// Brain is the brain's API: "unix:/run/switchyard/brain.sock", a bare
	// socket path, or "http://HOST:PORT" / "https://HOST:PORT".
	Brain string
	// Token is the bearer token for a TCP brain.
	Token string
	TLS   *tls.Config
	// Host is this host's name; VTEPs its tunnel addresses (the first is
	// the local end of every tunnel); Encaps what it terminates (default
	// vxlan and geneve).
	Host   string
	VTEPs  []netip.Addr
	Encaps []string
	// TTL of the host lease in seconds (0: the brain's default, 10).
	TTL       int64
	Dataplane Dataplane
	DAD       DADConfig
	Logger    *slog.Logger
	// OnEvent is called (from the agent's goroutine; must not block) for
	// duplicate detections and freezes.
	OnEvent func(Event)
	// BackoffMin and BackoffMax bound reconnect delays: attempt n waits a
	// uniformly random time in [0, min(BackoffMax, BackoffMin·2^n)).
	// Defaults 500 ms and 5 s.
	BackoffMin, BackoffMax time.Duration
	// RetryInterval is how often ops the dataplane refused are retried by a
	// full diff (default 5 s).
	RetryInterval time.Duration
	// StreamIdle ends a stream that carried nothing for this long (the
	// brain sends progress every 10 s; default 45 s).
	StreamIdle time.Duration
}

// Event is a duplicate-detection event.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // duplicate-mac, duplicate-ip, unfrozen-mac, unfrozen-ip
	Network string    `json:"network"`
	MAC     string    `json:"mac,omitempty"`
	IP      string    `json:"ip,omitempty"`
	Host    string    `json:"host,omitempty"` // where the MAC is frozen
	Moves   int       `json:"moves,omitempty"`
}

// Agent is a running agent.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	dp    Dataplane
	local netip.Addr

	base   string
	client *http.Client // requests
	stream *http.Client // the stream (no timeout)

	applied atomic.Int64
	session atomic.Pointer[string]

	// loop state
	view       *view
	snap       *view
	snapKeep   []string
	fresh      bool // no snapshot applied since the process started
	restart    bool // the stream must be reopened without digests
	fz         freezes
	macMoves   *mobility[FDBKey, string]
	ipMoves    *mobility[NeighKey, MAC]
	t          touched
	pendingRev int64
	dirty      bool
	lastRetry  time.Time
	auditReq   chan auditReq

	repMu     sync.Mutex
	vifErrors map[string]string
	reportNow chan struct{}

	st counters
}

type counters struct {
	snapshots, kept, messages, ops, applyErrors, reconnects, stale, badMessages, dupMAC, dupIP atomic.Uint64
	frozen, remoteMACs, localVIFs, networks                                                    atomic.Int64
}

type auditReq struct {
	id    string
	reply chan auditAnswer
}

type auditAnswer struct {
	r   *wire.AuditReport
	err error
}

// New checks a configuration and returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if err := model.CheckName("host", cfg.Host); err != nil {
		return nil, err
	}
	if len(cfg.VTEPs) == 0 || !cfg.VTEPs[0].IsValid() {
		return nil, model.Invalid("vtep", "a unicast IPv4 or IPv6 address", "no VTEP address given")
	}
	if cfg.Dataplane == nil {
		return nil, model.Invalid("dataplane", "a Dataplane implementation", "none given")
	}
	if cfg.TTL != 0 && (cfg.TTL < 2 || cfg.TTL > 300) {
		return nil, model.Invalid("ttl", "2-300 seconds", "%d", cfg.TTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = 500 * time.Millisecond
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 5 * time.Second
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 5 * time.Second
	}
	if cfg.StreamIdle == 0 {
		cfg.StreamIdle = 45 * time.Second
	}
	cfg.DAD = cfg.DAD.withDefaults()
	base, dial, err := brainAddr(cfg.Brain)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{DialContext: dial, TLSClientConfig: cfg.TLS, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("host", cfg.Host), dp: cfg.Dataplane, local: cfg.VTEPs[0].Unmap(), base: base,
		client: &http.Client{Transport: tr, Timeout: 15 * time.Second}, stream: &http.Client{Transport: tr},
		fz:       freezes{mac: map[FDBKey]frozenMAC{}, ip: map[NeighKey]frozenIP{}},
		macMoves: newMobility[FDBKey, string](cfg.DAD), ipMoves: newMobility[NeighKey, MAC](cfg.DAD),
		auditReq: make(chan auditReq), vifErrors: map[string]string{}, reportNow: make(chan struct{}, 1)}
	a.view = newView(cfg.Host, a.local)
	a.fresh = true
	a.t.reset()
	empty := ""
	a.session.Store(&empty)
	return a, nil
}

// brainAddr turns a brain address into a base URL and a dialer.
func brainAddr(s string) (string, func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	var d net.Dialer
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", nil, model.Invalid("brain", "unix:PATH, http://HOST:PORT or https://HOST:PORT", "%q", s)
		}
		return strings.TrimSuffix(s, "/"), d.DialContext, nil
	}
	path := strings.TrimPrefix(s, "unix:")
	if path == "" || !strings.HasPrefix(path, "/") {
		return "", nil, model.Invalid("brain", "unix:PATH, http://HOST:PORT or https://HOST:PORT", "%q", s)
	}
	return "http://brain", func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }, nil
}

// Applied is the etcd revision whose state the dataplane holds.
func (a *Agent) Applied() int64 { return a.applied.Load() }

// Stats returns the agent's counters.
func (a *Agent) Stats() wire.AgentStats {
	return wire.AgentStats{Snapshots: a.st.snapshots.Load(), KeptNets: a.st.kept.Load(), Messages: a.st.messages.Load(), Ops: a.st.ops.Load(),
		ApplyErrors: a.st.applyErrors.Load(), Reconnects: a.st.reconnects.Load(), StaleIgnored: a.st.stale.Load(),
		DuplicateMACs: a.st.dupMAC.Load(), DuplicateIPs: a.st.dupIP.Load(), Frozen: int(a.st.frozen.Load()),
		RemoteMACs: int(a.st.remoteMACs.Load()), LocalVIFs: int(a.st.localVIFs.Load()), Networks: int(a.st.networks.Load())}
}

// Run runs the agent until ctx ends. It never removes anything from the
// dataplane on its way out.
func (a *Agent) Run(ctx context.Context) error {
	attempt := 0
	for {
		connected, err := a.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			attempt = 0
		}
		attempt++
		a.st.reconnects.Add(1)
		d := min(a.cfg.BackoffMax, a.cfg.BackoffMin<<min(attempt-1, 20))
		wait := time.Duration(rand.Int64N(int64(d) + 1))
		a.log.Info("agent: brain session ended; keeping the dataplane as it is", "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
}

type httpError struct {
	status int
	e      model.Error
}

func (e *httpError) Error() string { return fmt.Sprintf("brain: %d %s", e.status, e.e.Error()) }

func (a *Agent) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		he := &httpError{status: resp.StatusCode}
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			he.e = *eb.Error
		} else {
			he.e.Message = strings.TrimSpace(string(raw))
		}
		return he
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (a *Agent) register(ctx context.Context) (*wire.RegisterReply, error) {
	req := wire.RegisterRequest{Host: a.cfg.Host, Encaps: a.cfg.Encaps, TTL: a.cfg.TTL}
	for _, v := range a.cfg.VTEPs {
		req.VTEPs = append(req.VTEPs, v.String())
	}
	var rep wire.RegisterReply
	if err := a.call(ctx, http.MethodPost, wire.PathRegister, req, &rep); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return &rep, nil
}

// runSession registers, streams and applies until the stream ends. It
// reports whether a stream was established.
func (a *Agent) runSession(ctx context.Context) (bool, error) {
	rep, err := a.register(ctx)
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.session.Store(&rep.Session)
	hb := time.Duration(rep.HeartbeatMS) * time.Millisecond
	if hb <= 0 {
		hb = 3 * time.Second
	}
	var hbDone sync.WaitGroup
	hbDone.Add(1)
	go func() { defer hbDone.Done(); a.heartbeat(sctx, cancel, hb) }()
	defer func() { cancel(); hbDone.Wait() }()

	sreq := wire.StreamRequest{Session: rep.Session}
	if !a.fresh {
		sreq.Nets = a.view.digests()
	}
	body, _ := json.Marshal(sreq)
	req, _ := http.NewRequestWithContext(sctx, http.MethodPost, a.base+wire.PathStream, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if a.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	}
	resp, err := a.stream.Do(req)
	if err != nil {
		return false, fmt.Errorf("stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return false, fmt.Errorf("stream: %d %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	msgs := make(chan wire.Msg, 256)
	readErr := make(chan error, 1)
	go func() { readErr <- a.read(sctx, cancel, resp.Body, msgs) }()
	a.snap = nil
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return true, <-readErr
			}
			a.handle(sctx, &m)
		drain:
			for i := 0; i < 1024; i++ {
				select {
				case m, ok := <-msgs:
					if !ok {
						break drain
					}
					a.handle(sctx, &m)
				default:
					break drain
				}
			}
			a.flush(sctx)
			if a.restart {
				a.restart = false
				return true, errors.New("the brain kept a network the agent does not hold; resyncing in full")
			}
		case now := <-tick.C:
			a.tick(sctx, now)
		case r := <-a.auditReq:
			a.startAudit(sctx, r)
		case <-sctx.Done():
			return true, sctx.Err()
		}
	}
}

// read decodes the stream into msgs; malformed lines are counted and
// dropped.
func (a *Agent) read(ctx context.Context, cancel context.CancelFunc, body io.Reader, msgs chan<- wire.Msg) error {
	defer close(msgs)
	idle := time.AfterFunc(a.cfg.StreamIdle, cancel)
	defer idle.Stop()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		idle.Reset(a.cfg.StreamIdle)
		var m wire.Msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.T == "" {
			a.st.badMessages.Add(1)
			continue
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.EOF
}

func (a *Agent) heartbeat(ctx context.Context, cancel context.CancelFunc, every time.Duration) {
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.reportNow:
		}
		err := a.report(ctx)
		var he *httpError
		if errors.As(err, &he) && he.status == http.StatusNotFound {
			a.log.Info("agent: the brain forgot the session; registering again")
			cancel()
			return
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(every)
	}
}

func (a *Agent) report(ctx context.Context) error {
	a.repMu.Lock()
	errs := map[string]string{}
	for k, v := range a.vifErrors {
		errs[k] = v
	}
	a.repMu.Unlock()
	st := a.Stats()
	return a.call(ctx, http.MethodPost, wire.PathReport, wire.Report{Session: *a.session.Load(), Applied: a.applied.Load(), Errors: errs, Stats: &st}, nil)
}

func (a *Agent) askReport() {
	select {
	case a.reportNow <- struct{}{}:
	default:
	}
}

// ---- the loop ----

func (a *Agent) handle(ctx context.Context, m *wire.Msg) {
	a.st.messages.Add(1)
	switch m.T {
	case wire.TBegin:
		a.snap = newView(a.cfg.Host, a.local)
		a.snap.rev = m.Rev
		a.snapKeep = m.Keep
	case wire.TEnd:
		if a.snap != nil {
			a.finishSnapshot(ctx, m.Rev)
		}
	case wire.TAudit:
		a.flush(ctx)
		a.startAudit(ctx, auditReq{id: m.ID})
		return
	default:
		if a.snap != nil {
			a.applyMsg(a.snap, m, false)
		} else {
			a.applyMsg(a.view, m, true)
		}
	}
	if m.Done && a.snap == nil && m.Rev > a.pendingRev {
		a.pendingRev = m.Rev
	}
	if m.Ack {
		a.askReport()
	}
}

func (a *Agent) applyMsg(v *view, m *wire.Msg, live bool) {
	now := time.Now()
	switch m.T {
	case wire.TNet:
		if m.Net == nil {
			a.st.badMessages.Add(1)
			return
		}
		if live {
			a.touchNet(v, m.Net.Name, true)
		}
		v.setNet(m.Net)
	case wire.TNetDel:
		n := v.nets[m.Name]
		if n == nil {
			return
		}
		if live {
			a.touchNet(v, m.Name, true)
		}
		v.delNet(m.Name)
	case wire.THost:
		if m.Host == nil {
			a.st.badMessages.Add(1)
			return
		}
		if live {
			if h := v.hosts[m.Host.Name]; h != nil {
				a.touchHost(v, h)
			}
		}
		v.setHost(m.Host)
	case wire.TPort:
		if m.Port == nil {
			a.st.badMessages.Add(1)
			return
		}
		n := v.nets[m.Port.Net]
		if n == nil {
			a.st.badMessages.Add(1)
			return
		}
		mac, p, ok := v.portFrom(m.Port)
		if !ok {
			a.st.badMessages.Add(1)
			return
		}
		if v.idConflict(n, mac, p) {
			a.st.badMessages.Add(1)
			return
		}
		old, had := n.ports[mac]
		if had && p.ver < old.ver {
			a.st.stale.Add(1)
			return
		}
		if live {
			a.touchPort(v, n, mac, old, had, p)
			prev := ""
			if had {
				prev = old.host.name
			} else if last, ok := a.macMoves.last(FDBKey{n.name, mac}); ok {
				prev = last
			}
			if prev != "" {
				a.macMoved(v, n, mac, prev, p.host.name, now)
			}
			eachIP(p.ips, func(ip netip.Addr) {
				k := NeighKey{n.name, ip}
				owner, owned := n.ips[keyOf(ip)]
				switch {
				case owned && owner != mac:
					a.ipMoved(v, k, owner, mac, now)
				case !owned:
					if last, ok := a.ipMoves.last(k); ok {
						a.ipMoved(v, k, last, mac, now)
					}
				}
			})
		}
		v.putPort(n, mac, p)
	case wire.TPortDel:
		n := v.nets[m.Name]
		if n == nil {
			return
		}
		mac, err := ParseMAC(m.MAC)
		if err != nil {
			a.st.badMessages.Add(1)
			return
		}
		old, had := n.ports[mac]
		if !had {
			return
		}
		if m.Rev != 0 && m.Rev < old.ver {
			a.st.stale.Add(1)
			return
		}
		if live {
			a.touchPort(v, n, mac, old, true, vport{})
			a.macMoves.gone(FDBKey{n.name, mac}, old.host.name, now)
			eachIP(old.ips, func(ip netip.Addr) { a.ipMoves.gone(NeighKey{n.name, ip}, mac, now) })
		}
		v.delPort(n, mac)
	}
}

func (a *Agent) macMoved(v *view, n *vnet, mac MAC, from, to string, now time.Time) {
	k := FDBKey{n.name, mac}
	if f, frozen := a.fz.mac[k]; frozen {
		if from != to {
			f.lastMove = now
			a.fz.mac[k] = f
		}
		return
	}
	moves, dup := a.macMoves.moved(k, from, to, now)
	if !dup {
		return
	}
	// Freeze where it points after this move.
	f := frozenMAC{host: to, lastMove: now}
	if h, ok := v.hosts[to]; ok {
		f.vtep, _ = v.vtepOf(h)
	}
	a.fz.mac[k] = f
	a.st.dupMAC.Add(1)
	a.st.frozen.Add(1)
	a.event(Event{Time: now, Kind: "duplicate-mac", Network: n.name, MAC: mac.String(), Host: to, Moves: moves})
}

func (a *Agent) ipMoved(v *view, k NeighKey, from, to MAC, now time.Time) {
	if f, frozen := a.fz.ip[k]; frozen {
		f.lastMove = now
		a.fz.ip[k] = f
		return
	}
	moves, dup := a.ipMoves.moved(k, from, to, now)
	if !dup {
		return
	}
	a.fz.ip[k] = frozenIP{mac: to, lastMove: now}
	a.st.dupIP.Add(1)
	a.st.frozen.Add(1)
	a.event(Event{Time: now, Kind: "duplicate-ip", Network: k.Network, IP: k.IP.String(), MAC: to.String(), Moves: moves})
}

func (a *Agent) event(e Event) {
	a.log.Warn("agent: "+e.Kind+" detected; frozen", "network", e.Network, "mac", e.MAC, "ip", e.IP, "host", e.Host, "moves", e.Moves)
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(e)
	}
}

// finishSnapshot replaces the view with the snapshot. Networks the brain
// kept (their digests matched) move over from the old view unchanged. The
// first snapshot of a process, or one after the dataplane refused ops, is
// applied as a full diff between what the dataplane holds and the full
// recompute; any other is applied like incremental changes: every key of
// the networks that differ and of the hosts whose record changed is noted
// with its value under the old view, and only those are diffed. Either way
// adds and changes go before deletes, and nothing still wanted is touched.
func (a *Agent) finishSnapshot(ctx context.Context, rev int64) {
	snap, old := a.snap, a.view
	keep := a.snapKeep
	a.snap, a.snapKeep = nil, nil
	a.st.snapshots.Add(1)
	kept := map[string]bool{}
	for _, name := range keep {
		if old.nets[name] == nil || a.fresh {
			// The brain believes we hold a network we do not: start over.
			a.restart, a.fresh = true, true
			return
		}
		kept[name] = true
	}
	now := time.Now()
	// An old update never wins: keep what we hold that is newer than the
	// snapshot; note moves the snapshot reveals.
	for name, on := range old.nets {
		if kept[name] {
			continue
		}
		sn := snap.nets[name]
		for mac, op := range on.ports {
			if op.ver <= rev {
				if sn != nil {
					if np, ok := sn.ports[mac]; ok && np.host.name != op.host.name {
						a.macMoved(snap, sn, mac, op.host.name, np.host.name, now)
					}
				}
				continue
			}
			a.st.stale.Add(1)
			if sn == nil {
				continue
			}
			if np, ok := sn.ports[mac]; !ok || np.ver < op.ver {
				q := op
				q.host = snap.adopt(op.host)
				if op.to != nil {
					q.to = snap.adopt(op.to)
				}
				if !snap.idConflict(sn, mac, q) {
					snap.putPort(sn, mac, q)
				}
			}
		}
	}
	full := a.fresh || a.dirty
	if !full {
		for name, on := range old.nets {
			if !kept[name] {
				a.touchNet(old, name, true)
				_ = on
			}
		}
		for name, sn := range snap.nets {
			a.touchWiring(old, name)
			for mac := range sn.ports {
				a.touchKey(old, name, mac)
			}
			for k := range sn.ips {
				a.touchIP(old, name, k.addr())
			}
		}
		for name, sh := range snap.hosts {
			if oh := old.hosts[name]; oh != nil && !sameHost(oh, sh) {
				a.touchHost(old, oh)
			}
		}
	}
	for name := range kept {
		snap.adoptNet(old.nets[name])
	}
	a.st.kept.Add(uint64(len(kept)))
	a.view = snap
	if full {
		want := snap.desired(&a.fz)
		have, err := a.dp.Programmed(ctx)
		if err != nil {
			a.log.Warn("agent: dataplane cannot list its state; retrying", "err", err)
			a.dirty = true
			have = NewState()
		}
		a.t.reset()
		a.dirty = false
		a.apply(ctx, diff(have, want))
		a.fresh = false
	} else {
		a.flush(ctx)
	}
	a.pendingRev = max(a.pendingRev, rev)
	a.publish()
	a.askReport()
}

func sameHost(a, b *vhost) bool {
	if a.alive != b.alive || len(a.vteps) != len(b.vteps) {
		return false
	}
	for i := range a.vteps {
		if a.vteps[i] != b.vteps[i] {
			return false
		}
	}
	return true
}

// ---- incremental: touched keys and their desired values before ----

type wiringVal struct {
	w  Wiring
	ok bool
}
type fdbVal struct {
	a  netip.Addr
	ok bool
}
type vifVal struct {
	x  VIF
	ok bool
}
type neighVal struct {
	m  MAC
	ok bool
}

type touched struct {
	nets  map[string]wiringVal
	fdb   map[FDBKey]fdbVal
	vif   map[FDBKey]vifVal
	neigh map[NeighKey]neighVal
}

func (t *touched) reset() {
	t.nets, t.fdb, t.vif, t.neigh = map[string]wiringVal{}, map[FDBKey]fdbVal{}, map[FDBKey]vifVal{}, map[NeighKey]neighVal{}
}

func (t *touched) empty() bool { return len(t.nets)+len(t.fdb)+len(t.vif)+len(t.neigh) == 0 }

func (a *Agent) touchWiring(v *view, name string) {
	if _, ok := a.t.nets[name]; !ok {
		w, ok := v.wiring(v.nets[name])
		a.t.nets[name] = wiringVal{w, ok}
	}
}

func (a *Agent) touchKey(v *view, name string, mac MAC) {
	k := FDBKey{name, mac}
	n := v.nets[name]
	if _, ok := a.t.fdb[k]; !ok {
		x, ok := v.fdb(&a.fz, n, mac)
		a.t.fdb[k] = fdbVal{x, ok}
	}
	if _, ok := a.t.vif[k]; !ok {
		x, ok := v.vif(n, mac)
		a.t.vif[k] = vifVal{x, ok}
	}
}

func (a *Agent) touchIP(v *view, name string, ip netip.Addr) {
	k := NeighKey{name, ip}
	n := v.nets[name]
	if _, ok := a.t.neigh[k]; !ok {
		m, ok := v.neigh(&a.fz, n, ip)
		a.t.neigh[k] = neighVal{m, ok}
	}
}

// touchNet notes a network's wiring and, with ports, every key in it.
func (a *Agent) touchNet(v *view, name string, ports bool) {
	a.touchWiring(v, name)
	n := v.nets[name]
	if n == nil || !ports {
		return
	}
	for mac := range n.ports {
		a.touchKey(v, n.name, mac)
	}
	for k := range n.ips {
		a.touchIP(v, n.name, k.addr())
	}
	a.touchFrozenIPs(v, n, func(MAC) bool { return true })
}

// touchFrozenIPs notes the frozen addresses of a network whose frozen MAC
// matches (their entries depend on that MAC's port).
func (a *Agent) touchFrozenIPs(v *view, n *vnet, match func(MAC) bool) {
	for k, f := range a.fz.ip {
		if k.Network == n.name && match(f.mac) {
			a.touchIP(v, n.name, k.IP)
		}
	}
}

func (a *Agent) touchPort(v *view, n *vnet, mac MAC, old vport, had bool, p vport) {
	// The wiring (flood list) changes only if a host enters or leaves the
	// network: computing it costs O(hosts in the network).
	if occupancyChanges(n, old, had, p) {
		a.touchWiring(v, n.name)
	}
	a.touchKey(v, n.name, mac)
	if had {
		eachIP(old.ips, func(ip netip.Addr) { a.touchIP(v, n.name, ip) })
	}
	eachIP(p.ips, func(ip netip.Addr) { a.touchIP(v, n.name, ip) })
	if len(a.fz.ip) > 0 {
		a.touchFrozenIPs(v, n, func(m MAC) bool { return m == mac })
	}
}

// occupancyChanges says whether replacing old (if had) by p (if it has a
// host) makes some host enter or leave the network.
func occupancyChanges(n *vnet, old vport, had bool, p vport) bool {
	for _, h := range [4]*vhost{old.host, old.to, p.host, p.to} {
		if h == nil {
			continue
		}
		c := n.hosts[h]
		after := c
		if had && (old.host == h || old.to == h) {
			after--
		}
		if p.host == h || p.to == h {
			after++
		}
		if (c > 0) != (after > 0) {
			return true
		}
	}
	return false
}

// touchHost notes everything a host's record decides: the wiring of the
// networks it is in and its ports' entries.
func (a *Agent) touchHost(v *view, h *vhost) {
	for _, n := range v.nets {
		if n.hosts[h] == 0 {
			continue
		}
		a.touchWiring(v, n.name)
		for mac, p := range n.ports {
			if p.host == h || p.to == h {
				a.touchKey(v, n.name, mac)
				eachIP(p.ips, func(ip netip.Addr) { a.touchIP(v, n.name, ip) })
			}
		}
		if len(a.fz.ip) > 0 {
			a.touchFrozenIPs(v, n, func(m MAC) bool { p, ok := n.ports[m]; return ok && (p.host == h || p.to == h) })
		}
	}
	for k, f := range a.fz.mac {
		if f.host == h.name {
			if n := v.nets[k.Network]; n != nil {
				a.touchKey(v, n.name, k.MAC)
			}
		}
	}
}

// flush programs the difference of the touched keys.
func (a *Agent) flush(ctx context.Context) {
	if !a.t.empty() {
		v := a.view
		have, want := NewState(), NewState()
		for name, o := range a.t.nets {
			if o.ok {
				have.Networks[name] = o.w
			}
			if w, ok := v.wiring(v.nets[name]); ok {
				want.Networks[name] = w
			}
		}
		for k, o := range a.t.fdb {
			if o.ok {
				have.FDB[k] = o.a
			}
			if x, ok := v.fdb(&a.fz, v.nets[k.Network], k.MAC); ok {
				want.FDB[k] = x
			}
		}
		for k, o := range a.t.vif {
			if o.ok {
				have.VIFs[o.x.ID] = o.x
			}
			if x, ok := v.vif(v.nets[k.Network], k.MAC); ok {
				want.VIFs[x.ID] = x
			}
		}
		for k, o := range a.t.neigh {
			if o.ok {
				have.Neigh[k] = o.m
			}
			if m, ok := v.neigh(&a.fz, v.nets[k.Network], k.IP); ok {
				want.Neigh[k] = m
			}
		}
		a.t.reset()
		a.apply(ctx, diff(have, want))
		a.publish()
	}
	if a.pendingRev > a.applied.Load() && a.snap == nil {
		a.applied.Store(a.pendingRev)
	}
}

func (a *Agent) apply(ctx context.Context, ops []Op) {
	if len(ops) == 0 {
		return
	}
	errs := a.dp.Apply(ctx, ops)
	a.st.ops.Add(uint64(len(ops)))
	failed := map[string]string{}
	for _, e := range errs {
		a.st.applyErrors.Add(1)
		a.dirty = true
		if e.Op.Kind == OpVIFPut && e.Op.VIF != nil {
			failed[e.Op.VIF.ID] = e.Err.Error()
		}
	}
	if len(errs) > 0 {
		a.log.Warn("agent: dataplane refused ops; retrying later", "failed", len(errs), "first", errs[0].Op.String(), "err", errs[0].Err)
	}
	a.repMu.Lock()
	changed := false
	for _, o := range ops {
		if (o.Kind == OpVIFPut || o.Kind == OpVIFDel) && o.VIF != nil {
			id := o.VIF.ID
			if msg, bad := failed[id]; bad {
				changed = changed || a.vifErrors[id] != msg
				a.vifErrors[id] = msg
			} else if _, had := a.vifErrors[id]; had {
				delete(a.vifErrors, id)
				changed = true
			}
		}
	}
	a.repMu.Unlock()
	if changed {
		a.askReport()
	}
}

// publish refreshes the size counters.
func (a *Agent) publish() {
	a.st.remoteMACs.Store(int64(a.view.nRemote))
	a.st.localVIFs.Store(int64(a.view.nLocal))
	a.st.networks.Store(int64(len(a.view.nets)))
	a.st.frozen.Store(int64(len(a.fz.mac) + len(a.fz.ip)))
}

// tick lifts freezes after a quiet window and retries refused ops.
func (a *Agent) tick(ctx context.Context, now time.Time) {
	a.macMoves.expire(now)
	a.ipMoves.expire(now)
	w := a.cfg.DAD.Window
	for k, f := range a.fz.mac {
		if now.Sub(f.lastMove) >= w {
			if n := a.view.nets[k.Network]; n != nil {
				a.touchKey(a.view, n.name, k.MAC)
			}
			delete(a.fz.mac, k)
			a.event(Event{Time: now, Kind: "unfrozen-mac", Network: k.Network, MAC: k.MAC.String()})
		}
	}
	for k, f := range a.fz.ip {
		if now.Sub(f.lastMove) >= w {
			if n := a.view.nets[k.Network]; n != nil {
				a.touchIP(a.view, n.name, k.IP)
			}
			delete(a.fz.ip, k)
			a.event(Event{Time: now, Kind: "unfrozen-ip", Network: k.Network, IP: k.IP.String()})
		}
	}
	a.flush(ctx)
	if a.dirty && a.snap == nil && now.Sub(a.lastRetry) >= a.cfg.RetryInterval {
		a.lastRetry = now
		a.dirty = false
		have, err := a.dp.Programmed(ctx)
		if err != nil {
			a.dirty = true
			return
		}
		a.apply(ctx, diff(have, a.view.desired(&a.fz)))
	}
}
