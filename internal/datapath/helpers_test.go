package datapath

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// memPort is an in-memory device that records what the bridge sends it.
type memPort struct {
	mu     sync.Mutex
	frames [][]byte
	outs   []Out
	keep   bool // keep copies of frames (tests); off in benchmarks
	n      int
}

func (m *memPort) Send(batch []Out) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n += len(batch)
	if !m.keep {
		return
	}
	for _, o := range batch {
		m.frames = append(m.frames, append([]byte(nil), o.Pkt.Data()...))
		o.Pkt = nil
		m.outs = append(m.outs, o)
	}
}

func (m *memPort) take() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.frames
	m.frames, m.outs = nil, nil
	return f
}

func mac(i int) [6]byte { return [6]byte{0x02, 0, 0, 0, byte(i >> 8), byte(i)} }

var bcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// frame builds an Ethernet frame; tci < 0 means untagged.
func frame(dst, src [6]byte, tci int, payload int) []byte {
	b := make([]byte, 0, 64+payload)
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	if tci >= 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, uint16(tci))
	}
	b = binary.BigEndian.AppendUint16(b, 0x0800)
	for i := 0; i < payload; i++ {
		b = append(b, byte(i))
	}
	return b
}

// tagOf returns the frame's 802.1Q TCI, or -1 if untagged.
func tagOf(f []byte) int {
	if len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == 0x8100 {
		return int(binary.BigEndian.Uint16(f[14:]))
	}
	return -1
}

type testBridge struct {
	t     testing.TB
	b     *Bridge
	ports map[string]*Port
	devs  map[string]*memPort
}

func newTestBridge(t testing.TB, cfg BridgeConfig) *testBridge {
	b, err := NewBridge("br-test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testBridge{t: t, b: b, ports: map[string]*Port{}, devs: map[string]*memPort{}}
}

func (tb *testBridge) add(name string, cfg PortConfig) *Port {
	d := &memPort{keep: true}
	p, err := tb.b.AddPort(name, d, cfg)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.ports[name], tb.devs[name] = p, d
	return p
}

// send injects frames on port name.
func (tb *testBridge) send(name string, frames ...[]byte) {
	pkts := make([]*Packet, len(frames))
	for i, f := range frames {
		pkts[i] = NewPacket(len(f) + 64)
		pkts[i].SetData(f)
	}
	tb.ports[name].Receive(pkts)
}

// got returns and clears what each port received: name → frames.
func (tb *testBridge) got() map[string][][]byte {
	m := map[string][][]byte{}
	for n, d := range tb.devs {
		if f := d.take(); len(f) > 0 {
			m[n] = f
		}
	}
	return m
}

func (tb *testBridge) drops(name string, r DropReason) uint64 {
	return tb.ports[name].Counters().Drops[r].Load()
}

func access(vlan uint16) PortConfig { return PortConfig{Mode: ModeAccess, VLAN: vlan} }

func trunk(list string, native uint16, nativeTagged bool) PortConfig {
	set, err := ParseVLANList(list)
	if err != nil {
		panic(err)
	}
	return PortConfig{Mode: ModeTrunk, Trunks: set, NativeVLAN: native, NativeTagged: nativeTagged}
}

// keys summarises who got how many frames: "a:1 c:2".
func keys(m map[string][][]byte) string {
	var l []string
	for n, f := range m {
		l = append(l, fmt.Sprintf("%s:%d", n, len(f)))
	}
	slices.Sort(l)
	return strings.Join(l, " ")
}
