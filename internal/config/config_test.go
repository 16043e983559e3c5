package config

import (
	"errors"
	"reflect"
	"testing"
)

func base() *Config {
	c := Empty()
	c.Bridges["br0"] = &Bridge{Name: "br0"}
	c.Bridges["br1"] = &Bridge{Name: "br1"}
	c.Ports["tap1"] = &Port{Name: "tap1", Bridge: "br0", Type: TypeTAP, VLAN: 10}
	return c
}

func TestValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(c *Config)
		field string
	}{
		{"long bridge name", func(c *Config) { c.Bridges["a23456789012345x"] = &Bridge{Name: "a23456789012345x"} }, "bridge"},
		{"bad char", func(c *Config) { c.Bridges["br/0"] = &Bridge{Name: "br/0"} }, "bridge"},
		{"aging", func(c *Config) { c.Bridges["br0"].FDBAging = 5 }, "fdb-aging"},
		{"fdb max", func(c *Config) { c.Bridges["br0"].FDBMax = -3 }, "fdb-max"},
		{"policy", func(c *Config) { c.Bridges["br0"].FDBFullPolicy = "lru" }, "fdb-full-policy"},
		{"vlan 0 is not 4095", func(c *Config) { c.Ports["tap1"].VLAN = 4095 }, "vlan"},
		{"vlan and trunk", func(c *Config) { c.Ports["tap1"].Trunks = "20" }, "vlan"},
		{"trunk list", func(c *Config) { c.Ports["tap1"].VLAN = 0; c.Ports["tap1"].Trunks = "10,5000" }, "trunk"},
		{"native", func(c *Config) { c.Ports["tap1"].VLAN = 0; c.Ports["tap1"].NativeVLAN = 4095 }, "native-vlan"},
		{"native tagged alone", func(c *Config) { c.Ports["tap1"].VLAN = 0; c.Ports["tap1"].NativeTagged = true }, "native-tagged"},
		{"missing bridge", func(c *Config) { c.Ports["tap1"].Bridge = "nope" }, "bridge"},
		{"type", func(c *Config) { c.Ports["tap1"].Type = "ethernet" }, "type"},
		{"patch no peer", func(c *Config) { c.Ports["p0"] = &Port{Name: "p0", Bridge: "br0", Type: TypePatch} }, "peer"},
		{"patch same bridge", func(c *Config) {
			c.Ports["p0"] = &Port{Name: "p0", Bridge: "br0", Type: TypePatch, Peer: "p1"}
			c.Ports["p1"] = &Port{Name: "p1", Bridge: "br0", Type: TypePatch, Peer: "p0"}
		}, "peer"},
		{"patch peer not patch", func(c *Config) { c.Ports["p0"] = &Port{Name: "p0", Bridge: "br0", Type: TypePatch, Peer: "tap1"} }, "peer"},
		{"netns on system", func(c *Config) { c.Ports["s0"] = &Port{Name: "s0", Bridge: "br0", Type: TypeSystem, NetNS: "x"} }, "netns"},
		{"tunnel no local", func(c *Config) {
			c.Ports["vx0"] = &Port{Name: "vx0", Bridge: "br0", Type: TypeVXLAN, Tunnel: &Tunnel{Remotes: []string{"198.18.0.2"}}}
		}, "local"},
		{"tunnel no remote", func(c *Config) {
			c.Ports["vx0"] = &Port{Name: "vx0", Bridge: "br0", Type: TypeVXLAN, Tunnel: &Tunnel{Local: "198.18.0.1"}}
		}, "remote"},
		{"vni range", func(c *Config) {
			c.Ports["vx0"] = &Port{Name: "vx0", Bridge: "br0", Type: TypeVXLAN, Tunnel: &Tunnel{Local: "198.18.0.1", Remotes: []string{"198.18.0.2"}, VNI: 1 << 24}}
		}, "vni"},
		{"vni map", func(c *Config) {
			c.Ports["vx0"] = &Port{Name: "vx0", Bridge: "br0", Type: TypeVXLAN, Tunnel: &Tunnel{Local: "198.18.0.1", Remotes: []string{"198.18.0.2"}, VNIMap: "10:5001,20:5001"}}
		}, "vni-map"},
		{"group without dev", func(c *Config) {
			c.Ports["vx0"] = &Port{Name: "vx0", Bridge: "br0", Type: TypeVXLAN, Tunnel: &Tunnel{Local: "198.18.0.1", Group: "239.1.1.100"}}
		}, "dev"},
		{"udp csum", func(c *Config) {
			c.Ports["vx0"] = &Port{Name: "vx0", Bridge: "br0", Type: TypeVXLAN, Tunnel: &Tunnel{Local: "198.18.0.1", Remotes: []string{"198.18.0.2"}, UDPCsum: "maybe"}}
		}, "udp-csum"},
		{"fdb mac", func(c *Config) {
			c.FDB = append(c.FDB, StaticFDB{Bridge: "br0", MAC: "ff:ff:ff:ff:ff:ff", VLAN: 10, Port: "tap1"})
		}, "mac"},
		{"fdb vlan", func(c *Config) {
			c.FDB = append(c.FDB, StaticFDB{Bridge: "br0", MAC: "02:00:00:00:00:01", VLAN: 20, Port: "tap1"})
		}, "vlan"},
		{"fdb port", func(c *Config) {
			c.FDB = append(c.FDB, StaticFDB{Bridge: "br1", MAC: "02:00:00:00:00:01", Port: "tap1"})
		}, "port"},
	}
	for _, tc := range cases {
		c := base()
		tc.edit(c)
		err := c.Validate()
		var ve *Error
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a validation error", tc.name, err)
			continue
		}
		if ve.Field != tc.field || ve.Allowed == "" {
			t.Errorf("%s: field %q allowed %q (%v), want field %q and the allowed values", tc.name, ve.Field, ve.Allowed, err, tc.field)
		}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("base config invalid: %v", err)
	}
}

func TestStoreRejectsWithoutChangeAndPersists(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Watch()
	rev, err := s.Update(func(c *Config) error {
		c.Bridges["br0"] = &Bridge{Name: "br0", FDBAging: 60}
		c.Ports["p1"] = &Port{Name: "p1", Bridge: "br0", Type: TypeTAP, VLAN: 10}
		return nil
	})
	if err != nil || rev != 1 {
		t.Fatalf("update: rev %d err %v", rev, err)
	}
	select {
	case <-w:
	default:
		t.Fatal("watch not notified")
	}
	before, _ := s.Get()
	rev2, err := s.Update(func(c *Config) error {
		c.Ports["p1"].VLAN = 5000
		c.Bridges["br9"] = &Bridge{Name: "br9"}
		return nil
	})
	if err == nil || rev2 != 1 {
		t.Fatalf("invalid update accepted (rev %d)", rev2)
	}
	after, _ := s.Get()
	if !reflect.DeepEqual(before, after) {
		t.Fatal("rejected update changed the config")
	}
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, rev := s2.Get()
	if rev != 1 || !reflect.DeepEqual(got, before) {
		t.Fatalf("reopened store: rev %d config %+v", rev, got)
	}
}
