package netdev

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// System is an existing netdev attached through an AF_PACKET socket in
// promiscuous mode. It receives with recvmmsg and sends with sendmmsg, a
// batch per system call, and never re-receives the frames it sent
// (PACKET_IGNORE_OUTGOING).
//
// With offloads the socket has PACKET_VNET_HDR: super-frames (a veth peer's
// TSO bursts) arrive whole with their metadata and leave whole, and partial
// checksums stay partial; the kernel segments where the device cannot.
type System struct {
	name  string
	netns string
	vnet  bool
	fdHolder

	txMu   sync.Mutex
	txHdrs []unix.Mmsghdr
	txIov  []unix.Iovec
}

const (
	auxSize = int(unsafe.Sizeof(unix.TpacketAuxdata{}))
	// cmsgSpace is the room for one PACKET_AUXDATA control message.
	cmsgSpace = (unix.SizeofCmsghdr + auxSize + 7) &^ 7
)

// OpenSystem attaches the existing interface ifname (in namespace netns, ""
// = the daemon's) and sets it up; offload asks for a vnet header on the
// socket (see System).
func OpenSystem(ifname, netns string, offload bool) (*System, error) {
	if err := checkIfName("name", ifname); err != nil {
		return nil, err
	}
	s := &System{name: ifname, netns: netns, vnet: offload}
	var fd int
	err := inNS(netns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("interface %q: %w", ifname, ErrNotExist)
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		fail := func(what string, err error) error {
			unix.Close(fd)
			return fmt.Errorf("%s on %q: %w", what, ifname, err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return fail("PACKET_IGNORE_OUTGOING", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fail("PACKET_AUXDATA", err)
		}
		if offload {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
				return fail("PACKET_VNET_HDR", err)
			}
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			return fail("bind", err)
		}
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous mode", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := SetUp(ifname, netns, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := s.init(fd, ifname); err != nil {
		return nil, err
	}
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Name returns the interface name.
func (s *System) Name() string { return s.name }

// Caps: with PACKET_VNET_HDR the kernel takes super-frames and partial
// checksums (it segments and finishes what the egress device cannot);
// without it, plain frames only.
func (s *System) Caps() datapath.Caps {
	if s.vnet {
		return datapath.CapsAll
	}
	return datapath.Caps{}
}

// Offloads names the socket's offloads: "vnet-hdr" (super-frames and
// partial checksums pass whole), or none.
func (s *System) Offloads() []string {
	if s.vnet {
		return []string{"vnet-hdr"}
	}
	return nil
}

// Send transmits the batch with sendmmsg calls.
func (s *System) Send(batch []datapath.Out) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		s.drop(datapath.DropTxError, len(batch))
		return
	}
	s.txMu.Lock()
	defer s.txMu.Unlock()
	n := 0
	for _, o := range batch {
		p := o.Pkt
		if s.vnet {
			off := p.Off - VnetHdrLen
			EncodeVnetHdr(p.Buf[off:p.Off], &p.Offload)
			s.queue(&n, p.Buf[off:p.Off+p.Len])
			continue
		}
		s.queue(&n, p.Data())
	}
	s.flush(n)
}

// queue adds one frame to the pending sendmmsg vector.
func (s *System) queue(n *int, d []byte) {
	i := *n
	if i == len(s.txHdrs) {
		s.txHdrs = append(s.txHdrs, unix.Mmsghdr{})
		s.txIov = append(s.txIov, unix.Iovec{})
		for j := range s.txHdrs {
			s.txHdrs[j].Hdr.Iov = &s.txIov[j]
			s.txHdrs[j].Hdr.SetIovlen(1)
		}
	}
	s.txIov[i].Base = &d[0]
	s.txIov[i].SetLen(len(d))
	h := &s.txHdrs[i].Hdr
	h.Iov = &s.txIov[i]
	h.SetIovlen(1)
	*n = i + 1
}

