package openflow_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
	"github.com/switchyard-net/switchyard/internal/openflow/oftest"
)

type harness struct {
	a    *openflow.Agent
	be   *oftest.Backend
	sock string
	tcp  string
}

func start(t *testing.T, mod func(*openflow.Config)) *harness {
	t.Helper()
	be := oftest.NewBackend()
	sock := filepath.Join(t.TempDir(), "br0.mgmt")
	cfg := openflow.Config{Name: "br0", Backend: be, Logger: testLogger(t), Targets: []openflow.Target{{Kind: openflow.PassiveUnix, Addr: sock}, {Kind: openflow.PassiveTCP, Addr: "127.0.0.1:0"}}}
	if mod != nil {
		mod(&cfg)
	}
	a, err := openflow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	h := &harness{a: a, be: be, sock: sock}
	for _, tg := range cfg.Targets {
		if tg.Kind == openflow.PassiveTCP {
			addr, ok := a.ListenAddr(tg)
			if !ok {
				t.Fatal("no tcp listener")
			}
			h.tcp = addr.String()
		}
	}
	return h
}

// testLogger logs to the test at debug level.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

const v13 = 1 << ofp.Version13
const v10 = 1 << ofp.Version10

func wantError(t *testing.T, r oftest.Received, typ ofp.ErrorType, code uint16) {
	t.Helper()
	e, ok := r.Msg.(*ofp.ErrorMsg)
	if !ok {
		t.Fatalf("got %T %+v, want an ERROR %s", r.Msg, r.Msg, ofp.ErrorName(typ, code))
	}
	got := e.Err(r.Header.Version)
	if got.Type != typ || got.Code != code {
		t.Fatalf("got ERROR %s, want %s", ofp.ErrorName(got.Type, got.Code), ofp.ErrorName(typ, code))
	}
}

func TestHandshakeVersions(t *testing.T) {
	h := start(t, nil)
	for _, c := range []struct {
		name   string
		bitmap uint32
		want   uint8
	}{
		{"1.3 bitmap", v13, ofp.Version13},
		{"1.0 only", v10, ofp.Version10},
		{"1.0-1.5 bitmap", 0x7e, ofp.Version13},
	} {
		cl := oftest.Dial(t, "unix", h.sock, c.bitmap)
		if cl.Version != c.want {
			t.Errorf("%s: negotiated %d, want %d", c.name, cl.Version, c.want)
		}
		r := cl.Request(&ofp.FeaturesRequest{})
		f, ok := r.Msg.(*ofp.FeaturesReply)
		if !ok || f.DatapathID != 0x0000020000aa0001 || r.Header.Version != c.want {
			t.Errorf("%s: features %T %+v", c.name, r.Msg, r.Msg)
		}
		if c.want == ofp.Version10 && len(f.Ports) != 2 {
			t.Errorf("1.0 features carries %d ports", len(f.Ports))
		}
	}
	// A hello without bitmap: the lower version, if we have it.
	nc, err := net.Dial("unix", h.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte{ofp.Version15, 0, 0, 8, 0, 0, 0, 1})
	buf := make([]byte, 64)
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _ := io.ReadAtLeast(nc, buf, 8)
	if n < 8 || buf[0] != ofp.Version13 || buf[1] != 0 {
		t.Fatalf("our hello %x", buf[:n])
	}
	nc.Write([]byte{ofp.Version13, 5, 0, 8, 0, 0, 0, 2}) // features request
	n, _ = io.ReadAtLeast(nc, buf[:8], 8)
	if buf[0] != ofp.Version13 || buf[1] != byte(ofp.TypeFeaturesReply) {
		t.Fatalf("1.5 hello without bitmap did not negotiate 1.3: %x", buf[:n])
	}

	// No common version: HELLO_FAILED then close.
	for _, hello := range [][]byte{
		{ofp.Version15, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x40}, // bitmap {1.5}
		{ofp.Version12, 0, 0, 8, 0, 0, 0, 1},                             // 1.2, no bitmap
	} {
		nc, err := net.Dial("unix", h.sock)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(hello)
		all, _ := io.ReadAll(io.LimitReader(nc, 4096))
		nc.Close()
		// our HELLO, then an ERROR HELLO_FAILED/INCOMPATIBLE, then EOF
		msgs := split(t, all)
		if len(msgs) != 2 || msgs[0][1] != byte(ofp.TypeHello) {
			t.Fatalf("incompatible hello %x answered %x", hello, all)
		}
		_, m, err := ofp.Unmarshal(msgs[1])
		if e, ok := m.(*ofp.ErrorMsg); err != nil || !ok || e.ErrType != 0 || e.Code != 0 {
			t.Fatalf("incompatible hello answered %T %v", m, err)
		} else if !strings.Contains(string(e.Data), "we support OpenFlow10, OpenFlow13") {
			t.Errorf("HELLO_FAILED text %q", e.Data)
		}
	}
	// The first message must be HELLO.
	nc2, _ := net.Dial("unix", h.sock)
	nc2.Write([]byte{ofp.Version13, 5, 0, 8, 0, 0, 0, 1})
	all, _ := io.ReadAll(io.LimitReader(nc2, 4096))
	nc2.Close()
	if msgs := split(t, all); len(msgs) != 2 || msgs[1][1] != byte(ofp.TypeError) {
		t.Fatalf("features before hello answered %x", all)
	}
}

