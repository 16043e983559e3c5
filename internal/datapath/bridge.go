// Package datapath is Switchyard's switching engine: bridges, ports, the
// forwarding database, 802.1Q VLAN processing, OpenFlow-style flow tables
// whose NORMAL action is the learning switch, a decision cache, and packet
// tracing. It makes no system calls and allocates nothing per packet;
// devices that talk to the OS live in packages netdev and overlay and plug
// in through the Device interface.
//
// Every frame goes through three steps (docs/architecture.md):
//
//	extract  the frame's flow key (only as deep as some rule can look)
//	decide   the pure pipeline: tables → actions, NORMAL, patch ports into
//	         peer bridges; it returns a Decision (operations, the fields it
//	         consulted, what it depends on) and has no side effects
//	execute  apply the Decision to the packet: learn, rewrite, queue to
//	         output ports; then each output device gets its batch once
//
// Decisions are cached by the fields they consulted (megaflows): a hit
// skips decide. A Trace is decide with a recorder.
package datapath

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// Defaults of a bridge, as in the Linux bridge and IEEE 802.1D.
const (
	DefaultAgingTime  = 300 * time.Second
	DefaultMaxLearned = 8192
	// MaxAgingTime bounds the aging time (the FDB keeps seconds modulo 2^24).
	MaxAgingTime = 1_000_000 * time.Second
	// MaxPorts bounds the ports of one bridge.
	MaxPorts = 4095
	// DefaultMaxRules bounds the rules of one bridge.
	DefaultMaxRules = 1_000_000
)

// Allowed-value texts of the bridge settings.
const (
	AllowedAging    = "10-1000000 seconds"
	AllowedFDBMax   = "1-16777216"
	AllowedCacheMax = "0 (default 65536) or 1024-4194304"
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
	// CacheMax bounds the decision cache's entries (default 65536).
	CacheMax int
}

func (c *BridgeConfig) withDefaults() BridgeConfig {
	d := *c
	if d.AgingTime == 0 {
		d.AgingTime = DefaultAgingTime
	}
	if d.MaxLearned == 0 {
		d.MaxLearned = DefaultMaxLearned
	}
	if d.CacheMax == 0 {
		d.CacheMax = DefaultCacheMax
	}
	return d
}

// Validate checks the configuration and names the field at fault.
func (c *BridgeConfig) Validate() error {
	d := c.withDefaults()
	if d.AgingTime < 10*time.Second || d.AgingTime > MaxAgingTime {
		return errs.Invalidf("fdb-aging", AllowedAging, "%v seconds", d.AgingTime.Seconds())
	}
	if d.MaxLearned < 1 || d.MaxLearned > 1<<24 {
		return errs.Invalidf("fdb-max", AllowedFDBMax, "%d", d.MaxLearned)
	}
	if d.FullPolicy > FullEvictOldest {
		return errs.Invalidf("fdb-full-policy", FullPolicies, "policy %d", d.FullPolicy)
	}
	if d.CacheMax < 1024 || d.CacheMax > 1<<22 {
		return errs.Invalidf("flow-cache-max", AllowedCacheMax, "%d", d.CacheMax)
	}
	return nil
}

// Bridge is an IEEE 802.1D learning bridge with 802.1Q VLANs and OpenFlow
// flow tables in front of it.
type Bridge struct {
	name string

	mu     sync.Mutex // serialises configuration changes and publication
	snap   atomic.Pointer[snapshot]
	byName map[string]*Port
	byNo   map[uint16]*Port
	cfg    BridgeConfig
	gen    uint64

	flowMu   sync.Mutex // held by an open flow transaction
	flows    *tableSet  // the published tables (also in snap)
	maxRules int
	removed  atomic.Pointer[func([]FlowRemoved)]

	fdb   *FDB
	cache *flowCache
	aging atomic.Uint32 // seconds
	clock atomic.Uint32 // seconds since epoch, advanced by Tick
	epoch time.Time

	live    atomic.Pointer[liveTrace]
	control atomic.Pointer[controlHolder]

	// agingOverride is spanning tree's short aging (seconds; 0 = none).
	agingOverride atomic.Uint32
	// OpenFlow state (controller.go, group.go, meter.go), guarded by mu
	// and published in the snapshot.
	of      ofSettings
	groups  map[uint32]*Group // copy on write
	meters  map[uint32]*Meter // copy on write
	pktIn   atomic.Pointer[pinHolder]
	ctlPort *Port // the pseudo ingress port of packets from a controller
}

