package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// fakeDP is a minimal Dataplane for white-box tests (memdp imports this
// package, so it cannot be used here).
type fakeDP struct {
	st  *State
	ops []Op
}

func (d *fakeDP) Programmed(context.Context) (*State, error) { return cloneState(d.st), nil }

func (d *fakeDP) Apply(_ context.Context, ops []Op) []OpError {
	var errs []OpError
	for _, o := range ops {
		d.ops = append(d.ops, o)
		s := d.st
		_, wired := s.Networks[o.Network]
		switch o.Kind {
		case OpNetworkPut:
			w := *o.Wiring
			w.Flood = append([]netip.Addr(nil), w.Flood...)
			s.Networks[o.Network] = w
		case OpNetworkDel:
			for k := range s.FDB {
				if k.Network == o.Network {
					errs = append(errs, OpError{o, fmt.Errorf("network %s deleted before its FDB entry %s", o.Network, k.MAC)})
				}
			}
			for k := range s.Neigh {
				if k.Network == o.Network {
					errs = append(errs, OpError{o, fmt.Errorf("network %s deleted before its neighbour entry %s", o.Network, k.IP)})
				}
			}
			for _, x := range s.VIFs {
				if x.Network == o.Network {
					errs = append(errs, OpError{o, fmt.Errorf("network %s deleted before its VIF %s", o.Network, x.ID)})
				}
			}
			if len(errs) > 0 {
				continue
			}
			delete(s.Networks, o.Network)
		case OpVIFPut:
			if !wired {
				errs = append(errs, OpError{o, fmt.Errorf("vif before its network")})
				continue
			}
			s.VIFs[o.VIF.ID] = *o.VIF
		case OpVIFDel:
			delete(s.VIFs, o.VIF.ID)
		case OpFDBPut:
			if !wired {
				errs = append(errs, OpError{o, fmt.Errorf("fdb before its network")})
				continue
			}
			s.FDB[FDBKey{o.Network, o.MAC}] = o.VTEP
		case OpFDBDel:
			delete(s.FDB, FDBKey{o.Network, o.MAC})
		case OpNeighPut:
			if !wired {
				errs = append(errs, OpError{o, fmt.Errorf("neigh before its network")})
				continue
			}
			s.Neigh[NeighKey{o.Network, o.IP}] = o.MAC
		case OpNeighDel:
			delete(s.Neigh, NeighKey{o.Network, o.IP})
		}
	}
	return errs
}

func cloneState(s *State) *State {
	c := NewState()
	for k, v := range s.Networks {
		c.Networks[k] = v
	}
	for k, v := range s.VIFs {
		c.VIFs[k] = v
	}
	for k, v := range s.FDB {
		c.FDB[k] = v
	}
	for k, v := range s.Neigh {
		c.Neigh[k] = v
	}
	return c
}

func testAgent(t testing.TB, dad DADConfig) (*Agent, *fakeDP) {
	dp := &fakeDP{st: NewState()}
	a, err := New(Config{Brain: "unix:/nonexistent/brain.sock", Host: "self", VTEPs: []netip.Addr{netip.MustParseAddr("198.18.0.1")}, Dataplane: dp, DAD: dad})
	if err != nil {
		t.Fatal(err)
	}
	return a, dp
}

func feed(a *Agent, msgs ...wire.Msg) {
	for i := range msgs {
		a.handle(context.Background(), &msgs[i])
	}
	a.flush(context.Background())
}

func checkInvariant(t testing.TB, a *Agent, dp *fakeDP, when string) {
	t.Helper()
	for _, n := range a.view.nets {
		n.floodOK = false // the recompute builds flood lists from scratch
	}
	r := Compare(dp.st, a.view.desired(&a.fz))
	if !r.Clean() {
		t.Fatalf("%s: the dataplane differs from the full recompute: missing %v extra %v wrong %v", when, r.Missing, r.Extra, r.Wrong)
	}
}

func hostMsg(name, vtep string, alive bool) wire.Msg {
	return wire.Msg{T: wire.THost, Host: &wire.Host{Name: name, VTEPs: []string{vtep}, Alive: alive}}
}

func portMsg(net, mac, host string, ver int64, ips ...string) wire.Msg {
	return wire.Msg{T: wire.TPort, Rev: ver, Done: true, Port: &wire.Port{Net: net, MAC: mac, Host: host, Ver: ver, IPs: ips}}
}

