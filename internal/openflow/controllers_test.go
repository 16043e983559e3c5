package openflow_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
	"github.com/switchyard-net/switchyard/internal/openflow/oftest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a peer process started by a test and killed by its PID.
type proc struct {
	cmd *exec.Cmd
	out *syncBuf
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", args[0], err)
	}
	p := &proc{cmd: cmd, out: out}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", args[0], out.String())
		}
	})
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// waitOutput waits until the process printed want.
func (p *proc) waitOutput(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never printed %q:\n%s", p.cmd.Path, want, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func controllerAgent(t *testing.T, target string) (*openflow.Agent, *oftest.Backend) {
	t.Helper()
	tg, err := openflow.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	be := oftest.NewBackend()
	a, err := openflow.New(openflow.Config{Name: "br0", Backend: be, Logger: testLogger(t), Targets: []openflow.Target{tg},
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, PacketInRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, be
}

func mac(s string) net.HardwareAddr {
	m, _ := net.ParseMAC(s)
	return m
}

// arpFrame is an Ethernet+ARP request from src to dst.
func ethFrame(dst, src string, etherType uint16, payload int) []byte {
	b := append(append(append([]byte(nil), mac(dst)...), mac(src)...), byte(etherType>>8), byte(etherType))
	return append(b, bytes.Repeat([]byte{0x5a}, payload)...)
}

// waitPacketOut waits for a packet-out whose frame is frame and returns it.
func waitPacketOut(t *testing.T, be *oftest.Backend, frame []byte, emit func()) *ofp.PacketOut {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range be.Calls("PacketOut") {
			if po := c.Arg.(*ofp.PacketOut); bytes.Equal(po.Data, frame) {
				return po
			}
		}
		emit()
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no packet-out for frame %x (calls %d)", frame[:14], len(be.Calls("")))
	return nil
}

// TestOvsTestcontroller: ovs-testcontroller, an independent L2-learning
// OpenFlow controller, drives a bridge through an active tcp: target: the
// handshake, FEATURES, its flow-mods and packet-outs, our packet-ins
// reaching it, and reconnecting after it restarts.
func TestOvsTestcontroller(t *testing.T) {
	requirePeer(t, "ovs-testcontroller")
	port := freePort(t)
	env := []string{"OVS_RUNDIR=" + t.TempDir()}
	tc := startProc(t, env, "ovs-testcontroller", "-O", "OpenFlow13", fmt.Sprintf("ptcp:%d:127.0.0.1", port))
	a, be := controllerAgent(t, fmt.Sprintf("tcp:127.0.0.1:%d", port))
	waitFor(t, "connected to ovs-testcontroller", a.Connected)
	be.WaitCalls(t, "Features", 1, 10*time.Second)

	// A broadcast from A on port 1 is flooded by the controller.
	bcast := ethFrame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:0a", 0x0806, 28)
	po := waitPacketOut(t, be, bcast, func() {
		a.EmitPacketIn(&openflow.PacketIn{InPort: 1, Reason: ofp.ReasonNoMatch, MaxLen: int(ofp.ControllerNoBuffer), Frame: bcast})
	})
	if po.InPort != 1 || len(po.Actions) != 1 || po.Actions[0] != (ofp.ActionOutput{Port: ofp.PortFlood}) {
		t.Errorf("flood packet-out %+v", po)
	}
	// B answers from port 2: the controller learned A on port 1, installs
	// a flow and sends the packet to port 1.
	reply := ethFrame("02:00:00:00:00:0a", "02:00:00:00:00:0b", 0x0806, 28)
	po = waitPacketOut(t, be, reply, func() {
		a.EmitPacketIn(&openflow.PacketIn{InPort: 2, Reason: ofp.ReasonNoMatch, MaxLen: int(ofp.ControllerNoBuffer), Frame: reply})
	})
	if len(po.Actions) != 1 || po.Actions[0] != (ofp.ActionOutput{Port: 1}) {
		t.Errorf("unicast packet-out %+v", po)
	}
	var learned *ofp.FlowMod
	for _, c := range be.Calls("FlowMod") {
		fm := c.Arg.(*ofp.FlowMod)
		if p, ok := fm.Match.InPort(); ok && p == 2 && fm.Command == ofp.FlowAdd {
			learned = fm
		}
	}
	if learned == nil {
		t.Fatalf("no learned flow from in_port 2 (flow-mods: %d)", len(be.Calls("FlowMod")))
	}
	if d, ok := learned.Match.Get(ofp.FieldEthDst); !ok || net.HardwareAddr(d.Value).String() != "02:00:00:00:00:0a" {
		t.Errorf("learned flow match %v", learned.Match.Fields)
	}
	if acts := ofp.ApplyActions(learned.Instructions); len(acts) == 0 || acts[len(acts)-1] != (ofp.ActionOutput{Port: 1}) {
		t.Errorf("learned flow actions %v", learned.Instructions)
	}

	// The controller restarts: the bridge reconnects and is programmed
	// again.
	tc.kill()
	waitFor(t, "disconnected", func() bool { return !a.Connected() })
	features := len(be.Calls("Features"))
	startProc(t, env, "ovs-testcontroller", "-O", "OpenFlow13", fmt.Sprintf("ptcp:%d:127.0.0.1", port))
	waitFor(t, "reconnected to ovs-testcontroller", a.Connected)
	be.WaitCalls(t, "Features", features+1, 10*time.Second)
}

// TestOsKen: an os-ken OpenFlow 1.3 application (testdata) connected to an
// active target installs its table-miss flow, receives our packet-ins (with
// tunnel_id in the match) and answers with flows and packet-outs; after
// osken-manager restarts the bridge reconnects and is programmed again.
func TestOsKen(t *testing.T) {
	requirePeer(t, "osken-manager")
	port := freePort(t)
	app, _ := os.Getwd()
	app += "/testdata/osken_l2switch13.py"
	run := func() *proc {
		return startProc(t, nil, "osken-manager", "--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", fmt.Sprint(port), app)
	}
	ok := run()
	a, be := controllerAgent(t, fmt.Sprintf("tcp:127.0.0.1:%d", port))
	ok.waitOutput(t, "SWITCH dpid=0000020000aa0001 n_tables=254", 30*time.Second)
	tableMiss := func(from int) *ofp.FlowMod {
		for _, c := range be.WaitCalls(t, "FlowMod", from+1, 15*time.Second)[from:] {
			fm := c.Arg.(*ofp.FlowMod)
			if fm.Priority == 0 && len(fm.Match.Fields) == 0 {
				return fm
			}
		}
		return nil
	}
	fm := tableMiss(0)
	if fm == nil || fm.Command != ofp.FlowAdd {
		t.Fatalf("no table-miss flow-mod from os-ken: %+v", fm)
	}
	if acts := ofp.ApplyActions(fm.Instructions); len(acts) != 1 || acts[0] != (ofp.ActionOutput{Port: ofp.PortController, MaxLen: ofp.ControllerNoBuffer}) {
		t.Errorf("table-miss actions %v", fm.Instructions)
	}
	// A packet-in from a tunnel reaches the application with tunnel_id.
	a1 := ethFrame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:0a", 0x0806, 28)
	emit := func(in uint32, f []byte) func() {
		return func() {
			a.EmitPacketIn(&openflow.PacketIn{InPort: in, Reason: ofp.ReasonNoMatch, TableID: 0, HasTunnel: in == 7, TunnelID: 5001, MaxLen: int(ofp.ControllerNoBuffer), Frame: f})
		}
	}
	po := waitPacketOut(t, be, a1, emit(7, a1))
	ok.waitOutput(t, "PACKET_IN in_port=7 src=02:00:00:00:00:0a dst=ff:ff:ff:ff:ff:ff reason=0 tunnel_id=5001 len=42", 5*time.Second)
	if o, _ := po.Actions[0].(ofp.ActionOutput); o.Port != ofp.PortFlood || po.InPort != 7 {
		t.Errorf("flood %+v", po)
	}
	b1 := ethFrame("02:00:00:00:00:0a", "02:00:00:00:00:0b", 0x0806, 28)
	po = waitPacketOut(t, be, b1, emit(2, b1))
	if o, _ := po.Actions[0].(ofp.ActionOutput); o.Port != 7 {
		t.Errorf("unicast %+v", po)
	}
	var learned bool
	for _, c := range be.Calls("FlowMod") {
		fm := c.Arg.(*ofp.FlowMod)
		if fm.Priority == 1 && fm.IdleTimeout == 60 {
			if p, _ := fm.Match.InPort(); p == 2 {
				learned = true
			}
		}
	}
	if !learned {
		t.Error("os-ken installed no learned flow")
	}
	// Restart: reconnect and reprogram.
	ok.kill()
	waitFor(t, "disconnected from os-ken", func() bool { return !a.Connected() })
	n := len(be.Calls("FlowMod"))
	again := run()
	again.waitOutput(t, "SWITCH dpid=0000020000aa0001", 30*time.Second)
	if fm := tableMiss(n); fm == nil {
		t.Fatal("os-ken did not reprogram the table-miss flow after reconnecting")
	}
}
