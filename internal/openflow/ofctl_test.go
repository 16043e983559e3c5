package openflow_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
	"github.com/switchyard-net/switchyard/internal/openflow/oftest"
)

// requirePeer skips without root (CI runs the suite as root) and fails
// when the peer binary is missing as root (CI installs it).
func requirePeer(t *testing.T, bins ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("interop test with real OpenFlow peers: runs as root, as CI does")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s is missing: install it (.ci/packages/openflow.txt)", b)
		}
	}
}

// ofctl runs ovs-ofctl with its own run directory and returns stdout.
func ofctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ovs-ofctl", args...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("ovs-ofctl %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

func mustOfctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := ofctl(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type mode struct {
	name  string
	flags []string // -O … or nothing
}

var modes = []mode{{"plain", nil}, {"OpenFlow13", []string{"-O", "OpenFlow13"}}}

func (m mode) args(a ...string) []string { return append(append([]string(nil), m.flags...), a...) }

// endpoints are the punix and ptcp ways to reach a harness.
func (h *harness) endpoints() map[string]string {
	return map[string]string{"punix": "unix:" + h.sock, "ptcp": "tcp:" + h.tcp}
}

func TestOvsOfctlShow(t *testing.T) {
	requirePeer(t, "ovs-ofctl")
	h := start(t, nil)
	for _, m := range modes {
		for ep, target := range h.endpoints() {
			out := mustOfctl(t, m.args("show", target)...)
			for _, want := range []string{"dpid:0000020000aa0001", "n_tables:254", "1(p1): addr:02:00:00:00:aa:11", "LOCAL(br0): addr:02:00:00:00:aa:01", "PORT_DOWN", "10GB-FD COPPER"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s over %s: show lacks %q:\n%s", m.name, ep, want, out)
				}
			}
			if m.name == "plain" && !strings.Contains(out, "OFPT_FEATURES_REPLY (xid=") {
				t.Errorf("plain show did not speak OpenFlow 1.0:\n%s", out)
			}
			if m.name != "plain" && !strings.Contains(out, "(OF1.3)") {
				t.Errorf("-O OpenFlow13 show is not OpenFlow 1.3:\n%s", out)
			}
		}
	}
	out := mustOfctl(t, "-O", "OpenFlow13", "dump-desc", "unix:"+h.sock)
	if !strings.Contains(out, "Manufacturer: Switchyard") || !strings.Contains(out, "DP Description: br0") {
		t.Errorf("dump-desc:\n%s", out)
	}
	out = mustOfctl(t, "-O", "OpenFlow13", "dump-ports-desc", "unix:"+h.sock)
	if !strings.Contains(out, "OFPST_PORT_DESC reply (OF1.3)") || !strings.Contains(out, "1(p1)") || !strings.Contains(out, "state:      LIVE") {
		t.Errorf("dump-ports-desc:\n%s", out)
	}
	out = mustOfctl(t, "dump-ports-desc", "unix:"+h.sock)
	if !strings.Contains(out, "OFPST_PORT_DESC reply (xid=") || !strings.Contains(out, "LOCAL(br0)") {
		t.Errorf("plain dump-ports-desc:\n%s", out)
	}
}

// flowsFor are flows for each mode, in ovs-ofctl syntax.
var flowsFor = map[string][]string{
	"plain": {
		"priority=100,in_port=1,ip,nw_dst=203.0.113.0/24,actions=output:LOCAL",
		"table=1,priority=200,cookie=0x1234,reg0=0x5/0xff,tun_id=42,in_port=1,ip,actions=load:0x2a->NXM_NX_REG1[0..15],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],resubmit(,2),set_tunnel:5,dec_ttl,note:ab.cd,output:1",
		"table=2,priority=10,idle_timeout=30,dl_vlan=10,tcp,tp_dst=80,actions=strip_vlan,mod_dl_src:02:00:00:00:00:09,controller(max_len=128),NORMAL",
		"table=3,priority=7,udp,nw_tos=40,tp_src=53,actions=mod_nw_ttl:9,mod_vlan_vid:20,resubmit(2,3)",
		"table=4,priority=9,tun_src=198.18.0.1,tun_dst=198.18.0.2,tun_id=0x10/0xf0,actions=set_field:0x7->tun_id,output:IN_PORT",
	},
	"OpenFlow13": {
		"priority=100,in_port=1,ip,nw_dst=203.0.113.0/24,actions=output:LOCAL",
		"table=1,priority=10,idle_timeout=30,hard_timeout=60,send_flow_rem,tcp,vlan_tci=0x1000/0x1000,tcp_flags=+syn-ack,tp_dst=80,actions=push_vlan:0x8100,set_field:4196->vlan_vid,set_field:203.0.113.9->ip_dst,dec_ttl,group:1,set_queue:3,controller(max_len=128),goto_table:2",
		"table=2,priority=5,ipv6,ipv6_src=2001:db8::/32,ipv6_label=0x12345,actions=write_actions(output:1),write_metadata:0x1/0xff,goto_table:3",
		"table=3,priority=6,metadata=0x1/0xff,arp,arp_op=1,arp_spa=203.0.113.1,actions=meter:1,output:NORMAL,clear_actions",
		"table=4,priority=9,tun_src=198.18.0.1,tun_dst=198.18.0.2,tun_id=0x10/0xf0,reg15=9,actions=set_field:0x7->tun_id,move:NXM_NX_REG0[0..7]->NXM_NX_REG1[8..15],output:IN_PORT",
		"table=5,priority=11,icmp6,icmpv6_type=135,nd_target=2001:db8::1,actions=drop",
	},
}

