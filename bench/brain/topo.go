package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// topology is the benchmark's model of what it binds: networks with
// Zipf-distributed sizes, each spread over its own set of hosts.
type topology struct {
	hosts []string
	vteps []string
	nets  []tnet
	ports []tport // in bind order
}

type tnet struct {
	name  string
	vni   uint32
	size  int
	hosts []int
	bound map[int]int // host → bound ports
}

type tport struct {
	id, mac string
	net     int
	host    int
	ips     []string
	key     uint64
}

func portKey(net int, mac uint64) uint64 { return uint64(net)<<48 | mac }

// newTopology builds p.Networks networks of sizes ∝ 1/rank^Zipf (at least
// 2, at most MaxPortsPerNet ports, Ports in all), each on
// ceil(size/PortsPerHostPerNet) random hosts (at most 500).
func newTopology(p *Params) *topology {
	rng := rand.New(rand.NewPCG(p.Seed, 77))
	t := &topology{}
	for i := 0; i < p.Hosts; i++ {
		t.hosts = append(t.hosts, fmt.Sprintf("h%04d", i))
		t.vteps = append(t.vteps, fmt.Sprintf("198.18.%d.%d", i/250, i%250+1))
	}
	sizes := zipfSizes(p.Networks, p.Ports, p.Zipf, p.MaxPortsPerNet)
	for i, s := range sizes {
		k := min(500, p.Hosts, max(1, int(math.Ceil(float64(s)/float64(p.PortsPerHostPerNet)))))
		n := tnet{name: fmt.Sprintf("n%04d", i), vni: uint32(10000 + i), size: s, bound: map[int]int{}}
		for _, h := range rng.Perm(p.Hosts)[:k] {
			n.hosts = append(n.hosts, h)
		}
		t.nets = append(t.nets, n)
	}
	g := uint64(0)
	for ni := range t.nets {
		n := &t.nets[ni]
		for j := 0; j < n.size; j++ {
			g++
			mac := uint64(0x020000000000) | g
			tp := tport{id: fmt.Sprintf("p%06d", g), net: ni, host: n.hosts[j%len(n.hosts)], key: portKey(ni, mac)}
			tp.mac = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", byte(mac>>40), byte(mac>>32), byte(mac>>24), byte(mac>>16), byte(mac>>8), byte(mac))
			tp.ips = []string{fmt.Sprintf("2001:db8:%x::%x", ni, j+1)}
			if j < 250 {
				tp.ips = append(tp.ips, fmt.Sprintf("198.51.100.%d", j+1))
			}
			t.ports = append(t.ports, tp)
		}
	}
	rng.Shuffle(len(t.ports), func(i, j int) { t.ports[i], t.ports[j] = t.ports[j], t.ports[i] })
	return t
}

func zipfSizes(nets, ports int, alpha float64, maxSize int) []int {
	lo, hi := 1.0, float64(ports)*10
	var s []int
	for it := 0; it < 200; it++ {
		c := (lo + hi) / 2
		s = s[:0]
		sum := 0
		for i := 0; i < nets; i++ {
			x := min(maxSize, max(2, int(math.Round(c/math.Pow(float64(i+1), alpha)))))
			s = append(s, x)
			sum += x
		}
		if sum > ports {
			hi = c
		} else {
			lo = c
		}
	}
	// Trim or pad to exactly ports.
	sum := 0
	for _, x := range s {
		sum += x
	}
	for i := 0; sum != ports && i < 10*nets; i++ {
		j := i % nets
		if sum > ports && s[j] > 2 {
			s[j]--
			sum--
		} else if sum < ports && s[j] < maxSize {
			s[j]++
			sum++
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(s)))
	return s
}

// viewEntries is Σ over networks of ports × hosts: the port records all
// agents together hold once everything is bound.
func (t *topology) viewEntries() int {
	v := 0
	for _, n := range t.nets {
		v += n.size * len(n.hosts)
	}
	return v
}
