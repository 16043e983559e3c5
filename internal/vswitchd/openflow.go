package vswitchd

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/netdev"
	"github.com/switchyard-net/switchyard/internal/openflow"
	"github.com/switchyard-net/switchyard/internal/openflow/ofbackend"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// Every bridge runs an OpenFlow agent (package openflow) on its management
// socket, its extra listeners and its controllers, over the same engine
// API the CLI uses: ofBridge is that agent's Backend. What a controller
// installs is not stored (Origin OpenFlow), as in Open vSwitch: after a
// restart the bridge has its stored (CLI) rules again and its controllers
// program it anew. The OpenFlow path never writes the store, so flow-mods
// cost no disk write.
//
// Flow-mods are applied at once (errors are the controller's at once) but
// into one open transaction per bridge, published when a barrier or any
// other request comes, after 1024 flow-mods, or once flow-mods stop coming
// for 2 ms (at most 20 ms after the first): a stream of flow-mods
// publishes one snapshot per batch instead of one per flow. A barrier's reply therefore follows the publication of everything
// before it, and the decision cache revalidates against the new snapshot
// on the next packet.

// Tuning of the OpenFlow side.
const (
	// ofCommitDelay is how long an open transaction waits, unpublished,
	// for more flow-mods; ofCommitMax bounds its age.
	ofCommitDelay = 2 * time.Millisecond
	ofCommitMax   = 20 * time.Millisecond
	// ofCommitBatch publishes a transaction after this many flow-mods.
	ofCommitBatch = 1024
	// ofSupervise is how often fail mode and table-miss behaviour are
	// checked; ofLinkPoll how often link states are read.
	ofSupervise = 200 * time.Millisecond
	ofLinkPoll  = time.Second
)

// ofState is the switch's OpenFlow side: the directory of the management
// sockets (the API socket's; empty: no management sockets, as in unit
// tests) and an agent per bridge.
type ofState struct {
	mu      sync.Mutex
	dir     string
	bridges map[string]*ofBridge
	// failOpenAfter is how long all controllers must be unreachable
	// before a standalone bridge fails open (Open vSwitch: three
	// inactivity probes).
	failOpenAfter time.Duration
}

// setOpenFlowDir sets where the bridges' management sockets go.
func (s *Switch) setOpenFlowDir(dir string) {
	s.of.mu.Lock()
	s.of.dir = dir
	s.of.mu.Unlock()
}

// MgmtSocket returns the path of a bridge's management socket ("" when the
// switch has none).
func (s *Switch) MgmtSocket(bridge string) string {
	s.of.mu.Lock()
	defer s.of.mu.Unlock()
	if s.of.dir == "" {
		return ""
	}
	return filepath.Join(s.of.dir, bridge+".mgmt")
}

// ofPort is what the OpenFlow side keeps of a bridge port.
type ofPort struct {
	name  string
	no    uint16
	bp    *datapath.Port
	typ   string
	netns string
	mac   net.HardwareAddr
	start time.Time
	poll  bool // its link state is read from the kernel
}

// ofBridge is one bridge's OpenFlow agent and its Backend.
type ofBridge struct {
	s    *Switch
	name string
	dp   *datapath.Bridge
	log  interface {
		Info(string, ...any)
		Warn(string, ...any)
	}

	agent atomic.Pointer[openflow.Agent]
	local atomic.Uint32 // engine number of the LOCAL port (0: none)

	// Reconcile's view (s.mu held when written; mu for readers).
	mu        sync.Mutex
	cfg       config.Bridge
	key       string // what restarts the agent when it changes
	dpid      uint64
	ports     map[uint16]*ofPort
	mgmt      string
	startErr  string
	failOpen  bool
	lastUp    time.Time
	missCtl   bool
	secureNew bool

	// The open flow transaction: its flow-mods, the count the timer saw
	// last, when it began.
	txmu    sync.Mutex
	txn     *datapath.FlowTxn
	txnN    int
	txnSeen int
	txnAt   time.Time
	timer   *time.Timer
	mod     datapath.FlowMod // the flow-mod being converted (txmu)

	stop chan struct{}
	done chan struct{}
}

