package agent_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
	"github.com/switchyard-net/switchyard/internal/agent/memdp"
	"github.com/switchyard-net/switchyard/internal/brain"
	"github.com/switchyard-net/switchyard/internal/brain/braintest"
	"github.com/switchyard-net/switchyard/internal/brain/model"
)

// deletes lists the delete ops a dataplane recorded.
func deletes(dp *memdp.Dataplane) []string {
	var out []string
	for _, r := range dp.Log() {
		switch r.Op.Kind {
		case agent.OpFDBDel, agent.OpNeighDel, agent.OpVIFDel, agent.OpNetworkDel:
			out = append(out, r.Op.String())
		case agent.OpNetworkPut:
			// A flood list that shrinks is a delete too.
		}
	}
	return out
}

func floodOf(a *braintest.Agent, network string) []string {
	var out []string
	for _, f := range a.DP.State().Networks[network].Flood {
		out = append(out, f.String())
	}
	return out
}

func applied(e *braintest.Env, as ...*braintest.Agent) error {
	head := e.Brain.Revision()
	for _, a := range as {
		if a.Applied() < head {
			return fmt.Errorf("an agent applied %d < head %d", a.Applied(), head)
		}
	}
	return nil
}

// A host that dies (its agent stops, the lease expires) has its entries
// removed everywhere within TTL + 1 s, and not while it lives.
func TestHostDeathRemovesEntriesWithinTTL(t *testing.T) {
	const ttl = 3
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(ttl)})
	mustNet(t, e, "blue", 5001)
	h1 := e.StartAgent("h1", "198.18.0.1", nil)
	h2 := e.StartAgent("h2", "198.18.0.2", nil)
	h3 := e.StartAgent("h3", "198.18.0.3", nil)
	waitHosts(t, e, 3)
	plug(t, e, "p1", "blue", "h1", "02:00:00:00:00:01", "203.0.113.1")
	plug(t, e, "p2", "blue", "h2", "02:00:00:00:00:02", "203.0.113.2")
	plug(t, e, "p3", "blue", "h3", "02:00:00:00:00:03", "203.0.113.3")
	k2 := agent.FDBKey{Network: "blue", MAC: mac("02:00:00:00:00:02")}
	braintest.Eventually(t, 5*time.Second, "h1 and h3 know p2", func() error {
		if _, ok := h1.DP.State().FDB[k2]; !ok {
			return fmt.Errorf("h1 lacks p2")
		}
		if _, ok := h3.DP.State().FDB[k2]; !ok {
			return fmt.Errorf("h3 lacks p2")
		}
		return nil
	})
	// Alive for 2 TTLs: nothing is removed.
	time.Sleep(2 * ttl * time.Second)
	if d := append(deletes(h1.DP), deletes(h3.DP)...); len(d) > 0 {
		t.Fatalf("entries removed while every host lives: %v", d)
	}
	killed := time.Now()
	h2.Kill()
	var gone [2]time.Duration
	braintest.Eventually(t, (ttl+3)*time.Second, "p2 removed everywhere", func() error {
		for i, a := range []*braintest.Agent{h1, h3} {
			st := a.DP.State()
			_, fdb := st.FDB[k2]
			_, neigh := st.Neigh[agent.NeighKey{Network: "blue", IP: ip("203.0.113.2")}]
			flood := false
			for _, f := range st.Networks["blue"].Flood {
				flood = flood || f == ip("198.18.0.2")
			}
			if fdb || neigh || flood {
				return fmt.Errorf("agent %d still has fdb %v neigh %v flood %v", i, fdb, neigh, flood)
			}
			if gone[i] == 0 {
				gone[i] = time.Since(killed)
			}
		}
		return nil
	})
	for i, g := range gone {
		t.Logf("agent %d removed the dead host's entries %.2fs after it died (TTL %ds)", i, g.Seconds(), ttl)
		if g > (ttl+1)*time.Second {
			t.Errorf("removal took %s > TTL + 1 s", g)
		}
		// The lease was renewed at most a heartbeat (TTL/3) plus the
		// one-second renewal limit before the kill.
		if g < ttl*time.Second-time.Duration(ttl)*time.Second/3-time.Second {
			t.Errorf("removal after %s: before the lease could have expired", g)
		}
	}
	// Other entries were untouched: only the dead host's went.
	for _, d := range deletes(h1.DP) {
		if !containsAny(d, "02:00:00:00:00:02", "203.0.113.2", "blue vxlan") {
			t.Errorf("h1 removed an entry that is still wanted: %s", d)
		}
	}
	// It comes back: entries return.
	e.StartAgent("h2", "198.18.0.2", h2.DP)
	braintest.Eventually(t, 5*time.Second, "p2 back", func() error {
		if _, ok := h1.DP.State().FDB[k2]; !ok {
			return fmt.Errorf("h1 lacks p2")
		}
		return nil
	})
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if len(x) > 0 && contains(s, x) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func brainOpts(ttl int64) (o brain.Options) {
	o.TTL = ttl
	o.IdleProgress = time.Second
	return o
}

