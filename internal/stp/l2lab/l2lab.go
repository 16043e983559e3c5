// Package l2lab holds the test helpers of the L2 protocol interop tests
// (internal/stp, internal/bond): raw AF_PACKET links bound to interfaces
// in test namespaces, carrier events from netlink, private Open vSwitch
// instances (own ovsdb-server and ovs-vswitchd per namespace, as
// shared/notes/l2-peers.md starts them), kernel bridge state, silent
// link failures and captures. It is only imported by _test.go files; the
// protocol packages themselves make no system calls.
package l2lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// Frame is a frame received on a link.
type Frame struct {
	Link int
	Data []byte
	At   time.Time
}

// Link is an AF_PACKET socket bound to one interface of a namespace, in
// promiscuous mode, not seeing its own transmissions.
type Link struct {
	Index  int // caller's number for the link
	Name   string
	NS     string
	MAC    [6]byte
	fd     int
	closed chan struct{}
	once   sync.Once
}

// OpenLink opens ifname in namespace ns and delivers its frames to rx
// until the test ends.
func OpenLink(t testing.TB, ns, ifname string, index int, rx chan<- Frame) *Link {
	t.Helper()
	l := &Link{Index: index, Name: ifname, NS: ns, closed: make(chan struct{})}
	err := testnet.InNS(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		copy(l.MAC[:], ifi.HardwareAddr)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.Timeval{Usec: 100000}
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		l.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("open AF_PACKET on %s in %s: %v", ifname, ns, err)
	}
	t.Cleanup(l.Close)
	go func() {
		buf := make([]byte, 65536)
		for {
			select {
			case <-l.closed:
				return
			default:
			}
			n, _, err := unix.Recvfrom(l.fd, buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENETDOWN) {
					continue
				}
				return
			}
			f := Frame{Link: index, Data: append([]byte(nil), buf[:n]...), At: time.Now()}
			select {
			case rx <- f:
			case <-l.closed:
				return
			}
		}
	}()
	return l
}

// Send transmits a frame (errors such as ENETDOWN are ignored: a down
// link drops frames).
func (l *Link) Send(frame []byte) { _, _ = unix.Write(l.fd, frame) }

// Close stops the reader and closes the socket.
func (l *Link) Close() {
	l.once.Do(func() {
		close(l.closed)
		time.Sleep(150 * time.Millisecond) // let the reader see it (its timeout is 100 ms)
		unix.Close(l.fd)
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Carrier is a carrier change of an interface.
type Carrier struct {
	Name string
	Up   bool
	At   time.Time
}

// WatchCarrier delivers the carrier (IFF_LOWER_UP) of every interface of
// ns to ch, starting with the current state of each, until the test ends.
func WatchCarrier(t testing.TB, ns string, ch chan<- Carrier) {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	updates := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{Namespace: &h, ListExisting: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(done); h.Close() })
	go func() {
		last := map[string]bool{}
		for u := range updates {
			name := u.Link.Attrs().Name
			up := u.Link.Attrs().RawFlags&unix.IFF_LOWER_UP != 0 && u.Link.Attrs().RawFlags&unix.IFF_UP != 0
			if v, ok := last[name]; ok && v == up {
				continue
			}
			last[name] = up
			select {
			case ch <- Carrier{Name: name, Up: up, At: time.Now()}:
			case <-done:
				return
			}
		}
	}()
}

// QuietNS makes a namespace fit for a userspace switch: arp_ignore=1, so
// the kernel does not answer ARP on member links itself.
func QuietNS(t testing.TB, ns string) {
	t.Helper()
	testnet.MustNS(t, ns, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.default.arp_ignore=1")
}

// Silence drops everything ifname in ns transmits (tc clsact egress,
// mirred redirect to lo), carrier staying up: a silent link failure. The
// AF_PACKET taps of the peer never see the frames, since they are
// redirected before the device transmits them. Undo removes it.
func Silence(t testing.TB, ns, ifname string) (undo func()) {
	t.Helper()
	testnet.MustNS(t, ns, "tc", "qdisc", "add", "dev", ifname, "clsact")
	testnet.MustNS(t, ns, "tc", "filter", "add", "dev", ifname, "egress", "protocol", "all", "u32", "match", "u32", "0", "0",
		"action", "mirred", "egress", "redirect", "dev", "lo")
	undone := false
	undo = func() {
		if !undone {
			undone = true
			_, _ = testnet.NS(ns, "tc", "qdisc", "del", "dev", ifname, "clsact")
		}
	}
	t.Cleanup(undo)
	return undo
}

// OVS is a private Open vSwitch (ovsdb-server + ovs-vswitchd) running in a
// namespace with its state in a test directory.
type OVS struct {
	t    testing.TB
	NS   string
	Dir  string
	pids []int
}

// NeedOVS fails the test when Open vSwitch is missing (CI installs it).
func NeedOVS(t testing.TB) {
	t.Helper()
	for _, c := range []string{"ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ovsdb-tool"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s not found: install openvswitch-switch (.ci/packages/l2proto.txt)", c)
		}
	}
}

// StartOVS starts Open vSwitch in ns and stops it (by PID) when the test
// ends.
func StartOVS(t testing.TB, ns string) *OVS {
	t.Helper()
	NeedOVS(t)
	dir, err := os.MkdirTemp("", "l2ovs")
	if err != nil {
		t.Fatal(err)
	}
	o := &OVS{t: t, NS: ns, Dir: dir}
	t.Cleanup(func() {
		o.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "ovs-vswitchd.log")); err == nil {
				s := string(b)
				if len(s) > 6000 {
					s = s[len(s)-6000:]
				}
				t.Logf("ovs-vswitchd.log (%s):\n%s", ns, s)
			}
		}
		os.RemoveAll(dir)
	})
	testnet.MustRun(t, "ovsdb-tool", "create", filepath.Join(dir, "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema")
	env := []string{"OVS_RUNDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_SYSCONFDIR=" + dir}
	run := func(args ...string) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--pidfile="+filepath.Join(dir, "ovsdb-server.pid"), "--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"), "--detach")
	o.readPID("ovsdb-server.pid")
	o.Vsctl("--no-wait", "init")
	run("ovs-vswitchd", "unix:"+filepath.Join(dir, "db.sock"), "--pidfile="+filepath.Join(dir, "ovs-vswitchd.pid"),
		"--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"), "--log-file="+filepath.Join(dir, "ovs-vswitchd.log"), "--detach")
	o.readPID("ovs-vswitchd.pid")
	return o
}

