package brain_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
	"github.com/switchyard-net/switchyard/internal/brain"
	"github.com/switchyard-net/switchyard/internal/brain/braintest"
	"github.com/switchyard-net/switchyard/internal/brain/model"
)

var bg = context.Background()

// plugRetry plugs through etcd failures; an ambiguous failure followed by
// "exists" with our record counts as done.
func plugRetry(e *braintest.Env, p model.Port, wait time.Duration) error {
	var err error
	for try := 0; try < 20; try++ {
		_, err = e.Brain.Plug(bg, p, wait)
		var me *model.Error
		if err == nil {
			return nil
		}
		if errors.As(err, &me) && me.Code == model.CodeExists && try > 0 {
			if st, verr := e.Brain.VIF(p.ID); verr == nil && st.MAC == p.MAC && st.Host == p.Host {
				return nil
			}
		}
		if !errors.As(err, &me) || (me.Code != model.CodeUnavailable && me.Code != model.CodeTimeout) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// A three-member etcd cluster loses its leader in the middle of churn:
// every acknowledged bind is kept and programmed, agents keep converging,
// and the audit finds nothing.
func TestThreeMemberClusterMemberKilledDuringChurn(t *testing.T) {
	c := braintest.StartCluster(t)
	e := braintest.Start(t, braintest.Options{Endpoints: c.Endpoints, Brain: brain.Options{TTL: 10, IdleProgress: time.Second}})
	for i, n := range []string{"blue", "red"} {
		if _, err := e.Brain.CreateNetwork(bg, model.Network{Name: n, VNI: uint32(100 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	var as []*braintest.Agent
	for i := 0; i < 4; i++ {
		as = append(as, e.StartAgent(fmt.Sprintf("h%d", i), fmt.Sprintf("198.18.0.%d", i+1), nil))
	}
	waitConnected(t, e, 4)
	// Find the leader.
	leader := -1
	for i, ep := range c.Endpoints {
		st, err := e.Cli.Status(bg, ep)
		if err == nil && st.Leader == st.Header.MemberId {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no leader")
	}
	rng := rand.New(rand.NewPCG(9, 9))
	acked := map[string]model.Port{}
	const n = 120
	for i := 0; i < n; i++ {
		if i == n/3 {
			t.Logf("killing the leader, member %d", leader)
			c.Kill(leader)
		}
		p := model.Port{ID: fmt.Sprintf("p%d", i), Network: []string{"blue", "red"}[rng.IntN(2)], Host: fmt.Sprintf("h%d", rng.IntN(4)),
			MAC: fmt.Sprintf("02:00:00:00:01:%02x", i), IPs: []string{fmt.Sprintf("203.0.113.%d", i+1)}}
		// After the kill, each bind must also reach every agent (--wait).
		wait := time.Duration(0)
		if i > n/3 {
			wait = 10 * time.Second
		}
		if err := plugRetry(e, p, wait); err != nil {
			t.Fatalf("plug %d: %v", i, err)
		}
		if err := p.Normalize(); err != nil {
			t.Fatal(err)
		}
		acked[p.ID] = p
	}
	braintest.Eventually(t, 20*time.Second, "agents converged", func() error {
		head := e.Brain.Revision()
		for _, a := range as {
			if a.Applied() < head {
				return fmt.Errorf("applied %d < %d", a.Applied(), head)
			}
		}
		return nil
	})
	// Nothing lost: every acknowledged port is in etcd and on every host of
	// its network.
	for id, p := range acked {
		st, err := e.Brain.VIF(id)
		if err != nil || st.MAC != p.MAC {
			t.Fatalf("acknowledged port %s lost: %v", id, err)
		}
		m, _ := agent.ParseMAC(p.MAC)
		for i, a := range as {
			s := a.DP.State()
			host := fmt.Sprintf("h%d", i)
			if _, in := s.Networks[p.Network]; !in {
				continue
			}
			_, fdb := s.FDB[agent.FDBKey{Network: p.Network, MAC: m}]
			_, vif := s.VIFs[id]
			if (p.Host == host && !vif) || (p.Host != host && !fdb) {
				t.Fatalf("port %s (on %s) not programmed on %s", id, p.Host, host)
			}
		}
	}
	all := e.Brain.Audit(bg, nil, 20*time.Second)
	if len(all.Errors) > 0 || len(all.Reports) != 4 {
		t.Fatalf("audit: %v", all.Errors)
	}
	for _, r := range all.Reports {
		if !r.Clean() {
			t.Fatalf("audit %s: %+v", r.Host, r)
		}
	}
}

func waitConnected(t *testing.T, e *braintest.Env, n int) {
	t.Helper()
	braintest.Eventually(t, 10*time.Second, "agents connected", func() error {
		c := 0
		for _, h := range e.Brain.Hosts() {
			if h.Connected && h.Alive {
				c++
			}
		}
		if c != n {
			return fmt.Errorf("%d of %d", c, n)
		}
		return nil
	})
}
