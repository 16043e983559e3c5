package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/flowtext"
)

// parseACL parses every line as `flow add` does, failing the test on the
// first line flowtext rejects.
func parseACL(t *testing.T, lines []string) []*flowtext.Flow {
	t.Helper()
	flows := make([]*flowtext.Flow, len(lines))
	for i, l := range lines {
		f, err := flowtext.Parse(l, nil, flowtext.ForAdd)
		if err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		flows[i] = f
	}
	return flows
}

// The generator makes exactly n rules, every one parses, no two share a
// table, priority and match, the set has eight distinct masks over tables
// 0-2 (plus the empty one of the priority-0 rules), and it is the same
// every time.
func TestACLFlowsUniqueAndParse(t *testing.T) {
	sizes := []int{3, 4, 11, 1003, 100_000, 200_000}
	if testing.Short() {
		sizes = sizes[:4]
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			lines := aclFlows(n)
			if len(lines) != n {
				t.Fatalf("aclFlows(%d) made %d rules", n, len(lines))
			}
			flows := parseACL(t, lines)
			type id struct {
				table uint8
				prio  uint16
				m     dp.Match
			}
			seen := make(map[id]int, n)
			// Masks are per table (each table has its own subtables):
			// t0 3, t1 3, t2 2. The TCP and UDP port drops share a mask
			// but live in different tables, as in the engine's ACL
			// benchmarks.
			type tmask struct {
				table uint8
				mask  dp.Key
			}
			masks := map[tmask]bool{}
			for i, f := range flows {
				if !f.TableSet || !f.PrioritySet {
					t.Fatalf("line %d %q: table and priority must be explicit", i+1, lines[i])
				}
				if f.Table > 2 {
					t.Fatalf("line %d %q: table %d, want 0-2", i+1, lines[i], f.Table)
				}
				k := id{f.Table, f.Priority, f.Match}
				if j, dup := seen[k]; dup {
					t.Fatalf("lines %d %q and %d %q have the same table, priority and match", j+1, lines[j], i+1, lines[i])
				}
				seen[k] = i
				if f.Priority == 0 {
					if i < n-3 {
						t.Fatalf("line %d %q: priority 0 is for the three default rules at the end", i+1, lines[i])
					}
					continue
				}
				masks[tmask{f.Table, f.Match.Mask}] = true
			}
			if want := min(n-3, 8); len(masks) != want {
				t.Fatalf("%d distinct (table, mask) pairs besides the empty mask, want %d", len(masks), want)
			}
			if again := aclFlows(n); strings.Join(again, "\n") != strings.Join(lines, "\n") {
				t.Fatal("aclFlows is not deterministic")
			}
		})
	}
	for _, bad := range []int{2, aclMaxRules + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("aclFlows(%d): want a panic", bad)
				}
			}()
			aclFlows(bad)
		}()
	}
}

// The last three rules are the priority-0 table-miss rules: table 0 -> 1 ->
// 2 -> NORMAL.
func TestACLFlowsDefaults(t *testing.T) {
	flows := parseACL(t, aclFlows(1003))
	d := flows[len(flows)-3:]
	for i, want := range []int{1, 2} {
		if d[i].Table != uint8(i) || d[i].Priority != 0 || d[i].Instr.Goto != want || len(d[i].Instr.Apply) != 0 || d[i].Match.Mask != (dp.Key{}) {
			t.Fatalf("default %d: %+v", i, d[i])
		}
	}
	if d[2].Table != 2 || d[2].Priority != 0 || d[2].Instr.Goto != dp.NoGoto || len(d[2].Instr.Apply) != 1 || d[2].Instr.Apply[0].Kind != dp.ActOutput || d[2].Instr.Apply[0].Port != dp.PortNormal {
		t.Fatalf("default table 2: %+v", d[2])
	}
}

