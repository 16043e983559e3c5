package brain

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// DefaultSocket is where the brain serves its API unless told otherwise.
const DefaultSocket = "/run/switchyard/brain.sock"

// Handler returns the brain's HTTP handler. A non-empty token is required
// as "Authorization: Bearer TOKEN" on every request.
func (b *Brain) Handler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathNetworks, func(w http.ResponseWriter, r *http.Request) {
		var n model.Network
		if decode(w, r, &n) {
			out, err := b.CreateNetwork(r.Context(), n)
			reply(w, out, err)
		}
	})
	mux.HandleFunc("GET "+wire.PathNetworks, func(w http.ResponseWriter, r *http.Request) { reply(w, b.Networks(), nil) })
	mux.HandleFunc("GET "+wire.PathNetworks+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		d, err := b.Network(r.PathValue("name"))
		reply(w, d, err)
	})
	mux.HandleFunc("DELETE "+wire.PathNetworks+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, b.DeleteNetwork(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST "+wire.PathVIFs, func(w http.ResponseWriter, r *http.Request) {
		var p wire.PlugRequest
		wait, ok := waitParam(w, r)
		if ok && decode(w, r, &p) {
			st, err := b.Plug(r.Context(), p.Port, wait)
			reply(w, st, err)
		}
	})
	mux.HandleFunc("GET "+wire.PathVIFs, func(w http.ResponseWriter, r *http.Request) {
		reply(w, b.VIFs(r.URL.Query().Get("network"), r.URL.Query().Get("host")), nil)
	})
	mux.HandleFunc("GET "+wire.PathVIFs+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.VIF(r.PathValue("id"))
		reply(w, st, err)
	})
	mux.HandleFunc("DELETE "+wire.PathVIFs+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		if wait, ok := waitParam(w, r); ok {
			reply(w, nil, b.Unplug(r.Context(), r.PathValue("id"), wait))
		}
	})
	mux.HandleFunc("POST "+wire.PathVIFs+"/{id}/move", func(w http.ResponseWriter, r *http.Request) {
		var m wire.MoveRequest
		wait, ok := waitParam(w, r)
		if ok && decode(w, r, &m) {
			st, err := b.Move(r.Context(), r.PathValue("id"), m.ToHost, wait)
			reply(w, st, err)
		}
	})
	mux.HandleFunc("GET "+wire.PathHosts, func(w http.ResponseWriter, r *http.Request) { reply(w, b.Hosts(), nil) })
	mux.HandleFunc("GET "+wire.PathHosts+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, h := range b.Hosts() {
			if h.Name == r.PathValue("name") {
				reply(w, h, nil)
				return
			}
		}
		reply(w, nil, model.NotFound("host", "host %s is not known", r.PathValue("name")))
	})
	mux.HandleFunc("GET "+wire.PathStatus, func(w http.ResponseWriter, r *http.Request) { reply(w, b.Status(r.Context()), nil) })
	mux.HandleFunc("POST "+wire.PathAuditAll, func(w http.ResponseWriter, r *http.Request) {
		var hosts []string
		if h := r.URL.Query().Get("host"); h != "" {
			hosts = strings.Split(h, ",")
		}
		reply(w, b.Audit(r.Context(), hosts, 30*time.Second), nil)
	})

	// The agents' side.
	mux.HandleFunc("POST "+wire.PathRegister, func(w http.ResponseWriter, r *http.Request) {
		var req wire.RegisterRequest
		if decode(w, r, &req) {
			out, err := b.Register(r.Context(), req)
			reply(w, out, err)
		}
	})
	mux.HandleFunc("POST "+wire.PathReport, func(w http.ResponseWriter, r *http.Request) {
		var req wire.Report
		if decode(w, r, &req) {
			reply(w, nil, b.Report(r.Context(), req))
		}
	})
	mux.HandleFunc("POST "+wire.PathAudit, func(w http.ResponseWriter, r *http.Request) {
		var req wire.AuditResult
		if decode(w, r, &req) {
			reply(w, nil, b.auditResult(req))
		}
	})
	mux.HandleFunc("GET "+wire.PathView, func(w http.ResponseWriter, r *http.Request) {
		var rev int64
		if v := r.URL.Query().Get("rev"); v != "" {
			if _, err := fmt.Sscan(v, &rev); err != nil || rev < 0 {
				reply(w, nil, model.Invalid("rev", "a revision number", "%q", v))
				return
			}
		}
		view, err := b.RecomputeView(r.Context(), r.URL.Query().Get("host"), rev)
		reply(w, view, err)
	})
	mux.HandleFunc("POST "+wire.PathStream, b.serveStream)

	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, model.NotFound("", "no API endpoint %s %s", r.Method, r.URL.Path))
	})
	if token == "" {
		return mux
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			replyStatus(w, http.StatusUnauthorized, &model.Error{Code: "unauthenticated", Field: "token", Message: "a valid bearer token is required"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// serveStream is an agent's stream: a snapshot, then changes, as
// newline-delimited JSON, written in batches as they queue up.
func (b *Brain) serveStream(w http.ResponseWriter, r *http.Request) {
	var req wire.StreamRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20))
	if err := dec.Decode(&req); err != nil {
		reply(w, nil, model.Invalid("body", "a JSON stream request", "request body: %v", err))
		return
	}
	s := b.hub.session(req.Session)
	if s == nil {
		reply(w, nil, model.NotFound("session", "unknown session %q; register again", req.Session))
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	gen, kickout := b.hub.startStream(s, req.Nets)
	defer b.hub.endStream(s, gen)
	var out []byte
	var deadline time.Time
	for {
		out = s.take(out)
		if len(out) > 0 {
			// A stalled agent's writes time out (then its stream ends and
			// its queue is bounded); renewing the deadline every few
			// seconds is enough.
			if now := time.Now(); deadline.Sub(now) < 25*time.Second {
				deadline = now.Add(30 * time.Second)
				_ = rc.SetWriteDeadline(deadline)
			}
			if _, err := w.Write(out); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			if cap(out) > 4<<20 {
				out = nil
			}
			continue
		}
		select {
		case <-s.wake:
		case <-kickout:
			return
		case <-s.gone:
			return
		case <-r.Context().Done():
			return
		case <-b.ctx.Done():
			return
		}
	}
}

func waitParam(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 10*time.Minute {
		reply(w, nil, model.Invalid("wait", "a duration 0s-10m such as 30s", "%q", v))
		return 0, false
	}
	return d, true
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		reply(w, nil, model.Invalid("body", "a JSON object of the documented fields", "request body: %v", err))
		return false
	}
	return true
}

// StatusOf maps an error code to its HTTP status.
func StatusOf(code string) int {
	switch code {
	case model.CodeInvalid:
		return http.StatusBadRequest
	case model.CodeNotFound:
		return http.StatusNotFound
	case model.CodeExists:
		return http.StatusConflict
	case model.CodeFailed:
		return http.StatusPreconditionFailed
	case model.CodeUnavailable:
		return http.StatusServiceUnavailable
	case model.CodeTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		var me *model.Error
		if !errors.As(err, &me) {
			me = &model.Error{Code: model.CodeInternal, Message: err.Error()}
		}
		replyStatus(w, StatusOf(me.Code), me)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		v = struct {
			OK bool `json:"ok"`
		}{true}
	}
	_ = json.NewEncoder(w).Encode(v)
}

func replyStatus(w http.ResponseWriter, status int, e *model.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wire.ErrorBody{Error: e})
}

// Listen opens the API listener: "unix:PATH" (or a bare path) or
// "tcp:HOST:PORT". A stale socket file is replaced; a live one is an error.
func Listen(addr string) (net.Listener, error) {
	if rest, ok := strings.CutPrefix(addr, "tcp:"); ok {
		return net.Listen("tcp", rest)
	}
	path := strings.TrimPrefix(addr, "unix:")
	if path == "" {
		path = DefaultSocket
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("another brain is serving %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	_ = os.Chmod(path, 0o660)
	return ln, nil
}

// Serve serves the API on ln until ctx ends.
func (b *Brain) Serve(ctx context.Context, ln net.Listener, token string) error {
	srv := &http.Server{Handler: b.Handler(token), ReadHeaderTimeout: 5 * time.Second}
	// Streams never end by themselves: end them when the server stops.
	srv.RegisterOnShutdown(b.dropSessions)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if ua, ok := ln.Addr().(*net.UnixAddr); ok {
		_ = os.Remove(ua.Name)
	}
	return nil
}