// split cuts a byte stream into messages.
func split(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) >= 8 {
		n := int(b[2])<<8 | int(b[3])
		if n < 8 || n > len(b) {
			t.Fatalf("bad framing in %x", b)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func TestEchoConfigBarrierOrder(t *testing.T) {
	h := start(t, nil)
	cl := oftest.Dial(t, "tcp", h.tcp, v13)
	r := cl.Request(&ofp.EchoRequest{Data: []byte("ping")})
	if e, ok := r.Msg.(*ofp.EchoReply); !ok || string(e.Data) != "ping" {
		t.Fatalf("echo: %T %+v", r.Msg, r.Msg)
	}
	// Service connections start with miss_send_len 0 (no async).
	r = cl.Request(&ofp.GetConfigRequest{})
	if gc := r.Msg.(*ofp.GetConfigReply); gc.MissSendLen != 0 || gc.Flags != 0 {
		t.Fatalf("get config %+v", gc)
	}
	cl.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{Flags: ofp.ConfigFragDrop, MissSendLen: 256}})
	r = cl.Request(&ofp.GetConfigRequest{})
	if gc := r.Msg.(*ofp.GetConfigReply); gc.MissSendLen != 256 || gc.Flags != ofp.ConfigFragDrop {
		t.Fatalf("get config after set %+v", gc)
	}
	if c := h.be.Calls("SetFragments"); len(c) != 1 || c[0].Arg.(uint16) != ofp.ConfigFragDrop {
		t.Fatalf("SetFragments calls %v", c)
	}
	// Reassembly is refused.
	cl.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{Flags: 7, MissSendLen: 256}})
	h.be.SetErr("SetFragments", ofp.Errorf(ofp.ErrSwitchConfigFailed, ofp.SwitchConfigFailedBadFlags, "no reassembly"))
	r = cl.Request(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{Flags: ofp.ConfigFragReasm}})
	wantError(t, r, ofp.ErrSwitchConfigFailed, ofp.SwitchConfigFailedBadFlags)

	// Flow-mods are handed over in order, and the barrier reply comes
	// after the backend's Barrier returned.
	h.be.Reset()
	var barrierDone time.Time
	var mu sync.Mutex
	h.be.SetHook(func(method string, arg any) error {
		if method == "Barrier" {
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			barrierDone = time.Now()
			mu.Unlock()
		}
		return nil
	})
	for i := 0; i < 50; i++ {
		cl.Send(&ofp.FlowMod{Command: ofp.FlowAdd, Priority: uint16(i), BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny})
	}
	cl.Barrier()
	got := time.Now()
	calls := h.be.Calls("")
	if len(calls) != 51 || calls[50].Method != "Barrier" {
		t.Fatalf("calls %d, last %v", len(calls), calls[len(calls)-1].Method)
	}
	for i := 0; i < 50; i++ {
		if fm := calls[i].Arg.(*ofp.FlowMod); fm.Priority != uint16(i) {
			t.Fatalf("flow-mod %d arrived as %d", i, fm.Priority)
		}
	}
	mu.Lock()
	if barrierDone.IsZero() || got.Before(barrierDone) {
		t.Fatalf("barrier reply before the backend barrier finished")
	}
	mu.Unlock()
}

