// Package e2e holds Switchyard's end-to-end tests: a real daemon in a
// network namespace, VMs as namespaces behind TAP and veth ports, real ping
// and real TCP. They need root and skip with a message without it.
package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// vm is a "VM": a namespace whose NIC is a port of the switch.
type vm struct {
	ns, nic, ip string
}

// tapVM makes a VM namespace with a TAP port of bridge br as its NIC.
func tapVM(t *testing.T, d *testnet.Daemon, br, ip string, vlanFlags ...string) vm {
	t.Helper()
	ns := testnet.NewNS(t, "vm")
	nic := testnet.Name("tp")
	args := append([]string{"port", "add", br, nic, "--type", "tap", "--netns", ns}, vlanFlags...)
	d.MustCLI(args...)
	testnet.Addr(t, ns, nic, ip+"/24")
	return vm{ns, nic, ip}
}

// vethVM makes a VM namespace joined to bridge br by a veth pair whose host
// end is a system port.
func vethVM(t *testing.T, d *testnet.Daemon, br, ip string, vlanFlags ...string) vm {
	t.Helper()
	ns := testnet.NewNS(t, "vm")
	port := testnet.Name("ve")
	args := append([]string{"veth", "add", port, "--netns", ns, "--bridge", br, "--peer-name", "eth0"}, vlanFlags...)
	d.MustCLI(args...)
	testnet.Addr(t, ns, "eth0", ip+"/24")
	return vm{ns, "eth0", ip}
}

func reach(t *testing.T, from, to vm) {
	t.Helper()
	testnet.Eventually(t, 10*time.Second, fmt.Sprintf("%s reaches %s", from.ip, to.ip), func() error {
		return testnet.Ping(from.ns, to.ip, 2)
	})
}

func noReach(t *testing.T, from vm, ip string) {
	t.Helper()
	if !testnet.PingFails(from.ns, ip) {
		t.Fatalf("%s reached %s across VLANs", from.ip, ip)
	}
}

func newSwitch(t *testing.T) *testnet.Daemon {
	testnet.RequireRoot(t)
	host := testnet.NewNS(t, "h")
	d := testnet.StartDaemon(t, host)
	d.MustCLI("bridge", "add", "br0")
	return d
}

// 1. Two VMs on TAP access ports in VLAN 10 reach each other; a third in
// VLAN 20 (same subnet) reaches neither.
func TestTAPAccessVLANs(t *testing.T) {
	t.Parallel()
	d := newSwitch(t)
	a := tapVM(t, d, "br0", "203.0.113.1", "--vlan", "10")
	b := tapVM(t, d, "br0", "203.0.113.2", "--vlan", "10")
	c := tapVM(t, d, "br0", "203.0.113.3", "--vlan", "20")
	reach(t, a, b)
	reach(t, b, a)
	noReach(t, c, a.ip)
	noReach(t, c, b.ip)
	noReach(t, a, c.ip)
	bps, err := testnet.TCPTransfer(a.ns, b.ns, b.ip+":5201", 8<<20, 30*time.Second)
	if err != nil {
		t.Fatalf("TCP over TAP ports: %v", err)
	}
	t.Logf("TCP 8 MiB over TAP access ports: %.2f Gbit/s", bps/1e9)
}

// 2. The same with veth/system ports, and with a mix of TAP and system ports.
func TestVethAndMixedPorts(t *testing.T) {
	t.Parallel()
	d := newSwitch(t)
	a := vethVM(t, d, "br0", "203.0.113.1", "--vlan", "10")
	b := vethVM(t, d, "br0", "203.0.113.2", "--vlan", "10")
	c := tapVM(t, d, "br0", "203.0.113.3", "--vlan", "10")
	x := vethVM(t, d, "br0", "203.0.113.4", "--vlan", "20")
	reach(t, a, b)
	reach(t, a, c)
	reach(t, c, b)
	noReach(t, x, a.ip)
	noReach(t, x, c.ip)
	for _, p := range []struct{ from, to vm }{{a, b}, {c, a}} {
		bps, err := testnet.TCPTransfer(p.from.ns, p.to.ns, p.to.ip+":5201", 8<<20, 30*time.Second)
		if err != nil {
			t.Fatalf("TCP %s→%s: %v", p.from.ip, p.to.ip, err)
		}
		t.Logf("TCP 8 MiB %s→%s: %.2f Gbit/s", p.from.ip, p.to.ip, bps/1e9)
	}
}

// 3. Two bridges joined by a patch trunk carrying VLANs 10 and 20: each
// VLAN connects across, never to the other.
func TestPatchTrunkBetweenBridges(t *testing.T) {
	t.Parallel()
	d := newSwitch(t)
	d.MustCLI("bridge", "add", "br1")
	d.MustCLI("port", "add", "br0", "patch-a", "--type", "patch", "--peer", "patch-b", "--trunk", "10,20")
	d.MustCLI("port", "add", "br1", "patch-b", "--type", "patch", "--peer", "patch-a", "--trunk", "10,20")
	a10 := tapVM(t, d, "br0", "203.0.113.1", "--vlan", "10")
	a20 := tapVM(t, d, "br0", "198.51.100.1", "--vlan", "20")
	b10 := tapVM(t, d, "br1", "203.0.113.2", "--vlan", "10")
	b20 := vethVM(t, d, "br1", "198.51.100.2", "--vlan", "20")
	reach(t, a10, b10)
	reach(t, b20, a20)
	// Cross-VLAN: give the VLAN 20 VMs a VLAN 10 address too; they must
	// still not reach VLAN 10.
	testnet.MustNS(t, a20.ns, "ip", "addr", "add", "203.0.113.21/24", "dev", a20.nic)
	testnet.MustNS(t, b20.ns, "ip", "addr", "add", "203.0.113.22/24", "dev", b20.nic)
	noReach(t, a20, b10.ip)
	noReach(t, b20, a10.ip)
}