// flush sends the first n queued frames.
func (s *System) flush(count int) {
	for sent := 0; sent < count; {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.txHdrs[sent])), uintptr(count-sent), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			r := datapath.DropTxError
			if errno == unix.EAGAIN || errno == unix.ENOBUFS {
				r = datapath.DropNoSpace
			}
			// Skip the frame that failed and go on with the rest.
			s.drop(r, 1)
			sent++
			continue
		}
		sent += int(n)
	}
	for i := 0; i < count; i++ {
		s.txIov[i].Base = nil // do not keep packets alive
	}
}

// Run receives batches with recvmmsg until the device is closed or ctx
// ends. A frame whose VLAN tag the kernel took out (VLAN offload) gets it
// back; a frame whose checksum its sender left partial gets it finished.
func (s *System) Run(ctx context.Context, rx datapath.Receiver) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	batch := make([]*datapath.Packet, BatchSize)
	hdrs := make([]unix.Mmsghdr, BatchSize)
	iovs := make([]unix.Iovec, BatchSize)
	oob := make([]byte, BatchSize*cmsgSpace)
	size, hdr := frameBuf, 0
	if s.vnet {
		size, hdr = superBuf, VnetHdrLen
	}
	for i := range batch {
		batch[i] = datapath.NewPacket(size)
		p := batch[i]
		iovs[i].Base = &p.Buf[datapath.Headroom-hdr]
		iovs[i].SetLen(len(p.Buf) - datapath.Headroom + hdr)
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
		hdrs[i].Hdr.Control = &oob[i*cmsgSpace]
	}
	rd := MmsgReader{Hdrs: hdrs, ControlLen: cmsgSpace}
	for {
		n, err, rerr := rd.Read(s.rc)
		if s.closed.Load() || errors.Is(err, os.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receive on %q: %w", s.name, err)
		}
		if rerr != nil {
			if rerr == unix.ENETDOWN || rerr == unix.EINTR {
				continue
			}
			return fmt.Errorf("receive on %q: %w", s.name, rerr)
		}
		for i := 0; i < n; i++ {
			p := batch[i]
			p.Reset()
			p.Len = int(hdrs[i].Len) - hdr
			if hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 || p.Len < 0 {
				p.Len = 0 // counted as a bad frame by the engine
				continue
			}
			if hdr > 0 {
				DecodeVnetHdr(p.Buf[p.Off-hdr:], &p.Offload)
			}
			s.applyAux(p, oob[i*cmsgSpace:(i+1)*cmsgSpace], int(hdrs[i].Hdr.Controllen))
		}
		if n > 0 {
			rx.Receive(batch[:n])
		}
	}
}

// applyAux restores a VLAN tag the kernel stripped and finishes a partial
// checksum, from the frame's PACKET_AUXDATA.
func (s *System) applyAux(p *datapath.Packet, oob []byte, n int) {
	if n < unix.SizeofCmsghdr+auxSize {
		return
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.SOL_PACKET || h.Type != unix.PACKET_AUXDATA {
		return
	}
	aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&oob[unix.SizeofCmsghdr]))
	if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 && p.Len >= 12 {
		tpid := uint16(packet.EtherTypeVLAN)
		if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && aux.Vlan_tpid != 0 {
			tpid = aux.Vlan_tpid
		}
		if off, err := packet.PushVLAN(p.Buf, p.Off, p.Len, tpid, packet.TCI(aux.Vlan_tci)); err == nil {
			p.Off, p.Len = off, p.Len+4
			p.Offload.Shift(4) // the vnet header's offsets count from the untagged frame
		}
	}
	// Without a vnet header nothing says where a partial checksum starts:
	// finish it here.
	if !s.vnet && aux.Status&unix.TP_STATUS_CSUMNOTREADY != 0 && p.Len >= 14 {
		packet.SetL4Checksum(p.Data())
	}
}
