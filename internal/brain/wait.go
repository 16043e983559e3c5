package brain

import (
	"context"
	"sort"
)

// waitRev waits until the cache has applied revision rev.
func (h *hub) waitRev(ctx context.Context, rev int64) error {
	for {
		h.mu.Lock()
		if h.rev >= rev {
			h.mu.Unlock()
			return nil
		}
		ch := h.revCh
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitApplied waits until every live host interested in network (and the
// extra hosts, e.g. the one a port just left) reports an applied revision
// of at least rev, as OVN's ovn-installed does. It returns the hosts still
// missing when ctx ends. Dead hosts never block; connected hosts are asked
// to report (once), and a host that connects later reports after its
// snapshot.
func (h *hub) waitApplied(ctx context.Context, network string, extra []string, rev int64) ([]string, error) {
	if err := h.waitRev(ctx, rev); err != nil {
		return nil, err
	}
	asked := map[string]bool{}
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		set := map[string]bool{}
		if n := h.nets[network]; n != nil {
			for x := range n.hosts {
				set[x] = true
			}
		}
		for _, x := range extra {
			set[x] = true
		}
		var waiting []string
		for x := range set {
			c := h.hosts[x]
			if c == nil || !h.reported(c) {
				continue
			}
			s := h.sessions[x]
			if s != nil && s.applied >= rev {
				continue
			}
			waiting = append(waiting, x)
			if s != nil && !asked[s.id] {
				asked[s.id] = true
				h.askAck(s)
			}
		}
		if len(waiting) == 0 {
			return nil, nil
		}
		ch := h.ackCh
		h.mu.Unlock()
		select {
		case <-ch:
			h.mu.Lock()
		case <-ctx.Done():
			h.mu.Lock()
			sort.Strings(waiting)
			return waiting, ctx.Err()
		}
	}
}
