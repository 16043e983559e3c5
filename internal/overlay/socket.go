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
	log   *slog.Logger
	mu    sync.Mutex
	socks map[sockKey]*rxSock
}

type sockKey struct {
	encap Encap
	local netip.Addr // unspecified when bound to every address (multicast)
	port  uint16
}

// NewManager returns a manager with no sockets.
func NewManager(log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{log: log, socks: map[sockKey]*rxSock{}}
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
	s := &rxSock{m: m, key: key, group: cfg.Group, done: make(chan struct{})}
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
	if cfg.Encap == GRE {
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

// run is the socket's receive loop.
func (s *rxSock) run(ctx context.Context) {
	defer close(s.done)
	pkts := make([]*datapath.Packet, batchSize)
	hdrs := make([]unix.Mmsghdr, batchSize)
	iovs := make([]unix.Iovec, batchSize)
	names := make([]unix.RawSockaddrInet6, batchSize)
	for i := range pkts {
		pkts[i] = datapath.NewPacket(bufSize)
		iovs[i].Base = &pkts[i].Buf[datapath.Headroom]
		iovs[i].SetLen(bufSize)
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
		hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
	}
	type group struct {
		port *Port
		pkts []*datapath.Packet
	}
	var groups []group
	for ctx.Err() == nil {
		n := 0
		var rerr error
		err := s.rc.Read(func(fd uintptr) bool {
			for i := range hdrs {
				hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
				hdrs[i].Hdr.Flags = 0
			}
			r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), batchSize, unix.MSG_DONTWAIT, 0, 0)
			if errno == unix.EAGAIN {
				return false
			}
			if errno != 0 {
				rerr = errno
				return true
			}
			n = int(r)
			return true
		})
		if err != nil || ctx.Err() != nil {
			return
		}
		if rerr != nil {
			if rerr != unix.EINTR && !errors.Is(rerr, unix.ENOBUFS) {
				s.m.log.Warn("tunnel receive", "err", rerr)
			}
			continue
		}
		s.received.Add(uint64(n))
		targets := *s.targets.Load()
		groups = groups[:0]
		for i := 0; i < n; i++ {
			p := pkts[i]
			p.Reset()
			size := int(hdrs[i].Len)
			if hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
				s.badHeader.Add(1)
				continue
			}
			src := sockaddrAddr(&names[i])
			port := s.decap(p, size, src, targets)
			if port == nil {
				continue
			}
			j := 0
			for j < len(groups) && groups[j].port != port {
				j++
			}
			if j == len(groups) {
				if cap(groups) > j {
					groups = groups[:j+1]
					groups[j].port, groups[j].pkts = port, groups[j].pkts[:0]
				} else {
					groups = append(groups, group{port: port})
				}
			}
			groups[j].pkts = append(groups[j].pkts, p)
		}
		for _, g := range groups {
			if bp := g.port.bp.Load(); bp != nil {
				bp.Receive(g.pkts)
			}
		}
	}
}

func sockaddrAddr(sa *unix.RawSockaddrInet6) netip.Addr {
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr)
	}
	return netip.AddrFrom16(sa.Addr)
}

// decap checks the tunnel header of the datagram in p (size bytes at the
// standard headroom), sets p to the inner frame and returns the port that
// carries its VNI, or nil if it is dropped (and counted).
func (s *rxSock) decap(p *datapath.Packet, size int, src netip.Addr, targets map[uint32]*Port) *Port {
	d := p.Buf[datapath.Headroom : datapath.Headroom+size]
	var vni uint32
	var hdr int
	switch s.key.encap {
	case VXLAN:
		v, err := packet.ParseVXLAN(d)
		if err != nil || !v.HasI() {
			// RFC 7348: the I flag must be set. Reserved bits are ignored.
			s.badHeader.Add(1)
			return nil
		}
		vni, hdr = v.VNI(), packet.VXLANHeaderLen
	case Geneve:
		g, err := packet.ParseGeneve(d)
		if err != nil || g.OAM() || g.Protocol() != packet.EtherTypeTEB {
			s.badHeader.Add(1)
			return nil
		}
		if crit, err := g.HasCriticalOption(); crit || err != nil {
			// We understand no option: a critical one means drop (RFC 8926 §3.5).
			s.badHeader.Add(1)
			return nil
		}
		vni, hdr = g.VNI(), g.HeaderLen()
	case GRE:
		ip, err := packet.ParseIPv4(d)
		if err != nil {
			s.badHeader.Add(1)
			return nil
		}
		src = ip.Src()
		g, err := packet.ParseGRE(ip.Payload())
		if err != nil || g.Protocol() != packet.EtherTypeTEB {
			s.badHeader.Add(1)
			return nil
		}
		vni, hdr = g.Key(), ip.HeaderLen()+g.HeaderLen()
	}
	if size-hdr < packet.EthernetLen {
		s.badHeader.Add(1)
		return nil
	}
	port := targets[vni&0xffffff]
	if port == nil {
		s.unknownVNI.Add(1)
		return nil
	}
	for _, l := range *s.locals.Load() {
		if src == l {
			return nil // our own flood looped back
		}
	}
	p.Off, p.Len = datapath.Headroom+hdr, size-hdr
	ep, err := datapath.InternEndpoint(src)
	if err != nil {
		ep = datapath.NoEndpoint
	}
	p.Tunnel = datapath.TunnelMeta{Valid: true, VNI: vni & 0xffffff, Remote: ep}
	packet.FixPartialChecksum(p.Data())
	return port
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
