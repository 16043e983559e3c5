package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
	"github.com/switchyard-net/switchyard/internal/brain/braintest"
	"github.com/switchyard-net/switchyard/internal/brain/model"
)

var bg = context.Background()

func mac(s string) agent.MAC {
	m, err := agent.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustNet(t *testing.T, e *braintest.Env, name string, vni uint32) {
	t.Helper()
	if _, err := e.Brain.CreateNetwork(bg, model.Network{Name: name, VNI: vni}); err != nil {
		t.Fatal(err)
	}
}

func plug(t *testing.T, e *braintest.Env, id, network, host, m string, ips ...string) {
	t.Helper()
	st, err := e.Brain.Plug(bg, model.Port{ID: id, Network: network, Host: host, MAC: m, IPs: ips, NetNS: "vm-" + id}, 10*time.Second)
	if err != nil {
		t.Fatalf("plug %s: %v", id, err)
	}
	if st.State != "up" {
		t.Fatalf("plug %s: state %s waiting %v", id, st.State, st.Waiting)
	}
}

// expect checks an agent's dataplane against an expected state.
func expect(t *testing.T, name string, a *braintest.Agent, want *agent.State) {
	t.Helper()
	braintest.Eventually(t, 5*time.Second, name, func() error {
		r := agent.Compare(a.DP.State(), want)
		if !r.Clean() {
			return fmt.Errorf("missing %v extra %v wrong %v", r.Missing, r.Extra, r.Wrong)
		}
		return nil
	})
}

func wiring(net string, vni uint32, local string, flood ...string) agent.Wiring {
	w := agent.Wiring{Network: net, Encap: "vxlan", VNI: vni, MTU: model.DefaultMTU, Local: ip(local)}
	for _, f := range flood {
		w.Flood = append(w.Flood, ip(f))
	}
	return w
}

func vif(id, net, m string, ips ...string) agent.VIF {
	v := agent.VIF{ID: id, Network: net, MAC: mac(m), NetNS: "vm-" + id, IfName: model.DefaultIfName(id), MTU: model.DefaultMTU}
	for _, s := range ips {
		v.IPs = append(v.IPs, ip(s))
	}
	return v
}

func TestL2PopulationAndIsolation(t *testing.T) {
	e := braintest.Start(t, braintest.Options{})
	mustNet(t, e, "blue", 5001)
	mustNet(t, e, "red", 5002)
	h1 := e.StartAgent("h1", "198.18.0.1", nil)
	h2 := e.StartAgent("h2", "198.18.0.2", nil)
	h3 := e.StartAgent("h3", "198.18.0.3", nil)
	braintest.Eventually(t, 5*time.Second, "hosts registered", func() error {
		if n := len(e.Brain.Hosts()); n != 3 {
			return fmt.Errorf("%d hosts", n)
		}
		return nil
	})
	plug(t, e, "p1", "blue", "h1", "02:00:00:00:00:01", "203.0.113.1", "2001:db8::1")
	plug(t, e, "p2", "blue", "h2", "02:00:00:00:00:02", "203.0.113.2")
	plug(t, e, "p3", "red", "h3", "02:00:00:00:00:03", "203.0.113.1") // overlapping address, other tenant
	plug(t, e, "p4", "red", "h1", "02:00:00:00:00:04", "203.0.113.4")

	s1 := agent.NewState()
	s1.Networks["blue"] = wiring("blue", 5001, "198.18.0.1", "198.18.0.2")
	s1.Networks["red"] = wiring("red", 5002, "198.18.0.1", "198.18.0.3")
	s1.VIFs["p1"] = vif("p1", "blue", "02:00:00:00:00:01", "203.0.113.1", "2001:db8::1")
	s1.VIFs["p4"] = vif("p4", "red", "02:00:00:00:00:04", "203.0.113.4")
	s1.FDB[agent.FDBKey{Network: "blue", MAC: mac("02:00:00:00:00:02")}] = ip("198.18.0.2")
	s1.FDB[agent.FDBKey{Network: "red", MAC: mac("02:00:00:00:00:03")}] = ip("198.18.0.3")
	s1.Neigh[agent.NeighKey{Network: "blue", IP: ip("203.0.113.1")}] = mac("02:00:00:00:00:01")
	s1.Neigh[agent.NeighKey{Network: "blue", IP: ip("2001:db8::1")}] = mac("02:00:00:00:00:01")
	s1.Neigh[agent.NeighKey{Network: "blue", IP: ip("203.0.113.2")}] = mac("02:00:00:00:00:02")
	s1.Neigh[agent.NeighKey{Network: "red", IP: ip("203.0.113.1")}] = mac("02:00:00:00:00:03")
	s1.Neigh[agent.NeighKey{Network: "red", IP: ip("203.0.113.4")}] = mac("02:00:00:00:00:04")
	expect(t, "h1", h1, s1)

	s2 := agent.NewState()
	s2.Networks["blue"] = wiring("blue", 5001, "198.18.0.2", "198.18.0.1")
	s2.VIFs["p2"] = vif("p2", "blue", "02:00:00:00:00:02", "203.0.113.2")
	s2.FDB[agent.FDBKey{Network: "blue", MAC: mac("02:00:00:00:00:01")}] = ip("198.18.0.1")
	s2.Neigh[agent.NeighKey{Network: "blue", IP: ip("203.0.113.1")}] = mac("02:00:00:00:00:01")
	s2.Neigh[agent.NeighKey{Network: "blue", IP: ip("2001:db8::1")}] = mac("02:00:00:00:00:01")
	s2.Neigh[agent.NeighKey{Network: "blue", IP: ip("203.0.113.2")}] = mac("02:00:00:00:00:02")
	expect(t, "h2 (no red: it has no port there)", h2, s2)

	s3 := agent.NewState()
	s3.Networks["red"] = wiring("red", 5002, "198.18.0.3", "198.18.0.1")
	s3.VIFs["p3"] = vif("p3", "red", "02:00:00:00:00:03", "203.0.113.1")
	s3.FDB[agent.FDBKey{Network: "red", MAC: mac("02:00:00:00:00:04")}] = ip("198.18.0.1")
	s3.Neigh[agent.NeighKey{Network: "red", IP: ip("203.0.113.1")}] = mac("02:00:00:00:00:03")
	s3.Neigh[agent.NeighKey{Network: "red", IP: ip("203.0.113.4")}] = mac("02:00:00:00:00:04")
	expect(t, "h3", h3, s3)

	// ARP suppression: known addresses are answered on the host, nothing
	// enters a tunnel; unknown ones flood only to hosts in the network.
	if m, local, copies := h2.DP.ARP("blue", ip("203.0.113.1")); !local || copies != 0 || m != mac("02:00:00:00:00:01") {
		t.Fatalf("ARP for a known address: answer %s local %v tunnel copies %d", m, local, copies)
	}
	if _, local, copies := h2.DP.ARP("blue", ip("203.0.113.99")); local || copies != 1 {
		t.Fatalf("ARP for an unknown address: local %v, %d tunnel copies (want 1: only h1 has ports in blue)", local, copies)
	}
	if vtep, _, _ := h1.DP.Unicast("blue", mac("02:00:00:00:00:02")); vtep != ip("198.18.0.2") {
		t.Fatalf("unicast to p2 from h1 goes to %s", vtep)
	}

	// Unplug: gone everywhere; h2 leaves blue entirely (no ports left).
	if err := e.Brain.Unplug(bg, "p2", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	delete(s1.FDB, agent.FDBKey{Network: "blue", MAC: mac("02:00:00:00:00:02")})
	delete(s1.Neigh, agent.NeighKey{Network: "blue", IP: ip("203.0.113.2")})
	s1.Networks["blue"] = wiring("blue", 5001, "198.18.0.1")
	expect(t, "h1 after unplug", h1, s1)
	expect(t, "h2 after unplug", h2, agent.NewState())

	all := e.Brain.Audit(bg, nil, 10*time.Second)
	if len(all.Errors) > 0 || len(all.Reports) != 3 {
		t.Fatalf("audit: %d reports, errors %v", len(all.Reports), all.Errors)
	}
	for _, r := range all.Reports {
		if !r.Clean() {
			t.Fatalf("audit of %s: %+v", r.Host, r)
		}
	}
}

func TestValidationAndUniqueness(t *testing.T) {
	e := braintest.Start(t, braintest.Options{})
	mustNet(t, e, "blue", 5001)
	cases := []struct {
		name  string
		err   error
		field string
		code  string
	}{
		{"dup network", func() error { _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "blue", VNI: 7}); return err }(), "name", model.CodeExists},
		{"dup vni", func() error { _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "green", VNI: 5001}); return err }(), "vni", model.CodeExists},
		{"bad encap", func() error {
			_, err := e.Brain.CreateNetwork(bg, model.Network{Name: "x", VNI: 9, Encap: "gre"})
			return err
		}(), "encap", model.CodeInvalid},
		{"vni range", func() error { _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "x", VNI: 1 << 24}); return err }(), "vni", model.CodeInvalid},
		{"mtu range", func() error {
			_, err := e.Brain.CreateNetwork(bg, model.Network{Name: "x", VNI: 9, MTU: 100})
			return err
		}(), "mtu", model.CodeInvalid},
		{"bad name", func() error { _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "Bad Name", VNI: 9}); return err }(), "name", model.CodeInvalid},
		{"no network", func() error {
			_, err := e.Brain.Plug(bg, model.Port{Network: "nope", Host: "h1", MAC: "02:00:00:00:00:01"}, 0)
			return err
		}(), "network", model.CodeNotFound},
		{"multicast mac", func() error {
			_, err := e.Brain.Plug(bg, model.Port{Network: "blue", Host: "h1", MAC: "01:00:5e:00:00:01"}, 0)
			return err
		}(), "mac", model.CodeInvalid},
		{"bad ip", func() error {
			_, err := e.Brain.Plug(bg, model.Port{Network: "blue", Host: "h1", MAC: "02:00:00:00:00:01", IPs: []string{"224.0.0.1"}}, 0)
			return err
		}(), "ips", model.CodeInvalid},
	}
	for _, c := range cases {
		var me *model.Error
		if c.err == nil || !asModel(c.err, &me) || me.Field != c.field || me.Code != c.code {
			t.Errorf("%s: got %v, want %s on field %s", c.name, c.err, c.code, c.field)
		}
	}
	if _, err := e.Brain.Plug(bg, model.Port{ID: "a", Network: "blue", Host: "h1", MAC: "02:00:00:00:00:01", IPs: []string{"203.0.113.1"}}, 0); err != nil {
		t.Fatal(err)
	}
	dups := []struct {
		p     model.Port
		field string
	}{
		{model.Port{ID: "a", Network: "blue", Host: "h1", MAC: "02:00:00:00:00:09"}, "id"},
		{model.Port{ID: "b", Network: "blue", Host: "h2", MAC: "02:00:00:00:00:01"}, "mac"},
		{model.Port{ID: "c", Network: "blue", Host: "h2", MAC: "02:00:00:00:00:03", IPs: []string{"203.0.113.1"}}, "ips"},
	}
	for _, d := range dups {
		_, err := e.Brain.Plug(bg, d.p, 0)
		var me *model.Error
		if !asModel(err, &me) || me.Field != d.field || me.Code != model.CodeExists {
			t.Errorf("duplicate %s: got %v", d.field, err)
		}
	}
	err := e.Brain.DeleteNetwork(bg, "blue")
	var me *model.Error
	if !asModel(err, &me) || me.Code != model.CodeFailed || !strings.Contains(me.Message, "1 ports") {
		t.Errorf("delete a network with ports: %v", err)
	}
	if err := e.Brain.Unplug(bg, "a", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Brain.DeleteNetwork(bg, "blue"); err != nil {
		t.Fatal(err)
	}
	// The VNI and MAC are free again.
	mustNet(t, e, "blue2", 5001)
}

