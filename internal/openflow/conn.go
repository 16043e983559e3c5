package openflow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// connSettings is what the dispatcher reads of a connection; the
// connection's reader goroutine replaces it as a whole (copy on write).
type connSettings struct {
	version      uint8
	async        ofp.AsyncConfig
	invalidTTL   bool
	flowFormat   uint32
	pinFormat    uint32
	controllerID uint16
	missSendLen  uint16
}

// conn is one OpenFlow connection (accepted or dialed).
type conn struct {
	a      *Agent
	nc     net.Conn
	target Target
	log    *slog.Logger
	start  time.Time

	handshaken  atomic.Bool
	role        atomic.Uint32
	missSendLen atomic.Uint32
	settings    atomic.Pointer[connSettings]

	opts ofp.Options // reader goroutine only

	send      chan []byte
	done      chan struct{}
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error

	lastRecv  atomic.Int64 // monoNow of the last whole message
	echoSent  atomic.Int64 // monoNow of the outstanding probe, 0 = none
	received  atomic.Uint64
	sent      atomic.Uint64
	dropped   atomic.Uint64
	errorsOut atomic.Uint64

	errWindow time.Time
	errCount  int

	mp *mpState

	cctx    context.Context
	ccancel context.CancelFunc
}

// mpState is a multipart request arriving in several messages.
type mpState struct {
	xid    uint32
	tables []ofp.TableFeatures
	bytes  int
	parts  int
}

func (a *Agent) newConn(nc net.Conn, t Target) *conn {
	c := &conn{a: a, nc: nc, target: t, start: time.Now(), send: make(chan []byte, a.cfg.SendQueue), done: make(chan struct{})}
	c.log = a.log.With("target", t.String(), "remote", nc.RemoteAddr().String())
	c.cctx, c.ccancel = context.WithCancel(a.ctx)
	c.role.Store(ofp.RoleEqual)
	return c
}

func (c *conn) close() { c.closeWith(nil) }

func (c *conn) closeWith(err error) {
	c.closeOnce.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		c.ccancel()
		c.nc.Close()
	})
}

func (c *conn) closeErr() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// serve runs the connection until it closes.
func (c *conn) serve() {
	a := c.a
	defer c.close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.writer()
	}()
	go func() {
		defer wg.Done()
		c.prober()
	}()
	defer wg.Wait()
	defer c.close()

	ours := a.cfg.Versions
	hello, err := ofp.Marshal(highest(ours), 0, &ofp.Hello{Versions: ours})
	if err == nil {
		c.enqueue(hello)
	}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	c.lastRecv.Store(monoNow())

	// Handshake: the peer's first message must be its HELLO.
	c.nc.SetReadDeadline(time.Now().Add(a.cfg.HandshakeTimeout))
	raw, err := readMsg(br)
	if err != nil {
		c.closeWith(fmt.Errorf("no HELLO: %w", err))
		return
	}
	c.nc.SetReadDeadline(time.Time{})
	h, m, err := ofp.Unmarshal(raw)
	peerHello, isHello := m.(*ofp.Hello)
	if err != nil || !isHello {
		v := min(h.Version, highest(ours))
		c.fail(v, h.XID, raw, ofp.Errorf(ofp.ErrHelloFailed, ofp.HelloFailedIncompatible, "the first message must be HELLO, not type %d", h.Type))
		return
	}
	v, ok := ofp.Negotiate(ours, h.Version, peerHello)
	if !ok {
		ev := min(h.Version, highest(ours))
		if ours&(1<<ev) == 0 {
			ev = highest(ours)
		}
		c.fail(ev, h.XID, raw, ofp.Errorf(ofp.ErrHelloFailed, ofp.HelloFailedIncompatible,
			"we support %s, you support %s", versionList(ours), peerVersions(h.Version, peerHello)))
		return
	}
	miss := ofp.DefaultMissSendLen
	if c.target.Kind.Passive() {
		// Open vSwitch's rule: service connections get asynchronous
		// messages only once they set a nonzero miss_send_len.
		miss = 0
	}
	c.settings.Store(&connSettings{version: v, async: ofp.DefaultAsyncConfig, missSendLen: miss})
	c.missSendLen.Store(uint32(miss))
	c.handshaken.Store(true)
	a.register(c)
	defer a.unregister(c)
	c.log = c.log.With("version", ofp.VersionName(v))
	c.log.Debug("openflow connection up")

	for {
		raw, err := readMsg(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.closeWith(err)
			}
			return
		}
		c.lastRecv.Store(monoNow())
		c.echoSent.Store(0)
		c.received.Add(1)
		c.handle(v, raw)
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// readMsg reads one whole message. A length below the header's 8 bytes is
// garbage framing: the connection cannot find the next message and is
// closed.
func readMsg(br *bufio.Reader) ([]byte, error) {
	var hdr [ofp.HeaderLen]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[2])<<8 | int(hdr[3])
	if n < ofp.HeaderLen {
		return nil, fmt.Errorf("garbage framing: message length %d is less than the 8-byte header", n)
	}
	b := make([]byte, n)
	copy(b, hdr[:])
	if _, err := io.ReadFull(br, b[ofp.HeaderLen:]); err != nil {
		return nil, fmt.Errorf("truncated message (%d bytes announced): %w", n, err)
	}
	return b, nil
}

