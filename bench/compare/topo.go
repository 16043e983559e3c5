package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Overlay and underlay addresses (TEST-NET-3 and the benchmarking range;
// nothing here is routable, and no namespace has a route out).
const (
	vm1IP    = "203.0.113.1"
	vm2IP    = "203.0.113.2"
	hostAIP  = "198.18.0.1"
	hostBIP  = "198.18.0.2"
	vni      = "5001"
	vxlanMTU = "1450"
)

// topology is one system under test.
type topology struct {
	Name  string `json:"name"`
	Class string `json:"class"` // "a" same host, "b" two hosts over VXLAN
	Kind  string `json:"kind"`  // kernel, switchyard, ovs
	Desc  string `json:"desc"`
	// For Switchyard systems: the references the ratios are taken to.
	KernelRef string `json:"kernel_ref,omitempty"`
	OVSRef    string `json:"ovs_ref,omitempty"`
	// BaseRef is, for a system with flow rules, the NORMAL-only
	// Switchyard system it is otherwise built like.
	BaseRef string `json:"base_ref,omitempty"`
	// ACLRules is the number of rules the system installs (0: NORMAL only).
	ACLRules int `json:"acl_rules,omitempty"`
	build    func(e *buildEnv) (*instance, error)
}

// instance is a built topology: where the client and server run, and the
// daemons whose runtime figures are read.
type instance struct {
	client, server, serverIP string
	daemons                  []*syDaemon
	daemonNames              []string
	settings                 []string
	// aclRules is the rule count installed in every daemon (0: none).
	aclRules int
}

// buildEnv is what a builder gets: the run's context, the scope that owns
// what it makes, and names unique to this harness process and run.
type buildEnv struct {
	ctx    context.Context
	s      *scope
	b      *harness
	tag    string // e.g. "r1t3": round 1, topology 3
	dir    string // this run's temp dir
	inst   *instance
	prefix string // namespace prefix, "cmp<pid>-r1t3-"
}

func (e *buildEnv) nsName(role string) string { return e.prefix + role }

func (e *buildEnv) newNS(roles ...string) ([]string, error) {
	var names []string
	for _, r := range roles {
		n := e.nsName(r)
		if err := e.s.netns(e.ctx, n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, nil
}

func (e *buildEnv) note(format string, a ...any) {
	e.inst.settings = append(e.inst.settings, fmt.Sprintf(format, a...))
}

// vethToVM creates a veth pair whose end host lives in namespace hostNS and
// whose end eth0 lives in vmNS, without ever touching the harness's own
// namespace.
func vethToVM(ctx context.Context, hostNS, host, vmNS string) error {
	return runAll(ctx,
		[]string{"ip", "-n", hostNS, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", vmNS},
		[]string{"ip", "-n", hostNS, "link", "set", host, "up"},
	)
}

// vmAddr gives the VM's NIC its address (/24), an MTU if set, and brings it up.
func vmAddr(ctx context.Context, vmNS, dev, ip, mtu string) error {
	up := []string{"ip", "-n", vmNS, "link", "set", dev, "up"}
	if mtu != "" {
		up = []string{"ip", "-n", vmNS, "link", "set", dev, "mtu", mtu, "up"}
	}
	return runAll(ctx, []string{"ip", "-n", vmNS, "addr", "add", ip + "/24", "dev", dev}, up)
}

var topologies = []*topology{
	{Name: "linux-bridge", Class: "a", Kind: "kernel", Desc: "Linux bridge, veth ports", build: buildLinuxBridge},
	{Name: "switchyard-tap", Class: "a", Kind: "switchyard", Desc: "Switchyard bridge, TAP ports created in the VMs", KernelRef: "linux-bridge", OVSRef: "ovs-tap", build: buildSwitchyardTap},
	{Name: "switchyard-tap-acl", Class: "a", Kind: "switchyard", Desc: "switchyard-tap with a 1,003-rule ACL (three tables, eight masks) in front of NORMAL", KernelRef: "linux-bridge", OVSRef: "ovs-tap", BaseRef: "switchyard-tap", ACLRules: aclSystemRules, build: withACL(buildSwitchyardTap)},
	{Name: "switchyard-veth", Class: "a", Kind: "switchyard", Desc: "Switchyard bridge, `veth add` ports", KernelRef: "linux-bridge", OVSRef: "ovs-veth", build: buildSwitchyardVeth},
	{Name: "ovs-tap", Class: "a", Kind: "ovs", Desc: "OVS 3.1 netdev, internal (TAP) ports moved into the VMs, userspace TSO", build: buildOVSTap},
	{Name: "ovs-veth", Class: "a", Kind: "ovs", Desc: "OVS 3.1 netdev, veth system ports, userspace TSO", build: buildOVSVeth},
	{Name: "kernel-vxlan", Class: "b", Kind: "kernel", Desc: "Linux bridge + kernel VXLAN per host, veth VM ports", build: buildKernelVXLAN},
	{Name: "switchyard-vxlan", Class: "b", Kind: "switchyard", Desc: "Switchyard per host, TAP VM port + VXLAN port", KernelRef: "kernel-vxlan", OVSRef: "ovs-vxlan", build: buildSwitchyardVXLAN},
	{Name: "switchyard-vxlan-acl", Class: "b", Kind: "switchyard", Desc: "switchyard-vxlan with the 1,003-rule ACL in each host's daemon", KernelRef: "kernel-vxlan", OVSRef: "ovs-vxlan", BaseRef: "switchyard-vxlan", ACLRules: aclSystemRules, build: withACL(buildSwitchyardVXLAN)},
	{Name: "ovs-vxlan", Class: "b", Kind: "ovs", Desc: "OVS 3.1 netdev per host: br-phy owns the underlay, br-int with a VXLAN port, TAP VM port", build: buildOVSVXLAN},
}

func topologyByName(name string) *topology {
	for _, t := range topologies {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// ---- (a) same host: two VMs on one switch -------------------------------

// sameHost makes the host namespace and the two VM namespaces.
func sameHost(e *buildEnv) (h, v1, v2 string, err error) {
	ns, err := e.newNS("h", "v1", "v2")
	if err != nil {
		return "", "", "", err
	}
	e.inst.client, e.inst.server, e.inst.serverIP = ns[1], ns[2], vm2IP
	return ns[0], ns[1], ns[2], nil
}

func buildLinuxBridge(e *buildEnv) (*instance, error) {
	h, v1, v2, err := sameHost(e)
	if err != nil {
		return nil, err
	}
	if err := runAll(e.ctx,
		[]string{"ip", "-n", h, "link", "add", "br0", "type", "bridge"},
		[]string{"ip", "-n", h, "link", "set", "br0", "up"},
	); err != nil {
		return nil, err
	}
	for i, vm := range []string{v1, v2} {
		port := fmt.Sprintf("p%d", i+1)
		if err := vethToVM(e.ctx, h, port, vm); err != nil {
			return nil, err
		}
		if _, err := run(e.ctx, "ip", "-n", h, "link", "set", port, "master", "br0"); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, "eth0", []string{vm1IP, vm2IP}[i], ""); err != nil {
			return nil, err
		}
	}
	e.note("bridge br0 (STP off), veth p1/p2 ↔ VM eth0, default offloads")
	return e.inst, nil
}

func (e *buildEnv) switchyard(hostNS, label string) (*syDaemon, error) {
	dir := filepath.Join(e.dir, "sy-"+label)
	d, err := startSwitchyard(e.ctx, e.s, e.b.bin, hostNS, dir)
	if err != nil {
		return nil, err
	}
	e.inst.daemons = append(e.inst.daemons, d)
	e.inst.daemonNames = append(e.inst.daemonNames, label)
	if _, err := d.cli(e.ctx, "bridge", "add", "br0"); err != nil {
		return nil, err
	}
	return d, nil
}

func buildSwitchyardTap(e *buildEnv) (*instance, error) {
	h, v1, v2, err := sameHost(e)
	if err != nil {
		return nil, err
	}
	d, err := e.switchyard(h, "h")
	if err != nil {
		return nil, err
	}
	for i, vm := range []string{v1, v2} {
		tap := fmt.Sprintf("tap%d", i+1)
		if _, err := d.cli(e.ctx, "port", "add", "br0", tap, "--type", "tap", "--netns", vm); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, tap, []string{vm1IP, vm2IP}[i], ""); err != nil {
			return nil, err
		}
	}
	e.note("switchyard daemon in the host ns; `port add br0 tapN --type tap --netns VM`")
	return e.inst, nil
}

func buildSwitchyardVeth(e *buildEnv) (*instance, error) {
	h, v1, v2, err := sameHost(e)
	if err != nil {
		return nil, err
	}
	d, err := e.switchyard(h, "h")
	if err != nil {
		return nil, err
	}
	for i, vm := range []string{v1, v2} {
		if _, err := d.cli(e.ctx, "veth", "add", fmt.Sprintf("v%d", i+1), "--netns", vm, "--bridge", "br0", "--peer-name", "eth0"); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, "eth0", []string{vm1IP, vm2IP}[i], ""); err != nil {
			return nil, err
		}
	}
	e.note("switchyard daemon in the host ns; `veth add vN --netns VM --bridge br0 --peer-name eth0`")
	return e.inst, nil
}

// ovs starts an OVS instance in hostNS; tso turns userspace TSO on.
func (e *buildEnv) ovs(hostNS, label string, tso bool) (*ovsInstance, error) {
	dir := filepath.Join(e.dir, "ovs-"+label)
	if err := mkdir(dir); err != nil {
		return nil, err
	}
	cfg := map[string]string{"userspace-tso-enable": fmt.Sprint(tso)}
	return startOVS(e.ctx, e.s, hostNS, dir, cfg)
}

func buildOVSTap(e *buildEnv) (*instance, error) {
	h, v1, v2, err := sameHost(e)
	if err != nil {
		return nil, err
	}
	o, err := e.ovs(h, "h", true)
	if err != nil {
		return nil, err
	}
	if _, err := o.vsctl(e.ctx, "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"); err != nil {
		return nil, err
	}
	for i, vm := range []string{v1, v2} {
		port := fmt.Sprintf("p%d", i+1)
		// An internal port of a netdev bridge is a TAP device that
		// ovs-vswitchd opened in its own namespace; moved into the VM it
		// keeps working (OVS holds the fd), it only logs that it cannot
		// find the device by name any more.
		if _, err := o.vsctl(e.ctx, "add-port", "br0", port, "--", "set", "interface", port, "type=internal"); err != nil {
			return nil, err
		}
		if err := poll(e.ctx, cmdTimeoutShort, "OVS creates "+port, func() error {
			_, err := run(e.ctx, "ip", "-n", h, "link", "show", port)
			return err
		}); err != nil {
			return nil, err
		}
		if _, err := run(e.ctx, "ip", "-n", h, "link", "set", port, "netns", vm); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, port, []string{vm1IP, vm2IP}[i], ""); err != nil {
			return nil, err
		}
	}
	e.note("ovs-vswitchd --disable-system in the host ns, other_config:userspace-tso-enable=true, br0 datapath_type=netdev")
	e.note("VM NICs: `type=internal` ports p1/p2 (TAP devices) moved into the VM namespaces")
	return e.inst, nil
}

func buildOVSVeth(e *buildEnv) (*instance, error) {
	h, v1, v2, err := sameHost(e)
	if err != nil {
		return nil, err
	}
	o, err := e.ovs(h, "h", true)
	if err != nil {
		return nil, err
	}
	if _, err := o.vsctl(e.ctx, "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"); err != nil {
		return nil, err
	}
	for i, vm := range []string{v1, v2} {
		port := fmt.Sprintf("p%d", i+1)
		if err := vethToVM(e.ctx, h, port, vm); err != nil {
			return nil, err
		}
		if _, err := o.vsctl(e.ctx, "add-port", "br0", port); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, "eth0", []string{vm1IP, vm2IP}[i], ""); err != nil {
			return nil, err
		}
	}
	e.note("ovs-vswitchd --disable-system in the host ns, other_config:userspace-tso-enable=true, br0 datapath_type=netdev")
	e.note("VM NICs: veth, host ends p1/p2 added with `ovs-vsctl add-port br0 pN` (AF_PACKET)")
	return e.inst, nil
}

// ---- (b) two hosts over VXLAN -------------------------------------------

// twoHosts makes hA and hB joined by the underlay veth ul0 (with the
// harness's underlay ethtool settings on both ends), and the VMs vA, vB.
// withIP puts the underlay address on ul0 (OVS puts it on br-phy instead).
func twoHosts(e *buildEnv, withIP bool) (hA, hB, vA, vB string, err error) {
	ns, err := e.newNS("hA", "hB", "vA", "vB")
	if err != nil {
		return "", "", "", "", err
	}
	hA, hB, vA, vB = ns[0], ns[1], ns[2], ns[3]
	e.inst.client, e.inst.server, e.inst.serverIP = vA, vB, vm2IP
	if _, err := run(e.ctx, "ip", "-n", hA, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", hB); err != nil {
		return "", "", "", "", err
	}
	for i, h := range []string{hA, hB} {
		if k := e.b.opts.underlayEthtool; k != "" {
			if _, err := run(e.ctx, inNS(h, append([]string{"ethtool", "-K", "ul0"}, strings.Fields(k)...)...)...); err != nil {
				return "", "", "", "", err
			}
		}
		if withIP {
			if _, err := run(e.ctx, "ip", "-n", h, "addr", "add", []string{hostAIP, hostBIP}[i]+"/24", "dev", "ul0"); err != nil {
				return "", "", "", "", err
			}
		}
		if _, err := run(e.ctx, "ip", "-n", h, "link", "set", "ul0", "up"); err != nil {
			return "", "", "", "", err
		}
	}
	if out, err := run(e.ctx, inNS(hA, "ethtool", "-k", "ul0")...); err == nil {
		e.note("underlay ul0 offloads as set (both ends): %s", offloadSummary(out))
	}
	return hA, hB, vA, vB, nil
}

// offloadSummary picks the offloads that matter for tunnels out of
// `ethtool -k` output.
func offloadSummary(out string) string {
	keep := map[string]bool{
		"tx-checksumming": true, "tcp-segmentation-offload": true, "generic-segmentation-offload": true,
		"generic-receive-offload": true, "tx-udp-segmentation": true, "rx-udp-gro-forwarding": true,
		"tx-udp_tnl-segmentation": true,
	}
	var parts []string
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && keep[k] {
			parts = append(parts, k+" "+strings.TrimSpace(v))
		}
	}
	return strings.Join(parts, ", ")
}

