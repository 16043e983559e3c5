package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// aclSystemRules is the rule set the *-acl systems install in every
// daemon: 1,000 ACL rules (three tables, eight masks) and the three
// priority-0 rules, as internal/datapath's ACL benchmarks use.
const aclSystemRules = 1000 + aclMinRules

// withACL builds a system with base, then installs the ACL in each of its
// daemons before any traffic.
func withACL(base func(*buildEnv) (*instance, error)) func(*buildEnv) (*instance, error) {
	return func(e *buildEnv) (*instance, error) {
		inst, err := base(e)
		if err != nil {
			return nil, err
		}
		if err := e.installACL(aclSystemRules); err != nil {
			return nil, fmt.Errorf("ACL: %w", err)
		}
		return inst, nil
	}
}

// writeFlows writes rules to a file, one per line after a comment saying
// what they are.
func writeFlows(path string, lines []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# bench/compare aclFlows(%d): three tables, eight masks, priority-0 rules table 0 -> 1 -> 2 -> NORMAL\n", len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// installACL checks that the ACL cannot meet the system's traffic (the VMs'
// MACs are not among the rules' dl_dst, the VMs' ephemeral ports are above
// the drop rules' ports), installs n rules with `switchyard flow add br0
// --file F` in every daemon, and fails unless each bridge then reports n
// rules.
func (e *buildEnv) installACL(n int) error {
	lines := aclFlows(n)
	var macs []string
	for _, vm := range []string{e.inst.client, e.inst.server} {
		m, err := nsMACs(e.ctx, vm)
		if err != nil {
			return err
		}
		macs = append(macs, m...)
		lo, err := ephemeralLow(e.ctx, vm)
		if err != nil {
			return err
		}
		if lo <= 32767 {
			return fmt.Errorf("%s: net.ipv4.ip_local_port_range starts at %d, inside the ACL's drop ports 1-32767: iperf3's replies would be dropped", vm, lo)
		}
	}
	if c := aclMACCollisions(lines, macs); len(c) > 0 {
		return fmt.Errorf("the VMs' MACs %v are dl_dst values of ACL rules: the traffic would match them (rebuild the system: the kernel picks new random MACs)", c)
	}
	file := filepath.Join(e.dir, fmt.Sprintf("acl-%d.flows", n))
	if err := writeFlows(file, lines); err != nil {
		return err
	}
	for i, d := range e.inst.daemons {
		start := time.Now()
		out, err := d.cli(e.ctx, "flow", "add", "br0", "--file", file)
		secs := time.Since(start).Seconds()
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("%d flows added", n); strings.TrimSpace(out) != want {
			return fmt.Errorf("switchyard flow add br0 --file %s said %q, want %q", file, strings.TrimSpace(out), want)
		}
		got, err := d.bridgeRules(e.ctx, "br0")
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("%s daemon: bridge br0 reports %d rules after adding %d (GET /v1/show rules)", e.inst.daemonNames[i], got, n)
		}
		e.note("%s daemon: ACL of %s rules (%s in three tables with eight masks + 3 priority-0 rules table 0 -> 1 -> 2 -> NORMAL, replacing the default NORMAL rule) installed with `switchyard flow add br0 --file` in %.2f s before traffic; GET /v1/show reports rules=%d",
			e.inst.daemonNames[i], thousands(n), thousands(n-aclMinRules), secs, got)
	}
	e.inst.aclRules = n
	return nil
}

var macRe = regexp.MustCompile(`link/ether ([0-9a-f:]{17})`)

// nsMACs lists the MAC addresses of the links in namespace ns.
func nsMACs(ctx context.Context, ns string) ([]string, error) {
	out, err := run(ctx, "ip", "-n", ns, "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	var macs []string
	for _, m := range macRe.FindAllStringSubmatch(out, -1) {
		macs = append(macs, m[1])
	}
	return macs, nil
}

// ephemeralLow is the low end of the local port range in namespace ns.
func ephemeralLow(ctx context.Context, ns string) (int, error) {
	out, err := run(ctx, inNS(ns, "cat", "/proc/sys/net/ipv4/ip_local_port_range")...)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0, fmt.Errorf("%s: ip_local_port_range %q", ns, strings.TrimSpace(out))
	}
	return strconv.Atoi(f[0])
}

// aclMACCollisions returns the MACs of macs that some rule matches as
// dl_dst.
func aclMACCollisions(lines, macs []string) []string {
	used := map[string]bool{}
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, "dl_dst="); ok {
			used[strings.ToLower(strings.SplitN(rest, ",", 2)[0])] = true
		}
	}
	var hit []string
	for _, m := range macs {
		if used[strings.ToLower(m)] {
			hit = append(hit, m)
		}
	}
	return hit
}

// aclCheck is what the rules' counters say after the traffic: the packets
// on the three priority-0 rules (tables 0, 1, 2) and on all ACL rules.
type aclCheck struct {
	Daemon         string    `json:"daemon"`
	Rules          int       `json:"rules"`
	DefaultPackets [3]uint64 `json:"default_packets"` // table 0, 1, 2
	ACLPackets     uint64    `json:"acl_packets"`
	ACLRulesHit    []string  `json:"acl_rules_hit,omitempty"` // the first few
	Error          string    `json:"error,omitempty"`
}

