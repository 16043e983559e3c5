package datapath

import (
	"sync"
	"sync/atomic"
)

// Tap sees a port's frames, for capture: the frames a port received, as
// they arrived (before any rewrite), and the frames sent out of it, as they
// leave. For a patch port, the frames that cross it. A Tap must not keep
// the packets (copy what it needs) and must never block: a capture that
// cannot keep up drops copies, never slows forwarding.
type Tap interface {
	Received(p *Port, pkts []*Packet)
	Sent(p *Port, outs []Out)
}

type tapHolder struct{ t Tap }

// SetTap starts (t != nil) or stops (nil) watching the port's frames. With
// no tap the forwarding path pays one atomic load per batch.
func (p *Port) SetTap(t Tap) {
	if t == nil {
		p.tap.Store(nil)
		return
	}
	p.tap.Store(&tapHolder{t: t})
}

// ControlHandler receives the link-local frames (01:80:C2:00:00:00–0F:
// spanning tree BPDUs, LLDP, …) that arrive on a port, before the pipeline;
// it returns true when it consumed the frame (it must copy what it keeps).
// Frames it does not consume go through the pipeline (where NORMAL drops
// them as link-local).
type ControlHandler func(p *Port, frame []byte) bool

type controlHolder struct{ h ControlHandler }

// SetControl installs the bridge's control-frame handler (nil removes it).
func (b *Bridge) SetControl(h ControlHandler) {
	if h == nil {
		b.control.Store(nil)
		return
	}
	b.control.Store(&controlHolder{h: h})
}

// PortState is a port's forwarding state, as spanning tree sets it.
type PortState uint8

// Port states.
const (
	// StateForwarding forwards and learns (the default, and every port
	// without spanning tree).
	StateForwarding PortState = iota
	// StateLearning learns from received frames but forwards nothing.
	StateLearning
	// StateDiscarding neither learns nor forwards (blocking, listening,
	// discarding, disabled). Control frames still reach the handler.
	StateDiscarding
)

func (s PortState) String() string {
	return [...]string{"forwarding", "learning", "discarding"}[s]
}

// SetState sets the port's forwarding state. A port that stops forwarding
// takes no part in floods and receives no unicast; one that stops learning
// keeps its learned addresses until they age or are flushed.
func (p *Port) SetState(s PortState) {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.st.state == s {
		return
	}
	st := *p.st
	st.state = s
	p.st = &st
	p.b.publishLocked()
}

// State returns the port's forwarding state.
func (p *Port) State() PortState {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.st.state
}

// forwards reports whether the port forwards frames.
func (st *portState) forwards() bool { return st.state == StateForwarding }

// NewReceiver returns a receiver of its own for the port: frames handed to
// it are the port's, with an independent receive context, so several
// goroutines can receive for one port at once (the members of a bond).
func (p *Port) NewReceiver() Receiver { return &portReceiver{p: p} }

type portReceiver struct {
	p  *Port
	rx rxContext
}

func (r *portReceiver) Receive(pkts []*Packet) { r.p.receive(&r.rx, pkts) }

// Transmit sends frames out of the port's device as they are (a control
// plane's BPDUs, LACPDUs, gratuitous frames), bypassing the pipeline. It
// may be called from any goroutine. A tunnel port sends them with its VNI;
// a patch port hands them to the peer bridge's control handler, as
// received on the peer port.
func (p *Port) Transmit(frames ...[]byte) {
	if len(frames) == 0 {
		return
	}
	if pt, patch := p.dev.(*Patch); patch {
		p.transmitPatch(pt, frames)
		return
	}
	vni := p.transmitVNI()
	t := txPool.Get().(*txScratch)
	outs := t.outs[:0]
	for i, f := range frames {
		if i == len(t.pkts) {
			t.pkts = append(t.pkts, &Packet{})
		}
		pk := t.pkts[i]
		growBuf(pk, len(f))
		pk.SetData(f)
		outs = append(outs, Out{Pkt: pk, VNI: vni})
	}
	if tp := p.tap.Load(); tp != nil {
		tp.t.Sent(p, outs)
	}
	p.dev.Send(outs)
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	p.counters.TxPackets.Add(uint64(len(frames)))
	p.counters.TxBytes.Add(uint64(n))
	clear(outs)
	t.outs = outs[:0]
	txPool.Put(t)
}

type txScratch struct {
	pkts []*Packet
	outs []Out
}

var txPool = sync.Pool{New: func() any { return &txScratch{} }}

// hookFields are the per-port hook pointers (embedded in Port).
type hookFields struct {
	tap atomic.Pointer[tapHolder]
}
