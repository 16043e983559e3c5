package packet

import (
	"bytes"
	"errors"
	"testing"
)

// segmentSeeds are valid super-frames with their GSO descriptions.
func segmentSeeds() []struct {
	frame []byte
	g     GSO
} {
	var seeds []struct {
		frame []byte
		g     GSO
	}
	for _, s := range []frameSpec{
		{payload: 600, tcpOpts: tsOpts, partial: true, flags: tcpACK | tcpPSH | tcpFIN | tcpCWR},
		{v6: true, tags: 1, payload: 400, partial: true},
		{udp: true, tags: 2, payload: 300, partial: true},
		{v6: true, udp: true, payload: 100},
		{ipOpts: 8, payload: 77},
		{payload: 2, pad: 6},
		{payload: 40, tags: 1, tcpOpts: tsOpts, partial: true, flags: tcpACK | tcpFIN},
	} {
		for _, size := range []int{7, 100, 1448} {
			seeds = append(seeds, struct {
				frame []byte
				g     GSO
			}{s.build(), s.gso(size)})
		}
	}
	return seeds
}

func FuzzSegment(f *testing.F) {
	for _, s := range segmentSeeds() {
		f.Add(s.frame, s.g.Type, uint16(s.g.Size), s.g.NeedsCsum, uint16(s.g.CsumStart), uint16(s.g.CsumOffset), uint8(0), uint16(0))
		f.Add(s.frame, uint8(GSOTypeNone), uint16(0), true, uint16(s.g.CsumStart), uint16(s.g.CsumOffset), uint8(0), uint16(0))
	}
	for _, fr := range readPcap(f, "crafted-tunnels.pcap") {
		f.Add(append([]byte(nil), fr...), uint8(GSOTypeUDPL4), uint16(64), true, uint16(34), uint16(6), uint8(0), uint16(0))
	}
	// shrink: 0 gives every segment exactly the room SegmentCount asks for;
	// 1..127 takes that many bytes from the buffer of segment shrinkAt; 128+
	// gives (shrink-128) buffers fewer.
	f.Fuzz(func(t *testing.T, frame []byte, typ uint8, size uint16, needs bool, cstart, coff uint16, shrink uint8, shrinkAt uint16) {
		g := GSO{Type: typ, Size: int(size), HdrLen: 7, NeedsCsum: needs, CsumStart: int(cstart), CsumOffset: int(coff)}
		orig := append([]byte(nil), frame...)
		n, maxLen := SegmentCount(frame, g)
		if n == 0 {
			out := makeOut(2, len(frame)+64)
			if k, err := Segment(frame, g, out); err == nil || k != 0 {
				t.Fatalf("SegmentCount 0 but Segment gave %d, %v", k, err)
			}
			return
		}
		if n > 4096 || n*maxLen > 8<<20 {
			// Keep the buffers small; still exercise the count check.
			if _, err := Segment(frame, g, makeOut(1, maxLen)); n > 1 && !errors.Is(err, ErrGSOOutBuffers) {
				t.Fatalf("%d segments into one buffer: %v", n, err)
			}
			return
		}
		nb, want := n, error(nil)
		if shrink >= 128 {
			if d := int(shrink - 128); d > 0 {
				nb, want = max(0, n-d), ErrGSOOutBuffers
			}
		}
		out := fuzzOut(nb, maxLen)
		if shrink > 0 && shrink < 128 && nb > 0 {
			i := int(shrinkAt) % nb
			need := segNeed(frame, g, n, i)
			if c := need - int(shrink); c >= 0 {
				out[i] = make([]byte, 0, c)
				want = ErrGSOBufferSmall
			}
		}
		k, err := Segment(frame, g, out)
		if !bytes.Equal(frame, orig) {
			t.Fatal("Segment modified its input")
		}
		if want != nil {
			if !errors.Is(err, want) || k != 0 {
				t.Fatalf("got %d, %v; want %v", k, err, want)
			}
			return
		}
		if err != nil || k != n {
			t.Fatalf("SegmentCount %d, Segment %d, %v", n, k, err)
		}
		if g.Type == GSOTypeNone {
			got := out[0]
			if len(got) != len(frame) {
				t.Fatal("GSOTypeNone changed the length")
			}
			if !needs {
				if !bytes.Equal(got, frame) {
					t.Fatal("GSOTypeNone without NEEDS_CSUM changed the frame")
				}
				return
			}
			at := g.CsumStart + g.CsumOffset
			if !bytes.Equal(got[:at], frame[:at]) || !bytes.Equal(got[at+2:], frame[at+2:]) {
				t.Fatal("FinishChecksum changed more than the field")
			}
			// Adding back the pseudo-header sum the field held must verify.
			if g.CsumOffset%2 == 0 {
				p := uint32(be.Uint16(frame[at:]))
				if s := Fold(Checksum(got[g.CsumStart:], 0) + p); s != 0xffff {
					t.Fatalf("finished checksum sums to %#04x", s)
				}
			}
			return
		}
		// Every segment of an accepted super-frame verifies, and the payloads
		// concatenate back to the super-frame's.
		hl, err := GSOHeaderLen(frame, g)
		if err != nil {
			t.Fatal(err)
		}
		off := hl
		for i := 0; i < k; i++ {
			if len(out[i]) > maxLen || len(out[i]) < hl {
				t.Fatalf("segment %d: length %d, max %d, headers %d", i, len(out[i]), maxLen, hl)
			}
			p, err := parseSeg(out[i])
			if err != nil {
				t.Fatalf("segment %d/%d: %v", i, k, err)
			}
			if i < k-1 && len(p.payload) != g.Size {
				t.Fatalf("segment %d: payload %d, gso_size %d", i, len(p.payload), g.Size)
			}
			if len(out[i]) != segNeed(frame, g, n, i) {
				t.Fatalf("segment %d: length %d, want %d", i, len(out[i]), segNeed(frame, g, n, i))
			}
			if !bytes.Equal(out[i][:12], frame[:12]) {
				t.Fatal("MAC addresses changed")
			}
			if !bytes.Equal(p.payload, frame[off:off+len(p.payload)]) {
				t.Fatalf("segment %d: payload is not the super-frame's at %d", i, off)
			}
			off += len(p.payload)
		}
		if end := segNeed(frame, g, 1, 0); off != end {
			t.Fatalf("segments carry the payload up to %d, the super-frame's ends at %d", off, end)
		}
	})
}

