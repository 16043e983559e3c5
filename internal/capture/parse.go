package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// CompileFilter compiles a tcpdump filter expression (pcap-filter(7)); an
// empty expression matches every frame. Host names are not resolved (the
// daemon makes no DNS queries): give addresses.
//
// Supported: and/&&, or/||, not/! and parentheses (and and or have equal
// precedence and group left to right, as in libpcap); the qualifiers
// ether, ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6, igmp; src, dst,
// src or dst, src and dst; host, net (CIDR, mask, or a partial dotted
// address), port, portrange, proto; a bare id after and/or/not inherits the
// qualifiers before it (`host a or b`, `tcp port 80 or 443`); less,
// greater, vlan [VID], broadcast, multicast, ip/ip6 multicast, inbound,
// outbound; and relations over loads (`tcp[tcpflags] & (tcp-syn|tcp-ack)
// != 0`, `ip[2:2] > 1400`, `len >= 100`) with + - * / % & | ^ << >> and
// the named constants of pcap-filter(7).
func CompileFilter(expr string) (*Filter, error) {
	f := &Filter{expr: expr}
	if strings.TrimSpace(expr) == "" {
		return f, nil
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{expr: expr, toks: toks, off: offsets{typ: 12}}
	root, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "unexpected %q", t.text)
	}
	f.root = root
	return f, nil
}

type qual struct {
	proto string // "", ether, ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6, igmp
	dir   string // "", src, dst, "src or dst", "src and dst"
	typ   string // "", host, net, port, portrange, proto
}

type parser struct {
	expr string
	toks []token
	i    int
	off  offsets
	last *qual // the qualifiers of the last primitive with an id
}

func (p *parser) peek() token       { return p.toks[p.i] }
func (p *parser) peekN(n int) token { return p.toks[min(p.i+n, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, a ...any) error {
	return &FilterError{Expr: p.expr, Pos: t.pos, Msg: fmt.Sprintf(format, a...)}
}

// isWord reports whether t is the unescaped word w.
func isWord(t token, w string) bool { return t.kind == tWord && !t.esc && t.text == w }

func isOp(t token, ops ...string) bool {
	if t.kind != tOp {
		return false
	}
	for _, o := range ops {
		if t.text == o {
			return true
		}
	}
	return false
}

var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "src": true, "dst": true, "host": true, "net": true, "port": true,
	"portrange": true, "proto": true, "gateway": true, "less": true, "greater": true, "vlan": true,
	"broadcast": true, "multicast": true, "len": true, "inbound": true, "outbound": true, "mask": true,
	"protochain": true, "mpls": true, "pppoed": true, "pppoes": true, "geneve": true, "llc": true,
}

// protoQuals are the protocol qualifiers.
var protoQuals = map[string]bool{
	"ether": true, "ip": true, "ip6": true, "arp": true, "rarp": true, "tcp": true, "udp": true,
	"sctp": true, "icmp": true, "icmp6": true, "igmp": true,
}

// unsupported are pcap-filter keywords of link types and protocols that
// have no meaning on a Switchyard port.
var unsupported = map[string]string{
	"gateway": "needs host name resolution", "protochain": "is not supported", "mpls": "is not supported",
	"pppoed": "is not supported", "pppoes": "is not supported", "geneve": "is not supported (filter on udp port 6081)",
	"llc": "is not supported", "fddi": "is not an Ethernet qualifier", "tr": "is not an Ethernet qualifier",
	"wlan": "is not an Ethernet qualifier", "decnet": "is not supported", "atalk": "is not supported",
	"iso": "is not supported", "stp": "is not supported (filter on ether dst 01:80:c2:00:00:00)",
	"ipx": "is not supported", "netbeui": "is not supported", "radio": "is not an Ethernet qualifier",
	"ifname": "is not supported", "on": "is not supported", "rnr": "is not supported", "rulenum": "is not supported",
	"reason": "is not supported", "rset": "is not supported", "ruleset": "is not supported", "srnr": "is not supported",
	"subrulenum": "is not supported", "action": "is not supported", "type": "is not supported", "subtype": "is not supported",
	"dir": "is not supported", "ra": "is not supported", "ta": "is not supported", "addr1": "is not supported",
	"addr2": "is not supported", "addr3": "is not supported", "addr4": "is not supported", "bssid": "is not supported",
	"aarp": "is not supported", "lat": "is not supported", "sca": "is not supported", "moprc": "is not supported",
	"mopdl": "is not supported", "vrrp": "is not supported (use ip proto 112)", "pim": "is not supported (use ip proto 103)",
	"carp": "is not supported", "ah": "is not supported (use ip proto 51)", "esp": "is not supported (use ip proto 50)",
	"atm": "is not supported", "lane": "is not supported", "oam": "is not supported", "oamf4": "is not supported",
	"metac": "is not supported", "bcc": "is not supported", "sc": "is not supported", "ilmic": "is not supported",
	"connectmsg": "is not supported", "metaconnect": "is not supported", "hdlc": "is not supported",
	"fisu": "is not supported", "lssu": "is not supported", "msu": "is not supported", "sio": "is not supported",
	"opc": "is not supported", "dpc": "is not supported", "sls": "is not supported",
}

func isRelop(t token) bool { return isOp(t, "=", "==", "!=", "<", ">", "<=", ">=") }

// parseExpr: unary { (and|or) unary }, left to right, equal precedence.
func (p *parser) parseExpr() (boolNode, error) {
	n, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		and := isWord(t, "and") || isOp(t, "&&")
		or := isWord(t, "or") || isOp(t, "||")
		if !and && !or {
			return n, nil
		}
		p.next()
		var m boolNode
		if p.bareID() {
			m, err = p.idWith(*p.last, p.next())
		} else {
			m, err = p.parseUnary()
		}
		if err != nil {
			return nil, err
		}
		if and {
			n = &andNode{n, m}
		} else {
			n = &orNode{n, m}
		}
	}
}