func TestErrorsForBadMessages(t *testing.T) {
	h := start(t, nil)
	cl := oftest.Dial(t, "unix", h.sock, v13)
	cases := []struct {
		name string
		raw  []byte
		typ  ofp.ErrorType
		code uint16
	}{
		{"unknown type", []byte{4, 99, 0, 8, 0, 0, 0, 7}, ofp.ErrBadRequest, ofp.BadRequestBadType},
		{"wrong version", []byte{1, 5, 0, 8, 0, 0, 0, 7}, ofp.ErrBadRequest, ofp.BadRequestBadVersion},
		{"features with body", []byte{4, 5, 0, 12, 0, 0, 0, 7, 1, 2, 3, 4}, ofp.ErrBadRequest, ofp.BadRequestBadLen},
		{"truncated flow-mod", []byte{4, 14, 0, 16, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0}, ofp.ErrBadRequest, ofp.BadRequestBadLen},
		{"switch message", []byte{4, 6, 0, 32, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ofp.ErrBadRequest, ofp.BadRequestBadType},
		{"unknown experimenter", []byte{4, 4, 0, 16, 0, 0, 0, 7, 0, 0, 0x12, 0x34, 0, 0, 0, 1}, ofp.ErrBadRequest, ofp.BadRequestBadExperimenter},
		{"unknown nicira", []byte{4, 4, 0, 16, 0, 0, 0, 7, 0, 0, 0x23, 0x20, 0, 0, 0, 99}, ofp.ErrBadRequest, ofp.BadRequestBadExpType},
		{"bad multipart", []byte{4, 18, 0, 16, 0, 0, 0, 7, 0, 99, 0, 0, 0, 0, 0, 0}, ofp.ErrBadRequest, ofp.BadRequestBadMultipart},
	}
	for _, c := range cases {
		cl.SendRaw(c.raw)
		r := cl.Reply(7, 3*time.Second)
		wantError(t, r, c.typ, c.code)
		e := r.Msg.(*ofp.ErrorMsg)
		if !bytes.Equal(e.Data, c.raw[:min(len(c.raw), 64)]) {
			t.Errorf("%s: error data %x, want the request %x", c.name, e.Data, c.raw)
		}
	}
	// A flow-mod with a bad match gets BAD_MATCH naming nothing from the
	// backend, which never sees it.
	bad := &ofp.FlowMod{Command: ofp.FlowAdd, BufferID: ofp.NoBuffer, Match: ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldIPv4Dst, 1)}}}
	wantError(t, cl.Request(bad), ofp.ErrBadMatch, ofp.BadMatchBadPrereq)
	if len(h.be.Calls("FlowMod")) != 0 {
		t.Fatal("backend received an invalid flow-mod")
	}
	// Backend errors travel as OpenFlow errors.
	h.be.SetErr("FlowMod", ofp.Errorf(ofp.ErrFlowModFailed, ofp.FlowModFailedOverlap, "overlap"))
	fm := &ofp.FlowMod{Command: ofp.FlowAdd, BufferID: ofp.NoBuffer, Flags: ofp.FlowFlagCheckOverlap}
	wantError(t, cl.Request(fm), ofp.ErrFlowModFailed, ofp.FlowModFailedOverlap)
	h.be.SetErr("FlowMod", errors.New("something internal"))
	wantError(t, cl.Request(fm), ofp.ErrFlowModFailed, ofp.FlowModFailedUnknown)
	h.be.SetErr("FlowMod", nil)
	// Buffered packets do not exist.
	fm.BufferID = 7
	wantError(t, cl.Request(fm), ofp.ErrBadRequest, ofp.BadRequestBufferUnknown)
	// The connection still works.
	if _, ok := cl.Request(&ofp.EchoRequest{}).Msg.(*ofp.EchoReply); !ok {
		t.Fatal("connection unusable after errors")
	}
}

