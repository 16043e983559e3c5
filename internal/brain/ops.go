package brain

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// CreateNetwork stores a network. The name and the VNI are unique: one
// transaction creates the record and the VNI index only if neither exists.
func (b *Brain) CreateNetwork(ctx context.Context, n model.Network) (model.Network, error) {
	if err := n.Normalize(); err != nil {
		return n, err
	}
	n.Revision = 0
	val, _ := json.Marshal(n)
	nk, vk := b.keys.Network(n.Name), b.keys.VNI(n.VNI)
	resp, err := b.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(nk), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(vk), "=", 0),
	).Then(clientv3.OpPut(nk, string(val)), clientv3.OpPut(vk, n.Name)).
		Else(clientv3.OpGet(nk), clientv3.OpGet(vk)).Commit()
	if err != nil {
		return n, unavailable(err)
	}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
			return n, model.Exists("name", "network %s exists", n.Name)
		}
		owner := ""
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
			owner = string(kvs[0].Value)
		}
		return n, model.Exists("vni", "VNI %d is used by network %s", n.VNI, owner)
	}
	n.Revision = resp.Header.Revision
	return n, nil
}

// DeleteNetwork removes a network that has no ports (checked in the same
// transaction: no MAC index key under the network).
func (b *Brain) DeleteNetwork(ctx context.Context, name string) error {
	if err := model.CheckName("name", name); err != nil {
		return err
	}
	nk := b.keys.Network(name)
	for try := 0; try < 5; try++ {
		g, err := b.cli.Get(ctx, nk)
		if err != nil {
			return unavailable(err)
		}
		if len(g.Kvs) == 0 {
			return model.NotFound("name", "network %s does not exist", name)
		}
		var n model.Network
		_ = json.Unmarshal(g.Kvs[0].Value, &n)
		resp, err := b.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(nk), "=", g.Kvs[0].ModRevision),
			clientv3.Compare(clientv3.Version(b.keys.MACs(name)).WithPrefix(), "=", 0),
		).Then(clientv3.OpDelete(nk), clientv3.OpDelete(b.keys.VNI(n.VNI))).
			Else(clientv3.OpGet(b.keys.MACs(name), clientv3.WithPrefix(), clientv3.WithCountOnly())).Commit()
		if err != nil {
			return unavailable(err)
		}
		if resp.Succeeded {
			return nil
		}
		if c := resp.Responses[0].GetResponseRange().Count; c > 0 {
			return model.Failed("name", "network %s has %d ports; unplug them first", name, c)
		}
	}
	return &model.Error{Code: model.CodeFailed, Field: "name", Message: "network " + name + " kept changing; try again"}
}

