package lacp

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// readPcap returns the frames of a classic pcap file.
func readPcap(t *testing.T, name string) [][]byte {
	t.Helper()
	d, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(d) < 24 || le.Uint32(d) != 0xa1b2c3d4 || le.Uint32(d[20:]) != 1 {
		t.Fatalf("%s: not an Ethernet pcap", name)
	}
	var frames [][]byte
	for off := 24; off+16 <= len(d); {
		n := int(le.Uint32(d[off+8:]))
		frames = append(frames, d[off+16:off+16+n])
		off += 16 + n
	}
	return frames
}

// TestGoldenOVSCapture decodes every LACPDU of a capture taken on the
// first member of an Open vSwitch 3.1 bond (o1, which stays up) during
// TestLACPInteropOVSBalanceTCP, from the start of negotiation (OVS is
// 02:00:00:00:0b:00, Switchyard 02:00:00:00:0a:00): each decodes and
// re-encodes to the same 124 bytes, and OVS's reach the in-sync state.
func TestGoldenOVSCapture(t *testing.T) {
	frames := readPcap(t, "testdata/ovs-lacp.pcap")
	ovs := packet.MAC{2, 0, 0, 0, 0x0b, 0}
	seen := map[State]bool{}
	n := 0
	for i, f := range frames {
		sub, pdu, _, err := DecodeFrame(f)
		if err != nil || sub != SubtypeLACP {
			t.Fatalf("frame %d: subtype %d: %v", i, sub, err)
		}
		if enc := pdu.AppendFrame(nil, packet.MAC(f[6:12])); !bytes.Equal(enc, f) {
			t.Fatalf("frame %d re-encodes differently:\n%x\n%x", i, enc, f)
		}
		if pdu.Actor.System == ovs {
			n++
			seen[pdu.Actor.State] = true
			if pdu.Actor.SystemPriority != 65534 || pdu.Actor.PortPriority != 65535 || pdu.Actor.Key != 1 || pdu.Actor.Port != 1 {
				t.Fatalf("frame %d: OVS actor %+v", i, pdu.Actor)
			}
		}
	}
	full := StateActivity | StateTimeout | StateAggregation | StateSync | StateCollecting | StateDistributing
	if n < 5 || !seen[full] {
		t.Fatalf("%d OVS LACPDUs, states %v; want in-sync ones (0x3f)", n, seen)
	}
}
