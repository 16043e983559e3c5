// Package datapath is Switchyard's switching engine: bridges, ports, the
// forwarding database, 802.1Q VLAN processing and flooding. It makes no
// system calls and allocates nothing per packet; devices that talk to the OS
// live in package netdev and plug in through the Port interface.
package datapath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a bridge, as in the Linux bridge and IEEE 802.1D.
const (
	DefaultAgingTime  = 300 * time.Second
	DefaultMaxLearned = 8192
	// MaxAgingTime bounds the aging time (the FDB keeps seconds modulo 2^24).
	MaxAgingTime = 1_000_000 * time.Second
	// MaxPorts bounds the ports of one bridge.
	MaxPorts = 4095
)

// BridgeConfig is the configuration of a bridge.
type BridgeConfig struct {
	// AgingTime is how long a learned address lives without being seen
	// (default 300 s; 10 s to 1,000,000 s).
	AgingTime time.Duration
	// MaxLearned is the most learned addresses the FDB holds (default 8192).
	MaxLearned int
	// FullPolicy is what happens to a new address when the FDB is full.
	FullPolicy FullPolicy
}

func (c *BridgeConfig) withDefaults() BridgeConfig {
	d := *c
	if d.AgingTime == 0 {
		d.AgingTime = DefaultAgingTime
	}
	if d.MaxLearned == 0 {
		d.MaxLearned = DefaultMaxLearned
	}
	return d
}

// Validate checks the configuration and names the field at fault.
func (c *BridgeConfig) Validate() error {
	d := c.withDefaults()
	if d.AgingTime < 10*time.Second || d.AgingTime > MaxAgingTime {
		return fmt.Errorf("fdb-aging %v is not valid; allowed 10-1000000 seconds", d.AgingTime.Seconds())
	}
	if d.MaxLearned < 1 || d.MaxLearned > 1<<24 {
		return fmt.Errorf("fdb-max %d is not valid; allowed 1-16777216", d.MaxLearned)
	}
	if d.FullPolicy > FullEvictOldest {
		return fmt.Errorf("fdb-full-policy %d is not valid; allowed refuse, evict-oldest", d.FullPolicy)
	}
	return nil
}

// Bridge is an IEEE 802.1D learning bridge with 802.1Q VLANs.
type Bridge struct {
	name string

	mu     sync.Mutex                    // serialises configuration changes
	ports  atomic.Pointer[[]*BridgePort] // indexed by port number; nil holes
	byName map[string]*BridgePort
	cfg    BridgeConfig

	fdb   *FDB
	aging atomic.Uint32 // seconds
	clock atomic.Uint32 // seconds since epoch, advanced by Tick
	epoch time.Time
}

// NewBridge returns an empty bridge.
func NewBridge(name string, cfg BridgeConfig) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Bridge{name: name, byName: map[string]*BridgePort{}, cfg: cfg, epoch: time.Now()}
	b.fdb = newFDB(cfg.MaxLearned, cfg.FullPolicy)
	b.aging.Store(uint32(cfg.AgingTime / time.Second))
	empty := make([]*BridgePort, 1) // port 0 is never used
	b.ports.Store(&empty)
	return b, nil
}

// Name returns the bridge's name.
func (b *Bridge) Name() string { return b.name }