// configureOpenFlow starts, reconfigures and stops the bridges' agents and
// announces port changes (a reconcile phase, s.mu held).
func (s *Switch) configureOpenFlow(cfg *config.Config) {
	s.of.mu.Lock()
	if s.of.bridges == nil {
		s.of.bridges = map[string]*ofBridge{}
	}
	dir := s.of.dir
	s.of.mu.Unlock()
	for name, o := range s.ofBridges() {
		rb := s.bridges[name]
		if rb == nil || rb.dp != o.dp {
			o.close()
			s.of.mu.Lock()
			delete(s.of.bridges, name)
			s.of.mu.Unlock()
		}
	}
	for _, name := range cfg.BridgeNames() {
		rb := s.bridges[name]
		if rb == nil {
			continue
		}
		b := cfg.Bridges[name]
		s.of.mu.Lock()
		o := s.of.bridges[name]
		if o == nil {
			o = &ofBridge{s: s, name: name, dp: rb.dp, log: s.log.With("bridge", name), ports: map[uint16]*ofPort{},
				stop: make(chan struct{}), done: make(chan struct{}), lastUp: time.Now()}
			s.of.bridges[name] = o
			go o.supervise()
		}
		s.of.mu.Unlock()
		if dir != "" {
			o.mu.Lock()
			o.mgmt = filepath.Join(dir, name+".mgmt")
			o.mu.Unlock()
		}
		o.configure(b)
		o.syncPorts(cfg)
	}
}

func (s *Switch) ofBridges() map[string]*ofBridge {
	s.of.mu.Lock()
	defer s.of.mu.Unlock()
	m := make(map[string]*ofBridge, len(s.of.bridges))
	for k, v := range s.of.bridges {
		m[k] = v
	}
	return m
}

func (s *Switch) ofBridge(name string) *ofBridge {
	s.of.mu.Lock()
	defer s.of.mu.Unlock()
	return s.of.bridges[name]
}

// stopOpenFlow stops every agent (the daemon is stopping).
func (s *Switch) stopOpenFlow() {
	for name, o := range s.ofBridges() {
		o.close()
		s.of.mu.Lock()
		delete(s.of.bridges, name)
		s.of.mu.Unlock()
	}
}

// ofFlowsRemoved sends FLOW_REMOVED for the rules that left a bridge's
// tables with send_flow_rem set (any origin; replaced rules are not
// removed). It is chained to the bridge's OnFlowRemoved.
func (s *Switch) ofFlowsRemoved(bridge string, l []datapath.FlowRemoved) {
	o := s.ofBridge(bridge)
	if o == nil {
		return
	}
	a := o.agent.Load()
	if a == nil {
		return
	}
	pm := o.pm()
	for _, fr := range l {
		if fr.Rule.Flags&datapath.FlagSendFlowRem == 0 {
			continue
		}
		if m, ok := ofbackend.FlowRemoved(fr, pm); ok {
			a.EmitFlowRemoved(m)
		}
	}
}

// agentKey is what needs a new agent when it changes (the datapath id and
// versions are announced at the handshake).
func agentKey(b *config.Bridge, mgmt string) string {
	return fmt.Sprintf("%s|%s|%s", b.DatapathID, b.Protocols, mgmt)
}

