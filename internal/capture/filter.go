package capture

import (
	"encoding/binary"
	"net/netip"
	"sync"
)

// Filter is a compiled tcpdump filter expression (pcap-filter(7)): it
// decides whether a frame is captured. It is evaluated in the forwarding
// goroutine, before a frame is copied, so it allocates nothing.
//
// Semantics follow libpcap on an Ethernet savefile (what `tcpdump -r`
// does): a VLAN tag stays in the frame and `vlan` moves the offsets of
// what follows it; a load beyond the end of the frame rejects the whole
// frame, as a BPF program does; `tcp`, `udp`, `port` … look at the first
// fragment of IPv4 datagrams. `inbound` and `outbound` select by the
// frame's direction (an extension: libpcap has them only on cooked
// captures).
type Filter struct {
	expr string
	root boolNode
}

// Expr returns the expression the filter was compiled from.
func (f *Filter) Expr() string { return f.expr }

// Match reports whether frame (of wireLen bytes on the wire; frame may be
// shorter when truncated) going in direction dir passes the filter. A nil
// filter passes everything.
func (f *Filter) Match(frame []byte, wireLen int, dir Direction) bool {
	if f == nil || f.root == nil {
		return true
	}
	c := ctxPool.Get().(*evalCtx)
	r := f.match(c, frame, wireLen, dir)
	c.d = nil
	ctxPool.Put(c)
	return r
}

// match evaluates with a context the caller holds (a session takes one
// per batch, not one per frame).
func (f *Filter) match(c *evalCtx, frame []byte, wireLen int, dir Direction) bool {
	if f == nil || f.root == nil {
		return true
	}
	*c = evalCtx{d: frame, wire: uint32(wireLen), dir: dir}
	return f.root.eval(c) && !c.abort
}

// ctxPool keeps evaluation contexts: one passed to the nodes' interface
// methods escapes, and Match must not allocate.
var ctxPool = sync.Pool{New: func() any { return new(evalCtx) }}

// evalCtx is one evaluation: the frame, and whether a load went beyond it
// (which rejects the frame, as a BPF program's out-of-bounds load does).
type evalCtx struct {
	d     []byte
	wire  uint32
	dir   Direction
	abort bool
}

func (c *evalCtx) u8(off uint32) uint32 {
	if off >= uint32(len(c.d)) || c.abort {
		c.abort = true
		return 0
	}
	return uint32(c.d[off])
}

func (c *evalCtx) u16(off uint32) uint32 {
	if uint64(off)+2 > uint64(len(c.d)) || c.abort {
		c.abort = true
		return 0
	}
	return uint32(binary.BigEndian.Uint16(c.d[off:]))
}

func (c *evalCtx) u32(off uint32) uint32 {
	if uint64(off)+4 > uint64(len(c.d)) || c.abort {
		c.abort = true
		return 0
	}
	return binary.BigEndian.Uint32(c.d[off:])
}

func (c *evalCtx) load(off uint32, size uint8) uint32 {
	switch size {
	case 1:
		return c.u8(off)
	case 2:
		return c.u16(off)
	}
	return c.u32(off)
}

// boolNode is a compiled predicate.
type boolNode interface {
	eval(c *evalCtx) bool
}

type andNode struct{ a, b boolNode }

func (n *andNode) eval(c *evalCtx) bool { return n.a.eval(c) && !c.abort && n.b.eval(c) }

type orNode struct{ a, b boolNode }

func (n *orNode) eval(c *evalCtx) bool { return n.a.eval(c) || !c.abort && n.b.eval(c) }

type notNode struct{ a boolNode }

func (n *notNode) eval(c *evalCtx) bool { return !n.a.eval(c) }

type trueNode struct{}

func (trueNode) eval(*evalCtx) bool { return true }

type dirNode struct{ dir Direction }

func (n *dirNode) eval(c *evalCtx) bool { return c.dir == n.dir }

// Offsets a primitive was compiled with: where the EtherType is (12, plus
// 4 per vlan keyword before it) and where the network header starts.
type offsets struct {
	typ uint32
}

func (o offsets) l3() uint32 { return o.typ + 2 }

// etherTypeNode checks the EtherType.
type etherTypeNode struct {
	off offsets
	typ uint32
}

func (n *etherTypeNode) eval(c *evalCtx) bool { return c.u16(n.off.typ) == n.typ }

// vlanNode checks for an 802.1Q/802.1ad tag (and its VID).
type vlanNode struct {
	off   offsets
	vid   uint32
	anyID bool
}

func (n *vlanNode) eval(c *evalCtx) bool {
	t := c.u16(n.off.typ)
	if t != 0x8100 && t != 0x88a8 && t != 0x9100 {
		return false
	}
	return n.anyID || c.u16(n.off.typ+2)&0x0fff == n.vid
}

// macNode compares the destination (at 0) or source (at 6) MAC.
type macNode struct {
	off uint32
	mac [6]byte
}

