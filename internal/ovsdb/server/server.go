// Package server is Switchyard's OVSDB server: JSON-RPC 1.0 over unix and
// TCP sockets (RFC 7047 section 4 with Open vSwitch's extensions:
// monitor_cond, monitor_cond_change, monitor_cond_since, get_server_id,
// set_db_change_aware, the _Server database) in front of ovsdb.DB
// databases.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
	"github.com/switchyard-net/switchyard/internal/ovsdb/jsonrpc"
)

// Config tunes a server. Zero values take the defaults.
type Config struct {
	// MaxMessage bounds one request (default 64 MiB); a larger one closes
	// the connection.
	MaxMessage int
	// MonitorBacklog: while more than this many bytes (default 4 MiB) wait
	// to be written to a client, its monitor updates are not composed but
	// merged per row, so a slow client costs at most one pending change
	// per row and sees one update with the net change when it catches up.
	MonitorBacklog int
	// MaxBacklog: while more than this (default 64 MiB) waits to be
	// written, the server stops reading the client's requests.
	MaxBacklog int
	// WriteTimeout closes a connection whose writes make no progress for
	// this long (default 60 s).
	WriteTimeout time.Duration
	// ProbeInterval: on TCP connections idle for this long the server sends
	// an echo request, and closes the connection if another interval passes
	// without a message (ovsdb-server's inactivity probe; default 5 s, <0
	// = off). Unix sockets are not probed, as in ovsdb-server.
	ProbeInterval time.Duration
	Logger        *slog.Logger
}

// Server serves databases over JSON-RPC.
type Server struct {
	cfg      Config
	log      *slog.Logger
	id       ovsdb.UUID
	mu       sync.RWMutex
	dbs      map[string]*ovsdb.DB
	sdb      *ovsdb.DB
	locks    lockTable
	sessions sync.WaitGroup
	nsess    atomic.Int64
	stats    Stats
}

// Stats are the server's counters.
type Stats struct {
	Sessions       atomic.Int64 // open now
	Monitors       atomic.Int64 // active now
	Requests       atomic.Int64
	BadMessages    atomic.Int64 // malformed JSON or JSON-RPC
	CoalescedTimes atomic.Int64 // monitor updates merged for a slow client
	// SinceFound and SinceMissed count monitor_cond_since requests whose
	// last-txn-id was in the history (only changes sent) or not (all).
	SinceFound, SinceMissed atomic.Int64
	// LastInitialBytes is the size of the last monitor reply.
	LastInitialBytes atomic.Int64
}

// New makes a server with no databases but _Server.
func New(cfg Config) *Server {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = jsonrpc.DefaultMaxMessage
	}
	if cfg.MonitorBacklog <= 0 {
		cfg.MonitorBacklog = 4 << 20
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = 64 << 20
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = 5 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, id: ovsdb.NewUUID(), dbs: map[string]*ovsdb.DB{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.locks.locks = map[string]*lockState{}
	s.sdb = ovsdb.New(ServerSchema(), ovsdb.Options{})
	s.dbs["_Server"] = s.sdb
	_ = addServerRow(s.sdb, s.sdb)
	return s
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// ServerID returns the id get_server_id reports.
func (s *Server) ServerID() ovsdb.UUID { return s.id }

// AddDB serves a database (by its schema's name).
func (s *Server) AddDB(db *ovsdb.DB) error {
	s.mu.Lock()
	if _, dup := s.dbs[db.Name()]; dup {
		s.mu.Unlock()
		return fmt.Errorf("database %q is already served", db.Name())
	}
	s.dbs[db.Name()] = db
	s.mu.Unlock()
	return addServerRow(s.sdb, db)
}

func (s *Server) db(name string) *ovsdb.DB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.dbs[name]
}

// Listen opens a remote: "punix:PATH" (a unix socket; a stale socket file
// is replaced) or "ptcp:PORT[:IP]" (IP defaults to 0.0.0.0; brackets for
// IPv6).
func Listen(remote string) (net.Listener, error) {
	kind, rest, ok := strings.Cut(remote, ":")
	if !ok {
		return nil, fmt.Errorf("remote %q: allowed: punix:PATH, ptcp:PORT[:IP]", remote)
	}
	switch kind {
	case "punix":
		if rest == "" {
			return nil, fmt.Errorf("remote %q: punix needs a path", remote)
		}
		if c, err := net.Dial("unix", rest); err == nil {
			c.Close()
			return nil, fmt.Errorf("remote %q: another server is listening on %s", remote, rest)
		}
		_ = os.Remove(rest)
		return net.Listen("unix", rest)
	case "ptcp":
		port, ip, _ := strings.Cut(rest, ":")
		if port == "" {
			return nil, fmt.Errorf("remote %q: ptcp needs a port", remote)
		}
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		return net.Listen("tcp", net.JoinHostPort(ip, port))
	}
	return nil, fmt.Errorf("remote %q: allowed: punix:PATH, ptcp:PORT[:IP]", remote)
}

// Serve accepts connections on l until ctx ends or l fails; it closes l
// and every session it started before returning.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); l.Close() }()
	var conns sync.Map
	defer func() {
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		s.sessions.Wait()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		conns.Store(c, nil)
		s.sessions.Add(1)
		go func() {
			defer s.sessions.Done()
			defer conns.Delete(c)
			s.ServeConn(ctx, c)
		}()
	}
}