func highest(bitmap uint32) uint8 {
	for v := 31; v > 0; v-- {
		if bitmap&(1<<uint(v)) != 0 {
			return uint8(v)
		}
	}
	return 0
}

func versionList(bitmap uint32) string {
	s := ""
	for v := 1; v < 32; v++ {
		if bitmap&(1<<uint(v)) != 0 {
			if s != "" {
				s += ", "
			}
			s += ofp.VersionName(uint8(v))
		}
	}
	return s
}

func peerVersions(v uint8, h *ofp.Hello) string {
	if h != nil && h.Versions != 0 {
		return versionList(h.Versions)
	}
	return "up to " + ofp.VersionName(v)
}

// fail sends an error and closes the connection once it is written.
func (c *conn) fail(v uint8, xid uint32, req []byte, err error) {
	if b, e := ofp.Marshal(v, xid, ofp.NewErrorMsg(v, err, req)); e == nil {
		c.enqueue(b)
		c.a.counters.Errors.Add(1)
	}
	c.log.Info("openflow connection refused", "err", err)
	// Give the writer a moment to put the error on the wire.
	deadline := time.Now().Add(time.Second)
	for len(c.send) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	c.closeWith(err)
}

// writer writes queued messages, batching what is queued into one flush.
func (c *conn) writer() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	for {
		var b []byte
		select {
		case b = <-c.send:
		case <-c.done:
			return
		}
		for {
			if _, err := bw.Write(b); err != nil {
				c.closeWith(err)
				return
			}
			c.sent.Add(1)
			select {
			case b = <-c.send:
				continue
			default:
			}
			break
		}
		if err := bw.Flush(); err != nil {
			c.closeWith(err)
			return
		}
	}
}

// prober sends ECHO_REQUEST after a probe interval of silence and closes
// the connection after two.
func (c *conn) prober() {
	n := c.a.cfg.ProbeInterval
	if c.target.Kind.Passive() {
		n = c.a.cfg.ServiceProbeInterval
	}
	if n < 0 {
		return
	}
	tick := n / 4
	if tick > time.Second {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if !c.handshaken.Load() {
			continue
		}
		idle := time.Duration(monoNow() - c.lastRecv.Load())
		switch {
		case idle >= 2*n:
			c.log.Info("openflow connection inactive, closing", "idle", idle.Round(time.Millisecond))
			c.closeWith(fmt.Errorf("inactivity probe: no message for %s", idle.Round(time.Millisecond)))
			return
		case idle >= n && c.echoSent.Load() == 0:
			st := c.settings.Load()
			if b, err := ofp.Marshal(st.version, 0, &ofp.EchoRequest{}); err == nil {
				c.echoSent.Store(monoNow())
				c.sendAsync(b)
			}
		}
	}
}

