package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// Audit compares what the dataplane holds with a full recompute from etcd
// at the revision the agent has applied (the brain rebuilds the host's
// view from an etcd read at that revision, independent of the stream and
// of its cache). It must be called while Run runs.
func (a *Agent) Audit(ctx context.Context) (*wire.AuditReport, error) {
	r := auditReq{reply: make(chan auditAnswer, 1)}
	select {
	case a.auditReq <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case ans := <-r.reply:
		return ans.r, ans.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startAudit takes the dataplane's state at the applied revision inside the
// loop and finishes the audit outside it.
func (a *Agent) startAudit(ctx context.Context, r auditReq) {
	a.flush(ctx)
	rev := a.applied.Load()
	have, err := a.dp.Programmed(ctx)
	fz := freezes{mac: map[FDBKey]frozenMAC{}, ip: map[NeighKey]frozenIP{}}
	for k, v := range a.fz.mac {
		fz.mac[k] = v
	}
	for k, v := range a.fz.ip {
		fz.ip[k] = v
	}
	session := *a.session.Load()
	go func() {
		var rep *wire.AuditReport
		if err == nil {
			rep, err = a.audit(ctx, have, &fz, rev)
		}
		if r.reply != nil {
			r.reply <- auditAnswer{rep, err}
			return
		}
		res := wire.AuditResult{Session: session, ID: r.id, Report: rep}
		if err != nil {
			res.Error = err.Error()
		}
		_ = a.call(ctx, http.MethodPost, wire.PathAudit, res, nil)
	}()
}

func (a *Agent) audit(ctx context.Context, have *State, fz *freezes, rev int64) (*wire.AuditReport, error) {
	var wv wire.View
	q := "?host=" + url.QueryEscape(a.cfg.Host) + "&rev=" + strconv.FormatInt(rev, 10)
	if err := a.call(ctx, http.MethodGet, wire.PathView+q, nil, &wv); err != nil {
		return nil, fmt.Errorf("recompute from etcd at revision %d: %w", rev, err)
	}
	v := newView(a.cfg.Host, a.local)
	for i := range wv.Hosts {
		v.setHost(&wv.Hosts[i])
	}
	for i := range wv.Nets {
		v.setNet(&wv.Nets[i])
	}
	for i := range wv.Ports {
		p := &wv.Ports[i]
		n := v.nets[p.Net]
		if n == nil {
			continue
		}
		if mac, vp, ok := v.portFrom(p); ok && !v.idConflict(n, mac, vp) {
			v.putPort(n, mac, vp)
		}
	}
	rep := Compare(have, v.desired(fz))
	rep.Host, rep.Rev = a.cfg.Host, wv.Rev
	for k, f := range fz.mac {
		rep.Frozen = append(rep.Frozen, fmt.Sprintf("mac %s %s frozen at %s", k.Network, k.MAC, f.host))
	}
	for k, f := range fz.ip {
		rep.Frozen = append(rep.Frozen, fmt.Sprintf("ip %s %s frozen at %s", k.Network, k.IP, f.mac))
	}
	sort.Strings(rep.Frozen)
	return rep, nil
}

// Compare lists the differences between a programmed and a wanted state.
func Compare(have, want *State) *wire.AuditReport {
	r := &wire.AuditReport{Entries: want.Entries()}
	for k, w := range want.Networks {
		if h, ok := have.Networks[k]; !ok {
			r.Missing = append(r.Missing, fmt.Sprintf("network %s %s", k, w))
		} else if !h.equal(&w) {
			r.Wrong = append(r.Wrong, fmt.Sprintf("network %s: have %s, want %s", k, h, w))
		}
	}
	for k, h := range have.Networks {
		if _, ok := want.Networks[k]; !ok {
			r.Extra = append(r.Extra, fmt.Sprintf("network %s %s", k, h))
		}
	}
	for k, w := range want.VIFs {
		if h, ok := have.VIFs[k]; !ok {
			r.Missing = append(r.Missing, "vif "+w.String())
		} else if !h.equal(&w) {
			r.Wrong = append(r.Wrong, fmt.Sprintf("vif %s: have %s, want %s", k, h, w))
		}
	}
	for k, h := range have.VIFs {
		if _, ok := want.VIFs[k]; !ok {
			r.Extra = append(r.Extra, "vif "+h.String())
		}
	}
	for k, w := range want.FDB {
		if h, ok := have.FDB[k]; !ok {
			r.Missing = append(r.Missing, fmt.Sprintf("fdb %s %s → %s", k.Network, k.MAC, w))
		} else if h != w {
			r.Wrong = append(r.Wrong, fmt.Sprintf("fdb %s %s: have → %s, want → %s", k.Network, k.MAC, h, w))
		}
	}
	for k, h := range have.FDB {
		if _, ok := want.FDB[k]; !ok {
			r.Extra = append(r.Extra, fmt.Sprintf("fdb %s %s → %s", k.Network, k.MAC, h))
		}
	}
	for k, w := range want.Neigh {
		if h, ok := have.Neigh[k]; !ok {
			r.Missing = append(r.Missing, fmt.Sprintf("neigh %s %s → %s", k.Network, k.IP, w))
		} else if h != w {
			r.Wrong = append(r.Wrong, fmt.Sprintf("neigh %s %s: have → %s, want → %s", k.Network, k.IP, h, w))
		}
	}
	for k, h := range have.Neigh {
		if _, ok := want.Neigh[k]; !ok {
			r.Extra = append(r.Extra, fmt.Sprintf("neigh %s %s → %s", k.Network, k.IP, h))
		}
	}
	sort.Strings(r.Missing)
	sort.Strings(r.Extra)
	sort.Strings(r.Wrong)
	return r
}
