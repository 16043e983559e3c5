package stp

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
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors captured on this machine (shared/notes/l2-peers.md §7).
const (
	// Linux bridge, root 4096/02:00:00:00:00:01, TC set, 52 bytes.
	kernelConfigHex = `01 80 c2 00 00 00 6a e2 32 91 b7 95 00 26 42 42 03 00 00 00 00 01 10 00 02 00 00 00 00 01 00 00
00 00 10 00 02 00 00 00 00 01 80 02 00 00 14 00 02 00 0f 00`
	// Open vSwitch 3.1 RSTP, role root, flags 0x79, cost 2000, 53 bytes.
	ovsRSTHex = `01 80 c2 00 00 00 ce bf d4 c1 c0 ab 00 27 42 42 03 00 00 02 02 79 10 00 02 00 00 00 50 01 00 00
07 d0 30 00 02 00 00 00 50 03 80 02 01 00 14 00 02 00 0f 00 00`
)

func TestDecodeKernelConfig(t *testing.T) {
	f := unhex(t, kernelConfigHex)
	b, err := DecodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	root := MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0, 1})
	want := BPDU{Version: 0, Type: TypeConfig, Flags: FlagTC, Root: root, Cost: 0, Bridge: root, Port: 0x8002,
		MessageAge: 0, MaxAge: 20 * time.Second, HelloTime: 2 * time.Second, ForwardDelay: 15 * time.Second}
	if b != want {
		t.Fatalf("decoded %+v\nwant    %+v", b, want)
	}
	if got := b.String(); got != "Conf. flags 0x01 Root = 4096/0/02:00:00:00:00:01 Cost = 0 Bridge = 4096/0/02:00:00:00:00:01 Port = 0x8002" {
		t.Fatalf("summary %q", got)
	}
	if enc := b.AppendFrame(nil, packet.MAC(f[6:12])); !bytes.Equal(enc, f) {
		t.Fatalf("re-encoded:\n%x\n%x", enc, f)
	}
}

