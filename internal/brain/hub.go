package brain

import (
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// The hub is the brain's cache of etcd and its fan-out: it applies the
// watch in revision order and queues, for every connected agent, exactly
// the messages its host needs. All of its state is guarded by mu; a
// session's output buffer by the session's own lock (taken after mu).

type cport struct {
	p      model.Port
	remote []byte // wire.Port JSON as remote hosts see it
	full   []byte // with ID, netns, ifname, for the hosts that create the VIF
	digest wire.Digest
}

type cnet struct {
	n       model.Network
	present bool // the network record exists
	wire    []byte
	ports   map[string]*cport // by MAC
	// hosts counts, per host, the ports of this network that occupy it
	// (as Host or MigratingTo).
	hosts map[string]int
	// digest covers the record and every port (see wire.Digest).
	digest, recDigest wire.Digest
}

type chost struct {
	name      string
	h         model.Host
	hasRecord bool
	aliveKey  bool
	lease     int64
	since     string
	nets      map[string]bool // networks with ports on this host
	wire      []byte
	wireAlive bool // what wire says
}

type hub struct {
	mu       sync.Mutex
	keys     model.Keys
	rev      int64
	nets     map[string]*cnet
	ports    map[string]*cport
	hosts    map[string]*chost
	sessions map[string]*session // by host
	byID     map[string]*session
	graceEnd time.Time
	queueMax int

	revCh chan struct{} // closed and replaced when rev advances
	ackCh chan struct{} // closed and replaced when an agent reports

	touched []*session

	relists, delivered, resyncs, idleMsgs uint64
	// joinMsgs counts what a host is sent because it newly needs it: a
	// network it joined, a host record it had not seen.
	joinMsgs uint64
}

func newHub(keys model.Keys, queueMax int) *hub {
	h := &hub{keys: keys, queueMax: queueMax, sessions: map[string]*session{}, byID: map[string]*session{},
		revCh: make(chan struct{}), ackCh: make(chan struct{})}
	h.clear()
	return h
}

func (h *hub) clear() {
	h.nets = map[string]*cnet{}
	h.ports = map[string]*cport{}
	h.hosts = map[string]*chost{}
}

func (h *hub) net(name string) *cnet {
	n := h.nets[name]
	if n == nil {
		n = &cnet{n: model.Network{Name: name}, ports: map[string]*cport{}, hosts: map[string]int{}}
		h.nets[name] = n
	}
	return n
}

func (h *hub) host(name string) *chost {
	c := h.hosts[name]
	if c == nil {
		c = &chost{name: name, nets: map[string]bool{}}
		h.hosts[name] = c
		h.encodeHost(c)
	}
	return c
}

// reported is the liveness agents are told: the lease key, or, during the
// grace after the brain started, a known host is presumed alive so that
// hosts re-registering after a brain outage do not flap.
//
// A host whose agent reports to this brain within its TTL is alive too,
// whatever its lease says: the lease expires when etcd could not be
// reached to renew it (a partition between the brain and etcd, a paused
// etcd), which says nothing about the host, and the brain renews it as soon
// as it can. A host is declared dead only when both are gone: no lease key
// and no fresh report.
func (h *hub) reported(c *chost) bool {
	if !c.hasRecord {
		return false
	}
	if c.aliveKey || time.Now().Before(h.graceEnd) {
		return true
	}
	s := h.sessions[c.name]
	return s != nil && time.Since(s.lastSeen) < time.Duration(s.ttl)*time.Second
}

func (h *hub) encodeHost(c *chost) {
	c.wireAlive = h.reported(c)
	w := wire.Host{Name: c.name, VTEPs: c.h.VTEPs, Encaps: c.h.Encaps, Alive: c.wireAlive}
	if w.VTEPs == nil {
		w.VTEPs = []string{}
	}
	c.wire, _ = json.Marshal(w)
}

func encodePort(cp *cport) {
	p := &cp.p
	w := wire.Port{Net: p.Network, MAC: p.MAC, IPs: p.IPs, Host: p.Host, To: p.MigratingTo, Ver: p.Version}
	cp.remote, _ = json.Marshal(w)
	w.ID, w.NetNS, w.IfName = p.ID, p.NetNS, p.IfName
	cp.full, _ = json.Marshal(w)
	cp.digest = wire.PortDigest(p.Network, p.MAC, p.IPs, p.Host, p.MigratingTo, p.Version)
}

func encodeNet(n *cnet) {
	w := wire.Net{Name: n.n.Name, Encap: n.n.Encap, VNI: n.n.VNI, MTU: n.n.MTU}
	n.wire, _ = json.Marshal(w)
	n.digest.Sub(n.recDigest)
	n.recDigest = wire.NetDigest(&w)
	n.digest.Add(n.recDigest)
}

// occupies says whether a port makes host part of its network.
func occupies(p *model.Port, host string) bool { return p.Host == host || p.MigratingTo == host }

// ---- applying etcd state ----

// kv is an etcd key-value as the hub needs it.
type kv struct {
	key     string
	value   []byte
	modRev  int64
	lease   int64
	deleted bool
}

// reset replaces the cache with a full listing at rev and makes every
// streaming session resync (a snapshot, which the agents diff).
func (h *hub) reset(kvs []kv, rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clear()
	for _, e := range kvs {
		h.applyKV(e, false)
	}
	h.setRev(rev)
	h.relists++
	for _, s := range h.sessions {
		if s.streaming {
			h.resync(s)
		}
	}
}

// apply applies one watch response: events in revision order, messages
// staged per session and closed with Done at the end of each revision.
func (h *hub) apply(evs []kv) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 0; i < len(evs); {
		rev := evs[i].modRev
		j := i
		for j < len(evs) && evs[j].modRev == rev {
			h.applyKV(evs[j], true)
			j++
		}
		h.setRev(rev)
		h.finish(rev)
		i = j
	}
}