// fuzzSlab backs the out buffers of FuzzSegment, reused between runs.
var (
	fuzzSlab [8 << 20]byte
	fuzzBufs [4096][]byte
)

// fuzzOut returns n empty buffers of capacity size each (n*size must fit
// fuzzSlab).
func fuzzOut(n, size int) [][]byte {
	for i := 0; i < n; i++ {
		fuzzBufs[i] = fuzzSlab[i*size : i*size : (i+1)*size]
	}
	return fuzzBufs[:n:n]
}

// segNeed is the length of segment i of n, computed from the headers
// independently of Segment.
func segNeed(frame []byte, g GSO, n, i int) int {
	if g.Type == GSOTypeNone {
		return len(frame)
	}
	hl, err := GSOHeaderLen(frame, g)
	if err != nil {
		return -1
	}
	if i < n-1 {
		return hl + g.Size
	}
	l, _ := ParseL2(frame)
	end := l.L3 + IPv6Len + IPv6(frame[l.L3:]).PayloadLen()
	if l.EtherType == EtherTypeIPv4 {
		end = l.L3 + IPv4(frame[l.L3:]).TotalLen()
	}
	return end - (n-1)*g.Size
}

// fuzzFixSums recomputes the IPv4 header checksum (fix&1) and the TCP
// checksum (fix&2) of whatever in fr parses as such.
func fuzzFixSums(fr []byte, fix uint8) {
	l, err := ParseL2(fr)
	if err != nil {
		return
	}
	switch l.EtherType {
	case EtherTypeIPv4:
		ip, err := ParseIPv4(fr[l.L3:])
		if err != nil {
			return
		}
		if fix&1 != 0 {
			ip.SetHeaderChecksum()
		}
		if t, err := ParseTCP(ip.Payload()); err == nil && fix&2 != 0 && ip.Protocol() == ProtoTCP {
			t.SetChecksum(ip.PseudoSum())
		}
	case EtherTypeIPv6:
		ip, err := ParseIPv6(fr[l.L3:])
		if err != nil || ip.NextHeader() != ProtoTCP {
			return
		}
		if t, err := ParseTCP(ip[IPv6Len:]); err == nil && fix&2 != 0 {
			t.SetChecksum(ip.PseudoSum(ProtoTCP, len(t)))
		}
	}
}