func TestRoles(t *testing.T) {
	h := start(t, nil)
	a := oftest.Dial(t, "unix", h.sock, v13)
	b := oftest.Dial(t, "unix", h.sock, v13)
	role := func(c *oftest.Client, r uint32, gen uint64) oftest.Received {
		return c.Request(&ofp.RoleRequest{Role: r, GenerationID: gen})
	}
	r := role(a, ofp.RoleMaster, 10)
	if rr := r.Msg.(*ofp.RoleReply); rr.Role != ofp.RoleMaster || rr.GenerationID != 10 {
		t.Fatalf("role reply %+v", rr)
	}
	// A stale generation id is refused.
	wantError(t, role(b, ofp.RoleMaster, 9), ofp.ErrRoleRequestFailed, ofp.RoleRequestFailedStale)
	wantError(t, role(b, 7, 11), ofp.ErrRoleRequestFailed, ofp.RoleRequestFailedBadRole)
	// b becomes master; a is demoted and told.
	role(b, ofp.RoleMaster, 11)
	st := a.Recv(3 * time.Second)
	if rs, ok := st.Msg.(*ofp.RoleStatus); !ok || rs.Role != ofp.RoleSlave || rs.GenerationID != 11 {
		t.Fatalf("old master got %T %+v", st.Msg, st.Msg)
	}
	if rr := role(a, ofp.RoleNoChange, 0).Msg.(*ofp.RoleReply); rr.Role != ofp.RoleSlave {
		t.Fatalf("a is %d, want slave", rr.Role)
	}
	// A slave may not modify.
	wantError(t, a.Request(&ofp.FlowMod{Command: ofp.FlowAdd, BufferID: ofp.NoBuffer}), ofp.ErrBadRequest, ofp.BadRequestIsSlave)
	frame := make([]byte, 60)
	wantError(t, a.Request(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: ofp.PortController, Data: frame}), ofp.ErrBadRequest, ofp.BadRequestIsSlave)
	// but may read.
	if _, ok := a.Request(&ofp.MultipartRequest{Body: &ofp.PortDescRequest{}}).Msg.(*ofp.MultipartReply); !ok {
		t.Fatal("slave cannot read")
	}
	// Async config defaults per role, and SET_ASYNC.
	ga := a.Request(&ofp.GetAsyncRequest{}).Msg.(*ofp.GetAsyncReply)
	if ga.AsyncConfig != ofp.DefaultAsyncConfig {
		t.Fatalf("default async %+v", ga.AsyncConfig)
	}
	cfg := ofp.DefaultAsyncConfig
	cfg.PacketIn[1] = 1 << ofp.ReasonAction
	a.Send(&ofp.SetAsync{AsyncConfig: cfg})
	if ga := a.Request(&ofp.GetAsyncRequest{}).Msg.(*ofp.GetAsyncReply); ga.AsyncConfig != cfg {
		t.Fatalf("async after set %+v", ga.AsyncConfig)
	}
	// Equal needs no generation id.
	if rr := role(a, ofp.RoleEqual, 0).Msg.(*ofp.RoleReply); rr.Role != ofp.RoleEqual {
		t.Fatalf("equal: %+v", rr)
	}
}

