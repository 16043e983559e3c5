package datapath

import (
	"fmt"
	"net/netip"
	"time"
	"unsafe"
)

// This file holds what the OpenFlow front end needs of the engine besides
// flow tables: packet-ins (output:CONTROLLER, table misses, expired TTLs)
// handed to a per-bridge handler, the fail-open rule of standalone mode,
// table-miss and fragment settings, OpenFlow port config bits and link
// liveness. Nothing here costs a bridge without a controller anything per
// packet: a decision only contains a controller operation when a rule (or
// a setting) sends packets to the controller.

// OpenFlow port config bits (ofp_port_config), set with
// Port.SetOpenFlowConfig. NoSTP and NoRecvSTP (OpenFlow 1.0) are kept and
// reported but change nothing (spanning tree is configured apart).
const (
	PortConfigDown       uint32 = 1 << 0 // receives nothing, sends nothing
	PortConfigNoSTP      uint32 = 1 << 1
	PortConfigNoRecv     uint32 = 1 << 2 // drops what it receives
	PortConfigNoRecvSTP  uint32 = 1 << 3
	PortConfigNoFlood    uint32 = 1 << 4 // left out of FLOOD and NORMAL's floods (OpenFlow 1.0)
	PortConfigNoFwd      uint32 = 1 << 5 // nothing is sent out of it
	PortConfigNoPacketIn uint32 = 1 << 6 // no packet-ins for what it receives
	// PortConfigAll is every bit SetOpenFlowConfig accepts.
	PortConfigAll = PortConfigDown | PortConfigNoSTP | PortConfigNoRecv | PortConfigNoRecvSTP | PortConfigNoFlood | PortConfigNoFwd | PortConfigNoPacketIn
)

// MaxLenMissSend is PacketIn.MaxLen when each controller connection sends
// as many bytes as its own miss_send_len says (an OpenFlow 1.0-style table
// miss).
const MaxLenMissSend = -1

// MaxLenAll is PacketIn.MaxLen for the whole packet (OFPCML_NO_BUFFER).
const MaxLenAll = 0xffff

// PacketIn is a packet the bridge sends to its controllers. It is passed by
// value and its slices point into the packet and the rule: a handler copies
// what it keeps before it returns.
type PacketIn struct {
	// InPort is the bridge port the packet came in on (its number), or
	// PortController / PortLocal / PortAny for a packet-out's packet.
	InPort uint32
	// Reason is one of the PacketIn* reasons.
	Reason uint8
	// TableID and Cookie are those of the rule that sent the packet
	// (cookie ^0 when no rule did, as for a packet-out).
	TableID uint8
	Cookie  uint64
	// MaxLen is how many bytes of the frame the controller asked for:
	// 0-65534, MaxLenAll, or MaxLenMissSend.
	MaxLen int
	// ControllerID restricts the packet to connections with that
	// controller id (0 is the default every connection has).
	ControllerID uint16
	Userdata     []byte
	// The packet's metadata: tunnel (when it came from one or an action
	// set the tunnel fields), metadata field and registers.
	HasTunnel bool
	TunnelID  uint64
	TunSrc    netip.Addr
	TunDst    netip.Addr
	Metadata  uint64
	Regs      [16]uint32
	// Frame is the packet as the actions before the output left it.
	Frame []byte
}

// PacketInHandler receives a bridge's packet-ins, from the forwarding
// path: it must never block and should not allocate; it reports whether
// the packet was taken (false: dropped, e.g. rate-limited; the bridge
// counts it as a controller drop).
type PacketInHandler interface {
	PacketIn(p PacketIn) bool
}

type pinHolder struct{ h PacketInHandler }

// ofSettings are a bridge's OpenFlow settings, published in its snapshot.
type ofSettings struct {
	// failOpen makes a hidden rule that wins over every other in table 0
	// send everything to NORMAL (standalone mode with no controller).
	failOpen bool
	failRule *Rule
	// missCtl sends table misses to the controllers (OpenFlow 1.0's
	// default) instead of dropping them (OpenFlow 1.3's).
	missCtl bool
	// fragDrop drops IP fragments (OFPC_FRAG_DROP).
	fragDrop bool
	// fields are the key bits groups, meters and settings read (added to
	// the flow tables' for the extraction depth).
	fields Key
}

