package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
	"github.com/switchyard-net/switchyard/internal/agent/memdp"
	"github.com/switchyard-net/switchyard/internal/brain/braintest"
	"github.com/switchyard-net/switchyard/internal/brain/model"
)

func indexOf(log []memdp.Record, match func(agent.Op) bool) int {
	for i, r := range log {
		if match(r.Op) {
			return i
		}
	}
	return -1
}

// A make-before-break move: the target creates the VIF and joins the flood
// lists first; then every host repoints the MAC; the source removes its VIF
// only after pointing the MAC at the target.
func TestMoveMakeBeforeBreak(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(10)})
	mustNet(t, e, "blue", 5001)
	h1 := e.StartAgent("h1", "198.18.0.1", nil)
	h2 := e.StartAgent("h2", "198.18.0.2", nil)
	h3 := e.StartAgent("h3", "198.18.0.3", nil)
	waitHosts(t, e, 3)
	plug(t, e, "vm", "blue", "h1", "02:00:00:00:00:01", "203.0.113.1")
	plug(t, e, "stay", "blue", "h1", "02:00:00:00:00:02", "203.0.113.2")
	plug(t, e, "obs", "blue", "h3", "02:00:00:00:00:03", "203.0.113.3")
	for _, a := range []*braintest.Agent{h1, h2, h3} {
		a.DP.ResetLog()
	}
	st, err := e.Brain.Move(bg, "vm", "h2", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.Host != "h2" || st.Moves != 1 || st.State != "up" {
		t.Fatalf("after the move: %+v", st)
	}
	m := mac("02:00:00:00:00:01")
	// h2: VIF first, then (when the binding switches) its remote entry goes.
	l2 := h2.DP.Log()
	vifPut := indexOf(l2, func(o agent.Op) bool { return o.Kind == agent.OpVIFPut && o.VIF.ID == "vm" })
	fdbTo1 := indexOf(l2, func(o agent.Op) bool { return o.Kind == agent.OpFDBPut && o.MAC == m && o.VTEP == ip("198.18.0.1") })
	fdbDel := indexOf(l2, func(o agent.Op) bool { return o.Kind == agent.OpFDBDel && o.MAC == m })
	if vifPut < 0 || fdbTo1 < 0 || fdbDel < 0 || !(fdbTo1 < fdbDel) || !(vifPut < fdbDel) {
		t.Fatalf("target's order: vif-put %d, fdb → source %d, fdb-del %d", vifPut, fdbTo1, fdbDel)
	}
	if !(l2[vifPut].At.Before(l2[fdbDel].At) || l2[vifPut].At.Equal(l2[fdbDel].At)) {
		t.Fatalf("target removed its remote entry before creating the VIF")
	}
	// h1: MAC pointed at h2 before the VIF is removed.
	l1 := h1.DP.Log()
	fdbTo2 := indexOf(l1, func(o agent.Op) bool { return o.Kind == agent.OpFDBPut && o.MAC == m && o.VTEP == ip("198.18.0.2") })
	vifDel := indexOf(l1, func(o agent.Op) bool { return o.Kind == agent.OpVIFDel && o.VIF.ID == "vm" })
	if fdbTo2 < 0 || vifDel < 0 || fdbTo2 > vifDel {
		t.Fatalf("source's order: fdb → target %d, vif-del %d (log %v)", fdbTo2, vifDel, l1)
	}
	// h3: h2 in the flood list before the MAC points at it; never without
	// an entry for the MAC in between.
	l3 := h3.DP.Log()
	flood := indexOf(l3, func(o agent.Op) bool {
		if o.Kind != agent.OpNetworkPut {
			return false
		}
		for _, f := range o.Wiring.Flood {
			if f == ip("198.18.0.2") {
				return true
			}
		}
		return false
	})
	repoint := indexOf(l3, func(o agent.Op) bool { return o.Kind == agent.OpFDBPut && o.MAC == m && o.VTEP == ip("198.18.0.2") })
	if flood < 0 || repoint < 0 || flood > repoint {
		t.Fatalf("observer's order: flood += h2 at %d, repoint at %d", flood, repoint)
	}
	if i := indexOf(l3, func(o agent.Op) bool { return o.Kind == agent.OpFDBDel && o.MAC == m }); i >= 0 {
		t.Fatalf("observer deleted the moving MAC's entry (a forwarding gap): %v", l3[i].Op)
	}
	if _, ok := h1.DP.State().VIFs["vm"]; ok {
		t.Fatal("source still has the VIF")
	}
	auditClean(t, e)
	// Moving the last port of a host away: the host leaves the network,
	// VIF first, the network's wiring last.
	h1.DP.ResetLog()
	if _, err := e.Brain.Move(bg, "stay", "h3", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	l1 = h1.DP.Log()
	if len(l1) == 0 || l1[len(l1)-1].Op.Kind != agent.OpNetworkDel {
		t.Fatalf("leaving host: %v", l1)
	}
	if st := h1.DP.State(); st.Entries() != 0 {
		t.Fatalf("h1 keeps %d entries of a network it left", st.Entries())
	}
	auditClean(t, e)
}

// Flapping: a MAC moved back and forth is flagged on the 5th move in the
// window, frozen where it points, and further moves do not move it.
func TestDuplicateMACDetection(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(10)})
	mustNet(t, e, "blue", 5001)
	h1 := e.StartAgent("h1", "198.18.0.1", nil)
	e.StartAgent("h2", "198.18.0.2", nil)
	e.StartAgent("h3", "198.18.0.3", nil)
	waitHosts(t, e, 3)
	plug(t, e, "obs", "blue", "h1", "02:00:00:00:00:0a", "203.0.113.10")
	plug(t, e, "dup", "blue", "h2", "02:00:00:00:00:01", "203.0.113.1")
	k := agent.FDBKey{Network: "blue", MAC: mac("02:00:00:00:00:01")}
	hosts := []string{"h3", "h2"}
	vteps := map[string]string{"h2": "198.18.0.2", "h3": "198.18.0.3"}
	var frozenAt string
	for i := 1; i <= 8; i++ {
		to := hosts[(i-1)%2]
		if _, err := e.Brain.Move(bg, "dup", to, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		got := h1.DP.State().FDB[k].String()
		switch {
		case i < 5:
			if got != vteps[to] {
				t.Fatalf("move %d: h1 points at %s, want %s (not yet a duplicate)", i, got, vteps[to])
			}
			select {
			case ev := <-h1.Events:
				t.Fatalf("flagged after %d moves: %+v", i, ev)
			default:
			}
		case i == 5:
			var ev agent.Event
			select {
			case ev = <-h1.Events:
			case <-time.After(2 * time.Second):
				t.Fatal("no duplicate event after the 5th move")
			}
			if ev.Kind != "duplicate-mac" || ev.MAC != "02:00:00:00:00:01" || ev.Moves != 5 {
				t.Fatalf("event %+v", ev)
			}
			frozenAt = got
			if got != vteps[to] {
				t.Fatalf("frozen at %s, want the 5th move's %s", got, vteps[to])
			}
		default:
			if got != frozenAt {
				t.Fatalf("move %d: the frozen MAC moved to %s (was %s): forwarding flaps", i, got, frozenAt)
			}
		}
	}
	if s := h1.Stats(); s.DuplicateMACs != 1 || s.Frozen != 1 {
		t.Fatalf("counters: %+v", s)
	}
	// The audit reports the freeze, not a difference.
	r, err := h1.Audit(bg)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Clean() || len(r.Frozen) != 1 {
		t.Fatalf("audit with a freeze: %+v", r)
	}
}