func TestPacketInDelivery(t *testing.T) {
	h := start(t, func(c *openflow.Config) { c.PacketInRate = -1 })
	master := oftest.Dial(t, "unix", h.sock, v13)
	slave := oftest.Dial(t, "unix", h.sock, v13)
	old := oftest.Dial(t, "tcp", h.tcp, v10)
	for _, c := range []*oftest.Client{master, slave, old} {
		c.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 64}})
	}
	master.Request(&ofp.RoleRequest{Role: ofp.RoleMaster, GenerationID: 1})
	slave.Request(&ofp.RoleRequest{Role: ofp.RoleSlave, GenerationID: 1})
	// NXT_PACKET_IN2 for the 1.0 client.
	old.Send(&ofp.NXSetPacketInFormat{Format: ofp.PacketInFormatNXT2})
	old.Barrier()
	master.Barrier()

	frame := bytes.Repeat([]byte{0xab}, 200)
	frame[12], frame[13] = 0x08, 0x00
	p := &openflow.PacketIn{InPort: 3, Reason: ofp.ReasonNoMatch, TableID: 2, Cookie: 0x77, HasTunnel: true, TunnelID: 42, MaxLen: openflow.UseMissSendLen, Frame: frame}
	p.Regs[5] = 9
	if !h.a.EmitPacketIn(p) {
		t.Fatal("packet-in dropped")
	}
	r := master.Recv(3 * time.Second)
	pin, ok := r.Msg.(*ofp.PacketIn)
	if !ok {
		t.Fatalf("master got %T", r.Msg)
	}
	if pin.TotalLen != 200 || len(pin.Data) != 64 || pin.Reason != ofp.ReasonNoMatch || pin.TableID != 2 || pin.Cookie != 0x77 || pin.BufferID != ofp.NoBuffer {
		t.Fatalf("packet-in %+v", pin)
	}
	if port, _ := pin.Match.InPort(); port != 3 {
		t.Errorf("in_port %d", port)
	}
	if v, _, ok := pin.Match.Uint(ofp.FieldTunnelID); !ok || v != 42 {
		t.Errorf("tunnel_id %v %v", v, ok)
	}
	if v, _, ok := pin.Match.Uint(ofp.FieldReg0 + 5); !ok || v != 9 {
		t.Errorf("reg5 %v %v", v, ok)
	}
	r = old.Recv(3 * time.Second)
	if pin2, ok := r.Msg.(*ofp.PacketIn); !ok || pin2.Format != ofp.PacketInFormatNXT2 || len(pin2.Data) != 64 || r.Header.Version != ofp.Version10 {
		t.Fatalf("1.0 client got %T %+v", r.Msg, r.Msg)
	}
	// The slave gets nothing (default async), the service rule: a
	// connection with miss_send_len 0 gets nothing either.
	quiet := oftest.Dial(t, "unix", h.sock, v13)
	quiet.Barrier()
	// max_len from the action, not miss_send_len.
	h.a.EmitPacketIn(&openflow.PacketIn{InPort: 1, Reason: ofp.ReasonAction, MaxLen: int(ofp.ControllerNoBuffer), Frame: frame})
	r = master.Recv(3 * time.Second)
	if pin := r.Msg.(*ofp.PacketIn); len(pin.Data) != 200 || pin.Reason != ofp.ReasonAction {
		t.Fatalf("full packet-in %d bytes reason %d", len(pin.Data), pin.Reason)
	}
	if got := slave.Barrier(); len(got) != 0 {
		t.Fatalf("slave received %d messages", len(got))
	}
	if got := quiet.Barrier(); len(got) != 0 {
		t.Fatalf("service connection with miss_send_len 0 received %d messages", len(got))
	}
	// Flow-removed and port-status.
	h.a.EmitFlowRemoved(&ofp.FlowRemoved{Cookie: 5, Reason: ofp.RemovedIdleTimeout, TableID: 1, Match: ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, 1)}}})
	h.a.EmitPortStatus(ofp.PortAdded, ofp.Port{PortNo: 9, Name: "p9", HWAddr: net.HardwareAddr{2, 0, 0, 0, 0, 9}})
	got := master.Barrier()
	if len(got) != 2 {
		t.Fatalf("master got %d async messages, want flow-removed and port-status", len(got))
	}
	if fr, ok := got[0].Msg.(*ofp.FlowRemoved); !ok || fr.Cookie != 5 {
		t.Errorf("flow removed %T %+v", got[0].Msg, got[0].Msg)
	}
	if ps, ok := got[1].Msg.(*ofp.PortStatus); !ok || ps.Port.Name != "p9" {
		t.Errorf("port status %T %+v", got[1].Msg, got[1].Msg)
	}
	sg := slave.Barrier()
	if len(sg) != 1 {
		t.Fatalf("slave got %d messages, want port-status only", len(sg))
	}
	if _, ok := sg[0].Msg.(*ofp.PortStatus); !ok {
		t.Errorf("slave got %T", sg[0].Msg)
	}
}