// bareID reports whether the next token is an id without qualifiers that
// inherits the last primitive's (`host a or b`).
func (p *parser) bareID() bool {
	t := p.peek()
	if p.last == nil || t.kind != tWord || t.esc || keywords[t.text] || protoQuals[t.text] {
		return false
	}
	n := p.peekN(1)
	return n.kind == tEOF || isOp(n, ")", "&&", "||") || n.kind == tWord && keywords[n.text] && (n.text == "and" || n.text == "or")
}

func (p *parser) parseUnary() (boolNode, error) {
	t := p.peek()
	if isWord(t, "not") || isOp(t, "!") {
		p.next()
		if p.bareID() {
			n, err := p.idWith(*p.last, p.next())
			if err != nil {
				return nil, err
			}
			return &notNode{n}, nil
		}
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &notNode{n}, nil
	}
	return p.parsePrimary()
}

// looksRelational reports whether a relation (arith relop arith) starts
// here: a relational operator at this level before the next and/or or
// the end of the enclosing parentheses.
func (p *parser) looksRelational() bool {
	depth := 0
	for i := p.i; i < len(p.toks); i++ {
		t := p.toks[i]
		switch {
		case t.kind == tEOF:
			return false
		case isOp(t, "(", "["):
			depth++
		case isOp(t, ")", "]"):
			depth--
			if depth < 0 {
				return false
			}
		case depth == 0 && (isWord(t, "and") || isWord(t, "or") || isOp(t, "&&", "||")):
			return false
		case depth == 0 && isRelop(t):
			return true
		}
	}
	return false
}

func (p *parser) parsePrimary() (boolNode, error) {
	t := p.peek()
	if p.looksRelational() {
		return p.parseRelation()
	}
	if isOp(t, "(") {
		p.next()
		n, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); !isOp(c, ")") {
			return nil, p.errAt(c, "missing )")
		}
		return n, nil
	}
	if t.kind != tWord {
		if t.kind == tEOF {
			return nil, p.errAt(t, "expression ends too early")
		}
		return nil, p.errAt(t, "unexpected %q", t.text)
	}
	return p.parsePrimitive()
}

