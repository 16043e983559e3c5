// Command bench-openflow measures Switchyard's OpenFlow side next to Open
// vSwitch 3.1 userspace, in one run, on the same machine:
//
//   - FLOW_MOD throughput: distinct flows over one connection to the
//     bridge's management socket, a barrier after every 1000;
//   - PACKET_IN → PACKET_OUT round trips per second with a trivial
//     controller (this program): a frame sent into port 1 goes to the
//     controller (table-miss flow), which sends it out of port 2, where
//     this program reads it — one frame in flight (latency-bound) and 32;
//   - controller-driven learning: the time from a host's first frame to its
//     flow being installed (the controller's barrier reply after its
//     FLOW_MOD), p50 and p99.
//
// Both switches run in one network namespace the program makes (and
// removes), with veth ports; traffic never leaves it. Run as root:
//
//	go run ./bench/openflow --rounds 3
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

var (
	rounds   = flag.Int("rounds", 3, "interleaved rounds of every measurement")
	nflows   = flag.Int("flows", 100000, "flow-mods per FLOW_MOD round")
	duration = flag.Duration("duration", 3*time.Second, "length of a round-trip measurement")
	nlearn   = flag.Int("learn", 1000, "hosts learned per learning round")
	bin      = flag.String("bin", "", "the switchyard binary (default: go build ./cmd/switchyard)")
	only     = flag.String("only", "", "flowmod or packetin: run only that part")
	warmup   = flag.Int("warmup", 1, "rounds run first and not counted (heaps and caches warm up)")
	gogc     = flag.String("daemon-gogc", "", "GOGC for the Switchyard daemon (default: the Go default)")
)