func TestPacketInRateLimit(t *testing.T) {
	h := start(t, func(c *openflow.Config) { c.PacketInRate = 100; c.PacketInBurst = 10 })
	cl := oftest.Dial(t, "unix", h.sock, v13)
	cl.Send(&ofp.SetConfig{SwitchConfig: ofp.SwitchConfig{MissSendLen: 128}})
	cl.Barrier()
	frame := make([]byte, 64)
	sent := 0
	for i := 0; i < 1000; i++ {
		if h.a.EmitPacketIn(&openflow.PacketIn{InPort: 1, Reason: ofp.ReasonAction, MaxLen: 64, Frame: frame}) {
			sent++
		}
	}
	// 10 of burst plus what 100/s refills while the loop runs.
	if sent < 10 || sent > 30 {
		t.Fatalf("%d of 1000 packet-ins passed a 100/s, burst 10 limit", sent)
	}
	got := 0
	for got < sent {
		r := cl.Recv(3 * time.Second)
		if _, ok := r.Msg.(*ofp.PacketIn); ok {
			got++
		}
	}
	st := h.a.Status()
	if st.PacketInDropRate != uint64(1000-sent) {
		t.Fatalf("rate drops %d, want %d", st.PacketInDropRate, 1000-sent)
	}
	h.a.SetPacketInRate(-1, 0)
	if !h.a.EmitPacketIn(&openflow.PacketIn{InPort: 1, Reason: ofp.ReasonAction, MaxLen: 64, Frame: frame}) {
		t.Fatal("unlimited rate dropped")
	}
}

func TestMultipartRepliesAndReassembly(t *testing.T) {
	h := start(t, nil)
	cl := oftest.Dial(t, "unix", h.sock, v13)
	var flows []ofp.FlowStats
	for i := 0; i < 2000; i++ {
		flows = append(flows, ofp.FlowStats{Priority: uint16(i), Cookie: uint64(i), Match: ofp.Match{Fields: []ofp.OXM{ofp.OXMUint(ofp.FieldInPort, uint64(i%50+1))}},
			Instructions: []ofp.Instruction{ofp.InstApplyActions{Actions: []ofp.Action{ofp.ActionOutput{Port: 2}}}}})
	}
	h.be.SetReply(&ofp.FlowStatsReply{Flows: flows})
	xid := cl.Send(&ofp.MultipartRequest{Body: &ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}})
	n, parts := 0, 0
	for {
		r := cl.Reply(xid, 3*time.Second)
		mp := r.Msg.(*ofp.MultipartReply)
		parts++
		n += len(mp.Body.(*ofp.FlowStatsReply).Flows)
		if len(r.Raw) > 65535 {
			t.Fatalf("reply of %d bytes", len(r.Raw))
		}
		if mp.Flags&ofp.MultipartReplyMore == 0 {
			break
		}
	}
	if n != 2000 || parts < 2 {
		t.Fatalf("%d flows in %d replies", n, parts)
	}
	// Table features in three parts are reassembled into one request.
	h.be.Reset()
	xid = 4242
	for i := 0; i < 3; i++ {
		flags := ofp.MultipartRequestMore
		if i == 2 {
			flags = 0
		}
		m := &ofp.MultipartRequest{Flags: flags, Body: &ofp.TableFeaturesRequest{Tables: []ofp.TableFeatures{{TableID: uint8(i), Name: "t"}}}}
		b, _ := ofp.Marshal(ofp.Version13, xid, m)
		cl.SendRaw(b)
	}
	cl.Reply(xid, 3*time.Second)
	calls := h.be.Calls("Stats")
	if len(calls) != 1 || len(calls[0].Arg.(*ofp.TableFeaturesRequest).Tables) != 3 {
		t.Fatalf("reassembly gave %d calls %+v", len(calls), calls)
	}
	// Too many parts overflow.
	var last oftest.Received
	for i := 0; i < openflow.DefaultMultipartParts+1; i++ {
		m := &ofp.MultipartRequest{Flags: ofp.MultipartRequestMore, Body: &ofp.TableFeaturesRequest{Tables: []ofp.TableFeatures{{TableID: 1}}}}
		b, _ := ofp.Marshal(ofp.Version13, 77, m)
		cl.SendRaw(b)
	}
	last = cl.Reply(77, 3*time.Second)
	wantError(t, last, ofp.ErrBadRequest, ofp.BadRequestMultipartBufferOverflow)
	// REQ_MORE on a flow stats request is refused.
	b, _ := ofp.Marshal(ofp.Version13, 78, &ofp.MultipartRequest{Flags: ofp.MultipartRequestMore, Body: &ofp.PortStatsRequest{PortNo: ofp.PortAny}})
	cl.SendRaw(b)
	wantError(t, cl.Reply(78, 3*time.Second), ofp.ErrBadRequest, ofp.BadRequestBadMultipart)
}

