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

	"github.com/switchyard-net/switchyard/internal/capture"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/events"
)

// Backend is what the API serves: the running switch. Its errors are the
// domain's (package errs); this package alone turns them into HTTP.
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
	AddFlows(bridge string, r FlowsRequest) (FlowResult, error)
	ModFlows(bridge string, r FlowModRequest) (FlowResult, error)
	DelFlows(bridge string, r FlowDelRequest) (FlowResult, error)
	DumpFlows(bridge, match string, table int) ([]FlowEntry, error)
	Trace(bridge string, r TraceRequest) (*TraceResult, error)
	TraceLive(bridge, port string, count int) (<-chan *datapath.Trace, func(), error)
	DatapathFlows(bridge string) ([]DatapathFlow, error)
	Runtime() Runtime

	// Seeing inside (observe.go): metrics, events, captures, doctor.
	MetricsHandler() http.Handler
	Events(q events.Query) []events.Event
	FollowEvents(q events.Query) ([]events.Event, *events.Subscription)
	StartCapture(bridge, port string, o capture.Options, who string) (*capture.Session, error)
	EndCapture(s *capture.Session, r capture.Result, err error)
	StopCapture(id string) error
	Captures() []CaptureStatus
	Doctor(ctx context.Context, o doctor.Options) *doctor.Report
	Tunnels() []TunnelStatus
}

// route is one endpoint.
type route struct {
	pattern string
	handle  func(b Backend, w http.ResponseWriter, r *http.Request)
}

// routes are the v1 endpoints, one named handler each.
var routes = []route{
	{"GET /v1/show", func(b Backend, w http.ResponseWriter, r *http.Request) { reply(w, b.Show(), nil) }},
	{"GET /v1/config", func(b Backend, w http.ResponseWriter, r *http.Request) { reply(w, b.Config(), nil) }},
	{"GET /v1/debug/runtime", func(b Backend, w http.ResponseWriter, r *http.Request) { reply(w, b.Runtime(), nil) }},
	{"GET /v1/bridges", func(b Backend, w http.ResponseWriter, r *http.Request) { reply(w, b.Show().Bridges, nil) }},
	{"POST /v1/bridges", addBridge},
	{"PUT /v1/bridges/{name}", setBridge},
	{"DELETE /v1/bridges/{name}", func(b Backend, w http.ResponseWriter, r *http.Request) {
		reply(w, nil, b.DelBridge(r.PathValue("name")))
	}},
	{"GET /v1/bridges/{name}", getBridge},
	{"POST /v1/ports", addPort},
	{"PUT /v1/ports/{name}", setPort},
	{"DELETE /v1/ports/{name}", func(b Backend, w http.ResponseWriter, r *http.Request) {
		reply(w, nil, b.DelPort(r.URL.Query().Get("bridge"), r.PathValue("name")))
	}},
	{"POST /v1/veth", addVeth},
	{"GET /v1/bridges/{name}/fdb", getFDB},
	{"POST /v1/bridges/{name}/fdb", addFDB},
	{"POST /v1/bridges/{name}/fdb/delete", delFDB},
	{"POST /v1/bridges/{name}/fdb/flush", flushFDB},
	{"GET /v1/bridges/{name}/flows", dumpFlows},
	{"POST /v1/bridges/{name}/flows", addFlows},
	{"POST /v1/bridges/{name}/flows/modify", modFlows},
	{"POST /v1/bridges/{name}/flows/delete", delFlows},
	{"POST /v1/bridges/{name}/trace", trace},
	{"GET /v1/bridges/{name}/trace/live", traceLive},
	{"GET /v1/bridges/{name}/dpctl/flows", dpctlFlows},
	// Seeing inside (observe.go).
	{"GET /metrics", metricsRoute},
	{"GET /v1/events", getEvents},
	{"GET /v1/bridges/{name}/ports/{port}/capture", startCapture},
	{"GET /v1/captures", listCaptures},
	{"DELETE /v1/captures/{id}", stopCapture},
	{"GET /v1/doctor", runDoctor},
	{"GET /v1/tunnels", getTunnels},
}

// Handler returns the HTTP handler of the v1 API.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		h := rt.handle
		mux.HandleFunc(rt.pattern, audited(b, func(w http.ResponseWriter, r *http.Request) { h(b, w, r) }))
	}
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

func addBridge(b Backend, w http.ResponseWriter, r *http.Request) {
	var br config.Bridge
	if decode(w, r, &br) {
		reply(w, nil, b.AddBridge(br))
	}
}

func setBridge(b Backend, w http.ResponseWriter, r *http.Request) {
	var br config.Bridge
	if decode(w, r, &br) {
		br.Name = r.PathValue("name")
		reply(w, nil, b.SetBridge(br))
	}
}

func getBridge(b Backend, w http.ResponseWriter, r *http.Request) {
	for _, bs := range b.Show().Bridges {
		if bs.Name == r.PathValue("name") {
			reply(w, bs, nil)
			return
		}
	}
	reply(w, nil, errs.NotFoundf("bridge", "bridge %q does not exist", r.PathValue("name")))
}

func addPort(b Backend, w http.ResponseWriter, r *http.Request) {
	var p config.Port
	if decode(w, r, &p) {
		reply(w, nil, b.AddPort(p))
	}
}