func waitHosts(t *testing.T, e *braintest.Env, n int) {
	t.Helper()
	braintest.Eventually(t, 10*time.Second, "hosts registered", func() error {
		c := 0
		for _, h := range e.Brain.Hosts() {
			if h.Connected && h.Alive {
				c++
			}
		}
		if c != n {
			return fmt.Errorf("%d of %d hosts connected", c, n)
		}
		return nil
	})
}

// The brain (the agents' store) unreachable for longer than the lease TTL:
// agents keep every entry; when it returns they resync without removing
// anything still wanted, hosts do not flap, and new changes flow again.
func TestStoreUnreachableFailStatic(t *testing.T) {
	const ttl = 3
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(ttl)})
	mustNet(t, e, "blue", 5001)
	mustNet(t, e, "red", 5002)
	var as []*braintest.Agent
	for i := 1; i <= 4; i++ {
		as = append(as, e.StartAgent(fmt.Sprintf("h%d", i), fmt.Sprintf("198.18.0.%d", i), nil))
	}
	waitHosts(t, e, 4)
	for i := 1; i <= 8; i++ {
		net := "blue"
		if i%2 == 0 {
			net = "red"
		}
		plug(t, e, fmt.Sprintf("p%d", i), net, fmt.Sprintf("h%d", (i-1)%4+1), fmt.Sprintf("02:00:00:00:00:%02x", i), fmt.Sprintf("203.0.113.%d", i))
	}
	braintest.Eventually(t, 5*time.Second, "all applied", func() error { return applied(e, as...) })
	before := make([]*agent.State, len(as))
	for i, a := range as {
		before[i] = a.DP.State()
		a.DP.ResetLog()
	}
	e.StopBrain()
	// Longer than the TTL: the hosts' leases expire in etcd meanwhile.
	time.Sleep((ttl + 2) * time.Second)
	for i, a := range as {
		if r := agent.Compare(a.DP.State(), before[i]); !r.Clean() {
			t.Fatalf("agent %d changed its dataplane while the brain was away: %+v", i, r)
		}
	}
	e.StartBrain()
	waitHosts(t, e, 4)
	braintest.Eventually(t, 5*time.Second, "all resynced", func() error { return applied(e, as...) })
	plug(t, e, "p9", "blue", "h2", "02:00:00:00:00:09", "203.0.113.9")
	braintest.Eventually(t, 5*time.Second, "new port everywhere in blue", func() error {
		for _, a := range []*braintest.Agent{as[0], as[2]} {
			if _, ok := a.DP.State().FDB[agent.FDBKey{Network: "blue", MAC: mac("02:00:00:00:00:09")}]; !ok {
				return fmt.Errorf("missing")
			}
		}
		return nil
	})
	for i, a := range as {
		if d := deletes(a.DP); len(d) > 0 {
			t.Errorf("agent %d removed entries across the outage: %v", i, d)
		}
	}
	auditClean(t, e)
}

