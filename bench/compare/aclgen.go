package main

import (
	"fmt"
	"strings"
)

// The ACL the *-acl systems install and the flow-install comparison loads:
// three tables with eight distinct masks in front of NORMAL, like
// internal/datapath's BenchmarkACLCacheHit rule set, written in ovs-ofctl
// syntax so the same file goes to `switchyard flow add --file` and to
// `ovs-ofctl -O OpenFlow13 add-flows`.
//
//	table 0  ip,nw_src=A (/32)             -> goto_table:1   priorities 10000-19999
//	         arp,arp_tpa=A                 -> goto_table:1   20000-29999
//	         tcp,tp_dst=P                  -> drop           30000-39999
//	table 1  ip,nw_dst=A.B.C.0/24          -> goto_table:2   10000-19999
//	         tcp,nw_dst=A,tp_dst=P         -> goto_table:2   20000-29999
//	         udp,tp_dst=P                  -> drop           30000-39999
//	table 2  dl_dst=M                      -> NORMAL         10000-19999
//	         dl_vlan=V,dl_dst=M            -> NORMAL         20000-29999
//	priority=0 in each table: table 0 -> goto_table:1, table 1 -> goto_table:2,
//	         table 2 -> NORMAL (the table-0 one replaces the default NORMAL rule)
//
// Addresses A come from 198.18.1.0-198.19.255.255 (the benchmarking range,
// without the underlay's 198.18.0.0/24), MACs M are locally administered
// unicast 0a:c1:…, and the drop rules' ports P are 1-32767 without 5201. So
// no rule matches the harness's own traffic: ARP, ICMP, iperf3 TCP and UDP
// between 203.0.113.1 and .2 on port 5201 from ephemeral ports (Linux's
// default 32768-60999, which the ACL systems check in the VMs), untagged,
// between the VMs' MACs (also checked against the rules at setup). That
// traffic goes through all three tables on the priority-0 rules into
// NORMAL.

const (
	// aclMinRules is the three priority-0 rules.
	aclMinRules = 3
	// aclMaxRules is the largest set aclFlows makes unique rules for (its
	// tightest value space, the /24 prefixes, runs out at about 2.5M).
	aclMaxRules = 2_000_000

	aclAddrBase  = 198<<24 | 18<<16 | 1<<8 // 198.18.1.0
	aclAddrs     = 1<<17 - 256             // 198.18.1.0 - 198.19.255.255
	aclPrefixes  = aclAddrs / 256          // the /24s among them
	aclDropPorts = 32767 - 1               // 1-32767 without 5201
	aclPortPairs = 65535 - 1               // 1-65535 without 5201
	aclVLANs     = 4094
	aclMACs      = 1 << 24 // per MAC category
	aclMACBase   = 0x0ac1_0000_0000
	aclVLANMAC   = 0x0ac1_0100_0000
	// aclJitter spreads priorities within a category: a rule's priority is
	// base + round*aclJitter + (k*7)%aclJitter, where round counts how often
	// the category's value space wrapped, so equal matches never share a
	// priority.
	aclJitter    = 16
	aclBandWidth = 10000
)

// aclCategory is one of the eight kinds of rule.
type aclCategory struct {
	table, base int
	values      int // size of the value space before the priority moves on
	format      func(k int) string
}

var aclCategories = [8]aclCategory{
	{0, 10000, aclAddrs, func(k int) string { return "ip,nw_src=" + aclAddr(k) + ",actions=goto_table:1" }},
	{0, 30000, aclDropPorts, func(k int) string { return fmt.Sprintf("tcp,tp_dst=%d,actions=drop", aclDropPort(k)) }},
	{0, 20000, aclAddrs, func(k int) string { return "arp,arp_tpa=" + aclAddr(k) + ",actions=goto_table:1" }},
	{1, 20000, aclAddrs, func(k int) string {
		return fmt.Sprintf("tcp,nw_dst=%s,tp_dst=%d,actions=goto_table:2", aclAddr(k), aclAnyPort(k/7))
	}},
	{1, 10000, aclPrefixes, func(k int) string { return "ip,nw_dst=" + aclAddr(k%aclPrefixes*256) + "/24,actions=goto_table:2" }},
	{1, 30000, aclDropPorts, func(k int) string { return fmt.Sprintf("udp,tp_dst=%d,actions=drop", aclDropPort(k)) }},
	{2, 20000, aclMACs, func(k int) string {
		return fmt.Sprintf("dl_vlan=%d,dl_dst=%s,actions=NORMAL", 1+k%aclVLANs, aclMAC(aclVLANMAC+k%aclMACs))
	}},
	{2, 10000, aclMACs, func(k int) string { return "dl_dst=" + aclMAC(aclMACBase+k%aclMACs) + ",actions=NORMAL" }},
}

// aclDefaults are the priority-0 rules, last in every set.
var aclDefaults = []string{
	"table=0,priority=0,actions=goto_table:1",
	"table=1,priority=0,actions=goto_table:2",
	"table=2,priority=0,actions=NORMAL",
}

// aclFlows returns n rules in ovs-ofctl syntax (aclMinRules <= n <=
// aclMaxRules): n-3 ACL rules cycling through the eight categories, then
// the three priority-0 rules. Every rule's table, priority and match differ
// from every other's, so a switch holds exactly n rules after adding them
// (the table-0 priority-0 rule replacing the bridge's default NORMAL rule).
// The result is deterministic.
func aclFlows(n int) []string {
	if n < aclMinRules || n > aclMaxRules {
		panic(fmt.Sprintf("aclFlows(%d): n must be %d-%d", n, aclMinRules, aclMaxRules))
	}
	out := make([]string, 0, n)
	var b strings.Builder
	for i := 0; i < n-len(aclDefaults); i++ {
		c := &aclCategories[i%8]
		k := i / 8
		prio := c.base + k/c.values*aclJitter + k*7%aclJitter
		b.Reset()
		fmt.Fprintf(&b, "table=%d,priority=%d,%s", c.table, prio, c.format(k%c.values))
		out = append(out, b.String())
	}
	return append(out, aclDefaults...)
}

// aclAddr is the k-th address of the ACL's range, dotted.
func aclAddr(k int) string {
	a := uint32(aclAddrBase + k%aclAddrs)
	return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&0xff, a>>8&0xff, a&0xff)
}

// aclDropPort is the k-th port of 1-32767 without 5201: below the Linux
// ephemeral range, so a port-only drop rule never meets a reply to iperf3.
func aclDropPort(k int) int {
	p := 1 + k%aclDropPorts
	if p >= 5201 {
		p++
	}
	return p
}

// aclAnyPort is the k-th port of 1-65535 without 5201.
func aclAnyPort(k int) int {
	p := 1 + k%aclPortPairs
	if p >= 5201 {
		p++
	}
	return p
}

func aclMAC(v int) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", v>>40&0xff, v>>32&0xff, v>>24&0xff, v>>16&0xff, v>>8&0xff, v&0xff)
}