// snapshot is what one decision reads: a consistent, immutable view of the
// bridge's ports and tables. Every change publishes a new one.
type snapshot struct {
	b      *Bridge
	gen    uint64
	ports  map[uint16]*portView
	list   []*portView // by port number
	byName map[string]*portView
	byNo   []*portView // by port number, for the per-packet NORMAL lookup
	tables *tableSet
	depth  parseDepth
	// fields are the key bits some rule, group bucket or meter reads:
	// what keys must be extracted for (depth).
	fields Key
	// local is the port named like the bridge (OpenFlow's LOCAL), if any.
	local *portView
	// hasPatch says some port is a patch port (NORMAL may continue into
	// a peer bridge).
	hasPatch bool
	// plans memoises NORMAL's plans: they depend only on the snapshot, the
	// ingress port, the VLAN and whether the frame came tagged.
	plansMu sync.Mutex
	plans   map[uint64]*normalPlan // port<<16 | vlan<<1 | tagged
	// OpenFlow: the settings (fail-open, table-miss to controller,
	// fragments), whether a packet-in handler is set, the groups and
	// meters, and the view of the controller's pseudo port (the ingress
	// of packet-outs from CONTROLLER).
	of      ofSettings
	ctl     bool
	groups  map[uint32]*Group
	meters  map[uint32]*Meter
	ctlView *portView
}

// port returns the view of port number no, or nil.
func (s *snapshot) port(no uint16) *portView {
	if int(no) < len(s.byNo) {
		return s.byNo[no]
	}
	return nil
}

// portView is one port as a snapshot sees it.
type portView struct {
	p     *Port
	no    uint16
	st    *portState
	patch bool // the device is a *Patch
	// plan is the NORMAL plan this port made last (a one-entry memo in
	// front of the snapshot's plan map).
	plan atomic.Pointer[normalPlan]
	// OpenFlow port config (PortMod) and liveness.
	noRecv, noFwd, noFlood, noPacketIn bool
	live                               bool
}

// NewBridge returns a bridge with no ports and the default pipeline: table
// 0 holds one rule, priority=0,actions=NORMAL.
func NewBridge(name string, cfg BridgeConfig) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Bridge{name: name, byName: map[string]*Port{}, byNo: map[uint16]*Port{}, cfg: cfg, epoch: time.Now(), maxRules: DefaultMaxRules}
	b.fdb = newFDB(cfg.MaxLearned, cfg.FullPolicy)
	b.fdb.aging = uint32(cfg.AgingTime / time.Second)
	b.aging.Store(uint32(cfg.AgingTime / time.Second))
	b.cache = newFlowCache(b, cfg.CacheMax)
	b.initOpenFlow()
	x := beginTxn(newTableSet())
	x.insert(b.newRule(DefaultRule()))
	b.flows = x.finish()
	b.mu.Lock()
	b.publishLocked()
	b.mu.Unlock()
	return b, nil
}

// DefaultRule is the rule a new bridge starts with:
// table=0,priority=0,actions=NORMAL.
func DefaultRule() Rule {
	return Rule{Instr: Instructions{Apply: []Action{{Kind: ActOutput, Port: PortNormal}}, Goto: NoGoto}}
}

