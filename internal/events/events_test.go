package events

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

func TestRingKeepsTheLastEventsInOrder(t *testing.T) {
	l := New(8, nil)
	for i := 0; i < 20; i++ {
		l.Add(Event{Kind: PortUp, Message: fmt.Sprint(i)})
	}
	got := l.Events(Query{})
	if len(got) != 8 || got[0].Seq != 13 || got[7].Seq != 20 || got[7].Message != "19" {
		t.Fatalf("kept %d events, first seq %d last seq %d", len(got), got[0].Seq, got[len(got)-1].Seq)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("out of order: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	if n := len(l.Events(Query{Since: 17})); n != 3 {
		t.Fatalf("since 17: %d events, want 3", n)
	}
	if n := len(l.Events(Query{Last: 2})); n != 2 {
		t.Fatalf("last 2: %d", n)
	}
}

func TestQueryKindSelectsFamilies(t *testing.T) {
	l := New(0, nil)
	for _, k := range []string{FDBMove, FDBFull, PortUp, PortDown, RemoteLearned, ConfigChange} {
		l.Add(Event{Kind: k})
	}
	for kind, want := range map[string]int{"fdb": 2, "fdb.full": 1, "port": 2, "port.": 2, "tunnel": 1, "tunnel.remote": 1, "config": 1, "po": 0, "": 6} {
		if n := len(l.Events(Query{Kind: kind})); n != want {
			t.Errorf("kind %q: %d events, want %d", kind, n, want)
		}
	}
}

func TestFollowSeesEveryEventOnceAndSlowFollowersAreCounted(t *testing.T) {
	l := New(100, nil)
	l.Add(Event{Kind: PortUp})
	l.Add(Event{Kind: PortDown})
	backlog, sub := l.Follow(Query{}, 4)
	defer sub.Close()
	if len(backlog) != 2 {
		t.Fatalf("backlog %d", len(backlog))
	}
	for i := 0; i < 10; i++ {
		l.Add(Event{Kind: PortUp})
	}
	var got []uint64
	for len(got) < 4 {
		got = append(got, (<-sub.C()).Seq)
	}
	if got[0] != 3 || got[3] != 6 {
		t.Fatalf("follower got %v, want 3..6", got)
	}
	if sub.Missed() != 6 || l.Lagged() != 6 {
		t.Fatalf("missed %d lagged %d, want 6", sub.Missed(), l.Lagged())
	}
	sub.Close()
	sub.Close() // twice is fine
	l.Add(Event{Kind: PortUp})
	if _, ok := <-sub.C(); ok {
		t.Fatal("closed subscription still receives")
	}
}

func TestEventsGoToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := New(10, slog.New(slog.NewTextHandler(&buf, nil)))
	l.Add(Event{Kind: FDBMove, Severity: Warning, Bridge: "br0", MAC: "02:00:00:00:00:01", VLAN: VLANOf(10), From: "a", To: "b", Message: "moved"})
	out := buf.String()
	for _, want := range []string{"level=WARN", "msg=moved", "event=fdb.move", "bridge=br0", "mac=02:00:00:00:00:01", "vlan=10", "from=a", "to=b"} {
		if !strings.Contains(out, want) {
			t.Errorf("slog line lacks %q: %s", want, out)
		}
	}
}

// nullDev is a device that drops what it is sent.
type nullDev struct{}

func (nullDev) Send([]datapath.Out) {}

func frame(src, dst [6]byte) []byte {
	f := make([]byte, 60)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x08, 0x00
	return f
}

func send(p *datapath.Port, frames ...[]byte) {
	pkts := make([]*datapath.Packet, len(frames))
	for i, f := range frames {
		pkts[i] = datapath.NewPacket(len(f))
		pkts[i].SetData(f)
	}
	p.Receive(pkts)
}

func mac(i int) [6]byte { return [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)} }