func (b *Bridge) initOpenFlow() {
	b.groups = map[uint32]*Group{}
	b.meters = map[uint32]*Meter{}
	b.ctlPort = &Port{b: b, name: "CONTROLLER", st: compile(PortConfig{Mode: ModeTrunk, NoLearning: true})}
	b.of.failRule = &Rule{Priority: 0xffff, Instr: Instructions{Apply: []Action{{Kind: ActOutput, Port: PortNormal}}, Goto: NoGoto},
		created: time.Now(), stats: &ruleStats{}}
}

// publishOpenFlowLocked puts the OpenFlow state into a snapshot being
// built (b.mu held).
func (b *Bridge) publishOpenFlowLocked(s *snapshot) {
	s.of = b.of
	s.ctl = b.pktIn.Load() != nil
	s.groups = b.groups
	s.meters = b.meters
	s.ctlView = &portView{p: b.ctlPort, st: b.ctlPort.st, live: true}
	s.fields = b.flows.fields
	s.fields.Or(&b.of.fields)
}

// setOpenFlow fills a port view's OpenFlow bits from its port (b.mu held).
func (v *portView) setOpenFlow(p *Port) {
	c := p.ofConfig
	v.noRecv = c&(PortConfigDown|PortConfigNoRecv) != 0
	v.noFwd = c&(PortConfigDown|PortConfigNoFwd) != 0
	v.noFlood = c&PortConfigNoFlood != 0
	v.noPacketIn = c&PortConfigNoPacketIn != 0
	v.live = !p.down && c&PortConfigDown == 0 && p.st.state == StateForwarding
}

// SetPacketInHandler installs the handler of the bridge's packet-ins (nil
// removes it: packets sent to the controller are then dropped and
// counted).
func (b *Bridge) SetPacketInHandler(h PacketInHandler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h == nil {
		b.pktIn.Store(nil)
	} else {
		b.pktIn.Store(&pinHolder{h: h})
	}
	b.publishLocked()
}

// SetFailOpen turns the fail-open rule on or off: with it on, every packet
// goes to NORMAL whatever the flow tables hold (Open vSwitch's standalone
// fail mode while no controller is connected). The rule is not a flow: no
// dump shows it, no flow-mod touches it.
func (b *Bridge) SetFailOpen(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.of.failOpen != on {
		b.of.failOpen = on
		b.publishLocked()
	}
}

// FailOpen reports whether the fail-open rule is on.
func (b *Bridge) FailOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.of.failOpen
}

// SetTableMissController makes table misses go to the controllers as
// packet-ins (reason no-match, each connection's miss_send_len bytes)
// instead of being dropped.
func (b *Bridge) SetTableMissController(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.of.missCtl != on {
		b.of.missCtl = on
		b.publishLocked()
	}
}

// SetFragmentDrop makes the bridge drop IP fragments (OpenFlow's
// OFPC_FRAG_DROP) or handle them as any packet (OFPC_FRAG_NORMAL).
func (b *Bridge) SetFragmentDrop(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.of.fragDrop != on {
		b.of.fragDrop = on
		b.recomputeOFFieldsLocked()
		b.publishLocked()
	}
}

// recomputeOFFieldsLocked gathers the key fields groups, meters and
// settings read.
func (b *Bridge) recomputeOFFieldsLocked() {
	var f Key
	if b.of.fragDrop {
		f.unwildcard(FieldIPFrag)
		f.unwildcard(FieldEthType)
	}
	for _, g := range b.groups {
		f.Or(&g.fields)
	}
	for _, m := range b.meters {
		if m.remark {
			f.unwildcard(FieldEthType)
			f.unwildcard(FieldIPDSCP)
		}
	}
	b.of.fields = f
}

// SetOpenFlowConfig sets the port's OpenFlow config bits (PortConfig*;
// others are refused).
func (p *Port) SetOpenFlowConfig(cfg uint32) error {
	if cfg&^PortConfigAll != 0 {
		return fmt.Errorf("datapath: port config 0x%x: unknown bits 0x%x", cfg, cfg&^PortConfigAll)
	}
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.ofConfig != cfg {
		p.ofConfig = cfg
		p.b.publishLocked()
	}
	return nil
}

