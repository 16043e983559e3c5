package netdev

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// OffloadReporter is a device that can say which offloads it uses (for
// `show`).
type OffloadReporter interface {
	Offloads() []string
}

// Device is an OS-facing port.
type Device interface {
	datapath.Device
	// Run reads frames in batches and hands them to rx.Receive until ctx
	// is done or the device is closed; it returns nil on a clean stop.
	Run(ctx context.Context, rx datapath.Receiver) error
	// Close stops Run and releases file descriptors; it removes nothing
	// the OS keeps (a persistent TAP stays).
	Close() error
	// Name returns the OS interface name.
	Name() string
}

// BatchSize is how many frames a receive loop hands to the engine at once.
const BatchSize = 64

// frameBuf is the buffer size of a received frame without offloads: jumbo
// frames fit.
const frameBuf = 16384

// superBuf is the buffer size of a received frame with offloads: a 64 KiB
// super-frame with its vnet header.
const superBuf = datapath.MaxFrame + VnetHdrLen

// TAPOptions say where and how a TAP is created.
type TAPOptions struct {
	// NetNS is the named network namespace the TAP lives in ("" = the
	// daemon's own).
	NetNS string
	// MTU sets the MTU (0 = leave it).
	MTU int
	// MAC sets the hardware address (nil = the kernel's).
	MAC net.HardwareAddr
	// Up sets the link up.
	Up bool
	// Offload opens the TAP with a vnet header and checksum/TSO/USO
	// offloads: the VM's stack hands over 64 KiB TCP (and UDP) bursts
	// whole, and frames are written with their offload metadata.
	Offload bool
}

// TAP is a TAP device port. With NetNS it is a VM's NIC: Switchyard holds
// the switch end (the file descriptor) and the namespace holds the
// interface.
type TAP struct {
	name    string
	netns   string
	created bool // Switchyard created it (it did not exist)
	vnet    bool // opened with IFF_VNET_HDR
	offload int  // TUNSETOFFLOAD flags accepted
	fdHolder
}

// fdHolder owns a non-blocking fd registered with the Go poller, so that a
// receive loop can block without a thread and Close can wake it.
type fdHolder struct {
	mu       sync.RWMutex // Send holds it shared; Close exclusively
	file     *os.File
	rc       syscall.RawConn
	fd       int
	closed   atomic.Bool
	counters atomic.Pointer[datapath.Counters]
}

func (h *fdHolder) init(fd int, name string) error {
	h.fd = fd
	h.file = os.NewFile(uintptr(fd), name)
	rc, err := h.file.SyscallConn()
	if err != nil {
		h.file.Close()
		return err
	}
	h.rc = rc
	return nil
}

// BindCounters implements datapath.CounterBinder.
func (h *fdHolder) BindCounters(c *datapath.Counters) { h.counters.Store(c) }

func (h *fdHolder) drop(r datapath.DropReason, n int) {
	if c := h.counters.Load(); c != nil {
		c.Drop(r, n)
	}
}

// Close stops the receive loop and closes the descriptor.
func (h *fdHolder) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.file.Close()
}

