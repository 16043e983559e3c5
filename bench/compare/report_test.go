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
	if got := strings.Join(names, ","); got != "linux-bridge,kernel-vxlan,switchyard-vxlan,switchyard-vxlan-acl,ovs-vxlan" {
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

// An *-acl system gets a third ratio, to its NORMAL-only twin, and the
// criterion section says whether TCP stayed within 10 %.
func TestACLRatioAndVerdict(t *testing.T) {
	res := &results{Topologies: []*topology{topologyByName("switchyard-tap"), topologyByName("switchyard-tap-acl"),
		topologyByName("switchyard-vxlan"), topologyByName("switchyard-vxlan-acl")}}
	add := func(round int, topo string, tcp1, tcp4 float64) {
		res.Runs = append(res.Runs, &runRecord{Round: round, Topology: topo, Metrics: map[string]float64{mTCP1: tcp1, mTCP4: tcp4}, MetricErrors: map[string]string{}})
	}
	add(1, "switchyard-tap", 10, 20)
	add(1, "switchyard-tap-acl", 9.5, 19) // 0.95, 0.95
	add(2, "switchyard-tap", 10, 20)
	add(2, "switchyard-tap-acl", 9.7, 18.6) // 0.97, 0.93
	add(1, "switchyard-vxlan", 4, 8)
	add(1, "switchyard-vxlan-acl", 3, 7.6) // 0.75, 0.95
	res.compute()
	var tapBase, vxBase *ratioRow
	for i, r := range res.Ratios {
		if r.Kind == "normal-only" {
			switch r.System {
			case "switchyard-tap-acl":
				tapBase = &res.Ratios[i]
			case "switchyard-vxlan-acl":
				vxBase = &res.Ratios[i]
			}
		}
		if r.Kind == "normal-only" && r.System != "switchyard-tap-acl" && r.System != "switchyard-vxlan-acl" {
			t.Fatalf("normal-only ratio for a system without rules: %+v", r)
		}
	}
	if tapBase == nil || tapBase.Reference != "switchyard-tap" || math.Abs(tapBase.Median[mTCP1]-0.96) > 1e-9 || math.Abs(tapBase.Median[mTCP4]-0.94) > 1e-9 {
		t.Fatalf("tap normal-only ratio: %+v", tapBase)
	}
	if vxBase == nil || math.Abs(vxBase.Median[mTCP1]-0.75) > 1e-9 {
		t.Fatalf("vxlan normal-only ratio: %+v", vxBase)
	}
	md := res.markdown()
	for _, want := range []string{
		"## ACL vs NORMAL only",
		"| switchyard-tap-acl | switchyard-tap | 0.96× | 0.94× |",
		"**yes** (TCP 1 0.96×, TCP 4 0.94×)",
		"**no** (TCP 1 0.75×, TCP 4 0.95×; bar 0.90×)",
		"| switchyard-tap-acl | switchyard-tap (NORMAL only) | 0.96× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// A failed ACL check shows up next to the verdict.
	res.Runs[1].MetricErrors["acl"] = "h: 12 packets matched ACL rules"
	res.compute()
	if md := res.markdown(); !strings.Contains(md, "round 1 ACL check failed: h: 12 packets matched ACL rules") {
		t.Errorf("failed ACL check not reported:\n%s", md)
	}
}

func TestFlowInstallReport(t *testing.T) {
	res := &results{}
	fig := func(secs, heap, rss float64) *installFigures {
		return &installFigures{Seconds: secs, RulesPerSec: 100000 / secs, HeapBytesPerRule: heap, RSSBytesPerRule: rss, HeapForcedGC: true}
	}
	for i, c := range []struct{ sy, ovs float64 }{{1.5, 3}, {2.5, 5}, {1.0, 4}} {
		sy := fig(c.sy, 400, 900)
		ov := fig(c.ovs, 0, 1200)
		res.FlowInstall = append(res.FlowInstall, &flowInstallRun{Round: i + 1, Rules: 100000, Switchyard: sy, OVS: ov, TimeRatio: c.sy / c.ovs})
	}
	res.compute()
	m := res.FlowInstallMedian
	if m["sy_seconds"] != 1.5 || m["ovs_seconds"] != 4 || m["time_ratio"] != 0.5 || m["sy_heap_bytes_per_rule"] != 400 || m["ovs_rss_bytes_per_rule"] != 1200 {
		t.Fatalf("medians: %v", m)
	}
	md := res.markdown()
	for _, want := range []string{
		"## Flow install: 100,000 rules",
		"| 2 | 2.500 | 40000 | 400 | 900 | 5.000 | 20000 | 1200 | 0.50× |",
		"| **median** | 1.500 |",
		"**held**: median 1.500 s; rounds over the bound: round 2: 2.500 s. Switchyard ÷ OVS time: 0.50×",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	res.FlowInstall[0].Switchyard = &installFigures{Error: "bridge br0 reports 7 rules"}
	res.FlowInstall[0].TimeRatio = 0
	res.FlowInstall[2].Switchyard.Seconds = 2.2
	res.compute()
	if md := res.markdown(); !strings.Contains(md, "**not held**: median 2.350 s") || !strings.Contains(md, "switchyard: bridge br0 reports 7 rules") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{3: "3", 1003: "1,003", 100000: "100,000", 2000000: "2,000,000", 999: "999"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSelectNone(t *testing.T) {
	sel, err := selectTopologies("none")
	if err != nil || len(sel) != 0 {
		t.Fatalf("none: %v %v", sel, err)
	}
	sel, err = selectTopologies("3,9")
	if err != nil || len(sel) != 2 || sel[0].Name != "switchyard-tap-acl" || sel[1].Name != "switchyard-vxlan-acl" {
		t.Fatalf("3,9: %v %v", sel, err)
	}
}