// sw is one switch under test.
type sw struct {
	name   string
	mgmt   string      // its bridge's management socket
	setCtl func(p int) // point the bridge at a controller on 127.0.0.1:p
	clrCtl func()      // no controller
	p1, p2 string      // the veth ends this program uses (ports 1 and 2)
	res    map[string][]float64
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal(fmt.Errorf("needs root (network namespaces, veth, AF_PACKET)"))
	}
	for _, b := range []string{"ovs-vswitchd", "ovsdb-server", "ovs-vsctl", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			fatal(fmt.Errorf("%s is missing (apt-get install openvswitch-switch iproute2)", b))
		}
	}
	cleanup = &scope{}
	defer cleanup.close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; cleanup.close(); os.Exit(2) }()

	dir, err := os.MkdirTemp("", "syofb")
	if err != nil {
		fatal(err)
	}
	cleanup.defer_(func() { os.RemoveAll(dir) })
	if *bin == "" {
		*bin = filepath.Join(dir, "switchyard")
		must(run("go", "build", "-o", *bin, "./cmd/switchyard"))
	}
	ns := fmt.Sprintf("syofb%d", os.Getpid()%100000)
	must(run("ip", "netns", "add", ns))
	cleanup.defer_(func() { run("ip", "netns", "del", ns) })
	must(run(nsExec(ns, "ip", "link", "set", "lo", "up")...))
	run(nsExec(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")...)
	for _, v := range []string{"sy1", "sy2", "ov1", "ov2"} {
		must(run(nsExec(ns, "ip", "link", "add", v, "type", "veth", "peer", "name", v+"p")...))
		must(run(nsExec(ns, "ip", "link", "set", v, "up")...))
		must(run(nsExec(ns, "ip", "link", "set", v+"p", "up")...))
	}

	// Switchyard.
	syDir := filepath.Join(dir, "sy")
	os.MkdirAll(syDir, 0o755)
	sock := filepath.Join(syDir, "sy.sock")
	var syEnv []string
	if *gogc != "" {
		syEnv = append(syEnv, "GOGC="+*gogc)
	}
	syProc := start(cleanup, syEnv, nsExec(ns, *bin, "daemon", "--state-dir", filepath.Join(syDir, "state"), "--socket", sock)...)
	cli := func(args ...string) string {
		return must(run(append([]string{*bin}, append(args, "--socket", sock)...)...))
	}
	waitFor("switchyard daemon", 15*time.Second, func() error { _, err := run(*bin, "bridge", "list", "--socket", sock); return err })
	cli("bridge", "add", "br0", "--packet-in-rate", "-1")
	cli("port", "add", "br0", "sy1", "--type", "system", "--ofport", "1")
	cli("port", "add", "br0", "sy2", "--type", "system", "--ofport", "2")
	sy := &sw{name: "switchyard", mgmt: filepath.Join(syDir, "br0.mgmt"), p1: "sy1p", p2: "sy2p", res: map[string][]float64{},
		setCtl: func(p int) {
			cli("bridge", "set", "br0", "--fail-mode", "secure", "--controller", fmt.Sprintf("tcp:127.0.0.1:%d", p))
		},
		clrCtl: func() { cli("bridge", "set", "br0", "--controller", "") }}
	waitFor("switchyard management socket", 10*time.Second, func() error { _, err := os.Stat(sy.mgmt); return err })

	// Open vSwitch.
	ovDir := filepath.Join(dir, "ovs")
	os.MkdirAll(ovDir, 0o755)
	o := startOVS(cleanup, ns, ovDir)
	must(o.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev", "protocols=OpenFlow13"))
	must(o.vsctl("add-port", "br0", "ov1", "--", "set", "interface", "ov1", "ofport_request=1"))
	must(o.vsctl("add-port", "br0", "ov2", "--", "set", "interface", "ov2", "ofport_request=2"))
	ov := &sw{name: "ovs", mgmt: filepath.Join(ovDir, "br0.mgmt"), p1: "ov1p", p2: "ov2p", res: map[string][]float64{},
		setCtl: func(p int) {
			must(o.vsctl("set-fail-mode", "br0", "secure", "--", "set-controller", "br0", fmt.Sprintf("tcp:127.0.0.1:%d", p),
				"--", "set", "controller", "br0", "connection-mode=out-of-band"))
		},
		clrCtl: func() { must(o.vsctl("del-controller", "br0")) }}
	waitFor("ovs management socket", 15*time.Second, func() error { _, err := os.Stat(ov.mgmt); return err })

	switches := []*sw{sy, ov}
	fmt.Printf("# bench-openflow: %s vs %s, %d rounds, %d flow-mods, %s round trips, %d hosts\n", "Switchyard", ovsVersion(), *rounds, *nflows, *duration, *nlearn)
	fmt.Printf("# switchyard daemon: pid %d (ip netns exec)\n", syProc.cmd.Process.Pid)
	for r := -*warmup; r < *rounds && *only != "packetin"; r++ {
		for _, s := range switches {
			v, err := flowModRound(s.mgmt, *nflows)
			if err != nil {
				fatal(fmt.Errorf("%s flow-mods: %w", s.name, err))
			}
			if r < 0 {
				fmt.Printf("warm-up %-10s flow_mods/s %.0f\n", s.name, v)
				continue
			}
			s.res["flow_mods/s"] = append(s.res["flow_mods/s"], v)
			fmt.Printf("round %d %-10s flow_mods/s %.0f\n", r+1, s.name, v)
		}
	}
	port := 20000 + os.Getpid()%20000
	for r := 0; r < *rounds && *only != "flowmod"; r++ {
		for _, s := range switches {
			port++
			ctl := newController(ns, port)
			s.setCtl(port)
			c := ctl.waitConn()
			t1, err := newTraffic(ns, s.p1, s.p2)
			if err != nil {
				fatal(err)
			}
			rt1 := t1.roundTrips(c, 1, *duration)
			rt32 := t1.roundTrips(c, 32, *duration)
			p50, p99 := t1.learning(c, *nlearn)
			t1.close()
			s.clrCtl()
			ctl.close()
			s.res["roundtrips/s (1 in flight)"] = append(s.res["roundtrips/s (1 in flight)"], rt1)
			s.res["roundtrips/s (32 in flight)"] = append(s.res["roundtrips/s (32 in flight)"], rt32)
			s.res["learn p50 µs"] = append(s.res["learn p50 µs"], p50)
			s.res["learn p99 µs"] = append(s.res["learn p99 µs"], p99)
			fmt.Printf("round %d %-10s round trips/s %.0f (1) %.0f (32); learning p50 %.0f µs p99 %.0f µs\n", r+1, s.name, rt1, rt32, p50, p99)
		}
	}
	report(sy, ov)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func report(sy, ov *sw) {
	fmt.Println()
	fmt.Println("| measurement (median of rounds) | Switchyard | Open vSwitch | ratio |")
	fmt.Println("|---|---|---|---|")
	for _, k := range []string{"flow_mods/s", "roundtrips/s (1 in flight)", "roundtrips/s (32 in flight)", "learn p50 µs", "learn p99 µs"} {
		a, b := median(sy.res[k]), median(ov.res[k])
		ratio := a / b
		if strings.HasPrefix(k, "learn") {
			ratio = b / a // faster is better
		}
		fmt.Printf("| %s | %.0f | %.0f | %.2f× |\n", k, a, b, ratio)
	}
}

// flowModRound sends n distinct flows with a barrier per 1000 and returns
// flow_mods/s; the flows are deleted afterwards.
func flowModRound(mgmt string, n int) (float64, error) {
	c, err := dialOF("unix", mgmt)
	if err != nil {
		return 0, err
	}
	defer c.nc.Close()
	// The messages are encoded before the clock starts: what is measured
	// is the switch.
	var batches [][]byte
	for done := 0; done < n; {
		batch := make([]byte, 0, 1000*96)
		for i := 0; i < 1000 && done < n; i, done = i+1, done+1 {
			fm := flowAdd(100, []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1), ofp.OXMUint(ofp.FieldEthType, 0x0800), ofp.OXMUint(ofp.FieldIPv4Dst, uint64(0xc6120000+done))},
				ofp.ActionOutput{Port: 2})
			raw, err := ofp.Marshal(ofp.Version13, uint32(done), fm)
			if err != nil {
				return 0, err
			}
			batch = append(batch, raw...)
		}
		batches = append(batches, batch)
	}
	start := time.Now()
	for _, batch := range batches {
		if err := c.write(batch, true); err != nil {
			return 0, err
		}
		if err := c.barrier(); err != nil {
			return 0, err
		}
	}
	el := time.Since(start)
	if _, err := c.send(&ofp.FlowMod{Command: ofp.FlowDelete, TableID: 0, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1), ofp.OXMUint(ofp.FieldEthType, 0x0800)}}}, true); err != nil {
		return 0, err
	}
	return float64(n) / el.Seconds(), c.barrier()
}