// enqueue queues a reply, waiting for room (the requester's own
// back-pressure).
func (c *conn) enqueue(b []byte) {
	select {
	case c.send <- b:
	case <-c.done:
	}
}

// sendAsync queues an asynchronous message or drops it when the queue is
// full.
func (c *conn) sendAsync(b []byte) {
	select {
	case c.send <- b:
	default:
		c.dropped.Add(1)
		c.a.counters.AsyncDropped.Add(1)
	}
}

func (c *conn) status() ConnStatus {
	st := c.settings.Load()
	cs := ConnStatus{Target: c.target.String(), Remote: c.nc.RemoteAddr().String(), Role: ofp.RoleName(c.role.Load()),
		Up: time.Since(c.start), Received: c.received.Load(), Sent: c.sent.Load(), Dropped: c.dropped.Load(), Errors: c.errorsOut.Load()}
	if st != nil {
		cs.Version = ofp.VersionName(st.version)
	}
	return cs
}

// update changes the connection's settings (reader goroutine only).
func (c *conn) update(f func(*connSettings)) {
	s := *c.settings.Load()
	f(&s)
	c.settings.Store(&s)
}

func (c *conn) isSlave() bool { return c.role.Load() == ofp.RoleSlave }

// roleIdx is the async-config index for the connection's role.
func (c *conn) roleIdx() int {
	if c.isSlave() {
		return 1
	}
	return 0
}

// wantsAsync applies Open vSwitch's rule for service connections.
func (c *conn) wantsAsync(st *connSettings) bool {
	return c.handshaken.Load() && (!c.target.Kind.Passive() || st.missSendLen != 0)
}

func (c *conn) sendPacketIn(s *pinSlot, ud, data []byte) {
	st := c.settings.Load()
	if st == nil || !c.wantsAsync(st) || s.ev.ControllerID != st.controllerID {
		return
	}
	reason := s.ev.Reason
	if st.version < ofp.Version14 && reason > ofp.ReasonInvalidTTL {
		reason = ofp.ReasonAction
	}
	if st.async.PacketIn[c.roleIdx()]&(1<<reason) == 0 {
		return
	}
	if reason == ofp.ReasonInvalidTTL && st.version == ofp.Version10 && !st.invalidTTL {
		return
	}
	n := len(data)
	want := s.ev.MaxLen
	if want == UseMissSendLen {
		want = int(st.missSendLen)
	}
	if want >= 0 && want < int(ofp.ControllerNoBuffer) && want < n {
		n = want
	}
	total := s.frameLen
	if total > 0xffff {
		total = 0xffff
	}
	pin := &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: uint16(total), Reason: reason, TableID: s.ev.TableID,
		Cookie: s.ev.Cookie, Data: data[:n], Format: st.pinFormat, Match: packetInMatch(&s.ev)}
	if st.pinFormat == ofp.PacketInFormatNXT2 {
		pin.Userdata = ud
	}
	b, err := ofp.Marshal(st.version, 0, pin)
	if err != nil {
		c.log.Warn("cannot encode packet-in", "err", err)
		return
	}
	c.sendAsync(b)
	c.a.counters.PacketInSent.Add(1)
}