// asStats turns received flow-mods into the flow stats a table would show.
func asStats(fms []*ofp.FlowMod) []ofp.FlowStats {
	var out []ofp.FlowStats
	for _, fm := range fms {
		c, _ := fm.NewCookie()
		out = append(out, ofp.FlowStats{TableID: fm.TableID, Priority: fm.Priority, IdleTimeout: fm.IdleTimeout, HardTimeout: fm.HardTimeout,
			Flags: fm.Flags, Cookie: c, DurationSec: 1, PacketCount: 3, ByteCount: 180, IdleAge: 1, HardAge: 1,
			Match: fm.Match, Instructions: fm.Instructions})
	}
	return out
}

func flowMods(be *oftest.Backend) []*ofp.FlowMod {
	var out []*ofp.FlowMod
	for _, c := range be.Calls("FlowMod") {
		out = append(out, c.Arg.(*ofp.FlowMod))
	}
	return out
}

var statsPrefix = regexp.MustCompile(`^(duration|n_packets|n_bytes|idle_age|hard_age)=`)

// reAddable turns a dump-flows line back into add-flow syntax.
func reAddable(line string) string {
	line = strings.TrimSpace(line)
	left, acts, _ := strings.Cut(line, " actions=")
	parts := strings.Split(left, ", ")
	var keep []string
	for i, p := range parts {
		if statsPrefix.MatchString(p) {
			continue
		}
		if i == len(parts)-1 {
			keep = append(keep, strings.Fields(p)...)
			continue
		}
		keep = append(keep, p)
	}
	return strings.Join(keep, ",") + ",actions=" + acts
}

func sameFlowMod(a, b *ofp.FlowMod) string {
	if a.TableID != b.TableID || a.Priority != b.Priority || a.IdleTimeout != b.IdleTimeout || a.HardTimeout != b.HardTimeout || a.Flags != b.Flags {
		return fmt.Sprintf("header %d/%d/%d/%d/%x vs %d/%d/%d/%d/%x", a.TableID, a.Priority, a.IdleTimeout, a.HardTimeout, a.Flags, b.TableID, b.Priority, b.IdleTimeout, b.HardTimeout, b.Flags)
	}
	ca, _ := a.NewCookie()
	cb, _ := b.NewCookie()
	if ca != cb {
		return fmt.Sprintf("cookie %x vs %x", ca, cb)
	}
	ma, mb := a.Match.Fields, b.Match.Fields
	key := func(f []ofp.OXM) []string {
		var s []string
		for _, o := range f {
			s = append(s, fmt.Sprintf("%s=%x/%x", o.Name(), o.Value, o.Mask))
		}
		sort.Strings(s)
		return s
	}
	if !reflect.DeepEqual(key(ma), key(mb)) {
		return fmt.Sprintf("match %v vs %v", key(ma), key(mb))
	}
	if ofp.InstructionsString(a.Instructions) != ofp.InstructionsString(b.Instructions) {
		return fmt.Sprintf("instructions %s vs %s", ofp.InstructionsString(a.Instructions), ofp.InstructionsString(b.Instructions))
	}
	return ""
}