// ServeConn serves one connection until it closes.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	sess := newSession(s, c)
	s.stats.Sessions.Add(1)
	defer s.stats.Sessions.Add(-1)
	sess.run(ctx)
}

// maxPendingWaits bounds the blocked "wait" transactions of one session.
const maxPendingWaits = 256

type session struct {
	srv      *Server
	conn     net.Conn
	w        *jsonrpc.Writer
	log      *slog.Logger
	mu       sync.Mutex // monitors and their pending changes
	monitors map[string]*monitor
	pending  map[string]context.CancelFunc // timed-wait transactions by id
	lastRecv atomic.Int64
	probe    time.Duration
	waits    sync.WaitGroup
}

func newSession(s *Server, c net.Conn) *session {
	sess := &session{srv: s, conn: c, monitors: map[string]*monitor{}, pending: map[string]context.CancelFunc{}}
	sess.log = s.log.With("peer", c.RemoteAddr().String())
	sess.w = jsonrpc.NewWriter(c, s.cfg.WriteTimeout)
	sess.w.OnDrain = sess.drained
	if _, tcp := c.(*net.TCPConn); tcp && s.cfg.ProbeInterval > 0 {
		sess.probe = s.cfg.ProbeInterval
	}
	return sess
}

func (ss *session) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		ss.waits.Wait()
		ss.close()
	}()
	go func() {
		select {
		case <-ctx.Done():
		case <-ss.w.Done():
		}
		ss.conn.Close()
	}()
	if ss.probe > 0 {
		go ss.prober(ctx)
	}
	rd := jsonrpc.NewReader(ss.conn, ss.srv.cfg.MaxMessage)
	ss.lastRecv.Store(time.Now().UnixNano())
	for {
		raw, err := rd.Next()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			case errors.Is(err, jsonrpc.ErrTooLarge):
				ss.srv.stats.BadMessages.Add(1)
				ss.sendError(nil, "resources exhausted", fmt.Sprintf("message larger than %d bytes", ss.srv.cfg.MaxMessage))
				ss.log.Warn("closing connection: message too large", "limit", ss.srv.cfg.MaxMessage)
				ss.w.Flush(time.Second)
			default:
				var se *jsonrpc.SyntaxError
				if errors.As(err, &se) {
					ss.srv.stats.BadMessages.Add(1)
					ss.sendError(nil, "syntax error", se.Error())
					ss.log.Warn("closing connection: bad JSON", "err", err)
					ss.w.Flush(time.Second)
				}
			}
			return
		}
		ss.lastRecv.Store(time.Now().UnixNano())
		msg, err := jsonrpc.Decode(raw)
		if err != nil {
			ss.srv.stats.BadMessages.Add(1)
			ss.sendError(nil, "syntax error", err.Error())
			continue
		}
		ss.handle(ctx, msg)
		// Back-pressure: stop reading from a client that does not read.
		for ss.w.Backlog() > ss.srv.cfg.MaxBacklog {
			select {
			case <-ss.w.Done():
				return
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

func (ss *session) prober(ctx context.Context) {
	t := time.NewTicker(ss.probe / 2)
	defer t.Stop()
	sent := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, ss.lastRecv.Load()))
		switch {
		case idle < ss.probe:
			sent = false
		case !sent:
			_ = ss.w.Send(jsonrpc.AppendRequest(nil, json.RawMessage(`"echo"`), "echo", []byte("[]")))
			sent = true
		case idle >= 2*ss.probe:
			ss.log.Info("closing idle connection: no reply to the inactivity probe", "idle", idle.Round(time.Millisecond))
			ss.conn.Close()
			return
		}
	}
}