func (p *parser) parsePrimitive() (boolNode, error) {
	t := p.peek()
	w := t.text
	if !t.esc {
		if why, ok := unsupported[w]; ok {
			return nil, p.errAt(t, "%q %s", w, why)
		}
		switch w {
		case "less", "greater":
			p.next()
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			return &lenNode{n: n, greater: w == "greater"}, nil
		case "vlan":
			p.next()
			n := &vlanNode{off: p.off, anyID: true}
			if nt := p.peek(); nt.kind == tWord && isNumber(nt.text) {
				vid, err := p.number()
				if err != nil {
					return nil, err
				}
				if vid > 4095 {
					return nil, p.errAt(nt, "VLAN ID %d is not valid; allowed: 0-4095", vid)
				}
				n.vid, n.anyID = vid, false
			}
			p.off.typ += 4 // what follows looks inside the tag
			return n, nil
		case "inbound":
			p.next()
			return &dirNode{In}, nil
		case "outbound":
			p.next()
			return &dirNode{Out}, nil
		case "broadcast":
			p.next()
			return &etherFlagNode{broadcast: true}, nil
		case "multicast":
			p.next()
			return &etherFlagNode{}, nil
		}
	}
	var q qual
	if protoQuals[w] && !t.esc {
		q.proto = w
		p.next()
		nt := p.peek()
		switch {
		case isWord(nt, "broadcast"):
			p.next()
			if q.proto == "ether" {
				return &etherFlagNode{broadcast: true}, nil
			}
			return nil, p.errAt(nt, "%s broadcast needs the netmask, which a capture does not know; use ether broadcast or ip dst 198.18.255.255", q.proto)
		case isWord(nt, "multicast"):
			p.next()
			switch q.proto {
			case "ether":
				return &etherFlagNode{}, nil
			case "ip":
				return &ip4MulticastNode{p.off}, nil
			case "ip6":
				return &ip6MulticastNode{p.off}, nil
			}
			return nil, p.errAt(nt, "multicast applies to ether, ip and ip6, not %s", q.proto)
		}
	}
	if d := p.peek(); isWord(d, "src") || isWord(d, "dst") {
		p.next()
		q.dir = d.text
		if c := p.peek(); (isWord(c, "or") || isWord(c, "and")) && (isWord(p.peekN(1), "src") || isWord(p.peekN(1), "dst")) && p.peekN(1).text != d.text {
			q.dir = "src " + c.text + " dst"
			p.next()
			p.next()
		}
	}
	if ty := p.peek(); isWord(ty, "host") || isWord(ty, "net") || isWord(ty, "port") || isWord(ty, "portrange") || isWord(ty, "proto") {
		p.next()
		q.typ = ty.text
	}
	id := p.peek()
	if q.typ == "" && q.dir == "" && q.proto != "" && (id.kind != tWord || (keywords[id.text] && !id.esc) || protoQuals[id.text] && !id.esc) {
		return p.protoNode(q.proto, t)
	}
	if id.kind != tWord || (keywords[id.text] && !id.esc) {
		if id.kind == tEOF {
			return nil, p.errAt(id, "expression ends too early: an address, port or protocol is missing")
		}
		return nil, p.errAt(id, "unexpected %q: an address, port or protocol is missing", id.text)
	}
	p.next()
	qq := q
	p.last = &qq
	return p.idWith(q, id)
}

// protoNode is a bare protocol qualifier: `ip`, `tcp`, `arp` …
func (p *parser) protoNode(proto string, t token) (boolNode, error) {
	switch proto {
	case "ether":
		return nil, p.errAt(t, "ether needs host, src, dst, proto, broadcast or multicast after it")
	case "ip":
		return &etherTypeNode{p.off, 0x0800}, nil
	case "ip6":
		return &etherTypeNode{p.off, 0x86dd}, nil
	case "arp":
		return &etherTypeNode{p.off, 0x0806}, nil
	case "rarp":
		return &etherTypeNode{p.off, 0x8035}, nil
	case "icmp":
		return &ip4ProtoNode{p.off, 1}, nil
	case "igmp":
		return &ip4ProtoNode{p.off, 2}, nil
	case "icmp6":
		return &ip6ProtoNode{p.off, 58}, nil
	}
	n := ipProtos[proto]
	return &orNode{&ip6ProtoNode{p.off, n}, &ip4ProtoNode{p.off, n}}, nil
}

