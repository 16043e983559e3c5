package netdev

import (
	"errors"
	"fmt"
	"net"

	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
)

// handle returns a netlink handle for the named namespace ("" = current).
func handle(ns string) (*netlink.Handle, error) {
	if ns == "" {
		return netlink.NewHandle()
	}
	var h *netlink.Handle
	err := inNS(ns, func() (err error) { h, err = netlink.NewHandle(); return })
	return h, err
}

func linkByName(h *netlink.Handle, name, ns string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			where := "the daemon's namespace"
			if ns != "" {
				where = "netns " + ns
			}
			return nil, fmt.Errorf("interface %q in %s: %w", name, where, ErrNotExist)
		}
		return nil, fmt.Errorf("look up interface %q: %w", name, err)
	}
	return l, nil
}

// LinkExists reports whether interface name exists in namespace ns.
func LinkExists(name, ns string) (bool, error) {
	h, err := handle(ns)
	if err != nil {
		return false, err
	}
	defer h.Close()
	_, err = linkByName(h, name, ns)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// DeleteLink deletes interface name in namespace ns.
func DeleteLink(name, ns string) error {
	h, err := handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := linkByName(h, name, ns)
	if err != nil {
		return err
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete interface %q: %w", name, err)
	}
	return nil
}

// SetUp sets interface name in namespace ns up or down.
func SetUp(name, ns string, up bool) error {
	h, err := handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := linkByName(h, name, ns)
	if err != nil {
		return err
	}
	if up {
		err = h.LinkSetUp(l)
	} else {
		err = h.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("set %q up=%v: %w", name, up, err)
	}
	return nil
}

// SetMTU sets the MTU of interface name in namespace ns.
func SetMTU(name, ns string, mtu int) error {
	h, err := handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := linkByName(h, name, ns)
	if err != nil {
		return err
	}
	if err := h.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("set mtu %d on %q: %w", mtu, name, err)
	}
	return nil
}

// CreateVeth creates a veth pair: hostName stays in the daemon's namespace,
// peerName ("eth0" if empty) goes into namespace netns. Both come up. With
// offload the peer keeps its checksum and segmentation offloads (the system
// port reads its TSO bursts whole through a vnet header); without, they are
// turned off, so the frames it sends reach the switch complete and
// MTU-sized, as a physical NIC's would.
func CreateVeth(hostName, peerName, netns string, mtu int, offload bool) error {
	if peerName == "" {
		peerName = "eth0"
	}
	if err := checkIfName("name", hostName); err != nil {
		return err
	}
	if err := checkIfName("peer-name", peerName); err != nil {
		return err
	}
	if netns == "" {
		return fmt.Errorf("netns is required for a veth pair (the namespace its peer end goes into)")
	}
	if !NetNSExists(netns) {
		return fmt.Errorf("netns %q: %w", netns, ErrNotExist)
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	tmp := fmt.Sprintf("syv%d", nextTmp())
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostName
	if mtu > 0 {
		attrs.MTU = mtu
	}
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: tmp}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %q: %w", hostName, err)
	}
	fail := func(err error) error {
		_ = h.LinkDel(veth)
		return err
	}
	peer, err := linkByName(h, tmp, "")
	if err != nil {
		return fail(err)
	}
	nsf, err := openNS(netns)
	if err != nil {
		return fail(err)
	}
	defer nsf.Close()
	if err := h.LinkSetNsFd(peer, int(nsf.Fd())); err != nil {
		return fail(fmt.Errorf("move veth peer into netns %q: %w", netns, err))
	}
	if err := inNS(netns, func() error {
		nh, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer nh.Close()
		p, err := nh.LinkByName(tmp)
		if err != nil {
			return err
		}
		if err := nh.LinkSetName(p, peerName); err != nil {
			return fmt.Errorf("rename veth peer to %q in netns %q: %w", peerName, netns, err)
		}
		if !offload {
			if err := txOffloadsOff(peerName); err != nil {
				return err
			}
		}
		return nh.LinkSetUp(p)
	}); err != nil {
		return fail(err)
	}
	l, err := linkByName(h, hostName, "")
	if err != nil {
		return fail(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fail(fmt.Errorf("set %q up: %w", hostName, err))
	}
	return nil
}

// txOffloadsOff turns off transmit checksum offload and segmentation on an
// interface of the current namespace.
func txOffloadsOff(name string) error {
	e, err := ethtool.NewEthtool()
	if err != nil {
		return fmt.Errorf("ethtool: %w", err)
	}
	defer e.Close()
	want := map[string]bool{}
	feats, err := e.Features(name)
	if err != nil {
		return fmt.Errorf("ethtool features of %q: %w", name, err)
	}
	for _, f := range []string{"tx-checksum-ip-generic", "tx-tcp-segmentation", "tx-tcp6-segmentation",
		"tx-generic-segmentation", "tx-udp-segmentation", "tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation"} {
		if on, ok := feats[f]; ok && on {
			want[f] = false
		}
	}
	if len(want) == 0 {
		return nil
	}
	if err := e.Change(name, want); err != nil {
		return fmt.Errorf("turn off tx offloads on %q: %w", name, err)
	}
	return nil
}

func checkIfName(field, name string) error {
	if len(name) < 1 || len(name) > 15 {
		return fmt.Errorf("%s %q is not a valid interface name; allowed 1-15 bytes of letters, digits, '-', '_', '.'", field, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%s %q is not a valid interface name; allowed 1-15 bytes of letters, digits, '-', '_', '.'", field, name)
		}
	}
	return nil
}

// MACOf returns the hardware address of interface name in namespace ns.
func MACOf(name, ns string) (net.HardwareAddr, error) {
	h, err := handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := linkByName(h, name, ns)
	if err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}