// After a quiet window a freeze lifts and the MAC follows its binding.
func TestDuplicateFreezeLifts(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(10)})
	mustNet(t, e, "blue", 5001)
	h1 := e.StartAgent("h1", "198.18.0.1", nil, func(c *agent.Config) {
		c.DAD = agent.DADConfig{Moves: 3, Window: 2 * time.Second}
	})
	e.StartAgent("h2", "198.18.0.2", nil)
	e.StartAgent("h3", "198.18.0.3", nil)
	waitHosts(t, e, 3)
	plug(t, e, "obs", "blue", "h1", "02:00:00:00:00:0a")
	plug(t, e, "dup", "blue", "h2", "02:00:00:00:00:01")
	for _, to := range []string{"h3", "h2", "h3", "h2"} { // frozen at the 3rd (h3); the 4th is ignored
		if _, err := e.Brain.Move(bg, "dup", to, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	k := agent.FDBKey{Network: "blue", MAC: mac("02:00:00:00:00:01")}
	if got := h1.DP.State().FDB[k]; got != ip("198.18.0.3") {
		t.Fatalf("frozen entry points at %s", got)
	}
	braintest.Eventually(t, 5*time.Second, "freeze lifted, entry follows the binding", func() error {
		if got := h1.DP.State().FDB[k]; got != ip("198.18.0.2") {
			return fmt.Errorf("points at %s", got)
		}
		return nil
	})
}

// The brain refuses a move to a host that cannot terminate the network's
// encapsulation and names the field.
func TestMoveValidation(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brainOpts(10)})
	if _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "g", VNI: 9, Encap: "geneve"}); err != nil {
		t.Fatal(err)
	}
	e.StartAgent("h1", "198.18.0.1", nil)
	e.StartAgent("vx", "198.18.0.2", nil, func(c *agent.Config) { c.Encaps = []string{"vxlan"} })
	waitHosts(t, e, 2)
	plug(t, e, "p", "g", "h1", "02:00:00:00:00:01")
	_, err := e.Brain.Move(bg, "p", "vx", time.Second)
	if me, ok := err.(*model.Error); !ok || me.Field != "to_host" || me.Code != model.CodeInvalid {
		t.Fatalf("move to a vxlan-only host: %v", err)
	}
	_, err = e.Brain.Plug(bg, model.Port{Network: "g", Host: "vx", MAC: "02:00:00:00:00:02"}, 0)
	if me, ok := err.(*model.Error); !ok || me.Field != "host" {
		t.Fatalf("plug on a vxlan-only host: %v", err)
	}
}
