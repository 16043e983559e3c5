package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/stp/l2lab"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// Link aggregation and spanning tree end to end: a Switchyard daemon in a
// namespace against Open vSwitch 3.1 (userspace, its own ovsdb-server and
// ovs-vswitchd per namespace) and the Linux bridge's kernel STP. See
// README.md "Bonds and spanning tree" and docs/l2.md.

const (
	ourBondMAC = "02:00:00:00:0a:00"
	ovsBondMAC = "02:00:00:00:0b:00"
)

// bondLab is a Switchyard bond of two veth links (m1, m2) to an Open
// vSwitch bond (o1, o2); a VM behind Switchyard (198.18.61.1) talks to
// Open vSwitch's bridge address (198.18.61.2).
type bondLab struct {
	t       *testing.T
	d       *testnet.Daemon
	ovs     *l2lab.OVS
	nsS     string
	nsO     string
	vm      vm
	capO1   string
	stopCap func()
}

func newBondLab(t *testing.T, mode string, ovsArgs ...string) *bondLab {
	testnet.RequireRoot(t)
	l2lab.NeedOVS(t)
	needCmd(t, "iperf3", "tshark", "tcpdump")
	lab := &bondLab{t: t}
	lab.nsS, lab.nsO = testnet.NewNS(t, "bs"), testnet.NewNS(t, "bo")
	l2lab.QuietNS(t, lab.nsS)
	l2lab.QuietNS(t, lab.nsO)
	testnet.Veth(t, "m1", lab.nsS, "o1", lab.nsO)
	testnet.Veth(t, "m2", lab.nsS, "o2", lab.nsO)
	lab.capO1, lab.stopCap = l2lab.Capture(t, lab.nsO, "o1", "ether proto 0x8809")
	lab.ovs = l2lab.StartOVS(t, lab.nsO)
	lab.ovs.Vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "other_config:hwaddr="+ovsBondMAC)
	lab.ovs.Vsctl(append([]string{"add-bond", "br0", "bond0", "o1", "o2", "lacp=active", "bond_mode=" + mode,
		"other_config:lacp-time=fast"}, ovsArgs...)...)
	testnet.MustNS(t, lab.nsO, "ip", "addr", "add", "198.18.61.2/24", "dev", "br0")
	testnet.MustNS(t, lab.nsO, "ip", "link", "set", "br0", "up")

	// Open vSwitch 3.1's userspace datapath reads its veths with AF_PACKET and no
	// vnet header, and forwards partial checksums unfinished: our members
	// must send complete frames (--offload off), as a NIC would.
	lab.d = testnet.StartDaemon(t, lab.nsS, "--offload", "off")
	lab.d.MustCLI("bridge", "add", "br0", "--hwaddr", ourBondMAC)
	lab.d.MustCLI("port", "add", "br0", "bond0", "--type", "bond", "--members", "m1,m2", "--bond-mode", mode,
		"--lacp", "active", "--lacp-rate", "fast")
	lab.vm = vethVM(t, lab.d, "br0", "198.18.61.1")
	return lab
}

func (lab *bondLab) ovsEnabled() map[string]bool {
	out, err := lab.ovs.Appctl("bond/show", "bond0")
	if err != nil {
		return nil
	}
	return l2lab.BondMembers(out)
}

// bothUp says whether both sides carry traffic on both members.
func (lab *bondLab) bothUp() error {
	st, err := bondOf(lab.d, "bond0")
	if err != nil {
		return err
	}
	for _, m := range st.Members {
		if !m.Enabled {
			return fmt.Errorf("ours: %s disabled (%+v)", m.Name, m.LACP)
		}
	}
	if e := lab.ovsEnabled(); !e["o1"] || !e["o2"] {
		return fmt.Errorf("Open vSwitch members %v", e)
	}
	return nil
}