// progress advances the revision without events (watch progress notify).
func (h *hub) progress(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rev > h.rev {
		h.setRev(rev)
	}
}

func (h *hub) setRev(rev int64) {
	if rev > h.rev {
		h.rev = rev
		close(h.revCh)
		h.revCh = make(chan struct{})
	}
}

func (h *hub) applyKV(e kv, live bool) {
	kind, name := h.keys.Kind(e.key)
	switch kind {
	case "networks":
		h.applyNetwork(name, e, live)
	case "ports":
		h.applyPort(name, e, live)
	case "hosts":
		c := h.host(name)
		if e.deleted {
			c.hasRecord, c.h = false, model.Host{Name: name}
		} else {
			var rec model.Host
			if json.Unmarshal(e.value, &rec) != nil {
				return
			}
			rec.Revision = e.modRev
			c.h, c.hasRecord = rec, true
		}
		h.hostChanged(c, live)
	case "alive":
		c := h.host(name)
		c.aliveKey = !e.deleted
		c.lease = e.lease
		if e.deleted {
			c.lease, c.since = 0, ""
		} else {
			var a model.Alive
			_ = json.Unmarshal(e.value, &a)
			c.since = a.Since
		}
		h.hostChanged(c, live)
	}
}

func (h *hub) hostChanged(c *chost, live bool) {
	old := string(c.wire)
	h.encodeHost(c)
	if !live || old == string(c.wire) {
		return
	}
	for _, s := range h.sessions {
		if s.streaming && !s.resyncing && s.sentHosts[c.name] {
			h.stage(s, wire.THost, c.wire)
		}
	}
}

func (h *hub) applyNetwork(name string, e kv, live bool) {
	n := h.net(name)
	if e.deleted {
		n.present = false
		n.digest.Sub(n.recDigest)
		n.recDigest = wire.Digest{}
		if live {
			// Only possible through a foreign write (the brain refuses to
			// delete a network with ports): resync who had it.
			for host := range n.hosts {
				if s := h.sessions[host]; s != nil && s.streaming {
					h.resync(s)
				}
			}
		}
		if len(n.ports) == 0 {
			delete(h.nets, name)
		}
		return
	}
	var rec model.Network
	if json.Unmarshal(e.value, &rec) != nil {
		return
	}
	rec.Revision = e.modRev
	was := n.present
	n.n, n.present = rec, true
	encodeNet(n)
	if !live {
		return
	}
	for host := range n.hosts {
		s := h.sessions[host]
		if s == nil || !s.streaming || s.resyncing {
			continue
		}
		if !was {
			h.resync(s) // a network re-created under existing ports
		} else {
			h.stage(s, wire.TNet, n.wire)
		}
	}
}

