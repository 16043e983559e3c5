package overlay

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// The bulk transmit path. A super-frame (a VM's 64 KiB TCP burst) is split
// into MTU-sized inner segments, each behind its own tunnel header, laid
// back to back in one buffer, and handed to a UDP socket with UDP_SEGMENT:
// one sendmsg per ≤ 64 KiB of datagrams, the kernel builds the outer IP and
// UDP headers and their checksums. A UDP socket sends from one source port,
// so there is one socket per outer source port in use (the RFC 7348 flow
// hash of the inner frame), opened on first use and bound to the local VTEP
// address; up to maxGSOSocks of them per tunnel port, beyond which (and
// where GSO is impossible: GRE, --udp-csum off, a port already taken) the
// segments go out through the raw socket in one sendmmsg.

const (
	// maxGSOSocks bounds the UDP sockets of one tunnel port.
	maxGSOSocks = 256
	// maxGSOSegs bounds the datagrams of one UDP_SEGMENT send (the kernel
	// takes 128; 64 keeps one send under 64 KiB for 1,000-byte segments).
	maxGSOSegs = 64
	// maxUDPPayload is the largest UDP payload over IPv4.
	maxUDPPayload = 65507
	// gsoBufSize holds the datagrams of a 64 KiB super-frame split at the
	// smallest useful MSS with their headers.
	gsoBufSize = 256 << 10
)

// gsoState is the tunnel port's bulk transmit state (guarded by txMu).
type gsoState struct {
	socks map[uint16]int // outer source port → UDP socket (-1: cannot)
	off   bool           // GSO disabled (a send failed with EIO)
	buf   []byte
	segs  [][]byte
	iov   unix.Iovec
	msg   unix.Msghdr
	oob   []byte
	name  unix.RawSockaddrInet6
}

// canGSO reports whether the port may use UDP GSO at all.
func (p *Port) canGSO() bool {
	return p.gsoEnabled && p.cfg.Encap.UDP() && (p.v6 || !p.cfg.NoUDPCsum) && !p.gso.off
}

// gsoSock returns the UDP socket that sends from sport, opening it on first
// use, or -1.
func (p *Port) gsoSock(sport uint16) int {
	g := &p.gso
	if fd, ok := g.socks[sport]; ok {
		return fd
	}
	if g.socks == nil {
		g.socks = map[uint16]int{}
	}
	if len(g.socks) >= maxGSOSocks {
		return -1
	}
	fd, err := openGSOSock(&p.cfg, p.v6, sport)
	if err != nil {
		p.m.log.Debug("tunnel GSO socket", "port", p.name, "sport", sport, "err", err)
		fd = -1
	}
	g.socks[sport] = fd
	return fd
}

