package netdev

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// VnetHdrLen is the size of struct virtio_net_hdr (without num_buffers): the
// header a TAP opened with IFF_VNET_HDR and an AF_PACKET socket with
// PACKET_VNET_HDR put in front of every frame, read and written.
const VnetHdrLen = 10

// TUNSETOFFLOAD flags (linux/if_tun.h).
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
	tunFUSO4 = 0x20
	tunFUSO6 = 0x40
)

// DecodeVnetHdr reads a virtio_net_hdr (little-endian, as TAP and
// AF_PACKET use on x86 and arm) into o.
func DecodeVnetHdr(b []byte, o *datapath.Offload) {
	_ = b[VnetHdrLen-1]
	o.Flags = b[0]
	o.GSOType = b[1]
	o.HdrLen = binary.LittleEndian.Uint16(b[2:])
	o.GSOSize = binary.LittleEndian.Uint16(b[4:])
	o.CsumStart = binary.LittleEndian.Uint16(b[6:])
	o.CsumOffset = binary.LittleEndian.Uint16(b[8:])
	if o.Flags&datapath.OffloadNeedsCsum == 0 {
		o.CsumStart, o.CsumOffset = 0, 0
	}
}

// EncodeVnetHdr writes o as a virtio_net_hdr into b. DATA_VALID is passed
// on only with a complete checksum (never with NEEDS_CSUM).
func EncodeVnetHdr(b []byte, o *datapath.Offload) {
	_ = b[VnetHdrLen-1]
	f := o.Flags & (datapath.OffloadNeedsCsum | datapath.OffloadDataValid)
	if f&datapath.OffloadNeedsCsum != 0 {
		f &^= datapath.OffloadDataValid
	}
	b[0] = f
	b[1] = o.GSOType
	binary.LittleEndian.PutUint16(b[2:], o.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], o.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], o.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], o.CsumOffset)
}

// Softener turns frames with offload metadata into frames for a device that
// takes none: it finishes a partial checksum in place (and clears the flag,
// so the frame stays self-consistent for the other ports of a flood) and
// splits a super-frame into segments in its own buffers, leaving the
// original untouched. One Softener serves one sender at a time; its buffers
// are reused, so nothing is allocated per packet in steady state.
type Softener struct {
	bufs [][]byte
	out  [][]byte
	one  [1][]byte
}

// segBufSize is the size of one segment buffer: a jumbo segment with its
// headers.
const segBufSize = 9216 + 128

// Frames returns the wire frames for p: p's own frame, its checksum
// finished if it was partial, or the segments of a super-frame (valid until
// the next call). It returns an error for a frame whose offload metadata
// cannot be honoured (the caller counts it as a bad frame).
func (s *Softener) Frames(p *datapath.Packet) ([][]byte, error) {
	o := &p.Offload
	if !o.IsGSO() {
		if o.Flags&datapath.OffloadNeedsCsum != 0 {
			if err := packet.FinishChecksum(p.Data(), int(o.CsumStart), int(o.CsumOffset)); err != nil {
				return nil, err
			}
			o.Flags &^= datapath.OffloadNeedsCsum
			o.CsumStart, o.CsumOffset = 0, 0
		}
		s.one[0] = p.Data()
		return s.one[:], nil
	}
	g := o.GSO()
	n, maxLen := packet.SegmentCount(p.Data(), g)
	if n <= 0 {
		return nil, packet.ErrGSOHeader
	}
	if maxLen > segBufSize {
		return nil, packet.ErrGSOBufferSmall
	}
	for len(s.bufs) < n {
		s.bufs = append(s.bufs, make([]byte, segBufSize))
	}
	if cap(s.out) < n {
		s.out = make([][]byte, n)
	}
	out := s.out[:n]
	for i := range out {
		out[i] = s.bufs[i]
	}
	m, err := packet.Segment(p.Data(), g, out)
	if err != nil {
		return nil, err
	}
	return out[:m], nil
}

// MmsgReader receives batches with recvmmsg through a socket's RawConn,
// blocking in Go's poller, without allocating per round (the callback that
// RawConn.Read takes is made once).
type MmsgReader struct {
	// Hdrs are the message headers, with their buffers set up by the
	// caller; Read resets their lengths and flags before each call.
	Hdrs []unix.Mmsghdr
	// ControlLen is the control buffer size of each message (0: none).
	ControlLen int
	// NameLen is the address buffer size of each message (0: none).
	NameLen uint32

	n    int
	err  error
	read func(fd uintptr) bool
}

// Read waits until datagrams are there and receives up to len(Hdrs) of
// them. It returns their count, the poller's error (the socket was closed)
// and the system call's error.
func (r *MmsgReader) Read(rc syscall.RawConn) (n int, pollErr, err error) {
	if r.read == nil {
		r.read = func(fd uintptr) bool {
			for i := range r.Hdrs {
				h := &r.Hdrs[i].Hdr
				h.Flags = 0
				if r.ControlLen > 0 {
					h.SetControllen(r.ControlLen)
				}
				if r.NameLen > 0 {
					h.Namelen = r.NameLen
				}
			}
			m, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.Hdrs[0])), uintptr(len(r.Hdrs)), unix.MSG_DONTWAIT, 0, 0)
			if errno == unix.EAGAIN {
				return false
			}
			if errno != 0 {
				r.err = errno
				return true
			}
			r.n = int(m)
			return true
		}
	}
	r.n, r.err = 0, nil
	pollErr = rc.Read(r.read)
	return r.n, pollErr, r.err
}
