package vswitchd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/capture"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/events"
	"github.com/switchyard-net/switchyard/internal/metrics"
	"github.com/switchyard-net/switchyard/internal/web"
)

// MaxCaptures bounds the captures that run at once.
const MaxCaptures = 16

// remoteScanMax is the FDB size above which the remote-VTEP scan (every
// 5 s) is skipped: it walks the whole table.
const remoteScanMax = 262144

// observer is the daemon's "seeing inside": the event log and what feeds
// it (FDB watchers, port and configuration polls, remote VTEP tracking),
// captures, the metrics registry and the doctor's probes.
type observer struct {
	sw      *Switch
	log     *events.Log
	started time.Time
	opts    Options
	wake    chan struct{}
	reg     *prometheus.Registry
	metrics http.Handler

	mu       sync.Mutex
	watchers map[string]*bridgeWatch
	ports    map[string]portSeen
	remotes  map[string]map[netip.Addr]*remoteSeen // tunnel port → remote
	probes   map[string]doctor.ProbeResult         // port|remote
	lastRev  uint64
	lastCfg  *config.Config
	actors   []string
	captures map[string]*captureRun

	captureDropped atomic.Uint64
	remoteScanned  atomic.Int64 // unix seconds of the last remote scan
}

type bridgeWatch struct {
	dp *datapath.Bridge
	w  *events.FDBWatcher
}

type portSeen struct {
	status, reason string
	txErrors       uint64
	lastTxEvent    time.Time
}

type remoteSeen struct {
	macs       int
	configured bool
}

type captureRun struct {
	s      *capture.Session
	bridge string
	port   *datapath.Port
	detach func()
	who    string
}

func newObserver(sw *Switch, o Options) *observer {
	ob := &observer{
		sw: sw, log: events.New(events.DefaultCapacity, sw.log), started: time.Now(), opts: o,
		wake: make(chan struct{}, 1), watchers: map[string]*bridgeWatch{}, ports: map[string]portSeen{},
		remotes: map[string]map[netip.Addr]*remoteSeen{}, probes: map[string]doctor.ProbeResult{},
		captures: map[string]*captureRun{},
	}
	capture.Version = Version
	ob.reg = metrics.NewRegistry(&metricsSource{sw})
	ob.metrics = metrics.Handler(ob.reg)
	return ob
}

// observeBridge starts watching a new bridge's FDB (called by
// configureBridges, with s.mu held).
func (s *Switch) observeBridge(name string, dp *datapath.Bridge) {
	if s.obs == nil {
		return
	}
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	s.obs.watchLocked(name, dp)
}

func (ob *observer) watchLocked(name string, dp *datapath.Bridge) {
	if w := ob.watchers[name]; w != nil && w.dp == dp {
		return
	}
	w := events.NewFDBWatcher(dp, ob.wake)
	dp.SetFDBEvents(w)
	ob.watchers[name] = &bridgeWatch{dp: dp, w: w}
}

// startObserving makes the observer, records the daemon's start, and runs
// its loop until ctx ends (then records the stop).
func startObserving(ctx context.Context, sw *Switch, o Options) *observer {
	ob := newObserver(sw, o)
	sw.obs = ob
	sw.mu.Lock()
	for name, rb := range sw.bridges {
		ob.mu.Lock()
		ob.watchLocked(name, rb.dp)
		ob.mu.Unlock()
	}
	sw.mu.Unlock()
	cfg, rev := sw.store.Get()
	ob.lastCfg, ob.lastRev = cfg.Clone(), rev
	ob.log.Add(events.Event{Kind: events.DaemonStart, Who: fmt.Sprintf("pid %d", pidSelf()),
		What:    fmt.Sprintf("state %s, socket %s, revision %d, offload %v", o.StateDir, o.Socket, rev, sw.offload),
		Message: fmt.Sprintf("switchyard %s started (revision %d: %d bridges, %d ports)", Version, rev, len(cfg.Bridges), len(cfg.Ports))})
	ob.pollPorts(time.Now())
	go ob.loop(ctx)
	return ob
}