func TestDecodeOVSRST(t *testing.T) {
	f := unhex(t, ovsRSTHex)
	b, err := DecodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != 2 || b.Type != TypeRST || b.Flags != 0x79 || b.role() != roleRootFlag || b.Cost != 2000 ||
		b.Root != MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0x50, 1}) || b.Bridge != MakeBridgeID(12288, packet.MAC{2, 0, 0, 0, 0x50, 3}) ||
		b.Port != 0x8002 || b.MessageAge != time.Second || b.MaxAge != 20*time.Second {
		t.Fatalf("decoded %+v", b)
	}
	if enc := b.AppendFrame(nil, packet.MAC(f[6:12])); !bytes.Equal(enc, f) {
		t.Fatalf("re-encoded:\n%x\n%x", enc, f)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := unhex(t, kernelConfigHex)
	cases := map[string]struct {
		mod  func([]byte) []byte
		want error
	}{
		"not group addr": {func(b []byte) []byte { b[5] = 1; return b }, ErrNotBPDU},
		"not llc":        {func(b []byte) []byte { b[14] = 0xaa; return b }, ErrNotBPDU},
		"length":         {func(b []byte) []byte { b[13] = 0x40; return b }, ErrTruncated},
		"protocol":       {func(b []byte) []byte { b[18] = 1; return b }, ErrProtocol},
		"type":           {func(b []byte) []byte { b[20] = 0x55; return b }, ErrType},
		"rst version 0":  {func(b []byte) []byte { b[20] = TypeRST; return b }, ErrType},
		"age":            {func(b []byte) []byte { b[44], b[45] = 0x14, 0; return b }, ErrAge},
		"short config":   {func(b []byte) []byte { b[13] = 0x20; return b[:14+0x20] }, ErrTruncated},
	}
	for name, c := range cases {
		if _, err := DecodeFrame(c.mod(append([]byte(nil), good...))); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A TCN is four bytes.
	tcn := (&BPDU{Type: TypeTCN}).AppendFrame(nil, packet.MAC{2})
	if b, err := DecodeFrame(tcn); err != nil || b.Type != TypeTCN || len(tcn) != 21 {
		t.Fatalf("tcn %v %d", err, len(tcn))
	}
	// An RST BPDU with role Unknown counts as a Configuration BPDU.
	rst := unhex(t, ovsRSTHex)
	rst[21] &^= FlagRoleMask
	if b, err := DecodeFrame(rst); err != nil || b.Type != TypeConfig {
		t.Fatalf("unknown role: %v %+v", err, b)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	f := unhex(t, ovsRSTHex)
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeFrame(f) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func FuzzDecodeBPDU(f *testing.F) {
	f.Add(unhex(f, kernelConfigHex))
	f.Add(unhex(f, ovsRSTHex))
	f.Add((&BPDU{Type: TypeTCN}).AppendFrame(nil, packet.MAC{2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeFrame(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes to a frame that decodes the same (an
		// unknown-role RST became a Configuration BPDU; times are kept in
		// 1/256 s, so they round-trip).
		enc := p.AppendFrame(nil, packet.MAC(b[6:12]))
		q, err := DecodeFrame(enc)
		if p.Type == TypeTCN {
			p = BPDU{Version: p.Version, Type: TypeTCN}
		}
		if err != nil || q != p {
			t.Fatalf("round trip %+v → %v %+v", p, err, q)
		}
	})
}

// A bridge fed garbage on a port counts it and keeps its tree.
func TestReceiveGarbageCounted(t *testing.T) {
	for _, proto := range protocols {
		now := time.Unix(1, 0)
		b, _ := New(Config{Protocol: proto, Address: packet.MAC{2, 0, 0, 0, 0, 9}}, now)
		_, _ = b.AddPort(1, PortConfig{}, now)
		b.SetLink(1, true, 0, now)
		f := unhex(t, kernelConfigHex)
		f[18] = 9 // protocol id
		b.Receive(1, f, now)
		b.Receive(1, []byte{1, 2, 3}, now)
		if c := b.Status(now).Ports[0].Counters; c.RxBad != 1 {
			t.Fatalf("%s: counters %+v", proto, c)
		}
		if !b.Status(now).IsRoot {
			t.Fatalf("%s: lost its tree to garbage", proto)
		}
	}
}

// FuzzBridge feeds arbitrary frames, link events and time steps to an STP
// and an RSTP bridge of three ports: they must never panic, their machines
// must settle, and a port never forwards while its link is down.
func FuzzBridge(f *testing.F) {
	f.Add(unhex(f, kernelConfigHex), uint8(1), uint8(3))
	f.Add(unhex(f, ovsRSTHex), uint8(2), uint8(200))
	f.Fuzz(func(t *testing.T, frame []byte, port, step uint8) {
		for _, proto := range protocols {
			now := time.Unix(100, 0)
			b, _ := New(Config{Protocol: proto, Address: packet.MAC{2, 0, 0, 0, 0, 9}, HelloTime: time.Second, MaxAge: 6 * time.Second, ForwardDelay: 4 * time.Second}, now)
			for no := uint16(1); no <= 3; no++ {
				_, _ = b.AddPort(no, PortConfig{Edge: EdgeMode(no % 3), BPDUGuard: no == 3, RootGuard: no == 2}, now)
				b.SetLink(no, true, 10000, now)
			}
			no := uint16(port%3) + 1
			for i := 0; i < 4; i++ {
				b.Receive(no, frame, now)
				now = now.Add(time.Duration(step) * 50 * time.Millisecond)
				b.Tick(now)
				if step%5 == 0 {
					b.SetLink(no, i%2 == 1, 10000, now)
				}
			}
			for p := uint16(1); p <= 3; p++ {
				st, _ := b.PortState(p)
				if bp := b.ports[p]; !bp.enabled() && st != Disabled {
					t.Fatalf("%s: port %d %s with its link down", proto, p, st)
				}
			}
		}
	})
}
