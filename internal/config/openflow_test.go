package config

import (
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/internal/errs"
)

func TestOpenFlowSettingsValidation(t *testing.T) {
	good := Bridge{Name: "br0", Controllers: "tcp:127.0.0.1:6653, unix:/run/c.sock", Listen: "ptcp:6634:127.0.0.1", FailMode: "secure",
		Protocols: "OpenFlow13", DatapathID: "0000020000aa0001", PacketInRate: 500, PacketInBurst: 50}
	c := Empty()
	c.Bridges["br0"] = &good
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if v, _ := good.OpenFlowVersions(); v != 1<<4 {
		t.Errorf("versions %#x", v)
	}
	if d, _ := good.DPID(); d != 0x0000020000aa0001 {
		t.Errorf("dpid %x", d)
	}
	if l, _ := good.ControllerTargets(); len(l) != 2 || l[1].String() != "unix:/run/c.sock" {
		t.Errorf("controllers %v", l)
	}
	for _, bad := range []struct {
		mod   func(b *Bridge)
		field string
	}{
		{func(b *Bridge) { b.Controllers = "ptcp:6653" }, "controller"},
		{func(b *Bridge) { b.Controllers = "tcp:nowhere" }, "controller"},
		{func(b *Bridge) { b.Controllers = "tcp:127.0.0.1,tcp:127.0.0.1:6653" }, "controller"},
		{func(b *Bridge) { b.Listen = "tcp:127.0.0.1" }, "listen"},
		{func(b *Bridge) { b.FailMode = "open" }, "fail-mode"},
		{func(b *Bridge) { b.Protocols = "OpenFlow13,OpenFlow15" }, "protocols"},
		{func(b *Bridge) { b.DatapathID = "12" }, "datapath-id"},
		{func(b *Bridge) { b.DatapathID = "000002000zaa0001" }, "datapath-id"},
		{func(b *Bridge) { b.PacketInRate = -2 }, "packet-in-rate"},
		{func(b *Bridge) { b.PacketInBurst = -1 }, "packet-in-burst"},
	} {
		b := good
		bad.mod(&b)
		c.Bridges["br0"] = &b
		err := c.Validate()
		e, ok := errs.As(err)
		if !ok || e.Field != bad.field || e.Allowed == "" {
			t.Errorf("%+v: %v, want an error on %s with the allowed values", b, err, bad.field)
		}
	}
}

// A stored bridge gets a datapath id derived from its MAC, once.
func TestDatapathIDAssigned(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Update(func(c *Config) error { c.Bridges["br7"] = &Bridge{Name: "br7"}; return nil }); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Get()
	id := c.Bridges["br7"].DatapathID
	mac := BridgeMAC("br7")
	if len(id) != 16 || !strings.HasPrefix(id, "0000") || id[4:] != strings.ReplaceAll(mac.String(), ":", "") || mac[0] != 0x02 {
		t.Fatalf("datapath id %q (mac %s)", id, mac)
	}
	if DefaultDatapathID("br8") == id {
		t.Fatal("two bridges derive the same datapath id")
	}
}
