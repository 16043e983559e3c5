package overlay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// maxHdr is the room for one outer header: IPv6 + UDP + an 8-byte tunnel
// header (GRE over IPv4 is smaller).
const maxHdr = packet.IPv6Len + packet.UDPLen + 8

// txBatch is how many datagrams one sendmmsg carries.
const txBatch = 64

// Port is a tunnel port: a datapath.Port whose frames leave encapsulated,
// and whose socket hands it the frames of its VNIs.
type Port struct {
	name  string
	cfg   PortConfig
	m     *Manager
	sock  *rxSock
	txfd  int
	v6    bool
	mtu   int
	flood []netip.Addr

	bp       atomic.Pointer[attached]
	counters atomic.Pointer[datapath.Counters]
	closed   chan struct{}
	once     sync.Once
	ipID     atomic.Uint32

	gsoEnabled bool // UDP GSO allowed (offloads on)

	txMu  sync.Mutex
	gso   gsoState
	prep  []txFrame
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	hbuf  []byte
	names []unix.RawSockaddrInet6
	qrc   []*remoteCount // per queued datagram: its remote's counters
	qlen  []int          // per queued datagram: the inner frame's length

	remotes remoteTable // per remote VTEP counters (RemoteCounters)
	lastDst netip.Addr  // remoteFor's memo (txMu)
	lastRC  *remoteCount
}

// OpenPort opens a tunnel port: it shares (or opens) the receiving socket
// for its encapsulation, local address and port, and opens its own
// send-only raw socket.
func (m *Manager) OpenPort(name string, cfg PortConfig) (*Port, error) {
	cfg = cfg.withDefaults()
	if !cfg.Local.IsValid() {
		return nil, fmt.Errorf("local: a tunnel port needs its local VTEP address")
	}
	mtu, err := localMTU(cfg.Local)
	if err != nil {
		return nil, err
	}
	if cfg.UnderlayMTU > 0 {
		mtu = cfg.UnderlayMTU
	}
	p := &Port{name: name, cfg: cfg, m: m, mtu: mtu, closed: make(chan struct{}), txfd: -1, gsoEnabled: m.offload}
	p.v6 = cfg.Local.Is6() && !cfg.Local.Is4In6()
	if cfg.Group.IsValid() {
		p.flood = []netip.Addr{cfg.Group}
	} else {
		p.flood = append([]netip.Addr(nil), cfg.Remotes...)
	}
	if p.txfd, err = openTx(&cfg, p.v6); err != nil {
		return nil, err
	}
	m.mu.Lock()
	p.sock, err = m.socket(&cfg)
	m.mu.Unlock()
	if err != nil {
		unix.Close(p.txfd)
		return nil, err
	}
	p.hdrs = make([]unix.Mmsghdr, txBatch)
	p.iovs = make([]unix.Iovec, 2*txBatch)
	p.hbuf = make([]byte, maxHdr*txBatch)
	p.names = make([]unix.RawSockaddrInet6, txBatch)
	p.qrc = make([]*remoteCount, txBatch)
	p.qlen = make([]int, txBatch)
	return p, nil
}

// localMTU returns the MTU of the interface that holds addr.
func localMTU(addr netip.Addr) (int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, err
	}
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr.Unmap() {
					return ifi.MTU, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("local: %s is not an address of this host (add it to the underlay interface first)", addr)
}

// openTx opens the send-only raw socket (IPPROTO_RAW: we write the whole IP
// header; it receives nothing).
func openTx(cfg *PortConfig, v6 bool) (int, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return -1, fmt.Errorf("raw send socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if cfg.Group.IsValid() {
		if err := setMulticastIf(fd, cfg.Dev, v6); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// setMulticastIf makes fd send multicast out of dev, without looping it
// back to this host.
func setMulticastIf(fd int, dev string, v6 bool) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return fmt.Errorf("dev: underlay interface %q: %w", dev, err)
	}
	if v6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0)
	} else {
		err = unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)})
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
	}
	if err != nil {
		return fmt.Errorf("multicast interface %s: %w", dev, err)
	}
	return nil
}