// ipProtos are IP protocol names (for `proto NAME` and the transport
// qualifiers).
var ipProtos = map[string]uint32{
	"icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41, "rsvp": 46, "gre": 47,
	"esp": 50, "ah": 51, "icmp6": 58, "ospf": 89, "pim": 103, "vrrp": 112, "sctp": 132,
}

var etherProtos = map[string]uint32{"ip": 0x0800, "ip6": 0x86dd, "arp": 0x0806, "rarp": 0x8035, "vlan": 0x8100, "lldp": 0x88cc}

// services are the port names a filter may use.
var services = map[string]uint32{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67, "bootpc": 68,
	"tftp": 69, "http": 80, "www": 80, "pop3": 110, "ntp": 123, "imap": 143, "snmp": 161, "snmp-trap": 162,
	"bgp": 179, "ldap": 389, "https": 443, "syslog": 514, "ldaps": 636, "openflow": 6653, "vxlan": 4789,
	"geneve": 6081, "ovsdb": 6640, "bfd": 3784, "iperf3": 5201,
}

func isNumber(s string) bool {
	_, err := parseNum(s)
	return err == nil
}

func parseNum(s string) (uint32, error) {
	base := 10
	d := s
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, d = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, d = 8, s[1:]
	}
	n, err := strconv.ParseUint(d, base, 32)
	return uint32(n), err
}

func (p *parser) number() (uint32, error) {
	t := p.next()
	if t.kind != tWord {
		return 0, p.errAt(t, "a number is missing")
	}
	n, err := parseNum(t.text)
	if err != nil {
		return 0, p.errAt(t, "%q is not a number", t.text)
	}
	return n, nil
}

// dirFlags turns a direction qualifier into which fields to compare.
func dirFlags(dir string) (src, dst, and bool) {
	switch dir {
	case "src":
		return true, false, false
	case "dst":
		return false, true, false
	case "src and dst":
		return true, true, true
	}
	return true, true, false
}

// idWith compiles an id under qualifiers q.
func (p *parser) idWith(q qual, id token) (boolNode, error) {
	if q.typ == "" {
		q.typ = "host"
	}
	src, dst, and := dirFlags(q.dir)
	switch q.typ {
	case "host":
		return p.host(q, id, src, dst, and)
	case "net":
		return p.net(q, id, src, dst, and)
	case "port", "portrange":
		return p.port(q, id, src, dst, and)
	case "proto":
		return p.proto(q, id)
	}
	return nil, p.errAt(id, "unknown qualifier %q", q.typ)
}