func (o *ofBridge) configure(b *config.Bridge) {
	dpid, _ := b.DPID()
	versions, _ := b.OpenFlowVersions()
	ctls, _ := b.ControllerTargets()
	listen, _ := b.ListenTargets()
	var targets []openflow.Target
	if o.mgmt != "" {
		targets = append(targets, openflow.Target{Kind: openflow.PassiveUnix, Addr: o.mgmt})
	}
	targets = append(append(targets, listen...), ctls...)
	key := agentKey(b, o.mgmt)
	rate, burst := float64(b.PacketInRate), b.PacketInBurst
	if rate == 0 {
		rate = openflow.DefaultPacketInRate
	}
	o.mu.Lock()
	old := o.cfg
	o.cfg, o.dpid = *b, dpid
	o.mu.Unlock()
	a := o.agent.Load()
	switch {
	case a == nil || o.key != key:
		if a != nil {
			o.agent.Store(nil)
			a.Close()
		}
		o.key = key
		na, err := openflow.New(openflow.Config{Name: o.name, Backend: o, Targets: targets, Versions: versions,
			PacketInRate: rate, PacketInBurst: burst, Logger: o.s.log})
		if err == nil {
			err = na.Start(o.s.ctx)
			if err != nil {
				// A listener could not be opened: run the controllers at
				// least, and say what failed.
				o.log.Warn("openflow listener failed; running without it", "err", err)
				na, _ = openflow.New(openflow.Config{Name: o.name, Backend: o, Targets: ctls, Versions: versions,
					PacketInRate: rate, PacketInBurst: burst, Logger: o.s.log})
				if na != nil && na.Start(o.s.ctx) != nil {
					na = nil
				}
			}
		}
		o.mu.Lock()
		o.startErr = ""
		if err != nil {
			o.startErr = err.Error()
			o.key = "" // try again at the next reconcile
		}
		o.mu.Unlock()
		if na != nil {
			o.agent.Store(na)
			o.dp.SetPacketInHandler(o)
		}
	default:
		if old.Controllers != b.Controllers || old.Listen != b.Listen {
			if err := a.SetTargets(targets); err != nil {
				o.log.Warn("openflow targets", "err", err)
			}
		}
		if old.PacketInRate != b.PacketInRate || old.PacketInBurst != b.PacketInBurst {
			a.SetPacketInRate(rate, burst)
		}
	}
	if len(ctls) == 0 || b.FailSecure() {
		o.setFailOpen(false)
	}
}

// close stops the agent and the supervisor and publishes what is pending.
func (o *ofBridge) close() {
	select {
	case <-o.stop:
	default:
		close(o.stop)
	}
	<-o.done
	if a := o.agent.Swap(nil); a != nil {
		o.dp.SetPacketInHandler(nil)
		a.Close()
	}
	o.commit()
	o.dp.SetFailOpen(false)
	o.dp.SetTableMissController(false)
}

func (o *ofBridge) pm() ofbackend.PortMap { return ofbackend.PortMap{Local: uint16(o.local.Load())} }

// syncPorts brings the port list in line with the engine's and announces
// additions, deletions and replaced ports (PORT_STATUS).
func (o *ofBridge) syncPorts(cfg *config.Config) {
	now := map[uint16]*ofPort{}
	local := uint32(0)
	for _, bp := range o.dp.Ports() {
		pc := cfg.Ports[bp.Name()]
		p := &ofPort{name: bp.Name(), no: bp.Number(), bp: bp, start: time.Now()}
		if pc != nil {
			p.typ, p.netns = pc.Type, pc.NetNS
		}
		if bp.Name() == o.name {
			local = uint32(bp.Number())
		}
		now[p.no] = p
	}
	o.local.Store(local)
	a := o.agent.Load()
	o.mu.Lock()
	var added, deleted, modified []*ofPort
	for no, p := range now {
		old := o.ports[no]
		switch {
		case old == nil:
			added = append(added, p)
		case old.bp != p.bp:
			modified = append(modified, p)
		default:
			now[no] = old // keep its start time, MAC and link state
			continue
		}
		p.mac = o.portMAC(p)
		p.poll = !o.s.memory && (p.typ == config.TypeTAP || p.typ == config.TypeSystem || p.typ == config.TypeInternal)
	}
	for no, p := range o.ports {
		if now[no] == nil {
			deleted = append(deleted, p)
		}
	}
	o.ports = now
	o.mu.Unlock()
	if a == nil {
		return
	}
	for _, p := range deleted {
		a.EmitPortStatus(ofp.PortDeleted, o.desc(p))
	}
	for _, p := range added {
		a.EmitPortStatus(ofp.PortAdded, o.desc(p))
	}
	for _, p := range modified {
		a.EmitPortStatus(ofp.PortModified, o.desc(p))
	}
}