// TestOvsOfctlFlows: add-flow, dump-flows, add-flows, mod-flows,
// del-flows (--strict), plain and OpenFlow 1.3, over punix and ptcp. What
// dump-flows prints of the flows the backend received is added again and
// must give the same flow-mods: ovs-ofctl's text → our decoding → our
// encoding → ovs-ofctl's text is a fixed point.
func TestOvsOfctlFlows(t *testing.T) {
	requirePeer(t, "ovs-ofctl")
	h := start(t, nil)
	for _, m := range modes {
		for ep, target := range h.endpoints() {
			t.Run(m.name+"/"+ep, func(t *testing.T) {
				h.be.Reset()
				flows := flowsFor[m.name]
				for _, f := range flows {
					mustOfctl(t, m.args("add-flow", target, f)...)
				}
				fms := flowMods(h.be)
				if len(fms) != len(flows) {
					t.Fatalf("backend received %d flow-mods for %d add-flow", len(fms), len(flows))
				}
				checkFirstFlows(t, m.name, fms)
				if calls := h.be.Calls("Barrier"); len(calls) < len(flows) {
					t.Errorf("%d barriers for %d add-flow", len(calls), len(flows))
				}
				// dump-flows prints what the backend says.
				h.be.SetReply(&ofp.FlowStatsReply{Flows: asStats(fms)})
				out := mustOfctl(t, m.args("dump-flows", target)...)
				lines := flowLines(out)
				if len(lines) != len(flows) {
					t.Fatalf("dump-flows printed %d flows, want %d:\n%s", len(lines), len(flows), out)
				}
				if !strings.Contains(out, "n_packets=3, n_bytes=180") {
					t.Errorf("counters missing:\n%s", out)
				}
				req := lastStats[*ofp.FlowStatsRequest](t, h.be)
				if req.TableID != ofp.TableAll || req.OutPort != ofp.PortAny || (m.name == "plain") != req.NXM {
					t.Errorf("flow stats request %+v", req)
				}
				// Fixed point.
				h.be.Reset()
				for _, l := range lines {
					if _, err := ofctl(t, m.args("add-flow", target, reAddable(l))...); err != nil {
						t.Fatalf("re-adding the dumped flow %q: %v", reAddable(l), err)
					}
				}
				again := flowMods(h.be)
				for i := range fms {
					if d := sameFlowMod(fms[i], again[i]); d != "" {
						t.Errorf("flow %d (%s) after dump and re-add: %s\n dumped: %s", i, flows[i], d, lines[i])
					}
				}

				// add-flows: all, each with a barrier.
				h.be.Reset()
				file := t.TempDir() + "/flows.txt"
				os.WriteFile(file, []byte("# comment\n"+strings.Join(flows, "\n")+"\n"), 0o644)
				mustOfctl(t, m.args("add-flows", target, file)...)
				if n := len(h.be.Calls("FlowMod")); n != len(flows) {
					t.Errorf("add-flows: %d flow-mods, want %d", n, len(flows))
				}

				// mod-flows, del-flows, del-flows --strict.
				h.be.Reset()
				mustOfctl(t, m.args("mod-flows", target, "table=1,ip,actions=output:2")...)
				mustOfctl(t, m.args("del-flows", target, "in_port=1")...)
				mustOfctl(t, m.args("--strict", "del-flows", target, "table=2,priority=10,tcp,tp_dst=80")...)
				mustOfctl(t, m.args("del-flows", target)...)
				fms = flowMods(h.be)
				if len(fms) != 4 {
					t.Fatalf("%d flow-mods for mod/del", len(fms))
				}
				want := []struct {
					cmd   uint8
					table uint8
				}{{ofp.FlowModify, 1}, {ofp.FlowDelete, ofp.TableAll}, {ofp.FlowDeleteStrict, 2}, {ofp.FlowDelete, ofp.TableAll}}
				for i, w := range want {
					if fms[i].Command != w.cmd || fms[i].TableID != w.table {
						t.Errorf("flow-mod %d: command %d table %d, want %d %d", i, fms[i].Command, fms[i].TableID, w.cmd, w.table)
					}
				}
				if acts := ofp.ApplyActions(fms[0].Instructions); len(acts) != 1 || acts[0] != (ofp.ActionOutput{Port: 2}) {
					t.Errorf("mod-flows actions %v", fms[0].Instructions)
				}
				if p, ok := fms[1].Match.InPort(); !ok || p != 1 || fms[1].OutPort != ofp.PortAny {
					t.Errorf("del-flows in_port=1: %+v", fms[1])
				}
				if fms[2].Priority != 10 {
					t.Errorf("strict delete priority %d", fms[2].Priority)
				}
				if v, _, ok := fms[2].Match.Uint(ofp.FieldTCPDst); !ok || v != 80 {
					t.Errorf("strict delete match %v", fms[2].Match.Fields)
				}
				if len(fms[3].Match.Fields) != 0 {
					t.Errorf("del-flows with no match: %v", fms[3].Match.Fields)
				}
				// Errors reach ovs-ofctl with their names.
				h.be.SetErr("FlowMod", ofp.Errorf(ofp.ErrFlowModFailed, ofp.FlowModFailedTableFull, "full"))
				_, err := ofctl(t, m.args("add-flow", target, "priority=1,actions=drop")...)
				h.be.SetErr("FlowMod", nil)
				if err == nil || !strings.Contains(err.Error(), "OFPFMFC_TABLE_FULL") {
					t.Errorf("table full: %v", err)
				}
			})
		}
	}
}

