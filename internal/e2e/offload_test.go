package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// The same traffic with the daemon's offloads on (vnet headers on TAPs and
// AF_PACKET sockets, 64 KiB TSO super-frames through the engine, inner
// segmentation with UDP GSO and UDP GRO with TCP merging on tunnels) and off
// (every frame complete and MTU-sized everywhere): TCP both ways with
// SHA-256-checked payloads between TAP, veth and mixed ports on one host,
// and over VXLAN to another Switchyard host and to the Linux kernel at
// underlay MTUs 1500 and 9000, with the VMs at the largest MTU that fits and
// a don't-fragment ping of exactly that size.
func TestOffloadsOnAndOff(t *testing.T) {
	testnet.RequireRoot(t)
	for _, mode := range []string{"on", "off"} {
		t.Run("offload-"+mode, func(t *testing.T) {
			t.Parallel()
			t.Run("same-host", func(t *testing.T) { sameHostTransfers(t, mode) })
			for _, mtu := range []int{1500, 9000} {
				for _, peer := range []string{"switchyard", "kernel"} {
					t.Run(fmt.Sprintf("vxlan-%s-mtu%d", peer, mtu), func(t *testing.T) { vxlanTransfers(t, mode, peer, mtu) })
				}
			}
		})
	}
}

const transferSize = 16 << 20

func transfer(t *testing.T, from, to vm) {
	t.Helper()
	bps, err := testnet.TCPTransfer(from.ns, to.ns, to.ip+":5201", transferSize, 60*time.Second)
	if err != nil {
		t.Fatalf("TCP %s→%s: %v", from.ip, to.ip, err)
	}
	t.Logf("TCP 16 MiB %s→%s: %.2f Gbit/s", from.ip, to.ip, bps/1e9)
}

func sameHostTransfers(t *testing.T, mode string) {
	host := testnet.NewNS(t, "h")
	d := testnet.StartDaemon(t, host, "--offload", mode)
	d.MustCLI("bridge", "add", "br0")
	t1 := tapVM(t, d, "br0", "203.0.113.1")
	t2 := tapVM(t, d, "br0", "203.0.113.2")
	v3 := vethVM(t, d, "br0", "203.0.113.3")
	reach(t, t1, t2)
	reach(t, t2, v3)
	transfer(t, t1, t2) // TAP → TAP
	transfer(t, t2, v3) // TAP → system
	transfer(t, v3, t1) // system → TAP
	assertNoDrops(t, d, "br0", "no-space", "tx-error", "bad-frame", "mtu-exceeded")
}

// assertNoDrops fails if any port of the bridge counted one of the reasons.
func assertNoDrops(t *testing.T, d *testnet.Daemon, br string, reasons ...string) {
	t.Helper()
	out := d.MustCLI("stats", br, "--json")
	for _, r := range reasons {
		if strings.Contains(out, `"`+r+`"`) {
			t.Fatalf("drops counted as %s:\n%s", r, out)
		}
	}
}

func vxlanTransfers(t *testing.T, mode, peer string, mtu int) {
	a, b := testnet.NewNS(t, "ha"), testnet.NewNS(t, "hb")
	testnet.Veth(t, "ul0", a, "ul0", b)
	for _, h := range []string{a, b} {
		testnet.MustNS(t, h, "ip", "link", "set", "ul0", "mtu", strconv.Itoa(mtu))
	}
	testnet.Addr(t, a, "ul0", "198.18.0.1/24")
	testnet.Addr(t, b, "ul0", "198.18.0.2/24")
	vmMTU := mtu - 50
	d := testnet.StartDaemon(t, a, "--offload", mode)
	d.MustCLI("bridge", "add", "br0")
	d.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "5001", "--local", "198.18.0.1", "--remote", "198.18.0.2")
	va := tapVM(t, d, "br0", "203.0.113.1")
	testnet.MustNS(t, va.ns, "ip", "link", "set", va.nic, "mtu", strconv.Itoa(vmMTU))
	var vb vm
	switch peer {
	case "switchyard":
		db := testnet.StartDaemon(t, b, "--offload", mode)
		db.MustCLI("bridge", "add", "br0")
		db.MustCLI("port", "add", "br0", "vx0", "--type", "vxlan", "--vni", "5001", "--local", "198.18.0.2", "--remote", "198.18.0.1")
		vb = tapVM(t, db, "br0", "203.0.113.2")
		testnet.MustNS(t, vb.ns, "ip", "link", "set", vb.nic, "mtu", strconv.Itoa(vmMTU))
		defer assertNoDrops(t, db, "br0", "no-space", "tx-error", "bad-frame", "mtu-exceeded")
	case "kernel":
		kernelHost(t, b, "198.18.0.2", 5001, 4789)
		testnet.MustNS(t, b, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan0", "dst", "198.18.0.1")
		testnet.MustNS(t, b, "ip", "link", "set", "br0", "mtu", strconv.Itoa(vmMTU))
		testnet.Addr(t, b, "br0", "203.0.113.2/24")
		vb = vm{ns: b, nic: "br0", ip: "203.0.113.2"}
	}
	reach(t, va, vb)
	// A don't-fragment ping of exactly the VM MTU crosses both ways.
	size := strconv.Itoa(vmMTU - 28)
	for _, dir := range [][2]vm{{va, vb}, {vb, va}} {
		if out, err := testnet.NS(dir[0].ns, "ping", "-c", "2", "-W", "2", "-M", "do", "-s", size, dir[1].ip); err != nil {
			t.Fatalf("DF ping of %s bytes %s→%s: %v\n%s", size, dir[0].ip, dir[1].ip, err, out)
		}
	}
	transfer(t, va, vb)
	transfer(t, vb, va)
	assertNoDrops(t, d, "br0", "no-space", "tx-error", "bad-frame", "mtu-exceeded")
	if peer == "kernel" && mtu == 1500 {
		tsharkInnerChecksums(t, a, va, vb)
	}
}

// tsharkInnerChecksums captures our encapsulated TCP segments during a bulk
// transfer and has tshark verify every outer UDP and inner TCP checksum
// (the segments Switchyard cut from the VM's super-frames must carry
// complete checksums: nothing after us fills them in).
func tsharkInnerChecksums(t *testing.T, host string, from, to vm) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("needs tshark (installed by .ci/deps)")
	}
	// Outer checksums are finished in software on a veth without transmit
	// checksum offload, so the capture holds final values.
	testnet.MustNS(t, host, "ethtool", "-K", "ul0", "tx", "off")
	c := startCapture(t, host, 300, "udp and src host 198.18.0.1 and dst port 4789 and greater 1000")
	transfer(t, from, to)
	c.wait(t)
	out := tshark(t, "-r", c.Pcap, "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=,",
		"-e", "udp.checksum.status", "-e", "tcp.checksum.status", "-e", "frame.len")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 100 {
		t.Fatalf("captured %d bulk packets", len(lines))
	}
	for _, l := range lines {
		f := strings.Split(l, ",")
		if len(f) != 3 || f[0] != "1" || f[1] != "1" { // 1 = Good
			t.Fatalf("tshark: udp checksum status, tcp checksum status, length = %q (1 = Good)", l)
		}
	}
	t.Logf("tshark: %d encapsulated TCP segments, outer UDP and inner TCP checksums all Good (e.g. %s bytes)", len(lines), strings.Split(lines[0], ",")[2])
}