// portMAC is the port's hardware address: its device's, or one derived
// from the bridge and port names for ports without one (tunnels, patch
// ports, in-memory devices).
func (o *ofBridge) portMAC(p *ofPort) net.HardwareAddr {
	if !o.s.memory {
		switch p.typ {
		case config.TypeTAP, config.TypeSystem, config.TypeInternal:
			if m, err := netdev.MACOf(p.name, p.netns); err == nil && len(m) == 6 {
				return m
			}
		}
	}
	if p.name == o.name {
		return config.BridgeMAC(o.name)
	}
	h := sha256.Sum256([]byte("switchyard port " + o.name + "/" + p.name))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// desc is the OpenFlow description of a port.
func (o *ofBridge) desc(p *ofPort) ofp.Port {
	d := ofp.Port{PortNo: o.pm().ToOF(uint32(p.no)), HWAddr: p.mac, Name: p.name, Config: p.bp.OpenFlowConfig(),
		Curr: ofp.PortFeature10GbFD | ofp.PortFeatureCopper, Supported: ofp.PortFeature10GbFD | ofp.PortFeatureCopper,
		CurrSpeed: 10_000_000, MaxSpeed: 10_000_000}
	if !p.bp.LinkUp() {
		d.State |= ofp.PortStateLinkDown
	}
	if p.bp.State() != datapath.StateForwarding {
		d.State |= ofp.PortStateBlocked
	}
	if p.bp.Live() {
		d.State |= ofp.PortStateLive
	}
	return d
}

// supervise runs the fail mode, the table-miss behaviour and the link
// states of the bridge until it is closed.
func (o *ofBridge) supervise() {
	defer close(o.done)
	t := time.NewTicker(ofSupervise)
	defer t.Stop()
	links := newLinkReader()
	defer links.close()
	lastPoll := time.Time{}
	for {
		select {
		case <-o.stop:
			return
		case now := <-t.C:
			o.superviseOnce(now)
			if now.Sub(lastPoll) >= ofLinkPoll {
				lastPoll = now
				o.pollLinks(links)
			}
		}
	}
}

func (o *ofBridge) setFailOpen(on bool) {
	o.mu.Lock()
	changed := o.failOpen != on
	o.failOpen = on
	o.mu.Unlock()
	if changed {
		if on {
			o.log.Warn("no controller reachable: failing open (standalone fail mode, the bridge behaves as NORMAL)")
		} else {
			o.log.Info("fail-open ended")
		}
	}
	o.dp.SetFailOpen(on)
}

// superviseOnce applies the fail mode (standalone: fail open once every
// controller has been unreachable for three inactivity probes; back when
// one connects) and OpenFlow 1.0's table-miss behaviour (packet-ins while
// some OpenFlow 1.0 connection is up, as Open vSwitch does).
func (o *ofBridge) superviseOnce(now time.Time) {
	a := o.agent.Load()
	if a == nil {
		return
	}
	o.s.of.mu.Lock()
	after := o.s.of.failOpenAfter
	o.s.of.mu.Unlock()
	o.mu.Lock()
	cfg := o.cfg
	o.mu.Unlock()
	if after == 0 {
		after = 3 * openflow.DefaultProbeInterval
	}
	ctls, _ := cfg.ControllerTargets()
	st := a.Status()
	o.mu.Lock()
	if st.Connected {
		o.lastUp = now
	}
	want := len(ctls) > 0 && !cfg.FailSecure() && !st.Connected && now.Sub(o.lastUp) >= after
	o.mu.Unlock()
	o.setFailOpen(want)
	miss := false
	for _, c := range st.Connections {
		if c.Version == "OpenFlow10" {
			miss = true
		}
	}
	o.mu.Lock()
	o.missCtl = miss
	o.mu.Unlock()
	o.dp.SetTableMissController(miss)
}

// pollLinks reads the link state of the bridge's kernel devices and
// announces changes (PORT_STATUS, and liveness for groups).
func (o *ofBridge) pollLinks(lr *linkReader) {
	o.mu.Lock()
	var l []*ofPort
	for _, p := range o.ports {
		if p.poll {
			l = append(l, p)
		}
	}
	o.mu.Unlock()
	a := o.agent.Load()
	for _, p := range l {
		up, err := lr.up(p.name, p.netns)
		if err != nil {
			continue // gone or not yet there: reconcile will tell
		}
		if up != p.bp.LinkUp() {
			p.bp.SetLinkUp(up)
			o.log.Info("port link changed", "port", p.name, "up", up)
			if a != nil {
				a.EmitPortStatus(ofp.PortModified, o.desc(p))
			}
		}
	}
}

// --- the open flow transaction ----------------------------------------

// txnLocked returns the open transaction, opening one (txmu held).
func (o *ofBridge) txnLocked() *datapath.FlowTxn {
	if o.txn == nil {
		o.txn = o.dp.BeginFlows()
		o.txnN, o.txnSeen, o.txnAt = 0, 0, time.Now()
		t := o.txn
		var fire func()
		fire = func() {
			o.txmu.Lock()
			defer o.txmu.Unlock()
			if o.txn != t {
				return
			}
			if o.txnN != o.txnSeen && time.Since(o.txnAt) < ofCommitMax {
				o.txnSeen = o.txnN // flow-mods still coming: wait for the stream's end
				o.timer.Reset(ofCommitDelay)
				return
			}
			o.commitLocked()
		}
		o.timer = time.AfterFunc(ofCommitDelay, fire)
	}
	return o.txn
}

func (o *ofBridge) commitLocked() {
	if o.txn == nil {
		return
	}
	o.timer.Stop()
	t := o.txn
	o.txn, o.timer, o.txnN = nil, nil, 0
	t.Commit()
}

// commit publishes the open transaction.
func (o *ofBridge) commit() {
	o.txmu.Lock()
	o.commitLocked()
	o.txmu.Unlock()
}

// --- openflow.Backend ---------------------------------------------------

// Features implements openflow.Backend.
func (o *ofBridge) Features(ctx context.Context) (openflow.Features, error) {
	o.mu.Lock()
	dpid := o.dpid
	o.mu.Unlock()
	return openflow.Features{DatapathID: dpid, NTables: datapath.NumTables,
		Desc: ofp.DescStats{MfrDesc: "Switchyard", HWDesc: "Switchyard userspace switch", SWDesc: Version, SerialNum: "None", DPDesc: o.name}}, nil
}

// Ports implements openflow.Backend.
func (o *ofBridge) Ports(ctx context.Context) ([]ofp.Port, error) {
	o.mu.Lock()
	l := make([]*ofPort, 0, len(o.ports))
	for _, p := range o.ports {
		l = append(l, p)
	}
	o.mu.Unlock()
	sort.Slice(l, func(i, j int) bool { return l[i].no < l[j].no })
	out := make([]ofp.Port, 0, len(l))
	for _, p := range l {
		out = append(out, o.desc(p))
	}
	return out, nil
}

// FlowMod implements openflow.Backend.
func (o *ofBridge) FlowMod(ctx context.Context, fm *ofp.FlowMod) error {
	o.txmu.Lock()
	defer o.txmu.Unlock()
	mod := &o.mod
	addIfNone, err := ofbackend.FlowModInto(mod, fm, o.pm())
	if err != nil {
		return err
	}
	t := o.txnLocked()
	p := t.Pending()
	na, nr := len(p.Added), len(p.Removed)
	if err := t.Apply(mod); err != nil {
		return ofbackend.Error(err, "flow")
	}
	if addIfNone {
		if p = t.Pending(); len(p.Added) == na && len(p.Removed) == nr {
			add := ofbackend.AddFrom(*mod)
			if err := t.Apply(&add); err != nil {
				return ofbackend.Error(err, "flow")
			}
		}
	}
	if o.txnN++; o.txnN >= ofCommitBatch {
		o.commitLocked()
	}
	return nil
}

// GroupMod implements openflow.Backend.
func (o *ofBridge) GroupMod(ctx context.Context, gm *ofp.GroupMod) error {
	o.commit()
	switch gm.Command {
	case ofp.GroupDelete:
		_, err := o.dp.DeleteGroup(gm.GroupID)
		return ofbackend.Error(err, "group")
	case ofp.GroupAdd, ofp.GroupModify:
		cfg, err := ofbackend.GroupConfig(gm, o.pm())
		if err != nil {
			return err
		}
		if gm.Command == ofp.GroupAdd {
			err = o.dp.AddGroup(cfg)
		} else {
			err = o.dp.ModifyGroup(cfg)
		}
		return ofbackend.Error(err, "group")
	}
	return ofp.Errorf(ofp.ErrGroupModFailed, ofp.GroupModFailedBadCommand, "command %d", gm.Command)
}

// MeterMod implements openflow.Backend.
func (o *ofBridge) MeterMod(ctx context.Context, mm *ofp.MeterMod) error {
	o.commit()
	if mm.MeterID == ofp.MeterController || mm.MeterID == ofp.MeterSlowpath {
		return ofp.Errorf(ofp.ErrMeterModFailed, ofp.MeterModFailedInvalidMeter, "meter %#x: the controller and slowpath meters are not supported (the packet-in rate is a bridge setting: --packet-in-rate)", mm.MeterID)
	}
	switch mm.Command {
	case ofp.MeterDelete:
		o.dp.DeleteMeter(mm.MeterID)
		return nil
	case ofp.MeterAdd, ofp.MeterModify:
		cfg, err := ofbackend.MeterConfig(mm)
		if err != nil {
			return err
		}
		if mm.Command == ofp.MeterAdd {
			err = o.dp.AddMeter(cfg)
		} else {
			err = o.dp.ModifyMeter(cfg)
		}
		return ofbackend.Error(err, "meter")
	}
	return ofp.Errorf(ofp.ErrMeterModFailed, ofp.MeterModFailedBadCommand, "command %d", mm.Command)
}

func (o *ofBridge) port(ofNo uint32) *ofPort {
	no := o.pm().ToEngine(ofNo)
	if no == 0 || no > datapath.MaxOFPort {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ports[uint16(no)]
}

// PortMod implements openflow.Backend.
func (o *ofBridge) PortMod(ctx context.Context, pm *ofp.PortMod) error {
	p := o.port(pm.PortNo)
	if p == nil {
		return ofp.Errorf(ofp.ErrPortModFailed, ofp.PortModFailedBadPort, "port %d is not a port of bridge %s", pm.PortNo, o.name)
	}
	if len(pm.HWAddr) == 6 && pm.HWAddr.String() != p.mac.String() && pm.HWAddr.String() != "00:00:00:00:00:00" {
		return ofp.Errorf(ofp.ErrPortModFailed, ofp.PortModFailedBadHWAddr, "port %s has address %s, not %s", p.name, p.mac, pm.HWAddr)
	}
	mask := pm.Mask & datapath.PortConfigAll
	cur := p.bp.OpenFlowConfig()
	next := cur&^mask | pm.Config&mask
	if next == cur {
		return nil
	}
	if err := p.bp.SetOpenFlowConfig(next); err != nil {
		return ofp.Errorf(ofp.ErrPortModFailed, ofp.PortModFailedBadConfig, "%v", err)
	}
	if a := o.agent.Load(); a != nil {
		a.EmitPortStatus(ofp.PortModified, o.desc(p))
	}
	return nil
}

// TableMod implements openflow.Backend: OpenFlow 1.3 defines no table
// config bits to act on.
func (o *ofBridge) TableMod(ctx context.Context, tm *ofp.TableMod) error {
	if tm.TableID != ofp.TableAll && int(tm.TableID) >= datapath.NumTables {
		return ofp.Errorf(ofp.ErrTableModFailed, ofp.TableModFailedBadTable, "table %d (0-%d or ALL)", tm.TableID, datapath.NumTables-1)
	}
	return nil
}

// PacketOut implements openflow.Backend.
func (o *ofBridge) PacketOut(ctx context.Context, po *ofp.PacketOut) error {
	o.commit()
	pm := o.pm()
	acts, err := ofbackend.Actions(po.Actions, pm)
	if err != nil {
		return err
	}
	in := po.InPort
	if in != ofp.PortController && in != ofp.PortAny {
		in = pm.ToEngine(in)
	}
	return ofbackend.Error(o.dp.PacketOut(po.Data, in, acts), "packet-out")
}

// SetFragments implements openflow.Backend.
func (o *ofBridge) SetFragments(ctx context.Context, mode uint16) error {
	switch mode {
	case ofp.ConfigFragNormal:
		o.dp.SetFragmentDrop(false)
	case ofp.ConfigFragDrop:
		o.dp.SetFragmentDrop(true)
	default:
		return ofp.Errorf(ofp.ErrSwitchConfigFailed, ofp.SwitchConfigFailedBadFlags, "fragment handling %d: normal (0) and drop (1) are supported", mode)
	}
	return nil
}

// Queues implements openflow.Backend: no queues until QoS.
func (o *ofBridge) Queues(ctx context.Context, port uint32) ([]ofp.Queue, error) {
	if port != ofp.PortAny && o.port(port) == nil {
		return nil, ofp.Errorf(ofp.ErrQueueOpFailed, ofp.QueueOpFailedBadPort, "port %d is not a port of bridge %s", port, o.name)
	}
	return nil, nil
}

// Barrier implements openflow.Backend: everything before it is published;
// cached decisions revalidate against the new snapshot on their next hit.
func (o *ofBridge) Barrier(ctx context.Context) error {
	o.commit()
	return nil
}

// PacketIn implements datapath.PacketInHandler: it hands the packet to the
// agent, which never blocks.
func (o *ofBridge) PacketIn(p datapath.PacketIn) bool {
	a := o.agent.Load()
	if a == nil {
		return false
	}
	in := p.InPort
	if l := o.local.Load(); l != 0 && in == l {
		in = ofp.PortLocal
	}
	pi := openflow.PacketIn{InPort: in, Reason: p.Reason, TableID: p.TableID, Cookie: p.Cookie, MaxLen: p.MaxLen,
		ControllerID: p.ControllerID, Userdata: p.Userdata, HasTunnel: p.HasTunnel, TunnelID: p.TunnelID,
		TunSrc: p.TunSrc, TunDst: p.TunDst, Metadata: p.Metadata, Regs: p.Regs, Frame: p.Frame}
	if p.MaxLen == datapath.MaxLenMissSend {
		pi.MaxLen = openflow.UseMissSendLen
	}
	return a.EmitPacketIn(&pi)
}

// initSecureFlows gives a new bridge created in secure fail mode no rules
// at all (Open vSwitch adds its NORMAL flow only in standalone mode): it
// passes nothing until a controller or the CLI says so.
func (s *Switch) initSecureFlows(rb *runBridge) {
	if !rb.cfg.FailSecure() {
		return
	}
	name := rb.dp.Name()
	if _, initialized, err := s.store.Flows(name); err != nil || initialized {
		return
	}
	if err := s.store.WriteFlows(name, nil, nil); err != nil {
		s.log.Error("store the empty flow table of a secure bridge", "bridge", name, "err", err)
	}
}