// Name returns the port's name.
func (p *Port) Name() string { return p.name }

// Offloads names the tunnel's offloads: udp-gso (bulk sends, when the
// encapsulation and checksum setting allow it) and udp-gro (receive, with
// TCP merging), or none.
func (p *Port) Offloads() []string {
	var l []string
	p.txMu.Lock()
	if p.canGSO() {
		l = append(l, "udp-gso")
	}
	p.txMu.Unlock()
	if p.sock.gro && p.cfg.Encap.UDP() {
		l = append(l, "udp-gro")
	}
	return l
}

// Config returns the port's configuration with defaults filled in.
func (p *Port) Config() PortConfig { return p.cfg }

// Overhead is the encapsulation's size (see PortConfig.Overhead).
func (p *Port) Overhead() int { return p.cfg.Overhead() }

// UnderlayMTU is the MTU tunnel packets must fit.
func (p *Port) UnderlayMTU() int { return p.mtu }

// VMMTU is the largest MTU a VM behind this tunnel can use without its
// frames being dropped: the underlay MTU less the overhead.
func (p *Port) VMMTU() int { return p.mtu - p.cfg.Overhead() }

// BindCounters implements datapath.CounterBinder.
func (p *Port) BindCounters(c *datapath.Counters) { p.counters.Store(c) }

func (p *Port) drop(r datapath.DropReason, n int) {
	if c := p.counters.Load(); c != nil {
		c.Drop(r, n)
	}
}

// VNIReceiver is what a tunnel port hands its frames to: a receiver that
// says which VNIs it takes (a bridge port, *datapath.Port).
type VNIReceiver interface {
	datapath.Receiver
	VNIs() []uint32
}

// attached is the receiver a port's frames go to.
type attached struct{ rx datapath.Receiver }

// Attach registers the receiver's VNIs on the socket; call it again after
// the port's VNI settings change.
func (p *Port) Attach(rx VNIReceiver) error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if err := p.sock.register(p, rx.VNIs()); err != nil {
		return err
	}
	p.bp.Store(&attached{rx: rx})
	return nil
}

// Caps: a tunnel port takes every frame as it is. It segments super-frames
// itself (with UDP GSO where it can) and finishes partial inner checksums.
func (p *Port) Caps() datapath.Caps { return datapath.CapsAll }

// Run attaches the port and waits until ctx ends or the port is closed; the
// receiving is done by the shared socket's loop. rx must say its VNIs (be a
// VNIReceiver).
func (p *Port) Run(ctx context.Context, rx datapath.Receiver) error {
	vr, ok := rx.(VNIReceiver)
	if !ok {
		return fmt.Errorf("tunnel port %s: its receiver does not say its VNIs", p.name)
	}
	if err := p.Attach(vr); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-p.closed:
	}
	return nil
}

// Close detaches the port and releases its sockets.
func (p *Port) Close() error {
	p.once.Do(func() {
		close(p.closed)
		p.m.mu.Lock()
		p.sock.unregister(p)
		p.bp.Store(nil)
		p.m.release(p.sock)
		p.m.mu.Unlock()
		p.txMu.Lock()
		unix.Close(p.txfd)
		p.txfd = -1
		p.closeGSO()
		p.txMu.Unlock()
	})
	return nil
}