func flowLines(out string) []string {
	var l []string
	for _, s := range strings.Split(out, "\n") {
		if strings.Contains(s, " actions=") {
			l = append(l, s)
		}
	}
	return l
}

func lastStats[T ofp.MultipartBody](t *testing.T, be *oftest.Backend) T {
	t.Helper()
	calls := be.Calls("Stats")
	for i := len(calls) - 1; i >= 0; i-- {
		if r, ok := calls[i].Arg.(T); ok {
			return r
		}
	}
	var zero T
	t.Fatalf("no %T reached the backend", zero)
	return zero
}

// checkFirstFlows checks the decoded fields of the first two flows.
func checkFirstFlows(t *testing.T, mode string, fms []*ofp.FlowMod) {
	t.Helper()
	f0 := fms[0]
	if f0.Command != ofp.FlowAdd || f0.TableID != 0 || f0.Priority != 100 {
		t.Errorf("flow 0 header %+v", f0)
	}
	if v, mask, ok := f0.Match.Uint(ofp.FieldIPv4Dst); !ok || v != 0xcb007100 || mask != 0xffffff00 {
		t.Errorf("flow 0 nw_dst %x/%x %v", v, mask, ok)
	}
	if acts := ofp.ApplyActions(f0.Instructions); !reflect.DeepEqual(acts, []ofp.Action{ofp.ActionOutput{Port: ofp.PortLocal}}) {
		t.Errorf("flow 0 actions %v", acts)
	}
	f1 := fms[1]
	if mode == "plain" {
		if !f1.NXM || f1.TableID != 1 || f1.Priority != 200 {
			t.Errorf("flow 1 (NXM) header %+v", f1)
		}
		if c, _ := f1.NewCookie(); c != 0x1234 {
			t.Errorf("flow 1 cookie %x", c)
		}
		if v, mask, ok := f1.Match.Uint(ofp.FieldReg0); !ok || v != 5 || mask != 0xff {
			t.Errorf("reg0 %x/%x", v, mask)
		}
		want := []ofp.Action{
			ofp.ActionSetField{Field: ofp.NewOXM(ofp.FieldReg0+1, []byte{0, 0, 0, 0x2a}, []byte{0, 0, 0xff, 0xff})},
			ofp.ActionRegMove{Src: ofp.RefOf(ofp.FieldEthSrc), Dst: ofp.RefOf(ofp.FieldEthDst), NBits: 48},
			ofp.ActionResubmit{InPort: ofp.PortInPort, Table: 2, WithTable: true},
			ofp.ActionSetField{Field: ofp.OXMUint(ofp.FieldTunnelID, 5)},
			ofp.ActionDecNWTTL{Nicira: true},
			ofp.ActionNote{Note: []byte{0xab, 0xcd, 0, 0, 0, 0}},
			ofp.ActionOutput{Port: 1},
		}
		if acts := ofp.ApplyActions(f1.Instructions); !reflect.DeepEqual(acts, want) {
			t.Errorf("flow 1 actions\n got %v\nwant %v", acts, want)
		}
		return
	}
	if f1.TableID != 1 || f1.IdleTimeout != 30 || f1.HardTimeout != 60 || f1.Flags != ofp.FlowFlagSendFlowRem {
		t.Errorf("flow 1 header %+v", f1)
	}
	if v, mask, ok := f1.Match.Uint(ofp.FieldTCPFlags); !ok || v != 2 || mask != 0x12 {
		t.Errorf("tcp_flags %x/%x %v", v, mask, ok)
	}
	if len(f1.Instructions) != 2 {
		t.Fatalf("flow 1 instructions %v", f1.Instructions)
	}
	if g, ok := f1.Instructions[1].(ofp.InstGotoTable); !ok || g.TableID != 2 {
		t.Errorf("goto %v", f1.Instructions[1])
	}
}

