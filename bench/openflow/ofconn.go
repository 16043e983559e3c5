package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// ofConn is a minimal OpenFlow 1.3 connection (either side of the
// handshake: both send HELLO first).
type ofConn struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
	bw  *bufio.Writer
	xid uint32
}

func handshake(nc net.Conn) (*ofConn, error) {
	c := &ofConn{nc: nc, br: bufio.NewReaderSize(nc, 1<<16), bw: bufio.NewWriterSize(nc, 1<<16)}
	hello, _ := ofp.Marshal(ofp.Version13, 0, &ofp.Hello{Versions: 1 << ofp.Version13})
	if err := c.write(hello, true); err != nil {
		return nil, err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, err := c.read()
	if err != nil {
		return nil, err
	}
	nc.SetReadDeadline(time.Time{})
	if raw[1] != uint8(ofp.TypeHello) {
		return nil, fmt.Errorf("first message type %d, not HELLO", raw[1])
	}
	return c, nil
}

func dialOF(network, addr string) (*ofConn, error) {
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return handshake(nc)
}

func (c *ofConn) read() ([]byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	if n < 8 {
		return nil, fmt.Errorf("bad length %d", n)
	}
	b := make([]byte, n)
	copy(b, h[:])
	_, err := io.ReadFull(c.br, b[8:])
	return b, err
}

func (c *ofConn) write(b []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	if flush {
		return c.bw.Flush()
	}
	return nil
}

func (c *ofConn) send(m ofp.Message, flush bool) (uint32, error) {
	c.wmu.Lock()
	c.xid++
	xid := c.xid
	c.wmu.Unlock()
	b, err := ofp.Marshal(ofp.Version13, xid, m)
	if err != nil {
		return 0, err
	}
	return xid, c.write(b, flush)
}

// barrier sends a barrier and reads until its reply (the caller is the
// only reader); an ERROR on the way fails it.
func (c *ofConn) barrier() error {
	xid, err := c.send(&ofp.BarrierRequest{}, true)
	if err != nil {
		return err
	}
	for {
		raw, err := c.read()
		if err != nil {
			return err
		}
		h, m, err := ofp.Unmarshal(raw)
		if err != nil {
			continue
		}
		switch x := m.(type) {
		case *ofp.ErrorMsg:
			return fmt.Errorf("switch error: %v", x.Err(h.Version))
		case *ofp.EchoRequest:
			b, _ := ofp.Marshal(h.Version, h.XID, &ofp.EchoReply{Data: x.Data})
			c.write(b, true)
		case *ofp.BarrierReply:
			if h.XID == xid {
				return nil
			}
		}
	}
}

func deleteAll() *ofp.FlowMod {
	return &ofp.FlowMod{Command: ofp.FlowDelete, TableID: ofp.TableAll, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}
}

func flowAdd(prio uint16, match []ofp.OXM, acts ...ofp.Action) *ofp.FlowMod {
	return &ofp.FlowMod{Command: ofp.FlowAdd, Priority: prio, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
		Match: ofp.Match{Fields: match}, Instructions: []ofp.Instruction{ofp.InstApplyActions{Actions: acts}}}
}