// TestHostileNeighbour: hostile clients (random bytes, truncated messages,
// huge lengths, a flood of bad messages) beside a well-behaved one that
// keeps working.
func TestHostileNeighbour(t *testing.T) {
	h := start(t, func(c *openflow.Config) { c.MaxErrors = 20 })
	good := oftest.Dial(t, "unix", h.sock, v13)
	var wg sync.WaitGroup
	hostile := [][]byte{
		bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096),                                            // random garbage
		{4, 0, 0, 8, 0, 0, 0, 1, 4, 14, 0xff, 0xff, 0, 0},                                             // hello then a 64 KiB claim, never sent
		{4, 0, 0, 8, 0, 0, 0, 1, 4, 0, 0, 4, 0, 0, 0, 0},                                              // length 4: garbage framing
		append([]byte{4, 0, 0, 8, 0, 0, 0, 1}, bytes.Repeat([]byte{4, 99, 0, 8, 0, 0, 0, 1}, 500)...), // error flood
	}
	for _, hb := range hostile {
		wg.Add(1)
		go func(b []byte) {
			defer wg.Done()
			nc, err := net.Dial("unix", h.sock)
			if err != nil {
				return
			}
			defer nc.Close()
			nc.Write(b)
			nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, nc)
		}(hb)
	}
	for i := 0; i < 100; i++ {
		r := good.Request(&ofp.EchoRequest{Data: []byte{byte(i)}})
		if e, ok := r.Msg.(*ofp.EchoReply); !ok || e.Data[0] != byte(i) {
			t.Fatalf("good client: %T", r.Msg)
		}
	}
	wg.Wait()
	if st := h.a.Status(); st.ClosedBad == 0 {
		t.Errorf("the error flood did not close its connection: %+v", st)
	}
	if _, ok := good.Request(&ofp.FeaturesRequest{}).Msg.(*ofp.FeaturesReply); !ok {
		t.Fatal("good client broken")
	}
}