func (ob *observer) stopped(err error) {
	e := events.Event{Kind: events.DaemonStop, Message: "switchyard daemon stopping"}
	if err != nil {
		e.Severity, e.Reason, e.Message = events.Error, err.Error(), "switchyard daemon stopping: "+err.Error()
	}
	ob.log.Add(e)
}

func (ob *observer) loop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			ob.stopCaptures("stopped")
			return
		case <-ob.wake:
			ob.drain(time.Now())
		case now := <-t.C:
			n++
			ob.drain(now)
			ob.pollPorts(now)
			ob.pollConfig("")
			ob.checkCaptures()
			if n%5 == 0 {
				ob.scanRemotes(now)
			}
		}
	}
}

func (ob *observer) drain(now time.Time) {
	ob.mu.Lock()
	ws := make([]*bridgeWatch, 0, len(ob.watchers))
	for _, w := range ob.watchers {
		ws = append(ws, w)
	}
	ob.mu.Unlock()
	for _, w := range ws {
		w.w.Drain(now, ob.log)
	}
}

// pollPorts turns port status changes and send errors into events.
func (ob *observer) pollPorts(now time.Time) {
	show := ob.sw.Show()
	ob.mu.Lock()
	defer ob.mu.Unlock()
	seen := map[string]bool{}
	live := map[string]bool{}
	for _, b := range show.Bridges {
		live[b.Name] = true
		for _, p := range b.Ports {
			seen[p.Name] = true
			old, had := ob.ports[p.Name]
			cur := portSeen{status: p.Status, reason: p.Reason, txErrors: p.Stats.Drops["tx-error"], lastTxEvent: old.lastTxEvent}
			if !had || old.status != cur.status || old.reason != cur.reason && cur.status != "up" {
				if had || cur.status != "up" || ob.lastRev != 0 {
					ob.portEvent(b.Name, p, had)
				}
			}
			if had && cur.txErrors > old.txErrors && now.Sub(old.lastTxEvent) >= 10*time.Second {
				ob.log.Add(events.Event{Time: now, Kind: events.PortTxErrors, Severity: events.Warning, Bridge: b.Name, Port: p.Name,
					Count: cur.txErrors - old.txErrors, Message: fmt.Sprintf("%s: %d frames could not be sent (tx-error); the device refused them", p.Name, cur.txErrors-old.txErrors)})
				cur.lastTxEvent = now
			} else if had && now.Sub(old.lastTxEvent) < 10*time.Second {
				cur.txErrors = old.txErrors // report the rest with the next event
			}
			ob.ports[p.Name] = cur
		}
	}
	for name := range ob.ports {
		if !seen[name] {
			delete(ob.ports, name)
			ob.log.Add(events.Event{Time: now, Kind: events.PortRemoved, Port: name, Message: fmt.Sprintf("port %s removed", name)})
		}
	}
	for name := range ob.watchers {
		if !live[name] {
			delete(ob.watchers, name)
		}
	}
}

func (ob *observer) portEvent(bridge string, p api.PortStatus, had bool) {
	e := events.Event{Bridge: bridge, Port: p.Name, Reason: p.Reason}
	switch p.Status {
	case "up":
		e.Kind, e.Message = events.PortUp, fmt.Sprintf("%s port %s on %s is up", p.Type, p.Name, bridge)
	case "error":
		e.Kind, e.Severity, e.Message = events.PortError, events.Error, fmt.Sprintf("%s port %s on %s: %s", p.Type, p.Name, bridge, p.Reason)
	default:
		e.Kind, e.Severity, e.Message = events.PortDown, events.Warning, fmt.Sprintf("%s port %s on %s is down: %s", p.Type, p.Name, bridge, p.Reason)
	}
	ob.log.Add(e)
}