// publishLocked builds and publishes a new snapshot (b.mu held).
func (b *Bridge) publishLocked() {
	b.gen++
	s := &snapshot{b: b, gen: b.gen, ports: make(map[uint16]*portView, len(b.byNo)), byName: make(map[string]*portView, len(b.byNo)), tables: b.flows}
	for no, p := range b.byNo {
		_, patch := p.dev.(*Patch)
		v := &portView{p: p, no: no, st: p.st, patch: patch}
		v.setOpenFlow(p)
		s.ports[no] = v
		s.byName[p.name] = v
		s.list = append(s.list, v)
		if p.name == b.name {
			s.local = v
		}
	}
	slices.SortFunc(s.list, func(a, c *portView) int { return int(a.no) - int(c.no) })
	if n := len(s.list); n > 0 {
		s.byNo = make([]*portView, int(s.list[n-1].no)+1)
	}
	for _, v := range s.list {
		s.byNo[v.no] = v
		s.hasPatch = s.hasPatch || v.patch
	}
	b.publishOpenFlowLocked(s)
	s.depth = depthFor(&s.fields)
	b.snap.Store(s)
}

// republish publishes a fresh snapshot (after a change outside the bridge's
// own state that decisions depend on, such as a patch peer attaching).
func (b *Bridge) republish() {
	b.mu.Lock()
	b.publishLocked()
	b.mu.Unlock()
}

// depthFor returns how deep keys must be extracted for rules consulting the
// fields of mask f.
func depthFor(f *Key) parseDepth {
	l4 := f[8] | f[12] | f[13] | f[10] | f[11]
	l3 := f[2]>>48 | f[3] | f[4] | f[5] | f[6] | f[7] | f[9] | f[0]>>49&3
	switch {
	case l4 != 0:
		return parseL4
	case l3 != 0:
		return parseL3
	}
	return parseL2
}

// Name returns the bridge's name.
func (b *Bridge) Name() string { return b.name }