func (p *parser) host(q qual, id token, src, dst, and bool) (boolNode, error) {
	s := id.text
	if mac, ok := parseMAC(s); ok {
		if q.proto != "ether" {
			return nil, p.errAt(id, "%s is a MAC address: use ether host (or ether src, ether dst)", s)
		}
		return macMatch(mac, src, dst, and), nil
	}
	if q.proto == "ether" {
		return nil, p.errAt(id, "%q is not a MAC address; allowed: a MAC like 02:00:00:00:00:01", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		if !strings.ContainsAny(s, "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") || strings.Contains(s, ":") {
			return nil, p.errAt(id, "%q is not an IP address", s)
		}
		return nil, p.errAt(id, "%q: host names are not resolved (the daemon makes no DNS queries); give an address", s)
	}
	if strings.Contains(s, "/") {
		return nil, p.errAt(id, "%q has a prefix: use net", s)
	}
	return p.addrMatch(q, id, a, 32, 128, src, dst, and)
}

func macMatch(mac [6]byte, src, dst, and bool) boolNode {
	s, d := &macNode{off: 6, mac: mac}, &macNode{off: 0, mac: mac}
	switch {
	case src && dst && and:
		return &andNode{s, d}
	case src && dst:
		return &orNode{s, d}
	case src:
		return s
	}
	return d
}

// addrMatch compares IP addresses (hosts: full length; nets: a prefix).
func (p *parser) addrMatch(q qual, id token, a netip.Addr, bits4, bits6 int, src, dst, and bool) (boolNode, error) {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		addr := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		m := v4mask(bits4)
		if addr&m != addr {
			return nil, p.errAt(id, "non-network bits set in %q", id.text)
		}
		mk := func(typ uint32) boolNode {
			return &ip4AddrNode{off: p.off, typ: typ, src: src, dst: dst, and: and, addr: addr, mask: m}
		}
		switch q.proto {
		case "":
			return &orNode{&orNode{mk(0x0800), mk(0x0806)}, mk(0x8035)}, nil
		case "ip":
			return mk(0x0800), nil
		case "arp":
			return mk(0x0806), nil
		case "rarp":
			return mk(0x8035), nil
		}
		return nil, p.errAt(id, "%s host and net take %s addresses only with ip, arp or rarp (or no qualifier)", q.proto, "IPv4")
	}
	if q.proto != "" && q.proto != "ip6" {
		return nil, p.errAt(id, "%q is an IPv6 address; %s qualifies IPv4", id.text, q.proto)
	}
	w, m := v6words(a), v6mask(bits6)
	for i := range w {
		if w[i]&m[i] != w[i] {
			return nil, p.errAt(id, "non-network bits set in %q", id.text)
		}
	}
	return &ip6AddrNode{off: p.off, src: src, dst: dst, and: and, addr: w, mask: m}, nil
}

func (p *parser) net(q qual, id token, src, dst, and bool) (boolNode, error) {
	s := id.text
	if q.proto == "ether" {
		return nil, p.errAt(id, "ether net is not valid; use ether host")
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			// A partial address with a length: 198.18/15.
			a, n, ok := partialV4(s[:i])
			bits, err2 := strconv.Atoi(s[i+1:])
			if !ok || err2 != nil || bits > 32 || n == 0 {
				return nil, p.errAt(id, "%q is not a network like 198.18.0.0/15 or 2001:db8::/32", s)
			}
			return p.addrMatch(q, id, a, bits, 0, src, dst, and)
		}
		if pf.Addr().Is4() {
			return p.addrMatch(q, id, pf.Addr(), pf.Bits(), 0, src, dst, and)
		}
		return p.addrMatch(q, id, pf.Addr(), 0, pf.Bits(), src, dst, and)
	}
	if isWord(p.peek(), "mask") {
		p.next()
		mt := p.next()
		a, err1 := netip.ParseAddr(s)
		m, err2 := netip.ParseAddr(mt.text)
		if err1 != nil || err2 != nil || !a.Is4() || !m.Is4() {
			return nil, p.errAt(mt, "net ADDR mask MASK takes two IPv4 addresses")
		}
		mb := m.As4()
		mask := uint32(mb[0])<<24 | uint32(mb[1])<<16 | uint32(mb[2])<<8 | uint32(mb[3])
		bits := 0
		for mask<<bits != 0 {
			if mask<<bits&0x80000000 == 0 {
				return nil, p.errAt(mt, "mask %s is not contiguous", mt.text)
			}
			bits++
		}
		return p.addrMatch(q, id, a, bits, 0, src, dst, and)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Is4() {
			return p.addrMatch(q, id, a, 32, 0, src, dst, and)
		}
		return p.addrMatch(q, id, a, 0, 128, src, dst, and)
	}
	if a, n, ok := partialV4(s); ok {
		return p.addrMatch(q, id, a, 8*n, 0, src, dst, and)
	}
	return nil, p.errAt(id, "%q is not a network like 198.18.0.0/15, 198.18 or 2001:db8::/32", s)
}

// partialV4 parses 1 to 3 dotted octets ("198.18") as the start of an
// address; n is how many there were.
func partialV4(s string) (netip.Addr, int, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, 0, false
	}
	var b [4]byte
	for i, pt := range parts {
		n, err := strconv.ParseUint(pt, 10, 8)
		if err != nil {
			return netip.Addr{}, 0, false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), len(parts), true
}