// An older update of a port never wins over a newer one, nor does a delete
// older than the port.
func TestVersionOrdering(t *testing.T) {
	a, dp := testAgent(t, DADConfig{Disabled: true})
	feed(a, wire.Msg{T: wire.TBegin, Rev: 1},
		wire.Msg{T: wire.TNet, Net: &wire.Net{Name: "n", Encap: "vxlan", VNI: 1, MTU: 1450}},
		hostMsg("self", "198.18.0.1", true), hostMsg("a", "198.18.0.2", true), hostMsg("b", "198.18.0.3", true),
		wire.Msg{T: wire.TPort, Port: &wire.Port{Net: "n", MAC: "02:00:00:00:00:0a", Host: "self", Ver: 1, ID: "mine"}},
		wire.Msg{T: wire.TEnd, Rev: 1, Done: true})
	k := FDBKey{"n", MAC{2, 0, 0, 0, 0, 1}}
	feed(a, portMsg("n", "02:00:00:00:00:01", "a", 10))
	feed(a, portMsg("n", "02:00:00:00:00:01", "b", 12))
	feed(a, portMsg("n", "02:00:00:00:00:01", "a", 11)) // late and old
	if got := dp.st.FDB[k]; got != netip.MustParseAddr("198.18.0.3") {
		t.Fatalf("an older update won: points at %s", got)
	}
	feed(a, wire.Msg{T: wire.TPortDel, Rev: 11, Name: "n", MAC: "02:00:00:00:00:01", Done: true}) // older than version 12
	if _, ok := dp.st.FDB[k]; !ok {
		t.Fatal("a delete older than the port removed it")
	}
	if s := a.Stats(); s.StaleIgnored != 2 {
		t.Fatalf("stale counter %d, want 2", s.StaleIgnored)
	}
	// A snapshot that predates what we hold does not roll it back.
	feed(a, wire.Msg{T: wire.TBegin, Rev: 11},
		wire.Msg{T: wire.TNet, Net: &wire.Net{Name: "n", Encap: "vxlan", VNI: 1, MTU: 1450}},
		hostMsg("self", "198.18.0.1", true), hostMsg("a", "198.18.0.2", true),
		wire.Msg{T: wire.TPort, Port: &wire.Port{Net: "n", MAC: "02:00:00:00:00:0a", Host: "self", Ver: 1, ID: "mine"}},
		wire.Msg{T: wire.TPort, Port: &wire.Port{Net: "n", MAC: "02:00:00:00:00:01", Host: "a", Ver: 11}},
		wire.Msg{T: wire.TEnd, Rev: 11, Done: true})
	if got := dp.st.FDB[k]; got != netip.MustParseAddr("198.18.0.3") {
		t.Fatalf("an older snapshot rolled the port back to %s", got)
	}
	checkInvariant(t, a, dp, "after the old snapshot")
}

// diff always yields an order the contract accepts, and the result is the
// wanted state: adds and changes before deletes.
func TestDiffOrdering(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		have, want := randState(rng), randState(rng)
		dp := &fakeDP{st: cloneState(have)}
		ops := diff(have, want)
		if errs := dp.Apply(context.Background(), ops); len(errs) > 0 {
			t.Fatalf("round %d: %v", round, errs[0].Err)
		}
		if r := Compare(dp.st, want); !r.Clean() {
			t.Fatalf("round %d: diff does not reach the wanted state: %+v", round, r)
		}
		seenDel := false
		for _, o := range ops {
			isDel := o.Kind >= OpNeighDel
			if seenDel && !isDel && o.Kind != OpNetworkPut {
				t.Fatalf("round %d: %s after a delete", round, o)
			}
			seenDel = seenDel || isDel
		}
		if d := diff(want, want); len(d) != 0 {
			t.Fatalf("diff of equal states: %v", d)
		}
	}
}

func randState(rng *rand.Rand) *State {
	s := NewState()
	for n := 0; n < 3; n++ {
		if rng.IntN(3) == 0 {
			continue
		}
		name := fmt.Sprintf("n%d", n)
		w := Wiring{Network: name, Encap: "vxlan", VNI: uint32(n + 1), MTU: 1450, Local: netip.MustParseAddr("198.18.0.1")}
		for i := 2; i < 6; i++ {
			if rng.IntN(2) == 0 {
				w.Flood = append(w.Flood, netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}))
			}
		}
		s.Networks[name] = w
		for m := 0; m < 4; m++ {
			mac := MAC{2, 0, 0, 0, byte(n), byte(m)}
			switch rng.IntN(3) {
			case 0:
				s.FDB[FDBKey{name, mac}] = netip.AddrFrom4([4]byte{198, 18, 0, byte(2 + rng.IntN(4))})
			case 1:
				id := fmt.Sprintf("v%d%d", n, m)
				s.VIFs[id] = VIF{ID: id, Network: name, MAC: mac, IfName: id, MTU: 1450}
			}
			if rng.IntN(2) == 0 {
				s.Neigh[NeighKey{name, netip.AddrFrom4([4]byte{203, 0, 113, byte(10*n + m)})}] = mac
			}
		}
	}
	return s
}

