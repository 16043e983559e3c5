package oftest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// Client is a minimal OpenFlow controller-side connection for tests.
type Client struct {
	t       testing.TB
	Conn    net.Conn
	Version uint8
	br      *bufio.Reader
	mu      sync.Mutex
	xid     uint32
	pending []Received
	Opts    ofp.Options
}

// Received is one message read by the client.
type Received struct {
	Header ofp.Header
	Msg    ofp.Message
	Raw    []byte
}

// Dial connects (network "unix" or "tcp") and completes the HELLO exchange
// offering the versions in bitmap (header version = the highest).
func Dial(t testing.TB, network, addr string, bitmap uint32) *Client {
	t.Helper()
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	return Server(t, nc, bitmap)
}

// Server wraps a connection a switch made to a test controller and
// completes the HELLO exchange, as Dial does.
func Server(t testing.TB, nc net.Conn, bitmap uint32) *Client {
	t.Helper()
	c := &Client{t: t, Conn: nc, br: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	hv := uint8(0)
	for v := 31; v > 0; v-- {
		if bitmap&(1<<uint(v)) != 0 {
			hv = uint8(v)
			break
		}
	}
	c.Version = hv
	c.SendRaw(mustMarshal(t, hv, 0, &ofp.Hello{Versions: bitmap}, nil))
	r := c.Recv(5 * time.Second)
	h, ok := r.Msg.(*ofp.Hello)
	if !ok {
		t.Fatalf("first message from the switch is %T, not HELLO", r.Msg)
	}
	v, ok := ofp.Negotiate(bitmap, r.Header.Version, h)
	if !ok {
		t.Fatalf("no common version with the switch (its hello: version %d bitmap %#x)", r.Header.Version, h.Versions)
	}
	c.Version = v
	return c
}

func mustMarshal(t testing.TB, v uint8, xid uint32, m ofp.Message, o *ofp.Options) []byte {
	t.Helper()
	b, err := ofp.MarshalOptions(v, xid, m, o)
	if err != nil {
		t.Fatalf("marshal %T: %v", m, err)
	}
	return b
}

// SendRaw writes bytes as they are.
func (c *Client) SendRaw(b []byte) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Send writes a message and returns its xid.
func (c *Client) Send(m ofp.Message) uint32 {
	c.t.Helper()
	c.mu.Lock()
	c.xid++
	xid := c.xid
	c.mu.Unlock()
	c.SendRaw(mustMarshal(c.t, c.Version, xid, m, &c.Opts))
	return xid
}

// read reads one message.
func (c *Client) read(d time.Duration) (Received, error) {
	c.Conn.SetReadDeadline(time.Now().Add(d))
	var hdr [8]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return Received{}, err
	}
	n := int(hdr[2])<<8 | int(hdr[3])
	if n < 8 {
		return Received{}, fmt.Errorf("bad length %d", n)
	}
	b := make([]byte, n)
	copy(b, hdr[:])
	if _, err := io.ReadFull(c.br, b[8:]); err != nil {
		return Received{}, err
	}
	h, m, err := ofp.Unmarshal(b)
	if err != nil {
		return Received{}, fmt.Errorf("switch sent an undecodable message %x: %w", b, err)
	}
	return Received{Header: h, Msg: m, Raw: b}, nil
}

// Recv returns the next message (queued or read), failing after d.
func (c *Client) Recv(d time.Duration) Received {
	c.t.Helper()
	if len(c.pending) > 0 {
		r := c.pending[0]
		c.pending = c.pending[1:]
		return r
	}
	r, err := c.read(d)
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return r
}

// TryRecv is Recv that reports failure instead of failing the test.
func (c *Client) TryRecv(d time.Duration) (Received, error) {
	if len(c.pending) > 0 {
		r := c.pending[0]
		c.pending = c.pending[1:]
		return r, nil
	}
	return c.read(d)
}

// Reply waits for the message with the given xid (other messages are kept
// for later Recv calls; echo requests are answered).
func (c *Client) Reply(xid uint32, d time.Duration) Received {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for i, r := range c.pending {
		if r.Header.XID == xid {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return r
		}
	}
	for {
		r, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for the reply to xid %d: %v", xid, err)
		}
		if e, ok := r.Msg.(*ofp.EchoRequest); ok {
			c.SendRaw(mustMarshal(c.t, c.Version, r.Header.XID, &ofp.EchoReply{Data: e.Data}, nil))
			continue
		}
		if r.Header.XID == xid {
			return r
		}
		c.pending = append(c.pending, r)
	}
}

// Request sends m and returns its reply (or the ERROR for it).
func (c *Client) Request(m ofp.Message) Received {
	c.t.Helper()
	return c.Reply(c.Send(m), 5*time.Second)
}

// Barrier sends a barrier and waits for its reply, returning everything
// received before it.
func (c *Client) Barrier() []Received {
	c.t.Helper()
	xid := c.Send(&ofp.BarrierRequest{})
	var before []Received
	before = append(before, c.pending...)
	c.pending = nil
	for {
		r := c.Recv(5 * time.Second)
		if r.Header.XID == xid {
			if _, ok := r.Msg.(*ofp.BarrierReply); !ok {
				c.t.Fatalf("barrier answered with %T %v", r.Msg, r.Msg)
			}
			return before
		}
		before = append(before, r)
	}
}
