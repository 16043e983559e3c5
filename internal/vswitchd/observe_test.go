package vswitchd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/switchyard-net/switchyard/internal/capture"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/events"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

// observedSwitch is a switch with in-memory devices and its observer.
func observedSwitch(t *testing.T) *Switch {
	t.Helper()
	dir := t.TempDir()
	store, err := config.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := newSwitch(ctx, store, slog.New(slog.NewTextHandler(io.Discard, nil)), true, true)
	startObserving(ctx, s, Options{StateDir: dir})
	t.Cleanup(func() { s.close(); cancel(); store.Close() })
	return s
}

func memDev(t *testing.T, s *Switch, port string) *netdev.Memory {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.ports[port].dev.(*netdev.Memory)
	if !ok {
		t.Fatalf("port %s has no memory device", port)
	}
	return m
}

func frame(dst, src byte, payload int) []byte {
	f := make([]byte, 14+payload)
	copy(f, []byte{2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src, 0x08, 0x00})
	f[14] = 0x45
	return f
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func eventsOf(s *Switch, kind string) []events.Event { return s.Events(events.Query{Kind: kind}) }

// A capture through the daemon: started on a port by name, fed by the
// port's tap, ended by its count, with its events.
func TestCaptureThroughTheDaemon(t *testing.T) {
	s := observedSwitch(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddBridge(config.Bridge{Name: "br0"}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "a", Type: config.TypeTAP}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "b", Type: config.TypeTAP}))
	if _, err := s.StartCapture("br0", "nope", capture.Options{}, "test"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("capture of a missing port: %v", err)
	}
	sess, err := s.StartCapture("br0", "b", capture.Options{Direction: capture.Out, Count: 3}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if l := s.Captures(); len(l) != 1 || l[0].Port != "b" || l[0].Who != "tester" {
		t.Fatalf("captures: %+v", l)
	}
	var buf bytes.Buffer
	done := make(chan capture.Result, 1)
	go func() {
		r, err := sess.Run(context.Background(), &buf, nil)
		s.EndCapture(sess, r, err)
		done <- r
	}()
	ctx := context.Background()
	a := memDev(t, s, "a")
	for i := 0; i < 5; i++ {
		must(a.Inject(ctx, frame(2, 1, 46+i)))
	}
	var res capture.Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the capture did not end at its count")
	}
	if res.Written != 3 || res.Reason != "count" {
		t.Fatalf("result %+v", res)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d, _, err := r.ReadPacketData()
		if err != nil || !bytes.Equal(d, frame(2, 1, 46+i)) {
			t.Fatalf("frame %d: %v % x", i, err, d)
		}
	}
	if len(s.Captures()) != 0 {
		t.Fatal("an ended capture is still listed")
	}
	st, sp := eventsOf(s, events.CaptureStart), eventsOf(s, events.CaptureStop)
	if len(st) != 1 || len(sp) != 1 || sp[0].Count != 3 || st[0].Who != "tester" {
		t.Fatalf("capture events %+v %+v", st, sp)
	}
	// A capture ends when its port is removed.
	sess2, err := s.StartCapture("br0", "a", capture.Options{}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		r, err := sess2.Run(context.Background(), io.Discard, nil)
		s.EndCapture(sess2, r, err)
		done <- r
	}()
	must(s.DelPort("br0", "a"))
	select {
	case res = <-done:
		if res.Reason != "port-gone" {
			t.Fatalf("reason %q", res.Reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a capture of a deleted port did not end")
	}
}

func TestEventsFromTheDaemon(t *testing.T) {
	s := observedSwitch(t)
	end := s.BeginChange("alice (uid 1000), pid 7: switchyard bridge add br0", "POST", "/v1/bridges")
	if err := s.AddBridge(config.Bridge{Name: "br0", FDBMax: 2}); err != nil {
		t.Fatal(err)
	}
	end(200)
	for _, p := range []string{"a", "b"} {
		if err := s.AddPort(config.Port{Bridge: "br0", Name: p, Type: config.TypeTAP, VLAN: 10}); err != nil {
			t.Fatal(err)
		}
	}
	// Changes not made through the API are found by the poll (each second).
	waitFor(t, "config events", func() bool { return len(eventsOf(s, events.ConfigChange)) == 3 })
	cc := eventsOf(s, events.ConfigChange)
	if !strings.Contains(cc[0].Message, "bridge br0 added fdb-max 2") || !strings.HasPrefix(cc[0].Who, "alice") {
		t.Fatalf("config events %+v", cc)
	}
	if !strings.Contains(cc[2].What, "port b added to br0 (tap) vlan 10") && !strings.Contains(cc[1].What, "port b added") || !strings.Contains(cc[2].Who, "not through the API") {
		t.Fatalf("config event without an API request: %+v", cc[2])
	}
	waitFor(t, "port.up events", func() bool { return len(eventsOf(s, events.PortUp)) == 2 })
	// A MAC that moves, and a full table.
	ctx := context.Background()
	a, b := memDev(t, s, "a"), memDev(t, s, "b")
	_ = a.Inject(ctx, frame(0xff, 1, 46))
	waitFor(t, "learned", func() bool { return s.Show().Bridges[0].FDB.Learned == 1 })
	_ = b.Inject(ctx, frame(0xff, 1, 46))
	waitFor(t, "fdb.move", func() bool { return len(eventsOf(s, events.FDBMove)) == 1 })
	mv := eventsOf(s, events.FDBMove)[0]
	if mv.From != "a" || mv.To != "b" || mv.MAC != "02:00:00:00:00:01" || *mv.VLAN != 10 {
		t.Fatalf("move %+v", mv)
	}
	_ = a.Inject(ctx, frame(0xff, 2, 46), frame(0xff, 3, 46), frame(0xff, 4, 46))
	waitFor(t, "fdb.full", func() bool { return len(eventsOf(s, events.FDBFull)) == 1 })
	if f := eventsOf(s, events.FDBFull)[0]; f.Severity != events.Warning || !strings.Contains(f.Message, "2/2") {
		t.Fatalf("full %+v", f)
	}
	// A port that goes down: its patch peer is removed.
	_ = s.AddPort(config.Port{Bridge: "br0", Name: "pa", Type: config.TypePatch, Peer: "pb"})
	waitFor(t, "port.down", func() bool { return len(eventsOf(s, events.PortDown)) == 1 })
	if d := eventsOf(s, events.PortDown)[0]; d.Port != "pa" || !strings.Contains(d.Reason, "pb") {
		t.Fatalf("down %+v", d)
	}
	_ = s.DelPort("br0", "pa")
	waitFor(t, "port.removed", func() bool { return len(eventsOf(s, events.PortRemoved)) == 1 })
}

func TestMetricsFromTheDaemon(t *testing.T) {
	s := observedSwitch(t)
	_ = s.AddBridge(config.Bridge{Name: "br0"})
	_ = s.AddPort(config.Port{Bridge: "br0", Name: "a", Type: config.TypeTAP})
	_ = s.AddPort(config.Port{Bridge: "br0", Name: "b", Type: config.TypeTAP, VLAN: 10})
	_ = s.AddPort(config.Port{Bridge: "br0", Name: "vx", Type: config.TypeVXLAN, Tunnel: &config.Tunnel{Local: "198.18.0.1", Remotes: []string{"198.18.0.2"}, VNI: 5001}})
	a := memDev(t, s, "a")
	_ = a.Inject(context.Background(), frame(0xff, 1, 46), frame(0xff, 1, 46))
	waitFor(t, "rx counted", func() bool { return s.Show().Bridges[0].Ports[0].Stats.RxPackets == 2 })
	srv := httptest.NewServer(s.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := string(body)
	for _, want := range []string{
		`switchyard_port_rx_packets_total{bridge="br0",port="a"} 2`,
		`switchyard_port_tx_packets_total{bridge="br0",port="vx"} 2`,
		`switchyard_fdb_learned_total{bridge="br0"} 1`,
		`switchyard_fdb_port_learned_entries{bridge="br0",port="a"} 1`,
		`switchyard_tunnel_remote_info{bridge="br0",port="vx",remote="198.18.0.2",source="configured"} 1`,
		`switchyard_port_up{bridge="br0",port="b"} 1`,
		`switchyard_events_total{kind="daemon.start"} 1`,
		`switchyard_decision_cache_misses_total{bridge="br0"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if _, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(out)
		if o, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(o)) != 0 {
			t.Fatalf("promtool check metrics: %v\n%s", err, o)
		}
	} else if os.Geteuid() == 0 {
		t.Fatal("promtool is missing (Debian's prometheus package)")
	}
}

func TestDoctorThroughTheDaemon(t *testing.T) {
	s := observedSwitch(t)
	_ = s.AddBridge(config.Bridge{Name: "br0", FDBMax: 10})
	_ = s.AddPort(config.Port{Bridge: "br0", Name: "a", Type: config.TypeTAP})
	r := s.Doctor(context.Background(), doctorOpts())
	for _, f := range r.Findings {
		if f.Severity != "info" {
			t.Fatalf("healthy switch: %+v", r.Findings)
		}
	}
	a := memDev(t, s, "a")
	for i := 1; i <= 12; i++ {
		_ = a.Inject(context.Background(), frame(0xff, byte(i), 46))
	}
	waitFor(t, "refusals", func() bool { return s.Show().Bridges[0].FDB.Refused == 2 })
	r = s.Doctor(context.Background(), doctorOpts())
	found := false
	for _, f := range r.Findings {
		found = found || f.Check == "fdb" && f.Severity == "error" && strings.Contains(f.Problem, "refused 2")
	}
	if r.Healthy || !found {
		t.Fatalf("full FDB: %+v", r.Findings)
	}
}

func doctorOpts() doctor.Options { return doctor.Options{NoProbe: true} }

func TestCarriedVLANs(t *testing.T) {
	for _, c := range []struct {
		p    config.Port
		want string
	}{
		{config.Port{}, "all"},
		{config.Port{VLAN: 10}, "10"},
		{config.Port{Trunks: "10,20-22", NativeVLAN: 5}, "5 10 20 21 22"},
		{config.Port{Tunnel: &config.Tunnel{VNIMap: "10:5010,30:5030"}}, "10 30"},
	} {
		m := carriedVLANs(&c.p)
		got := "all"
		if m != nil {
			var l []string
			for v := 0; v <= 4094; v++ {
				if m[v] {
					l = append(l, strconv.Itoa(v))
				}
			}
			got = strings.Join(l, " ")
		}
		if got != c.want {
			t.Errorf("%+v carries %s, want %s", c.p, got, c.want)
		}
	}
}

// countingDev is a tunnel device that counts per remote VTEP.
type countingDev struct{ *netdev.Memory }

func (countingDev) RemoteCounters(fn func(netip.Addr, uint64, uint64, uint64, uint64, uint64)) {
	fn(netip.MustParseAddr("198.18.0.2"), 10, 1000, 20, 2000, 1)
	fn(netip.MustParseAddr("198.18.0.7"), 3, 300, 0, 0, 0)
}

// A tunnel device with per-remote counters gets its remote series.
func TestRemoteCountersReachTheMetrics(t *testing.T) {
	s := observedSwitch(t)
	_ = s.AddBridge(config.Bridge{Name: "br0"})
	_ = s.AddPort(config.Port{Bridge: "br0", Name: "vx", Type: config.TypeVXLAN, Tunnel: &config.Tunnel{Local: "198.18.0.1", Remotes: []string{"198.18.0.2"}, VNI: 5001}})
	s.mu.Lock()
	s.ports["vx"].dev = countingDev{s.ports["vx"].dev.(*netdev.Memory)}
	s.mu.Unlock()
	srv := httptest.NewServer(s.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`switchyard_tunnel_remote_tx_bytes_total{bridge="br0",port="vx",remote="198.18.0.2"} 2000`,
		`switchyard_tunnel_remote_drops_total{bridge="br0",port="vx",remote="198.18.0.2"} 1`,
		`switchyard_tunnel_remote_rx_packets_total{bridge="br0",port="vx",remote="198.18.0.7"} 3`,
		`switchyard_tunnel_remote_info{bridge="br0",port="vx",remote="198.18.0.7",source="learned"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}