// negotiated waits for LACP on both sides and checks that each side shows
// the other as its partner.
func (lab *bondLab) negotiated() {
	t := lab.t
	took := waitFor(t, 20*time.Second, "LACP negotiated on both sides", lab.bothUp)
	t.Logf("LACP negotiated with Open vSwitch %v after the bond was added", took.Round(10*time.Millisecond))
	out, err := lab.ovs.Appctl("lacp/show", "bond0")
	if err != nil {
		t.Fatal(err)
	}
	sh := l2lab.ParseLACPShow(out)
	if !sh.Negotiated {
		t.Fatalf("Open vSwitch lacp/show not negotiated:\n%s", out)
	}
	for _, name := range []string{"o1", "o2"} {
		m := sh.Members[name]
		if m == nil || m.Status != "current" || !m.Attached || m.PartnerSysID != ourBondMAC ||
			!strings.Contains(m.PartnerState, "synchronized collecting distributing") {
			t.Fatalf("Open vSwitch member %s: %+v\n%s", name, m, out)
		}
	}
	st, err := bondOf(lab.d, "bond0")
	if err != nil {
		t.Fatal(err)
	}
	if st.LACPStatus != "negotiated" || st.PartnerSystemID != ovsBondMAC {
		t.Fatalf("our bond show: %+v", st)
	}
	for _, m := range st.Members {
		if m.LACP == nil || m.LACP.Status != "current" || m.LACP.Partner.SystemID != ovsBondMAC {
			t.Fatalf("our member %s: %+v", m.Name, m.LACP)
		}
	}
	text := lab.d.MustCLI("bond", "show", "bond0")
	for _, want := range []string{"lacp_status: negotiated", "partner: " + ovsBondMAC, "member m1: enabled", "member m2: enabled"} {
		if !strings.Contains(text, want) {
			t.Fatalf("bond show lacks %q:\n%s", want, text)
		}
	}
}