func (p *parser) port(q qual, id token, src, dst, and bool) (boolNode, error) {
	n := &portNode{off: p.off, src: src, dst: dst, and: and, v4: true, v6: true}
	switch q.proto {
	case "":
		n.protos = []uint32{6, 17, 132}
	case "tcp":
		n.protos = []uint32{6}
	case "udp":
		n.protos = []uint32{17}
	case "sctp":
		n.protos = []uint32{132}
	case "ip":
		n.protos, n.v6 = []uint32{6, 17, 132}, false
	case "ip6":
		n.protos, n.v4 = []uint32{6, 17, 132}, false
	default:
		return nil, p.errAt(id, "%s %s is not valid; ports belong to tcp, udp and sctp", q.proto, q.typ)
	}
	one := func(s string) (uint32, error) {
		if v, ok := services[s]; ok {
			// A service name is a TCP and UDP port (as /etc/services
			// lists them); SCTP only by number.
			if len(n.protos) == 3 {
				n.protos = n.protos[:2]
			}
			return v, nil
		}
		v, err := parseNum(s)
		if err != nil || v > 65535 {
			return 0, p.errAt(id, "%q is not a port (0-65535 or a service name like http)", s)
		}
		return v, nil
	}
	if q.typ == "portrange" {
		lo, hi, ok := strings.Cut(id.text, "-")
		if !ok {
			return nil, p.errAt(id, "%q is not a port range like 1024-65535", id.text)
		}
		a, err := one(lo)
		if err != nil {
			return nil, err
		}
		b, err := one(hi)
		if err != nil {
			return nil, err
		}
		n.lo, n.hi = min(a, b), max(a, b)
		return n, nil
	}
	v, err := one(id.text)
	if err != nil {
		return nil, err
	}
	n.lo, n.hi = v, v
	return n, nil
}

func (p *parser) proto(q qual, id token) (boolNode, error) {
	if q.proto == "ether" {
		v, ok := etherProtos[id.text]
		if !ok {
			var err error
			if v, err = parseNum(id.text); err != nil || v > 0xffff {
				return nil, p.errAt(id, "%q is not an EtherType (a number like 0x0800, or ip, ip6, arp, rarp)", id.text)
			}
		}
		if v <= 1500 {
			return nil, p.errAt(id, "EtherType %d is an 802.3 length: LLC protocols are not supported", v)
		}
		return &etherTypeNode{p.off, v}, nil
	}
	v, ok := ipProtos[id.text]
	if !ok {
		var err error
		if v, err = parseNum(id.text); err != nil || v > 255 {
			return nil, p.errAt(id, "%q is not an IP protocol (0-255 or a name like tcp)", id.text)
		}
	}
	switch q.proto {
	case "ip":
		return &ip4ProtoNode{p.off, v}, nil
	case "ip6":
		return &ip6ProtoNode{p.off, v}, nil
	case "":
		return &orNode{&ip4ProtoNode{p.off, v}, &ip6ProtoNode{p.off, v}}, nil
	}
	return nil, p.errAt(id, "%s proto is not valid; allowed: ether proto, ip proto, ip6 proto, proto", q.proto)
}

func parseMAC(s string) ([6]byte, bool) {
	var m [6]byte
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' || r == '.' })
	if len(parts) != 6 || strings.Count(s, ":") != 5 && strings.Count(s, "-") != 5 {
		return m, false
	}
	for i, pt := range parts {
		if len(pt) == 0 || len(pt) > 2 {
			return m, false
		}
		v, err := strconv.ParseUint(pt, 16, 8)
		if err != nil {
			return m, false
		}
		m[i] = byte(v)
	}
	return m, true
}

// Relations and arithmetic.

// constants are pcap-filter's named values.
var constants = map[string]uint32{
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08, "tcp-ack": 0x10,
	"tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	"icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4,
	"icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16,
	"icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129, "icmp6-multicastlistenerquery": 130,
	"icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133,
	"icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
}

// loadBases say where each protocol's loads start and what they check.
var loadBases = map[string]baseKind{
	"ether": baseLink, "ip": baseNet, "ip6": baseNet, "arp": baseNet, "rarp": baseNet,
	"tcp": baseTransport, "udp": baseTransport, "icmp": baseTransport, "igmp": baseTransport, "sctp": baseTransport,
	"icmp6": baseTransport6,
}

