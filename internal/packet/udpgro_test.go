package packet

import (
	"bytes"
	"fmt"
	"testing"
)

// udpGROAll merges datagrams that must all merge into one super-frame.
func udpGROAll(t *testing.T, b *UDPGROBuilder, dst []byte, frames [][]byte) ([]byte, GSO) {
	t.Helper()
	for i, fr := range frames {
		f, ok := ParseUDPGRO(fr)
		if !ok {
			t.Fatalf("datagram %d not mergeable", i)
		}
		if i == 0 {
			if !b.Start(dst, fr, f) {
				t.Fatal("Start refused")
			}
			continue
		}
		if !b.TryAppend(fr, f) {
			t.Fatalf("datagram %d refused", i)
		}
	}
	return b.Finish()
}

func TestUDPSegmentGRORoundTrip(t *testing.T) {
	dst := make([]byte, 65535+22)
	var b UDPGROBuilder
	for _, v6 := range []bool{false, true} {
		for _, tags := range []int{0, 1, 2} {
			for _, c := range []struct{ payload, size int }{{2 * 22, 22}, {64*1200 - 1000, 1200}, {10*64 + 5, 64}} {
				if c.payload > 65000 {
					c.payload = 60 * 1000
					c.size = 1000
				}
				s := frameSpec{v6: v6, udp: true, tags: tags, payload: c.payload, id: 7, partial: true, seed: uint64(c.payload)}
				name := fmt.Sprintf("v6=%v/tags=%d/payload=%d/size=%d", v6, tags, c.payload, c.size)
				super := s.build()
				g := s.gso(c.size)
				segs := segmentAll(t, super, g)
				for i, d := range segs {
					if !UDPChecksumValid(d) {
						t.Fatalf("%s: datagram %d checksum", name, i)
					}
				}
				merged, mg := udpGROAll(t, &b, dst, segs)
				want := GSO{Type: GSOTypeUDPL4, Size: c.size, HdrLen: s.hdrLen(), NeedsCsum: true, CsumStart: s.l4(), CsumOffset: 6}
				if mg != want || b.Segments() != len(segs) {
					t.Fatalf("%s: GSO %+v (%d datagrams), want %+v (%d)", name, mg, b.Segments(), want, len(segs))
				}
				if !bytes.Equal(merged, super) {
					t.Fatalf("%s: merged frame differs from the super-frame", name)
				}
				again := segmentAll(t, merged, mg)
				for i := range segs {
					if !bytes.Equal(again[i], segs[i]) {
						t.Fatalf("%s: re-segmented datagram %d differs", name, i)
					}
				}
			}
		}
	}
}

func TestUDPGRORefuses(t *testing.T) {
	dst := make([]byte, 65535+22)
	base := frameSpec{udp: true, payload: 4 * 100, partial: true}
	segs := segmentAll(t, base.build(), base.gso(100))
	start := func() *UDPGROBuilder {
		var b UDPGROBuilder
		f, _ := ParseUDPGRO(segs[0])
		if !b.Start(dst, segs[0], f) {
			t.Fatal("Start refused")
		}
		return &b
	}
	try := func(b *UDPGROBuilder, fr []byte) bool {
		f, ok := ParseUDPGRO(fr)
		return ok && b.TryAppend(fr, f)
	}
	other := frameSpec{udp: true, payload: 100, partial: true, port: 40001}
	if try(start(), other.build()) {
		t.Fatal("another flow merged")
	}
	bigger := frameSpec{udp: true, payload: 101, partial: true}
	if try(start(), bigger.build()) {
		t.Fatal("a larger datagram merged")
	}
	b := start()
	short := frameSpec{udp: true, payload: 50, partial: true}
	if !try(b, short.build()) || try(b, segs[1]) {
		t.Fatal("a short datagram must merge and end the run")
	}
	tcp := frameSpec{payload: 100, partial: true}
	if _, ok := ParseUDPGRO(tcp.build()); ok {
		t.Fatal("TCP parsed as UDP")
	}
	b = start()
	for i := 1; i < udpGROMaxSegs; i++ {
		if !try(b, segs[1]) {
			// Same bytes each time is fine: UDP has no sequence.
			t.Fatalf("datagram %d refused", i)
		}
	}
	if try(b, segs[1]) {
		t.Fatalf("more than %d datagrams merged", udpGROMaxSegs)
	}
	var nb UDPGROBuilder
	f0, _ := ParseUDPGRO(segs[0])
	f1, _ := ParseUDPGRO(segs[1])
	if n := testing.AllocsPerRun(100, func() {
		nb.Start(dst, segs[0], f0)
		nb.TryAppend(segs[1], f1)
		nb.Finish()
	}); n != 0 {
		t.Fatalf("UDP GRO allocates %.0f", n)
	}
}

// FuzzUDPGRO merges arbitrary frames: it must never panic, and every
// super-frame it builds must split back (Segment) into exactly the datagrams
// that went in.
func FuzzUDPGRO(f *testing.F) {
	for _, s := range []frameSpec{
		{udp: true, payload: 500, partial: true},
		{udp: true, v6: true, tags: 1, payload: 301, partial: true},
	} {
		segs := segmentAll(f, s.build(), s.gso(100))
		f.Add(joinFrames(segs))
		f.Add(joinFrames([][]byte{segs[0], segs[len(segs)-1], segs[1]}))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		dst := make([]byte, 65535+22)
		var b UDPGROBuilder
		var run [][]byte
		flush := func() {
			defer func() { b, run = UDPGROBuilder{}, run[:0] }()
			if len(run) < 2 {
				return
			}
			fr, g := b.Finish()
			if g.Type != GSOTypeUDPL4 || b.Segments() != len(run) {
				t.Fatalf("GSO %+v for %d datagrams", g, len(run))
			}
			n, maxLen := SegmentCount(fr, g)
			if n != len(run) {
				t.Fatalf("super-frame splits into %d, %d went in", n, len(run))
			}
			out := makeOut(n, maxLen)
			if _, err := Segment(fr, g, out); err != nil {
				t.Fatal(err)
			}
			for i := range run {
				in, _ := ParseUDPGRO(run[i])
				o, ok := ParseUDPGRO(out[i])
				if !ok || !bytes.Equal(out[i][o.PayloadOff:], run[i][in.PayloadOff:in.PayloadOff+in.PayloadLen]) || !UDPChecksumValid(out[i]) {
					t.Fatalf("datagram %d does not come back", i)
				}
			}
		}
		for _, fr := range splitFrames(stream) {
			u, ok := ParseUDPGRO(fr)
			if !ok {
				flush()
				continue
			}
			if b.Segments() > 0 && b.TryAppend(fr, u) {
				run = append(run, fr)
				continue
			}
			flush()
			if b.Start(dst, fr, u) {
				run = append(run, fr)
			}
		}
		flush()
	})
}