// Config returns the bridge's configuration with defaults filled in.
func (b *Bridge) Config() BridgeConfig {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// SetConfig changes the aging time, the FDB limit and its policy.
func (b *Bridge) SetConfig(cfg BridgeConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfg = cfg
	b.aging.Store(uint32(cfg.AgingTime / time.Second))
	b.fdb.setLimits(cfg.MaxLearned, cfg.FullPolicy, b.clock.Load())
	return nil
}

// Tick advances the bridge's clock to now and ages out learned addresses.
// The daemon calls it about once a second; the forwarding path reads the
// clock and never calls time.Now.
func (b *Bridge) Tick(now time.Time) {
	sec := uint32(now.Sub(b.epoch) / time.Second)
	b.clock.Store(sec)
	b.fdb.expire(sec, b.aging.Load())
}

// AddPort attaches dev to the bridge as port name.
func (b *Bridge) AddPort(name string, dev Port, cfg PortConfig) (*BridgePort, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.byName[name]; dup {
		return nil, fmt.Errorf("port %q already exists on bridge %q", name, b.name)
	}
	old := *b.ports.Load()
	no := 0
	for i := 1; i < len(old); i++ {
		if old[i] == nil {
			no = i
			break
		}
	}
	if no == 0 {
		no = len(old)
	}
	if no > MaxPorts {
		return nil, fmt.Errorf("bridge %q has %d ports; at most %d", b.name, MaxPorts, MaxPorts)
	}
	p := &BridgePort{b: b, name: name, no: uint16(no), dev: dev}
	p.st.Store(compile(cfg))
	if cb, ok := dev.(CounterBinder); ok {
		cb.BindCounters(&p.counters)
	}
	ports := slices.Clone(old)
	if no == len(ports) {
		ports = append(ports, nil)
	}
	ports[no] = p
	b.ports.Store(&ports)
	b.byName[name] = p
	return p, nil
}

// RemovePort detaches a port and forgets the addresses learned on it.
func (b *Bridge) RemovePort(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.byName[name]
	if !ok {
		return fmt.Errorf("port %q is not on bridge %q", name, b.name)
	}
	ports := slices.Clone(*b.ports.Load())
	ports[p.no] = nil
	b.ports.Store(&ports)
	delete(b.byName, name)
	b.fdb.flush(int(p.no), -1, true)
	return nil
}

// Port returns the port called name, or nil.
func (b *Bridge) Port(name string) *BridgePort {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byName[name]
}

// Ports returns the bridge's ports in port-number order.
func (b *Bridge) Ports() []*BridgePort {
	var l []*BridgePort
	for _, p := range *b.ports.Load() {
		if p != nil {
			l = append(l, p)
		}
	}
	return l
}

func (b *Bridge) portByNumber(no uint16) *BridgePort {
	ports := *b.ports.Load()
	if int(no) < len(ports) {
		return ports[no]
	}
	return nil
}

// FDBView is an FDB entry with its port's name and its remote's address.
type FDBView struct {
	FDBEntry
	PortName string
	RemoteIP netip.Addr
}

// FDB returns the entries of the forwarding database; vlan < 0 means all.
func (b *Bridge) FDB(vlan int) []FDBView {
	var out []FDBView
	for _, e := range b.fdb.entries(b.clock.Load()) {
		if vlan >= 0 && int(e.VLAN) != vlan {
			continue
		}
		v := FDBView{FDBEntry: e, RemoteIP: e.Remote.Addr()}
		if p := b.portByNumber(e.Port); p != nil {
			v.PortName = p.name
		}
		out = append(out, v)
	}
	return out
}

// AddStaticFDB installs a static entry: mac in vlan lives on port (behind
// remote, for a tunnel port). It never ages and never moves.
func (b *Bridge) AddStaticFDB(mac [6]byte, vlan uint16, port string, remote netip.Addr) error {
	if mac[0]&1 != 0 || mac == [6]byte{} {
		return fmt.Errorf("mac %s is not valid for an FDB entry; want a unicast, non-zero address", macString(mac))
	}
	if vlan > MaxVID {
		return fmt.Errorf("vlan %d is not valid; allowed 0-4094 (0 = untagged)", vlan)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.byName[port]
	if !ok {
		return fmt.Errorf("port %q is not on bridge %q", port, b.name)
	}
	st := p.st.Load()
	if !st.member.Has(vlan) {
		return fmt.Errorf("port %q does not carry vlan %d", port, vlan)
	}
	ep := NoEndpoint
	if remote.IsValid() {
		if !st.cfg.Tunnel {
			return fmt.Errorf("remote applies to tunnel ports only; %q is not one", port)
		}
		var err error
		if ep, err = InternEndpoint(remote); err != nil {
			return err
		}
	}
	b.fdb.addStatic(fdbKey(vlan, mac), p.no, ep)
	return nil
}

// DeleteFDB removes the entry for (vlan, mac), learned or static.
func (b *Bridge) DeleteFDB(mac [6]byte, vlan uint16) error {
	if !b.fdb.remove(fdbKey(vlan, mac)) {
		return fmt.Errorf("no FDB entry for %s in vlan %d on bridge %q", macString(mac), vlan, b.name)
	}
	return nil
}

// FlushFDB removes learned entries, of one port (port != "") and/or one VLAN
// (vlan >= 0). It returns how many it removed.
func (b *Bridge) FlushFDB(port string, vlan int) (int, error) {
	no := -1
	if port != "" {
		p := b.Port(port)
		if p == nil {
			return 0, fmt.Errorf("port %q is not on bridge %q", port, b.name)
		}
		no = int(p.no)
	}
	return b.fdb.flush(no, vlan, false), nil
}

// BridgeStats are a bridge's counters.
type BridgeStats struct {
	FDB FDBStats
	// FDBBytesPerEntry is the FDB's memory per entry it can hold.
	FDBBytesPerEntry float64
}

// Stats returns the bridge's counters.
func (b *Bridge) Stats() BridgeStats {
	return BridgeStats{FDB: b.fdb.stats(), FDBBytesPerEntry: b.fdb.bytesPerEntry()}
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// BridgePort is a port of a bridge: its device, its VLAN configuration and
// its counters.
type BridgePort struct {
	b        *Bridge
	name     string
	no       uint16
	dev      Port
	st       atomic.Pointer[portState]
	counters Counters
	rx       rxContext // owned by the goroutine that calls Receive
}

// Name returns the port's name.
func (p *BridgePort) Name() string { return p.name }

// Number returns the port's number on its bridge (1-based).
func (p *BridgePort) Number() uint16 { return p.no }

// Bridge returns the bridge the port is on.
func (p *BridgePort) Bridge() *Bridge { return p.b }

// Device returns the port's device.
func (p *BridgePort) Device() Port { return p.dev }

// Counters returns the port's live counters.
func (p *BridgePort) Counters() *Counters { return &p.counters }

// Config returns the port's configuration.
func (p *BridgePort) Config() PortConfig { return p.st.Load().cfg }

// SetConfig changes the port's VLAN configuration. Addresses learned on the
// port are flushed when the VLANs it carries change.
func (p *BridgePort) SetConfig(cfg PortConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	old := p.st.Load()
	st := compile(cfg)
	p.st.Store(st)
	if old.member != st.member {
		p.b.fdb.flush(int(p.no), -1, false)
	}
	return nil
}

// VNIs returns the tunnel keys the port receives: one per mapped VLAN, or
// its single VNI.
func (p *BridgePort) VNIs() []uint32 {
	st := p.st.Load()
	if len(st.cfg.VNIs) == 0 {
		return []uint32{st.cfg.VNI}
	}
	l := make([]uint32, 0, len(st.cfg.VNIs))
	for _, v := range st.cfg.VNIs {
		l = append(l, v)
	}
	slices.Sort(l)
	return l
}

// portState is a port's configuration compiled for the forwarding path.
type portState struct {
	cfg       PortConfig
	member    VLANSet // VLANs the port carries (0 = untagged domain)
	tagged    VLANSet // VLANs it sends tagged
	native    uint16  // VLAN of untagged frames
	hasNative bool
	vniOf     *[4096]uint32     // VLAN → VNI on a tunnel port with a map
	vlanOf    map[uint32]uint16 // VNI → VLAN on a tunnel port with a map
}

func compile(cfg PortConfig) *portState {
	st := &portState{cfg: cfg}
	switch {
	case cfg.Mode == ModeAccess:
		st.member.Add(cfg.VLAN)
		st.native, st.hasNative = cfg.VLAN, true
	case len(cfg.VNIs) > 0:
		st.vniOf = new([4096]uint32)
		st.vlanOf = make(map[uint32]uint16, len(cfg.VNIs))
		for vlan, vni := range cfg.VNIs {
			st.member.Add(vlan)
			st.vniOf[vlan] = vni
			st.vlanOf[vni] = vlan
		}
	default:
		if cfg.Trunks.IsEmpty() {
			for v := uint16(1); v <= MaxVID; v++ {
				st.member.Add(v)
			}
		} else {
			st.member = cfg.Trunks
		}
		st.tagged = st.member
		if cfg.NativeVLAN != 0 || cfg.Trunks.IsEmpty() {
			st.native, st.hasNative = cfg.NativeVLAN, true
			st.member.Add(cfg.NativeVLAN)
			if !cfg.NativeTagged {
				st.tagged[cfg.NativeVLAN>>6] &^= 1 << (cfg.NativeVLAN & 63)
			}
		}
	}
	return st
}

func (st *portState) vni(vlan uint16) uint32 {
	if st.vniOf != nil {
		return st.vniOf[vlan&0xfff]
	}
	return st.cfg.VNI
}

// touchMinSlots is the FDB table size (64K slots, 1 MiB) above which the
// receive path touches a batch's slots before using them.
const touchMinSlots = 1 << 16

// maxHops bounds how many patch ports a frame may cross, so two bridges
// joined twice cannot bounce a frame forever.
const maxHops = 8

// rxContext is the scratch state of one receive goroutine: per-output-port
// batches and spare packets for flooded frames that need a second VLAN form.
type rxContext struct {
	out    [][]Out
	spares []*Packet
	nspare int
	drops  [NumDropReasons]int
	class  []frameClass
	touch  uint64 // keeps the pass-1 loads from being optimised away
}

func (c *rxContext) spare(n int) *Packet {
	if c.nspare == len(c.spares) {
		c.spares = append(c.spares, &Packet{})
	}
	s := c.spares[c.nspare]
	c.nspare++
	growBuf(s, n)
	return s
}

// growBuf makes sure p's buffer holds a frame of n bytes plus a tag: 2 KiB
// for ordinary frames, MaxFrame once a super-frame came by (so that a
// stream of them reallocates once).
func growBuf(p *Packet, n int) {
	if len(p.Buf) >= Headroom+n+4 {
		return
	}
	size := 2048
	if n+4 > size {
		size = MaxFrame + 4
	}
	p.Buf = make([]byte, Headroom+size)
}

// Receive hands a batch of frames that arrived on the port to the bridge,
// which forwards them and sends them out before it returns. The packets are
// borrowed for the call. One goroutine at a time may call Receive for a port.
func (p *BridgePort) Receive(pkts []*Packet) { p.receive(&p.rx, pkts) }

func (p *BridgePort) receive(c *rxContext, pkts []*Packet) {
	b := p.b
	st := p.st.Load()
	ports := *b.ports.Load()
	now := b.clock.Load()
	if len(c.out) < len(ports) {
		c.out = append(c.out, make([][]Out, len(ports)-len(c.out))...)
	}
	// Pass 1: classify every frame, and when the FDB is larger than the
	// caches, touch the slots its source and destination hash to, so the
	// cache misses of the whole batch overlap (with 1M entries: +55 %
	// forwarding rate; with a small FDB touching would cost 18 %).
	if cap(c.class) < len(pkts) {
		c.class = make([]frameClass, len(pkts))
	}
	class := c.class[:len(pkts)]
	t := b.fdb.table.Load()
	prefetch := len(t.slots) > touchMinSlots
	var touch uint64
	var bytes int
	for i, pkt := range pkts {
		bytes += pkt.Len
		fc := classify(st, pkt)
		class[i] = fc
		if prefetch && fc.drop == forwarded {
			d := pkt.Buf[pkt.Off:]
			touch += t.touch(fdbKey(fc.vlan, [6]byte(d[0:6])))
			touch += t.touch(fdbKey(fc.vlan, [6]byte(d[6:12])))
		}
	}
	c.touch = touch
	// Pass 2: learn and forward.
	for i, pkt := range pkts {
		if r := b.process(p, st, ports, pkt, class[i], now, c); r < NumDropReasons {
			c.drops[r]++
		}
	}
	p.counters.RxPackets.Add(uint64(len(pkts)))
	p.counters.RxBytes.Add(uint64(bytes))
	for r, n := range c.drops {
		if n != 0 {
			p.counters.Drops[r].Add(uint64(n))
			c.drops[r] = 0
		}
	}
	for i, outs := range c.out {
		if len(outs) == 0 {
			continue
		}
		q := ports[i]
		var n int
		for _, o := range outs {
			n += o.Pkt.Len
		}
		q.dev.Send(outs)
		q.counters.TxPackets.Add(uint64(len(outs)))
		q.counters.TxBytes.Add(uint64(n))
		clear(outs) // drop packet references
		c.out[i] = outs[:0]
	}
	c.nspare = 0
}

const forwarded = NumDropReasons

// frameClass is what the first pass learns about a frame.
type frameClass struct {
	vlan   uint16
	tci    uint16
	tagged bool
	drop   DropReason // forwarded = keep going
}

// classify parses a frame's L2 header and decides its ingress VLAN (or why
// it is dropped). It does not touch the FDB.
func classify(st *portState, pkt *Packet) frameClass {
	if pkt.hops > maxHops {
		return frameClass{drop: DropLoop}
	}
	d := pkt.Buf[pkt.Off : pkt.Off+pkt.Len]
	if len(d) < 14 {
		return frameClass{drop: DropBadFrame}
	}
	if d[6]&1 != 0 || (d[6]|d[7]|d[8]|d[9]|d[10]|d[11]) == 0 {
		return frameClass{drop: DropInvalidSource}
	}
	fc := frameClass{drop: forwarded}
	fc.tagged = binary.BigEndian.Uint16(d[12:]) == 0x8100
	if fc.tagged {
		if len(d) < 18 {
			return frameClass{drop: DropBadFrame}
		}
		fc.tci = binary.BigEndian.Uint16(d[14:])
	}
	vid := fc.tci & 0xfff
	switch {
	case vid == 0xfff:
		fc.drop = DropVLANReserved
	case vid != 0: // tagged
		if st.cfg.Mode == ModeAccess || st.vniOf != nil || !st.member.Has(vid) {
			fc.drop = DropVLANNotAllowed
		}
		fc.vlan = vid
	case st.vlanOf != nil: // untagged from a tunnel port with a VNI map
		v, ok := st.vlanOf[pkt.Tunnel.VNI]
		if !ok {
			fc.drop = DropUnknownVNI
		}
		fc.vlan = v
	case st.hasNative: // untagged or priority-tagged
		fc.vlan = st.native
	default:
		fc.drop = DropVLANNotAllowed
	}
	// Link-local group addresses (STP, LACP, pause) are never forwarded.
	if fc.drop == forwarded && d[0] == 0x01 && d[1] == 0x80 && d[2] == 0xc2 && d[3] == 0 && d[4] == 0 && d[5]&0xf0 == 0 {
		fc.drop = DropLinkLocal
	}
	return fc
}

// process learns and forwards one classified frame; it returns the drop
// reason, or forwarded.
func (b *Bridge) process(in *BridgePort, st *portState, ports []*BridgePort, pkt *Packet, fc frameClass, now uint32, c *rxContext) DropReason {
	if fc.drop != forwarded {
		return fc.drop
	}
	d := pkt.Buf[pkt.Off : pkt.Off+pkt.Len]
	vlan, tagged := fc.vlan, fc.tagged
	ep := NoEndpoint
	if st.cfg.Tunnel {
		ep = pkt.Tunnel.Remote
	}
	if !st.cfg.NoLearning {
		b.fdb.learn(fdbKey(vlan, [6]byte(d[6:12])), in.no, ep, now)
	}
	pcpdei := fc.tci & 0xf000

	// Known unicast: one port.
	if d[0]&1 == 0 {
		if v, ok := b.fdb.lookup(fdbKey(vlan, [6]byte(d[0:6]))); ok {
			no := valPort(v)
			if no == in.no {
				return DropSamePort
			}
			if int(no) < len(ports) && ports[no] != nil {
				q := ports[no]
				qs := q.st.Load()
				if qs.member.Has(vlan) {
					if qs.tagged.Has(vlan) {
						setTagged(pkt, tagged, vlan, pcpdei)
					} else if tagged {
						popTag(pkt)
					}
					c.out[no] = append(c.out[no], Out{Pkt: pkt, VNI: qs.vni(vlan), Remote: valEndpoint(v)})
					return forwarded
				}
			}
		}
	}

	// Flood: broadcast, multicast, unknown unicast.
	var nTagged, nUntagged int
	for _, q := range ports {
		if q == nil || q == in {
			continue
		}
		if qs := q.st.Load(); qs.member.Has(vlan) {
			if qs.tagged.Has(vlan) {
				nTagged++
			} else {
				nUntagged++
			}
		}
	}
	if nTagged+nUntagged == 0 {
		return DropNoPort
	}
	tp, up := pkt, pkt
	switch {
	case nUntagged == 0:
		setTagged(pkt, tagged, vlan, pcpdei)
	case nTagged == 0:
		if tagged {
			popTag(pkt)
		}
	default:
		tp = c.spare(pkt.Len)
		copyPacket(tp, pkt)
		setTagged(tp, tagged, vlan, pcpdei)
		if tagged {
			popTag(up)
		}
	}
	for i, q := range ports {
		if q == nil || q == in {
			continue
		}
		qs := q.st.Load()
		if !qs.member.Has(vlan) {
			continue
		}
		o := Out{Pkt: up, VNI: qs.vni(vlan)}
		if qs.tagged.Has(vlan) {
			o.Pkt = tp
		}
		c.out[i] = append(c.out[i], o)
	}
	return forwarded
}

// copyPacket copies src's frame and metadata into dst at the standard
// headroom.
func copyPacket(dst, src *Packet) {
	dst.Off = Headroom
	dst.Len = copy(dst.Buf[Headroom:], src.Buf[src.Off:src.Off+src.Len])
	dst.Offload = src.Offload
	dst.Tunnel = src.Tunnel
	dst.hops = src.hops
}

// setTagged makes the frame carry an 802.1Q tag with vlan, keeping the PCP
// and DEI bits.
func setTagged(p *Packet, tagged bool, vlan, pcpdei uint16) {
	if !tagged {
		pushTag(p)
	}
	binary.BigEndian.PutUint16(p.Buf[p.Off+14:], pcpdei|vlan)
}

// pushTag opens a 4-byte 802.1Q tag after the MAC addresses (TCI left for
// the caller). The headroom always has room: a port never receives into
// less than Headroom.
func pushTag(p *Packet) {
	if p.Off < 4 {
		// Not reachable with packets from NewPacket; keep frames intact.
		n := copy(p.Buf[Headroom:], p.Buf[p.Off:p.Off+p.Len])
		p.Off, p.Len = Headroom, n
	}
	p.Off -= 4
	copy(p.Buf[p.Off:p.Off+12], p.Buf[p.Off+4:p.Off+16])
	binary.BigEndian.PutUint16(p.Buf[p.Off+12:], 0x8100)
	p.Len += 4
	adjustOffload(&p.Offload, 4)
}

// popTag removes the 802.1Q tag after the MAC addresses.
func popTag(p *Packet) {
	copy(p.Buf[p.Off+4:p.Off+16], p.Buf[p.Off:p.Off+12])
	p.Off += 4
	p.Len -= 4
	adjustOffload(&p.Offload, -4)
}

func adjustOffload(o *Offload, delta int) {
	if o.Flags&OffloadNeedsCsum != 0 {
		o.CsumStart = uint16(int(o.CsumStart) + delta)
	}
	if o.HdrLen != 0 {
		o.HdrLen = uint16(int(o.HdrLen) + delta)
	}
}