// controller is the trivial controller: it programs a table-miss flow to
// itself, answers packet-ins with packet-outs to port 2 (echo mode) or with
// a learned flow and a barrier (learn mode).
type controller struct {
	ln    net.Listener
	conns chan *ctlConn
}

type ctlConn struct {
	c     *ofConn
	learn atomic.Bool
	// learned is told the source MAC of each learned flow once its
	// barrier reply arrived.
	learned chan uint64
	mu      sync.Mutex
	pending map[uint32]uint64 // barrier xid → MAC
}

func newController(ns string, port int) *controller {
	var ln net.Listener
	if err := inNS(ns, func() (err error) { ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); return }); err != nil {
		fatal(err)
	}
	ct := &controller{ln: ln, conns: make(chan *ctlConn, 4)}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c, err := handshake(nc)
			if err != nil {
				nc.Close()
				continue
			}
			cc := &ctlConn{c: c, learned: make(chan uint64, 1024), pending: map[uint32]uint64{}}
			c.send(deleteAll(), false)
			c.send(flowAdd(0, nil, ofp.ActionOutput{Port: ofp.PortController, MaxLen: ofp.ControllerNoBuffer}), false)
			c.send(&ofp.BarrierRequest{}, true)
			go cc.serve()
			ct.conns <- cc
		}
	}()
	return ct
}

func (ct *controller) waitConn() *ctlConn {
	select {
	case c := <-ct.conns:
		time.Sleep(200 * time.Millisecond) // its table-miss flow is in
		return c
	case <-time.After(30 * time.Second):
		fatal(fmt.Errorf("no switch connected to the controller"))
	}
	return nil
}

func (ct *controller) close() { ct.ln.Close() }

func (cc *ctlConn) serve() {
	for {
		raw, err := cc.c.read()
		if err != nil {
			return
		}
		switch raw[1] {
		case uint8(ofp.TypeEchoRequest):
			b, _ := ofp.Marshal(raw[0], binary.BigEndian.Uint32(raw[4:]), &ofp.EchoReply{Data: raw[8:]})
			cc.c.write(b, true)
		case uint8(ofp.TypeBarrierReply):
			xid := binary.BigEndian.Uint32(raw[4:])
			cc.mu.Lock()
			mac, ok := cc.pending[xid]
			delete(cc.pending, xid)
			cc.mu.Unlock()
			if ok {
				cc.learned <- mac
			}
		case uint8(ofp.TypePacketIn):
			_, m, err := ofp.Unmarshal(raw)
			if err != nil {
				continue
			}
			pin := m.(*ofp.PacketIn)
			in, _ := pin.Match.InPort()
			if !cc.learn.Load() {
				cc.c.send(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: in, Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}, Data: pin.Data}, true)
				continue
			}
			if len(pin.Data) < 12 {
				continue
			}
			src := pin.Data[6:12]
			mac := uint64(src[0])<<40 | uint64(src[1])<<32 | uint64(src[2])<<24 | uint64(src[3])<<16 | uint64(src[4])<<8 | uint64(src[5])
			cc.c.send(flowAdd(10, []ofp.OXM{ofp.NewOXM(ofp.FieldEthDst, append([]byte(nil), src...), nil)}, ofp.ActionOutput{Port: in}), false)
			xid, _ := cc.c.send(&ofp.BarrierRequest{}, true)
			cc.mu.Lock()
			cc.pending[xid] = mac
			cc.mu.Unlock()
		}
	}
}

