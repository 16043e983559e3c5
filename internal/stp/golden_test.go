package stp

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/packet"
)

func readPcap(t *testing.T, name string) [][]byte {
	t.Helper()
	d, err := os.ReadFile(filepath.Join("testdata", name))
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

// Captures taken by the interop tests (SY_L2_SAVE_PCAP): every BPDU
// decodes and re-encodes to the same bytes, and carries what the test's
// topology says.
func TestGoldenCaptures(t *testing.T) {
	k1 := MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0, 1})
	ovs := MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0, 0x21})
	m1 := MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0, 0x11})
	for _, c := range []struct {
		file  string
		check func(t *testing.T, bs []BPDU)
	}{
		{"kernel-stp-triangle.pcap", func(t *testing.T, bs []BPDU) {
			// The link k2-m: k2's Configuration BPDUs naming k1 root, k2's
			// TCNs after the failure, and ours acknowledging them.
			var tcn, tca, fromK2 int
			for _, b := range bs {
				switch {
				case b.Type == TypeTCN:
					tcn++
				case b.Bridge == MakeBridgeID(8192, packet.MAC{2, 0, 0, 0, 0, 2}) && b.Root == k1:
					fromK2++
				case b.Bridge == MakeBridgeID(12288, packet.MAC{2, 0, 0, 0, 0, 3}) && b.Flags&FlagTCAck != 0:
					tca++
				}
				if b.Version != VersionSTP {
					t.Fatalf("version %d on a kernel STP link", b.Version)
				}
			}
			if tcn == 0 || tca == 0 || fromK2 == 0 {
				t.Fatalf("tcn %d tca %d from k2 %d", tcn, tca, fromK2)
			}
		}},
		{"ovs-rstp.pcap", func(t *testing.T, bs []BPDU) {
			var ovsDesig, ourAgree int
			for _, b := range bs {
				if b.Type != TypeRST || b.Version != VersionRSTP {
					t.Fatalf("not an RST BPDU: %v", b)
				}
				if b.Bridge == ovs && b.role() == roleDesignFlag {
					ovsDesig++
				}
				if b.Root == ovs && b.role() == roleRootFlag && b.Flags&FlagAgreement != 0 {
					ourAgree++
				}
			}
			if ovsDesig == 0 || ourAgree == 0 {
				t.Fatalf("OVS designated %d, our agreements %d", ovsDesig, ourAgree)
			}
		}},
		{"rstp-to-kernel.pcap", func(t *testing.T, bs []BPDU) {
			// m1 starts with RST BPDUs, hears the kernel and migrates.
			sawRST, sawConfigAfter := false, false
			for _, b := range bs {
				if b.Bridge != m1 {
					continue
				}
				if b.Type == TypeRST {
					sawRST = true
				} else if sawRST && b.Type == TypeConfig && b.Version == 0 {
					sawConfigAfter = true
				}
			}
			if !sawRST || !sawConfigAfter {
				t.Fatalf("migration not in the capture: rst %v config after %v", sawRST, sawConfigAfter)
			}
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			var bs []BPDU
			for i, f := range readPcap(t, c.file) {
				b, err := DecodeFrame(f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if enc := b.AppendFrame(nil, packet.MAC(f[6:12])); !bytes.Equal(enc, f) {
					t.Fatalf("frame %d re-encodes differently:\n%x\n%x", i, enc, f)
				}
				bs = append(bs, b)
			}
			c.check(t, bs)
		})
	}
}

// A captured kernel BPDU, replayed into each of our bridges, makes k1 the
// root and the receiving port the root port.
func TestReplayKernelBPDU(t *testing.T) {
	f := unhex(t, kernelConfigHex)
	for _, proto := range protocols {
		now := time.Unix(10, 0)
		b, _ := New(Config{Protocol: proto, Address: packet.MAC{2, 0, 0, 0, 0, 9}}, now)
		_, _ = b.AddPort(1, PortConfig{}, now)
		b.SetLink(1, true, 10000, now)
		b.Receive(1, f, now)
		if b.RootID() != MakeBridgeID(4096, packet.MAC{2, 0, 0, 0, 0, 1}) {
			t.Fatalf("%s: root %s", proto, b.RootID())
		}
		if _, role := b.PortState(1); role != RoleRoot {
			t.Fatalf("%s: port role %s", proto, role)
		}
	}
}