func TestOvsOfctlStatsAndPorts(t *testing.T) {
	requirePeer(t, "ovs-ofctl")
	h := start(t, nil)
	h.be.SetReply(&ofp.AggregateStats{PacketCount: 8, ByteCount: 636, FlowCount: 3})
	h.be.SetReply(&ofp.PortStatsReply{Ports: []ofp.PortStats{
		{PortNo: ofp.PortLocal, TxDropped: 8, DurationSec: 95},
		{PortNo: 1, RxPackets: 10, RxBytes: 796, TxPackets: 11, TxBytes: 832, DurationSec: 95},
	}})
	for _, m := range modes {
		for ep, target := range h.endpoints() {
			name := m.name + "/" + ep
			out := mustOfctl(t, m.args("dump-aggregate", target)...)
			if !strings.Contains(out, "packet_count=8 byte_count=636 flow_count=3") {
				t.Errorf("%s dump-aggregate:\n%s", name, out)
			}
			if req := lastStats[*ofp.AggregateStatsRequest](t, h.be); (m.name == "plain") != req.NXM || req.TableID != ofp.TableAll {
				t.Errorf("%s aggregate request %+v", name, req)
			}
			out = mustOfctl(t, m.args("dump-tables", target)...)
			if !strings.Contains(out, "table 0:") || !strings.Contains(out, "active=0, lookup=0, matched=0") {
				t.Errorf("%s dump-tables:\n%s", name, out)
			}
			out = mustOfctl(t, m.args("dump-ports", target)...)
			if !strings.Contains(out, "2 ports") || !strings.Contains(out, "port  1: rx pkts=10, bytes=796") || !strings.Contains(out, "tx pkts=11, bytes=832") {
				t.Errorf("%s dump-ports:\n%s", name, out)
			}
			if m.name != "plain" && !strings.Contains(out, "duration=95") {
				t.Errorf("%s dump-ports without duration:\n%s", name, out)
			}
			mustOfctl(t, m.args("dump-ports", target, "1")...)
			if req := lastStats[*ofp.PortStatsRequest](t, h.be); req.PortNo != 1 {
				t.Errorf("%s dump-ports 1 asked for port %d", name, req.PortNo)
			}
			// mod-port by name: the hardware address comes from the
			// port description.
			h.be.Reset()
			mustOfctl(t, m.args("mod-port", target, "p1", "down")...)
			mustOfctl(t, m.args("mod-port", target, "p1", "up")...)
			pms := h.be.Calls("PortMod")
			if len(pms) != 2 {
				t.Fatalf("%s mod-port: %d port-mods", name, len(pms))
			}
			down, up := pms[0].Arg.(*ofp.PortMod), pms[1].Arg.(*ofp.PortMod)
			if down.PortNo != 1 || down.Config&ofp.PortConfigDown == 0 || down.Mask&ofp.PortConfigDown == 0 || down.HWAddr.String() != "02:00:00:00:aa:11" {
				t.Errorf("%s port down %+v", name, down)
			}
			if up.Config&ofp.PortConfigDown != 0 || up.Mask&ofp.PortConfigDown == 0 {
				t.Errorf("%s port up %+v", name, up)
			}
			if m.name == "plain" {
				mustOfctl(t, m.args("mod-port", target, "p1", "no-flood")...)
				pm := h.be.WaitCalls(t, "PortMod", 3, time.Second)[2].Arg.(*ofp.PortMod)
				if pm.Config != ofp.PortConfigNoFlood10 || pm.Mask != ofp.PortConfigNoFlood10 {
					t.Errorf("no-flood %+v", pm)
				}
			}
			// packet-out: in_port, actions and the frame.
			frame := "020000000002020000000001080045000014000100004001f7c7cb007101cb0071020000"
			mustOfctl(t, m.args("packet-out", target, "in_port=LOCAL packet="+frame+" actions=set_field:02:00:00:00:00:09->eth_src,output:1")...)
			po := h.be.WaitCalls(t, "PacketOut", 1, time.Second)[0].Arg.(*ofp.PacketOut)
			want := []ofp.Action{ofp.ActionSetField{Field: ofp.NewOXM(ofp.FieldEthSrc, []byte{2, 0, 0, 0, 0, 9}, nil)}, ofp.ActionOutput{Port: 1}}
			if po.InPort != ofp.PortLocal || !reflect.DeepEqual(po.Actions, want) || fmt.Sprintf("%x", po.Data) != frame {
				t.Errorf("%s packet-out %+v", name, po)
			}
			// Queues are empty until QoS exists.
			out = mustOfctl(t, m.args("queue-stats", target)...)
			if !strings.Contains(out, "0 queues") {
				t.Errorf("%s queue-stats:\n%s", name, out)
			}
			out = mustOfctl(t, m.args("get-frags", target)...)
			if strings.TrimSpace(out) != "normal" {
				t.Errorf("%s get-frags: %q", name, out)
			}
		}
	}
}

