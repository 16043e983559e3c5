package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// OpenFlow end to end: real ovs-ofctl (plain OpenFlow 1.0 and -O
// OpenFlow13, over the management socket and TCP), os-ken and
// ovs-testcontroller drive a real daemon whose VMs are namespaces behind
// TAP ports; the engine's own commands (flow dump, trace, dpctl) show what
// the controllers installed.

// requireOFPeer skips without root and fails when a peer binary is
// missing as root (CI installs them: .ci/packages/ofint.txt).
func requireOFPeer(t *testing.T, bins ...string) {
	t.Helper()
	testnet.RequireRoot(t)
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s is missing: install it (.ci/packages/ofint.txt, .ci/deps)", b)
		}
	}
}

// mgmt is the management socket of bridge br of daemon d.
func mgmt(d *testnet.Daemon, br string) string {
	return filepath.Join(filepath.Dir(d.Socket), br+".mgmt")
}

// ofctl runs ovs-ofctl in namespace ns ("" for the test's own) with a
// private run directory.
func ofctl(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"ovs-ofctl"}, args...)
	if ns != "" {
		full = append([]string{"ip", "netns", "exec", ns}, full...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ovs-ofctl %s: %w: %s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

func mustOfctl(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := ofctl(t, ns, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bgProc is a background peer process (killed by its PID at the end).
type bgProc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func ofStartBG(t *testing.T, ns string, env []string, args ...string) *bgProc {
	t.Helper()
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	p := &bgProc{cmd: cmd, out: out}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", strings.Join(args, " "), out.String())
		}
	})
	return p
}

func (p *bgProc) kill() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// wait waits until the process printed something matching re (counting
// from offset from) and returns everything it printed.
func (p *bgProc) wait(t *testing.T, re string, d time.Duration, poke func()) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for !rx.MatchString(p.out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("never printed %q:\n%s", re, p.out.String())
		}
		if poke != nil {
			poke()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return p.out.String()
}

func flowDumpJSON(t *testing.T, d *testnet.Daemon, br string) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal([]byte(d.MustCLI("flow", "dump", br, "--json")), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// ofFreePort picks a TCP port for a listener inside a fresh namespace
// (nothing else listens there).
var ofFreePort = func() func() int {
	var mu sync.Mutex
	n := 16000 + os.Getpid()%20000
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		n++
		return n
	}
}()

// TestOpenFlowOvsOfctl drives a bridge with ovs-ofctl, plain and -O
// OpenFlow13, over the management socket and over TCP, and checks the
// effect on real traffic between two VMs and in the engine's own view.
func TestOpenFlowOvsOfctl(t *testing.T) {
	requireOFPeer(t, "ovs-ofctl")
	d := newSwitch(t)
	port := ofFreePort()
	d.MustCLI("bridge", "set", "br0", "--listen", fmt.Sprintf("ptcp:%d:127.0.0.1", port))
	a := tapVM(t, d, "br0", "203.0.113.1")
	b := tapVM(t, d, "br0", "203.0.113.2")
	reach(t, a, b) // the default NORMAL rule
	sock := mgmt(d, "br0")
	targets := map[string]string{"punix": "unix:" + sock, "ptcp": fmt.Sprintf("tcp:127.0.0.1:%d", port)}
	for _, mode := range []struct {
		name  string
		flags []string
	}{{"plain", nil}, {"OpenFlow13", []string{"-O", "OpenFlow13"}}} {
		for ep, target := range targets {
			name := mode.name + "/" + ep
			run := func(args ...string) string {
				t.Helper()
				return mustOfctl(t, d.NS, append(append([]string{}, mode.flags...), args...)...)
			}
			out := run("show", target)
			for _, want := range []string{"1(" + a.nic + ")", "2(" + b.nic + ")", "n_tables:254"} {
				if !strings.Contains(out, want) {
					t.Fatalf("%s show lacks %q:\n%s", name, want, out)
				}
			}
			run("del-flows", target)
			if !testnet.PingFails(a.ns, b.ip) {
				t.Fatalf("%s: ping works with no flows", name)
			}
			file := filepath.Join(t.TempDir(), "flows.txt")
			os.WriteFile(file, []byte(fmt.Sprintf("# by number and by name\npriority=100,in_port=1,actions=output:2\npriority=100,in_port=%s,actions=output:%s\n", b.nic, a.nic)), 0o644)
			run("add-flows", target, file)
			reach(t, a, b)
			// The engine shows what ovs-ofctl installed, as OpenFlow's.
			n := 0
			for _, f := range flowDumpJSON(t, d, "br0") {
				if f["origin"] == "openflow" && f["priority"] == float64(100) {
					n++
				}
			}
			if n != 2 {
				t.Fatalf("%s: flow dump shows %d OpenFlow rules:\n%s", name, n, d.MustCLI("flow", "dump", "br0"))
			}
			tr := d.MustCLI("trace", "br0", fmt.Sprintf("in_port=%s,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02", a.nic))
			if !strings.Contains(tr, "output to "+b.nic) {
				t.Fatalf("%s: trace:\n%s", name, tr)
			}
			if dp := d.MustCLI("dpctl", "dump-flows", "br0"); !strings.Contains(dp, "actions:2") {
				t.Fatalf("%s: dpctl:\n%s", name, dp)
			}
			out = run("dump-flows", target)
			if !regexp.MustCompile(`n_packets=[1-9]`).MatchString(out) || !strings.Contains(out, "priority=100,in_port=1") {
				t.Fatalf("%s dump-flows:\n%s", name, out)
			}
			if out = run("dump-aggregate", target); !strings.Contains(out, "flow_count=2") {
				t.Fatalf("%s dump-aggregate:\n%s", name, out)
			}
			// mod-flows to drop, then back.
			run("mod-flows", target, "in_port=1,actions=drop")
			if !testnet.PingFails(a.ns, b.ip) {
				t.Fatalf("%s: ping works after mod-flows to drop", name)
			}
			run("--strict", "mod-flows", target, "priority=100,in_port=1,actions=output:2")
			reach(t, a, b)
			// del-flows --strict of another priority leaves the flow.
			run("--strict", "del-flows", target, "priority=99,in_port=1")
			reach(t, a, b)
			run("--strict", "del-flows", target, "priority=100,in_port=1")
			if !testnet.PingFails(a.ns, b.ip) {
				t.Fatalf("%s: ping works after del-flows --strict", name)
			}
			run("add-flow", target, "priority=100,in_port=1,actions=output:2")
			if out = run("dump-tables", target); !strings.Contains(out, "active=2") {
				t.Fatalf("%s dump-tables:\n%s", name, out)
			}
			if out = run("dump-ports", target, "1"); !regexp.MustCompile(`rx pkts=[1-9]`).MatchString(out) {
				t.Fatalf("%s dump-ports:\n%s", name, out)
			}
			if out = run("dump-ports-desc", target); !strings.Contains(out, b.nic) {
				t.Fatalf("%s dump-ports-desc:\n%s", name, out)
			}
			// mod-port down: nothing goes out of (or in from) port 2.
			run("mod-port", target, b.nic, "down")
			if !testnet.PingFails(a.ns, b.ip) {
				t.Fatalf("%s: ping works with port 2 down", name)
			}
			if out = run("dump-ports-desc", target); !strings.Contains(out, "PORT_DOWN") {
				t.Fatalf("%s: dump-ports-desc after mod-port down:\n%s", name, out)
			}
			run("mod-port", target, b.nic, "up")
			reach(t, a, b)
			// packet-out from the controller to port 2.
			before := portCounter(t, d, "br0", b.nic, "tx_packets")
			frame := "ffffffffffff0200000000aa08004500001c000100004001f68ccb007101cb0071020800f7ff00000000"
			run("packet-out", target, "in_port=controller packet="+frame+" actions=output:2")
			testnet.Eventually(t, 5*time.Second, name+" packet-out reaches port 2", func() error {
				if n := portCounter(t, d, "br0", b.nic, "tx_packets"); n <= before {
					return fmt.Errorf("tx_packets %d", n)
				}
				return nil
			})
		}
	}
	// Groups, meters and monitor (OpenFlow 1.3 and the management socket).
	o13 := func(args ...string) string { return mustOfctl(t, "", append([]string{"-O", "OpenFlow13"}, args...)...) }
	target := "unix:" + sock
	o13("del-flows", target)
	o13("add-group", target, "group_id=1,type=select,bucket=weight:10,actions=output:2")
	o13("add-flow", target, "priority=10,in_port=1,actions=group:1")
	o13("add-flow", target, "priority=10,in_port=2,actions=output:1")
	reach(t, a, b)
	if out := o13("dump-groups", target); !strings.Contains(out, "group_id=1,type=select,bucket=weight:10,actions=output:2") {
		t.Fatalf("dump-groups:\n%s", out)
	}
	if out := o13("dump-group-stats", target); !regexp.MustCompile(`group_id=1,.*ref_count=1,packet_count=[1-9]`).MatchString(out) {
		t.Fatalf("dump-group-stats:\n%s", out)
	}
	o13("del-groups", target)
	if out := o13("dump-flows", target); strings.Contains(out, "group:1") {
		t.Fatalf("the flow to group 1 survived its group:\n%s", out)
	}
	if !testnet.PingFails(a.ns, b.ip) {
		t.Fatal("ping works after del-groups removed the flow")
	}
	// A meter of 1 packet/s with a burst of 1 in front of port 2.
	o13("add-meter", target, "meter=1,pktps,burst,stats,bands=type=drop,rate=1,burst_size=1")
	o13("add-flow", target, "priority=10,in_port=1,actions=meter:1,output:2")
	if out := o13("dump-meters", target); !strings.Contains(out, "meter=1 pktps burst stats bands=") || !strings.Contains(out, "type=drop rate=1 burst_size=1") {
		t.Fatalf("dump-meters:\n%s", out)
	}
	testnet.NS(a.ns, "ping", "-c", "10", "-i", "0.1", "-W", "1", "-q", b.ip)
	out := o13("meter-stats", target)
	m := regexp.MustCompile(`meter:1 flow_count:1 packet_in_count:(\d+) .*\n0: packet_count:(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("meter-stats:\n%s", out)
	}
	in, dropped := atoi(m[1]), atoi(m[2])
	if in < 10 || dropped < in/2 {
		t.Fatalf("a 1 pkt/s meter dropped %d of %d:\n%s", dropped, in, out)
	}
	// monitor: a packet-in for every packet a flow sends to the
	// controller, plain and 1.3.
	for _, flags := range [][]string{nil, {"-O", "OpenFlow13"}} {
		mon := ofStartBG(t, "", []string{"OVS_RUNDIR=" + t.TempDir()}, append(append([]string{"ovs-ofctl"}, flags...), "monitor", target, "65534")...)
		o13("add-flow", target, "priority=200,in_port=1,icmp,actions=CONTROLLER:128")
		out := mon.wait(t, `PACKET_IN.*in_port=1`, 15*time.Second, func() { testnet.NS(a.ns, "ping", "-c", "1", "-W", "1", "-q", b.ip) })
		if !strings.Contains(out, "icmp") {
			t.Fatalf("monitor %v:\n%s", flags, out)
		}
		mon.kill()
		o13("--strict", "del-flows", target, "priority=200,in_port=1,icmp")
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// osken starts an os-ken OpenFlow 1.3 learning switch (testdata of package
// openflow) listening on 127.0.0.1:port in namespace ns.
func osken(t *testing.T, ns string, port int) *bgProc {
	t.Helper()
	app, err := filepath.Abs("../openflow/testdata/osken_l2switch13.py")
	if err != nil {
		t.Fatal(err)
	}
	return ofStartBG(t, ns, nil, "osken-manager", "--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", strconv.Itoa(port), app)
}

// TestOpenFlowOsKenSecure: an os-ken learning switch programs a bridge in
// secure mode; two VMs on TAP ports, and one behind a kernel VXLAN VTEP,
// reach each other only through the flows it installs (packet-ins from
// the tunnel carry its tunnel_id); the flows stay when the controller
// goes (secure); the daemon restarted under it comes back empty, reconnects
// and is programmed again.
func TestOpenFlowOsKenSecure(t *testing.T) {
	requireOFPeer(t, "osken-manager")
	host, k := underlayPair(t)
	d := testnet.StartDaemon(t, host)
	port := ofFreePort()
	d.MustCLI("bridge", "add", "br0", "--fail-mode", "secure", "--controller", fmt.Sprintf("tcp:127.0.0.1:%d", port), "--protocols", "OpenFlow13")
	a := tapVM(t, d, "br0", "203.0.113.1")
	b := tapVM(t, d, "br0", "203.0.113.2")
	kernelHost(t, k, "198.18.0.2", 5001, 4789)
	testnet.MustNS(t, k, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan0", "dst", "198.18.0.1")
	testnet.Addr(t, k, "br0", "203.0.113.3/24")
	testnet.MustNS(t, k, "ip", "link", "set", "br0", "mtu", "1450")
	kv := vm{ns: k, ip: "203.0.113.3"}
	d.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "5001", "--local", "198.18.0.1", "--remote", "198.18.0.2")
	for _, v := range []vm{a, b} {
		testnet.MustNS(t, v.ns, "ip", "link", "set", v.nic, "mtu", "1450")
	}
	if l := flowDumpJSON(t, d, "br0"); len(l) != 0 {
		t.Fatalf("a bridge created secure has flows: %v", l)
	}
	if !testnet.PingFails(a.ns, b.ip) {
		t.Fatal("VMs reach each other on a secure bridge with no controller")
	}
	app := osken(t, host, port)
	app.wait(t, "SWITCH dpid=", 60*time.Second, nil)
	reach(t, a, b)
	reach(t, b, a)
	reach(t, a, kv)
	reach(t, kv, b)
	out := app.wait(t, `PACKET_IN in_port=\d+ .* tunnel_id=5001`, 10*time.Second, nil)
	_ = out
	learned, miss := 0, 0
	for _, f := range flowDumpJSON(t, d, "br0") {
		if f["origin"] != "openflow" {
			t.Fatalf("a flow not from OpenFlow: %v", f)
		}
		if f["priority"] == float64(1) && f["idle_timeout"] == float64(60) {
			learned++
		}
		if f["priority"] == float64(0) && strings.Contains(f["actions"].(string), "CONTROLLER") {
			miss++
		}
	}
	if learned < 4 || miss != 1 {
		t.Fatalf("os-ken's flows: %d learned, %d table-miss:\n%s", learned, miss, d.MustCLI("flow", "dump", "br0"))
	}
	if tr := d.MustCLI("trace", "br0", fmt.Sprintf("in_port=%s,dl_src=%s,dl_dst=%s", a.nic, macOf(t, a), macOf(t, b))); !strings.Contains(tr, "output to "+b.nic) {
		t.Fatalf("trace of a learned flow:\n%s", tr)
	}
	// Secure: the controller goes, its flows stay.
	app.kill()
	reach(t, a, b)
	// Restart the daemon: OpenFlow flows are not stored; the bridge comes
	// back empty, and os-ken programs it again once it reconnects.
	d.Stop()
	d.Start()
	if l := flowDumpJSON(t, d, "br0"); len(l) != 0 {
		t.Fatalf("flows after a restart without a controller: %v", l)
	}
	if !testnet.PingFails(a.ns, b.ip) {
		t.Fatal("VMs reach each other after a restart with no controller")
	}
	app2 := osken(t, host, port)
	app2.wait(t, "SWITCH dpid=", 60*time.Second, nil)
	reach(t, a, b)
	reach(t, a, kv)
}

// TestOpenFlowTestcontroller: ovs-testcontroller, an independent learning
// controller, programs a secure bridge (negotiating OpenFlow 1.3 from its
// 1.0-1.5 offer) over TCP; a restart of the controller is survived.
func TestOpenFlowTestcontroller(t *testing.T) {
	requireOFPeer(t, "ovs-testcontroller", "ovs-ofctl")
	d := newSwitch(t)
	port := ofFreePort()
	d.MustCLI("bridge", "del", "br0")
	d.MustCLI("bridge", "add", "br0", "--fail-mode", "secure", "--controller", fmt.Sprintf("tcp:127.0.0.1:%d", port))
	a := tapVM(t, d, "br0", "203.0.113.1")
	b := tapVM(t, d, "br0", "203.0.113.2")
	if !testnet.PingFails(a.ns, b.ip) {
		t.Fatal("VMs reach each other on a secure bridge with no controller")
	}
	env := []string{"OVS_RUNDIR=" + t.TempDir()}
	tc := ofStartBG(t, d.NS, env, "ovs-testcontroller", fmt.Sprintf("ptcp:%d:127.0.0.1", port))
	reach(t, a, b)
	reach(t, b, a)
	out := mustOfctl(t, "", "-O", "OpenFlow13", "dump-flows", "unix:"+mgmt(d, "br0"))
	if !regexp.MustCompile(`idle_timeout=\d+.*actions=output:`).MatchString(out) {
		t.Fatalf("ovs-testcontroller's flows:\n%s", out)
	}
	tc.kill()
	ofStartBG(t, d.NS, env, "ovs-testcontroller", fmt.Sprintf("ptcp:%d:127.0.0.1", port))
	mustOfctl(t, "", "del-flows", "unix:"+mgmt(d, "br0"))
	reach(t, a, b)
}

// TestOpenFlowLinkStatusFastFailover: a VM's NIC going down is a
// PORT_STATUS (LINK_DOWN) that ovs-ofctl monitor shows, and a fast_failover
// group watching that port moves the traffic to its second bucket — a VM
// with the same addresses on another port — and back when the link
// returns.
func TestOpenFlowLinkStatusFastFailover(t *testing.T) {
	requireOFPeer(t, "ovs-ofctl")
	d := newSwitch(t)
	a := tapVM(t, d, "br0", "203.0.113.1")
	b := tapVM(t, d, "br0", "203.0.113.2")
	c := tapVM(t, d, "br0", "203.0.113.2") // the standby: same IP and MAC as b
	testnet.MustNS(t, c.ns, "ip", "link", "set", c.nic, "address", macOf(t, b))
	target := "unix:" + mgmt(d, "br0")
	o13 := func(args ...string) string { return mustOfctl(t, "", append([]string{"-O", "OpenFlow13"}, args...)...) }
	o13("del-flows", target)
	o13("add-group", target, "group_id=7,type=fast_failover,bucket=watch_port:2,actions=output:2,bucket=watch_port:3,actions=output:3")
	o13("add-flow", target, "priority=10,in_port=1,actions=group:7")
	o13("add-flow", target, "priority=10,in_port=2,actions=output:1")
	o13("add-flow", target, "priority=10,in_port=3,actions=output:1")
	reach(t, a, b)
	before := portCounter(t, d, "br0", c.nic, "tx_packets")
	mon := ofStartBG(t, "", []string{"OVS_RUNDIR=" + t.TempDir()}, "ovs-ofctl", "-O", "OpenFlow13", "monitor", target, "65534")
	time.Sleep(300 * time.Millisecond) // the monitor's connection is up before the change (its output is polled below)
	testnet.MustNS(t, b.ns, "ip", "link", "set", b.nic, "down")
	out := mon.wait(t, `PORT_STATUS[^\n]*MOD: 2\(`+regexp.QuoteMeta(b.nic)+`\)(?s).*LINK_DOWN`, 15*time.Second, nil)
	_ = out
	reach(t, a, c)
	if n := portCounter(t, d, "br0", c.nic, "tx_packets"); n <= before {
		t.Fatalf("traffic did not fail over to port 3 (tx %d → %d)", before, n)
	}
	testnet.MustNS(t, b.ns, "ip", "link", "set", b.nic, "up")
	mon.wait(t, `(?s)LINK_DOWN.*PORT_STATUS[^\n]*MOD: 2\(`+regexp.QuoteMeta(b.nic)+`\)[^\n]*\n[^\n]*\n\s*state:\s+LIVE`, 15*time.Second, nil)
	cBefore := portCounter(t, d, "br0", c.nic, "tx_packets")
	reach(t, a, b)
	if n := portCounter(t, d, "br0", c.nic, "tx_packets"); n > cBefore+1 {
		t.Fatalf("traffic stayed on the standby after port 2 came back (tx %d → %d)", cBefore, n)
	}
}
