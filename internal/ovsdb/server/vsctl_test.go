package server

import (
	"strings"
	"testing"
)

// Every ovs-vsctl command of issue 11, against our server, with the
// database checked after each (--no-wait: there is no vswitchd to bump
// cur_cfg until phase 2).
func TestOvsVsctl(t *testing.T) {
	ts := startServer(t, Config{})
	v := ts.vsctl
	v("init")
	v("add-br", "br0")
	v("--may-exist", "add-br", "br0")
	if out, code := ts.vsctlFail("add-br", "br0"); code == 0 || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate add-br: %d %s", code, out)
	}
	v("add-br", "br1")
	if got := v("list-br"); got != "br0\nbr1\n" {
		t.Fatalf("list-br: %q", got)
	}
	v("br-exists", "br0")
	if _, code := ts.vsctlFail("br-exists", "nope"); code != 2 {
		t.Fatalf("br-exists nope: exit %d, want 2", code)
	}
	// Ports of every type, with the options users type.
	v("add-port", "br0", "tap1", "tag=10", "--", "set", "interface", "tap1", "type=tap")
	v("add-port", "br0", "up0", "trunks=10,20", "vlan_mode=native-untagged", "--", "set", "port", "up0", "tag=1")
	v("add-port", "br0", "int0", "--", "set", "interface", "int0", "type=internal", "ofport_request=10")
	v("add-port", "br0", "vx0", "--", "set", "interface", "vx0", "type=vxlan",
		"options:remote_ip=198.18.0.2", "options:local_ip=198.18.0.1", "options:key=5001", "options:dst_port=4789")
	v("add-port", "br0", "gnv0", "--", "set", "interface", "gnv0", "type=geneve", "options:remote_ip=flow", "options:key=flow")
	v("add-port", "br0", "gre0", "--", "set", "interface", "gre0", "type=gre", "options:remote_ip=198.18.0.3")
	v("add-port", "br0", "patch-a", "--", "set", "interface", "patch-a", "type=patch", "options:peer=patch-b")
	v("add-port", "br1", "patch-b", "--", "set", "interface", "patch-b", "type=patch", "options:peer=patch-a")
	v("--may-exist", "add-port", "br0", "tap1")
	if got := v("list-ports", "br0"); got != "gnv0\ngre0\nint0\npatch-a\ntap1\nup0\nvx0\n" {
		t.Fatalf("list-ports: %q", got)
	}
	if got := v("port-to-br", "patch-b"); got != "br1\n" {
		t.Fatalf("port-to-br: %q", got)
	}
	if got := v("iface-to-br", "vx0"); got != "br0\n" {
		t.Fatalf("iface-to-br: %q", got)
	}
	if got := v("get", "interface", "vx0", "type", "options:remote_ip", "options:key"); got != "vxlan\n\"198.18.0.2\"\n\"5001\"\n" {
		t.Fatalf("get vx0: %q", got)
	}
	if got := v("get", "port", "tap1", "tag"); got != "10\n" {
		t.Fatalf("tag: %q", got)
	}
	if got := v("get", "interface", "int0", "ofport_request"); got != "10\n" {
		t.Fatalf("ofport_request: %q", got)
	}
	show := v("show")
	for _, want := range []string{"Bridge br0", "Bridge br1", "Port vx0", "type: vxlan", `options: {dst_port="4789", key="5001", local_ip="198.18.0.1", remote_ip="198.18.0.2"}`,
		"tag: 10", "trunks: [10, 20]", "options: {peer=patch-b}", "type: geneve", `options: {key=flow, remote_ip=flow}`} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	// set/get/list/find/add/remove/clear.
	v("set", "port", "up0", "vlan_mode=trunk")
	v("add", "port", "up0", "trunks", "30")
	if got := v("get", "port", "up0", "trunks"); got != "[10, 20, 30]\n" {
		t.Fatalf("add trunks: %q", got)
	}
	v("remove", "port", "up0", "trunks", "10")
	if got := v("get", "port", "up0", "trunks"); got != "[20, 30]\n" {
		t.Fatalf("remove trunks: %q", got)
	}
	v("clear", "port", "up0", "trunks")
	if got := v("get", "port", "up0", "trunks"); got != "[]\n" {
		t.Fatalf("clear trunks: %q", got)
	}
	v("set", "bridge", "br0", "other_config:mac-aging-time=100", "other_config:mac-table-size=4096", "protocols=OpenFlow10,OpenFlow13", "other_config:datapath-id=0000000000000abc")
	v("remove", "bridge", "br0", "other_config", "mac-table-size")
	if got := v("get", "bridge", "br0", "other_config"); !strings.Contains(got, `mac-aging-time="100"`) || strings.Contains(got, "mac-table-size") {
		t.Fatalf("other_config: %q", got)
	}
	if got := v("--bare", "--columns=name", "find", "port", "tag=10"); got != "tap1\n" {
		t.Fatalf("find: %q", got)
	}
	if got := v("--bare", "--columns=name", "find", "interface", "type=patch"); got != "patch-a\n\npatch-b\n" && got != "patch-b\n\npatch-a\n" {
		t.Fatalf("find patch: %q", got)
	}
	if list := v("list", "interface", "vx0"); !strings.Contains(list, "remote_ip=\"198.18.0.2\"") || !strings.Contains(list, "name                : vx0") {
		t.Fatalf("list interface:\n%s", list)
	}
	// Controllers and fail mode.
	v("set-controller", "br0", "tcp:127.0.0.1:6653", "ptcp:6654")
	if got := v("get-controller", "br0"); got != "ptcp:6654\ntcp:127.0.0.1:6653\n" {
		t.Fatalf("get-controller: %q", got)
	}
	v("set-fail-mode", "br0", "secure")
	if got := v("get-fail-mode", "br0"); got != "secure\n" {
		t.Fatalf("fail mode: %q", got)
	}
	v("del-controller", "br0")
	if got := v("list", "controller"); got != "" {
		t.Fatalf("controllers not collected after del-controller: %q", got)
	}
	// --id=@name create, destroy.
	uuid := strings.TrimSpace(v("--", "--id=@q", "create", "qos", "type=linux-htb", "other_config:max-rate=1000000", "--", "set", "port", "tap1", "qos=@q"))
	if got := v("get", "port", "tap1", "qos"); strings.TrimSpace(got) != uuid {
		t.Fatalf("qos ref %q, want %q", got, uuid)
	}
	if out, code := ts.vsctlFail("destroy", "qos", uuid); code == 0 || !strings.Contains(out, "referential integrity violation") {
		t.Fatalf("destroy of a referenced QoS: %d %s", code, out)
	}
	v("clear", "port", "tap1", "qos", "--", "destroy", "qos", uuid)
	if got := v("list", "qos"); got != "" {
		t.Fatalf("qos left: %q", got)
	}
	// Constraint violations name the column and the allowed values.
	if out, code := ts.vsctlFail("set", "interface", "int0", "ofport_request=70000"); code == 0 || !strings.Contains(out, "constraint violation") {
		t.Fatalf("ofport_request=70000: %d %s", code, out)
	}
	if out, code := ts.vsctlFail("set", "port", "tap1", "vlan_mode=bogus"); code == 0 || !strings.Contains(out, "bogus") {
		t.Fatalf("vlan_mode=bogus: %d %s", code, out)
	}
	// --if-exists, del-port, del-br (ports and interfaces collected).
	v("--if-exists", "del-port", "nope")
	if _, code := ts.vsctlFail("del-port", "nope"); code == 0 {
		t.Fatal("del-port of a missing port succeeded")
	}
	v("del-port", "br0", "gre0")
	v("--if-exists", "del-br", "nope")
	v("del-br", "br1")
	if out, code := ts.vsctlFail("list", "interface", "patch-b"); code == 0 || !strings.Contains(out, "no row") {
		t.Fatalf("patch-b still there after del-br br1: %d %q", code, out)
	}
	v("del-br", "br0")
	for _, tab := range []string{"bridge", "port", "interface"} {
		if got := v("list", tab); got != "" {
			t.Fatalf("%s rows left after del-br: %q", tab, got)
		}
	}
}