func TestOvsOfctlGroupsMeters(t *testing.T) {
	requirePeer(t, "ovs-ofctl")
	h := start(t, nil)
	o := []string{"-O", "OpenFlow13"}
	for ep, target := range h.endpoints() {
		h.be.Reset()
		mustOfctl(t, append(o, "add-group", target, "group_id=1,type=select,bucket=weight:10,watch_port=1,actions=output:1,bucket=weight:20,actions=set_field:02:00:00:00:00:01->eth_dst,output:LOCAL")...)
		mustOfctl(t, append(o, "add-group", target, "group_id=2,type=fast_failover,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=group:1")...)
		mustOfctl(t, append(o, "mod-group", target, "group_id=2,type=fast_failover,bucket=watch_port:1,actions=output:2")...)
		gms := h.be.Calls("GroupMod")
		if len(gms) != 3 {
			t.Fatalf("%s: %d group-mods", ep, len(gms))
		}
		g1 := gms[0].Arg.(*ofp.GroupMod)
		if g1.Command != ofp.GroupAdd || g1.GroupType != ofp.GroupTypeSelect || g1.GroupID != 1 || len(g1.Buckets) != 2 || g1.Buckets[1].Weight != 20 || g1.Buckets[0].WatchPort != 1 {
			t.Errorf("%s group 1 %+v", ep, g1)
		}
		if g := gms[2].Arg.(*ofp.GroupMod); g.Command != ofp.GroupModify || g.GroupType != ofp.GroupTypeFastFailover {
			t.Errorf("%s mod-group %+v", ep, g)
		}
		var descs []ofp.GroupDesc
		for _, c := range gms[:2] {
			g := c.Arg.(*ofp.GroupMod)
			descs = append(descs, ofp.GroupDesc{GroupType: g.GroupType, GroupID: g.GroupID, Buckets: g.Buckets})
		}
		h.be.SetReply(&ofp.GroupDescReply{Groups: descs})
		out := mustOfctl(t, append(o, "dump-groups", target)...)
		for _, want := range []string{"group_id=1,type=select,bucket=weight:10,watch_port:1,actions=output:1,bucket=weight:20,actions=set_field:02:00:00:00:00:01->eth_dst,LOCAL", "group_id=2,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=group:1"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s dump-groups lacks %q:\n%s", ep, want, out)
			}
		}
		h.be.SetReply(&ofp.GroupStatsReply{Groups: []ofp.GroupStats{{GroupID: 1, PacketCount: 5, ByteCount: 300, DurationSec: 2, Buckets: []ofp.BucketCounter{{PacketCount: 2, ByteCount: 120}, {PacketCount: 3, ByteCount: 180}}}}})
		out = mustOfctl(t, append(o, "dump-group-stats", target)...)
		if !strings.Contains(out, "group_id=1,duration=2s,ref_count=0,packet_count=5,byte_count=300,bucket0:packet_count=2,byte_count=120,bucket1:packet_count=3,byte_count=180") {
			t.Errorf("%s dump-group-stats:\n%s", ep, out)
		}
		mustOfctl(t, append(o, "del-groups", target, "group_id=2")...)
		mustOfctl(t, append(o, "del-groups", target)...)
		gms = h.be.Calls("GroupMod")
		if d := gms[len(gms)-2].Arg.(*ofp.GroupMod); d.Command != ofp.GroupDelete || d.GroupID != 2 {
			t.Errorf("%s del-groups group_id=2: %+v", ep, d)
		}
		if d := gms[len(gms)-1].Arg.(*ofp.GroupMod); d.Command != ofp.GroupDelete || d.GroupID != ofp.GroupAll {
			t.Errorf("%s del-groups: %+v", ep, d)
		}

		// Meters.
		mustOfctl(t, append(o, "add-meter", target, "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100")...)
		mustOfctl(t, append(o, "add-meter", target, "meter=2,pktps,bands=type=dscp_remark,rate=100,prec_level=1")...)
		mms := h.be.Calls("MeterMod")
		if len(mms) != 2 {
			t.Fatalf("%s: %d meter-mods", ep, len(mms))
		}
		m1, m2 := mms[0].Arg.(*ofp.MeterMod), mms[1].Arg.(*ofp.MeterMod)
		if m1.MeterID != 1 || m1.Flags != ofp.MeterFlagKbps|ofp.MeterFlagBurst|ofp.MeterFlagStats || len(m1.Bands) != 1 || m1.Bands[0].Rate != 1000 || m1.Bands[0].BurstSize != 100 {
			t.Errorf("%s meter 1 %+v", ep, m1)
		}
		if m2.Bands[0].BandType != ofp.MeterBandDSCPRemark || m2.Bands[0].PrecLevel != 1 {
			t.Errorf("%s meter 2 %+v", ep, m2)
		}
		h.be.SetReply(&ofp.MeterConfigReply{Meters: []ofp.MeterConfig{{Flags: m1.Flags, MeterID: 1, Bands: m1.Bands}, {Flags: m2.Flags, MeterID: 2, Bands: m2.Bands}}})
		out = mustOfctl(t, append(o, "dump-meters", target)...)
		if !strings.Contains(out, "meter=1 kbps burst stats bands=\ntype=drop rate=1000 burst_size=100") || !strings.Contains(out, "type=dscp_remark rate=100 prec_level=1") {
			t.Errorf("%s dump-meters:\n%s", ep, out)
		}
		h.be.SetReply(&ofp.MeterStatsReply{Meters: []ofp.MeterStats{{MeterID: 1, FlowCount: 2, PacketInCount: 10, ByteInCount: 1000, DurationSec: 3, Bands: []ofp.MeterBandStats{{PacketBandCount: 4, ByteBandCount: 400}}}}})
		out = mustOfctl(t, append(o, "meter-stats", target)...)
		if !strings.Contains(out, "meter:1 flow_count:2 packet_in_count:10 byte_in_count:1000 duration:3s bands:\n0: packet_count:4 byte_count:400") {
			t.Errorf("%s meter-stats:\n%s", ep, out)
		}
		h.be.SetReply(&ofp.MeterFeatures{MaxMeter: 1024, BandTypes: 1<<ofp.MeterBandDrop | 1<<ofp.MeterBandDSCPRemark, Capabilities: 0xf, MaxBands: 4})
		out = mustOfctl(t, append(o, "meter-features", target)...)
		if !strings.Contains(out, "max_meter:1024 max_bands:4") || !strings.Contains(out, "band_types: drop dscp_remark") {
			t.Errorf("%s meter-features:\n%s", ep, out)
		}
		// A backend refusal reaches ovs-ofctl by name.
		h.be.SetErr("MeterMod", ofp.Errorf(ofp.ErrMeterModFailed, ofp.MeterModFailedUnknownMeter, "no meter 9"))
		_, err := ofctl(t, append(o, "mod-meter", target, "meter=9,pktps,bands=type=drop,rate=200")...)
		h.be.SetErr("MeterMod", nil)
		if err == nil || !strings.Contains(err.Error(), "OFPMMFC_UNKNOWN_METER") {
			t.Errorf("%s mod-meter of a missing meter: %v", ep, err)
		}
		mustOfctl(t, append(o, "del-meter", target, "meter=2")...)
		if d := h.be.WaitCalls(t, "MeterMod", 4, time.Second)[3].Arg.(*ofp.MeterMod); d.Command != ofp.MeterDelete || d.MeterID != 2 {
			t.Errorf("%s del-meter %+v", ep, d)
		}
	}
}