func setPort(b Backend, w http.ResponseWriter, r *http.Request) {
	var p config.Port
	if decode(w, r, &p) {
		p.Name = r.PathValue("name")
		reply(w, nil, b.SetPort(p))
	}
}

func addVeth(b Backend, w http.ResponseWriter, r *http.Request) {
	var v VethRequest
	if decode(w, r, &v) {
		reply(w, nil, b.AddVeth(v))
	}
}

func getFDB(b Backend, w http.ResponseWriter, r *http.Request) {
	vlan := -1
	if v := r.URL.Query().Get("vlan"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 4094 {
			reply(w, nil, errs.Invalidf("vlan", "0-4094", "%q", v))
			return
		}
		vlan = n
	}
	fdb, err := b.FDB(r.PathValue("name"), vlan)
	reply(w, fdb, err)
}

func addFDB(b Backend, w http.ResponseWriter, r *http.Request) {
	var f FDBRequest
	if decode(w, r, &f) {
		reply(w, nil, b.AddFDB(r.PathValue("name"), f))
	}
}

func delFDB(b Backend, w http.ResponseWriter, r *http.Request) {
	var f FDBRequest
	if decode(w, r, &f) {
		reply(w, nil, b.DelFDB(r.PathValue("name"), f))
	}
}

func flushFDB(b Backend, w http.ResponseWriter, r *http.Request) {
	var f FDBRequest
	if decode(w, r, &f) {
		n, err := b.FlushFDB(r.PathValue("name"), f)
		reply(w, FlushResult{Removed: n}, err)
	}
}

func dumpFlows(b Backend, w http.ResponseWriter, r *http.Request) {
	table := -1
	if v := r.URL.Query().Get("table"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n >= datapath.NumTables {
			reply(w, nil, errs.Invalidf("table", fmt.Sprintf("0-%d", datapath.NumTables-1), "%q", v))
			return
		}
		table = n
	}
	fl, err := b.DumpFlows(r.PathValue("name"), r.URL.Query().Get("match"), table)
	reply(w, fl, err)
}

func addFlows(b Backend, w http.ResponseWriter, r *http.Request) {
	var f FlowsRequest
	if decodeLimit(w, r, &f, 256<<20) {
		res, err := b.AddFlows(r.PathValue("name"), f)
		reply(w, res, err)
	}
}

func modFlows(b Backend, w http.ResponseWriter, r *http.Request) {
	var f FlowModRequest
	if decode(w, r, &f) {
		res, err := b.ModFlows(r.PathValue("name"), f)
		reply(w, res, err)
	}
}

func delFlows(b Backend, w http.ResponseWriter, r *http.Request) {
	var f FlowDelRequest
	if decode(w, r, &f) {
		res, err := b.DelFlows(r.PathValue("name"), f)
		reply(w, res, err)
	}
}

func trace(b Backend, w http.ResponseWriter, r *http.Request) {
	var t TraceRequest
	if decode(w, r, &t) {
		res, err := b.Trace(r.PathValue("name"), t)
		reply(w, res, err)
	}
}

// traceLive streams one TraceResult per line as frames arrive, until the
// count is reached or the client goes away.
func traceLive(b Backend, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	count := 1
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			reply(w, nil, errs.Invalidf("count", "1-10000", "%q", v))
			return
		}
		count = n
	}
	ch, stop, err := b.TraceLive(r.PathValue("name"), q.Get("port"), count)
	if err != nil {
		reply(w, nil, err)
		return
	}
	defer stop()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	for i := 0; i < count; i++ {
		select {
		case tr, ok := <-ch:
			if !ok { // done: the last traced frames found the reader slow
				return
			}
			if err := enc.Encode(TraceResult{Root: tr.Root, Outputs: tr.Outputs, Text: tr.String()}); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-r.Context().Done():
			return
		}
	}
}

func dpctlFlows(b Backend, w http.ResponseWriter, r *http.Request) {
	fl, err := b.DatapathFlows(r.PathValue("name"))
	reply(w, fl, err)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool { return decodeLimit(w, r, v, 1<<20) }

func decodeLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		reply(w, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "request body: " + err.Error()})
		return false
	}
	return true
}

// wireError turns any error into the API's Error: a domain error keeps its
// field and allowed values and gets the HTTP status of its kind.
func wireError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		if ae.Status == 0 {
			ae.Status = http.StatusBadRequest
		}
		return ae
	}
	e, ok := errs.As(err)
	if !ok {
		return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
	}
	out := &Error{Field: e.Field, Message: e.Message, Allowed: e.Allowed, Offset: e.Offset}
	switch e.Kind {
	case errs.Invalid:
		out.Status, out.Code = http.StatusBadRequest, CodeInvalid
	case errs.NotFound:
		out.Status, out.Code = http.StatusNotFound, CodeNotFound
	case errs.Exists:
		out.Status, out.Code = http.StatusConflict, CodeExists
	case errs.Unsupported:
		out.Status, out.Code = http.StatusNotImplemented, CodeUnsupported
	default:
		out.Status, out.Code = http.StatusBadRequest, CodeFailed
	}
	return out
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		ae := wireError(err)
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
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 5 * time.Second, ConnContext: peerContext}
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
