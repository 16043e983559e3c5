package vswitchd

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/netdev"
	"github.com/switchyard-net/switchyard/internal/packet"
	"github.com/switchyard-net/switchyard/internal/stp"
)

func newMemorySwitch(t *testing.T) *Switch {
	t.Helper()
	store, err := config.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := newSwitch(ctx, store, slog.New(slog.NewTextHandler(io.Discard, nil)), true, true)
	t.Cleanup(func() { s.close(); cancel(); store.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not true after %v: %v", what, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var memSeq int

// uname is a name unique in the process (in-memory devices are registered
// by name).
func uname(p string) string {
	memSeq++
	return fmt.Sprintf("%s%d%d", p, os.Getpid()%10000, memSeq)
}

func marker(src packet.MAC, seq byte) []byte {
	f := make([]byte, 60)
	copy(f[0:6], packet.Broadcast[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x88b5)
	f[14] = seq
	return f
}

// injector returns a function that hands frames to port name's bridge as
// received on it.
func injector(s *Switch, name string) func(...[]byte) {
	s.mu.Lock()
	rx := s.ports[name].bp.NewReceiver()
	s.mu.Unlock()
	return func(frames ...[]byte) {
		var pkts []*datapath.Packet
		for _, f := range frames {
			p := datapath.NewPacket(len(f))
			p.SetData(f)
			pkts = append(pkts, p)
		}
		rx.Receive(pkts)
	}
}

func countBPDUs(frames []netdev.Sent) int {
	n := 0
	for _, f := range frames {
		if len(f.Frame) > 17 && f.Frame[0] == 0x01 && f.Frame[5] == 0 && f.Frame[14] == 0x42 {
			n++
		}
	}
	return n
}

func countMarkers(frames []netdev.Sent) int {
	n := 0
	for _, f := range frames {
		if len(f.Frame) >= 14 && binary.BigEndian.Uint16(f.Frame[12:]) == 0x88b5 {
			n++
		}
	}
	return n
}

// stpPorts returns port name → role/state of bridge br.
func stpPorts(s *Switch, br string) map[string]string {
	m := map[string]string{}
	for _, b := range s.Show().Bridges {
		if b.Name != br || b.SpanningTree == nil {
			continue
		}
		for _, p := range b.SpanningTree.Ports {
			m[p.Name] = p.Role + "/" + p.State
		}
	}
	return m
}

// A loop of patch ports inside one daemon: two bridges joined by two patch
// pairs. Without spanning tree a broadcast circulates until the hop limit
// ends it; with RSTP exactly one patch port discards and the broadcast
// arrives once; when the forwarding pair goes, the alternate takes over at
// once. BPDUs cross patch ports through Transmit and the peer's control
// handler.
func TestPatchLoopRSTP(t *testing.T) {
	s := newMemorySwitch(t)
	ha, hb := uname("ha"), uname("hb")
	must(t, s.AddBridge(config.Bridge{Name: "bra"}))
	must(t, s.AddBridge(config.Bridge{Name: "brb"}))
	for _, p := range []config.Port{
		{Bridge: "bra", Name: "a1", Type: config.TypePatch, Peer: "b1"},
		{Bridge: "brb", Name: "b1", Type: config.TypePatch, Peer: "a1"},
		{Bridge: "bra", Name: "a2", Type: config.TypePatch, Peer: "b2"},
		{Bridge: "brb", Name: "b2", Type: config.TypePatch, Peer: "a2"},
		{Bridge: "bra", Name: ha, Type: config.TypeTAP},
		{Bridge: "brb", Name: hb, Type: config.TypeTAP},
	} {
		must(t, s.AddPort(p))
	}
	src := packet.MAC{2, 0, 0, 0, 0xa, 1}
	da, db := netdev.MemoryDevice(ha), netdev.MemoryDevice(hb)
	// Frames go in through a receiver of the port's own: Memory.Inject
	// holds the device's lock while the bridge forwards, and a looped
	// flood comes back to the same device.
	inject := injector(s, ha)
	inject(marker(src, 1))
	time.Sleep(50 * time.Millisecond) // the loop runs to its end in microseconds; nothing to wait for
	if n := countMarkers(db.Take()); n < 2 {
		t.Fatalf("without spanning tree the looped broadcast arrived %d times (the hop limit should let several through)", n)
	}
	db.Take()

	// RSTP on both bridges: bra is the root.
	a, b := config.Bridge{Name: "bra"}, config.Bridge{Name: "brb"}
	a.STP, a.STPPriority, a.HWAddr = "rstp", config.Opt(4096), "02:00:00:00:0a:00"
	b.STP, b.STPPriority, b.HWAddr = "rstp", config.Opt(8192), "02:00:00:00:0b:00"
	must(t, s.SetBridge(a))
	must(t, s.SetBridge(b))
	took := eventually(t, 10*time.Second, "converged", func() error {
		pa, pb := stpPorts(s, "bra"), stpPorts(s, "brb")
		if pa["a1"] != "designated/forwarding" || pa["a2"] != "designated/forwarding" {
			return fmt.Errorf("bra %v", pa)
		}
		if pb["b1"] != "root/forwarding" || pb["b2"] != "alternate/discarding" {
			return fmt.Errorf("brb %v", pb)
		}
		return nil
	})
	t.Logf("RSTP over patch ports converged in %v", took.Round(time.Millisecond))
	for _, br := range s.Show().Bridges {
		if st := br.SpanningTree; st == nil || st.RootID != "4096/0/02:00:00:00:0a:00" {
			t.Fatalf("%s root %v", br.Name, st.RootID)
		}
	}
	da.Take()
	db.Take()
	inject(marker(src, 2))
	time.Sleep(100 * time.Millisecond)
	if n := countMarkers(db.Take()); n != 1 {
		t.Fatalf("with RSTP the broadcast arrived %d times, want 1", n)
	}
	if n := countMarkers(da.Take()); n != 0 {
		t.Fatalf("the broadcast came back to its sender %d times", n)
	}
	// The edge ports (TAPs) forward, and show says so.
	if pa := stpPorts(s, "bra"); pa[ha] != "designated/forwarding" {
		t.Fatalf("host port %v", pa)
	}
	// The forwarding pair goes: b2 takes over without waiting.
	start := time.Now()
	must(t, s.DelPort("brb", "b1"))
	took = eventually(t, 3*time.Second, "b2 takes over", func() error {
		if pb := stpPorts(s, "brb"); pb["b2"] != "root/forwarding" {
			return fmt.Errorf("brb %v", pb)
		}
		return nil
	})
	t.Logf("alternate patch port forwarding %v after the root port's pair was removed", took.Round(time.Millisecond))
	if time.Since(start) > time.Second {
		t.Fatalf("RSTP needed %v", time.Since(start))
	}
	db.Take()
	inject(marker(src, 3))
	eventually(t, 2*time.Second, "broadcast over b2", func() error {
		if n := countMarkers(db.Take()); n != 1 {
			return fmt.Errorf("arrived %d times", n)
		}
		return nil
	})
	// JSON carries roles, states and counters.
	raw, err := json.Marshal(s.Show())
	must(t, err)
	var show struct {
		Bridges []struct {
			Name  string `json:"name"`
			STP   string `json:"stp"`
			Ports []struct {
				Name string `json:"name"`
				ST   *struct {
					Role     string `json:"role"`
					State    string `json:"state"`
					Counters struct {
						TxRST uint64 `json:"tx_rst_bpdus"`
						RxRST uint64 `json:"rx_rst_bpdus"`
					} `json:"counters"`
				} `json:"spanning_tree"`
			} `json:"ports"`
		} `json:"bridges"`
	}
	must(t, json.Unmarshal(raw, &show))
	for _, br := range show.Bridges {
		if br.STP != "rstp" {
			t.Fatalf("bridge %s stp %q in JSON", br.Name, br.STP)
		}
		for _, p := range br.Ports {
			if p.Name == "a2" && (p.ST == nil || p.ST.Counters.TxRST == 0 || p.ST.Role != "designated") {
				t.Fatalf("a2 in JSON: %+v", p.ST)
			}
		}
	}
	// Spanning tree off again: every port forwards (the hop limit is back).
	a.STP, b.STP = "off", "off"
	must(t, s.SetBridge(a))
	must(t, s.SetBridge(b))
	for _, n := range []string{"a1", "a2", "b2"} {
		if rp := s.ports[n]; rp != nil && rp.bp.State().String() != "forwarding" {
			t.Fatalf("%s %s after spanning tree went off", n, rp.bp.State())
		}
	}
	if s.Show().Bridges[0].SpanningTree != nil {
		t.Fatal("show still has a spanning tree")
	}
}

// A bond of in-memory members (--devices memory): active-backup without
// LACP; frames go out on the active member only, the backup's are not
// admitted, and bond show has its members.
func TestMemoryBond(t *testing.T) {
	s := newMemorySwitch(t)
	m1, m2, h := uname("m"), uname("m"), uname("h")
	must(t, s.AddBridge(config.Bridge{Name: "br0"}))
	must(t, s.AddPort(config.Port{Bridge: "br0", Name: "bond0", Type: config.TypeBond, Bond: &config.Bond{Members: []string{m1, m2}}}))
	must(t, s.AddPort(config.Port{Bridge: "br0", Name: h, Type: config.TypeTAP}))
	eventually(t, 3*time.Second, "members enabled", func() error {
		ps := s.Show().Bridges[0].Ports[0]
		if ps.BondStatus == nil || len(ps.BondStatus.Members) != 2 || !ps.BondStatus.Members[0].Enabled || !ps.BondStatus.Members[1].Enabled {
			return fmt.Errorf("bond status %+v", ps.BondStatus)
		}
		return nil
	})
	st := s.Show().Bridges[0].Ports[0].BondStatus
	if st.Mode != "active-backup" || st.ActiveMember != m1 {
		t.Fatalf("bond %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dh, d1, d2 := netdev.MemoryDevice(h), netdev.MemoryDevice(m1), netdev.MemoryDevice(m2)
	must(t, dh.Inject(ctx, marker(packet.MAC{2, 0, 0, 0, 0, 7}, 1)))
	if got, err := d1.Wait(ctx, 1); err != nil || countMarkers(got) != 1 || countMarkers(d2.Take()) != 0 {
		t.Fatalf("flood out of an active-backup bond: %v", err)
	}
	must(t, d2.Inject(ctx, marker(packet.MAC{2, 0, 0, 0, 0, 8}, 2)))
	must(t, d1.Inject(ctx, marker(packet.MAC{2, 0, 0, 0, 0, 9}, 3)))
	got, err := dh.Wait(ctx, 1)
	if err != nil || countMarkers(got) != 1 || got[0].Frame[14] != 3 {
		t.Fatalf("host got %d frames (%v); want only the active member's", len(got), err)
	}
	st = s.Show().Bridges[0].Ports[0].BondStatus
	if st.Members[1].Counters.RxDropped != 1 || st.Members[0].Counters.TxPackets == 0 {
		t.Fatalf("member counters %+v %+v", st.Members[0].Counters, st.Members[1].Counters)
	}
	// Under RSTP the bond is one spanning tree port: its BPDUs leave on
	// the active member; with no bridge behind it, it becomes an edge port
	// and forwards.
	d1.Take()
	must(t, s.SetBridge(config.Bridge{Name: "br0", BridgeSTP: config.BridgeSTP{STP: "rstp"}}))
	took := eventually(t, 8*time.Second, "bond port forwarding", func() error {
		if p := stpPorts(s, "br0"); p["bond0"] != "designated/forwarding" {
			return fmt.Errorf("%v", p)
		}
		return nil
	})
	t.Logf("bond port designated/forwarding %v after RSTP started (auto edge)", took.Round(10*time.Millisecond))
	bpdus := countBPDUs(d1.Take())
	if bpdus == 0 || countBPDUs(d2.Take()) != 0 {
		t.Fatalf("%d BPDUs on the active member (and some on the backup?)", bpdus)
	}
	// A member that is also a port is refused.
	if err := s.AddPort(config.Port{Bridge: "br0", Name: m1, Type: config.TypeTAP}); err == nil {
		t.Fatal("a bond member was accepted as a port")
	}
}

// What spanning tree asks is applied to the engine: a flush removes the
// port's learned addresses, short aging reaches the bridge, a state change
// reaches the port.
func TestSTPOutputApplied(t *testing.T) {
	s := newMemorySwitch(t)
	ha, hb := uname("ha"), uname("hb")
	must(t, s.AddBridge(config.Bridge{Name: "br0", BridgeSTP: config.BridgeSTP{STP: "stp", HWAddr: "02:00:00:00:0c:00"}}))
	must(t, s.AddPort(config.Port{Bridge: "br0", Name: ha, Type: config.TypeTAP}))
	must(t, s.AddPort(config.Port{Bridge: "br0", Name: hb, Type: config.TypeTAP}))
	s.mu.Lock()
	r := s.l2().stp["br0"]
	dp := s.bridges["br0"].dp
	s.mu.Unlock()
	if r == nil {
		t.Fatal("no spanning tree on br0")
	}
	eventually(t, 2*time.Second, "edge ports forwarding", func() error {
		if p := stpPorts(s, "br0"); p[ha] != "designated/forwarding" || p[hb] != "designated/forwarding" {
			return fmt.Errorf("%v", p)
		}
		return nil
	})
	injector(s, ha)(marker(packet.MAC{2, 0, 0, 0, 0xc, 1}, 1))
	if _, ok := dp.LookupFDB([6]byte{2, 0, 0, 0, 0xc, 1}, 0); !ok {
		t.Fatal("not learned")
	}
	s.mu.Lock()
	no := s.ports[ha].bp.Number()
	s.mu.Unlock()
	r.mu.Lock()
	sp := r.byDP[no]
	r.mu.Unlock()
	r.call(func(time.Time) stp.Output {
		return stp.Output{Flushes: []uint16{sp.no}, AgingChanged: true, AgingTime: 4 * time.Second,
			Changes: []stp.PortChange{{Port: sp.no, State: stp.Learning, Role: stp.RoleDesignated}}}
	})
	if _, ok := dp.LookupFDB([6]byte{2, 0, 0, 0, 0xc, 1}, 0); ok {
		t.Fatal("flush did not remove the port's address")
	}
	if dp.AgingOverride() != 4*time.Second {
		t.Fatalf("aging override %v", dp.AgingOverride())
	}
	if st := sp.bp.State(); st != datapath.StateLearning {
		t.Fatalf("port state %s", st)
	}
	r.call(func(time.Time) stp.Output { return stp.Output{AgingChanged: true} })
	if dp.AgingOverride() != 0 {
		t.Fatal("short aging not ended")
	}
}