// traffic sends frames into port 1 and reads them from port 2 (AF_PACKET
// sockets on the veth ends, in the namespace).
type traffic struct {
	tx, rx int
	seen   chan uint64
	stop   chan struct{}
	wg     sync.WaitGroup
}

func packetSocket(ns, ifname string) (int, error) {
	var fd int
	err := inNS(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	return fd, err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

const benchEther = 0x88b5

func newTraffic(ns, p1, p2 string) (*traffic, error) {
	tx, err := packetSocket(ns, p1)
	if err != nil {
		return nil, err
	}
	rx, err := packetSocket(ns, p2)
	if err != nil {
		return nil, err
	}
	t := &traffic{tx: tx, rx: rx, seen: make(chan uint64, 4096), stop: make(chan struct{})}
	unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		buf := make([]byte, 2048)
		for {
			select {
			case <-t.stop:
				return
			default:
			}
			n, from, err := unix.Recvfrom(rx, buf, 0)
			if err != nil || n < 22 {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if binary.BigEndian.Uint16(buf[12:]) != benchEther {
				continue
			}
			select {
			case t.seen <- binary.BigEndian.Uint64(buf[14:]):
			default:
			}
		}
	}()
	return t, nil
}

func (t *traffic) close() {
	close(t.stop)
	t.wg.Wait()
	unix.Close(t.tx)
	unix.Close(t.rx)
}

func (t *traffic) send(src [6]byte, dst [6]byte, seq uint64) {
	var b [64]byte
	f := b[:]
	copy(f, dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], benchEther)
	binary.BigEndian.PutUint64(f[14:], seq)
	unix.Write(t.tx, f)
}

var (
	macA = [6]byte{2, 0, 0, 0, 0, 1}
	macB = [6]byte{2, 0, 0, 0, 0, 2}
)

// roundTrips keeps w frames in flight through the controller for d and
// returns the completed round trips per second (a frame not back in
// 500 ms is given up).
func (t *traffic) roundTrips(c *ctlConn, w int, d time.Duration) float64 {
	c.learn.Store(false)
	for len(t.seen) > 0 {
		<-t.seen
	}
	inflight := map[uint64]time.Time{}
	seq := uint64(1 << 40)
	done := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for len(inflight) < w {
			seq++
			inflight[seq] = time.Now()
			t.send(macA, macB, seq)
		}
		select {
		case s := <-t.seen:
			if _, ok := inflight[s]; ok {
				delete(inflight, s)
				done++
			}
		case now := <-tick.C:
			for s, at := range inflight {
				if now.Sub(at) > 500*time.Millisecond {
					delete(inflight, s)
				}
			}
		}
	}
	return float64(done) / d.Seconds()
}

// learning sends one frame from each of n new hosts, one at a time, and
// returns the p50 and p99 of the time from the frame to its learned flow
// being installed, in µs.
func (t *traffic) learning(c *ctlConn, n int) (p50, p99 float64) {
	c.learn.Store(true)
	var lat []float64
	for i := 0; i < n; i++ {
		src := [6]byte{2, 0xaa, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		want := uint64(src[0])<<40 | uint64(src[1])<<32 | uint64(src[2])<<24 | uint64(src[3])<<16 | uint64(src[4])<<8 | uint64(src[5])
		t0 := time.Now()
		t.send(src, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint64(i))
		timeout := time.After(time.Second)
	wait:
		for {
			select {
			case mac := <-c.learned:
				if mac == want {
					lat = append(lat, float64(time.Since(t0).Microseconds()))
					break wait
				}
			case <-timeout:
				break wait
			}
		}
	}
	sort.Float64s(lat)
	if len(lat) == 0 {
		return 0, 0
	}
	return lat[len(lat)/2], lat[len(lat)*99/100]
}
