package netdev

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// LinkUp reports whether a link's flags mean it can carry frames: the
// interface is administratively up (IFF_UP) and has carrier
// (IFF_LOWER_UP). A veth whose peer is down, or a member someone set down
// with `ip link set … down`, is not.
func LinkUp(rawFlags uint32) bool {
	return rawFlags&unix.IFF_UP != 0 && rawFlags&unix.IFF_LOWER_UP != 0
}

// LinkCarrier returns the carrier of interface name in namespace ns ("" =
// the daemon's), read from netlink now.
func LinkCarrier(name, ns string) (bool, error) {
	h, err := handle(ns)
	if err != nil {
		return false, err
	}
	defer h.Close()
	l, err := linkByName(h, name, ns)
	if err != nil {
		return false, err
	}
	return LinkUp(l.Attrs().RawFlags), nil
}

// CarrierWatcher reports the carrier of interfaces as netlink announces it
// (RTM_NEWLINK/RTM_DELLINK), so a bond member or a spanning-tree port
// leaves the moment its link goes down, not when traffic stops. It keeps
// one netlink subscription per namespace, shared by every watch there, and
// subscribes again (listing every link afresh) if the kernel drops the
// socket, e.g. after an overflow.
type CarrierWatcher struct {
	log *slog.Logger
	mu  sync.Mutex
	ns  map[string]*nsWatch
}

type nsWatch struct {
	w    *CarrierWatcher
	name string
	done chan struct{}

	mu   sync.Mutex // serialises callbacks of this namespace
	subs map[string]map[int]func(bool)
	last map[string]bool
	next int
}

// NewCarrierWatcher returns a watcher with no subscriptions.
func NewCarrierWatcher(log *slog.Logger) *CarrierWatcher {
	if log == nil {
		log = slog.Default()
	}
	return &CarrierWatcher{log: log, ns: map[string]*nsWatch{}}
}

// Watch calls fn with the current carrier of interface ifname in namespace
// ns ("" = the daemon's), before it returns, and then with every change
// until cancel is called. An interface that does not exist (yet) is down
// until it appears. fn runs on the watcher's goroutine, one call at a time
// per namespace: it must not block and must not call the watcher.
func (w *CarrierWatcher) Watch(ns, ifname string, fn func(up bool)) (cancel func(), err error) {
again:
	w.mu.Lock()
	nw := w.ns[ns]
	if nw == nil {
		nw = &nsWatch{w: w, name: ns, done: make(chan struct{}), subs: map[string]map[int]func(bool){}, last: map[string]bool{}}
		if err := nw.start(); err != nil {
			w.mu.Unlock()
			return nil, err
		}
		w.ns[ns] = nw
	}
	w.mu.Unlock()

	nw.mu.Lock()
	select {
	case <-nw.done: // its last watch went meanwhile
		nw.mu.Unlock()
		goto again
	default:
	}
	id := nw.next
	nw.next++
	if nw.subs[ifname] == nil {
		nw.subs[ifname] = map[int]func(bool){}
	}
	nw.subs[ifname][id] = fn
	up, err := LinkCarrier(ifname, ns)
	if err != nil {
		up = false
	}
	nw.last[ifname] = up
	fn(up)
	nw.mu.Unlock()
	return func() { w.unwatch(nw, ifname, id) }, nil
}

func (w *CarrierWatcher) unwatch(nw *nsWatch, ifname string, id int) {
	nw.mu.Lock()
	delete(nw.subs[ifname], id)
	if len(nw.subs[ifname]) == 0 {
		delete(nw.subs, ifname)
		delete(nw.last, ifname)
	}
	empty := len(nw.subs) == 0
	nw.mu.Unlock()
	if !empty {
		return
	}
	w.mu.Lock()
	if w.ns[nw.name] == nw {
		nw.mu.Lock()
		if len(nw.subs) == 0 {
			delete(w.ns, nw.name)
			close(nw.done)
		}
		nw.mu.Unlock()
	}
	w.mu.Unlock()
}

// Close ends every subscription.
func (w *CarrierWatcher) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, nw := range w.ns {
		close(nw.done)
		delete(w.ns, name)
	}
}

// start subscribes to the namespace's link updates and runs the delivery
// loop until done is closed.
func (nw *nsWatch) start() error {
	ch, stop, err := nw.subscribe()
	if err != nil {
		return err
	}
	go nw.loop(ch, stop)
	return nil
}

func (nw *nsWatch) subscribe() (chan netlink.LinkUpdate, chan struct{}, error) {
	ch := make(chan netlink.LinkUpdate, 256)
	stop := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: func(err error) {
		nw.w.log.Debug("netlink link subscription", "netns", nw.name, "err", err)
	}}
	if nw.name != "" {
		h, err := netns.GetFromName(nw.name)
		if err != nil {
			return nil, nil, fmt.Errorf("carrier: netns %q: %w", nw.name, err)
		}
		defer h.Close()
		opts.Namespace = &h
	}
	if err := netlink.LinkSubscribeWithOptions(ch, stop, opts); err != nil {
		return nil, nil, fmt.Errorf("carrier: subscribe to link updates in %q: %w", nw.name, err)
	}
	return ch, stop, nil
}

func (nw *nsWatch) loop(ch chan netlink.LinkUpdate, stop chan struct{}) {
	for {
		select {
		case <-nw.done:
			close(stop)
			return
		case u, ok := <-ch:
			if ok {
				nw.deliver(u)
				continue
			}
			// The kernel dropped the socket (overflow) or it failed: list
			// everything again on a new one.
			close(stop)
			for {
				select {
				case <-nw.done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				var err error
				if ch, stop, err = nw.subscribe(); err == nil {
					break
				}
				nw.w.log.Warn("carrier watch: resubscribe failed", "netns", nw.name, "err", err)
			}
		}
	}
}

func (nw *nsWatch) deliver(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	up := LinkUp(a.RawFlags) && u.Header.Type != unix.RTM_DELLINK
	nw.mu.Lock()
	defer nw.mu.Unlock()
	subs := nw.subs[a.Name]
	if len(subs) == 0 {
		return
	}
	if v, ok := nw.last[a.Name]; ok && v == up {
		return
	}
	nw.last[a.Name] = up
	for _, fn := range subs {
		fn(up)
	}
}