// packetInMatch is the metadata match of a packet-in, as Open vSwitch
// reports it: in_port, then the tunnel, metadata and the nonzero
// registers.
func packetInMatch(p *PacketIn) ofp.Match {
	var m ofp.Match
	m.Add(ofp.OXMUint(ofp.FieldInPort, uint64(p.InPort)))
	if p.HasTunnel {
		m.Add(ofp.OXMUint(ofp.FieldTunnelID, p.TunnelID))
		if p.TunSrc.Is4() {
			a := p.TunSrc.As4()
			m.Add(ofp.NewOXM(ofp.FieldTunIPv4Src, a[:], nil))
		} else if p.TunSrc.Is6() {
			a := p.TunSrc.As16()
			m.Add(ofp.NewOXM(ofp.FieldTunIPv6Src, a[:], nil))
		}
		if p.TunDst.Is4() {
			a := p.TunDst.As4()
			m.Add(ofp.NewOXM(ofp.FieldTunIPv4Dst, a[:], nil))
		} else if p.TunDst.Is6() {
			a := p.TunDst.As16()
			m.Add(ofp.NewOXM(ofp.FieldTunIPv6Dst, a[:], nil))
		}
	}
	if p.Metadata != 0 {
		m.Add(ofp.OXMUint(ofp.FieldMetadata, p.Metadata))
	}
	for i, r := range p.Regs {
		if r != 0 {
			m.Add(ofp.OXMUint(ofp.FieldReg0+ofp.FieldID(i), uint64(r)))
		}
	}
	return m
}

func (c *conn) sendFlowRemoved(fr *ofp.FlowRemoved) {
	st := c.settings.Load()
	if st == nil || !c.wantsAsync(st) || st.async.FlowRemoved[c.roleIdx()]&(1<<fr.Reason) == 0 {
		return
	}
	m := *fr
	m.NXM = st.version == ofp.Version10 && st.flowFormat == ofp.FlowFormatNXM
	if st.version == ofp.Version10 && m.Reason > ofp.RemovedDelete {
		m.Reason = ofp.RemovedDelete
	}
	b, err := ofp.Marshal(st.version, 0, &m)
	if err != nil {
		c.log.Warn("cannot encode flow-removed", "err", err)
		return
	}
	c.sendAsync(b)
}

func (c *conn) sendPortStatus(ps *ofp.PortStatus) {
	st := c.settings.Load()
	if st == nil || !c.wantsAsync(st) || st.async.PortStatus[c.roleIdx()]&(1<<ps.Reason) == 0 {
		return
	}
	b, err := ofp.Marshal(st.version, 0, ps)
	if err != nil {
		return
	}
	c.sendAsync(b)
}

func (c *conn) sendRoleStatus(role uint32, gen uint64) {
	st := c.settings.Load()
	if st == nil || st.version != ofp.Version13 {
		return
	}
	if b, err := ofp.Marshal(st.version, 0, &ofp.RoleStatus{Role: role, GenerationID: gen}); err == nil {
		c.sendAsync(b)
	}
}

// reply encodes and queues a reply with the request's xid.
func (c *conn) reply(v uint8, xid uint32, m ofp.Message) {
	b, err := ofp.MarshalOptions(v, xid, m, &c.opts)
	if err != nil {
		c.log.Error("cannot encode reply", "type", m.Type().String(), "err", err)
		c.sendError(v, xid, nil, err)
		return
	}
	c.enqueue(b)
}

// sendError answers req with err, and closes the connection when it has
// sent too many errors in a minute.
func (c *conn) sendError(v uint8, xid uint32, req []byte, err error) {
	e := ofp.AsError(err, ofp.ErrBadRequest, ofp.BadRequestEPerm)
	b, merr := ofp.Marshal(v, xid, ofp.NewErrorMsg(v, e, req))
	if merr == nil {
		c.enqueue(b)
		c.errorsOut.Add(1)
		c.a.counters.Errors.Add(1)
	}
	c.log.Debug("openflow error sent", "err", e)
	now := time.Now()
	if now.Sub(c.errWindow) > time.Minute {
		c.errWindow, c.errCount = now, 0
	}
	c.errCount++
	if c.errCount > c.a.cfg.MaxErrors {
		c.a.counters.Closed.Add(1)
		c.log.Warn("openflow connection closed: too many bad messages", "errors", c.errCount)
		c.closeWith(fmt.Errorf("more than %d bad messages in a minute", c.a.cfg.MaxErrors))
	}
}

// ctx returns the context of backend calls: it ends when the connection
// closes or the agent stops (no per-call timer: a timer per flow-mod costs
// a third of the agent's time).
func (c *conn) ctx() (context.Context, context.CancelFunc) {
	return c.cctx, func() {}
}