// OpenFlowConfig returns the port's OpenFlow config bits.
func (p *Port) OpenFlowConfig() uint32 {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.ofConfig
}

// SetLinkUp records whether the port's link is up (a device's carrier):
// fast-failover and select groups use only live ports.
func (p *Port) SetLinkUp(up bool) {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.down == up {
		p.down = !up
		p.b.publishLocked()
	}
}

// LinkUp reports the link state last set (true until told otherwise).
func (p *Port) LinkUp() bool {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return !p.down
}

// Live reports whether the port can forward: link up, not
// administratively down, forwarding for spanning tree (OpenFlow's
// OFPPS_LIVE).
func (p *Port) Live() bool {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return !p.down && p.ofConfig&PortConfigDown == 0 && p.st.state == StateForwarding
}

// opExt is the immutable extra of a controller or meter operation.
type opExt struct {
	b *Bridge
	// packet-in
	reason       uint8
	tableID      uint8
	controllerID uint16
	maxLen       int32
	cookie       uint64
	userdata     string
	inPort       uint32
	metadata     uint64
	regs         [16]uint32
	tunSet       bool
	tunID        uint64
	tunSrc       netip.Addr
	tunDst       netip.Addr
	// meter
	meter *Meter
}

func (e *opExt) String() string {
	if e.meter != nil {
		return fmt.Sprintf("meter(%d)", e.meter.cfg.ID)
	}
	s := fmt.Sprintf("userspace(controller,reason=%d,max_len=%d", e.reason, e.maxLen)
	if e.controllerID != 0 {
		s += fmt.Sprintf(",id=%d", e.controllerID)
	}
	return s + ")"
}

// controller sends the packet, as the actions so far left it, to the
// controllers. The packet-in's metadata (in_port, registers, metadata,
// tunnel fields an action set) is that of the decision; the tunnel the
// packet came from is read per packet.
func (x *xlate) controller(maxLen int, reason uint8, id uint16, userdata string) {
	if x.in != nil && x.in.noPacketIn {
		if x.tr != nil {
			x.tracef(nodeDetail, "controller: port %s has no_packet_in: not sent", x.in.p.name)
		}
		return
	}
	cookie := ^uint64(0)
	if x.rule != nil {
		cookie = x.rule.Cookie
	}
	e := &opExt{b: x.snap.b, reason: reason, tableID: x.table, controllerID: id, maxLen: int32(maxLen), cookie: cookie, userdata: userdata,
		inPort: uint32(x.key.Get(FieldInPort).Lo), metadata: x.key[14], tunSet: x.tunSet}
	for i := range e.regs {
		e.regs[i] = uint32(x.key[21+i/2] >> (32 * (i % 2)))
	}
	if x.tunSet {
		e.tunID = x.key[15]
		e.tunSrc, e.tunDst = keyTunAddrs(&x.key)
	}
	if x.packetOut && x.rule == nil {
		e.tableID = 0xff // the packet-out's own actions, not a rule's
	}
	if x.tr != nil {
		who := "the controllers"
		if x.snap.b.pktIn.Load() == nil {
			who = "the controllers (none connected: dropped)"
		}
		x.tracef(nodeOutput, "controller: packet-in to %s (reason %s, max_len %d)", who, reasonName(reason), maxLen)
		x.traceOut(TraceOutput{Port: "CONTROLLER", VLAN: -1})
	}
	x.commit()
	x.emit(op{kind: opController, ext: e})
	x.d.nOut++
}

// reasonFor is the packet-in reason of output:CONTROLLER in the rule being
// run: no-match in a table-miss rule (priority 0, empty match), as Open
// vSwitch reports it, else action (action set, group, packet-out).
func (x *xlate) reasonFor() uint8 {
	switch {
	case x.packetOut && x.rule == nil:
		return PacketInPacketOut
	case x.inGroup > 0:
		return PacketInGroup
	case x.inSet:
		return PacketInActionSet
	case x.rule != nil && x.rule.Priority == 0 && x.rule.Match.Mask == (Key{}):
		return PacketInNoMatch
	}
	return PacketInAction
}

