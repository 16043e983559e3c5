// Package memdp is an in-memory agent.Dataplane: it holds what an agent
// programmed, checks the contract's ordering rules (a network exists before
// anything is put in it and is deleted only when empty), records every op
// with its time if asked, and answers the questions a test asks of a switch:
// would an ARP request for this address be answered locally, where would a
// frame to this MAC go.
package memdp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
)

// Record is one applied op.
type Record struct {
	At time.Time
	Op agent.Op
}

// Counts are the ops applied, by kind.
type Counts map[agent.OpKind]uint64

// Dataplane is the in-memory switch.
type Dataplane struct {
	mu     sync.Mutex
	st     *agent.State
	record bool
	log    []Record
	counts Counts
	// OnApply, if set, is called after each Apply with the ops and the
	// time (the benchmark's probe).
	OnApply func(ops []agent.Op, at time.Time)
	// Fail, if set, decides that an op fails (fault injection).
	Fail func(agent.Op) error
}

// New returns an empty dataplane; with record set it logs every op.
func New(record bool) *Dataplane {
	return &Dataplane{st: agent.NewState(), record: record, counts: Counts{}}
}

// Programmed returns a copy of the state.
func (d *Dataplane) Programmed(ctx context.Context) (*agent.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return clone(d.st), nil
}

// State is Programmed without a context.
func (d *Dataplane) State() *agent.State {
	s, _ := d.Programmed(context.Background())
	return s
}

func clone(s *agent.State) *agent.State {
	c := agent.NewState()
	for k, v := range s.Networks {
		v.Flood = slices.Clone(v.Flood)
		c.Networks[k] = v
	}
	for k, v := range s.VIFs {
		v.IPs = slices.Clone(v.IPs)
		c.VIFs[k] = v
	}
	for k, v := range s.FDB {
		c.FDB[k] = v
	}
	for k, v := range s.Neigh {
		c.Neigh[k] = v
	}
	return c
}

// Apply applies ops in order, checking the contract.
func (d *Dataplane) Apply(ctx context.Context, ops []agent.Op) []agent.OpError {
	d.mu.Lock()
	now := time.Now()
	var errs []agent.OpError
	for _, o := range ops {
		if err := d.apply1(o); err != nil {
			errs = append(errs, agent.OpError{Op: o, Err: err})
			continue
		}
		d.counts[o.Kind]++
		if d.record {
			d.log = append(d.log, Record{At: now, Op: o})
		}
	}
	cb := d.OnApply
	d.mu.Unlock()
	if cb != nil {
		cb(ops, now)
	}
	return errs
}

func (d *Dataplane) apply1(o agent.Op) error {
	if d.Fail != nil {
		if err := d.Fail(o); err != nil {
			return err
		}
	}
	s := d.st
	has := func(net string) error {
		if _, ok := s.Networks[net]; !ok {
			return fmt.Errorf("%s: network %s is not wired", o.Kind, net)
		}
		return nil
	}
	switch o.Kind {
	case agent.OpNetworkPut:
		if o.Wiring == nil || o.Wiring.Network != o.Network {
			return fmt.Errorf("network-put without wiring")
		}
		w := *o.Wiring
		w.Flood = slices.Clone(w.Flood)
		s.Networks[o.Network] = w
	case agent.OpNetworkDel:
		for _, v := range s.VIFs {
			if v.Network == o.Network {
				return fmt.Errorf("network-del %s: VIF %s still in it", o.Network, v.ID)
			}
		}
		for k := range s.FDB {
			if k.Network == o.Network {
				return fmt.Errorf("network-del %s: FDB entry %s still in it", o.Network, k.MAC)
			}
		}
		for k := range s.Neigh {
			if k.Network == o.Network {
				return fmt.Errorf("network-del %s: neighbour %s still in it", o.Network, k.IP)
			}
		}
		delete(s.Networks, o.Network)
	case agent.OpVIFPut:
		if err := has(o.Network); err != nil {
			return err
		}
		v := *o.VIF
		for id, x := range s.VIFs {
			if id != v.ID && x.NetNS == v.NetNS && x.IfName == v.IfName {
				delete(s.VIFs, id) // taken over
			}
		}
		v.IPs = slices.Clone(v.IPs)
		s.VIFs[v.ID] = v
	case agent.OpVIFDel:
		delete(s.VIFs, o.VIF.ID)
	case agent.OpFDBPut:
		if err := has(o.Network); err != nil {
			return err
		}
		s.FDB[agent.FDBKey{Network: o.Network, MAC: o.MAC}] = o.VTEP
	case agent.OpFDBDel:
		delete(s.FDB, agent.FDBKey{Network: o.Network, MAC: o.MAC})
	case agent.OpNeighPut:
		if err := has(o.Network); err != nil {
			return err
		}
		s.Neigh[agent.NeighKey{Network: o.Network, IP: o.IP}] = o.MAC
	case agent.OpNeighDel:
		delete(s.Neigh, agent.NeighKey{Network: o.Network, IP: o.IP})
	default:
		return fmt.Errorf("unknown op %d", o.Kind)
	}
	return nil
}

// Log returns the recorded ops.
func (d *Dataplane) Log() []Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.log)
}

// ResetLog clears the record.
func (d *Dataplane) ResetLog() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log = nil
}

// Counts returns the ops applied so far by kind.
func (d *Dataplane) Counts() Counts {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := Counts{}
	for k, v := range d.counts {
		c[k] = v
	}
	return c
}

// Plant changes the state behind the agent's back (tests of the audit).
func (d *Dataplane) Plant(f func(s *agent.State)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d.st)
}

// ARP says how the switch handles an ARP request (or IPv6 neighbour
// solicitation) for ip from a local port of network: answered locally from
// the neighbour table (no tunnel copy), or flooded to the network's flood
// list (one tunnel copy per VTEP).
func (d *Dataplane) ARP(network string, ip netip.Addr) (answer agent.MAC, local bool, tunnelCopies int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.st.Neigh[agent.NeighKey{Network: network, IP: ip}]; ok {
		return m, true, 0
	}
	return agent.MAC{}, false, len(d.st.Networks[network].Flood)
}

// Unicast says where a frame to dst in network goes: to one VTEP (remote
// FDB entry), to a local VIF, or flooded to the flood list.
func (d *Dataplane) Unicast(network string, dst agent.MAC) (vtep netip.Addr, local bool, flood []netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.st.FDB[agent.FDBKey{Network: network, MAC: dst}]; ok {
		return a, false, nil
	}
	for _, v := range d.st.VIFs {
		if v.Network == network && v.MAC == dst {
			return netip.Addr{}, true, nil
		}
	}
	return netip.Addr{}, false, slices.Clone(d.st.Networks[network].Flood)
}