func (n *macNode) eval(c *evalCtx) bool {
	hi, lo := c.u16(n.off), c.u32(n.off+2)
	return hi == uint32(n.mac[0])<<8|uint32(n.mac[1]) && lo == binary.BigEndian.Uint32(n.mac[2:])
}

// etherFlagNode checks the destination MAC for broadcast or multicast.
type etherFlagNode struct{ broadcast bool }

func (n *etherFlagNode) eval(c *evalCtx) bool {
	if n.broadcast {
		return c.u16(0) == 0xffff && c.u32(2) == 0xffffffff
	}
	return c.u8(0)&1 != 0
}

// ip4ProtoNode: IPv4 and its protocol field.
type ip4ProtoNode struct {
	off   offsets
	proto uint32
}

func (n *ip4ProtoNode) eval(c *evalCtx) bool {
	return c.u16(n.off.typ) == 0x0800 && c.u8(n.off.l3()+9) == n.proto
}

// ip6ProtoNode: IPv6 and its next header, directly or behind a fragment
// header (as libpcap's ip6 proto).
type ip6ProtoNode struct {
	off   offsets
	proto uint32
}

func (n *ip6ProtoNode) eval(c *evalCtx) bool {
	if c.u16(n.off.typ) != 0x86dd {
		return false
	}
	nh := c.u8(n.off.l3() + 6)
	if nh == n.proto {
		return true
	}
	return nh == 44 && c.u8(n.off.l3()+40) == n.proto
}

// ip4AddrNode compares an IPv4 address field under a mask: the IPv4
// source (12) or destination (16), or for ARP/RARP (typ) the sender (14)
// or target (24) protocol address.
type ip4AddrNode struct {
	off        offsets
	typ        uint32 // EtherType: 0x0800, 0x0806, 0x8035
	src, dst   bool   // which fields
	and        bool   // src and dst (else src or dst)
	addr, mask uint32
}

func (n *ip4AddrNode) eval(c *evalCtx) bool {
	if c.u16(n.off.typ) != n.typ {
		return false
	}
	so, do := uint32(12), uint32(16)
	if n.typ != 0x0800 {
		so, do = 14, 24
	}
	l3 := n.off.l3()
	switch {
	case n.src && n.dst && n.and:
		return c.u32(l3+so)&n.mask == n.addr && c.u32(l3+do)&n.mask == n.addr
	case n.src && n.dst:
		return c.u32(l3+so)&n.mask == n.addr || c.u32(l3+do)&n.mask == n.addr
	case n.src:
		return c.u32(l3+so)&n.mask == n.addr
	}
	return c.u32(l3+do)&n.mask == n.addr
}

// ip6AddrNode compares the IPv6 source (8) or destination (24) under a
// prefix.
type ip6AddrNode struct {
	off      offsets
	src, dst bool
	and      bool
	addr     [4]uint32
	mask     [4]uint32
}

func (n *ip6AddrNode) match(c *evalCtx, at uint32) bool {
	for i := uint32(0); i < 4; i++ {
		if n.mask[i] == 0 {
			continue
		}
		if c.u32(at+4*i)&n.mask[i] != n.addr[i] {
			return false
		}
	}
	return true
}

func (n *ip6AddrNode) eval(c *evalCtx) bool {
	if c.u16(n.off.typ) != 0x86dd {
		return false
	}
	l3 := n.off.l3()
	switch {
	case n.src && n.dst && n.and:
		return n.match(c, l3+8) && n.match(c, l3+24)
	case n.src && n.dst:
		return n.match(c, l3+8) || n.match(c, l3+24)
	case n.src:
		return n.match(c, l3+8)
	}
	return n.match(c, l3+24)
}

// portNode checks TCP/UDP/SCTP ports (first fragment of IPv4, or IPv6
// whose next header is the protocol).
type portNode struct {
	off      offsets
	protos   []uint32 // 6, 17, 132
	v4, v6   bool
	src, dst bool
	and      bool
	lo, hi   uint32
}

func (n *portNode) ports(c *evalCtx, th uint32) bool {
	in := func(p uint32) bool { return p >= n.lo && p <= n.hi }
	switch {
	case n.src && n.dst && n.and:
		return in(c.u16(th)) && in(c.u16(th+2))
	case n.src && n.dst:
		return in(c.u16(th)) || in(c.u16(th+2))
	case n.src:
		return in(c.u16(th))
	}
	return in(c.u16(th + 2))
}

func (n *portNode) protoIn(p uint32) bool {
	for _, q := range n.protos {
		if p == q {
			return true
		}
	}
	return false
}