// Incremental processing equals the full recompute after every batch of
// random changes (OVN's incremental-processing rule, checked).
func TestIncrementalEqualsRecompute(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a, dp := testAgent(t, DADConfig{Moves: 3, Window: time.Hour})
	feed(a, wire.Msg{T: wire.TBegin, Rev: 1}, wire.Msg{T: wire.TEnd, Rev: 1, Done: true})
	ver := int64(1)
	for batch := 0; batch < 5000; batch++ {
		var msgs []wire.Msg
		for i := 0; i < 1+rng.IntN(4); i++ {
			ver++
			msgs = append(msgs, randMsg(rng, ver))
		}
		before := len(dp.ops)
		feed(a, msgs...)
		if batch%40 == 39 {
			feed(a, resnapshot(rng, a, ver)...)
		}
		if a.Stats().ApplyErrors > 0 {
			t.Fatalf("batch %d: the dataplane refused an op (ordering)", batch)
		}
		if false {
			for _, m := range msgs {
				b, _ := json.Marshal(m)
				t.Logf("batch %d: %s", batch, b)
			}
			for _, o := range dp.ops[before:] {
				t.Logf("  op %s", o)
			}
		}
		checkInvariant(t, a, dp, fmt.Sprintf("batch %d", batch))
	}
	if a.Stats().DuplicateMACs == 0 {
		t.Fatal("the random walk never triggered duplicate detection: the test does not cover freezes")
	}
	if a.Stats().KeptNets == 0 || a.Stats().Snapshots < 50 {
		t.Fatalf("snapshots %d, kept networks %d: the walk does not cover reconnects", a.Stats().Snapshots, a.Stats().KeptNets)
	}
}

func randMsg(rng *rand.Rand, ver int64) wire.Msg {
	hosts := []string{"self", "a", "b", "c"}
	net := fmt.Sprintf("n%d", rng.IntN(3))
	switch rng.IntN(12) {
	case 0:
		return wire.Msg{T: wire.TNet, Rev: ver, Done: true, Net: &wire.Net{Name: net, Encap: "vxlan", VNI: uint32(rng.IntN(3) + 1), MTU: 1400 + rng.IntN(3)*50}}
	case 1:
		if rng.IntN(4) == 0 {
			return wire.Msg{T: wire.TNetDel, Rev: ver, Done: true, Name: net}
		}
		return wire.Msg{T: wire.TNet, Rev: ver, Done: true, Net: &wire.Net{Name: net, Encap: "vxlan", VNI: 7, MTU: 1450}}
	case 2, 3:
		h := hosts[1+rng.IntN(3)]
		vtep := fmt.Sprintf("198.18.0.%d", 2+rng.IntN(5))
		m := hostMsg(h, vtep, rng.IntN(4) != 0)
		m.Rev, m.Done = ver, true
		return m
	case 4:
		return wire.Msg{T: wire.TPortDel, Rev: ver, Done: true, Name: net, MAC: fmt.Sprintf("02:00:00:00:00:%02x", rng.IntN(6))}
	default:
		h := hosts[rng.IntN(4)]
		p := &wire.Port{Net: net, MAC: fmt.Sprintf("02:00:00:00:00:%02x", rng.IntN(6)), Host: h, Ver: ver - int64(rng.IntN(3))}
		if rng.IntN(5) == 0 {
			p.To = hosts[rng.IntN(4)]
			if p.To == p.Host {
				p.To = ""
			}
		}
		for i := 0; i < rng.IntN(3); i++ {
			p.IPs = append(p.IPs, fmt.Sprintf("203.0.113.%d", rng.IntN(8)))
		}
		if len(p.IPs) == 2 && p.IPs[0] == p.IPs[1] {
			p.IPs = p.IPs[:1]
		}
		if p.Host == "self" || p.To == "self" {
			p.ID, p.IfName = "id-"+net+"-"+p.MAC, "tap"
		}
		return wire.Msg{T: wire.TPort, Rev: ver, Done: true, Port: p}
	}
}

