package datapath

import (
	"fmt"
	"sync"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// A packet-out runs a controller's actions on a frame it hands the bridge,
// as OpenFlow's PACKET_OUT: the actions are decided like a rule's (the
// same decide, so every action means what it means in a flow) and executed
// at once with a receive context of its own; nothing is cached.
// output:TABLE sends the frame through the flow tables from table 0, and
// NORMAL forwards it as the learning switch would a frame from its in_port
// (from the controller's pseudo port — a trunk of every VLAN that learns
// nothing — when in_port is CONTROLLER or absent, as Open vSwitch does).

var poPool = sync.Pool{New: func() any { return &poScratch{pkt: NewPacket(2048)} }}

type poScratch struct {
	c   rxContext
	pkt *Packet
}

// PacketOut runs actions on frame as if it arrived on port inPort: a port
// number of the bridge, PortLocal, PortController or PortAny (no port).
// The outputs are sent before it returns.
func (b *Bridge) PacketOut(frame []byte, inPort uint32, actions []Action) error {
	if len(frame) < 14 || len(frame) > MaxFrame {
		return errs.Invalidf("packet", fmt.Sprintf("an Ethernet frame of 14-%d bytes", MaxFrame), "%d bytes", len(frame))
	}
	for i := range actions {
		if err := actions[i].validate(nil); err != nil {
			return err
		}
	}
	s := b.snap.Load()
	var in *portView
	keyPort := inPort
	switch {
	case inPort >= 1 && inPort <= MaxOFPort:
		if in = s.ports[uint16(inPort)]; in == nil {
			return errs.Invalidf("in_port", "a port of the bridge, LOCAL, CONTROLLER or ANY", "no port %d on bridge %q", inPort, b.name)
		}
	case inPort == PortLocal && s.local != nil:
		in, keyPort = s.local, uint32(s.local.no)
	case inPort == PortLocal, inPort == PortController, inPort == PortAny:
		in = s.ctlView
	default:
		return errs.Invalidf("in_port", "a port of the bridge, LOCAL, CONTROLLER or ANY", "%d", inPort)
	}
	var k Key
	var lay layout
	extract(&k, frame, 0, nil, noAddr, parseL4, &lay)
	k.Set(FieldInPort, Value{Lo: uint64(keyPort)})

	d := &Decision{drop: DropNoPort, snap: s}
	x := &xlate{d: d, snap: s, key: k, base: k, in: in, ingress: in.p, packetOut: true, table: 0xff}
	d.mask = &x.mask
	x.actions(actions)
	x.finishSet()
	for i := range d.ops {
		if d.ops[i].kind == opNormal {
			d.keyed = d.keyed || d.ops[i].plan.snap.hasPatch
			d.ops[i].last = i == len(d.ops)-1
		}
	}

	sc := poPool.Get().(*poScratch)
	growBuf(sc.pkt, len(frame))
	sc.pkt.SetData(frame)
	now := b.clock.Load()
	sc.c.execute(d, sc.pkt, false, &k, lay, now, 0)
	sc.c.flush()
	poPool.Put(sc)
	d.credit(1, uint64(len(frame)), now)
	return nil
}

// table0 is output:TABLE: in a packet-out's actions it runs the pipeline
// from table 0; anywhere else it drops.
func (x *xlate) table0() {
	if !x.packetOut || x.rule != nil {
		x.tracef(nodeDetail, "TABLE is for packet-outs only: dropped")
		return
	}
	if x.depth >= maxDepth {
		x.tracef(nodeDetail, "TABLE: depth limit reached: dropped")
		return
	}
	if x.tr != nil {
		x.tracef(nodeAction, "output:TABLE: the pipeline from table 0")
	}
	x.depth++
	x.pipeline(0)
	x.depth--
	x.rule = nil
}

// TracePacketOut traces a packet-out without executing it.
func (b *Bridge) TracePacketOut(frame []byte, inPort uint32, actions []Action, f Formatter) (*Trace, error) {
	if len(frame) < 14 {
		return nil, errs.Invalidf("packet", "an Ethernet frame of at least 14 bytes", "%d bytes", len(frame))
	}
	s := b.snap.Load()
	in := s.ctlView
	keyPort := inPort
	if inPort >= 1 && inPort <= MaxOFPort && s.ports[uint16(inPort)] != nil {
		in = s.ports[uint16(inPort)]
	} else if inPort == PortLocal && s.local != nil {
		in, keyPort = s.local, uint32(s.local.no)
	}
	var k Key
	var lay layout
	extract(&k, frame, 0, nil, noAddr, parseL4, &lay)
	k.Set(FieldInPort, Value{Lo: uint64(keyPort)})
	tr := NewTrace(b.name, f)
	d := &Decision{drop: DropNoPort, snap: s}
	x := &xlate{d: d, snap: s, key: k, base: k, in: in, ingress: in.p, packetOut: true, table: 0xff, tr: tr}
	d.mask = &x.mask
	x.actions(actions)
	x.finishSet()
	d.result(tr)
	return tr, nil
}
