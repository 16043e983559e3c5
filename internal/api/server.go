package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
)

// Backend is what the API serves: the running switch.
type Backend interface {
	Config() *config.Config
	Show() *Show
	AddBridge(config.Bridge) error
	SetBridge(config.Bridge) error
	DelBridge(name string) error
	AddPort(config.Port) error
	SetPort(config.Port) error
	DelPort(bridge, name string) error
	AddVeth(VethRequest) error
	FDB(bridge string, vlan int) ([]FDBEntry, error)
	AddFDB(bridge string, r FDBRequest) error
	DelFDB(bridge string, r FDBRequest) error
	FlushFDB(bridge string, r FDBRequest) (int, error)
	Runtime() Runtime
}

// Handler returns the HTTP handler of the v1 API.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/show", func(w http.ResponseWriter, r *http.Request) { reply(w, b.Show(), nil) })
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) { reply(w, b.Config(), nil) })
	mux.HandleFunc("GET /v1/debug/runtime", func(w http.ResponseWriter, r *http.Request) { reply(w, b.Runtime(), nil) })
	mux.HandleFunc("GET /v1/bridges", func(w http.ResponseWriter, r *http.Request) { reply(w, b.Show().Bridges, nil) })
	mux.HandleFunc("POST /v1/bridges", func(w http.ResponseWriter, r *http.Request) {
		var br config.Bridge
		if decode(w, r, &br) {
			reply(w, nil, b.AddBridge(br))
		}
	})
	mux.HandleFunc("PUT /v1/bridges/{name}", func(w http.ResponseWriter, r *http.Request) {
		var br config.Bridge
		if decode(w, r, &br) {
			br.Name = r.PathValue("name")
			reply(w, nil, b.SetBridge(br))
		}
	})
	mux.HandleFunc("DELETE /v1/bridges/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, b.DelBridge(r.PathValue("name")))
	})
	mux.HandleFunc("GET /v1/bridges/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, bs := range b.Show().Bridges {
			if bs.Name == r.PathValue("name") {
				reply(w, bs, nil)
				return
			}
		}
		reply(w, nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "bridge", Message: fmt.Sprintf("bridge %q does not exist", r.PathValue("name"))})
	})
	mux.HandleFunc("POST /v1/ports", func(w http.ResponseWriter, r *http.Request) {
		var p config.Port
		if decode(w, r, &p) {
			reply(w, nil, b.AddPort(p))
		}
	})
	mux.HandleFunc("PUT /v1/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		var p config.Port
		if decode(w, r, &p) {
			p.Name = r.PathValue("name")
			reply(w, nil, b.SetPort(p))
		}
	})
	mux.HandleFunc("DELETE /v1/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, b.DelPort(r.URL.Query().Get("bridge"), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/veth", func(w http.ResponseWriter, r *http.Request) {
		var v VethRequest
		if decode(w, r, &v) {
			reply(w, nil, b.AddVeth(v))
		}
	})
	mux.HandleFunc("GET /v1/bridges/{name}/fdb", func(w http.ResponseWriter, r *http.Request) {
		vlan := -1
		if v := r.URL.Query().Get("vlan"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 4094 {
				reply(w, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Field: "vlan", Allowed: "0-4094", Message: fmt.Sprintf("%q", v)})
				return
			}
			vlan = n
		}
		fdb, err := b.FDB(r.PathValue("name"), vlan)
		reply(w, fdb, err)
	})
	mux.HandleFunc("POST /v1/bridges/{name}/fdb", func(w http.ResponseWriter, r *http.Request) {
		var f FDBRequest
		if decode(w, r, &f) {
			reply(w, nil, b.AddFDB(r.PathValue("name"), f))
		}
	})
	mux.HandleFunc("POST /v1/bridges/{name}/fdb/delete", func(w http.ResponseWriter, r *http.Request) {
		var f FDBRequest
		if decode(w, r, &f) {
			reply(w, nil, b.DelFDB(r.PathValue("name"), f))
		}
	})
	mux.HandleFunc("POST /v1/bridges/{name}/fdb/flush", func(w http.ResponseWriter, r *http.Request) {
		var f FDBRequest
		if decode(w, r, &f) {
			n, err := b.FlushFDB(r.PathValue("name"), f)
			reply(w, FlushResult{Removed: n}, err)
		}
	})
	// Go profiles of the daemon (the socket is root's, as is the switch):
	// curl --unix-socket SOCK http://sy/debug/pprof/profile?seconds=10 > cpu.prof
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		reply(w, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "request body: " + err.Error()})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			ae = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
		}
		if ae.Status == 0 {
			ae.Status = http.StatusBadRequest
		}
		w.WriteHeader(ae.Status)
		_ = json.NewEncoder(w).Encode(ErrorBody{Error: ae})
		return
	}
	if v == nil {
		v = struct {
			OK bool `json:"ok"`
		}{true}
	}
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves the API on a unix socket at path until ctx ends. A stale
// socket file left by a killed daemon is replaced.
func Serve(ctx context.Context, path string, b Backend) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("another daemon is serving %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	_ = os.Chmod(path, 0o660)
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	_ = os.Remove(path)
	return nil
}