// Config returns the bridge's configuration with defaults filled in.
func (b *Bridge) Config() BridgeConfig {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// SetConfig changes the aging time, the FDB limit and its policy, and the
// decision cache's bound.
func (b *Bridge) SetConfig(cfg BridgeConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfg = cfg
	b.aging.Store(uint32(cfg.AgingTime / time.Second))
	b.fdb.setLimits(cfg.MaxLearned, cfg.FullPolicy, uint32(cfg.AgingTime/time.Second), b.clock.Load())
	b.cache.setLimit(cfg.CacheMax)
	return nil
}

// SetFDBEvents sets the receiver of the FDB's events (moves, full table).
func (b *Bridge) SetFDBEvents(e FDBEvents) { b.fdb.setEvents(e) }

// Tick advances the bridge's clock to now, ages out learned addresses,
// expires rules whose timeouts passed, and sweeps idle decisions from the
// cache. The daemon calls it about once a second; the forwarding path reads
// the clock and never calls time.Now.
func (b *Bridge) Tick(now time.Time) {
	sec := uint32(now.Sub(b.epoch) / time.Second)
	b.clock.Store(sec)
	b.fdb.expire(sec, b.effectiveAging())
	b.cache.sweep(sec)
	b.expireRules(now, sec)
}

// Clock returns the bridge clock: seconds since the bridge was made, as of
// the last Tick.
func (b *Bridge) Clock() uint32 { return b.clock.Load() }

// AddPort attaches dev to the bridge as port name with the lowest free port
// number.
func (b *Bridge) AddPort(name string, dev Device, cfg PortConfig) (*Port, error) {
	return b.AddPortNumber(name, 0, dev, cfg)
}

// AddPortNumber attaches dev to the bridge as port name with port number no
// (its stable OpenFlow port number; 0 picks the lowest free one).
func (b *Bridge) AddPortNumber(name string, no uint16, dev Device, cfg PortConfig) (*Port, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if no > MaxOFPort {
		return nil, errs.Invalidf("ofport", fmt.Sprintf("1-%d", MaxOFPort), "%d", no)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.byName[name]; dup {
		return nil, errs.Existsf("port", "port %q already exists on bridge %q", name, b.name)
	}
	if len(b.byNo) >= MaxPorts {
		return nil, errs.Invalidf("port", fmt.Sprintf("at most %d ports per bridge", MaxPorts), "bridge %q is full", b.name)
	}
	if no == 0 {
		for no = 1; b.byNo[no] != nil; no++ {
		}
	} else if q := b.byNo[no]; q != nil {
		return nil, errs.Existsf("ofport", "port number %d is taken by port %q on bridge %q", no, q.name, b.name)
	}
	p := &Port{b: b, name: name, no: no, dev: dev, st: compile(cfg), gid: allocGID()}
	if cr, ok := dev.(CapsReporter); ok {
		p.caps = cr.Caps()
	}
	if cb, ok := dev.(CounterBinder); ok {
		cb.BindCounters(&p.counters)
	}
	b.byName[name] = p
	b.byNo[no] = p
	b.publishLocked()
	return p, nil
}

// RemovePort detaches a port and forgets the addresses learned on it.
func (b *Bridge) RemovePort(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.byName[name]
	if !ok {
		return errs.NotFoundf("port", "port %q is not on bridge %q", name, b.name)
	}
	delete(b.byName, name)
	delete(b.byNo, p.no)
	b.publishLocked()
	b.fdb.flush(int(p.no), -1, true)
	freeGID(p.gid)
	return nil
}

// Port returns the port called name, or nil.
func (b *Bridge) Port(name string) *Port {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byName[name]
}

// PortByNumber returns the port with number no, or nil.
func (b *Bridge) PortByNumber(no uint16) *Port {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byNo[no]
}

// Ports returns the bridge's ports in port-number order.
func (b *Bridge) Ports() []*Port {
	s := b.snap.Load()
	l := make([]*Port, len(s.list))
	for i, v := range s.list {
		l[i] = v.p
	}
	return l
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
	s := b.snap.Load()
	for _, e := range b.fdb.entries(b.clock.Load()) {
		if vlan >= 0 && int(e.VLAN) != vlan {
			continue
		}
		v := FDBView{FDBEntry: e, RemoteIP: e.Remote.Addr()}
		if p := s.ports[e.Port]; p != nil {
			v.PortName = p.p.name
		}
		out = append(out, v)
	}
	return out
}

// AddStaticFDB installs a static entry: mac in vlan lives on port (behind
// remote, for a tunnel port). It never ages and never moves.
func (b *Bridge) AddStaticFDB(mac [6]byte, vlan uint16, port string, remote netip.Addr) error {
	if mac[0]&1 != 0 || mac == [6]byte{} {
		return errs.Invalidf("mac", "a unicast, non-zero MAC like 02:00:00:00:00:01", "%s", macString(mac))
	}
	if vlan > MaxVID {
		return errs.Invalidf("vlan", AllowedVIDOrAll, "%d", vlan)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.byName[port]
	if !ok {
		return errs.NotFoundf("port", "port %q is not on bridge %q", port, b.name)
	}
	if !p.st.member.Has(vlan) {
		return errs.Invalidf("vlan", "a VLAN the port carries", "port %q does not carry vlan %d", port, vlan)
	}
	ep := NoEndpoint
	if remote.IsValid() {
		if !p.st.cfg.Tunnel {
			return errs.Invalidf("remote", "tunnel ports only", "%q is not a tunnel port", port)
		}
		var err error
		if ep, err = InternEndpoint(remote); err != nil {
			return errs.Failedf("remote", err, "%v", err)
		}
	}
	b.fdb.addStatic(fdbKey(vlan, mac), p.no, ep)
	return nil
}

// DeleteFDB removes the entry for (vlan, mac), learned or static.
func (b *Bridge) DeleteFDB(mac [6]byte, vlan uint16) error {
	if !b.fdb.remove(fdbKey(vlan, mac)) {
		return errs.NotFoundf("mac", "no FDB entry for %s in vlan %d on bridge %q", macString(mac), vlan, b.name)
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
			return 0, errs.NotFoundf("port", "port %q is not on bridge %q", port, b.name)
		}
		no = int(p.no)
	}
	return b.fdb.flush(no, vlan, false), nil
}

// BridgeStats are a bridge's counters.
type BridgeStats struct {
	FDB FDBStats `json:"fdb"`
	// FDBBytesPerEntry is the FDB's memory per entry it can hold.
	FDBBytesPerEntry float64    `json:"fdb_bytes_per_entry"`
	Cache            CacheStats `json:"cache"`
	Rules            int        `json:"rules"`
}

// Stats returns the bridge's counters.
func (b *Bridge) Stats() BridgeStats {
	return BridgeStats{FDB: b.fdb.stats(), FDBBytesPerEntry: b.fdb.bytesPerEntry(), Cache: b.cache.stats(), Rules: b.snap.Load().tables.nrules}
}

// FDBLearnedPerPort returns how many learned addresses each port holds.
func (b *Bridge) FDBLearnedPerPort() map[uint16]int { return b.fdb.learnedOn() }

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Port is a port of a bridge: its device, its number, its VLAN
// configuration and its counters.
type Port struct {
	b        *Bridge
	name     string
	no       uint16
	dev      Device
	caps     Caps
	st       *portState // guarded by b.mu; decisions read it from a snapshot
	gid      uint32     // process-wide index for per-context output queues
	counters Counters
	rx       rxContext // owned by the goroutine that calls Receive
	hookFields
	// OpenFlow port config bits (PortConfig*, guarded by b.mu) and the
	// link's liveness (true until told otherwise).
	ofConfig uint32
	down     bool
}

// Name returns the port's name.
func (p *Port) Name() string { return p.name }

// Number returns the port's stable number on its bridge (its OpenFlow
// port number).
func (p *Port) Number() uint16 { return p.no }

// Bridge returns the bridge the port is on.
func (p *Port) Bridge() *Bridge { return p.b }

// Device returns the port's device.
func (p *Port) Device() Device { return p.dev }

// Caps returns what the port's device accepts.
func (p *Port) Caps() Caps { return p.caps }

// Counters returns the port's live counters.
func (p *Port) Counters() *Counters { return &p.counters }

// Config returns the port's configuration.
func (p *Port) Config() PortConfig {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.st.cfg
}

// SetConfig changes the port's VLAN configuration. Addresses learned on the
// port are flushed when the VLANs it carries change.
func (p *Port) SetConfig(cfg PortConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	old := p.st
	p.st = compile(cfg)
	p.st.state = old.state
	p.b.publishLocked()
	if old.member != p.st.member {
		p.b.fdb.flush(int(p.no), -1, false)
	}
	return nil
}

// VNIs returns the tunnel keys the port receives: one per mapped VLAN, or
// its single VNI.
func (p *Port) VNIs() []uint32 {
	p.b.mu.Lock()
	st := p.st
	p.b.mu.Unlock()
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

// Process-wide port indexes: every port gets a small integer so a receive
// context can keep one output queue per port of every bridge (a decision
// may cross patch ports into other bridges).
var gids struct {
	mu   sync.Mutex
	next uint32
	free []uint32
}

func allocGID() uint32 {
	gids.mu.Lock()
	defer gids.mu.Unlock()
	if n := len(gids.free); n > 0 {
		g := gids.free[n-1]
		gids.free = gids.free[:n-1]
		return g
	}
	g := gids.next
	gids.next++
	return g
}

func freeGID(g uint32) {
	gids.mu.Lock()
	gids.free = append(gids.free, g)
	gids.mu.Unlock()
}