func (n *portNode) eval(c *evalCtx) bool {
	t := c.u16(n.off.typ)
	l3 := n.off.l3()
	switch {
	case t == 0x0800 && n.v4:
		if !n.protoIn(c.u8(l3 + 9)) {
			return false
		}
		if c.u16(l3+6)&0x1fff != 0 {
			return false
		}
		return n.ports(c, l3+(c.u8(l3)&0xf)*4)
	case t == 0x86dd && n.v6:
		if !n.protoIn(c.u8(l3 + 6)) {
			return false
		}
		return n.ports(c, l3+40)
	}
	return false
}

// lenNode is less/greater.
type lenNode struct {
	n       uint32
	greater bool
}

func (n *lenNode) eval(c *evalCtx) bool {
	if n.greater {
		return c.wire >= n.n
	}
	return c.wire <= n.n
}

// ip4MulticastNode: an IPv4 multicast destination; ip6MulticastNode the
// same for IPv6.
type ip4MulticastNode struct{ off offsets }

func (n *ip4MulticastNode) eval(c *evalCtx) bool {
	return c.u16(n.off.typ) == 0x0800 && c.u8(n.off.l3()+16) >= 224
}

type ip6MulticastNode struct{ off offsets }

func (n *ip6MulticastNode) eval(c *evalCtx) bool {
	return c.u16(n.off.typ) == 0x86dd && c.u8(n.off.l3()+24) == 0xff
}

// relNode is arith relop arith, guarded by the protocol checks its loads
// need (each load's protocol, as libpcap ANDs them in front).
type relNode struct {
	checks []boolNode
	a, b   arithNode
	op     string
}

func (n *relNode) eval(c *evalCtx) bool {
	for _, ch := range n.checks {
		if !ch.eval(c) || c.abort {
			return false
		}
	}
	x := n.a.eval(c)
	y := n.b.eval(c)
	if c.abort {
		return false
	}
	switch n.op {
	case "=", "==":
		return x == y
	case "!=":
		return x != y
	case "<":
		return x < y
	case "<=":
		return x <= y
	case ">":
		return x > y
	}
	return x >= y
}

// arithNode is an arithmetic expression (32-bit unsigned, as BPF).
type arithNode interface {
	eval(c *evalCtx) uint32
}

type constNode uint32

func (n constNode) eval(*evalCtx) uint32 { return uint32(n) }

type wireLenNode struct{}

func (wireLenNode) eval(c *evalCtx) uint32 { return c.wire }

type binNode struct {
	op   byte
	a, b arithNode
}

func (n *binNode) eval(c *evalCtx) uint32 {
	x, y := n.a.eval(c), n.b.eval(c)
	switch n.op {
	case '+':
		return x + y
	case '-':
		return x - y
	case '*':
		return x * y
	case '/':
		if y == 0 {
			c.abort = true
			return 0
		}
		return x / y
	case '%':
		if y == 0 {
			c.abort = true
			return 0
		}
		return x % y
	case '&':
		return x & y
	case '|':
		return x | y
	case '^':
		return x ^ y
	case '<':
		if y > 31 {
			return 0
		}
		return x << y
	case '>':
		if y > 31 {
			return 0
		}
		return x >> y
	}
	return 0
}

type negNode struct{ a arithNode }

func (n *negNode) eval(c *evalCtx) uint32 { return -n.a.eval(c) }

// loadNode is proto[index:size]: base is where the protocol's header
// starts.
type loadNode struct {
	base  baseKind
	off   offsets
	index arithNode
	size  uint8
}

type baseKind uint8

const (
	baseLink       baseKind = iota // ether[]
	baseNet                        // ip[], ip6[], arp[], rarp[]
	baseTransport                  // tcp[], udp[], icmp[], igmp[], sctp[] (IPv4)
	baseTransport6                 // icmp6[] (IPv6, fixed header)
)

func (n *loadNode) eval(c *evalCtx) uint32 {
	i := n.index.eval(c)
	var at uint32
	switch n.base {
	case baseLink:
		at = i
	case baseNet:
		at = n.off.l3() + i
	case baseTransport:
		at = n.off.l3() + (c.u8(n.off.l3())&0xf)*4 + i
	case baseTransport6:
		at = n.off.l3() + 40 + i
	}
	return c.load(at, n.size)
}

// ipFragNode: the first (or only) fragment of an IPv4 datagram.
type ipFragNode struct{ off offsets }

func (n *ipFragNode) eval(c *evalCtx) bool { return c.u16(n.off.l3()+6)&0x1fff == 0 }

func v4mask(bits int) uint32 {
	if bits <= 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

func v6words(a netip.Addr) [4]uint32 {
	b := a.As16()
	return [4]uint32{binary.BigEndian.Uint32(b[0:]), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])}
}

func v6mask(bits int) [4]uint32 {
	var m [4]uint32
	for i := 0; i < 4; i++ {
		switch {
		case bits >= 32:
			m[i] = ^uint32(0)
		case bits > 0:
			m[i] = ^uint32(0) << (32 - bits)
		}
		bits -= 32
	}
	return m
}
