package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Peer is who is on the other end of an API connection: for the unix
// socket, the kernel's credentials of the connecting process (SO_PEERCRED).
type Peer struct {
	UID, PID int
	Unix     bool
	Remote   string // TCP: the remote address
	// Via names the front end when it is not the API socket ("web").
	Via string
}

type peerKey struct{}

// peerContext records the peer of each connection (http.Server's
// ConnContext).
func peerContext(ctx context.Context, c net.Conn) context.Context {
	p := Peer{UID: -1, PID: -1}
	if uc, ok := c.(*net.UnixConn); ok {
		p.Unix = true
		if rc, err := uc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				if cr, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
					p.UID, p.PID = int(cr.Uid), int(cr.Pid)
				}
			})
		}
	} else if c != nil {
		p.Remote = c.RemoteAddr().String()
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// WithPeer returns ctx carrying p (for front ends that serve the backend
// over another listener, such as the dashboard).
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerOf returns the peer of a request, if known.
func PeerOf(r *http.Request) (Peer, bool) {
	p, ok := r.Context().Value(peerKey{}).(Peer)
	return p, ok
}

// WhoOf describes who made a request: the user, the process and its
// command line for the unix socket ("root (uid 0), pid 4242: switchyard
// port add br0 tap1 --type tap"), the front end and address otherwise.
func WhoOf(r *http.Request) string {
	p, ok := PeerOf(r)
	if !ok {
		return "unknown"
	}
	if !p.Unix {
		via := p.Via
		if via == "" {
			via = "tcp"
		}
		return via + " " + p.Remote
	}
	name := "uid " + strconv.Itoa(p.UID)
	if u, err := user.LookupId(strconv.Itoa(p.UID)); err == nil && p.UID >= 0 {
		name = fmt.Sprintf("%s (uid %d)", u.Username, p.UID)
	}
	if p.PID <= 0 {
		return name
	}
	who := fmt.Sprintf("%s, pid %d", name, p.PID)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID)); err == nil && len(b) > 0 {
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 0 {
			if i := strings.LastIndexByte(args[0], '/'); i >= 0 {
				args[0] = args[0][i+1:]
			}
			cmd := strings.Join(args, " ")
			if len(cmd) > 300 {
				cmd = cmd[:300] + "…"
			}
			who += ": " + cmd
		}
	}
	return who
}

// Auditor is a backend that wants to know who changes what: each
// request that may change the configuration (not GET) is bracketed by
// BeginChange and the function it returns, called with the HTTP status.
type Auditor interface {
	BeginChange(who, method, path string) (end func(status int))
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// audited wraps a handler of a changing request for an Auditor backend.
func audited(b Backend, h http.HandlerFunc) http.HandlerFunc {
	a, ok := b.(Auditor)
	if !ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h(w, r)
			return
		}
		end := a.BeginChange(WhoOf(r), r.Method, r.URL.Path)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			st := sw.status
			if st == 0 {
				st = http.StatusOK
			}
			end(st)
		}()
		h(sw, r)
	}
}
