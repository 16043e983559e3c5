package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/netdev"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// batchSize is how many datagrams one recvmmsg reads.
const batchSize = 64

// bufSize is the receive buffer of one datagram. A Linux VXLAN peer over a
// veth hands the UDP socket unsegmented tunnel-GSO datagrams (the kernel
// segments only UDP_L4 GSO for sockets without UDP_GRO), so a datagram can
// carry a 64 KiB inner TCP super-frame.
const bufSize = 65535 + 64

// Manager owns the tunnel sockets of a daemon.
type Manager struct {
	log     *slog.Logger
	offload bool // UDP GSO on transmit, UDP GRO and TCP merging on receive
	mu      sync.Mutex
	socks   map[sockKey]*rxSock
}

type sockKey struct {
	encap Encap
	local netip.Addr // unspecified when bound to every address (multicast)
	port  uint16
}

// NewManager returns a manager with no sockets; offload turns on UDP GSO
// for bulk transmit and UDP GRO with TCP merging on receive.
func NewManager(log *slog.Logger, offload bool) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{log: log, offload: offload, socks: map[sockKey]*rxSock{}}
}

// SocketStats are the drops a tunnel socket counts before a frame has a
// port: headers that are malformed or refused, and VNIs no port carries.
type SocketStats struct {
	BadHeader  uint64 `json:"bad_header"`
	UnknownVNI uint64 `json:"unknown_vni"`
	Received   uint64 `json:"received"`
}

// rxSock is one receiving socket and the VNIs it serves.
type rxSock struct {
	m       *Manager
	key     sockKey
	file    *os.File
	rc      syscall.RawConn
	targets atomic.Pointer[map[uint32]*Port]
	users   int
	cancel  context.CancelFunc
	done    chan struct{}
	group   netip.Addr
	locals  atomic.Pointer[[]netip.Addr] // our own addresses: never learn from them
	gro     bool                         // UDP_GRO on the socket, TCP merging on decap
	rxrun   remoteRun                    // per-remote receive counting (the receive goroutine's)

	badHeader, unknownVNI, received atomic.Uint64
}

func (m *Manager) socket(cfg *PortConfig) (*rxSock, error) {
	key := sockKey{encap: cfg.Encap, local: cfg.Local, port: cfg.DstPort}
	if cfg.Group.IsValid() {
		key.local = netip.IPv4Unspecified()
		if cfg.Local.Is6() {
			key.local = netip.IPv6Unspecified()
		}
	}
	if s, ok := m.socks[key]; ok {
		if cfg.Group.IsValid() && s.group.IsValid() && s.group != cfg.Group {
			return nil, fmt.Errorf("group: port %d already joins %s on this host; one group per port number", cfg.DstPort, s.group)
		}
		s.users++
		return s, nil
	}
	fd, err := openRx(cfg, key)
	if err != nil {
		return nil, err
	}
	s := &rxSock{m: m, key: key, group: cfg.Group, done: make(chan struct{}), gro: m.offload}
	if s.gro && cfg.Encap.UDP() {
		// Runs of same-flow datagrams arrive glued together; if the kernel
		// refuses, they arrive one by one, which is slower but the same.
		if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
			m.log.Warn("tunnel socket without UDP_GRO", "err", err)
		}
	}
	s.file = os.NewFile(uintptr(fd), "tunnel-"+cfg.Encap.String())
	if s.rc, err = s.file.SyscallConn(); err != nil {
		s.file.Close()
		return nil, err
	}
	empty := map[uint32]*Port{}
	s.targets.Store(&empty)
	s.locals.Store(&[]netip.Addr{cfg.Local})
	s.users = 1
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(ctx)
	m.socks[key] = s
	m.log.Info("tunnel socket open", "encap", cfg.Encap, "local", key.local, "port", key.port, "group", cfg.Group)
	return s, nil
}

func (m *Manager) release(s *rxSock) {
	s.users--
	if s.users > 0 {
		return
	}
	delete(m.socks, s.key)
	s.cancel()
	s.file.Close()
	<-s.done
}

