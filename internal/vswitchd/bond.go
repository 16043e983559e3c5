package vswitchd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/bond"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/netdev"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// bondTick is how often a bond's timers run (LACP's fast period is 1 s,
// updelay/downdelay have millisecond resolution).
const bondTick = 50 * time.Millisecond

// bondKind makes a bond port: its members are interfaces in the daemon's
// namespace (veth ends, NICs), attached with AF_PACKET like system ports.
var bondKind = deviceKind{
	check: func(s *Switch, p *config.Port) error {
		if p.Bond == nil {
			return errs.Invalidf("members", "2-32 interface names (--members a,b)", "a bond port needs members")
		}
		for _, m := range p.Bond.Members {
			if ok, _ := netdev.LinkExists(m, ""); !ok {
				return errs.Invalidf("members", "existing interfaces in the daemon's namespace", "interface %q does not exist", m)
			}
		}
		return nil
	},
	open: func(s *Switch, p *config.Port) (netdev.Device, error) { return s.openBond(p, false) },
}

// bondDevice is a bond port's device: the members' devices, the bond's
// forwarding device (bond.Port: member choice, admission) and its control
// loop (LACP, carrier from netlink, updelay/downdelay, rebalancing,
// learning frames).
type bondDevice struct {
	*bond.Port
	name    string
	log     *slog.Logger
	b       *bond.Bond
	members []netdev.Device
	names   []string
	memory  bool
	carrier *netdev.CarrierWatcher

	lacpq chan lacpMsg
	mu    sync.Mutex
	cars  []carrierEvent // pending carrier events
	wake  chan struct{}
	// onLink is told whether the bond can carry traffic (some member
	// enabled): its link state for spanning tree.
	onLink func(up bool)
	linkUp bool

	lacpDropped uint64 // LACPDUs dropped because the queue was full
	closeOnce   sync.Once
}

type lacpMsg struct {
	member int
	n      int
	data   [lacpMaxLen]byte
}

// lacpMaxLen is the largest slow-protocols frame kept (an LACPDU is 124
// bytes, a marker 124).
const lacpMaxLen = 160

type carrierEvent struct {
	member int
	up     bool
}

// openBond opens the members and builds the bond (memory: in-memory
// members, carrier up, for --devices memory).
func (s *Switch) openBond(p *config.Port, memory bool) (netdev.Device, error) {
	sys := s.bridgeMAC(p.Bridge)
	cfg, names, err := p.BondConfig(sys)
	if err != nil {
		return nil, err
	}
	d := &bondDevice{name: p.Name, log: s.log.With("bond", p.Name), names: names, memory: memory, carrier: s.l2().carrier,
		lacpq: make(chan lacpMsg, 256), wake: make(chan struct{}, 1)}
	var mcs []bond.MemberConfig
	var devs []datapath.Device
	for _, m := range names {
		var dev netdev.Device
		mac := packet.MAC{}
		if memory {
			dev = netdev.NewMemory(m, datapath.Caps{})
			mac = derivedMAC(s.l2().identity, "member/"+m)
		} else {
			if ifi, err := net.InterfaceByName(m); err == nil && len(ifi.HardwareAddr) == 6 {
				mac = packet.MAC(ifi.HardwareAddr)
			}
			sd, err := netdev.OpenSystem(m, "", s.offload)
			if err != nil {
				d.closeMembers()
				return nil, fmt.Errorf("bond member %s: %w", m, err)
			}
			dev = sd
		}
		d.members = append(d.members, dev)
		devs = append(devs, dev)
		mcs = append(mcs, bond.MemberConfig{Name: m, MAC: mac})
	}
	b, err := bond.New(cfg, mcs, time.Now())
	if err != nil {
		d.closeMembers()
		return nil, err
	}
	d.b = b
	d.Port = bond.NewPort(b, devs, d.receiveLACP)
	return d, nil
}

// Name returns the bond's name.
func (d *bondDevice) Name() string { return d.name }

// Offloads names what every member takes.
func (d *bondDevice) Offloads() []string {
	var l []string
	if c := d.Caps(); c.PartialCsum || c.GSO != 0 {
		l = append(l, "members:vnet-hdr")
	}
	return l
}