func asModel(err error, me **model.Error) bool {
	if err == nil {
		return false
	}
	x, ok := err.(*model.Error)
	*me = x
	return ok
}

// Concurrent plugs of the same MAC or IP: exactly one wins (compare-and-swap
// in etcd, no read-then-write race).
func TestConcurrentUniqueness(t *testing.T) {
	e := braintest.Start(t, braintest.Options{})
	mustNet(t, e, "blue", 5001)
	const n = 16
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, err := e.Brain.Plug(bg, model.Port{ID: fmt.Sprintf("m%d", i), Network: "blue", Host: "h1", MAC: "02:00:00:00:00:01"}, 0)
			errs <- err
		}(i)
		go func(i int) {
			_, err := e.Brain.Plug(bg, model.Port{ID: fmt.Sprintf("i%d", i), Network: "blue", Host: "h1", MAC: fmt.Sprintf("02:00:00:00:01:%02x", i), IPs: []string{"203.0.113.7"}}, 0)
			errs <- err
		}(i)
	}
	ok := 0
	for i := 0; i < 2*n; i++ {
		if err := <-errs; err == nil {
			ok++
		}
	}
	if ok != 2 {
		t.Fatalf("%d of %d concurrent conflicting plugs succeeded, want 2 (one per conflict)", ok, 2*n)
	}
}