// BeginChange implements api.Auditor: changes made during the request are
// attributed to who.
func (s *Switch) BeginChange(who, method, path string) func(int) {
	if s.obs == nil {
		return func(int) {}
	}
	ob := s.obs
	ob.mu.Lock()
	ob.actors = append(ob.actors, who)
	ob.mu.Unlock()
	return func(status int) {
		changed := ob.pollConfig(who)
		if !changed && status < 300 && strings.Contains(path, "/flows") {
			bridge := strings.TrimPrefix(path, "/v1/bridges/")
			bridge, _, _ = strings.Cut(bridge, "/")
			ob.log.Add(events.Event{Kind: events.ConfigChange, Bridge: bridge, Who: who, What: method + " " + path,
				Message: fmt.Sprintf("flow rules of %s changed (%s %s) by %s", bridge, method, path, who)})
		}
		ob.mu.Lock()
		for i := len(ob.actors) - 1; i >= 0; i-- {
			if ob.actors[i] == who {
				ob.actors = append(ob.actors[:i], ob.actors[i+1:]...)
				break
			}
		}
		ob.mu.Unlock()
	}
}

// pollConfig turns a new stored revision into config.change events (one
// per changed object), attributed to who, or to the request in flight, or
// to a front end other than the API. It reports whether there was a change.
func (ob *observer) pollConfig(who string) bool {
	cfg, rev := ob.sw.store.Get()
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if rev == ob.lastRev {
		return false
	}
	if who == "" {
		if n := len(ob.actors); n > 0 {
			who = ob.actors[n-1]
		} else {
			who = "not through the API (OVSDB or OpenFlow front end, or another daemon on the store)"
		}
	}
	for _, d := range configDiff(ob.lastCfg, cfg) {
		ob.log.Add(events.Event{Kind: events.ConfigChange, Bridge: d.bridge, Port: d.port, Who: who, What: d.what,
			Message: fmt.Sprintf("%s (revision %d, by %s)", d.what, rev, who)})
	}
	ob.lastCfg, ob.lastRev = cfg.Clone(), rev
	return true
}

type change struct{ bridge, port, what string }

