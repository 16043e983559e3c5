package vswitchd

import (
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netdev"
)

// linkReader reads link states with one netlink handle per namespace,
// opened once and kept (a handle made in a namespace stays in it without a
// thread switched into it).
type linkReader struct {
	handles map[string]*netlink.Handle
}

func newLinkReader() *linkReader { return &linkReader{handles: map[string]*netlink.Handle{}} }

func (r *linkReader) handle(ns string) (*netlink.Handle, error) {
	if h := r.handles[ns]; h != nil {
		return h, nil
	}
	var h *netlink.Handle
	var err error
	if ns == "" {
		h, err = netlink.NewHandle()
	} else {
		var nh netns.NsHandle
		if nh, err = netns.GetFromPath(netdev.NetNSPath(ns)); err != nil {
			return nil, err
		}
		h, err = netlink.NewHandleAt(nh)
		nh.Close()
	}
	if err != nil {
		return nil, err
	}
	r.handles[ns] = h
	return h, nil
}

// up reports whether interface name in namespace ns is up with a carrier.
func (r *linkReader) up(name, ns string) (bool, error) {
	h, err := r.handle(ns)
	if err != nil {
		return false, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		// The handle may have outlived its namespace: open it again next
		// time.
		h.Close()
		delete(r.handles, ns)
		return false, err
	}
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0, nil
}

func (r *linkReader) close() {
	for _, h := range r.handles {
		h.Close()
	}
	r.handles = nil
}