// checkACL reads every rule's counters from each daemon after the traffic
// (`switchyard flow dump br0 --json`): the traffic must have gone through
// the three priority-0 rules and no ACL rule. A violation is reported as
// the measurement error "acl" (the figures are then not those of traffic
// through three tables into NORMAL).
func (h *harness) checkACL(ctx context.Context, inst *instance, rec *runRecord) {
	var problems []string
	for i, d := range inst.daemons {
		c := aclCheck{Daemon: inst.daemonNames[i]}
		out, err := d.cli(ctx, "flow", "dump", "br0", "--json")
		var fl []struct {
			Table    int    `json:"table"`
			Priority int    `json:"priority"`
			Packets  uint64 `json:"n_packets"`
			Match    string `json:"match"`
			Actions  string `json:"actions"`
		}
		if err == nil {
			err = json.Unmarshal([]byte(out), &fl)
		}
		if err != nil {
			c.Error = "flow dump: " + err.Error()
			problems = append(problems, c.Daemon+": "+c.Error)
			rec.ACL = append(rec.ACL, c)
			continue
		}
		c.Rules = len(fl)
		for _, f := range fl {
			switch {
			case f.Priority == 0 && f.Table >= 0 && f.Table <= 2:
				c.DefaultPackets[f.Table] += f.Packets
			case f.Packets > 0:
				c.ACLPackets += f.Packets
				if len(c.ACLRulesHit) < 5 {
					c.ACLRulesHit = append(c.ACLRulesHit, fmt.Sprintf("table=%d,priority=%d,%s actions=%s (%d packets)", f.Table, f.Priority, f.Match, f.Actions, f.Packets))
				}
			}
		}
		switch {
		case c.Rules != inst.aclRules:
			c.Error = fmt.Sprintf("%d rules after the traffic, %d installed", c.Rules, inst.aclRules)
		case c.ACLPackets > 0:
			c.Error = fmt.Sprintf("%d packets matched ACL rules (%s): the traffic did not cross three tables into NORMAL", c.ACLPackets, strings.Join(c.ACLRulesHit, "; "))
		case c.DefaultPackets[0] == 0 || c.DefaultPackets[1] == 0 || c.DefaultPackets[2] == 0:
			c.Error = fmt.Sprintf("priority-0 rules of tables 0/1/2 counted %v packets: some table was not crossed (or the counters do not count through the decision cache)", c.DefaultPackets)
		}
		if c.Error != "" {
			problems = append(problems, c.Daemon+": "+c.Error)
		}
		rec.ACL = append(rec.ACL, c)
	}
	if len(problems) > 0 {
		rec.MetricErrors["acl"] = strings.Join(problems, "; ")
		return
	}
	var parts []string
	for _, c := range rec.ACL {
		parts = append(parts, fmt.Sprintf("%s: %d rules, priority-0 rules of tables 0/1/2 counted %d/%d/%d packets, ACL rules 0", c.Daemon, c.Rules, c.DefaultPackets[0], c.DefaultPackets[1], c.DefaultPackets[2]))
	}
	rec.Settings = append(rec.Settings, "after the traffic (flow dump --json): "+strings.Join(parts, "; "))
}

// cacheStats is a bridge's decision-cache counters (GET /v1/show
// bridges[].cache), decoded here on their own like the other API figures.
type cacheStats struct {
	Daemon        string `json:"daemon"`
	Entries       int    `json:"entries"`
	Masks         int    `json:"masks"`
	Hits          uint64 `json:"hits"`
	Misses        uint64 `json:"misses"`
	Evictions     uint64 `json:"evictions"`
	Revalidations uint64 `json:"revalidations"`
	Uncached      uint64 `json:"uncached"`
}

// readCache records every daemon's br0 decision-cache counters after the
// traffic, so that a NORMAL-only system and its *-acl twin can be compared
// on hits and misses too (a note in the settings; decision_cache in
// results.json).
func (h *harness) readCache(ctx context.Context, inst *instance, rec *runRecord) {
	var parts []string
	for i, d := range inst.daemons {
		b, err := d.curl(ctx, "/v1/show")
		if err != nil {
			continue
		}
		var show struct {
			Bridges []struct {
				Name  string      `json:"name"`
				Cache *cacheStats `json:"cache"`
			} `json:"bridges"`
		}
		if json.Unmarshal(b, &show) != nil {
			continue
		}
		for _, br := range show.Bridges {
			if br.Name != "br0" || br.Cache == nil {
				continue
			}
			c := *br.Cache
			c.Daemon = inst.daemonNames[i]
			rec.Cache = append(rec.Cache, c)
			parts = append(parts, fmt.Sprintf("%s: %d hits, %d misses, %d entries, %d masks, %d evictions, %d revalidations, %d uncached",
				c.Daemon, c.Hits, c.Misses, c.Entries, c.Masks, c.Evictions, c.Revalidations, c.Uncached))
		}
	}
	if len(parts) > 0 {
		rec.Settings = append(rec.Settings, "decision cache of br0 after the traffic (GET /v1/show): "+strings.Join(parts, "; "))
	}
}