// txBytes returns each member's transmitted bytes.
func (lab *bondLab) txBytes() map[string]uint64 {
	st, err := bondOf(lab.d, "bond0")
	if err != nil {
		lab.t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, x := range st.Members {
		m[x.Name] = x.Counters.TxBytes
	}
	return m
}

// iperf runs iperf3 from the VM to Open vSwitch's address in the
// background (server one-off in the OVS namespace); rate "" is unlimited,
// else iperf3's -b per stream.
func (lab *bondLab) iperf(secs int, streams int, rate string) *bg {
	t := lab.t
	srv := startBG(t, "ip", "netns", "exec", lab.nsO, "iperf3", "-s", "-1", "-B", "198.18.61.2")
	waitFor(t, 5*time.Second, "iperf3 server listening", func() error {
		out, _ := testnet.NS(lab.nsO, "ss", "-ltn")
		if !strings.Contains(out, "198.18.61.2:5201") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	_ = srv
	args := []string{"ip", "netns", "exec", lab.vm.ns, "iperf3", "-c", "198.18.61.2", "-t", fmt.Sprint(secs), "-i", "0.1",
		"-P", fmt.Sprint(streams), "-J", "-M", "1400"}
	if rate != "" {
		args = append(args, "-b", rate)
	}
	return startBG(t, args...)
}

// A Switchyard bond of two veth links to an Open vSwitch bond in LACP
// balance-tcp: LACP negotiates (both sides show the partner); several TCP
// flows spread over both members (per-member counters); a TCP transfer
// survives `ip link set MEMBER down` on the member carrying it with no
// more loss than a retransmit timeout; a silent member (carrier up, the
// peer's transmissions dropped) leaves within the LACP timeout and rejoins
// within two LACP periods after the repair. Our LACPDUs, checked by
// tshark, carry our system ID and Open vSwitch's as partner.
func TestBondLACPBalanceTCPWithOVS(t *testing.T) {
	lab := newBondLab(t, "balance-tcp")
	lab.negotiated()
	testnet.Eventually(t, 10*time.Second, "VM reaches Open vSwitch over the bond", func() error {
		return testnet.Ping(lab.vm.ns, "198.18.61.2", 2)
	})

	// Several flows: both members carry some.
	before := lab.txBytes()
	r := parseIperf(t, lab.iperf(3, 16, "").wait(t, 30*time.Second))
	after := lab.txBytes()
	d1, d2 := after["m1"]-before["m1"], after["m2"]-before["m2"]
	t.Logf("16 TCP flows for 3 s: %.2f Gbit/s; member m1 sent %d MB, m2 %d MB", r.End.SumReceived.BPS/1e9, d1>>20, d2>>20)
	if sh, err := showOf(t, lab.d); err == nil {
		for _, p := range sh.Bridges[0].Ports {
			t.Logf("port %s: rx %d tx %d drops %v", p.Name, p.Stats.RxPackets, p.Stats.TxPackets, p.Stats.Drops)
		}
	}
	if out, err := lab.ovs.Appctl("dpctl/show", "-s"); err == nil {
		t.Logf("Open vSwitch datapath:\n%s", out)
	}
	if total := d1 + d2; d1 < total/10 || d2 < total/10 {
		t.Log(lab.d.MustCLI("bond", "show", "bond0"))
		t.Fatalf("16 flows did not spread over both members: m1 %d bytes, m2 %d bytes", d1, d2)
	}

	// One flow, paced below what Open vSwitch's userspace datapath drops
	// at (unpaced, it loses thousands of frames a second between its bond
	// and its bridge port, which hides what a failover costs); down the
	// member that carries it, mid-transfer.
	c := lab.iperf(5, 1, "200M")
	time.Sleep(1500 * time.Millisecond) // let the flow run before the fault (the test is about a fault mid-transfer)
	b1 := lab.txBytes()
	time.Sleep(300 * time.Millisecond)
	b2 := lab.txBytes()
	victim := "m1"
	if b2["m2"]-b1["m2"] > b2["m1"]-b1["m1"] {
		victim = "m2"
	}
	start := time.Now()
	testnet.MustNS(t, lab.nsS, "ip", "link", "set", victim, "down")
	took := waitFor(t, 2*time.Second, "member out after carrier loss", func() error {
		st, err := bondOf(lab.d, "bond0")
		if err != nil {
			return err
		}
		if m := member(st, victim); m.Enabled || m.Carrier {
			return fmt.Errorf("%s enabled %v carrier %v", victim, m.Enabled, m.Carrier)
		}
		return nil
	})
	t.Logf("member %s out of the bond %v after `ip link set %s down` began", victim, took.Round(time.Millisecond), victim)
	out := c.wait(t, 30*time.Second)
	r = parseIperf(t, out)
	stall := r.longestStall()
	t.Logf("one TCP flow, %s (carrying it) set down 1.8 s in: %.2f Gbit/s over 5 s, %d retransmits, longest stall %.1f s; Mbit/s per 0.1 s: %s",
		victim, r.End.SumReceived.BPS/1e9, r.End.SumSent.Retrans, stall, r.series())
	if r.End.SumReceived.Bytes < 100e6 || stall > 0.45 {
		t.Fatalf("the transfer stalled %.1f s after the member went down (want at most one retransmit timeout); %.0f MB", stall, r.End.SumReceived.Bytes/1e6)
	}
	_ = start
	testnet.MustNS(t, lab.nsS, "ip", "link", "set", victim, "up")
	took = waitFor(t, 5*time.Second, "member back after carrier up", lab.bothUp)
	t.Logf("carrier back: %s in on both sides after %v", victim, took.Round(10*time.Millisecond))

	// Open vSwitch's o2 goes silent (carrier up): we remove m2 within the
	// fast LACP timeout (3 s), and take it back within 2 periods after.
	undo := l2lab.Silence(t, lab.nsO, "o2")
	start = time.Now()
	took = waitFor(t, 6*time.Second, "silent member removed", func() error {
		st, err := bondOf(lab.d, "bond0")
		if err != nil {
			return err
		}
		if m := member(st, "m2"); m.Enabled || !m.Carrier {
			return fmt.Errorf("m2 enabled %v carrier %v", m.Enabled, m.Carrier)
		}
		return nil
	})
	t.Logf("silent partner on m2: removed after %v (LACP fast timeout 3 s)", took.Round(10*time.Millisecond))
	if took > 4*time.Second {
		t.Fatalf("removing the silent member took %v", took)
	}
	// Our LACPDUs on m2 now say we are out of sync: Open vSwitch stops
	// using o2 too.
	took = waitFor(t, 3*time.Second, "Open vSwitch stops using o2", func() error {
		if e := lab.ovsEnabled(); e["o2"] || !e["o1"] {
			return fmt.Errorf("Open vSwitch members %v", e)
		}
		return nil
	})
	t.Logf("Open vSwitch disabled o2 %v later (our LACPDUs on m2 say out of sync)", took.Round(10*time.Millisecond))
	testnet.Eventually(t, 3*time.Second, "traffic over the remaining member", func() error {
		return testnet.Ping(lab.vm.ns, "198.18.61.2", 2)
	})
	undo()
	start = time.Now()
	took = waitFor(t, 10*time.Second, "repaired member rejoins", lab.bothUp)
	t.Logf("repaired member back on both sides after %v (2 LACP periods = 2 s)", took.Round(10*time.Millisecond))
	if took > 2500*time.Millisecond {
		t.Fatalf("rejoin took %v, want within 2 LACP periods", took)
	}

	// Our LACPDUs as Open vSwitch received them on o1.
	lab.stopCap()
	rows := l2lab.Tshark(t, lab.capO1, "lacp && eth.src != "+ovsBondMAC+" && lacp.actor.sysid == "+ourBondMAC,
		"lacp.version", "lacp.actor.sysid", "lacp.actor.key", "lacp.partner.sysid", "lacp.actor.state", "frame.len")
	if len(rows) < 3 {
		t.Fatalf("tshark saw %d of our LACPDUs on o1", len(rows))
	}
	last := rows[len(rows)-1]
	if (last[0] != "1" && last[0] != "0x01") || last[3] != ovsBondMAC || last[5] != "124" {
		t.Fatalf("our LACPDU as tshark reads it: %v", last)
	}
	t.Logf("tshark: %d of our LACPDUs on o1, last: version %s actor %s key %s partner %s state %s, %s bytes",
		len(rows), last[0], last[1], last[2], last[3], last[4], last[5])
}

// Active-backup with LACP against Open vSwitch active-backup: one member
// carries the traffic; when its carrier goes, the other takes over and a
// TCP transfer goes on.
func TestBondActiveBackupWithOVS(t *testing.T) {
	lab := newBondLab(t, "active-backup")
	lab.negotiated()
	testnet.Eventually(t, 10*time.Second, "VM reaches Open vSwitch over the bond", func() error {
		return testnet.Ping(lab.vm.ns, "198.18.61.2", 2)
	})
	st, _ := bondOf(lab.d, "bond0")
	act := st.ActiveMember
	if act == "" {
		t.Fatalf("no active member: %+v", st)
	}
	backup := "m1"
	if act == "m1" {
		backup = "m2"
	}
	before := lab.txBytes()
	c := lab.iperf(4, 2, "100M")
	time.Sleep(1500 * time.Millisecond) // the fault comes mid-transfer
	mid := lab.txBytes()
	if mid[backup]-before[backup] > (mid[act]-before[act])/100 {
		t.Fatalf("active-backup sent on the backup member: %v → %v", before, mid)
	}
	testnet.MustNS(t, lab.nsS, "ip", "link", "set", act, "down")
	r := parseIperf(t, c.wait(t, 30*time.Second))
	stall := r.longestStall()
	st, _ = bondOf(lab.d, "bond0")
	t.Logf("active member %s set down mid-transfer: %.2f Gbit/s, %d retransmits, longest stall %.1f s; now active %s; Mbit/s per 0.1 s: %s",
		act, r.End.SumReceived.BPS/1e9, r.End.SumSent.Retrans, stall, st.ActiveMember, r.series())
	if st.ActiveMember != backup || stall > 0.45 {
		t.Fatalf("failover: active %q, stall %.1f s", st.ActiveMember, stall)
	}
	after := lab.txBytes()
	if after[backup]-mid[backup] < 1<<20 {
		t.Fatalf("the backup member carried %d bytes after the failover", after[backup]-mid[backup])
	}
}
