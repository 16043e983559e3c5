// Package netdev holds Switchyard's OS-facing devices — the only package
// that makes packet system calls:
//
//   - TAP: a TAP device (IFF_TAP|IFF_NO_PI), created persistent or adopted by
//     name, optionally inside a named network namespace (a "VM"'s NIC). The
//     open file descriptor keeps working after the device moves namespace.
//   - Internal: a TAP named after the port in the daemon's namespace, so the
//     host's own stack has an interface on the bridge.
//   - System: an existing netdev (a veth end, a NIC) attached through an
//     AF_PACKET socket in promiscuous mode, batched with recvmmsg/sendmmsg,
//     ignoring the frames it sent itself (PACKET_IGNORE_OUTGOING).
//   - veth pairs and link management through netlink.
//
// Every device implements Device: datapath.Port for transmit, and Run, a
// receive loop that reads batches into preallocated packets and hands each
// batch to the engine with one BridgePort.Receive call.
package netdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	"github.com/vishvananda/netns"
)

// ErrNotExist is returned (wrapped) when a link or namespace does not exist.
var ErrNotExist = errors.New("does not exist")

// NetNSPath returns the path of a named network namespace (ip netns).
func NetNSPath(name string) string { return filepath.Join("/var/run/netns", name) }

// NetNSExists reports whether the named network namespace exists.
func NetNSExists(name string) bool {
	_, err := os.Stat(NetNSPath(name))
	return err == nil
}

// inNS runs fn on an OS thread switched into the named namespace ("" = the
// caller's). File descriptors and sockets made in fn belong to that
// namespace and work from any thread afterwards.
func inNS(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	if !NetNSExists(name) {
		return fmt.Errorf("netns %q: %w (create it with `ip netns add %s`)", name, ErrNotExist, name)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left in the other namespace; it is never unlocked,
		// so the runtime throws it away when this goroutine ends.
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("open netns %q: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter netns %q: %w", name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// openNS opens the named namespace's file, for moving links into it.
func openNS(name string) (*os.File, error) {
	f, err := os.Open(NetNSPath(name))
	if err != nil {
		return nil, fmt.Errorf("netns %q: %w", name, err)
	}
	return f, nil
}

var tmpSeq atomic.Uint32

// nextTmp returns a number for a temporary interface name unique in this
// process.
func nextTmp() uint32 { return uint32(os.Getpid())%100000*1000 + tmpSeq.Add(1)%1000 }