// TestControllerReconnect: an active target reconnects with back-off
// after its controller goes away and comes back.
func TestControllerReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	tg, err := openflow.ParseTarget("tcp:" + addr)
	if err != nil {
		t.Fatal(err)
	}
	be := oftest.NewBackend()
	a, err := openflow.New(openflow.Config{Name: "br1", Backend: be, Logger: testLogger(t), Targets: []openflow.Target{tg}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, ProbeInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	accept := func() *oftest.Client {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		nc, err := ln.Accept()
		if err != nil {
			t.Fatalf("switch did not connect: %v", err)
		}
		return oftest.Server(t, nc, v13)
	}
	c1 := accept()
	if _, ok := c1.Request(&ofp.FeaturesRequest{}).Msg.(*ofp.FeaturesReply); !ok {
		t.Fatal("no features")
	}
	waitFor(t, "connected", func() bool { return a.Connected() })
	// The controller closes; the switch comes back.
	c1.Conn.Close()
	c2 := accept()
	if _, ok := c2.Request(&ofp.FeaturesRequest{}).Msg.(*ofp.FeaturesReply); !ok {
		t.Fatal("no features after reconnect")
	}
	// A controller that stops answering is probed and dropped.
	start := time.Now()
	buf := make([]byte, 256)
	c2.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	sawEcho := false
	for {
		n, err := c2.Conn.Read(buf)
		if err != nil {
			break
		}
		if n >= 8 && buf[1] == byte(ofp.TypeEchoRequest) {
			sawEcho = true
		}
	}
	if !sawEcho || time.Since(start) > 3*time.Second {
		t.Fatalf("inactivity probe: echo %v, closed after %s", sawEcho, time.Since(start))
	}
	c3 := accept()
	c3.Request(&ofp.EchoRequest{})
	if st := a.Status(); len(st.Controllers) != 1 || st.Controllers[0].Attempts < 3 {
		t.Errorf("controller status %+v", st.Controllers)
	}
	// Removing the target stops reconnecting.
	if err := a.SetTargets(nil); err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(500 * time.Millisecond))
	if nc, err := ln.Accept(); err == nil {
		nc.Close()
		t.Fatal("switch reconnected to a removed target")
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseTarget(t *testing.T) {
	ok := map[string]string{
		"punix:/run/switchyard/br0.mgmt": "punix:/run/switchyard/br0.mgmt",
		"ptcp:6653":                      "ptcp:6653",
		"ptcp:6653:127.0.0.1":            "ptcp:6653:127.0.0.1",
		"ptcp:0:[::1]":                   "ptcp:0:[::1]",
		"tcp:127.0.0.1":                  "tcp:127.0.0.1:6653",
		"tcp:127.0.0.1:6654":             "tcp:127.0.0.1:6654",
		"tcp:[2001:db8::1]:6653":         "tcp:[2001:db8::1]:6653",
		"tcp:[2001:db8::1]":              "tcp:[2001:db8::1]:6653",
		"unix:/tmp/c.sock":               "unix:/tmp/c.sock",
	}
	for in, want := range ok {
		tg, err := openflow.ParseTarget(in)
		if err != nil || tg.String() != want {
			t.Errorf("%q: %v %q, want %q", in, err, tg.String(), want)
		}
	}
	bad := map[string]string{
		"tcp":                 "kind",
		"ssl:1.2.3.4":         "kind \"ssl\"",
		"tcp:":                "IP address is missing",
		"tcp:host.example":    "IP address \"host.example\"",
		"tcp:1.2.3.4:99999":   "port \"99999\"",
		"tcp:1.2.3.4:0":       "port \"0\"",
		"tcp:2001:db8::1":     "IPv6 address in brackets",
		"ptcp:x":              "port \"x\"",
		"ptcp:6653:999.1.1.1": "IP address",
		"punix:":              "socket path is missing",
	}
	for in, want := range bad {
		_, err := openflow.ParseTarget(in)
		var te *openflow.TargetError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %q", in, err, want)
		}
	}
	list, err := openflow.ParseTargets("tcp:127.0.0.1:6653, ptcp:6634")
	if err != nil || len(list) != 2 {
		t.Errorf("list: %v %v", list, err)
	}
}

// TestProtocolsAndUnixController: protocols=OpenFlow13 refuses a 1.0-only
// client; an active unix: target connects to a controller's socket.
func TestProtocolsAndUnixController(t *testing.T) {
	h := start(t, func(c *openflow.Config) { c.Versions = v13 })
	nc, err := net.Dial("unix", h.sock)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte{ofp.Version10, 0, 0, 8, 0, 0, 0, 1})
	all, _ := io.ReadAll(io.LimitReader(nc, 4096))
	nc.Close()
	msgs := split(t, all)
	if len(msgs) != 2 || msgs[0][0] != ofp.Version13 {
		t.Fatalf("1.0 client on a 1.3-only bridge got %x", all)
	}
	if _, m, _ := ofp.Unmarshal(msgs[1]); m == nil || m.(*ofp.ErrorMsg).ErrType != uint16(ofp.ErrHelloFailed) {
		t.Fatalf("want HELLO_FAILED, got %x", msgs[1])
	}
	if cl := oftest.Dial(t, "unix", h.sock, v13); cl.Version != ofp.Version13 {
		t.Fatal("1.3 client refused")
	}

	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tg, err := openflow.ParseTarget("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.a.SetTargets([]openflow.Target{{Kind: openflow.PassiveUnix, Addr: h.sock}, tg}); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	cl := oftest.Server(t, c, v13)
	if _, ok := cl.Request(&ofp.FeaturesRequest{}).Msg.(*ofp.FeaturesReply); !ok {
		t.Fatal("no features over unix:")
	}
	waitFor(t, "connected", h.a.Connected)
	// Controllers get packet-ins by default (miss_send_len 128).
	h.a.EmitPacketIn(&openflow.PacketIn{InPort: 1, Reason: ofp.ReasonNoMatch, MaxLen: openflow.UseMissSendLen, Frame: make([]byte, 300)})
	r := cl.Recv(3 * time.Second)
	if pin, ok := r.Msg.(*ofp.PacketIn); !ok || len(pin.Data) != int(ofp.DefaultMissSendLen) {
		t.Fatalf("controller got %T %+v", r.Msg, r.Msg)
	}
	st := h.a.Status()
	if len(st.Controllers) != 1 || !st.Controllers[0].Connected || len(st.Connections) < 1 {
		t.Errorf("status %+v", st)
	}
}