// OpenTAP opens the TAP device name, creating it persistent if it does not
// exist — inside opts.NetNS when set — or adopting the existing one (after a
// daemon restart the VM keeps its NIC, addresses and link).
func OpenTAP(name string, opts TAPOptions) (*TAP, error) {
	if err := checkIfName("name", name); err != nil {
		return nil, err
	}
	t := &TAP{name: name, netns: opts.NetNS}
	var fd int
	err := inNS(opts.NetNS, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		l, lerr := h.LinkByName(name)
		if lerr == nil {
			if _, ok := l.(*netlink.Tuntap); !ok && l.Type() != "tuntap" {
				return fmt.Errorf("interface %q exists and is a %s, not a TAP", name, l.Type())
			}
		}
		t.created = lerr != nil
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if opts.Offload {
			flags |= unix.IFF_VNET_HDR
		}
		ifr.SetUint16(flags)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("attach TAP %q: %w", name, err)
		}
		if opts.Offload {
			t.vnet = true
			// USO4 and USO6 only go together (0x27 is refused); kernels
			// before 6.2 have no USO at all.
			for _, f := range []int{tunFCsum | tunFTSO4 | tunFTSO6 | tunFUSO4 | tunFUSO6, tunFCsum | tunFTSO4 | tunFTSO6, tunFCsum} {
				if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, f); err == nil {
					t.offload = f
					break
				}
			}
		} else if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0); err != nil {
			unix.Close(fd)
			return fmt.Errorf("clear offloads of TAP %q: %w", name, err)
		}
		if t.created {
			if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
				unix.Close(fd)
				return fmt.Errorf("make TAP %q persistent: %w", name, err)
			}
		}
		if l, err = h.LinkByName(name); err != nil {
			unix.Close(fd)
			return fmt.Errorf("find TAP %q: %w", name, err)
		}
		if opts.MTU > 0 {
			if err := h.LinkSetMTU(l, opts.MTU); err != nil {
				unix.Close(fd)
				return fmt.Errorf("set mtu %d on %q: %w", opts.MTU, name, err)
			}
		}
		if opts.MAC != nil {
			if err := h.LinkSetHardwareAddr(l, opts.MAC); err != nil {
				unix.Close(fd)
				return fmt.Errorf("set mac on %q: %w", name, err)
			}
		}
		if opts.Up {
			if err := h.LinkSetUp(l); err != nil {
				unix.Close(fd)
				return fmt.Errorf("set %q up: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := t.init(fd, name); err != nil {
		return nil, err
	}
	return t, nil
}

// OpenInternal opens an internal port: a TAP named after the port in the
// daemon's namespace, up, so the host can put an address on the bridge.
func OpenInternal(name string, offload bool) (*TAP, error) {
	return OpenTAP(name, TAPOptions{Up: true, Offload: offload})
}

// DeleteTAP removes a persistent TAP (found in namespace ns).
func DeleteTAP(name, ns string) error { return DeleteLink(name, ns) }

// Name returns the interface name.
func (t *TAP) Name() string { return t.name }

// NetNS returns the namespace the TAP lives in.
func (t *TAP) NetNS() string { return t.netns }

// Created reports whether this open created the device (rather than
// adopting an existing one).
func (t *TAP) Created() bool { return t.created }

// Offloads names the offloads the TAP was opened with: "vnet-hdr" and the
// TUNSETOFFLOAD flags the kernel took (csum, tso4, tso6, uso); none when
// every frame is complete and MTU-sized.
func (t *TAP) Offloads() []string {
	if !t.vnet {
		return nil
	}
	l := []string{"vnet-hdr"}
	for _, f := range []struct {
		bit  int
		name string
	}{{tunFCsum, "csum"}, {tunFTSO4, "tso4"}, {tunFTSO6, "tso6"}, {tunFUSO4, "uso"}} {
		if t.offload&f.bit != 0 {
			l = append(l, f.name)
		}
	}
	return l
}

// Caps says what the TAP takes as it is: with a vnet header, partial
// checksums and the super-frames the kernel took offloads for (TSO for IPv4
// and IPv6, USO when the kernel has it); without one, plain frames only (the
// engine finishes and segments the rest).
func (t *TAP) Caps() datapath.Caps {
	if !t.vnet {
		return datapath.Caps{}
	}
	c := datapath.Caps{PartialCsum: t.offload&tunFCsum != 0}
	if t.offload&tunFTSO4 != 0 {
		c.GSO |= 1 << packet.GSOTypeTCPv4
	}
	if t.offload&tunFTSO6 != 0 {
		c.GSO |= 1 << packet.GSOTypeTCPv6
	}
	if t.offload&tunFUSO4 != 0 {
		c.GSO |= 1 << packet.GSOTypeUDPL4
	}
	return c
}

// Send writes each frame to the TAP, one write per frame, behind a vnet
// header carrying its offload metadata when the TAP has one. Every frame is
// in a form Caps accepts (the engine's egress step saw to it).
func (t *TAP) Send(batch []datapath.Out) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed.Load() {
		t.drop(datapath.DropTxError, len(batch))
		return
	}
	for _, o := range batch {
		p := o.Pkt
		if t.vnet {
			off := p.Off - VnetHdrLen
			EncodeVnetHdr(p.Buf[off:p.Off], &p.Offload)
			t.write(p.Buf[off : p.Off+p.Len])
			continue
		}
		t.write(p.Data())
	}
}

func (t *TAP) write(b []byte) {
	if _, err := unix.Write(t.fd, b); err != nil {
		if err == unix.EAGAIN || err == unix.ENOBUFS {
			t.drop(datapath.DropNoSpace, 1)
		} else {
			t.drop(datapath.DropTxError, 1)
		}
	}
}

// Run reads frames until the TAP is closed or ctx ends: it waits for the
// descriptor to become readable, reads until EAGAIN or a full batch, and
// hands the batch to the engine.
func (t *TAP) Run(ctx context.Context, rx datapath.Receiver) error {
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	batch := make([]*datapath.Packet, BatchSize)
	size, hdr := frameBuf, 0
	if t.vnet {
		size, hdr = superBuf, VnetHdrLen
	}
	for i := range batch {
		batch[i] = datapath.NewPacket(size)
	}
	// The read callback is made once: a closure passed to RawConn.Read
	// escapes, and making it per round would allocate per round.
	var n int
	var rerr error
	read := func(fd uintptr) bool {
		for n < len(batch) {
			p := batch[n]
			p.Reset()
			m, err := unix.Read(int(fd), p.Buf[p.Off-hdr:])
			if err == unix.EAGAIN {
				return n > 0
			}
			if err != nil {
				rerr = err
				return true
			}
			if m < hdr {
				continue
			}
			if hdr > 0 {
				DecodeVnetHdr(p.Buf[p.Off-hdr:], &p.Offload)
			}
			p.Len = m - hdr
			n++
		}
		return true
	}
	for {
		n, rerr = 0, nil
		err := t.rc.Read(read)
		if n > 0 {
			rx.Receive(batch[:n])
		}
		if t.closed.Load() || errors.Is(err, os.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read TAP %q: %w", t.name, err)
		}
		if rerr != nil && rerr != unix.EINTR {
			if rerr == unix.EBADFD || rerr == unix.EIO {
				// The device was deleted under us.
				return fmt.Errorf("read TAP %q: %w", t.name, rerr)
			}
			t.drop(datapath.DropBadFrame, 1)
		}
	}
}