// Send encapsulates each frame and sends it to its remote VTEP, or floods it
// to the group or every remote. A super-frame is segmented first (see
// sendSuper), and a run of same-sized frames of one flow to one place goes
// out as one UDP GSO send (see sendRun); a partial inner checksum is
// finished, since nothing after us will.
func (p *Port) Send(batch []datapath.Out) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.txfd < 0 {
		p.drop(datapath.DropTxError, len(batch))
		return
	}
	prep := p.prepare(batch)
	needSum := p.cfg.Encap.UDP() && (p.v6 || !p.cfg.NoUDPCsum)
	n := 0
	for i := 0; i < len(batch); {
		o, f := batch[i], prep[i]
		var one [1]netip.Addr
		dsts := p.flood
		if o.Remote != datapath.NoEndpoint {
			one[0] = o.Remote.Addr()
			dsts = one[:]
		}
		switch {
		case f.super:
			p.sendSuper(o, dsts, &n)
			i++
			continue
		case f.inner == nil: // dropped and counted by prepare
			i++
			continue
		}
		j := p.runEnd(batch, prep, i)
		if j-i >= 2 {
			if n > 0 { // what is queued goes first: a flow keeps its order
				p.flush(n)
				n = 0
			}
			dsts = dsts[p.sendRun(batch[i:j], prep[i:j], dsts):]
		}
		// One datagram per frame and destination for what GSO did not send.
		for k := i; k < j && len(dsts) > 0; k++ {
			inner := prep[k].inner
			var innerSum uint32
			if needSum {
				innerSum = packet.Checksum(inner, 0)
			}
			tos := p.cfg.TOS
			if p.cfg.InheritTOS {
				tos = innerTOS(inner)
			}
			for _, dst := range dsts {
				p.queueRaw(&n, dst, batch[k].VNI, inner, prep[k].sport, tos, innerSum, needSum)
			}
		}
		i = j
	}
	if n > 0 {
		p.flush(n)
	}
	clear(prep)
}

// txFrame is what Send works out for each frame of a batch before it sends.
type txFrame struct {
	inner []byte // nil: dropped
	sport uint16
	super bool
}

// prepare checks each frame against the underlay MTU, finishes partial
// inner checksums and computes the outer source port.
func (p *Port) prepare(batch []datapath.Out) []txFrame {
	if cap(p.prep) < len(batch) {
		p.prep = make([]txFrame, len(batch))
	}
	prep := p.prep[:len(batch)]
	ipHdr := packet.IPv4MinLen
	if p.v6 {
		ipHdr = packet.IPv6Len
	}
	for i, o := range batch {
		pkt := o.Pkt
		if pkt.Offload.IsSuper() {
			prep[i] = txFrame{super: true}
			continue
		}
		inner := pkt.Data()
		if ipHdr+p.cfg.headerLen()+len(inner) > p.mtu {
			p.drop(datapath.DropMTU, 1)
			prep[i] = txFrame{}
			continue
		}
		if pkt.Offload.NeedsCsum {
			if err := packet.FinishChecksum(inner, pkt.Offload.CsumStart, pkt.Offload.CsumOffset); err != nil {
				p.drop(datapath.DropBadFrame, 1)
				prep[i] = txFrame{}
				continue
			}
			pkt.Offload.NeedsCsum = false
		}
		prep[i] = txFrame{inner: inner, sport: packet.SourcePort(packet.FlowHash(inner), p.cfg.SrcPortMin, p.cfg.SrcPortMax)}
	}
	return prep
}

// queueRaw adds one datagram for the raw socket — its outer headers built
// into the message's header buffer, the inner frame sent from where it lies —
// and flushes when the vector is full.
func (p *Port) queueRaw(n *int, dst netip.Addr, vni uint32, inner []byte, sport uint16, tos uint8, innerSum uint32, needSum bool) {
	i := *n
	h := p.hbuf[i*maxHdr : (i+1)*maxHdr]
	hl := p.buildHeader(h, dst, vni, len(inner), sport, tos, innerSum, needSum)
	p.iovs[2*i].Base = &h[0]
	p.iovs[2*i].SetLen(hl)
	p.iovs[2*i+1].Base = &inner[0]
	p.iovs[2*i+1].SetLen(len(inner))
	m := &p.hdrs[i].Hdr
	m.Iov = &p.iovs[2*i]
	m.SetIovlen(2)
	m.Name = (*byte)(unsafe.Pointer(&p.names[i]))
	m.Namelen = p.setName(i, dst)
	p.qrc[i], p.qlen[i] = p.remoteFor(dst), len(inner)
	*n = i + 1
	if *n == txBatch {
		p.flush(*n)
		*n = 0
	}
}