// openRx opens the receiving socket: UDP for VXLAN and Geneve (joined to
// the group if any), raw IPPROTO_GRE for GRE.
func openRx(cfg *PortConfig, key sockKey) (int, error) {
	v6 := cfg.Local.Is6() && !cfg.Local.Is4In6()
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	if !cfg.Encap.UDP() {
		if v6 {
			return -1, fmt.Errorf("local: GRE over IPv6 is not supported; use an IPv4 underlay")
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, packet.ProtoGRE)
		if err != nil {
			return -1, fmt.Errorf("GRE socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: cfg.Local.As4()}); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("bind GRE socket to %s: %w", cfg.Local, err)
		}
		return fd, nil
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("UDP socket: %w", err)
	}
	fail := func(format string, a ...any) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf(format, a...)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	var sa unix.Sockaddr
	if v6 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		sa = &unix.SockaddrInet6{Port: int(key.port), Addr: key.local.As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(key.port), Addr: key.local.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind UDP %s port %d: %w", key.local, key.port, err)
	}
	if cfg.Group.IsValid() {
		ifi, err := net.InterfaceByName(cfg.Dev)
		if err != nil {
			return fail("dev: underlay interface %q: %w", cfg.Dev, err)
		}
		if v6 {
			mreq := &unix.IPv6Mreq{Multiaddr: cfg.Group.As16(), Interface: uint32(ifi.Index)}
			err = unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq)
		} else {
			mreq := &unix.IPMreqn{Multiaddr: cfg.Group.As4(), Ifindex: int32(ifi.Index)}
			err = unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq)
		}
		if err != nil {
			return fail("join group %s on %s: %w", cfg.Group, cfg.Dev, err)
		}
	}
	return fd, nil
}

// register points VNIs at port (replacing what the port had).
func (s *rxSock) register(p *Port, vnis []uint32) error {
	old := *s.targets.Load()
	next := make(map[uint32]*Port, len(old)+len(vnis))
	for vni, q := range old {
		if q != p {
			next[vni] = q
		}
	}
	for _, vni := range vnis {
		if q, ok := next[vni]; ok {
			return fmt.Errorf("vni %d is already carried by tunnel port %q on this socket", vni, q.name)
		}
		next[vni] = p
	}
	s.targets.Store(&next)
	return nil
}

func (s *rxSock) unregister(p *Port) { _ = s.register(p, nil) }

// groCmsgSpace is the room for one UDP_GRO control message.
var groCmsgSpace = unix.CmsgSpace(4)

// run is the socket's receive loop: a batch of datagrams per recvmmsg,
// each split into its tunnel packets (UDP_GRO glues a run of them
// together), decapsulated and handed to the engine by the assembler.
func (s *rxSock) run(ctx context.Context) {
	defer close(s.done)
	pkts := make([]*datapath.Packet, batchSize)
	hdrs := make([]unix.Mmsghdr, batchSize)
	iovs := make([]unix.Iovec, batchSize)
	names := make([]unix.RawSockaddrInet6, batchSize)
	oob := make([]byte, batchSize*groCmsgSpace)
	for i := range pkts {
		pkts[i] = datapath.NewPacket(bufSize)
		iovs[i].Base = &pkts[i].Buf[datapath.Headroom]
		iovs[i].SetLen(bufSize)
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
		hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		hdrs[i].Hdr.Control = &oob[i*groCmsgSpace]
	}
	asm := newRxAssembler(s.gro)
	rd := netdev.MmsgReader{Hdrs: hdrs, ControlLen: groCmsgSpace, NameLen: unix.SizeofSockaddrInet6}
	for ctx.Err() == nil {
		n, err, rerr := rd.Read(s.rc)
		if err != nil || ctx.Err() != nil {
			return
		}
		if rerr != nil {
			if rerr != unix.EINTR && !errors.Is(rerr, unix.ENOBUFS) {
				s.m.log.Warn("tunnel receive", "err", rerr)
			}
			continue
		}
		targets := *s.targets.Load()
		for i := 0; i < n; i++ {
			p := pkts[i]
			p.Reset()
			if hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
				s.received.Add(1)
				s.badHeader.Add(1)
				continue
			}
			size := int(hdrs[i].Len)
			seg := groSize(oob[i*groCmsgSpace:], int(hdrs[i].Hdr.Controllen))
			src := sockaddrAddr(&names[i])
			s.datagram(asm, p, p.Buf[datapath.Headroom:datapath.Headroom+size], seg, src, targets)
		}
		asm.flush()
		s.rxrun.flush()
	}
}

