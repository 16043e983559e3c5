// Package jsonrpc is the JSON-RPC 1.0 transport OVSDB uses (RFC 7047
// section 4): JSON values one after another on a stream, with no framing.
// It finds message boundaries itself, so a message can be bounded in size
// before it is decoded, and keeps a bounded output queue per connection.
package jsonrpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultMaxMessage bounds one incoming message (bytes).
const DefaultMaxMessage = 64 << 20

// ErrTooLarge is returned by Reader.Next for a message over the limit.
var ErrTooLarge = errors.New("jsonrpc: message too large")

// SyntaxError is a stream that is not a sequence of JSON objects.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsonrpc: syntax error at byte %d: %s", e.Offset, e.Msg)
}

// Reader splits a byte stream into JSON values.
type Reader struct {
	r     *bufio.Reader
	max   int
	off   int64
	buf   []byte
	stack []byte
}

// NewReader reads messages of at most max bytes (0 = DefaultMaxMessage).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxMessage
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the bytes of the next JSON object or array (valid only
// until the next call). io.EOF at a message boundary is a clean end.
func (rd *Reader) Next() ([]byte, error) {
	rd.buf = rd.buf[:0]
	stack := rd.stack[:0]
	defer func() { rd.stack = stack[:0] }()
	inStr, esc := false, false
	for {
		c, err := rd.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(rd.buf) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		rd.off++
		if len(rd.buf) == 0 {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '{', '[':
			default:
				return nil, &SyntaxError{Offset: rd.off, Msg: fmt.Sprintf("a message must be a JSON object, found %q", c)}
			}
		}
		rd.buf = append(rd.buf, c)
		if len(rd.buf) > rd.max {
			return nil, ErrTooLarge
		}
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			case c < 0x20:
				return nil, &SyntaxError{Offset: rd.off, Msg: "control character in string"}
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			stack = append(stack, c)
			if len(stack) > 1000 {
				return nil, &SyntaxError{Offset: rd.off, Msg: "nesting deeper than 1000"}
			}
		case c == '}' || c == ']':
			open := byte('{')
			if c == ']' {
				open = '['
			}
			if stack[len(stack)-1] != open {
				return nil, &SyntaxError{Offset: rd.off, Msg: fmt.Sprintf("%q closes %q", c, stack[len(stack)-1])}
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return rd.buf, nil
			}
		}
	}
}

// Message is a JSON-RPC 1.0 message: a request (Method and a non-null
// ID), a notification (Method, null ID) or a response (Result or Error).
type Message struct {
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
	ID     json.RawMessage `json:"id,omitempty"`
}

// IsRequest says whether the message expects a reply.
func (m *Message) IsRequest() bool { return m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null" }

// IsNotification says whether the message is a notification.
func (m *Message) IsNotification() bool { return m.Method != "" && !m.IsRequest() }

// IsResponse says whether the message is a reply.
func (m *Message) IsResponse() bool { return m.Method == "" && (m.Result != nil || m.Error != nil) }

// Decode parses one message. A value that is JSON but not a JSON-RPC
// message is an error.
func Decode(b []byte) (*Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON-RPC message: %w", err)
	}
	if m.Method == "" && m.Result == nil && m.Error == nil {
		return nil, errors.New("not a JSON-RPC message: no method, result or error")
	}
	if m.Method != "" && (m.Result != nil || m.Error != nil) {
		return nil, errors.New("not a JSON-RPC message: a request with a result or error")
	}
	return &m, nil
}

// DecodeParams decodes params as an array (numbers kept exact).
func DecodeParams(raw json.RawMessage) ([]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.New("params must be an array")
	}
	return arr, nil
}

// AppendResponse appends a reply with result (raw JSON) or error.
func AppendResponse(b []byte, id json.RawMessage, result []byte, errJSON []byte) []byte {
	b = append(b, `{"id":`...)
	if len(id) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, id...)
	}
	b = append(b, `,"result":`...)
	if result == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, result...)
	}
	b = append(b, `,"error":`...)
	if errJSON == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, errJSON...)
	}
	return append(b, '}')
}

// AppendNotification appends a notification with params (raw JSON array).
func AppendNotification(b []byte, method string, params []byte) []byte {
	b = append(b, `{"id":null,"method":`...)
	m, _ := json.Marshal(method)
	b = append(b, m...)
	b = append(b, `,"params":`...)
	b = append(b, params...)
	return append(b, '}')
}

// AppendRequest appends a request.
func AppendRequest(b []byte, id json.RawMessage, method string, params []byte) []byte {
	b = append(b, `{"id":`...)
	b = append(b, id...)
	b = append(b, `,"method":`...)
	m, _ := json.Marshal(method)
	b = append(b, m...)
	b = append(b, `,"params":`...)
	b = append(b, params...)
	return append(b, '}')
}

// Writer is a connection's output: a queue drained by its own goroutine,
// so a slow reader never blocks the sender. Backlog reports the queued
// bytes; the owner decides what to do when it grows (the OVSDB server
// stops composing monitor updates and coalesces them instead).
type Writer struct {
	conn    net.Conn
	mu      sync.Mutex
	queue   [][]byte
	backlog int
	closed  bool
	err     error
	wake    chan struct{}
	done    chan struct{}
	// OnDrain is called (without locks) when the queue becomes empty.
	OnDrain func()
	timeout time.Duration
}

// NewWriter starts the writer goroutine. A write that makes no progress
// for writeTimeout (0 = none) fails and closes the connection.
func NewWriter(c net.Conn, writeTimeout time.Duration) *Writer {
	w := &Writer{conn: c, wake: make(chan struct{}, 1), done: make(chan struct{}), timeout: writeTimeout}
	go w.run()
	return w
}

// Send queues a message (the writer owns msg from now on).
func (w *Writer) Send(msg []byte) error {
	w.mu.Lock()
	if w.closed {
		err := w.err
		w.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return err
	}
	w.queue = append(w.queue, msg)
	w.backlog += len(msg)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Backlog returns the bytes queued and not yet written.
func (w *Writer) Backlog() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.backlog
}

// Done is closed when the writer stops (error or Close).
func (w *Writer) Done() <-chan struct{} { return w.done }

// Close stops the writer after nothing more (queued data is dropped).
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Flush closes the writer once the queue is written (bounded by d).
func (w *Writer) Flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if w.Backlog() == 0 {
			break
		}
		select {
		case <-w.done:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	w.Close()
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		bufs := net.Buffers(w.queue)
		n := 0
		for _, b := range w.queue {
			n += len(b)
		}
		w.queue = nil
		w.mu.Unlock()
		if w.timeout > 0 {
			_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
		}
		_, err := bufs.WriteTo(w.conn)
		w.mu.Lock()
		w.backlog -= n
		if err != nil {
			w.closed, w.err = true, err
			w.mu.Unlock()
			w.conn.Close()
			return
		}
		empty := len(w.queue) == 0
		w.mu.Unlock()
		if empty && w.OnDrain != nil {
			w.OnDrain()
		}
	}
}