// monitor runs ovs-ofctl monitor in the background and returns a function
// that waits for a line containing want while calling poke.
func monitor(t *testing.T, args ...string) func(want string, poke func()) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ovs-ofctl", args...)
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+t.TempDir())
	var out syncBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return func(want string, poke func()) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("ovs-ofctl %s never printed %q:\n%s", strings.Join(args, " "), want, out.String())
			}
			poke()
			time.Sleep(100 * time.Millisecond)
		}
		return out.String()
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOvsOfctlMonitor: packet-ins, flow-removed and port-status that the
// datapath emits are visible in ovs-ofctl monitor, plain and 1.3.
func TestOvsOfctlMonitor(t *testing.T) {
	requirePeer(t, "ovs-ofctl")
	h := start(t, func(c *openflow.Config) { c.PacketInRate = -1 })
	frame, _ := hex.DecodeString("020000000002020000000001080045000014000100004001f7c7cb007101cb0071020000")
	for _, m := range modes {
		for ep, target := range h.endpoints() {
			name := m.name + "/" + ep
			wait := monitor(t, m.args("monitor", target, "65534")...)
			p := &openflow.PacketIn{InPort: 1, Reason: ofp.ReasonAction, TableID: 3, Cookie: 0x99, HasTunnel: true, TunnelID: 0x2a,
				TunSrc: netip.MustParseAddr("198.18.0.1"), MaxLen: int(ofp.ControllerNoBuffer), Frame: frame}
			p.Regs[3] = 5
			out := wait("total_len=36", func() { h.a.EmitPacketIn(p) })
			for _, want := range []string{"NXT_PACKET_IN2", "cookie=0x99", "reg3=0x5", "tun_id=0x2a", "tun_src=198.18.0.1", "in_port=1", "(via action)", "table_id=3",
				"icmp,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=203.0.113.1,nw_dst=203.0.113.2"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s monitor lacks %q:\n%s", name, want, out)
				}
			}
			fr := &ofp.FlowRemoved{Cookie: 0x77, Priority: 9, Reason: ofp.RemovedHardTimeout, TableID: 7, DurationSec: 1, HardTimeout: 1,
				Match: ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldEthType, 0x0800), ofp.OXMUint(ofp.FieldIPv4Src, 0xcb007107)}}}
			out = wait("FLOW_REMOVED", func() { h.a.EmitFlowRemoved(fr) })
			if !strings.Contains(out, "priority=9,ip,nw_src=203.0.113.7 reason=hard") || !strings.Contains(out, "cookie:0x77") {
				t.Errorf("%s flow removed:\n%s", name, out)
			}
			ps := ofp.Port{PortNo: 7, Name: "vm7", HWAddr: net.HardwareAddr{2, 0, 0, 0, 0, 7}, Curr: ofp.PortFeature10GbFD}
			out = wait("OFPT_PORT_STATUS", func() { h.a.EmitPortStatus(ofp.PortAdded, ps) })
			if !strings.Contains(out, "ADD: 7(vm7): addr:02:00:00:00:00:07") {
				t.Errorf("%s port status:\n%s", name, out)
			}
		}
	}
	// A monitor that asks for plain OpenFlow 1.0 packet-ins (no Nicira
	// formats) gets the standard message.
	cl := oftest.Dial(t, "unix", h.sock, v10)
	cl.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 100}})
	cl.Barrier()
	h.a.EmitPacketIn(&openflow.PacketIn{InPort: 2, Reason: ofp.ReasonNoMatch, MaxLen: openflow.UseMissSendLen, Frame: frame})
	for {
		r := cl.Recv(3 * time.Second)
		if pin, ok := r.Msg.(*ofp.PacketIn); ok {
			if pin.Format != ofp.PacketInFormatStandard || pin.Reason != ofp.ReasonNoMatch || len(pin.Data) != 36 {
				t.Errorf("1.0 packet-in %+v", pin)
			}
			break
		}
	}
}