func (h *hub) applyPort(id string, e kv, live bool) {
	old := h.ports[id]
	var np *cport
	if !e.deleted {
		var rec model.Port
		if json.Unmarshal(e.value, &rec) != nil || rec.Network == "" || rec.MAC == "" {
			return
		}
		rec.ID, rec.Version = id, e.modRev
		np = &cport{p: rec}
		encodePort(np)
	}
	if old != nil && np != nil && (old.p.Network != np.p.Network || old.p.MAC != np.p.MAC) {
		// A foreign write changed the port's identity: a delete then an add.
		h.applyPort(id, kv{key: e.key, modRev: e.modRev, deleted: true}, live)
		old = nil
	}
	var netName string
	switch {
	case np != nil:
		netName = np.p.Network
	case old != nil:
		netName = old.p.Network
	default:
		return
	}
	n := h.net(netName)
	before := map[string]bool{}
	if old != nil {
		for _, x := range old.p.Hosts() {
			before[x] = true
		}
		h.unoccupy(n, old)
		delete(n.ports, old.p.MAC)
		delete(h.ports, id)
		n.digest.Sub(old.digest)
	}
	if np != nil {
		n.ports[np.p.MAC] = np
		h.ports[id] = np
		h.occupy(n, np)
		n.digest.Add(np.digest)
	}
	if !n.present && len(n.ports) == 0 {
		delete(h.nets, netName)
	}
	if !live || !n.present {
		return
	}
	// Who hears of it: every host in the network now, and those the port
	// left.
	for x := range n.hosts {
		before[x] = true
	}
	for x := range before {
		s := h.sessions[x]
		if s == nil || !s.streaming || s.resyncing {
			continue
		}
		in := n.hosts[x] > 0
		switch {
		case in && !s.nets[netName]:
			h.stageNetwork(s, n)
		case !in && s.nets[netName]:
			delete(s.nets, netName)
			h.stageDel(s, wire.TNetDel, netName, "")
		case in:
			if np == nil {
				h.stageDel(s, wire.TPortDel, netName, old.p.MAC)
				continue
			}
			h.stagePortHosts(s, np)
			h.stagePort(s, np)
		}
	}
}

func (h *hub) occupy(n *cnet, cp *cport) {
	for _, x := range cp.p.Hosts() {
		n.hosts[x]++
		h.host(x).nets[n.n.Name] = true
	}
}

func (h *hub) unoccupy(n *cnet, cp *cport) {
	for _, x := range cp.p.Hosts() {
		if n.hosts[x]--; n.hosts[x] <= 0 {
			delete(n.hosts, x)
			if c := h.hosts[x]; c != nil {
				delete(c.nets, n.n.Name)
			}
		}
	}
}

// ---- staging messages ----

func (h *hub) touch(s *session) {
	if !s.touched {
		s.touched = true
		h.touched = append(h.touched, s)
	}
}

func (h *hub) stage(s *session, t string, payload []byte) {
	h.touch(s)
	s.stage = append(s.stage, staged{t: t, payload: payload})
}

func (h *hub) stageDel(s *session, t, name, mac string) {
	h.touch(s)
	s.stage = append(s.stage, staged{t: t, name: name, mac: mac})
}

func (h *hub) stagePort(s *session, cp *cport) {
	if occupies(&cp.p, s.host) {
		h.stage(s, wire.TPort, cp.full)
	} else {
		h.stage(s, wire.TPort, cp.remote)
	}
}

func (h *hub) stagePortHosts(s *session, cp *cport) {
	for _, x := range cp.p.Hosts() {
		if !s.sentHosts[x] {
			s.sentHosts[x] = true
			h.stage(s, wire.THost, h.host(x).wire)
			h.joinMsgs++
		}
	}
}

// stageNetwork sends a whole network to a session that just joined it.
func (h *hub) stageNetwork(s *session, n *cnet) {
	s.nets[n.n.Name] = true
	before := len(s.stage)
	defer func() { h.joinMsgs += uint64(len(s.stage) - before) }()
	h.stage(s, wire.TNet, n.wire)
	for _, cp := range n.ports {
		h.stagePortHosts(s, cp)
	}
	for _, cp := range n.ports {
		h.stagePort(s, cp)
	}
}

