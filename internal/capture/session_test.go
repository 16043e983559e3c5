package capture

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

// sink is a device that keeps what it is sent.
type sink struct {
	mu  sync.Mutex
	got [][]byte
}

func (s *sink) Send(b []datapath.Out) {
	s.mu.Lock()
	for _, o := range b {
		s.got = append(s.got, append([]byte(nil), o.Pkt.Data()...))
	}
	s.mu.Unlock()
}

func (s *sink) frames() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.got...)
}

func packets(frames [][]byte) []*datapath.Packet {
	l := make([]*datapath.Packet, len(frames))
	for i, f := range frames {
		l[i] = datapath.NewPacket(len(f))
		l[i].SetData(f)
	}
	return l
}

type pkt struct {
	data     []byte
	dir      string
	comments []string
	drops    uint64
}

func readNg(t *testing.T, b []byte) ([]pkt, pcapgo.NgInterface) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []pkt
	for {
		d, _, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := pkt{data: d, comments: opts.Comments}
		if opts.Flags != nil {
			p.dir = map[pcapgo.NgEpbFlag]string{pcapgo.NgEpbFlagDirectionInbound: "in", pcapgo.NgEpbFlagDirectionOutbound: "out"}[opts.Flags.Direction]
		}
		if opts.DropCount != nil {
			p.drops = *opts.DropCount
		}
		out = append(out, p)
	}
	intf, err := r.Interface(0)
	if err != nil {
		t.Fatal(err)
	}
	return out, intf
}