// configDiff describes what changed from a to b, one line per object.
func configDiff(a, b *config.Config) []change {
	if a == nil {
		a = config.Empty()
	}
	var out []change
	names := func(m map[string]bool) []string {
		l := make([]string, 0, len(m))
		for k := range m {
			l = append(l, k)
		}
		sort.Strings(l)
		return l
	}
	all := map[string]bool{}
	for n := range a.Bridges {
		all[n] = true
	}
	for n := range b.Bridges {
		all[n] = true
	}
	for _, n := range names(all) {
		x, y := a.Bridges[n], b.Bridges[n]
		switch {
		case x == nil:
			out = append(out, change{n, "", "bridge " + n + " added" + fieldList(*y, config.Bridge{Name: n})})
		case y == nil:
			out = append(out, change{n, "", "bridge " + n + " deleted"})
		case *x != *y:
			out = append(out, change{n, "", "bridge " + n + " changed:" + fieldList(*y, *x)})
		}
	}
	all = map[string]bool{}
	for n := range a.Ports {
		all[n] = true
	}
	for n := range b.Ports {
		all[n] = true
	}
	for _, n := range names(all) {
		x, y := a.Ports[n], b.Ports[n]
		switch {
		case x == nil:
			out = append(out, change{y.Bridge, n, fmt.Sprintf("port %s added to %s (%s)%s", n, y.Bridge, y.Type, portFields(y, &config.Port{Name: n, Bridge: y.Bridge, Type: y.Type}))})
		case y == nil:
			out = append(out, change{x.Bridge, n, fmt.Sprintf("port %s deleted from %s", n, x.Bridge)})
		default:
			if d := portFields(y, x); d != "" {
				out = append(out, change{y.Bridge, n, fmt.Sprintf("port %s on %s changed:%s", n, y.Bridge, d)})
			}
		}
	}
	key := func(e config.StaticFDB) string { return fmt.Sprintf("%s %s vlan %d", e.Bridge, e.MAC, e.VLAN) }
	am, bm := map[string]config.StaticFDB{}, map[string]config.StaticFDB{}
	for _, e := range a.FDB {
		am[key(e)] = e
	}
	for _, e := range b.FDB {
		bm[key(e)] = e
	}
	for k, e := range bm {
		if o, ok := am[k]; !ok || o != e {
			to := e.Port
			if e.Remote != "" {
				to += "@" + e.Remote
			}
			out = append(out, change{e.Bridge, e.Port, fmt.Sprintf("static FDB entry %s in VLAN %d → %s on %s", e.MAC, e.VLAN, to, e.Bridge)})
		}
	}
	for k, e := range am {
		if _, ok := bm[k]; !ok {
			out = append(out, change{e.Bridge, e.Port, fmt.Sprintf("static FDB entry %s in VLAN %d removed from %s", e.MAC, e.VLAN, e.Bridge)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return false })
	return out
}

// fieldList lists a bridge's settings that differ from base.
func fieldList(b, base config.Bridge) string {
	var l []string
	if b.FDBAging != base.FDBAging {
		l = append(l, fmt.Sprintf("fdb-aging %d", b.FDBAging))
	}
	if b.FDBMax != base.FDBMax {
		l = append(l, fmt.Sprintf("fdb-max %d", b.FDBMax))
	}
	if b.FDBFullPolicy != base.FDBFullPolicy {
		l = append(l, "fdb-full-policy "+orDefault(b.FDBFullPolicy))
	}
	if b.FlowCacheMax != base.FlowCacheMax {
		l = append(l, fmt.Sprintf("flow-cache-max %d", b.FlowCacheMax))
	}
	if len(l) == 0 {
		return ""
	}
	return " " + strings.Join(l, ", ")
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// portFields lists a port's settings that differ from base.
func portFields(p, base *config.Port) string {
	var l []string
	add := func(cond bool, s string) {
		if cond {
			l = append(l, s)
		}
	}
	add(p.NetNS != base.NetNS, "netns "+p.NetNS)
	add(p.Peer != base.Peer, "peer "+p.Peer)
	add(p.VLAN != base.VLAN, fmt.Sprintf("vlan %d", p.VLAN))
	add(p.Trunks != base.Trunks, "trunk "+orDefault(p.Trunks))
	add(p.NativeVLAN != base.NativeVLAN, fmt.Sprintf("native-vlan %d", p.NativeVLAN))
	add(p.NativeTagged != base.NativeTagged, fmt.Sprintf("native-tagged %v", p.NativeTagged))
	add(p.NoLearning != base.NoLearning, fmt.Sprintf("learning %v", !p.NoLearning))
	add(p.OFPort != base.OFPort && base.OFPort != 0, fmt.Sprintf("ofport %d", p.OFPort))
	var t, bt config.Tunnel
	if p.Tunnel != nil {
		t = *p.Tunnel
	}
	if base.Tunnel != nil {
		bt = *base.Tunnel
	}
	add(t.Local != bt.Local, "local "+t.Local)
	add(strings.Join(t.Remotes, ",") != strings.Join(bt.Remotes, ","), "remote "+strings.Join(t.Remotes, ","))
	add(t.Group != bt.Group, "group "+t.Group)
	add(t.VNI != bt.VNI, fmt.Sprintf("vni %d", t.VNI))
	add(t.VNIMap != bt.VNIMap, "vni-map "+t.VNIMap)
	if len(l) == 0 {
		return ""
	}
	return " " + strings.Join(l, ", ")
}

// scanRemotes counts the MACs behind each remote VTEP of each tunnel port
// and reports remotes that appear (first MAC learned) and go quiet (last
// MAC gone).
func (ob *observer) scanRemotes(now time.Time) {
	ob.remoteScanned.Store(now.Unix())
	cfg, _ := ob.sw.store.Get()
	type tport struct {
		bridge string
		p      *config.Port
	}
	var tps []tport
	for _, p := range cfg.Ports {
		if p.Tunnel != nil {
			tps = append(tps, tport{p.Bridge, p})
		}
	}
	if len(tps) == 0 {
		return
	}
	counts := map[string]map[netip.Addr]int{}
	byBridge := map[string][]*config.Port{}
	for _, t := range tps {
		byBridge[t.bridge] = append(byBridge[t.bridge], t.p)
	}
	for br := range byBridge {
		rb, err := ob.sw.bridge(br)
		if err != nil || rb.dp.Stats().FDB.Entries > remoteScanMax {
			continue
		}
		for _, e := range rb.dp.FDB(-1) {
			if !e.RemoteIP.IsValid() {
				continue
			}
			m := counts[e.PortName]
			if m == nil {
				m = map[netip.Addr]int{}
				counts[e.PortName] = m
			}
			m[e.RemoteIP]++
		}
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, t := range tps {
		name := t.p.Name
		cur := map[netip.Addr]*remoteSeen{}
		for _, r := range t.p.Tunnel.Remotes {
			if a, err := netip.ParseAddr(r); err == nil {
				cur[a.Unmap()] = &remoteSeen{configured: true}
			}
		}
		for a, n := range counts[name] {
			rs := cur[a]
			if rs == nil {
				rs = &remoteSeen{}
				cur[a] = rs
			}
			rs.macs = n
		}
		old := ob.remotes[name]
		for a, rs := range cur {
			if o := old[a]; rs.macs > 0 && (o == nil || o.macs == 0) {
				how := "learned"
				if rs.configured {
					how = "configured"
				}
				ob.log.Add(events.Event{Time: now, Kind: events.RemoteLearned, Bridge: t.bridge, Port: name, Remote: a.String(), Count: uint64(rs.macs),
					Message: fmt.Sprintf("%s: remote VTEP %s (%s) in use: %d MACs learned behind it", name, a, how, rs.macs)})
			}
		}
		for a, o := range old {
			if rs := cur[a]; o.macs > 0 && (rs == nil || rs.macs == 0) {
				ob.log.Add(events.Event{Time: now, Kind: events.RemoteLost, Severity: events.Warning, Bridge: t.bridge, Port: name, Remote: a.String(),
					Message: fmt.Sprintf("%s: no MAC behind remote VTEP %s any more (aged out or flushed): it sent nothing for the aging time", name, a)})
			}
		}
		ob.remotes[name] = cur
	}
	for name := range ob.remotes {
		if p, ok := cfg.Ports[name]; !ok || p.Tunnel == nil {
			delete(ob.remotes, name)
		}
	}
}

// Events implements api.Backend.
func (s *Switch) Events(q events.Query) []events.Event {
	if s.obs == nil {
		return []events.Event{}
	}
	return s.obs.log.Events(q)
}

// FollowEvents implements api.Backend.
func (s *Switch) FollowEvents(q events.Query) ([]events.Event, *events.Subscription) {
	if s.obs == nil { // not started by Run: an empty log
		return events.New(1, nil).Follow(q, 1)
	}
	return s.obs.log.Follow(q, 1024)
}

// EventLog returns the daemon's event log (nil before it starts).
func (s *Switch) EventLog() *events.Log {
	if s.obs == nil {
		return nil
	}
	return s.obs.log
}

// MetricsHandler implements api.Backend: the Prometheus scrape.
func (s *Switch) MetricsHandler() http.Handler {
	if s.obs == nil { // not started by Run: the switch's counters alone
		return metrics.Handler(metrics.NewRegistry(&metricsSource{s}))
	}
	return s.obs.metrics
}

// StartCapture implements api.Backend: a capture of port on bridge,
// attached to the port's tap.
func (s *Switch) StartCapture(bridge, port string, o capture.Options, who string) (*capture.Session, error) {
	if s.obs == nil {
		return nil, errs.Failedf("capture", errors.New("not started"), "the daemon's capture is not running")
	}
	s.mu.Lock()
	rb := s.bridges[bridge]
	rp := s.ports[port]
	s.mu.Unlock()
	if rb == nil {
		return nil, notFound("bridge", "bridge %q does not exist", bridge)
	}
	if rp == nil || rp.cfg.Bridge != bridge {
		return nil, notFound("port", "port %q is not on bridge %q", port, bridge)
	}
	if rp.bp == nil {
		return nil, errs.Failedf("port", errors.New(rp.status), "port %q is %s (%s): nothing to capture until it is up", port, rp.status, rp.reason)
	}
	ob := s.obs
	ob.mu.Lock()
	n := len(ob.captures)
	ob.mu.Unlock()
	if n >= MaxCaptures {
		return nil, errs.Invalidf("capture", fmt.Sprintf("at most %d captures at once", MaxCaptures), "%d captures are running (switchyard capture --list? see GET /v1/captures)", n)
	}
	info := capture.PortInfo{Bridge: bridge, Port: port, Type: rp.cfg.Type, Tunnel: rp.cfg.Tunnel != nil}
	sess, err := capture.NewSession(info, o)
	if err != nil {
		return nil, err
	}
	detach := capture.Attach(rp.bp, sess)
	ob.mu.Lock()
	ob.captures[sess.ID()] = &captureRun{s: sess, bridge: bridge, port: rp.bp, detach: detach, who: who}
	ob.mu.Unlock()
	what := fmt.Sprintf("direction %s", o.Direction)
	if o.Filter != "" {
		what += ", filter " + o.Filter
	}
	ob.log.Add(events.Event{Kind: events.CaptureStart, Bridge: bridge, Port: port, Who: who, What: what,
		Message: fmt.Sprintf("capture %s of %s on %s started (%s) by %s", sess.ID(), port, bridge, what, who)})
	return sess, nil
}

// EndCapture implements api.Backend: the capture's stream ended.
func (s *Switch) EndCapture(sess *capture.Session, r capture.Result, err error) {
	if s.obs == nil {
		return
	}
	ob := s.obs
	ob.mu.Lock()
	run := ob.captures[sess.ID()]
	delete(ob.captures, sess.ID())
	ob.mu.Unlock()
	if run != nil {
		run.detach()
	}
	ob.captureDropped.Add(r.Dropped)
	info := sess.Info()
	e := events.Event{Kind: events.CaptureStop, Bridge: info.Bridge, Port: info.Port, Count: r.Written, Reason: r.Reason,
		Message: fmt.Sprintf("capture %s of %s ended (%s): %d frames written, %d dropped because the reader did not keep up", sess.ID(), info.Port, r.Reason, r.Written, r.Dropped)}
	if r.Dropped > 0 {
		e.Severity = events.Warning
	}
	ob.log.Add(e)
}

// StopCapture implements api.Backend.
func (s *Switch) StopCapture(id string) error {
	if s.obs != nil {
		s.obs.mu.Lock()
		run := s.obs.captures[id]
		s.obs.mu.Unlock()
		if run != nil {
			run.s.Stop("stopped")
			return nil
		}
	}
	return notFound("id", "no capture %q is running", id)
}

// Captures implements api.Backend.
func (s *Switch) Captures() []api.CaptureStatus {
	out := []api.CaptureStatus{}
	if s.obs == nil {
		return out
	}
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	for _, c := range s.obs.captures {
		o := c.s.Options()
		out = append(out, api.CaptureStatus{ID: c.s.ID(), Bridge: c.bridge, Port: c.s.Info().Port, Filter: o.Filter,
			Direction: o.Direction.String(), Started: c.s.Started(), Who: c.who, Result: c.s.Stats()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// checkCaptures ends captures whose port went away or was rebuilt.
func (ob *observer) checkCaptures() {
	ob.mu.Lock()
	runs := make([]*captureRun, 0, len(ob.captures))
	for _, c := range ob.captures {
		runs = append(runs, c)
	}
	ob.mu.Unlock()
	for _, c := range runs {
		ob.sw.mu.Lock()
		rp := ob.sw.ports[c.s.Info().Port]
		gone := rp == nil || rp.bp != c.port
		ob.sw.mu.Unlock()
		if gone {
			c.s.Stop("port-gone")
		}
	}
}

func (ob *observer) stopCaptures(reason string) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, c := range ob.captures {
		c.s.Stop(reason)
	}
}

// Tunnels implements api.Backend.
func (s *Switch) Tunnels() []api.TunnelStatus {
	show := s.Show()
	out := []api.TunnelStatus{}
	var remotes map[string]map[netip.Addr]*remoteSeen
	var probes map[string]doctor.ProbeResult
	if s.obs != nil {
		s.obs.mu.Lock()
		remotes = map[string]map[netip.Addr]*remoteSeen{}
		for k, v := range s.obs.remotes {
			m := map[netip.Addr]*remoteSeen{}
			for a, r := range v {
				rr := *r
				m[a] = &rr
			}
			remotes[k] = m
		}
		probes = map[string]doctor.ProbeResult{}
		for k, v := range s.obs.probes {
			probes[k] = v
		}
		s.obs.mu.Unlock()
	}
	for _, b := range show.Bridges {
		for _, p := range b.Ports {
			if p.Tunnel == nil {
				continue
			}
			t := p.Tunnel
			ts := api.TunnelStatus{Bridge: b.Name, Port: p.Name, Encap: p.Type, Local: t.Local, Group: t.Group, VNI: t.VNI, VNIMap: t.VNIMap,
				Status: p.Status, MTU: p.MTU, Overhead: p.Overhead, VMMTU: p.VMMTU, Remotes: []api.RemoteStatus{}}
			seen := map[string]bool{}
			add := func(a string, configured bool, macs int) {
				if seen[a] {
					return
				}
				seen[a] = true
				rs := api.RemoteStatus{Addr: a, Configured: configured, MACs: macs}
				if pr, ok := probes[p.Name+"|"+a]; ok {
					rs.Probed, rs.Up, rs.RTTMicros, rs.ProbeErr = true, pr.Up, pr.RTT.Microseconds(), pr.Err
				}
				ts.Remotes = append(ts.Remotes, rs)
			}
			for _, r := range t.Remotes {
				macs := 0
				if a, err := netip.ParseAddr(r); err == nil {
					if rs := remotes[p.Name][a.Unmap()]; rs != nil {
						macs = rs.macs
					}
				}
				add(r, true, macs)
			}
			var learned []string
			for a, rs := range remotes[p.Name] {
				if !rs.configured && rs.macs > 0 {
					learned = append(learned, a.String())
				}
			}
			sort.Strings(learned)
			for _, a := range learned {
				add(a, false, remotes[p.Name][netip.MustParseAddr(a)].macs)
			}
			out = append(out, ts)
		}
	}
	return out
}

// metricsSource builds a metrics snapshot from the switch at scrape time.
type metricsSource struct{ s *Switch }

func (m *metricsSource) MetricsSnapshot() *metrics.Snapshot {
	s := m.s
	show := s.Show()
	snap := &metrics.Snapshot{Revision: show.Revision, Daemon: metrics.Daemon{Version: Version, GoVersion: runtime.Version(), Commit: buildCommit()}}
	if s.obs != nil {
		snap.Daemon.Start = s.obs.started
		snap.Events = s.obs.log.Counts()
		snap.EventsLagged = s.obs.log.Lagged()
		s.obs.mu.Lock()
		snap.Captures = len(s.obs.captures)
		var live uint64
		for _, c := range s.obs.captures {
			live += c.s.Stats().Dropped
		}
		s.obs.mu.Unlock()
		snap.CaptureDropped = s.obs.captureDropped.Load() + live
	}
	tunnels := map[string]api.TunnelStatus{}
	for _, t := range s.Tunnels() {
		tunnels[t.Port] = t
	}
	for _, b := range show.Bridges {
		mb := metrics.Bridge{Name: b.Name, AgingSeconds: b.AgingSeconds, FullPolicy: b.FullPolicy, FDB: b.FDB, Cache: b.Cache, Rules: b.Rules}
		if rb, err := s.bridge(b.Name); err == nil {
			st := rb.dp.Stats()
			mb.FDBBytesPerEntry = st.FDBBytesPerEntry
			per := rb.dp.FDBLearnedPerPort()
			mb.LearnedPerPort = map[string]int{}
			for _, p := range rb.dp.Ports() {
				mb.LearnedPerPort[p.Name()] = per[p.Number()]
			}
		}
		for _, p := range b.Ports {
			if p.Status != "up" {
				snap.Daemon.FailedPorts++
			}
			mp := metrics.Port{Name: p.Name, Type: p.Type, OFPort: p.OFPort, Status: p.Status, Stats: p.Stats}
			if t, ok := tunnels[p.Name]; ok {
				mt := &metrics.Tunnel{Encap: t.Encap, Local: t.Local, MTU: t.MTU, Overhead: t.Overhead, VMMTU: t.VMMTU,
					BadHeader: p.Stats.Drops["socket-bad-tunnel"], UnknownVNI: p.Stats.Drops["socket-unknown-vni"]}
				for _, r := range t.Remotes {
					mt.Remotes = append(mt.Remotes, metrics.Remote{Addr: r.Addr, Configured: r.Configured, Learned: r.MACs > 0, MACs: r.MACs,
						Probed: r.Probed, Up: r.Up, RTT: time.Duration(r.RTTMicros) * time.Microsecond})
				}
				s.remoteCounters(p.Name, mt)
				mp.Tunnel = mt
			}
			mb.Ports = append(mb.Ports, mp)
		}
		snap.Bridges = append(snap.Bridges, mb)
	}
	return snap
}

// RemoteCounter is a tunnel device that counts per remote VTEP: it calls
// fn once per remote with its received and sent packets and bytes and the
// frames it could not send to it (overlay.Port does).
type RemoteCounter interface {
	RemoteCounters(fn func(remote netip.Addr, rxPackets, rxBytes, txPackets, txBytes, txDrops uint64))
}

// remoteCounters adds a tunnel device's per-remote counters to mt.
func (s *Switch) remoteCounters(port string, mt *metrics.Tunnel) {
	s.mu.Lock()
	rp := s.ports[port]
	var rc RemoteCounter
	if rp != nil {
		rc, _ = rp.dev.(RemoteCounter)
	}
	s.mu.Unlock()
	if rc == nil {
		return
	}
	rc.RemoteCounters(func(a netip.Addr, rxP, rxB, txP, txB, drops uint64) {
		addr := a.Unmap().String()
		for i := range mt.Remotes {
			if mt.Remotes[i].Addr == addr {
				r := &mt.Remotes[i]
				r.HasCounters, r.RxPackets, r.RxBytes, r.TxPackets, r.TxBytes, r.Drops = true, rxP, rxB, txP, txB, drops
				return
			}
		}
		mt.Remotes = append(mt.Remotes, metrics.Remote{Addr: addr, Learned: true, HasCounters: true,
			RxPackets: rxP, RxBytes: rxB, TxPackets: txP, TxBytes: txB, Drops: drops})
	})
}

// serveMetrics serves /metrics on a TCP address until ctx ends.
func serveMetrics(ctx context.Context, addr string, h http.Handler, log func(string, ...any)) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "switchyard "+Version+": metrics at /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log("metrics listener stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// startObserve starts the observer, and the metrics and dashboard
// listeners when the options ask for them.
func startObserve(ctx context.Context, sw *Switch, o Options) (*observer, error) {
	if o.Web != "" {
		if _, err := web.CheckAddr(o.Web, o.WebToken); err != nil {
			return nil, err
		}
	}
	ob := startObserving(ctx, sw, o)
	if o.MetricsListen != "" {
		a, err := serveMetrics(ctx, o.MetricsListen, ob.metrics, sw.log.Error)
		if err != nil {
			return nil, err
		}
		sw.log.Info("metrics listening", "addr", a.String(), "path", "/metrics")
	}
	if o.Web != "" {
		ws, err := web.New(sw, web.Options{Addr: o.Web, Token: o.WebToken, Version: Version, Logger: sw.log})
		if err != nil {
			return nil, err
		}
		if err := ws.Start(ctx); err != nil {
			return nil, err
		}
		sw.log.Info("dashboard listening", "url", "http://"+ws.Addr().String()+"/", "token", o.WebToken != "")
	}
	return ob, nil
}
