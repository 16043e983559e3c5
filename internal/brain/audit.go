package brain

import (
	"context"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// RecomputeView builds a host's view from etcd at revision rev from
// scratch, independent of the cache and of the stream: what an audit
// compares the host's dataplane with.
func (b *Brain) RecomputeView(ctx context.Context, host string, rev int64) (*wire.View, error) {
	if err := model.CheckName("host", host); err != nil {
		return nil, err
	}
	b.auditMu.Lock()
	defer b.auditMu.Unlock()
	if rev == 0 || rev != b.auditRev {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := b.cli.Get(ctx, b.opts.Prefix+"/", opts...)
		if err != nil {
			return nil, unavailable(err)
		}
		b.auditKVs, b.auditRev = toKVs(resp), resp.Header.Revision
		if rev > 0 {
			b.auditRev = rev
		}
	}
	fresh := newHub(b.keys, b.opts.QueueMax)
	b.hub.mu.Lock()
	fresh.graceEnd = b.hub.graceEnd
	b.hub.mu.Unlock()
	fresh.reset(b.auditKVs, b.auditRev)
	fresh.mu.Lock()
	defer fresh.mu.Unlock()
	return fresh.view(host), nil
}

// view is a host's whole view as plain records. Called with mu held.
func (h *hub) view(host string) *wire.View {
	v := &wire.View{Rev: h.rev, Nets: []wire.Net{}, Hosts: []wire.Host{}, Ports: []wire.Port{}}
	c := h.hosts[host]
	if c == nil {
		return v
	}
	seen := map[string]bool{}
	for name := range c.nets {
		n := h.nets[name]
		if n == nil || !n.present {
			continue
		}
		v.Nets = append(v.Nets, wire.Net{Name: n.n.Name, Encap: n.n.Encap, VNI: n.n.VNI, MTU: n.n.MTU})
		for _, cp := range n.ports {
			p := cp.p
			w := wire.Port{Net: p.Network, MAC: p.MAC, IPs: p.IPs, Host: p.Host, To: p.MigratingTo, Ver: p.Version}
			if occupies(&p, host) {
				w.ID, w.NetNS, w.IfName = p.ID, p.NetNS, p.IfName
			}
			v.Ports = append(v.Ports, w)
			for _, x := range p.Hosts() {
				if !seen[x] {
					seen[x] = true
					hc := h.host(x)
					v.Hosts = append(v.Hosts, wire.Host{Name: x, VTEPs: hc.h.VTEPs, Encaps: hc.h.Encaps, Alive: h.reported(hc)})
				}
			}
		}
	}
	sort.Slice(v.Nets, func(i, j int) bool { return v.Nets[i].Name < v.Nets[j].Name })
	return v
}

// Audit asks the agents of hosts (all connected ones if empty) to compare
// their programmed dataplane with a recompute from etcd, and collects the
// reports.
func (b *Brain) Audit(ctx context.Context, hosts []string, timeout time.Duration) wire.AuditAll {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	out := wire.AuditAll{Reports: []wire.AuditReport{}, Errors: map[string]string{}}
	h := b.hub
	type pending struct {
		host string
		ch   chan wire.AuditResult
	}
	var ps []pending
	h.mu.Lock()
	if len(hosts) == 0 {
		for x, s := range h.sessions {
			if s.streaming {
				hosts = append(hosts, x)
			}
		}
	}
	sort.Strings(hosts)
	for _, x := range hosts {
		s := h.sessions[x]
		if s == nil || !s.streaming {
			out.Errors[x] = "no agent connected"
			continue
		}
		id := newID()
		ch := make(chan wire.AuditResult, 1)
		s.audits[id] = ch
		s.mu.Lock()
		s.buf = appendLine(s.buf, staged{t: wire.TAudit, id: id}, h.rev, false)
		s.mu.Unlock()
		s.kick()
		ps = append(ps, pending{x, ch})
	}
	h.mu.Unlock()
	deadline := time.After(timeout)
	for _, p := range ps {
		select {
		case r := <-p.ch:
			if r.Error != "" {
				out.Errors[p.host] = r.Error
			} else if r.Report != nil {
				out.Reports = append(out.Reports, *r.Report)
			}
		case <-deadline:
			out.Errors[p.host] = fmt.Sprintf("no answer within %s", timeout)
		case <-ctx.Done():
			out.Errors[p.host] = ctx.Err().Error()
		}
	}
	if len(out.Errors) == 0 {
		out.Errors = nil
	}
	return out
}

// auditResult delivers an agent's audit answer.
func (b *Brain) auditResult(r wire.AuditResult) error {
	h := b.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.byID[r.Session]
	if s == nil {
		return model.NotFound("session", "unknown session %q", r.Session)
	}
	ch := s.audits[r.ID]
	if ch == nil {
		return model.NotFound("id", "no audit %q pending", r.ID)
	}
	delete(s.audits, r.ID)
	ch <- r
	return nil
}
