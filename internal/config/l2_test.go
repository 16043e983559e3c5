package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/packet"
	"github.com/switchyard-net/switchyard/internal/stp"
)

func withBond(c *Config, b *Bond) *Config {
	c.Ports["bond0"] = &Port{Name: "bond0", Bridge: "br0", Type: TypeBond, Bond: b}
	return c
}

func TestL2ValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(c *Config)
		field   string
		allowed string
	}{
		{"bond without members", func(c *Config) { withBond(c, nil) }, "members", ""},
		{"one member", func(c *Config) { withBond(c, &Bond{Members: []string{"a"}}) }, "members", ""},
		{"member twice", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "a"}}) }, "members", ""},
		{"bad member name", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "b/c"}}) }, "members", ""},
		{"member is a port", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "tap1"}}) }, "members", ""},
		{"member of two bonds", func(c *Config) {
			withBond(c, &Bond{Members: []string{"a", "b"}})
			c.Ports["bond1"] = &Port{Name: "bond1", Bridge: "br1", Type: TypeBond, Bond: &Bond{Members: []string{"b", "c"}}}
		}, "members", ""},
		{"mode", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "b"}, Mode: "balance-xor"}) }, "bond-mode", "active-backup, balance-slb, balance-tcp"},
		{"balance-tcp without lacp", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "b"}, Mode: "balance-tcp"}) }, "bond-mode", ""},
		{"lacp", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "b"}, LACP: "on"}) }, "lacp", "off, active, passive"},
		{"lacp rate", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "b"}, LACP: "active", LACPRate: "medium"}) }, "lacp-rate", "fast, slow"},
		{"rate without lacp", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "b"}, LACPRate: "fast"}) }, "lacp", ""},
		{"updelay", func(c *Config) { withBond(c, &Bond{Members: []string{"a", "b"}, UpDelay: -5}) }, "updelay", "0-3600000 ms"},
		{"bond settings on a tap", func(c *Config) { c.Ports["tap1"].Bond = &Bond{Members: []string{"a", "b"}} }, "members", ""},
		{"stp mode", func(c *Config) { c.Bridges["br0"].STP = "yes" }, "stp", "off, stp, rstp"},
		{"bridge priority", func(c *Config) { c.Bridges["br0"].STP, c.Bridges["br0"].STPPriority = "stp", Opt(1000) }, "stp-priority", "multiples of 4096 from 0 to 61440"},
		{"hello", func(c *Config) { c.Bridges["br0"].STP, c.Bridges["br0"].STPHelloTime = "rstp", 11 }, "hello-time", ""},
		{"timers", func(c *Config) { c.Bridges["br0"].STPForwardDelay, c.Bridges["br0"].STPMaxAge = 4, 20 }, "max-age", ""},
		{"hwaddr", func(c *Config) { c.Bridges["br0"].HWAddr = "01:00:00:00:00:01" }, "hwaddr", ""},
		{"port priority", func(c *Config) { c.Ports["tap1"].STPPortPriority = Opt(100) }, "stp-priority", "multiples of 16 from 0 to 240 (a port's)"},
		{"stp cost", func(c *Config) { c.Bridges["br0"].STP, c.Ports["tap1"].STPCost = "stp", 70000 }, "stp-cost", ""},
		{"edge", func(c *Config) { c.Ports["tap1"].Edge = "maybe" }, "edge", "on, off, auto"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(c)
			err := c.Validate()
			e, ok := errs.As(err)
			if !ok || e.Field != tc.field || e.Kind != errs.Invalid || tc.allowed != "" && e.Allowed != tc.allowed {
				t.Fatalf("err %v (%#v), want field %q allowed %q", err, err, tc.field, tc.allowed)
			}
		})
	}
}

func TestL2ValidConfigs(t *testing.T) {
	c := base()
	c.Bridges["br0"].STP, c.Bridges["br0"].STPPriority = "rstp", Opt(0)
	c.Bridges["br0"].STPHelloTime, c.Bridges["br0"].STPMaxAge, c.Bridges["br0"].STPForwardDelay = 1, 6, 4
	c.Ports["tap1"].STPCost = 70000 // fine for RSTP
	withBond(c, &Bond{Members: []string{"eth1", "eth2"}, Mode: "balance-tcp", LACP: "active", LACPRate: "fast", UpDelay: 100})
	c.Ports["bond0"].RootGuard = true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sc, on, err := c.Bridges["br0"].STPConfig(packet.MAC{2, 0, 0, 0, 0, 9})
	if err != nil || !on || sc.Protocol != stp.RSTP || sc.Priority != 0 || !sc.PrioritySet {
		t.Fatalf("stp config %+v %v %v", sc, on, err)
	}
	pc, err := c.Ports["tap1"].STPPortConfig(stp.RSTP)
	if err != nil || pc.Edge != stp.EdgeOn || pc.PathCost != 70000 {
		t.Fatalf("a TAP is an edge port by default: %+v %v", pc, err)
	}
	if pc, _ := c.Ports["bond0"].STPPortConfig(stp.RSTP); pc.Edge != stp.EdgeAuto || !pc.RootGuard {
		t.Fatalf("bond port %+v", pc)
	}
	bc, members, err := c.Ports["bond0"].BondConfig(packet.MAC{2, 0, 0, 0, 0, 9})
	if err != nil || len(members) != 2 || bc.UpDelay.Milliseconds() != 100 || bc.SystemID != (packet.MAC{2, 0, 0, 0, 0, 9}) {
		t.Fatalf("bond config %+v %v %v", bc, members, err)
	}
	if c.MemberOf("eth2") != c.Ports["bond0"] || c.MemberOf("tap1") != nil {
		t.Fatal("MemberOf")
	}

	// JSON: the priority 0 survives, unset settings are left out, Clone
	// copies the members.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"stp_priority":0`) || !strings.Contains(s, `"members":["eth1","eth2"]`) || strings.Count(s, "stp_priority") != 1 {
		t.Fatalf("json %s", s)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Bridges["br0"].STPPriority != Opt(0) || back.Ports["tap1"].STPPortPriority.Set || *back.Bridges["br0"] != *c.Bridges["br0"] {
		t.Fatalf("round trip %+v", back.Bridges["br0"])
	}
	n := c.Clone()
	n.Ports["bond0"].Bond.Members[0] = "x"
	if c.Ports["bond0"].Bond.Members[0] != "eth1" {
		t.Fatal("Clone shares the members")
	}
	if got := ParseMembers(" a, b,,c "); strings.Join(got, "|") != "a|b|c" {
		t.Fatal(got)
	}
}