// Networks lists the networks with their occupancy.
func (b *Brain) Networks() []wire.NetworkStatus {
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []wire.NetworkStatus
	for _, n := range h.nets {
		if n.present {
			out = append(out, netStatus(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func netStatus(n *cnet) wire.NetworkStatus {
	st := wire.NetworkStatus{Network: n.n, Ports: len(n.ports), Hosts: []string{}}
	for x := range n.hosts {
		st.Hosts = append(st.Hosts, x)
	}
	sort.Strings(st.Hosts)
	return st
}

// Network returns a network and its VIFs.
func (b *Brain) Network(name string) (*wire.NetworkDetail, error) {
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.nets[name]
	if n == nil || !n.present {
		return nil, model.NotFound("name", "network %s does not exist", name)
	}
	d := &wire.NetworkDetail{NetworkStatus: netStatus(n), VIFs: []wire.VIFStatus{}}
	for _, cp := range n.ports {
		d.VIFs = append(d.VIFs, h.vifStatus(cp))
	}
	sort.Slice(d.VIFs, func(i, j int) bool { return d.VIFs[i].ID < d.VIFs[j].ID })
	return d, nil
}

// vifStatus computes a port's realisation state. Called with mu held.
func (h *hub) vifStatus(cp *cport) wire.VIFStatus {
	st := wire.VIFStatus{Port: cp.p, State: "up"}
	if c := h.hosts[cp.p.Host]; c == nil || !h.reported(c) {
		st.State = "host-down"
		return st
	}
	if s := h.sessions[cp.p.Host]; s != nil && s.errors[cp.p.ID] != "" {
		st.State, st.Error = "error", s.errors[cp.p.ID]
		return st
	}
	if n := h.nets[cp.p.Network]; n != nil {
		for x := range n.hosts {
			c := h.hosts[x]
			if c == nil || !h.reported(c) {
				continue
			}
			if s := h.sessions[x]; s == nil || s.applied < cp.p.Version {
				st.Waiting = append(st.Waiting, x)
			}
		}
	}
	if len(st.Waiting) > 0 {
		sort.Strings(st.Waiting)
		st.State = "pending"
	}
	return st
}

// Plug binds a new VIF. The port ID, its MAC in the network and each of its
// IPs in the network are unique: one transaction creates the record and
// the index keys only if none exists and the network is unchanged. With
// wait > 0 it returns once every interested agent applied it.
func (b *Brain) Plug(ctx context.Context, p model.Port, wait time.Duration) (wire.VIFStatus, error) {
	p.MigratingTo, p.Moves, p.Version = "", 0, 0
	if err := p.Normalize(); err != nil {
		return wire.VIFStatus{Port: p}, err
	}
	nk := b.keys.Network(p.Network)
	var rev int64
	for try := 0; ; try++ {
		// The network as the cache has it (its ModRevision is compared in
		// the transaction, so a stale cache only costs a retry); from etcd
		// when the cache does not know it or the compare failed.
		var n model.Network
		var nrev int64
		b.hub.mu.Lock()
		if cn := b.hub.nets[p.Network]; cn != nil && cn.present && try == 0 {
			n, nrev = cn.n, cn.n.Revision
		}
		b.hub.mu.Unlock()
		if nrev == 0 {
			g, err := b.cli.Get(ctx, nk)
			if err != nil {
				return wire.VIFStatus{Port: p}, unavailable(err)
			}
			if len(g.Kvs) == 0 {
				return wire.VIFStatus{Port: p}, model.NotFound("network", "network %s does not exist", p.Network)
			}
			_ = json.Unmarshal(g.Kvs[0].Value, &n)
			nrev = g.Kvs[0].ModRevision
		}
		if err := b.checkHostEncap("host", p.Host, n.Encap); err != nil {
			return wire.VIFStatus{Port: p}, err
		}
		val, _ := json.Marshal(p)
		pk, mk := b.keys.Port(p.ID), b.keys.MAC(p.Network, p.MAC)
		cmps := []clientv3.Cmp{
			clientv3.Compare(clientv3.ModRevision(nk), "=", nrev),
			clientv3.Compare(clientv3.CreateRevision(pk), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(mk), "=", 0),
		}
		puts := []clientv3.Op{clientv3.OpPut(pk, string(val)), clientv3.OpPut(mk, p.ID)}
		gets := []clientv3.Op{clientv3.OpGet(pk), clientv3.OpGet(mk)}
		for _, ip := range p.IPs {
			ik := b.keys.IP(p.Network, ip)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(ik), "=", 0))
			puts = append(puts, clientv3.OpPut(ik, p.ID))
			gets = append(gets, clientv3.OpGet(ik))
		}
		resp, err := b.cli.Txn(ctx).If(cmps...).Then(puts...).Else(gets...).Commit()
		if err != nil {
			return wire.VIFStatus{Port: p}, unavailable(err)
		}
		if resp.Succeeded {
			rev = resp.Header.Revision
			break
		}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			return wire.VIFStatus{Port: p}, model.Exists("id", "port %s exists", p.ID)
		}
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
			return wire.VIFStatus{Port: p}, model.Exists("mac", "%s is already port %s in network %s", p.MAC, kvs[0].Value, p.Network)
		}
		for i, ip := range p.IPs {
			if kvs := resp.Responses[2+i].GetResponseRange().Kvs; len(kvs) > 0 {
				return wire.VIFStatus{Port: p}, model.Exists("ips", "%s is already port %s in network %s", ip, kvs[0].Value, p.Network)
			}
		}
		if try >= 4 {
			return wire.VIFStatus{Port: p}, model.Failed("network", "network %s kept changing; try again", p.Network)
		}
	}
	p.Version = rev
	return b.settle(ctx, p, nil, rev, wait)
}

// checkHostEncap refuses a host that registered without the encapsulation
// (an unregistered host is accepted: ports may be bound before the agent
// starts).
func (b *Brain) checkHostEncap(field, host, encap string) error {
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.hosts[host]; c != nil && c.hasRecord && !c.h.Supports(encap) {
		return model.Invalid(field, "a host that terminates "+encap, "host %s registered encapsulations %v", host, c.h.Encaps)
	}
	return nil
}

// settle waits (up to wait) for every interested agent to apply rev and
// returns the port's status.
func (b *Brain) settle(ctx context.Context, p model.Port, extra []string, rev int64, wait time.Duration) (wire.VIFStatus, error) {
	st := wire.VIFStatus{Port: p, State: "pending"}
	if wait <= 0 {
		return st, nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	waiting, err := b.hub.waitApplied(wctx, p.Network, extra, rev)
	if err != nil {
		st.Waiting = waiting
		if waiting == nil {
			return st, &model.Error{Code: model.CodeTimeout, Message: fmt.Sprintf("the brain did not see revision %d within %s (etcd watch behind?)", rev, wait)}
		}
		return st, &model.Error{Code: model.CodeTimeout, Field: "wait", Message: fmt.Sprintf("not programmed within %s by hosts %v", wait, waiting)}
	}
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if cp := h.ports[p.ID]; cp != nil && cp.p.Version == p.Version {
		st = h.vifStatus(cp)
		if st.State == "error" {
			return st, model.Failed("host", "host %s could not create the VIF: %s", p.Host, st.Error)
		}
		return st, nil
	}
	st.State = "up"
	return st, nil
}

func (b *Brain) getPort(ctx context.Context, id string) (model.Port, int64, error) {
	if err := model.CheckName("id", id); err != nil {
		return model.Port{}, 0, err
	}
	g, err := b.cli.Get(ctx, b.keys.Port(id))
	if err != nil {
		return model.Port{}, 0, unavailable(err)
	}
	if len(g.Kvs) == 0 {
		return model.Port{}, 0, model.NotFound("id", "port %s does not exist", id)
	}
	var p model.Port
	if err := json.Unmarshal(g.Kvs[0].Value, &p); err != nil {
		return p, 0, fmt.Errorf("port %s: stored record: %w", id, err)
	}
	p.ID, p.Version = id, g.Kvs[0].ModRevision
	return p, g.Kvs[0].ModRevision, nil
}

// Unplug removes a VIF and its index keys in one transaction.
func (b *Brain) Unplug(ctx context.Context, id string, wait time.Duration) error {
	for try := 0; try < 5; try++ {
		p, mod, err := b.getPort(ctx, id)
		if err != nil {
			return err
		}
		ops := []clientv3.Op{clientv3.OpDelete(b.keys.Port(id)), clientv3.OpDelete(b.keys.MAC(p.Network, p.MAC))}
		for _, ip := range p.IPs {
			ops = append(ops, clientv3.OpDelete(b.keys.IP(p.Network, ip)))
		}
		resp, err := b.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(b.keys.Port(id)), "=", mod)).Then(ops...).Commit()
		if err != nil {
			return unavailable(err)
		}
		if resp.Succeeded {
			_, err := b.settle(ctx, p, p.Hosts(), resp.Header.Revision, wait)
			return err
		}
	}
	return model.Failed("id", "port %s kept changing; try again", id)
}