func (ss *session) close() {
	ss.mu.Lock()
	mons := ss.monitors
	ss.monitors = map[string]*monitor{}
	ss.mu.Unlock()
	for _, m := range mons {
		m.cancel()
		ss.srv.stats.Monitors.Add(-1)
	}
	for _, name := range ss.srv.locks.held(ss) {
		if next := ss.srv.locks.unlock(ss, name); next != nil {
			next.notify("locked", name)
		}
	}
	ss.w.Close()
}

func (ss *session) notify(method string, args ...any) {
	p, _ := json.Marshal(args)
	_ = ss.w.Send(jsonrpc.AppendNotification(nil, method, p))
}

func (ss *session) reply(id json.RawMessage, result []byte) {
	_ = ss.w.Send(jsonrpc.AppendResponse(nil, id, result, nil))
}

func (ss *session) replyErr(id json.RawMessage, e *ovsdb.Error) {
	_ = ss.w.Send(jsonrpc.AppendResponse(nil, id, nil, ovsdb.AppendErrorJSON(nil, e)))
}

func (ss *session) sendError(id json.RawMessage, tag, details string) {
	ss.replyErr(id, &ovsdb.Error{Tag: tag, Details: details})
}

func (ss *session) handle(ctx context.Context, m *jsonrpc.Message) {
	if m.IsResponse() {
		return // a reply to our echo probe
	}
	ss.srv.stats.Requests.Add(1)
	if m.IsNotification() {
		if m.Method == "cancel" {
			ss.cancelRequest(m.Params)
		}
		return
	}
	defer func() {
		if r := recover(); r != nil {
			ss.log.Error("request handler panicked; the request is answered with an error", "method", m.Method, "panic", r, "stack", string(debug.Stack()))
			ss.sendError(m.ID, "internal error", fmt.Sprint(r))
		}
	}()
	params, err := jsonrpc.DecodeParams(m.Params)
	if err != nil {
		ss.sendError(m.ID, "syntax error", "params: "+err.Error())
		return
	}
	switch m.Method {
	case "echo":
		p := m.Params
		if len(p) == 0 {
			p = []byte("[]")
		}
		ss.reply(m.ID, p)
	case "list_dbs":
		ss.srv.mu.RLock()
		names := make([]string, 0, len(ss.srv.dbs))
		for n := range ss.srv.dbs {
			names = append(names, n)
		}
		ss.srv.mu.RUnlock()
		sort.Strings(names)
		b, _ := json.Marshal(names)
		ss.reply(m.ID, b)
	case "get_schema":
		db, e := ss.dbParam(params, 0)
		if e != nil {
			ss.replyErr(m.ID, e)
			return
		}
		ss.reply(m.ID, db.Schema().JSON())
	case "get_server_id":
		b, _ := json.Marshal(ss.srv.id.String())
		ss.reply(m.ID, b)
	case "set_db_change_aware":
		ss.reply(m.ID, []byte("{}"))
	case "transact":
		ss.transact(ctx, m.ID, params)
	case "monitor", "monitor_cond", "monitor_cond_since":
		ss.monitor(m.ID, m.Method, params)
	case "monitor_cond_change":
		ss.monitorCondChange(m.ID, params)
	case "monitor_cancel":
		ss.monitorCancel(m.ID, params)
	case "lock", "steal", "unlock":
		ss.lockOp(m.ID, m.Method, params)
	default:
		_ = ss.w.Send(jsonrpc.AppendResponse(nil, m.ID, nil, []byte(`"unknown method"`)))
	}
}