// groSize returns the segment size of a UDP_GRO control message (0: none).
func groSize(oob []byte, n int) int {
	if n < unix.CmsgLen(4) {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.SOL_UDP || h.Type != unix.UDP_GRO {
		return 0
	}
	return int(*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
}

// datagram handles one received datagram d (inside p's buffer): one tunnel
// packet, or with UDP_GRO (seg > 0) a run of seg-byte tunnel packets — unless
// it is one tunnel packet around an unsegmented inner super-frame, which the
// kernel also reports with the inner segment size.
func (s *rxSock) datagram(asm *rxAssembler, p *datapath.Packet, d []byte, seg int, src netip.Addr, targets map[uint32]*Port) {
	if seg <= 0 || seg >= len(d) || s.key.encap == GRE || s.singleSuper(d, seg) {
		s.received.Add(1)
		port, meta, hdr := s.decap(d, src, targets)
		if port != nil {
			s.rxrun.add(port, meta.Remote, len(d)-hdr)
			asm.add(port, meta, d[hdr:], p, datapath.Headroom+hdr, seg)
		}
		return
	}
	for len(d) > 0 {
		c := d[:min(seg, len(d))]
		d = d[len(c):]
		s.received.Add(1)
		port, meta, hdr := s.decap(c, src, targets)
		if port != nil {
			s.rxrun.add(port, meta.Remote, len(c)-hdr)
			asm.add(port, meta, c[hdr:], nil, 0, 0)
		}
	}
}

// singleSuper reports whether a datagram the kernel reported with segment
// size seg is really one tunnel packet whose inner IP packet runs past the
// first seg bytes (a Linux VXLAN peer's unsegmented tunnel-GSO datagram).
func (s *rxSock) singleSuper(d []byte, seg int) bool {
	hdr := 8
	if s.key.encap == Geneve {
		g, err := packet.ParseGeneve(d)
		if err != nil {
			return false
		}
		hdr = g.HeaderLen()
	}
	if len(d) < hdr+packet.EthernetLen {
		return false
	}
	inner := d[hdr:]
	l, err := packet.ParseL2(inner)
	if err != nil || len(inner) < l.L3+packet.IPv6Len {
		return false
	}
	var ipLen int
	switch l.EtherType {
	case packet.EtherTypeIPv4:
		ipLen = int(inner[l.L3+2])<<8 | int(inner[l.L3+3])
	case packet.EtherTypeIPv6:
		ipLen = packet.IPv6Len + (int(inner[l.L3+4])<<8 | int(inner[l.L3+5]))
	default:
		return false
	}
	return hdr+l.L3+ipLen > seg
}

func sockaddrAddr(sa *unix.RawSockaddrInet6) netip.Addr {
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr)
	}
	return netip.AddrFrom16(sa.Addr)
}

// decap checks the tunnel header of one tunnel packet d and returns the
// port that carries its VNI, the tunnel metadata and the header length, or
// a nil port if it is dropped (and counted) or is our own flood come back.
func (s *rxSock) decap(d []byte, src netip.Addr, targets map[uint32]*Port) (*Port, datapath.TunnelMeta, int) {
	var none datapath.TunnelMeta
	k := s.key.encap.kind()
	tun := d
	off := 0
	if !k.udp {
		// A raw IP socket: the outer IPv4 header comes first.
		ip, err := packet.ParseIPv4(d)
		if err != nil {
			s.badHeader.Add(1)
			return nil, none, 0
		}
		src, tun, off = ip.Src(), ip.Payload(), ip.HeaderLen()
	}
	vni, hdr, ok := k.parse(tun)
	if !ok {
		s.badHeader.Add(1)
		return nil, none, 0
	}
	hdr += off
	if len(d)-hdr < packet.EthernetLen {
		s.badHeader.Add(1)
		return nil, none, 0
	}
	port := targets[vni&0xffffff]
	if port == nil {
		s.unknownVNI.Add(1)
		return nil, none, 0
	}
	for _, l := range *s.locals.Load() {
		if src == l {
			return nil, none, 0 // our own flood looped back
		}
	}
	ep, err := datapath.InternEndpoint(src)
	if err != nil {
		ep = datapath.NoEndpoint
	}
	return port, datapath.TunnelMeta{Valid: true, VNI: vni & 0xffffff, Remote: ep}, hdr
}

// Stats returns the socket-level drops of the socket a port uses.
func (m *Manager) Stats(p *Port) SocketStats {
	return SocketStats{BadHeader: p.sock.badHeader.Load(), UnknownVNI: p.sock.unknownVNI.Load(), Received: p.sock.received.Load()}
}

// Close closes every socket.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.socks {
		s.users = 1
		m.release(s)
	}
	return nil
}
