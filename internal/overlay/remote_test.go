package overlay

import (
	"net/netip"
	"testing"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

func TestRemoteCountersByEndpoint(t *testing.T) {
	var p Port
	a, b := netip.MustParseAddr("198.18.7.1"), netip.MustParseAddr("2001:db8::7")
	ea, _ := datapath.InternEndpoint(a)
	eb, _ := datapath.InternEndpoint(b)
	var r remoteRun
	// A run from a, one from b, a again: three flushes, counts per remote.
	r.add(&p, ea, 100)
	r.add(&p, ea, 50)
	r.add(&p, eb, 10)
	r.add(&p, ea, 1)
	r.add(&p, datapath.NoEndpoint, 1000) // no handle: not counted
	r.flush()
	if rc := p.remoteFor(b); rc == nil {
		t.Fatal("no counters for a remote with a handle")
	} else {
		rc.txPackets.Add(2)
		rc.txBytes.Add(20)
		rc.txDrops.Add(1)
	}
	got := map[netip.Addr][5]uint64{}
	p.RemoteCounters(func(a netip.Addr, rxP, rxB, txP, txB, drops uint64) { got[a] = [5]uint64{rxP, rxB, txP, txB, drops} })
	want := map[netip.Addr][5]uint64{a: {3, 151, 0, 0, 0}, b: {1, 10, 2, 20, 1}}
	if len(got) != len(want) || got[a] != want[a] || got[b] != want[b] {
		t.Fatalf("RemoteCounters = %v, want %v", got, want)
	}
	if p.remotes.get(datapath.NoEndpoint) != nil {
		t.Fatal("NoEndpoint has counters")
	}
}

func TestRemoteCountingAllocatesNothing(t *testing.T) {
	var p Port
	e, _ := datapath.InternEndpoint(netip.MustParseAddr("198.18.7.2"))
	var r remoteRun
	r.add(&p, e, 1)
	r.flush() // the chunk is made here
	if n := testing.AllocsPerRun(100, func() {
		r.add(&p, e, 64)
		r.add(&p, e, 64)
		r.flush()
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}