func buildKernelVXLAN(e *buildEnv) (*instance, error) {
	hA, hB, vA, vB, err := twoHosts(e, true)
	if err != nil {
		return nil, err
	}
	for i, h := range []string{hA, hB} {
		local, remote := []string{hostAIP, hostBIP}[i], []string{hostBIP, hostAIP}[i]
		vm := []string{vA, vB}[i]
		if err := runAll(e.ctx,
			[]string{"ip", "-n", h, "link", "add", "br0", "type", "bridge"},
			[]string{"ip", "-n", h, "link", "add", "vx0", "type", "vxlan", "id", vni, "local", local, "dstport", "4789", "dev", "ul0"},
			[]string{"ip", "-n", h, "link", "set", "vx0", "master", "br0", "up"},
			[]string{"ip", "-n", h, "link", "set", "br0", "up"},
			inNS(h, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", remote),
		); err != nil {
			return nil, err
		}
		if err := vethToVM(e.ctx, h, "p0", vm); err != nil {
			return nil, err
		}
		if _, err := run(e.ctx, "ip", "-n", h, "link", "set", "p0", "master", "br0"); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, "eth0", []string{vm1IP, vm2IP}[i], vxlanMTU); err != nil {
			return nil, err
		}
	}
	e.note("per host: bridge br0 + `vxlan id 5001 local <mine> dstport 4789 dev ul0` (udpcsum, learning: kernel defaults) + HER `bridge fdb append 00:00:00:00:00:00 dev vx0 dst <other>`; VM veth eth0 MTU 1450")
	return e.inst, nil
}