func auditClean(t *testing.T, e *braintest.Env) {
	t.Helper()
	all := e.Brain.Audit(bg, nil, 20*time.Second)
	if len(all.Errors) > 0 {
		t.Fatalf("audit errors: %v", all.Errors)
	}
	for _, r := range all.Reports {
		if !r.Clean() {
			t.Fatalf("audit of %s at %d: missing %v extra %v wrong %v", r.Host, r.Rev, r.Missing, r.Extra, r.Wrong)
		}
	}
}

// kill -9 of an agent: the new one resyncs within 2 s, touching nothing
// still desired; changes made while it was down are applied.
func TestAgentRestartResync(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(10)})
	mustNet(t, e, "blue", 5001)
	h1 := e.StartAgent("h1", "198.18.0.1", nil)
	h2 := e.StartAgent("h2", "198.18.0.2", nil)
	waitHosts(t, e, 2)
	for i := 1; i <= 20; i++ {
		plug(t, e, fmt.Sprintf("p%d", i), "blue", fmt.Sprintf("h%d", i%2+1), fmt.Sprintf("02:00:00:00:00:%02x", i), fmt.Sprintf("203.0.113.%d", i))
	}
	braintest.Eventually(t, 5*time.Second, "applied", func() error { return applied(e, h1, h2) })
	dp := h1.DP
	h1.Kill()
	// While it is down: one port goes, one comes.
	if err := e.Brain.Unplug(bg, "p3", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Brain.Plug(bg, model.Port{ID: "p21", Network: "blue", Host: "h2", MAC: "02:00:00:00:00:21", IPs: []string{"203.0.113.21"}}, 0); err != nil {
		t.Fatal(err)
	}
	dp.ResetLog()
	start := time.Now()
	h1 = e.StartAgent("h1", "198.18.0.1", dp)
	braintest.Eventually(t, 2*time.Second, "restarted agent resynced", func() error { return applied(e, h1) })
	took := time.Since(start)
	t.Logf("restarted agent resynced in %s", took.Round(time.Millisecond))
	var ops []string
	for _, r := range dp.Log() {
		ops = append(ops, r.Op.String())
	}
	// Exactly the changes: p3 (remote on h2) removed, p21 added.
	want := map[string]bool{
		"fdb-put blue 02:00:00:00:00:21 → 198.18.0.2":     true,
		"neigh-put blue 203.0.113.21 → 02:00:00:00:00:21": true,
		"fdb-del blue 02:00:00:00:00:03":                  true,
		"neigh-del blue 203.0.113.3":                      true,
	}
	if len(ops) != len(want) {
		t.Fatalf("restart applied %v, want exactly %v", ops, want)
	}
	for _, o := range ops {
		if !want[o] {
			t.Fatalf("restart applied %q, which is not a change (all: %v)", o, ops)
		}
	}
	// Adds before deletes.
	if ops[0][:3] == "fdb-del"[:3] && ops[0] == "fdb-del blue 02:00:00:00:00:03" {
		t.Fatalf("delete before adds: %v", ops)
	}
	auditClean(t, e)
}