// Move moves a VIF to another host, make-before-break: first the target
// joins (it creates the VIF and every host adds it to the network's flood
// list while still forwarding to the old host), and only once every
// interested agent applied that is the binding switched — one version
// step, so every host repoints the MAC at once and the old host removes
// its VIF after it points the MAC at the new one.
func (b *Brain) Move(ctx context.Context, id, to string, wait time.Duration) (wire.VIFStatus, error) {
	if err := model.CheckName("to_host", to); err != nil {
		return wire.VIFStatus{}, err
	}
	if wait <= 0 {
		wait = 30 * time.Second
	}
	p, mod, err := b.getPort(ctx, id)
	if err != nil {
		return wire.VIFStatus{}, err
	}
	if p.Host == to && p.MigratingTo == "" {
		return wire.VIFStatus{Port: p, State: "up"}, model.Invalid("to_host", "a host other than "+p.Host, "port %s is already on %s", id, to)
	}
	b.hub.mu.Lock()
	var encap string
	if n := b.hub.nets[p.Network]; n != nil {
		encap = n.n.Encap
	}
	b.hub.mu.Unlock()
	if err := b.checkHostEncap("to_host", to, encap); err != nil {
		return wire.VIFStatus{Port: p}, err
	}
	put := func(q model.Port, mod int64) (int64, bool, error) {
		q.Version = 0
		val, _ := json.Marshal(q)
		resp, err := b.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(b.keys.Port(id)), "=", mod)).
			Then(clientv3.OpPut(b.keys.Port(id), string(val))).Commit()
		if err != nil {
			return 0, false, unavailable(err)
		}
		return resp.Header.Revision, resp.Succeeded, nil
	}
	from := p.Host
	if p.MigratingTo != to {
		// Phase 1: the target joins.
		q := p
		q.MigratingTo = to
		rev, ok, err := put(q, mod)
		if err != nil {
			return wire.VIFStatus{Port: p}, err
		}
		if !ok {
			return wire.VIFStatus{Port: p}, model.Failed("id", "port %s changed during the move; try again", id)
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		waiting, werr := b.hub.waitApplied(wctx, p.Network, []string{to}, rev)
		cancel()
		if werr != nil || b.vifError(to, id) != "" {
			// Roll back phase 1 if nobody changed the port since.
			back := p
			back.MigratingTo = ""
			_, _, _ = put(back, rev)
			if e := b.vifError(to, id); e != "" {
				return wire.VIFStatus{Port: p}, model.Failed("to_host", "host %s could not create the VIF: %s", to, e)
			}
			return wire.VIFStatus{Port: p, Waiting: waiting}, model.Failed("to_host", "the move was rolled back: hosts %v did not program the target within %s", waiting, wait)
		}
		p.MigratingTo, mod = to, rev
	}
	// Phase 2: switch the binding.
	q := p
	q.Host, q.MigratingTo, q.Moves = to, "", p.Moves+1
	rev, ok, err := put(q, mod)
	if err != nil {
		return wire.VIFStatus{Port: p}, err
	}
	if !ok {
		return wire.VIFStatus{Port: p}, model.Failed("id", "port %s changed during the move; try again", id)
	}
	q.Version = rev
	return b.settle(ctx, q, []string{from}, rev, wait)
}