func reasonName(r uint8) string {
	switch r {
	case PacketInNoMatch:
		return "no_match"
	case PacketInAction:
		return "action"
	case PacketInInvalidTTL:
		return "invalid_ttl"
	case PacketInActionSet:
		return "action_set"
	case PacketInGroup:
		return "group"
	case PacketInPacketOut:
		return "packet_out"
	}
	return fmt.Sprint(r)
}

// keyTunAddrs returns the tunnel source and destination of a key.
func keyTunAddrs(k *Key) (src, dst netip.Addr) {
	if w := k[16]; w != 0 {
		s, d := uint32(w), uint32(w>>32)
		if s != 0 {
			src = netip.AddrFrom4([4]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
		}
		if d != 0 {
			dst = netip.AddrFrom4([4]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
		}
		return src, dst
	}
	addr := func(hi, lo uint64) netip.Addr {
		if hi|lo == 0 {
			return netip.Addr{}
		}
		var a [16]byte
		for i := 0; i < 8; i++ {
			a[i], a[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
		}
		return netip.AddrFrom16(a)
	}
	return addr(k[17], k[18]), addr(k[19], k[20])
}

// packetIn hands the packet to the bridge's packet-in handler; it reports
// whether the handler took it.
func (c *rxContext) packetIn(e *opExt, cur *Packet, key *Key, orig *Packet) bool {
	h := e.b.pktIn.Load()
	if h == nil {
		return false
	}
	p := PacketIn{InPort: e.inPort, Reason: e.reason, TableID: e.tableID, Cookie: e.cookie, MaxLen: int(e.maxLen),
		ControllerID: e.controllerID, Metadata: e.metadata, Regs: e.regs, Frame: cur.Data()}
	if e.userdata != "" {
		p.Userdata = unsafe.Slice(unsafe.StringData(e.userdata), len(e.userdata))
	}
	switch {
	case e.tunSet:
		p.HasTunnel, p.TunnelID, p.TunSrc, p.TunDst = true, e.tunID, e.tunSrc, e.tunDst
	case orig.Tunnel.Valid:
		p.HasTunnel, p.TunnelID = true, key[15]
		p.TunSrc, p.TunDst = keyTunAddrs(key)
	}
	return h.h.PacketIn(p)
}

// admit applies what happens before the first table: a port that receives
// nothing (port_down, no_recv) and fragment dropping.
func (x *xlate) admit() bool {
	if x.in != nil && x.in.noRecv {
		if x.tr != nil {
			x.tracef(nodeDetail, "port %s has port_down or no_recv (OpenFlow port config): drop", x.in.p.name)
		}
		x.d.drop = DropPortDown
		return false
	}
	if x.snap.of.fragDrop {
		x.mask.unwildcard(FieldEthType)
		if et := x.key.ethType(); et == etherTypeIPv4 || et == etherTypeIPv6 {
			x.mask.unwildcard(FieldIPFrag)
			if x.key[0]>>49&3 != 0 {
				if x.tr != nil {
					x.tracef(nodeDetail, "IP fragment and the switch drops fragments (frag=drop): drop")
				}
				x.d.drop = DropByRule
				return false
			}
		}
	}
	return true
}

// outputReg outputs to the port number held in a field range.
func (x *xlate) outputReg(a *Action) {
	v := x.key.Get(a.Src)
	x.mask.unwildcard(a.Src) // the decision depends on the value
	no := v.Lo >> a.SrcOfs
	if a.SrcOfs >= 64 {
		no = v.Hi >> (a.SrcOfs - 64)
	} else if a.SrcOfs > 0 {
		no |= v.Hi << (64 - a.SrcOfs)
	}
	no &= 1<<a.NBits - 1
	if x.tr != nil {
		x.tracef(nodeAction, "output:%s[%d..%d] = %d", a.Src, a.SrcOfs, int(a.SrcOfs)+int(a.NBits)-1, no)
	}
	if no == 0 || no > uint64(MaxOFPort) && no < uint64(PortInPort) || no > uint64(PortAny) || uint32(no) == PortAny {
		x.tracef(nodeDetail, "no such port: dropped")
		return
	}
	x.output(uint32(no), a.MaxLen)
}
