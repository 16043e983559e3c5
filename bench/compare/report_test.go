package main

import (
	"math"
	"strings"
	"testing"
)

func TestParsePing(t *testing.T) {
	out := `PING 203.0.113.2 (203.0.113.2) 56(84) bytes of data.

--- 203.0.113.2 ping statistics ---
20 packets transmitted, 19 received, 5% packet loss, time 300ms
rtt min/avg/max/mdev = 0.007/0.041/0.145/0.027 ms
`
	r, err := parsePing(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.AvgUs != 41 || r.MinUs != 7 || r.MaxUs != 145 || r.LossPct != 5 {
		t.Fatalf("got %+v", r)
	}
	if _, err := parsePing("100% packet loss"); err == nil {
		t.Fatal("no rtt line: want an error")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing should be NaN")
	}
}

func TestSelectTopologies(t *testing.T) {
	sel, err := selectTopologies("b,1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sel {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "linux-bridge,kernel-vxlan,switchyard-vxlan,ovs-vxlan" {
		t.Fatalf("got %s", got)
	}
	if _, err := selectTopologies("nope"); err == nil || !strings.Contains(err.Error(), "linux-bridge") {
		t.Fatalf("unknown name: want an error listing the names, got %v", err)
	}
}

// Ratios are taken per round and the median of those is reported, not the
// ratio of medians.
func TestRatiosPerRound(t *testing.T) {
	res := &results{Topologies: []*topology{topologyByName("linux-bridge"), topologyByName("switchyard-tap")}}
	add := func(round int, topo string, tcp float64) {
		res.Runs = append(res.Runs, &runRecord{Round: round, Topology: topo, Metrics: map[string]float64{mTCP1: tcp}})
	}
	add(1, "linux-bridge", 10)
	add(1, "switchyard-tap", 5) // 0.5
	add(2, "linux-bridge", 20)
	add(2, "switchyard-tap", 16) // 0.8
	add(3, "linux-bridge", 40)
	add(3, "switchyard-tap", 12) // 0.3
	res.compute()
	var kernel, ovs *ratioRow
	for i := range res.Ratios {
		switch res.Ratios[i].Reference {
		case "linux-bridge":
			kernel = &res.Ratios[i]
		case "ovs-tap":
			ovs = &res.Ratios[i]
		}
	}
	if kernel == nil || math.Abs(kernel.Median[mTCP1]-0.5) > 1e-9 {
		t.Fatalf("kernel ratio: %+v", kernel)
	}
	if ovs == nil || ovs.Missing == "" {
		t.Fatalf("ovs-tap not selected: want a missing reason, got %+v", ovs)
	}
	if res.Medians["switchyard-tap"][mTCP1] != 12 {
		t.Fatalf("median: %v", res.Medians["switchyard-tap"])
	}
	md := res.markdown()
	if !strings.Contains(md, "| switchyard-tap | linux-bridge | 0.50× |") {
		t.Fatalf("markdown ratio row missing:\n%s", md)
	}
}

func TestOffloadSummary(t *testing.T) {
	out := "Features for ul0:\nrx-checksumming: on\ntx-checksumming: off\n\ttx-checksum-ip-generic: off\ngeneric-receive-offload: on\n"
	if got := offloadSummary(out); got != "tx-checksumming off, generic-receive-offload on" {
		t.Fatalf("got %q", got)
	}
}
