package datapath

import "sync/atomic"

// Patch is one end of a patch port pair: a port that joins two bridges
// inside the daemon, with no kernel device. The engine resolves a patch
// port inside the decision (Open vSwitch's patch_port_output): a frame
// output to one end continues through the peer bridge's pipeline as if it
// had arrived on the other end, in the same decision — no copy, no second
// receive, and a trace that crosses bridges. Nothing is ever sent to a
// Patch.
type Patch struct {
	peer *Patch
	port atomic.Pointer[Port]
}

// NewPatchPair returns the two ends of a patch port pair.
func NewPatchPair() (a, b *Patch) {
	a, b = &Patch{}, &Patch{}
	a.peer, b.peer = b, a
	return a, b
}

// Attach tells this end which bridge port it is; frames output to the peer
// end continue there. Attach nil to detach. The peer's bridge publishes a
// new snapshot, so its cached decisions that reach this end are made again.
func (p *Patch) Attach(bp *Port) {
	p.port.Store(bp)
	if q := p.peer.port.Load(); q != nil {
		q.b.republish()
	}
}

// Peer returns the other end.
func (p *Patch) Peer() *Patch { return p.peer }

// Send is never called: patch outputs are resolved by the decision.
func (p *Patch) Send(batch []Out) {}

// Caps: a patch end takes anything (it passes frames on unchanged).
func (p *Patch) Caps() Caps { return CapsAll }