func buildSwitchyardVXLAN(e *buildEnv) (*instance, error) {
	hA, hB, vA, vB, err := twoHosts(e, true)
	if err != nil {
		return nil, err
	}
	for i, h := range []string{hA, hB} {
		local, remote := []string{hostAIP, hostBIP}[i], []string{hostBIP, hostAIP}[i]
		vm := []string{vA, vB}[i]
		d, err := e.switchyard(h, []string{"hA", "hB"}[i])
		if err != nil {
			return nil, err
		}
		if _, err := d.cli(e.ctx, "port", "add", "br0", "tap1", "--type", "tap", "--netns", vm); err != nil {
			return nil, err
		}
		if _, err := d.cli(e.ctx, "port", "add", "br0", "vx0", "--type", "vxlan", "--vni", vni, "--local", local, "--remote", remote); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, "tap1", []string{vm1IP, vm2IP}[i], vxlanMTU); err != nil {
			return nil, err
		}
	}
	e.note("per host: switchyard daemon, `port add br0 tap1 --type tap --netns VM`, `port add br0 vx0 --type vxlan --vni 5001 --local <mine> --remote <other>` (defaults: port 4789, outer UDP checksum on); VM tap1 MTU 1450")
	return e.inst, nil
}

func buildOVSVXLAN(e *buildEnv) (*instance, error) {
	hA, hB, vA, vB, err := twoHosts(e, false)
	if err != nil {
		return nil, err
	}
	for i, h := range []string{hA, hB} {
		local, remote := []string{hostAIP, hostBIP}[i], []string{hostBIP, hostAIP}[i]
		vm := []string{vA, vB}[i]
		// OVS 3.1's userspace datapath cannot send TSO frames into a tunnel
		// (it drops them), so TSO stays off for the VXLAN system.
		o, err := e.ovs(h, []string{"hA", "hB"}[i], false)
		if err != nil {
			return nil, err
		}
		for _, c := range [][]string{
			{"add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev", fmt.Sprintf("other-config:hwaddr=02:00:00:00:ff:%02x", i+1)},
			{"add-port", "br-phy", "ul0"},
			{"add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev"},
			{"add-port", "br-int", "vx0", "--", "set", "interface", "vx0", "type=vxlan",
				"options:remote_ip=" + remote, "options:local_ip=" + local, "options:key=" + vni, "options:dst_port=4789"},
			{"add-port", "br-int", "vm0", "--", "set", "interface", "vm0", "type=internal"},
		} {
			if _, err := o.vsctl(e.ctx, c...); err != nil {
				return nil, err
			}
		}
		// The underlay address lives on br-phy: OVS's userspace tunnel
		// code routes and resolves neighbours through it.
		if err := runAll(e.ctx,
			[]string{"ip", "-n", h, "addr", "add", local + "/24", "dev", "br-phy"},
			[]string{"ip", "-n", h, "link", "set", "br-phy", "up"},
		); err != nil {
			return nil, err
		}
		if err := poll(e.ctx, cmdTimeoutShort, "OVS creates vm0", func() error {
			_, err := run(e.ctx, "ip", "-n", h, "link", "show", "vm0")
			return err
		}); err != nil {
			return nil, err
		}
		if _, err := run(e.ctx, "ip", "-n", h, "link", "set", "vm0", "netns", vm); err != nil {
			return nil, err
		}
		if err := vmAddr(e.ctx, vm, "vm0", []string{vm1IP, vm2IP}[i], vxlanMTU); err != nil {
			return nil, err
		}
	}
	e.note("per host: ovs-vswitchd --disable-system, other_config:userspace-tso-enable=false (OVS 3.1 drops TSO frames sent into tunnels), br-phy (netdev) owns ul0 and carries the underlay IP, br-int with vx0 type=vxlan key=5001 dst_port=4789 (OVS defaults: outer UDP checksum 0, DF set)")
	e.note("VM NIC: `type=internal` port vm0 of br-int (a TAP without offloads, as TSO is off) moved into the VM, MTU 1450")
	return e.inst, nil
}