func (p *Port) setName(i int, dst netip.Addr) uint32 {
	if p.v6 {
		sa := &p.names[i]
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
		return unix.SizeofSockaddrInet6
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.names[i]))
	*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
	return unix.SizeofSockaddrInet4
}

// buildHeader writes the outer IP, UDP/GRE and tunnel headers into h and
// returns their length.
func (p *Port) buildHeader(h []byte, dst netip.Addr, vni uint32, innerLen int, sport uint16, tos uint8, innerSum uint32, withSum bool) int {
	off := packet.IPv4MinLen
	if p.v6 {
		off = packet.IPv6Len
	}
	proto := uint8(packet.ProtoUDP)
	var l4len int
	k := p.cfg.Encap.kind()
	switch {
	case !k.udp:
		proto = packet.ProtoGRE
		k.put(h[off:], vni)
		l4len = k.tunLen + innerLen
	default:
		k.put(h[off+packet.UDPLen:], vni)
		l4len = packet.UDPLen + k.tunLen + innerLen
		u := h[off:]
		be16(u[0:], sport)
		be16(u[2:], p.cfg.DstPort)
		be16(u[4:], uint16(l4len))
		u[6], u[7] = 0, 0
		if withSum {
			var pseudo uint32
			if p.v6 {
				s, d := p.cfg.Local.As16(), dst.As16()
				pseudo = packet.PseudoHeaderSum(s[:], d[:], packet.ProtoUDP, l4len)
			} else {
				s, d := p.cfg.Local.As4(), dst.As4()
				pseudo = packet.PseudoHeaderSum(s[:], d[:], packet.ProtoUDP, l4len)
			}
			c := ^packet.Fold(packet.Checksum(u[:packet.UDPLen+8], pseudo+innerSum))
			if c == 0 {
				c = 0xffff
			}
			be16(u[6:], c)
		}
	}
	if p.v6 {
		h[0], h[1], h[2], h[3] = 0x60|tos>>4, tos<<4, 0, 0
		be16(h[4:], uint16(l4len))
		h[6], h[7] = proto, p.cfg.TTL
		s, d := p.cfg.Local.As16(), dst.As16()
		copy(h[8:24], s[:])
		copy(h[24:40], d[:])
	} else {
		_ = packet.PutIPv4(h, &packet.OuterIPv4{Src: p.cfg.Local.As4(), Dst: dst.As4(), TTL: p.cfg.TTL, TOS: tos,
			ID: uint16(p.ipID.Add(1)), DF: true, Proto: proto}, l4len)
	}
	return off + l4len - innerLen
}

func be16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }

// innerTOS returns the inner IPv4 TOS or IPv6 traffic class (0 otherwise).
func innerTOS(f []byte) uint8 {
	l, err := packet.ParseL2(f)
	if err != nil {
		return 0
	}
	switch l.EtherType {
	case packet.EtherTypeIPv4:
		if ip, err := packet.ParseIPv4(f[l.L3:]); err == nil {
			return ip.TOS()
		}
	case packet.EtherTypeIPv6:
		if ip, err := packet.ParseIPv6(f[l.L3:]); err == nil {
			return ip.TrafficClass()
		}
	}
	return 0
}

func (p *Port) flush(n int) {
	for sent := 0; sent < n; {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.txfd), uintptr(unsafe.Pointer(&p.hdrs[sent])), uintptr(n-sent), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			reason := datapath.DropTxError
			if errno == unix.EAGAIN || errno == unix.ENOBUFS {
				reason = datapath.DropNoSpace
			} else if errno == unix.EMSGSIZE {
				reason = datapath.DropMTU
			}
			p.drop(reason, 1)
			if rc := p.qrc[sent]; rc != nil {
				rc.txDrops.Add(1)
			}
			sent++
			continue
		}
		for i := sent; i < sent+int(r); i++ {
			if rc := p.qrc[i]; rc != nil {
				rc.txPackets.Add(1)
				rc.txBytes.Add(uint64(p.qlen[i]))
			}
		}
		sent += int(r)
	}
	for i := 0; i < 2*n; i++ {
		p.iovs[i].Base = nil
	}
	clear(p.qrc[:n])
}