// harnessFrames are the frames the harness's traffic puts on a bridge, in
// both directions: ARP request (broadcast) and reply, ICMP echo request and
// reply, iperf3 TCP and UDP from ephemeral ports to 5201 and back.
func harnessFrames(rng *rand.Rand) map[string][]byte {
	vm1, vm2 := randomVMMAC(rng), randomVMMAC(rng)
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ip1, ip2 := netip.MustParseAddr(vm1IP).As4(), netip.MustParseAddr(vm2IP).As4()
	fr := map[string][]byte{
		"arp request": arpFrame(bcast, vm1, 1, vm1, ip1, [6]byte{}, ip2),
		"arp reply":   arpFrame(vm1, vm2, 2, vm2, ip2, vm1, ip1),
		"echo request": ipFrame(vm2, vm1, ip1, ip2, 1, // ICMP type 8
			[]byte{8, 0, 0, 0, 0, 1, 0, 1}),
		"echo reply": ipFrame(vm1, vm2, ip2, ip1, 1, []byte{0, 0, 0, 0, 0, 1, 0, 1}),
	}
	ports := []int{32768, 32769, 40000, 45678, 50000, 60998, 60999}
	for range 50 {
		ports = append(ports, 32768+rng.IntN(60999-32768+1))
	}
	for _, p := range ports {
		for _, proto := range []uint8{6, 17} {
			name := map[uint8]string{6: "tcp", 17: "udp"}[proto]
			fr[fmt.Sprintf("%s %d->5201", name, p)] = ipFrame(vm2, vm1, ip1, ip2, proto, l4(proto, uint16(p), 5201))
			fr[fmt.Sprintf("%s 5201->%d", name, p)] = ipFrame(vm1, vm2, ip2, ip1, proto, l4(proto, 5201, uint16(p)))
		}
	}
	return fr
}

// randomVMMAC is what the kernel gives a new TAP or veth: random, locally
// administered, unicast.
func randomVMMAC(rng *rand.Rand) [6]byte {
	var m [6]byte
	v := rng.Uint64()
	for i := range m {
		m[i] = byte(v >> (8 * i))
	}
	m[0] = m[0]&^1 | 2
	return m
}

func ethHeader(dst, src [6]byte, etype uint16) []byte {
	b := append(append([]byte{}, dst[:]...), src[:]...)
	return binary.BigEndian.AppendUint16(b, etype)
}

func arpFrame(dst, src [6]byte, op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) []byte {
	b := ethHeader(dst, src, 0x0806)
	b = append(b, 0, 1, 8, 0, 6, 4)
	b = binary.BigEndian.AppendUint16(b, op)
	b = append(b, sha[:]...)
	b = append(b, spa[:]...)
	b = append(b, tha[:]...)
	b = append(b, tpa[:]...)
	return append(b, make([]byte, 18)...) // padding to 60 bytes
}

func ipFrame(dst, src [6]byte, sip, dip [4]byte, proto uint8, payload []byte) []byte {
	b := ethHeader(dst, src, 0x0800)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	copy(ip[12:], sip[:])
	copy(ip[16:], dip[:])
	return append(append(b, ip...), payload...)
}

func l4(proto uint8, sport, dport uint16) []byte {
	n := 8
	if proto == 6 {
		n = 20
	}
	h := make([]byte, n)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	if proto == 6 {
		h[12], h[13] = 5<<4, 0x02 // SYN
	} else {
		binary.BigEndian.PutUint16(h[4:], 8)
	}
	return h
}

// Every frame of the harness's traffic, on either VM port, misses every
// ACL rule and goes table 0 -> 1 -> 2 on the priority-0 rules into NORMAL:
// the pipeline is run here on the parsed rules with the engine's own key
// extraction.
func TestACLMissesHarnessTraffic(t *testing.T) {
	lines := aclFlows(1003)
	flows := parseACL(t, lines)
	rng := rand.New(rand.NewPCG(9, 1))
	frames := harnessFrames(rng)
	for name, fr := range frames {
		for _, inPort := range []uint16{1, 2} {
			k, ok := dp.KeyOfFrame(fr, inPort)
			if !ok {
				t.Fatalf("%s: the engine does not take the frame", name)
			}
			table, path := 0, []int{}
			for hops := 0; ; hops++ {
				if hops > 3 {
					t.Fatalf("%s: pipeline loops: %v", name, path)
				}
				path = append(path, table)
				best := -1
				for i, f := range flows {
					if int(f.Table) == table && f.Match.Matches(&k) && (best < 0 || f.Priority > flows[best].Priority) {
						best = i
					}
				}
				if best < 0 {
					t.Fatalf("%s: no rule in table %d (a table miss drops)", name, table)
				}
				f := flows[best]
				if f.Priority != 0 {
					t.Fatalf("%s (in_port %d): matches ACL rule %d %q in table %d", name, inPort, best+1, lines[best], table)
				}
				if f.Instr.Goto == dp.NoGoto {
					if len(f.Instr.Apply) != 1 || f.Instr.Apply[0].Port != dp.PortNormal {
						t.Fatalf("%s: ends in %q, want NORMAL", name, lines[best])
					}
					break
				}
				table = f.Instr.Goto
			}
			if fmt.Sprint(path) != "[0 1 2]" {
				t.Fatalf("%s: tables %v, want [0 1 2]", name, path)
			}
		}
	}
}