// 4. Learning: after the first exchange, unicast between two VMs is no
// longer flooded to a third VM on the same VLAN.
func TestLearnedUnicastIsNotFlooded(t *testing.T) {
	t.Parallel()
	d := newSwitch(t)
	a := tapVM(t, d, "br0", "203.0.113.1", "--vlan", "10")
	b := tapVM(t, d, "br0", "203.0.113.2", "--vlan", "10")
	c := tapVM(t, d, "br0", "203.0.113.3", "--vlan", "10")
	reach(t, a, b) // ARP and learning happen here
	// Pin ARP so no broadcast refresh happens during the measurement.
	testnet.MustNS(t, a.ns, "ip", "neigh", "replace", b.ip, "lladdr", macOf(t, b), "dev", a.nic, "nud", "permanent")
	testnet.MustNS(t, b.ns, "ip", "neigh", "replace", a.ip, "lladdr", macOf(t, a), "dev", b.nic, "nud", "permanent")
	before := portCounter(t, d, "br0", c.nic, "tx_packets")
	if _, err := testnet.NS(a.ns, "ping", "-c", "50", "-i", "0.01", "-q", b.ip); err != nil {
		t.Fatal(err)
	}
	after := portCounter(t, d, "br0", c.nic, "tx_packets")
	if after-before > 2 {
		t.Fatalf("third VM's port sent %d frames during 100 learned unicast frames: unicast was flooded", after-before)
	}
	fdb := d.MustCLI("fdb", "show", "br0", "--vlan", "10")
	for _, m := range []string{macOf(t, a), macOf(t, b)} {
		if !strings.Contains(fdb, m) {
			t.Fatalf("fdb show lacks %s:\n%s", m, fdb)
		}
	}
}

// 5. The host reaches a VM through an internal port with an IP on it.
func TestInternalPort(t *testing.T) {
	t.Parallel()
	d := newSwitch(t)
	a := tapVM(t, d, "br0", "203.0.113.1")
	in := testnet.Name("in")
	d.MustCLI("port", "add", "br0", in, "--type", "internal")
	testnet.Addr(t, d.NS, in, "203.0.113.254/24")
	host := vm{d.NS, in, "203.0.113.254"}
	reach(t, host, a)
	reach(t, a, host)
}

// 6. Daemon killed with kill -9 and restarted: the VMs reach each other
// again without any command.
func TestKill9Restart(t *testing.T) {
	t.Parallel()
	d := newSwitch(t)
	a := tapVM(t, d, "br0", "203.0.113.1", "--vlan", "10")
	b := vethVM(t, d, "br0", "203.0.113.2", "--vlan", "10")
	c := tapVM(t, d, "br0", "203.0.113.3", "--vlan", "20")
	d.MustCLI("fdb", "add", "br0", "02:00:00:00:aa:01", a.nic, "--vlan", "10")
	reach(t, a, b)
	for round := 0; round < 3; round++ {
		d.Kill()
		if !testnet.PingFails(a.ns, b.ip) {
			t.Fatal("traffic flowed with the daemon dead: is something else switching?")
		}
		d.Start()
		reach(t, a, b)
		reach(t, b, a)
		noReach(t, c, a.ip)
	}
	if fdb := d.MustCLI("fdb", "show", "br0"); !strings.Contains(fdb, "02:00:00:00:aa:01") {
		t.Fatalf("static FDB entry lost across restarts:\n%s", fdb)
	}
}

func macOf(t *testing.T, v vm) string {
	t.Helper()
	out := testnet.MustNS(t, v.ns, "cat", "/sys/class/net/"+v.nic+"/address")
	return strings.TrimSpace(out)
}

// portCounter reads one counter of a port from `switchyard stats BR PORT
// --json`, wherever the field sits in the document.
func portCounter(t *testing.T, d *testnet.Daemon, br, port, field string) uint64 {
	t.Helper()
	out := d.MustCLI("stats", br, port, "--json")
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("stats --json is not JSON: %v\n%s", err, out)
	}
	n, ok := findNumber(v, field)
	if !ok {
		t.Fatalf("stats --json has no %q:\n%s", field, out)
	}
	return n
}

func findNumber(v any, key string) (uint64, bool) {
	switch x := v.(type) {
	case map[string]any:
		if f, ok := x[key].(float64); ok {
			return uint64(f), true
		}
		for _, e := range x {
			if n, ok := findNumber(e, key); ok {
				return n, true
			}
		}
	case []any:
		for _, e := range x {
			if n, ok := findNumber(e, key); ok {
				return n, true
			}
		}
	}
	return 0, false
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
