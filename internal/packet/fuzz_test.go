package packet

import (
	"testing"
)

// seed adds every golden frame (and its tails) as a corpus seed.
func seed(f *testing.F, tail func([]byte) []byte) {
	for _, name := range []string{"kernel-vxlan-arp-icmp.pcap", "kernel-vxlan-ipv6.pcap", "kernel-vxlan-vlan.pcap", "crafted-tunnels.pcap", "ovs-userspace-tunnels.pcap"} {
		for _, fr := range readPcap(f, name) {
			f.Add(append([]byte(nil), fr...))
			if tail != nil {
				if b := tail(fr); b != nil {
					f.Add(append([]byte(nil), b...))
				}
			}
		}
	}
}

func l3of(f []byte) []byte {
	if l, err := ParseL2(f); err == nil {
		return f[l.L3:]
	}
	return nil
}

func l4of(f []byte) []byte {
	if ip, err := ParseIPv4(l3of(f)); err == nil {
		return ip.Payload()
	}
	if ip, err := ParseIPv6(l3of(f)); err == nil {
		if _, off, err := ip.UpperLayer(); err == nil {
			return ip[off:]
		}
	}
	return nil
}

func tunnelOf(f []byte) []byte {
	if b := l4of(f); len(b) > 8 {
		return b[8:]
	}
	return nil
}

func FuzzParseL2(f *testing.F) {
	seed(f, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseL2(b)
		if err == nil && (l.L3 > len(b) || l.L3 < 14) {
			t.Fatalf("L3 offset %d outside a %d-byte frame", l.L3, len(b))
		}
		_ = FlowHash(b)
		c := append([]byte(nil), b...)
		if s, partial := PartialChecksum(c); partial && (s.Start < 14 || s.End > len(c) || s.Start+s.Offset+2 > s.End) {
			t.Fatalf("checksum located outside the L4 data: %+v in %d bytes", s, len(c))
		}
		SetL4Checksum(c)
	})
}

func FuzzParseIPv4(f *testing.F) {
	seed(f, l3of)
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := ParseIPv4(b)
		if err != nil {
			return
		}
		if ip.HeaderLen() > len(ip) || len(ip) > len(b) {
			t.Fatalf("header %d / total %d / data %d", ip.HeaderLen(), len(ip), len(b))
		}
		_ = ip.Payload()
		_ = ip.HeaderChecksumValid()
		_ = ip.PseudoSum()
	})
}

func FuzzParseIPv6(f *testing.F) {
	seed(f, l3of)
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := ParseIPv6(b)
		if err != nil {
			return
		}
		if _, off, err := ip.UpperLayer(); err == nil && off > len(ip) {
			t.Fatalf("upper layer at %d beyond %d", off, len(ip))
		}
	})
}

func FuzzParseARP(f *testing.F) {
	seed(f, l3of)
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := ParseARP(b); err == nil {
			_, _, _, _, _ = a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP()
		}
	})
}

func FuzzParseUDP(f *testing.F) {
	seed(f, l4of)
	f.Fuzz(func(t *testing.T, b []byte) {
		if u, err := ParseUDP(b); err == nil {
			if u.Length() != len(u) || len(u.Payload()) != len(u)-8 {
				t.Fatalf("length %d, view %d", u.Length(), len(u))
			}
			_ = u.ChecksumValid(0)
		}
	})
}

func FuzzParseTCP(f *testing.F) {
	seed(f, l4of)
	f.Fuzz(func(t *testing.T, b []byte) {
		if tc, err := ParseTCP(b); err == nil {
			if tc.HeaderLen() > len(tc) {
				t.Fatalf("header %d beyond %d", tc.HeaderLen(), len(tc))
			}
			_ = tc.Payload()
			_ = tc.ChecksumValid(0)
		}
	})
}

func FuzzParseICMP(f *testing.F) {
	seed(f, l4of)
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseICMP(b); err == nil {
			_, _, _, _ = c.Type(), c.Code(), c.ID(), c.ChecksumValid(0)
		}
	})
}

func FuzzParseVXLAN(f *testing.F) {
	seed(f, tunnelOf)
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := ParseVXLAN(b); err == nil {
			if v.VNI() > 1<<24-1 {
				t.Fatal("VNI over 24 bits")
			}
			_, _ = v.HasI(), v.ReservedBitsSet()
			_, _ = ParseL2(v.Payload())
		}
	})
}

func FuzzParseGeneve(f *testing.F) {
	seed(f, tunnelOf)
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGeneve(b)
		if err != nil {
			return
		}
		if g.HeaderLen() > len(g) {
			t.Fatalf("header %d beyond %d", g.HeaderLen(), len(g))
		}
		for off, n := 0, 0; n < 100; n++ {
			opt, next, ok, err := g.NextOption(off)
			if !ok || err != nil {
				break
			}
			if next <= off || len(opt.Data) > 124 {
				t.Fatalf("option walk did not advance: %d→%d", off, next)
			}
			off = next
		}
		_, _ = g.HasCriticalOption()
	})
}

func FuzzParseGRE(f *testing.F) {
	seed(f, l4of)
	f.Fuzz(func(t *testing.T, b []byte) {
		if g, err := ParseGRE(b); err == nil {
			if g.HeaderLen() > len(g) {
				t.Fatal("header beyond data")
			}
			_, _, _ = g.Key(), g.VSID(), g.Payload()
		}
	})
}

func FuzzParseSTT(f *testing.F) {
	seed(f, func(b []byte) []byte {
		if tc, err := ParseTCP(l4of(b)); err == nil {
			return tc.Payload()
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseSTT(b); err == nil {
			_, _, _, _ = s.ContextID(), s.MSS(), s.VLAN(), s.Payload()
		}
	})
}