func (b *Brain) vifError(host, id string) string {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	if s := b.hub.sessions[host]; s != nil {
		return s.errors[id]
	}
	return ""
}

// VIFs lists ports, optionally of one network and/or host.
func (b *Brain) VIFs(network, host string) []wire.VIFStatus {
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []wire.VIFStatus{}
	for _, cp := range h.ports {
		if (network == "" || cp.p.Network == network) && (host == "" || occupies(&cp.p, host)) {
			out = append(out, h.vifStatus(cp))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// VIF returns one port's status.
func (b *Brain) VIF(id string) (wire.VIFStatus, error) {
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	cp := h.ports[id]
	if cp == nil {
		return wire.VIFStatus{}, model.NotFound("id", "port %s does not exist", id)
	}
	return h.vifStatus(cp), nil
}

// Hosts lists the hosts: registered, alive, connected, applied revision.
func (b *Brain) Hosts() []wire.HostInfo {
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []wire.HostInfo{}
	for name, c := range h.hosts {
		if !c.hasRecord && len(c.nets) == 0 {
			continue
		}
		hi := wire.HostInfo{Host: c.h, Alive: h.reported(c), Lease: c.lease, Networks: len(c.nets), Since: c.since}
		hi.Name = name
		for n := range c.nets {
			if cn := h.nets[n]; cn != nil {
				hi.Ports += cn.hosts[name]
			}
		}
		if s := h.sessions[name]; s != nil {
			hi.Connected = s.streaming
			hi.Applied = s.applied
			hi.Lag = h.rev - s.applied
			hi.Errors = s.errors
			hi.Stats = s.stats
			hi.LeaseTTL = s.ttl
		}
		out = append(out, hi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Status describes the brain.
func (b *Brain) Status(ctx context.Context) wire.Status {
	h := b.hub
	h.mu.Lock()
	st := wire.Status{Revision: h.rev, Endpoints: b.opts.Endpoints, Embedded: b.opts.Embedded, Ports: len(h.ports),
		Relists: h.relists, Delivered: h.delivered, Progress: h.idleMsgs, Joins: h.joinMsgs, Resyncs: h.resyncs, Version: Version}
	for _, n := range h.nets {
		if n.present {
			st.Networks++
		}
	}
	for _, c := range h.hosts {
		if c.hasRecord {
			st.Hosts++
		}
	}
	for _, s := range h.sessions {
		if s.streaming {
			st.Sessions++
		}
	}
	h.mu.Unlock()
	for _, ep := range b.cli.Endpoints() {
		c, cancel := context.WithTimeout(ctx, time.Second)
		r, err := b.cli.Status(c, ep)
		cancel()
		if err == nil {
			st.DBSize = r.DbSize
			break
		}
	}
	return st
}

// Register records a host's registration: its record, and its liveness
// key bound to a lease. A lease of the host that is still alive (an agent
// restarted within the TTL) is kept, so nobody sees the host go away.
func (b *Brain) Register(ctx context.Context, r wire.RegisterRequest) (wire.RegisterReply, error) {
	select {
	case b.admit <- struct{}{}:
		defer func() { <-b.admit }()
	default:
		return wire.RegisterReply{}, &model.Error{Code: model.CodeUnavailable, Message: "the brain is registering many hosts; retry after a back-off"}
	}
	host := model.Host{Name: r.Host, VTEPs: append([]string(nil), r.VTEPs...), Encaps: append([]string(nil), r.Encaps...)}
	if err := host.Normalize(); err != nil {
		return wire.RegisterReply{}, err
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = b.opts.TTL
	}
	if ttl < 2 || ttl > 300 {
		return wire.RegisterReply{}, model.Invalid("ttl", "2-300 seconds", "%d", ttl)
	}
	ak, hk := b.keys.Alive(host.Name), b.keys.Host(host.Name)
	g, err := b.cli.Get(ctx, ak)
	if err != nil {
		return wire.RegisterReply{}, unavailable(err)
	}
	var lease clientv3.LeaseID
	reused := false
	if len(g.Kvs) > 0 && g.Kvs[0].Lease != 0 {
		var a model.Alive
		_ = json.Unmarshal(g.Kvs[0].Value, &a)
		if a.TTL == ttl {
			if _, err := b.cli.KeepAliveOnce(ctx, clientv3.LeaseID(g.Kvs[0].Lease)); err == nil {
				lease, reused = clientv3.LeaseID(g.Kvs[0].Lease), true
			}
		}
	}
	if lease == 0 {
		gr, err := b.cli.Grant(ctx, ttl)
		if err != nil {
			return wire.RegisterReply{}, unavailable(err)
		}
		lease = gr.ID
	}
	id := newID()
	alive, _ := json.Marshal(model.Alive{Session: id, Since: time.Now().UTC().Format(time.RFC3339Nano), TTL: ttl})
	var ops []clientv3.Op
	if !reused {
		ops = append(ops, clientv3.OpPut(ak, string(alive), clientv3.WithLease(lease)))
	}
	b.hub.mu.Lock()
	cur := b.hub.hosts[host.Name]
	changed := cur == nil || !cur.hasRecord || fmt.Sprint(cur.h.VTEPs, cur.h.Encaps) != fmt.Sprint(host.VTEPs, host.Encaps)
	b.hub.mu.Unlock()
	if changed {
		val, _ := json.Marshal(host)
		ops = append(ops, clientv3.OpPut(hk, string(val)))
	}
	// A host that comes back on its live lease with the same record writes
	// nothing: a reconnect storm costs etcd reads and lease renewals only.
	if len(ops) > 0 {
		if _, err := b.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return wire.RegisterReply{}, unavailable(err)
		}
	}
	b.hub.addSession(id, host.Name, int64(lease), ttl)
	return wire.RegisterReply{Session: id, Lease: int64(lease), TTL: ttl, HeartbeatMS: heartbeat(ttl).Milliseconds(), Reused: reused}, nil
}

// Report takes an agent's heartbeat: applied revision, VIF errors,
// counters. It answers at once; the host's lease is renewed in the
// background (one renewal in flight per session, at most one a second), so
// a slow or unreachable etcd never delays heartbeats. A lease that expired
// meanwhile (etcd was away, or the host was declared dead) is replaced and
// the liveness key written again.
func (b *Brain) Report(ctx context.Context, r wire.Report) error {
	s := b.hub.session(r.Session)
	if s == nil {
		return model.NotFound("session", "unknown session %q; register again", r.Session)
	}
	b.hub.report(s, &r)
	b.hub.mu.Lock()
	due := time.Since(s.lastKeep) >= time.Second && !s.renewing
	if due {
		s.lastKeep, s.renewing = time.Now(), true
	}
	b.hub.mu.Unlock()
	if due {
		go b.renew(s)
	}
	return nil
}

func (b *Brain) renew(s *session) {
	defer func() {
		b.hub.mu.Lock()
		s.renewing = false
		b.hub.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(b.ctx, time.Duration(s.ttl)*time.Second)
	defer cancel()
	b.hub.mu.Lock()
	lease := s.lease
	b.hub.mu.Unlock()
	_, err := b.cli.KeepAliveOnce(ctx, clientv3.LeaseID(lease))
	if err == nil || !isLeaseGone(err) {
		return
	}
	gr, err := b.cli.Grant(ctx, s.ttl)
	if err != nil {
		return
	}
	alive, _ := json.Marshal(model.Alive{Session: s.id, Since: time.Now().UTC().Format(time.RFC3339Nano), TTL: s.ttl})
	if _, err := b.cli.Put(ctx, b.keys.Alive(s.host), string(alive), clientv3.WithLease(gr.ID)); err != nil {
		return
	}
	b.hub.mu.Lock()
	s.lease = int64(gr.ID)
	b.hub.mu.Unlock()
	b.log.Info("brain: host lease had expired while its agent kept reporting; renewed", "host", s.host)
}

func isLeaseGone(err error) bool {
	return err == rpctypes.ErrLeaseNotFound || rpctypes.ErrorDesc(err) == rpctypes.ErrLeaseNotFound.Error()
}
