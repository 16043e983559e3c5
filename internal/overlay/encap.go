package overlay

import (
	"fmt"
	"strings"

	"github.com/switchyard-net/switchyard/internal/packet"
)

// encapKind is everything that differs between the encapsulations, in one
// place: the name, whether it rides on UDP (and its default port), the
// length of the tunnel header, how to write it and how to read it. Every
// other piece of the overlay code asks the table instead of switching on the
// encapsulation.
type encapKind struct {
	name string
	// udp: the tunnel header follows a UDP header (VXLAN, Geneve); else
	// it follows the outer IP header directly (GRE, IP protocol 47).
	udp  bool
	port uint16 // default UDP destination port
	// tunLen is the tunnel header's length (after the UDP header, if
	// any) without options; it is what each inner frame of a UDP GSO
	// batch carries in front of it (GRE never uses UDP GSO).
	tunLen int
	// put writes the tunnel header for vni into b (tunLen bytes).
	put func(b []byte, vni uint32)
	// parse reads the tunnel header at the start of d (the UDP payload, or
	// the GRE header): the VNI and the header's length, or ok=false for a
	// header Switchyard must drop (RFC 7348: the I flag unset; RFC 8926: OAM,
	// a payload that is not Ethernet, a critical option; GRE: not
	// transparent Ethernet bridging).
	parse func(d []byte) (vni uint32, hdr int, ok bool)
}

var encaps = [...]encapKind{
	VXLAN: {name: "vxlan", udp: true, port: packet.VXLANPort, tunLen: packet.VXLANHeaderLen,
		put: func(b []byte, vni uint32) { _ = packet.PutVXLAN(b, vni) },
		parse: func(d []byte) (uint32, int, bool) {
			v, err := packet.ParseVXLAN(d)
			if err != nil || !v.HasI() { // reserved bits are ignored
				return 0, 0, false
			}
			return v.VNI(), packet.VXLANHeaderLen, true
		}},
	Geneve: {name: "geneve", udp: true, port: packet.GenevePort, tunLen: 8,
		put: func(b []byte, vni uint32) { _ = packet.PutGeneve(b, vni) },
		parse: func(d []byte) (uint32, int, bool) {
			g, err := packet.ParseGeneve(d)
			if err != nil || g.OAM() || g.Protocol() != packet.EtherTypeTEB {
				return 0, 0, false
			}
			if crit, err := g.HasCriticalOption(); crit || err != nil {
				return 0, 0, false // we understand no option (RFC 8926 §3.5)
			}
			return g.VNI(), g.HeaderLen(), true
		}},
	GRE: {name: "gre", tunLen: 8,
		put: func(b []byte, vni uint32) { _ = packet.PutGRE(b, vni) },
		parse: func(d []byte) (uint32, int, bool) {
			g, err := packet.ParseGRE(d)
			if err != nil || g.Protocol() != packet.EtherTypeTEB {
				return 0, 0, false
			}
			return g.Key(), g.HeaderLen(), true
		}},
}

func (e Encap) kind() *encapKind { return &encaps[e] }

func (e Encap) String() string {
	if int(e) < len(encaps) {
		return encaps[e].name
	}
	return fmt.Sprintf("encap(%d)", e)
}

// ParseEncap parses an encapsulation's name.
func ParseEncap(s string) (Encap, error) {
	var names []string
	for e := range encaps {
		if encaps[e].name == s {
			return Encap(e), nil
		}
		names = append(names, encaps[e].name)
	}
	return 0, fmt.Errorf("encap %q is not valid; allowed %s", s, strings.Join(names, ", "))
}

// UDP reports whether the encapsulation rides on UDP.
func (e Encap) UDP() bool { return e.kind().udp }