func (ss *session) dbParam(params []any, i int) (*ovsdb.DB, *ovsdb.Error) {
	if len(params) <= i {
		return nil, &ovsdb.Error{Tag: "syntax error", Details: "missing database name"}
	}
	name, ok := params[i].(string)
	if !ok {
		return nil, &ovsdb.Error{Tag: "syntax error", Details: "the database name must be a string"}
	}
	db := ss.srv.db(name)
	if db == nil {
		return nil, &ovsdb.Error{Tag: ovsdb.ErrUnknownDatabase, Details: fmt.Sprintf("%s is not a database served here", name)}
	}
	return db, nil
}

func (ss *session) transact(ctx context.Context, id json.RawMessage, params []any) {
	name, ops, e := ovsdb.ParseTransact(params)
	if e != nil {
		ss.replyErr(id, e)
		return
	}
	db := ss.srv.db(name)
	if db == nil {
		ss.replyErr(id, &ovsdb.Error{Tag: ovsdb.ErrUnknownDatabase, Details: fmt.Sprintf("%s is not a database served here", name)})
		return
	}
	opt := ovsdb.TxnOptions{Wire: true, Locks: func(l string) bool { return ss.srv.locks.owns(ss, l) }}
	run := func(ctx context.Context) {
		results, _ := db.Transact(ctx, ops, opt)
		ss.flushMonitors() // our own changes reach our monitors first
		ss.reply(id, ovsdb.AppendResultsJSON(nil, results))
	}
	if !ovsdb.HasTimedWait(ops) {
		run(ctx)
		return
	}
	// A wait that may block runs on its own so the session keeps serving;
	// "cancel" with its id ends it.
	wctx, cancel := context.WithCancel(ctx)
	key := string(id)
	ss.mu.Lock()
	if len(ss.pending) >= maxPendingWaits {
		ss.mu.Unlock()
		cancel()
		ss.replyErr(id, &ovsdb.Error{Tag: ovsdb.ErrResources, Details: fmt.Sprintf("more than %d transactions waiting in this session", maxPendingWaits)})
		return
	}
	ss.pending[key] = cancel
	ss.mu.Unlock()
	ss.waits.Add(1)
	go func() {
		defer ss.waits.Done()
		defer func() {
			ss.mu.Lock()
			delete(ss.pending, key)
			ss.mu.Unlock()
			cancel()
		}()
		run(wctx)
	}()
}

func (ss *session) cancelRequest(raw json.RawMessage) {
	var ids []json.RawMessage
	if json.Unmarshal(raw, &ids) != nil || len(ids) != 1 {
		return
	}
	ss.mu.Lock()
	c := ss.pending[string(ids[0])]
	ss.mu.Unlock()
	if c != nil {
		c()
	}
}

func (ss *session) lockOp(id json.RawMessage, method string, params []any) {
	if len(params) != 1 {
		ss.sendError(id, "syntax error", method+" takes one parameter, the lock name")
		return
	}
	name, ok := params[0].(string)
	if !ok || name == "" {
		ss.sendError(id, "syntax error", "the lock name must be a non-empty string")
		return
	}
	lt := &ss.srv.locks
	switch method {
	case "lock":
		got := lt.lock(ss, name)
		ss.reply(id, []byte(fmt.Sprintf(`{"locked":%t}`, got)))
	case "steal":
		prev := lt.steal(ss, name)
		ss.reply(id, []byte(`{"locked":true}`))
		if prev != nil {
			prev.notify("stolen", name)
		}
	case "unlock":
		next := lt.unlock(ss, name)
		ss.reply(id, []byte("{}"))
		if next != nil {
			next.notify("locked", name)
		}
	}
}
