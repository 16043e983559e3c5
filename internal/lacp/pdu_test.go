package lacp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/packet"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ovsLACPDU is an LACPDU Open vSwitch 3.1 sent on this machine
// (shared/notes/l2-peers.md §7): actor 02:00:00:00:0b:00 port 2 key 1 state
// 0x3f, partner 02:00:00:00:0a:00, 124 bytes (the
// notes say "+ 76 x 00"; the frame is 60 bytes of fields and 64 of zeros).
func ovsLACPDU(t testing.TB) []byte {
	b := unhex(t, `01 80 c2 00 00 02 32 92 df ba 05 35 88 09 01 01 01 14 ff fe 02 00 00 00 0b 00 00 01 ff ff 00 02
3f 00 00 00 02 14 ff fe 02 00 00 00 0a 00 00 01 ff ff 00 02 3f 00 00 00 03 10 00 00`)
	return append(b, make([]byte, 64)...)
}

func TestDecodeOVSLACPDU(t *testing.T) {
	f := ovsLACPDU(t)
	if len(f) != FrameLen {
		t.Fatalf("vector is %d bytes, want %d", len(f), FrameLen)
	}
	sub, pdu, _, err := DecodeFrame(f)
	if err != nil || sub != SubtypeLACP {
		t.Fatalf("decode: subtype %d, %v", sub, err)
	}
	want := PDU{Version: 1,
		Actor: Info{SystemPriority: 65534, System: packet.MAC{2, 0, 0, 0, 0x0b, 0}, Key: 1, PortPriority: 65535, Port: 2,
			State: StateActivity | StateTimeout | StateAggregation | StateSync | StateCollecting | StateDistributing},
		Partner: Info{SystemPriority: 65534, System: packet.MAC{2, 0, 0, 0, 0x0a, 0}, Key: 1, PortPriority: 65535, Port: 2,
			State: 0x3f}}
	if pdu != want {
		t.Fatalf("decoded %+v\nwant    %+v", pdu, want)
	}
	if got := pdu.Actor.State.String(); got != "activity timeout aggregation synchronized collecting distributing" {
		t.Fatalf("state words %q", got)
	}
	// Encoding it again from the same source gives the same bytes.
	src := packet.MAC(f[6:12])
	if enc := pdu.AppendFrame(nil, src); !bytes.Equal(enc, f) {
		t.Fatalf("re-encoded frame differs:\n%x\n%x", enc, f)
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	m := Marker{Port: 7, System: packet.MAC{2, 0, 0, 0, 0, 9}, TransactionID: 0xdeadbeef}
	f := m.AppendFrame(nil, packet.MAC{2, 0, 0, 0, 0, 1})
	sub, _, got, err := DecodeFrame(f)
	if err != nil || sub != SubtypeMarker || got != m {
		t.Fatalf("marker: %d %+v %v", sub, got, err)
	}
	m.Response = true
	_, _, got, _ = DecodeFrame(m.AppendFrame(nil, packet.MAC{2, 0, 0, 0, 0, 1}))
	if !got.Response || got.TransactionID != m.TransactionID {
		t.Fatalf("response: %+v", got)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := ovsLACPDU(t)
	cases := map[string]struct {
		mod  func([]byte) []byte
		want error
	}{
		"short":         {func(b []byte) []byte { return b[:40] }, ErrTruncated},
		"not slow":      {func(b []byte) []byte { b[12] = 0x08; return b }, ErrNotSlow},
		"subtype 9":     {func(b []byte) []byte { b[14] = 9; return b }, ErrSubtype},
		"version 0":     {func(b []byte) []byte { b[15] = 0; return b }, ErrBadVersion},
		"actor tlv":     {func(b []byte) []byte { b[16] = 7; return b }, ErrBadTLV},
		"partner len":   {func(b []byte) []byte { b[37] = 19; return b }, ErrBadTLV},
		"collector tlv": {func(b []byte) []byte { b[56] = 0; return b }, ErrBadTLV},
	}
	for name, c := range cases {
		f := c.mod(append([]byte(nil), good...))
		if _, _, _, err := DecodeFrame(f); err != c.want {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	f := ovsLACPDU(t)
	if n := testing.AllocsPerRun(100, func() { _, _, _, _ = DecodeFrame(f) }); n != 0 {
		t.Fatalf("DecodeFrame allocates %v times", n)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(ovsLACPDU(f))
	m := Marker{Port: 1}
	f.Add(m.AppendFrame(nil, packet.MAC{2}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sub, pdu, mk, err := DecodeFrame(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to a frame that decodes the same.
		var enc []byte
		switch sub {
		case SubtypeLACP:
			enc = pdu.AppendFrame(nil, packet.MAC(b[6:12]))
		case SubtypeMarker:
			enc = mk.AppendFrame(nil, packet.MAC(b[6:12]))
		}
		sub2, pdu2, mk2, err := DecodeFrame(enc)
		if err != nil || sub2 != sub || pdu2 != pdu || mk2 != mk {
			t.Fatalf("round trip: %v %+v %+v", err, pdu2, mk2)
		}
	})
}

// FuzzAggregator feeds arbitrary frames to a two-member aggregator: it
// must never panic, and a member without carrier never may carry traffic.
func FuzzAggregator(f *testing.F) {
	f.Add(ovsLACPDU(f), uint8(0), uint8(10))
	f.Fuzz(func(t *testing.T, frame []byte, member, step uint8) {
		now := time.Unix(100, 0)
		a, _ := New(Config{SystemID: packet.MAC{2, 0, 0, 0, 0xa, 0}, Rate: Rate(step % 2), FallbackAB: step%3 == 0})
		for i := 0; i < 2; i++ {
			_ = a.AddMember(i, MemberConfig{PortID: uint16(i + 1), MAC: packet.MAC{2, 0, 0, 0, 1, byte(i)}}, now)
		}
		a.SetCarrier(0, true, now)
		m := int(member % 2)
		for i := 0; i < 5; i++ {
			a.Receive(m, frame, now)
			now = now.Add(time.Duration(step) * 100 * time.Millisecond)
			a.Tick(now)
		}
		if a.MayEnable(1) {
			t.Fatal("member without carrier may enable")
		}
	})
}