func (p *parser) parseRelation() (boolNode, error) {
	var checks []boolNode
	a, err := p.arith(0, &checks)
	if err != nil {
		return nil, err
	}
	op := p.next()
	if !isRelop(op) {
		return nil, p.errAt(op, "a comparison (=, !=, <, <=, >, >=) is missing")
	}
	b, err := p.arith(0, &checks)
	if err != nil {
		return nil, err
	}
	return &relNode{checks: checks, a: a, b: b, op: op.text}, nil
}

// Binary operator precedence (higher binds tighter), as libpcap's grammar.
var precedence = map[string]int{"|": 1, "^": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}

func (p *parser) arith(minPrec int, checks *[]boolNode) (arithNode, error) {
	lhs, err := p.arithUnary(checks)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := precedence[t.text]
		if t.kind != tOp || !ok || prec <= minPrec {
			return lhs, nil
		}
		p.next()
		rhs, err := p.arith(prec, checks)
		if err != nil {
			return nil, err
		}
		op := t.text[0]
		if c, ok := rhs.(constNode); ok && c == 0 && (op == '/' || op == '%') {
			return nil, p.errAt(t, "division by zero")
		}
		lhs = &binNode{op: op, a: lhs, b: rhs}
	}
}

func (p *parser) arithUnary(checks *[]boolNode) (arithNode, error) {
	t := p.next()
	switch {
	case isOp(t, "-"):
		a, err := p.arithUnary(checks)
		if err != nil {
			return nil, err
		}
		return &negNode{a}, nil
	case isOp(t, "("):
		a, err := p.arith(0, checks)
		if err != nil {
			return nil, err
		}
		if c := p.next(); !isOp(c, ")") {
			return nil, p.errAt(c, "missing )")
		}
		return a, nil
	case t.kind != tWord:
		if t.kind == tEOF {
			return nil, p.errAt(t, "expression ends too early")
		}
		return nil, p.errAt(t, "unexpected %q in an arithmetic expression", t.text)
	case isWord(t, "len"):
		return wireLenNode{}, nil
	}
	if base, ok := loadBases[t.text]; ok && isOp(p.peek(), "[") {
		p.next()
		idx, err := p.arith(0, checks)
		if err != nil {
			return nil, err
		}
		size := uint8(1)
		if isOp(p.peek(), ":") {
			p.next()
			st := p.next()
			n, err := parseNum(st.text)
			if err != nil || n != 1 && n != 2 && n != 4 {
				return nil, p.errAt(st, "load size %q is not valid; allowed: 1, 2, 4", st.text)
			}
			size = uint8(n)
		}
		if c := p.next(); !isOp(c, "]") {
			return nil, p.errAt(c, "missing ]")
		}
		*checks = append(*checks, p.loadChecks(t.text)...)
		return &loadNode{base: base, off: p.off, index: idx, size: size}, nil
	}
	if v, ok := constants[t.text]; ok {
		return constNode(v), nil
	}
	v, err := parseNum(t.text)
	if err != nil {
		return nil, p.errAt(t, "%q is not a number, len, a load like tcp[13] or a named constant like tcp-syn", t.text)
	}
	return constNode(v), nil
}

// loadChecks are the protocol checks a load from proto[…] needs.
func (p *parser) loadChecks(proto string) []boolNode {
	switch proto {
	case "ip":
		return []boolNode{&etherTypeNode{p.off, 0x0800}}
	case "ip6":
		return []boolNode{&etherTypeNode{p.off, 0x86dd}}
	case "arp":
		return []boolNode{&etherTypeNode{p.off, 0x0806}}
	case "rarp":
		return []boolNode{&etherTypeNode{p.off, 0x8035}}
	case "icmp6":
		return []boolNode{&ip6ProtoNode{p.off, 58}}
	case "ether":
		return nil
	}
	return []boolNode{&ip4ProtoNode{p.off, ipProtos[proto]}, &ipFragNode{p.off}}
}