func openGSOSock(cfg *PortConfig, v6 bool, sport uint16) (int, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, err
	}
	set := func(level, opt, v int) {
		if err == nil {
			err = unix.SetsockoptInt(fd, level, opt, v)
		}
	}
	set(unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	set(unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) // it never reads
	if v6 {
		set(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		set(unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
		set(unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE)
		set(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, int(cfg.TTL))
		set(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, int(cfg.TTL))
		set(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0)
		set(unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int(cfg.TOS))
	} else {
		// PROBE: DF set, never fragmented locally, path MTU news ignored.
		set(unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
		set(unix.IPPROTO_IP, unix.IP_TTL, int(cfg.TTL))
		set(unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, int(cfg.TTL))
		set(unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
		set(unix.IPPROTO_IP, unix.IP_TOS, int(cfg.TOS))
	}
	if err == nil && cfg.Group.IsValid() {
		err = setMulticastIf(fd, cfg.Dev, v6)
	}
	if err == nil {
		if v6 {
			err = unix.Bind(fd, &unix.SockaddrInet6{Port: int(sport), Addr: cfg.Local.As16()})
		} else {
			err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(sport), Addr: cfg.Local.As4()})
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (p *Port) closeGSO() {
	for _, fd := range p.gso.socks {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	p.gso.socks = nil
}

// sendSuper sends a super-frame: segmented, each segment encapsulated, to
// every destination; it returns the number of outer datagrams sent (for
// nothing: the caller counts the frame).
func (p *Port) sendSuper(o datapath.Out, dsts []netip.Addr, pending *int) {
	pkt := o.Pkt
	inner := pkt.Data()
	g := pkt.Offload
	tl := tunnelHdrLen(p.cfg.Encap)
	n, segMax := packet.SegmentCount(inner, g)
	if n <= 0 {
		p.drop(datapath.DropBadFrame, 1)
		return
	}
	ipHdr := packet.IPv4MinLen
	if p.v6 {
		ipHdr = packet.IPv6Len
	}
	if ipHdr+p.cfg.headerLen()+segMax > p.mtu {
		p.drop(datapath.DropMTU, 1)
		return
	}
	st := &p.gso
	if st.buf == nil {
		st.buf = make([]byte, gsoBufSize)
	}
	chunk := tl + segMax
	if n*chunk > len(st.buf) {
		p.drop(datapath.DropBadFrame, 1)
		return
	}
	if cap(st.segs) < n {
		st.segs = make([][]byte, n)
	}
	segs := st.segs[:n]
	for i := range segs {
		segs[i] = st.buf[i*chunk+tl : (i+1)*chunk]
	}
	m, err := packet.Segment(inner, g, segs)
	if err != nil {
		p.drop(datapath.DropBadFrame, 1)
		return
	}
	segs = segs[:m]
	sport := packet.SourcePort(packet.FlowHash(inner), p.cfg.SrcPortMin, p.cfg.SrcPortMax)
	tos := p.cfg.TOS
	if p.cfg.InheritTOS {
		tos = innerTOS(inner)
	}
	done := 0 // destinations served by GSO
	if p.canGSO() && evenSegments(segs, chunk-tl) {
		if fd := p.gsoSock(sport); fd >= 0 {
			for i := range segs {
				p.putTunnelHdr(st.buf[i*chunk:i*chunk+tl], o.VNI)
			}
			total := (len(segs)-1)*chunk + tl + len(segs[len(segs)-1])
			for done < len(dsts) && p.sendGSO(fd, dsts[done], st.buf[:total], chunk, tos) {
				done++
			}
		}
	}
	// The rest: one raw datagram per segment, flushed before the buffer is
	// reused.
	needSum := p.cfg.Encap.UDP() && (p.v6 || !p.cfg.NoUDPCsum)
	for _, dst := range dsts[done:] {
		for _, s := range segs {
			var innerSum uint32
			if needSum {
				innerSum = packet.Checksum(s, 0)
			}
			p.queueRaw(pending, dst, o.VNI, s, sport, tos, innerSum, needSum)
		}
	}
	if *pending > 0 {
		p.flush(*pending)
		*pending = 0
	}
}

// runEnd returns the end of the run of frames from batch[i] that can share
// one UDP GSO send: the same flow (outer source port), VNI and destination,
// the same length but for a shorter last one, within the segment and size
// limits of one send. Only UDP encapsulations with GSO allowed have runs.
func (p *Port) runEnd(batch []datapath.Out, prep []txFrame, i int) int {
	if !p.canGSO() {
		return i + 1
	}
	first := prep[i]
	size := len(first.inner)
	chunk := tunnelHdrLen(p.cfg.Encap) + size
	limit := min(maxGSOSegs, maxUDPPayload/chunk)
	j := i + 1
	for j < len(batch) && j-i < limit {
		f := prep[j]
		if f.inner == nil || f.super || f.sport != first.sport || len(f.inner) > size ||
			batch[j].Remote != batch[i].Remote || batch[j].VNI != batch[i].VNI {
			break
		}
		j++
		if len(f.inner) < size {
			break // a shorter one ends the run
		}
	}
	return j
}

// sendRun sends a run of small frames (see runEnd) as one UDP GSO send to
// each destination in turn: the frames are copied behind their tunnel
// headers into one buffer. It returns how many destinations it served; the
// caller sends the run to the rest one frame at a time (GSO is impossible
// for this flow, or the kernel just refused it).
func (p *Port) sendRun(batch []datapath.Out, prep []txFrame, dsts []netip.Addr) int {
	fd := p.gsoSock(prep[0].sport)
	if fd < 0 {
		return 0
	}
	st := &p.gso
	if st.buf == nil {
		st.buf = make([]byte, gsoBufSize)
	}
	tl := tunnelHdrLen(p.cfg.Encap)
	chunk := tl + len(prep[0].inner)
	off := 0
	for i, f := range prep {
		p.putTunnelHdr(st.buf[off:off+tl], batch[i].VNI)
		off += tl + copy(st.buf[off+tl:], f.inner)
	}
	tos := p.cfg.TOS
	if p.cfg.InheritTOS {
		tos = innerTOS(prep[0].inner)
	}
	done := 0
	for done < len(dsts) && p.sendGSO(fd, dsts[done], st.buf[:off], chunk, tos) {
		done++
	}
	return done
}

// evenSegments reports whether every segment but the last is size bytes
// and the last no longer, so that they lie back to back at a fixed stride
// (what UDP_SEGMENT needs).
func evenSegments(segs [][]byte, size int) bool {
	for i, s := range segs {
		if len(s) != size && (i != len(segs)-1 || len(s) > size) {
			return false
		}
	}
	return true
}

// sendGSO sends buf, datagrams of chunk bytes (the last may be shorter),
// to dst from the socket fd; false means the caller should fall back.
func (p *Port) sendGSO(fd int, dst netip.Addr, buf []byte, chunk int, tos uint8) bool {
	st := &p.gso
	for len(buf) > 0 {
		k := min(maxGSOSegs, maxUDPPayload/chunk)
		n := min(len(buf), k*chunk)
		st.iov.Base = &buf[0]
		st.iov.SetLen(n)
		st.msg = unix.Msghdr{Iov: &st.iov}
		st.msg.SetIovlen(1)
		st.msg.Name = (*byte)(unsafe.Pointer(&st.name))
		st.msg.Namelen = p.setSockaddr(&st.name, dst)
		st.oob = p.gsoCmsg(st.oob[:0], chunk, n, tos)
		if len(st.oob) > 0 {
			st.msg.Control = &st.oob[0]
			st.msg.SetControllen(len(st.oob))
		}
		for {
			_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&st.msg)), unix.MSG_DONTWAIT)
			if errno == unix.EINTR {
				continue
			}
			if errno == unix.EIO || errno == unix.EINVAL {
				// The device or the kernel refuses GSO: never again.
				p.m.log.Warn("tunnel UDP GSO refused; segments go out one by one", "port", p.name, "err", errno)
				st.off = true
				st.iov.Base = nil
				return false
			}
			segs := (n + chunk - 1) / chunk
			rc := p.remoteFor(dst)
			if errno != 0 {
				r := datapath.DropTxError
				switch errno {
				case unix.EAGAIN, unix.ENOBUFS:
					r = datapath.DropNoSpace
				case unix.EMSGSIZE:
					r = datapath.DropMTU
				}
				p.drop(r, 1)
				if rc != nil {
					rc.txDrops.Add(uint64(segs))
				}
			} else if rc != nil {
				rc.txPackets.Add(uint64(segs))
				rc.txBytes.Add(uint64(n - segs*tunnelHdrLen(p.cfg.Encap)))
			}
			break
		}
		buf = buf[n:]
	}
	st.iov.Base = nil
	return true
}

// gsoCmsg builds the control messages of one GSO send: UDP_SEGMENT when
// there is more than one datagram, and the TOS when it is inherited.
func (p *Port) gsoCmsg(b []byte, chunk, n int, tos uint8) []byte {
	if n > chunk {
		b = appendCmsg16(b, unix.SOL_UDP, unix.UDP_SEGMENT, uint16(chunk))
	}
	if p.cfg.InheritTOS {
		if p.v6 {
			b = appendCmsgInt(b, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int32(tos))
		} else {
			b = appendCmsgByte(b, unix.IPPROTO_IP, unix.IP_TOS, tos)
		}
	}
	return b
}

func appendCmsgHdr(b []byte, level, typ, dataLen int) ([]byte, []byte) {
	space := unix.CmsgSpace(dataLen)
	start := len(b)
	for i := 0; i < space; i++ {
		b = append(b, 0)
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[start]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(dataLen))
	return b, b[start+unix.CmsgLen(0):]
}

func appendCmsg16(b []byte, level, typ int, v uint16) []byte {
	b, d := appendCmsgHdr(b, level, typ, 2)
	*(*uint16)(unsafe.Pointer(&d[0])) = v
	return b
}

func appendCmsgInt(b []byte, level, typ int, v int32) []byte {
	b, d := appendCmsgHdr(b, level, typ, 4)
	*(*int32)(unsafe.Pointer(&d[0])) = v
	return b
}

func appendCmsgByte(b []byte, level, typ int, v uint8) []byte {
	b, d := appendCmsgHdr(b, level, typ, 1)
	d[0] = v
	return b
}

// setSockaddr writes dst with the port's UDP port into sa.
func (p *Port) setSockaddr(sa *unix.RawSockaddrInet6, dst netip.Addr) uint32 {
	port := p.cfg.DstPort
	if p.v6 {
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
		sa.Port = port<<8 | port>>8
		return unix.SizeofSockaddrInet6
	}
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
	sa4.Port = port<<8 | port>>8
	return unix.SizeofSockaddrInet4
}

// tunnelHdrLen is the tunnel header in front of each inner frame inside the
// UDP payload of a GSO batch (GRE never goes through UDP GSO: 0).
func tunnelHdrLen(e Encap) int {
	if !e.UDP() {
		return 0
	}
	return e.kind().tunLen
}

// putTunnelHdr writes the port's tunnel header (VXLAN or Geneve here).
func (p *Port) putTunnelHdr(h []byte, vni uint32) { p.cfg.Encap.kind().put(h, vni) }
