package doctor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// System is the Host of the machine the daemon runs on.
type System struct{}

// ClockSynced asks adjtimex whether the kernel's clock is synchronized.
func (System) ClockSynced() (bool, bool) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, false
	}
	return state != unix.TIME_ERROR, true
}

// CheckDir checks the directory takes a synced file, and returns the free
// space of its filesystem.
func (System) CheckDir(dir string) (uint64, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	if !st.IsDir() {
		return 0, fmt.Errorf("not a directory")
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return 0, fmt.Errorf("cannot create a file: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	if _, err := f.Write([]byte("switchyard doctor\n")); err != nil {
		f.Close()
		return 0, fmt.Errorf("cannot write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("cannot fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(filepath.Clean(dir), &fs); err != nil {
		return 0, err
	}
	return fs.Bavail * uint64(fs.Bsize), nil
}

// ICMPProber probes a remote VTEP with an ICMP echo from the local VTEP
// address (a raw socket: the daemon runs as root).
type ICMPProber struct{}

var probeSeq atomic.Uint32

// Probe sends one echo request from local to remote and waits for its
// reply until ctx ends.
func (ICMPProber) Probe(ctx context.Context, local, remote netip.Addr) (time.Duration, error) {
	network, proto := "ip4:icmp", 1
	var typ icmp.Type = ipv4.ICMPTypeEcho
	var reply icmp.Type = ipv4.ICMPTypeEchoReply
	if remote.Is6() && !remote.Is4In6() {
		network, proto, typ, reply = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	laddr := ""
	if local.IsValid() {
		laddr = local.Unmap().String()
	}
	c, err := icmp.ListenPacket(network, laddr)
	if err != nil {
		return 0, fmt.Errorf("icmp socket on %s: %w", laddr, err)
	}
	defer c.Close()
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := int(binary.BigEndian.Uint16(idb[:]))
	seq := int(probeSeq.Add(1) & 0xffff)
	body := []byte("switchyard doctor probe")
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: body}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(time.Second))
	}
	start := time.Now()
	if _, err := c.WriteTo(b, &net.IPAddr{IP: remote.Unmap().AsSlice()}); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, errors.New("no answer")
			}
			return 0, err
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != id || e.Seq != seq {
			continue
		}
		if a, ok := from.(*net.IPAddr); ok {
			if fa, ok := netip.AddrFromSlice(a.IP); ok && fa.Unmap() != remote.Unmap() {
				continue
			}
		}
		return time.Since(start), nil
	}
}