// splitFrames cuts a fuzz input into frames, each prefixed by a 2-byte
// length.
func splitFrames(b []byte) [][]byte {
	var frames [][]byte
	for len(b) >= 2 && len(frames) < 128 {
		n := int(be.Uint16(b))
		b = b[2:]
		n = min(n, len(b))
		frames = append(frames, b[:n:n])
		b = b[n:]
	}
	return frames
}

func joinFrames(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = be.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func FuzzGRO(f *testing.F) {
	for _, s := range []frameSpec{
		{payload: 500, tcpOpts: tsOpts, partial: true, flags: tcpACK | tcpPSH},
		{v6: true, tags: 1, payload: 301, partial: true},
		{tags: 2, payload: 250, partial: true},
	} {
		segs := segmentAll(f, s.build(), s.gso(100))
		f.Add(joinFrames(segs), uint16(0), uint8(0))
		f.Add(joinFrames(segs), uint16(len(segs[0])+150), uint8(3))
		f.Add(joinFrames([][]byte{segs[0], segs[2], segs[1], segs[1]}), uint16(0), uint8(1))
	}
	// fix: bit 0 recomputes each frame's IPv4 header checksum and bit 1 its
	// TCP checksum, so that mutated headers still reach the merge logic.
	f.Fuzz(func(t *testing.T, stream []byte, dstLen uint16, fix uint8) {
		frames := splitFrames(stream)
		for _, fr := range frames {
			fuzzFixSums(fr, fix)
		}
		size := 65535 + 22
		if dstLen != 0 {
			size = int(dstLen)
		}
		dst := make([]byte, size)
		var b GROBuilder
		var run [][]byte // the frames in the current run
		flush := func() {
			if len(run) == 0 {
				return
			}
			fr, g := b.Finish()
			defer func() { b, run = GROBuilder{}, run[:0] }()
			switch {
			case len(run) == 1:
				if !bytes.Equal(fr, run[0]) || g != (GSO{}) {
					t.Fatal("a single segment did not come back unchanged")
				}
				return
			}
			if b.Segments() != len(run) {
				t.Fatalf("Segments %d, run %d", b.Segments(), len(run))
			}
			if len(fr) > len(dst) || len(fr) > 65535+22 {
				t.Fatalf("merged frame of %d bytes", len(fr))
			}
			if mf, ok := ParseGRO(fr); !ok || mf.PayloadOff != g.HdrLen || mf.L4 != g.CsumStart {
				// The merged frame is itself a mergeable TCP frame.
				t.Fatal("merged frame does not parse")
			}
			merged := append([]byte(nil), fr...)
			if err := FinishChecksum(merged, g.CsumStart, g.CsumOffset); err != nil {
				t.Fatal(err)
			}
			allValid := true
			for _, r := range run {
				allValid = allValid && TCPChecksumValid(r)
			}
			if allValid && !TCPChecksumValid(merged) {
				t.Fatal("segments with valid checksums merged into an invalid one")
			}
			// Segmenting the merged frame gives back the runs' payloads and
			// sequence numbers.
			segs := segmentAll(t, fr, g)
			if len(segs) != len(run) {
				t.Fatalf("merged %d segments, re-segmented into %d", len(run), len(segs))
			}
			for i := range segs {
				p, err := parseSeg(segs[i])
				if err != nil {
					t.Fatalf("re-segmented %d: %v", i, err)
				}
				fo, _ := ParseGRO(run[i])
				fs, ok := ParseGRO(segs[i])
				if !ok || fs.Seq != fo.Seq || fs.Key != fo.Key || !bytes.Equal(p.payload, run[i][fo.PayloadOff:fo.PayloadOff+fo.PayloadLen]) {
					t.Fatalf("re-segmented %d differs from the input segment", i)
				}
			}
		}
		for _, fr := range frames {
			fl, ok := ParseGRO(fr)
			if !ok {
				flush()
				continue
			}
			if fl.PayloadOff+fl.PayloadLen > len(fr) || fl.PayloadLen <= 0 || fl.L4+fl.TCPHdrLen != fl.PayloadOff {
				t.Fatalf("ParseGRO layout %+v for %d bytes", fl, len(fr))
			}
			if len(run) > 0 && b.TryAppend(fr, fl) {
				run = append(run, fr)
				continue
			}
			flush()
			if b.Start(dst, fr, fl) {
				run = append(run, fr)
			} else if len(fr) <= len(dst) {
				t.Fatal("Start refused a mergeable frame that fits dst")
			}
		}
		flush()
	})
}