// finish writes the staged messages of revision rev to each touched
// session, the last one with Done.
func (h *hub) finish(rev int64) {
	for _, s := range h.touched {
		s.touched = false
		if len(s.stage) == 0 || s.resyncing {
			s.stage = s.stage[:0]
			continue
		}
		s.mu.Lock()
		for i, m := range s.stage {
			s.buf = appendLine(s.buf, m, rev, i == len(s.stage)-1)
		}
		h.delivered += uint64(len(s.stage))
		s.msgs += uint64(len(s.stage))
		s.sentRev = rev
		over := len(s.buf) > h.queueMax
		s.mu.Unlock()
		s.stage = s.stage[:0]
		if over {
			h.resync(s)
		}
		s.kick()
	}
	h.touched = h.touched[:0]
}

// appendLine writes one stream line without re-encoding the payload.
func appendLine(b []byte, m staged, rev int64, done bool) []byte {
	b = append(b, `{"t":"`...)
	b = append(b, m.t...)
	b = append(b, `","rev":`...)
	b = strconv.AppendInt(b, rev, 10)
	if done {
		b = append(b, `,"done":true`...)
	}
	if m.ack {
		b = append(b, `,"ack":true`...)
	}
	switch m.t {
	case wire.TNet:
		b = append(b, `,"net":`...)
		b = append(b, m.payload...)
	case wire.THost:
		b = append(b, `,"host":`...)
		b = append(b, m.payload...)
	case wire.TPort:
		b = append(b, `,"port":`...)
		b = append(b, m.payload...)
	case wire.TBegin:
		if len(m.keep) > 0 {
			b = append(b, `,"keep":[`...)
			for i, k := range m.keep {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, k)
			}
			b = append(b, ']')
		}
	case wire.TNetDel, wire.TPortDel, wire.TAudit:
		if m.name != "" {
			b = append(b, `,"name":`...)
			b = strconv.AppendQuote(b, m.name)
		}
		if m.mac != "" {
			b = append(b, `,"mac":`...)
			b = strconv.AppendQuote(b, m.mac)
		}
		if m.id != "" {
			b = append(b, `,"id":`...)
			b = strconv.AppendQuote(b, m.id)
		}
	}
	return append(b, "}\n"...)
}

// resync drops what is queued for a session and ends its stream (a slow
// agent, a relist, a rare change): memory stays bounded, and the agent
// reconnects at once with the digests of what it holds, so it is sent only
// the networks that differ and diffs them.
func (h *hub) resync(s *session) {
	if s.resyncing {
		return
	}
	s.resyncing = true
	s.stage = s.stage[:0]
	s.mu.Lock()
	s.buf = s.buf[:0]
	s.mu.Unlock()
	h.resyncs++
	if s.kickout != nil {
		close(s.kickout)
		s.kickout = nil
	}
}

// snapshot queues a session's view at the current revision: every network
// of the host, except those whose digest the agent already holds (listed
// in Begin's Keep and not resent), and every host those networks refer to.
// Called with mu held.
func (h *hub) snapshot(s *session, have map[string]string) {
	s.nets = map[string]bool{}
	s.sentHosts = map[string]bool{}
	rev := h.rev
	var nets []string
	if c := h.hosts[s.host]; c != nil {
		for name := range c.nets {
			nets = append(nets, name)
		}
	}
	sort.Strings(nets)
	begin := staged{t: wire.TBegin}
	var hosts, body []staged
	addHosts := func(n *cnet) {
		for x := range n.hosts {
			if !s.sentHosts[x] {
				s.sentHosts[x] = true
				hosts = append(hosts, staged{t: wire.THost, payload: h.host(x).wire})
			}
		}
	}
	for _, name := range nets {
		n := h.nets[name]
		if n == nil || !n.present {
			continue
		}
		s.nets[name] = true
		addHosts(n)
		if d, ok := have[name]; ok && d == n.digest.String() {
			begin.keep = append(begin.keep, name)
			continue
		}
		body = append(body, staged{t: wire.TNet, payload: n.wire})
		for _, cp := range n.ports {
			p := cp.remote
			if occupies(&cp.p, s.host) {
				p = cp.full
			}
			body = append(body, staged{t: wire.TPort, payload: p})
		}
	}
	lines := make([]staged, 0, 2+len(hosts)+len(body))
	lines = append(append(append(append(lines, begin), hosts...), body...), staged{t: wire.TEnd})
	s.mu.Lock()
	s.buf = s.buf[:0]
	for i, m := range lines {
		s.buf = appendLine(s.buf, m, rev, i == len(lines)-1)
	}
	s.sentRev = rev
	s.snapshots++
	s.mu.Unlock()
	h.delivered += uint64(len(lines))
	s.msgs += uint64(len(lines))
	s.kick()
}

