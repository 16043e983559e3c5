package datapath

// Device is the device side of a bridge port: whatever moves frames in and
// out of the OS (a TAP, an AF_PACKET socket, a tunnel socket) or memory (the
// in-memory device of package netdev, tests). A patch port's device is a
// *Patch, which the engine resolves itself: nothing is sent to it.
//
// A device hands received frames to the engine by calling Receive on the
// *Port that Bridge.AddPort returned, one batch at a time, from one
// goroutine at a time.
type Device interface {
	// Send transmits a batch of frames. The packets are borrowed: Send must
	// not keep them or change the frame bytes after it returns, but it may
	// write into a packet's headroom (Buf[:Off]) while it runs. Every frame
	// is in a form the device said it accepts (see Caps): the engine has
	// already finished partial checksums and segmented super-frames for a
	// device that does not take them. Send may be called from several
	// goroutines at once (one per ingress port).
	Send(batch []Out)
}

// Out is one frame queued to one output port.
type Out struct {
	Pkt *Packet
	// VNI is the tunnel key for a tunnel port (from the port's VLAN↔VNI
	// map, its VNI, or a flow's set_field:…->tun_id); zero for other ports.
	VNI uint32
	// Remote is the remote VTEP to send to on a tunnel port; NoEndpoint
	// means flood (to the multicast group or every remote of the port).
	Remote Endpoint
}

// Caps says what frames a device accepts as they are.
type Caps struct {
	// GSO is the set of super-frame types (1<<packet.GSOTypeTCPv4,
	// 1<<packet.GSOTypeTCPv6, 1<<packet.GSOTypeUDPL4) the device sends
	// whole; others are segmented by the engine first.
	GSO uint8
	// PartialCsum says the device takes frames whose L4 checksum is still
	// partial (it passes the metadata on, or finishes it itself).
	PartialCsum bool
}

// CapsAll is what a device that handles every offload itself accepts.
var CapsAll = Caps{GSO: 1<<1 | 1<<4 | 1<<5, PartialCsum: true}

// accepts reports whether a super-frame of GSO type typ can go out whole.
func (c Caps) accepts(typ uint8) bool { return typ < 8 && c.GSO&(1<<typ) != 0 }

// CapsReporter is a device that says what it accepts. A device that does
// not implement it accepts plain frames only: no super-frames, no partial
// checksums.
type CapsReporter interface {
	Caps() Caps
}

// CounterBinder is implemented by devices that count their own drops (send
// errors, MTU, malformed tunnel headers): the bridge hands them the port's
// counters when the port is added.
type CounterBinder interface {
	BindCounters(*Counters)
}

// Receiver takes batches of received frames: a bridge port (*Port), or
// something that wraps one. Devices hand their frames to a Receiver, never
// to the engine's types directly.
type Receiver interface {
	Receive(pkts []*Packet)
}