// TestCaptureOnABridgePort runs a capture of both directions of a port of
// a real bridge with a filter, and checks the pcapng has exactly the
// frames the port received and sent that match, in order, with their
// directions.
func TestCaptureOnABridgePort(t *testing.T) {
	b, err := datapath.NewBridge("br0", datapath.BridgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := &sink{}, &sink{}
	p1, _ := b.AddPort("p1", d1, datapath.PortConfig{})
	p2, _ := b.AddPort("p2", d2, datapath.PortConfig{})
	s, err := NewSession(PortInfo{Bridge: "br0", Port: "p2", Type: "tap"}, Options{Filter: "tcp or icmp"})
	if err != nil {
		t.Fatal(err)
	}
	detach := Attach(p2, s)
	var buf bytes.Buffer
	done := make(chan Result, 1)
	go func() {
		r, err := s.Run(context.Background(), &buf, nil)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	fs := corpus(t)
	tcpA, udpA, icmpB := fs[0], fs[5], fs[8] // A→B TCP, A→B UDP, B→A ICMP
	p1.Receive(packets([][]byte{tcpA, udpA}))
	p2.Receive(packets([][]byte{icmpB}))
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Matched < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop("stopped")
	res := <-done
	detach()
	got, intf := readNg(t, buf.Bytes())
	if res.Matched != 2 || res.Written != 2 || res.Dropped != 0 || res.Seen != 3 || res.Reason != "stopped" {
		t.Fatalf("result %+v", res)
	}
	if len(got) != 2 || !bytes.Equal(got[0].data, tcpA) || got[0].dir != "out" || !bytes.Equal(got[1].data, icmpB) || got[1].dir != "in" {
		t.Fatalf("captured %d frames: %+v", len(got), got)
	}
	if sent := d2.frames(); len(sent) != 2 || !bytes.Equal(sent[0], tcpA) {
		t.Fatalf("the port sent %d frames", len(sent))
	}
	if intf.Name != "p2" || intf.Filter != "tcp or icmp" || !strings.Contains(intf.Description, "bridge br0") {
		t.Fatalf("interface block: %+v", intf)
	}
	// Detached: the port has no tap any more, and nothing more is seen.
	p1.Receive(packets([][]byte{tcpA}))
	if s.Stats().Seen != 3 {
		t.Fatal("a detached session still sees frames")
	}
}

func TestCountAndDurationEndACapture(t *testing.T) {
	s, _ := NewSession(PortInfo{Port: "p"}, Options{Count: 3})
	fs := corpus(t)
	go func() {
		for i := 0; i < 10; i++ {
			s.Received(nil, packets(fs[:2]))
		}
	}()
	var buf bytes.Buffer
	res, err := s.Run(context.Background(), &buf, nil)
	if err != nil || res.Reason != "count" || res.Written != 3 {
		t.Fatalf("count: %+v %v", res, err)
	}
	if got, _ := readNg(t, buf.Bytes()); len(got) != 3 {
		t.Fatalf("%d packets in the file, want 3", len(got))
	}
	s2, _ := NewSession(PortInfo{Port: "p"}, Options{Duration: 200 * time.Millisecond})
	start := time.Now()
	res, err = s2.Run(context.Background(), io.Discard, nil)
	if err != nil || res.Reason != "duration" || time.Since(start) < 200*time.Millisecond || time.Since(start) > 5*time.Second {
		t.Fatalf("duration: %+v %v after %v", res, err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s3, _ := NewSession(PortInfo{Port: "p"}, Options{})
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if res, _ = s3.Run(ctx, io.Discard, nil); res.Reason != "closed" {
		t.Fatalf("a reader that went away: %+v", res)
	}
}

// blockedWriter never returns from Write until released: a reader that
// does not keep up.
type blockedWriter struct{ release chan struct{} }

func (w *blockedWriter) Write(b []byte) (int, error) { <-w.release; return len(b), nil }

// A reader that does not keep up costs copies, never forwarding: the
// engine's Receive returns, frames keep flowing, drops are counted, and the
// file says how many were lost.
func TestASlowReaderDropsCopiesNeverForwarding(t *testing.T) {
	b, _ := datapath.NewBridge("br0", datapath.BridgeConfig{})
	d1, d2 := &sink{}, &sink{}
	p1, _ := b.AddPort("p1", d1, datapath.PortConfig{})
	p2, _ := b.AddPort("p2", d2, datapath.PortConfig{})
	s, _ := NewSession(PortInfo{Port: "p2"}, Options{Direction: Out})
	defer Attach(p2, s)()
	w := &blockedWriter{release: make(chan struct{})}
	done := make(chan Result, 1)
	go func() {
		r, _ := s.Run(context.Background(), w, nil)
		done <- r
	}()
	fs := corpus(t)
	batch := packets([][]byte{fs[0], fs[2], fs[3], fs[4]}) // all A → B (B unknown: flooded)
	const batches = 1000
	start := time.Now()
	for i := 0; i < batches; i++ {
		p1.Receive(batch)
	}
	el := time.Since(start)
	if n := len(d2.frames()); n != 4*batches {
		t.Fatalf("forwarded %d of %d frames while the reader was stuck", n, 4*batches)
	}
	st := s.Stats()
	if st.Matched != 4*batches || st.Dropped != 4*batches-SmallSlots-BigSlots {
		t.Fatalf("matched %d dropped %d (slots %d)", st.Matched, st.Dropped, SmallSlots)
	}
	t.Logf("%d frames forwarded in %v with a stuck capture reader; %d copies dropped", 4*batches, el, st.Dropped)
	s.Stop("stopped")
	close(w.release)
	res := <-done
	if res.Dropped != st.Dropped || res.Written != SmallSlots+BigSlots {
		t.Fatalf("result %+v, want %d dropped and %d written", res, st.Dropped, SmallSlots+BigSlots)
	}
}

// The tap's work in the forwarding goroutine (filter, copy into a free
// slot) allocates nothing.
func TestTapAllocatesNothing(t *testing.T) {
	s, _ := NewSession(PortInfo{Port: "p"}, Options{Filter: "tcp or udp"})
	batch := packets(corpus(t)[:8])
	outs := make([]datapath.Out, len(batch))
	for i, p := range batch {
		outs[i] = datapath.Out{Pkt: p}
	}
	drain := func() {
		for {
			select {
			case sl := <-s.full:
				s.put(sl)
			default:
				return
			}
		}
	}
	if n := testing.AllocsPerRun(500, func() {
		s.Received(nil, batch)
		s.Sent(nil, outs)
		drain()
	}); n != 0 {
		t.Fatalf("the tap allocates %v per batch", n)
	}
}

func TestTunnelPacketsCarryVNIAndRemote(t *testing.T) {
	s, _ := NewSession(PortInfo{Port: "vx0", Type: "vxlan", Tunnel: true}, Options{})
	fs := corpus(t)
	ep, _ := datapath.InternEndpoint(netip.MustParseAddr("198.18.0.2"))
	in := packets(fs[:1])
	in[0].Tunnel = datapath.TunnelMeta{Valid: true, VNI: 5001, Remote: ep}
	s.Received(nil, in)
	out := packets(fs[1:3])
	s.Sent(nil, []datapath.Out{{Pkt: out[0], VNI: 5002, Remote: ep}, {Pkt: out[1], VNI: 5002}})
	out[0].Offload.Type, out[0].Offload.Size = 1, 1448
	s.Stop("stopped")
	var buf bytes.Buffer
	if _, err := s.Run(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := readNg(t, buf.Bytes())
	want := []string{"vni 5001, from remote VTEP 198.18.0.2", "vni 5002, to remote VTEP 198.18.0.2", "vni 5002, flooded to every remote VTEP (or the group)"}
	if len(got) != 3 {
		t.Fatalf("%d packets", len(got))
	}
	for i, w := range want {
		if len(got[i].comments) == 0 || got[i].comments[0] != w {
			t.Errorf("packet %d comments %q, want %q", i, got[i].comments, w)
		}
	}
	// tshark reads the file and shows the comments.
	checkTshark(t, buf.Bytes(), want)
}

func checkTshark(t *testing.T, b []byte, comments []string) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Geteuid() == 0 {
			t.Fatal("tshark is missing (CI installs it)")
		}
		t.Skip("needs tshark")
	}
	f := filepath.Join(t.TempDir(), "c.pcapng")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", "-r", f, "-T", "fields", "-e", "frame.comment", "-e", "frame.packet_flags_direction").CombinedOutput()
	if err != nil {
		// Older field name.
		out, err = exec.Command("tshark", "-r", f, "-T", "fields", "-e", "pkt_comment", "-e", "frame.packet_flags_direction").CombinedOutput()
	}
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, out)
	}
	for _, c := range comments {
		if !strings.Contains(string(out), c) {
			t.Errorf("tshark output lacks %q:\n%s", c, out)
		}
	}
	if tout, err := exec.Command("tcpdump", "-nn", "-r", f).CombinedOutput(); err != nil || strings.Count(string(tout), "\n") < len(comments) {
		t.Errorf("tcpdump -r: %v\n%s", err, tout)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, c := range []struct {
		o     Options
		field string
	}{
		{Options{Count: -1}, "count"}, {Options{SnapLen: 1 << 20}, "snaplen"}, {Options{Duration: -time.Second}, "duration"},
		{Options{Filter: "tcp port"}, "filter"}, {Options{Direction: 7}, "direction"},
	} {
		_, err := NewSession(PortInfo{}, c.o)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: %v, want an error naming %s", c.o, err, c.field)
		}
	}
	if _, err := ParseDirection("sideways"); err == nil || !strings.Contains(err.Error(), "in, out, both") {
		t.Fatalf("direction: %v", err)
	}
}

// The cost of a capture on the forwarding path: a bridge forwarding
// 64-frame batches with no capture, with a capture whose filter matches
// nothing, and with one that copies every frame.
func BenchmarkForwardingWithCapture(b *testing.B) {
	fs := corpus(b)
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = fs[[]int{0, 2, 3, 4}[i%4]]
	}
	for _, mode := range []string{"off", "filter-miss", "all"} {
		b.Run(mode, func(b *testing.B) {
			br, _ := datapath.NewBridge("br0", datapath.BridgeConfig{})
			p1, _ := br.AddPort("p1", nullSink{}, datapath.PortConfig{})
			p2, _ := br.AddPort("p2", nullSink{}, datapath.PortConfig{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if mode != "off" {
				flt := ""
				if mode == "filter-miss" {
					flt = "udp port 9"
				}
				s, _ := NewSession(PortInfo{Port: "p2"}, Options{Filter: flt})
				defer Attach(p2, s)()
				go func() { _, _ = s.Run(ctx, io.Discard, nil) }()
			}
			batch := packets(frames)
			p1.Receive(batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p1.Receive(batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/frame")
		})
	}
}

type nullSink struct{}

func (nullSink) Send([]datapath.Out) {}