// receiveLACP queues a copy of a slow-protocols frame for the control
// loop (it runs on a member's receive goroutine and never blocks).
func (d *bondDevice) receiveLACP(member int, frame []byte) {
	m := lacpMsg{member: member, n: min(len(frame), lacpMaxLen)}
	copy(m.data[:], frame)
	select {
	case d.lacpq <- m:
	default:
		d.mu.Lock()
		d.lacpDropped++
		d.mu.Unlock()
	}
}

func (d *bondDevice) setCarrier(member int, up bool) {
	d.mu.Lock()
	d.cars = append(d.cars, carrierEvent{member, up})
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run starts the members' receive loops (each with its own receiver of the
// bridge port) and runs the bond's control loop until ctx ends.
func (d *bondDevice) Run(ctx context.Context, rx datapath.Receiver) error {
	bp, ok := rx.(*datapath.Port)
	if !ok {
		return errors.New("bond: the receiver is not a bridge port")
	}
	d.Attach(bp)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(d.members))
	for i, m := range d.members {
		wg.Add(1)
		go func(i int, m netdev.Device) {
			defer wg.Done()
			if err := m.Run(ctx, d.MemberReceiver(i)); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("member %s: %w", d.names[i], err)
			}
		}(i, m)
	}
	var cancels []func()
	for i, name := range d.names {
		if d.memory {
			d.setCarrier(i, true)
			continue
		}
		i := i
		c, err := d.carrier.Watch("", name, func(up bool) { d.setCarrier(i, up) })
		if err != nil {
			d.log.Warn("no carrier events for bond member; assuming up", "member", name, "err", err)
			d.setCarrier(i, true)
			continue
		}
		cancels = append(cancels, c)
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		d.closeMembers()
		wg.Wait()
	}()
	tick := time.NewTicker(bondTick)
	defer tick.Stop()
	for {
		var out bond.Output
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case m := <-d.lacpq:
			out = d.b.ReceiveLACP(m.member, m.data[:m.n], time.Now())
		case <-d.wake:
			d.mu.Lock()
			cars := d.cars
			d.cars = nil
			d.mu.Unlock()
			for _, c := range cars {
				o := d.b.SetCarrier(c.member, c.up, time.Now())
				d.log.Info("bond member carrier", "member", d.names[c.member], "up", c.up)
				d.apply(o)
			}
			continue
		case <-tick.C:
			out = d.b.Tick(time.Now())
		}
		d.apply(out)
	}
}

// apply does what a bond call asks: LACPDUs out on their members, learning
// frames after a failover, the link state for spanning tree.
func (d *bondDevice) apply(out bond.Output) {
	for _, f := range out.Frames {
		d.SendOn(f.Member, f.Data)
	}
	if out.SendLearning {
		if n := d.SendLearning(); n > 0 {
			d.log.Debug("learning frames sent", "count", n)
		}
	}
	if out.Changed {
		sel := d.b.Selector()
		up := false
		var en []string
		for i := range d.names {
			if sel.Enabled(i) {
				up = true
				en = append(en, d.names[i])
			}
		}
		d.log.Info("bond changed", "enabled", strings.Join(en, ","), "active", activeName(d.names, sel.Active()))
		d.mu.Lock()
		changed := up != d.linkUp
		d.linkUp = up
		fn := d.onLink
		d.mu.Unlock()
		if changed && fn != nil {
			fn(up)
		}
	}
}

func activeName(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return "-"
}

// setOnLink installs the spanning tree's link callback and returns the
// current link state.
func (d *bondDevice) setOnLink(fn func(bool)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onLink = fn
	return d.linkUp
}

// Close stops the members (Run returns).
func (d *bondDevice) Close() error {
	d.closeMembers()
	return nil
}

func (d *bondDevice) closeMembers() {
	d.closeOnce.Do(func() {
		for _, m := range d.members {
			m.Close()
		}
	})
}

// status returns `bond show`'s view of the bond.
func (d *bondDevice) status() bond.Status { return d.b.Status(time.Now()) }