// The same by reasoning over every rule of a large set, for every frame the
// harness could send (not only the sampled ones above): each ACL rule pins
// a field to a value the harness never uses — an IPv4 or ARP address in
// 198.18.0.0/15 (the harness's VMs are 203.0.113.1/.2), a 0a:c1:…
// destination MAC (VM MACs are also checked at setup), a VLAN tag (the
// traffic is untagged), or a TCP/UDP destination port below the ephemeral
// range and not 5201.
func TestACLRulesExcludeHarnessTraffic(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 10_000
	}
	lines := aclFlows(n)
	flows := parseACL(t, lines)
	for i, f := range flows {
		if f.Priority == 0 {
			continue
		}
		if why := harnessSafe(&f.Match); why != "" {
			t.Fatalf("line %d %q could match the harness's traffic: %s", i+1, lines[i], why)
		}
	}
	// harnessSafe itself must be able to say no.
	for _, l := range []string{
		"table=0,priority=5,ip,nw_src=203.0.113.1,actions=drop",
		"table=0,priority=5,ip,nw_dst=198.0.0.0/8,actions=drop",
		"table=0,priority=5,tcp,tp_dst=5201,actions=drop",
		"table=0,priority=5,udp,tp_dst=40000,actions=drop",
		"table=0,priority=5,dl_dst=02:00:00:00:00:01,actions=drop",
		"table=0,priority=5,arp,actions=drop",
		"table=0,priority=5,dl_vlan=0xffff,actions=drop",
	} {
		f, err := flowtext.Parse(l, nil, flowtext.ForAdd)
		if err != nil {
			t.Fatal(err)
		}
		if harnessSafe(&f.Match) == "" {
			t.Errorf("%q: harnessSafe says it cannot match the harness's traffic", l)
		}
	}
}

// harnessSafe returns "" if m pins a field to a value no frame of the
// harness's traffic carries, else why it could match.
func harnessSafe(m *dp.Match) string {
	exact := func(f dp.Field) (uint64, bool) {
		v, mask := m.Get(f)
		return v.Lo, mask == f.FullMask()
	}
	for _, f := range []dp.Field{dp.FieldIPv4Src, dp.FieldIPv4Dst, dp.FieldARPTPA} {
		v, mask := m.Get(f)
		const r15 = 0xfffe0000
		if mask.Lo&r15 == r15 && v.Lo&r15 == 198<<24|18<<16 {
			return ""
		}
	}
	if v, ok := exact(dp.FieldEthDst); ok && v>>32 == 0x0ac1 {
		return ""
	}
	if v, mask := m.Get(dp.FieldVLANVID); mask.Lo&0x1000 != 0 && v.Lo&0x1000 != 0 {
		return "" // tagged frames only
	}
	if p, ok := exact(dp.FieldTPDst); ok {
		proto, okP := exact(dp.FieldIPProto)
		if okP && (proto == 6 || proto == 17) && p >= 1 && p < 32768 && p != 5201 {
			return ""
		}
		return fmt.Sprintf("tp_dst=%d is 5201 or in the ephemeral range (or the protocol is not TCP/UDP)", p)
	}
	return "no field pinned to a value outside the harness's traffic"
}

// The setup's check of the VMs' MACs against the rules finds a collision.
func TestACLMACCollision(t *testing.T) {
	lines := aclFlows(1003)
	if got := aclMACCollisions(lines, []string{"0a:c1:00:00:00:05", "02:11:22:33:44:55"}); len(got) != 1 || got[0] != "0a:c1:00:00:00:05" {
		t.Fatalf("collisions: %v", got)
	}
	if got := aclMACCollisions(lines, []string{"02:11:22:33:44:55"}); len(got) != 0 {
		t.Fatalf("collisions: %v", got)
	}
}