func (o *OVS) readPID(name string) {
	b, err := os.ReadFile(filepath.Join(o.Dir, name))
	if err != nil {
		o.t.Fatalf("%s: %v", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		o.t.Fatalf("%s: %v", name, err)
	}
	o.pids = append(o.pids, pid)
}

// Stop kills ovs-vswitchd and ovsdb-server by PID and waits for them.
func (o *OVS) Stop() {
	for i := len(o.pids) - 1; i >= 0; i-- {
		pid := o.pids[i]
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for j := 0; j < 50 && syscall.Kill(pid, 0) == nil; j++ {
			time.Sleep(20 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	o.pids = nil
}

// Vsctl runs ovs-vsctl against this instance.
func (o *OVS) Vsctl(args ...string) string {
	o.t.Helper()
	out, err := o.run("ovs-vsctl", append([]string{"--db=unix:" + filepath.Join(o.Dir, "db.sock"), "--timeout=10"}, args...)...)
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}

// Appctl runs ovs-appctl against this instance's ovs-vswitchd.
func (o *OVS) Appctl(args ...string) (string, error) {
	return o.run("ovs-appctl", append([]string{"-t", filepath.Join(o.Dir, "ovs-vswitchd.ctl")}, args...)...)
}

func (o *OVS) run(cmd string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cmd, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", cmd, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// LACPMember is one member block of ovs-appctl lacp/show.
type LACPMember struct {
	Name, Status      string // current, expired, defaulted
	Attached          bool
	MayEnable         bool
	ActorState        string
	PartnerSysID      string
	PartnerKey        int
	PartnerState      string
	PartnerPortID     int
	PartnerSysPrio    int
	PartnerPortPrioty int
}

// LACPShow is ovs-appctl lacp/show BOND, parsed.
type LACPShow struct {
	Negotiated bool
	SysID      string
	Members    map[string]*LACPMember
}

// ParseLACPShow parses the output of ovs-appctl lacp/show.
func ParseLACPShow(s string) LACPShow {
	r := LACPShow{Members: map[string]*LACPMember{}}
	var m *LACPMember
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, _ := strings.Cut(line, ": ")
		switch {
		case strings.HasPrefix(line, "status:"):
			r.Negotiated = strings.Contains(line, "negotiated")
		case key == "sys_id" && m == nil:
			r.SysID = val
		case strings.HasPrefix(line, "member: ") || strings.HasPrefix(line, "slave: "):
			// "member: b1: current attached"
			rest := line[strings.Index(line, " ")+1:]
			name, st, _ := strings.Cut(rest, ": ")
			f := strings.Fields(st)
			m = &LACPMember{Name: name}
			if len(f) > 0 {
				m.Status = f[0]
			}
			m.Attached = len(f) > 1 && f[1] == "attached"
			r.Members[name] = m
		case m == nil:
		case key == "may_enable":
			m.MayEnable = val == "true"
		case key == "actor state":
			m.ActorState = val
		case key == "partner sys_id":
			m.PartnerSysID = val
		case key == "partner key":
			m.PartnerKey, _ = strconv.Atoi(val)
		case key == "partner port_id":
			m.PartnerPortID, _ = strconv.Atoi(val)
		case key == "partner sys_priority":
			m.PartnerSysPrio, _ = strconv.Atoi(val)
		case key == "partner state":
			m.PartnerState = val
		case key == "partner state:":
		}
		if line == "partner state:" && m != nil {
			m.PartnerState = ""
		}
	}
	return r
}

// BondMembers parses ovs-appctl bond/show BOND: member name → enabled.
func BondMembers(s string) map[string]bool {
	r := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		for _, pre := range []string{"member ", "slave "} {
			if strings.HasPrefix(line, pre) && strings.Contains(line, ": ") {
				name, st, _ := strings.Cut(line[len(pre):], ": ")
				r[name] = strings.HasPrefix(st, "enabled")
			}
		}
	}
	return r
}

// RSTPPort is a port line of ovs-appctl rstp/show.
type RSTPPort struct{ Role, State string }

// ParseRSTPShow parses ovs-appctl rstp/show BRIDGE's port table and root
// ID line: port name → role and state, and the root's MAC address.
func ParseRSTPShow(s string) (ports map[string]RSTPPort, rootMAC string) {
	ports = map[string]RSTPPort{}
	inRoot := false
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "Root" && len(f) > 1 && f[1] == "ID:" {
			inRoot = true
			continue
		}
		if f[0] == "Bridge" && len(f) > 1 && f[1] == "ID:" {
			inRoot = false
		}
		if inRoot && (f[0] == "stp-system-id" || f[0] == "address") && len(f) > 1 {
			rootMAC = f[1]
		}
		if len(f) >= 5 && (f[1] == "Root" || f[1] == "Designated" || f[1] == "Alternate" || f[1] == "Backup" || f[1] == "Disabled") {
			ports[f[0]] = RSTPPort{Role: f[1], State: f[2]}
		}
	}
	return ports, rootMAC
}

// KernelPortStates returns the STP state of every port of the Linux
// bridges in ns (bridge -j link).
func KernelPortStates(t testing.TB, ns string) map[string]string {
	t.Helper()
	out := testnet.MustNS(t, ns, "bridge", "-j", "link", "show")
	var l []struct {
		IfName string `json:"ifname"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("bridge -j link: %v: %s", err, out)
	}
	r := map[string]string{}
	for _, p := range l {
		r[p.IfName] = p.State
	}
	return r
}

// KernelRootMAC returns the MAC of the root bridge that bridge br in ns
// believes in, from sysfs (root_id "1000.020000000001"; iproute2 6.1's
// `ip -d link` prints the bridge's own ID as designated_root).
func KernelRootMAC(t testing.TB, ns, br string) string {
	t.Helper()
	out := strings.TrimSpace(testnet.MustNS(t, ns, "cat", "/sys/class/net/"+br+"/bridge/root_id"))
	_, hexMAC, ok := strings.Cut(out, ".")
	if !ok || len(hexMAC) != 12 {
		t.Fatalf("root_id of %s in %s: %q", br, ns, out)
	}
	var parts []string
	for i := 0; i < 12; i += 2 {
		parts = append(parts, hexMAC[i:i+2])
	}
	return strings.Join(parts, ":")
}

// Capture runs tcpdump on ifname in ns writing a pcap until stop is called.
func Capture(t testing.TB, ns, ifname, filter string) (path string, stop func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), ifname+".pcap")
	cmd := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "-U", "-w", path, filter)
	if err := cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	// tcpdump needs a moment to attach.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return path, stop
}

// Tshark returns tshark's field values for every packet of a capture that
// matches filter: one []string per packet.
func Tshark(t testing.TB, path, filter string, fields ...string) [][]string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark not found: install tshark (.ci/packages/l2proto.txt)")
	}
	args := []string{"-r", path, "-Y", filter, "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := testnet.Run(append([]string{"tshark"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.HasPrefix(line, "Running as user") {
			continue
		}
		rows = append(rows, strings.Split(line, "|"))
	}
	return rows
}