// A full FDB in refuse mode: the first refusal is reported at once, the
// next ones within the window are counted into one later event, with the
// count the engine counted.
func TestFDBFullIsRateLimitedWithCounts(t *testing.T) {
	b, err := datapath.NewBridge("br0", datapath.BridgeConfig{MaxLearned: 4})
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := b.AddPort("p1", nullDev{}, datapath.PortConfig{})
	if _, err := b.AddPort("p2", nullDev{}, datapath.PortConfig{}); err != nil {
		t.Fatal(err)
	}
	wake := make(chan struct{}, 1)
	w := NewFDBWatcher(b, wake)
	b.SetFDBEvents(w)
	l := New(100, nil)
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for i := 1; i <= 5; i++ { // 4 learned, the 5th refused
		send(p1, frame(mac(i), bcast))
	}
	select {
	case <-wake:
	default:
		t.Fatal("a full table did not wake the drainer")
	}
	now := time.Now()
	w.Drain(now, l)
	ev := l.Events(Query{Kind: "fdb.full"})
	if len(ev) != 1 || ev[0].Count != 1 || ev[0].MAC != "02:00:00:00:00:05" || ev[0].Port != "p1" || ev[0].Reason != "refused" {
		t.Fatalf("first full event: %+v", ev)
	}
	for i := 6; i <= 105; i++ {
		send(p1, frame(mac(i), bcast))
	}
	w.Drain(now.Add(time.Second), l) // within the window: nothing new
	if n := len(l.Events(Query{Kind: "fdb.full"})); n != 1 {
		t.Fatalf("%d full events within the window, want 1", n)
	}
	w.Drain(now.Add(FullWindow+time.Second), l)
	ev = l.Events(Query{Kind: "fdb.full"})
	if len(ev) != 2 || ev[1].Count != 100 || ev[1].MAC != "02:00:00:00:00:06" {
		t.Fatalf("second full event: %+v", ev)
	}
	if st := b.Stats().FDB; st.Refused != 101 || w.Reported() != 101 {
		t.Fatalf("engine refused %d, events reported %d, want 101", st.Refused, w.Reported())
	}
	if !strings.Contains(ev[1].Message, "refused") || !strings.Contains(ev[1].Message, "4/4") {
		t.Fatalf("message: %s", ev[1].Message)
	}
}

func TestFDBMovesAreReportedThenSummarised(t *testing.T) {
	b, _ := datapath.NewBridge("br0", datapath.BridgeConfig{})
	p1, _ := b.AddPort("p1", nullDev{}, datapath.PortConfig{})
	p2, _ := b.AddPort("p2", nullDev{}, datapath.PortConfig{})
	w := NewFDBWatcher(b, nil)
	b.SetFDBEvents(w)
	l := New(1000, nil)
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	send(p1, frame(mac(1), bcast))
	send(p2, frame(mac(1), bcast)) // moves p1 → p2
	w.Drain(time.Now(), l)
	ev := l.Events(Query{Kind: FDBMove})
	if len(ev) != 1 || ev[0].From != "p1" || ev[0].To != "p2" || ev[0].MAC != "02:00:00:00:00:01" || *ev[0].VLAN != 0 {
		t.Fatalf("move event: %+v", ev)
	}
	// A flapping MAC: more moves than one drain reports.
	for i := 0; i < 50; i++ {
		send(p1, frame(mac(1), bcast))
		send(p2, frame(mac(1), bcast))
	}
	w.Drain(time.Now(), l)
	moves := l.Events(Query{Kind: FDBMove})
	lost := l.Events(Query{Kind: FDBMovesLost})

	if len(moves) != 1+MovesPerDrain || len(lost) != 1 || lost[0].Count != 100-MovesPerDrain {
		t.Fatalf("%d move events, lost %+v; want %d and a count of %d", len(moves), lost, 1+MovesPerDrain, 100-MovesPerDrain)
	}
	if st := b.Stats().FDB; st.Moved != 101 {
		t.Fatalf("engine counted %d moves", st.Moved)
	}
}

// The callbacks run on the forwarding path: they must not allocate.
func TestFDBCallbacksAllocateNothing(t *testing.T) {
	b, _ := datapath.NewBridge("br0", datapath.BridgeConfig{})
	w := NewFDBWatcher(b, make(chan struct{}, 1))
	m := mac(7)
	if n := testing.AllocsPerRun(1000, func() {
		w.Full(10, m, 1, false)
		w.Moved(10, m, 1, 2, 0, 0)
	}); n != 0 {
		t.Fatalf("callbacks allocate %v per call", n)
	}
}