// TestOvsOfctlBesideHostileClients: ovs-ofctl keeps working on a bridge
// while other clients send garbage, truncated messages, huge lengths and
// floods of bad messages on the same sockets.
func TestOvsOfctlBesideHostileClients(t *testing.T) {
	requirePeer(t, "ovs-ofctl")
	h := start(t, func(c *openflow.Config) { c.MaxErrors = 50 })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hostile := [][]byte{
		bytes.Repeat([]byte{0x04, 0x0e, 0xff, 0xff}, 2048),
		{4, 0, 0, 8, 0, 0, 0, 1, 4, 14, 0x40, 0, 1, 2, 3},
		append([]byte{4, 0, 0, 8, 0, 0, 0, 1}, bytes.Repeat([]byte{4, 14, 0, 12, 0, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef}, 1000)...),
		{1, 0, 0, 8, 0, 0, 0, 1, 1, 0x10, 0, 4},
	}
	for i, hb := range hostile {
		wg.Add(1)
		go func(b []byte, network, addr string) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.DialTimeout(network, addr, time.Second)
				if err != nil {
					continue
				}
				nc.Write(b)
				nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				io.Copy(io.Discard, nc)
				nc.Close()
			}
		}(hb, []string{"unix", "tcp"}[i%2], map[bool]string{true: h.sock, false: h.tcp}[i%2 == 0])
	}
	h.be.SetReply(&ofp.FlowStatsReply{Flows: []ofp.FlowStats{{Priority: 7, Match: ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1)}},
		Instructions: []ofp.Instruction{ofp.InstApplyActions{Actions: []ofp.Action{ofp.ActionOutput{Port: ofp.PortNormal}}}}}}})
	for i := 0; i < 5; i++ {
		for _, m := range modes {
			out := mustOfctl(t, m.args("dump-flows", "unix:"+h.sock)...)
			if !strings.Contains(out, "priority=7,in_port=1 actions=NORMAL") {
				t.Fatalf("dump-flows beside hostile clients:\n%s", out)
			}
			mustOfctl(t, m.args("add-flow", "tcp:"+h.tcp, "priority=1,actions=drop")...)
		}
	}
	close(stop)
	wg.Wait()
	if st := h.a.Status(); st.ErrorsSent == 0 {
		t.Errorf("hostile clients got no errors: %+v", st)
	}
}