// ---- sessions ----

type staged struct {
	t, name, mac, id string
	payload          []byte
	ack              bool
	keep             []string
}

type session struct {
	id, host string
	lease    int64
	ttl      int64

	// guarded by hub.mu
	streaming bool
	resyncing bool
	nets      map[string]bool
	sentHosts map[string]bool
	stage     []staged
	touched   bool
	applied   int64
	lastSeen  time.Time
	lastKeep  time.Time
	renewing  bool
	errors    map[string]string
	stats     *wire.AgentStats
	msgs      uint64
	snapshots uint64
	audits    map[string]chan wire.AuditResult
	streamGen int
	kickout   chan struct{} // closed to end the current stream

	mu      sync.Mutex // guards buf, sentRev
	buf     []byte
	sentRev int64
	wake    chan struct{}
	gone    chan struct{}
}

func (s *session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the queued output.
func (s *session) take(into []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	into = append(into[:0], s.buf...)
	s.buf = s.buf[:0]
	if cap(s.buf) > 1<<20 {
		s.buf = nil
	}
	return into
}

// addSession registers a host's new session, replacing an older one.
func (h *hub) addSession(id, host string, lease, ttl int64) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old := h.sessions[host]; old != nil {
		h.dropLocked(old)
	}
	s := &session{id: id, host: host, lease: lease, ttl: ttl, wake: make(chan struct{}, 1), gone: make(chan struct{}),
		nets: map[string]bool{}, sentHosts: map[string]bool{}, lastSeen: time.Now(), lastKeep: time.Now(),
		audits: map[string]chan wire.AuditResult{}}
	h.sessions[host] = s
	h.byID[id] = s
	return s
}

func (h *hub) dropLocked(s *session) {
	if h.sessions[s.host] == s {
		delete(h.sessions, s.host)
	}
	delete(h.byID, s.id)
	select {
	case <-s.gone:
	default:
		close(s.gone)
	}
}

func (h *hub) session(id string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byID[id]
}

// startStream begins a session's stream with a snapshot; have are the
// digests of the networks the agent holds. The returned channel closes
// when the brain wants the stream to end (resync).
func (h *hub) startStream(s *session, have map[string]string) (int, chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.kickout != nil {
		close(s.kickout) // an older stream of the session ends
	}
	s.streaming, s.resyncing = true, false
	s.streamGen++
	s.kickout = make(chan struct{})
	s.lastSeen = time.Now()
	h.snapshot(s, have)
	return s.streamGen, s.kickout
}

func (h *hub) endStream(s *session, gen int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.streamGen != gen {
		return
	}
	s.streaming, s.resyncing = false, false
	if s.kickout != nil {
		close(s.kickout)
		s.kickout = nil
	}
	s.mu.Lock()
	s.buf = s.buf[:0]
	s.mu.Unlock()
}

// report records an agent's applied revision.
func (h *hub) report(s *session, r *wire.Report) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.lastSeen = time.Now()
	if r.Applied > s.applied {
		s.applied = r.Applied
	}
	s.errors = r.Errors
	if r.Stats != nil {
		s.stats = r.Stats
	}
	close(h.ackCh)
	h.ackCh = make(chan struct{})
}

// askAck queues an ack request to a session (after what is queued).
func (h *hub) askAck(s *session) {
	if !s.streaming || s.resyncing {
		return
	}
	s.mu.Lock()
	s.buf = appendLine(s.buf, staged{t: wire.TRev, ack: true}, h.rev, true)
	s.mu.Unlock()
	h.delivered++
	s.msgs++
	s.kick()
}

// idleProgress tells sessions that fell behind the head that nothing
// changed for them (at most one message per host per call).
func (h *hub) idleProgress() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		if !s.streaming || s.resyncing {
			continue
		}
		s.mu.Lock()
		behind := s.sentRev < h.rev
		if behind {
			s.buf = appendLine(s.buf, staged{t: wire.TRev}, h.rev, true)
			s.sentRev = h.rev
		}
		s.mu.Unlock()
		if behind {
			h.delivered++
			h.idleMsgs++
			s.msgs++
			s.kick()
		}
	}
}

// reevaluate re-announces hosts whose reported liveness changed with time
// (the start grace ended, a session went stale).
func (h *hub) reevaluate() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.hosts {
		if c.wireAlive != h.reported(c) {
			h.hostChanged(c, true)
		}
	}
	h.finish(h.rev)
}
