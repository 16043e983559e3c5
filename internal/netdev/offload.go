package netdev

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

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
func DecodeVnetHdr(b []byte, o *packet.GSO) {
	_ = b[VnetHdrLen-1]
	*o = packet.GSO{
		Type:      b[1],
		HdrLen:    int(binary.LittleEndian.Uint16(b[2:])),
		Size:      int(binary.LittleEndian.Uint16(b[4:])),
		NeedsCsum: b[0]&vnetNeedsCsum != 0,
		DataValid: b[0]&vnetDataValid != 0,
	}
	if o.NeedsCsum {
		o.CsumStart = int(binary.LittleEndian.Uint16(b[6:]))
		o.CsumOffset = int(binary.LittleEndian.Uint16(b[8:]))
	}
}

// virtio_net_hdr flags.
const (
	vnetNeedsCsum = 1
	vnetDataValid = 2
)

// EncodeVnetHdr writes o as a virtio_net_hdr into b. DATA_VALID is passed
// on only with a complete checksum (never with NEEDS_CSUM).
func EncodeVnetHdr(b []byte, o *packet.GSO) {
	_ = b[VnetHdrLen-1]
	var f uint8
	switch {
	case o.NeedsCsum:
		f = vnetNeedsCsum
	case o.DataValid:
		f = vnetDataValid
	}
	b[0] = f
	b[1] = o.Type
	binary.LittleEndian.PutUint16(b[2:], uint16(o.HdrLen))
	binary.LittleEndian.PutUint16(b[4:], uint16(o.Size))
	if o.NeedsCsum {
		binary.LittleEndian.PutUint16(b[6:], uint16(o.CsumStart))
		binary.LittleEndian.PutUint16(b[8:], uint16(o.CsumOffset))
	} else {
		b[6], b[7], b[8], b[9] = 0, 0, 0, 0
	}
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