// FuzzStream feeds arbitrary stream lines to the agent: nothing panics and
// the dataplane stays equal to the full recompute.
func FuzzStream(f *testing.F) {
	var seed bytes.Buffer
	enc := json.NewEncoder(&seed)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20; i++ {
		_ = enc.Encode(randMsg(rng, int64(i+2)))
	}
	f.Add(seed.Bytes())
	f.Add([]byte(`{"t":"port","port":{"net":"n0","mac":"zz","host":"a"}}` + "\n" + `{"t":"begin"}` + "\n" + `{"t":"end","done":true}`))
	f.Add([]byte(`{"t":"host","host":{"name":"a","vteps":["::1","x"],"alive":true}}` + "\n" + `{"t":"port","port":{"net":"n0","mac":"02:00:00:00:00:01","host":"a","ips":["1.2.3.4","bad"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, dp := testAgent(t, DADConfig{Moves: 2, Window: time.Hour})
		feed(a, wire.Msg{T: wire.TBegin, Rev: 1}, wire.Msg{T: wire.TNet, Net: &wire.Net{Name: "n0", Encap: "vxlan", VNI: 1, MTU: 1450}}, wire.Msg{T: wire.TEnd, Rev: 1, Done: true})
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var m wire.Msg
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.T == "" || m.T == wire.TAudit {
				continue
			}
			a.handle(context.Background(), &m)
			a.flush(context.Background())
			if a.snap == nil {
				checkInvariant(t, a, dp, "after "+sc.Text())
			}
		}
	})
}

// resnapshot is what a brain would send on a reconnect: the agent's view,
// some networks kept by digest, the others resent, with random changes
// made meanwhile (a network gone, a host's liveness or VTEP, a port).
func resnapshot(rng *rand.Rand, a *Agent, ver int64) []wire.Msg {
	v := a.view
	out := []wire.Msg{{T: wire.TBegin, Rev: ver}}
	var keep []string
	for name, n := range v.nets {
		switch rng.IntN(4) {
		case 0:
			continue // gone
		case 1:
			keep = append(keep, name)
			continue
		}
		out = append(out, wire.Msg{T: wire.TNet, Net: &wire.Net{Name: name, Encap: n.encap, VNI: n.vni, MTU: n.mtu}})
		for mac, p := range n.ports {
			if rng.IntN(10) == 0 {
				continue
			}
			w := wire.Port{Net: name, MAC: mac.String(), Host: p.host.name, Ver: p.ver}
			eachIP(p.ips, func(ip netip.Addr) { w.IPs = append(w.IPs, ip.String()) })
			if p.to != nil {
				w.To = p.to.name
			}
			if p.local != nil {
				w.ID, w.NetNS, w.IfName = p.local.id, p.local.netns, p.local.ifname
			}
			out = append(out, wire.Msg{T: wire.TPort, Port: &w})
		}
	}
	out[0].Keep = keep
	for name, h := range v.hosts {
		w := wire.Host{Name: name, Alive: h.alive}
		for _, a := range h.vteps {
			w.VTEPs = append(w.VTEPs, a.String())
		}
		if rng.IntN(5) == 0 {
			w.Alive = !w.Alive
		}
		out = append(out, wire.Msg{T: wire.THost, Host: &w})
	}
	return append(out, wire.Msg{T: wire.TEnd, Rev: ver, Done: true})
}

// A host with VTEPs of both families is reached on the one of our family.
func TestVTEPFamily(t *testing.T) {
	dp := &fakeDP{st: NewState()}
	a, err := New(Config{Brain: "unix:/nonexistent/brain.sock", Host: "self", VTEPs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}, Dataplane: dp})
	if err != nil {
		t.Fatal(err)
	}
	feed(a, wire.Msg{T: wire.TBegin, Rev: 1},
		wire.Msg{T: wire.TNet, Net: &wire.Net{Name: "n", Encap: "geneve", VNI: 9, MTU: 1400}},
		wire.Msg{T: wire.THost, Host: &wire.Host{Name: "self", VTEPs: []string{"2001:db8::1"}, Alive: true}},
		wire.Msg{T: wire.THost, Host: &wire.Host{Name: "dual", VTEPs: []string{"198.18.0.2", "2001:db8::2"}, Alive: true}},
		wire.Msg{T: wire.THost, Host: &wire.Host{Name: "v4only", VTEPs: []string{"198.18.0.3"}, Alive: true}},
		wire.Msg{T: wire.TPort, Port: &wire.Port{Net: "n", MAC: "02:00:00:00:00:0a", Host: "self", Ver: 1, ID: "mine", IfName: "tap0"}},
		wire.Msg{T: wire.TPort, Port: &wire.Port{Net: "n", MAC: "02:00:00:00:00:02", Host: "dual", Ver: 1}},
		wire.Msg{T: wire.TPort, Port: &wire.Port{Net: "n", MAC: "02:00:00:00:00:03", Host: "v4only", Ver: 1}},
		wire.Msg{T: wire.TEnd, Rev: 1, Done: true})
	w := dp.st.Networks["n"]
	if len(w.Flood) != 1 || w.Flood[0] != netip.MustParseAddr("2001:db8::2") || w.Local != netip.MustParseAddr("2001:db8::1") {
		t.Fatalf("flood %v local %s", w.Flood, w.Local)
	}
	if got := dp.st.FDB[FDBKey{"n", MAC{2, 0, 0, 0, 0, 2}}]; got != netip.MustParseAddr("2001:db8::2") {
		t.Fatalf("dual-stack host reached at %s", got)
	}
	if _, ok := dp.st.FDB[FDBKey{"n", MAC{2, 0, 0, 0, 0, 3}}]; ok {
		t.Fatal("a host without a VTEP of our family got an FDB entry")
	}
}