// The brain restarts and every agent reconnects at once: they converge,
// with jittered back-off, and remove nothing.
func TestMassReconnect(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(10)})
	const hosts, nets = 60, 6
	for n := 0; n < nets; n++ {
		mustNet(t, e, fmt.Sprintf("n%d", n), uint32(100+n))
	}
	var as []*braintest.Agent
	for i := 0; i < hosts; i++ {
		as = append(as, e.StartAgent(fmt.Sprintf("h%d", i), fmt.Sprintf("198.18.1.%d", i+1), nil))
	}
	waitHosts(t, e, hosts)
	for i := 0; i < 3*hosts; i++ {
		if _, err := e.Brain.Plug(bg, model.Port{ID: fmt.Sprintf("p%d", i), Network: fmt.Sprintf("n%d", i%nets), Host: fmt.Sprintf("h%d", i%hosts),
			MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256), IPs: []string{fmt.Sprintf("198.51.100.%d", i%250+1)}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	braintest.Eventually(t, 10*time.Second, "applied", func() error { return applied(e, as...) })
	for _, a := range as {
		a.DP.ResetLog()
	}
	e.StopBrain()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	e.StartBrain()
	t.Logf("brain started in %s", time.Since(start).Round(time.Millisecond))
	waitHosts(t, e, hosts)
	t.Logf("%d agents registered and streaming %s after the brain started", hosts, time.Since(start).Round(time.Millisecond))
	braintest.Eventually(t, 15*time.Second, "all reconverged", func() error { return applied(e, as...) })
	t.Logf("%d agents reconnected and converged in %s", hosts, time.Since(start).Round(time.Millisecond))
	for i, a := range as {
		if n := len(a.DP.Log()); n != 0 {
			t.Errorf("agent %d changed %d entries on reconnect (nothing changed in etcd)", i, n)
		}
		// Nothing changed: every network was kept (digests matched), none
		// resent.
		if st := a.Stats(); st.KeptNets < uint64(st.Networks) || st.Networks == 0 {
			t.Errorf("agent %d: %d networks, %d kept on reconnect", i, st.Networks, st.KeptNets)
		}
	}
}

// Random operations, then an audit of every host finds nothing; a planted
// difference is found.
func TestAuditAfterRandomOperations(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(10)})
	const hosts = 6
	nets := []string{"a", "b", "c"}
	for i, n := range nets {
		mustNet(t, e, n, uint32(10+i))
	}
	var as []*braintest.Agent
	for i := 0; i < hosts; i++ {
		as = append(as, e.StartAgent(fmt.Sprintf("h%d", i), fmt.Sprintf("198.18.0.%d", i+1), nil))
	}
	waitHosts(t, e, hosts)
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[string]bool{}
	for op := 0; op < 300; op++ {
		id := fmt.Sprintf("p%d", rng.IntN(60))
		switch {
		case !live[id]:
			i := rng.IntN(60)
			_, err := e.Brain.Plug(bg, model.Port{ID: id, Network: nets[rng.IntN(3)], Host: fmt.Sprintf("h%d", rng.IntN(hosts)),
				MAC: fmt.Sprintf("02:00:00:00:01:%02x", i), IPs: []string{fmt.Sprintf("203.0.113.%d", rng.IntN(200)+1)}}, 0)
			if err == nil {
				live[id] = true
			} else if me, ok := err.(*model.Error); !ok || me.Code != model.CodeExists {
				t.Fatal(err)
			}
		case rng.IntN(3) == 0:
			if err := e.Brain.Unplug(bg, id, 0); err != nil {
				t.Fatal(err)
			}
			delete(live, id)
		default:
			st, _ := e.Brain.VIF(id)
			to := fmt.Sprintf("h%d", rng.IntN(hosts))
			if to == st.Host {
				continue
			}
			if _, err := e.Brain.Move(bg, id, to, 10*time.Second); err != nil {
				t.Fatalf("move %s to %s: %v", id, to, err)
			}
		}
	}
	braintest.Eventually(t, 10*time.Second, "applied", func() error { return applied(e, as...) })
	auditClean(t, e)
	// Plant differences behind h0's back: the audit must find each.
	var k agent.FDBKey
	var nk agent.NeighKey
	as[0].DP.Plant(func(s *agent.State) {
		for x := range s.FDB {
			k = x
			break
		}
		delete(s.FDB, k)
		nk = agent.NeighKey{Network: "a", IP: ip("192.0.2.77")}
		s.Networks["a"] = s.Networks["a"]
		s.Neigh[nk] = mac("02:00:00:00:ff:ff")
	})
	r, err := as[0].Audit(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Missing) != 1 || !contains(r.Missing[0], k.MAC.String()) || len(r.Extra) != 1 || !contains(r.Extra[0], "192.0.2.77") {
		t.Fatalf("audit of a planted difference: missing %v extra %v wrong %v", r.Missing, r.Extra, r.Wrong)
	}
}
