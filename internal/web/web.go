// Package web is Switchyard's dashboard: one page (net/http, html/template
// and embedded assets; plain JavaScript and SVG, no library, no build
// step, nothing from a CDN) that shows the bridges and their ports as a
// topology (VMs, tunnels to remote VTEPs, patch links), live rates per
// port with small charts, drops by reason, the FDB with search, tunnels and
// their remotes, the event stream, flows with their hit counts, and a form
// that runs a trace and draws its tree. Live updates come over
// server-sent events.
//
// `switchyard daemon --web ADDR` serves it. On a loopback address it needs
// no token (the Host header must then be a loopback name, against DNS
// rebinding); elsewhere a token is required: open /?token=TOKEN once (a
// cookie keeps it) or send "Authorization: Bearer TOKEN".
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/events"
)

//go:embed assets
var assets embed.FS

// Backend is what the dashboard reads (the daemon's api.Backend is one).
type Backend interface {
	Show() *api.Show
	FDB(bridge string, vlan int) ([]api.FDBEntry, error)
	DumpFlows(bridge, match string, table int) ([]api.FlowEntry, error)
	DatapathFlows(bridge string) ([]api.DatapathFlow, error)
	Trace(bridge string, r api.TraceRequest) (*api.TraceResult, error)
	Events(q events.Query) []events.Event
	FollowEvents(q events.Query) ([]events.Event, *events.Subscription)
	Tunnels() []api.TunnelStatus
	Doctor(ctx context.Context, o doctor.Options) *doctor.Report
}

// Options configure the dashboard.
type Options struct {
	// Addr is where it listens (host:port).
	Addr string
	// Token is required from clients unless Addr is a loopback address.
	Token   string
	Version string
	Logger  *slog.Logger
	// Interval is the sampling period of the live rates (default 1 s);
	// History how many samples are kept for the charts (default 120).
	Interval time.Duration
	History  int
}

// Server is a running dashboard.
type Server struct {
	b        Backend
	o        Options
	loopback bool
	page     *template.Template
	static   http.Handler
	sampler  *sampler
	addr     net.Addr
}

// CheckAddr checks a --web address and token: a token is required unless
// the address is a loopback one.
func CheckAddr(addr, token string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false, errs.Invalidf("web", "HOST:PORT, like 127.0.0.1:8080", "%q", addr)
	}
	if host == "localhost" {
		return true, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil && host != "" {
		return false, errs.Invalidf("web", "an IP address and port, like 127.0.0.1:8080", "%q", addr)
	}
	loopback = err == nil && a.IsLoopback()
	if !loopback && token == "" {
		return false, errs.Invalidf("web-token", "a token (--web-token or SWITCHYARD_WEB_TOKEN) whenever --web is not on a loopback address", "--web %s without a token", addr)
	}
	if token != "" && len(token) < 16 {
		return loopback, errs.Invalidf("web-token", "at least 16 characters", "a token of %d characters", len(token))
	}
	return loopback, nil
}

// New makes the dashboard; Start serves it.
func New(b Backend, o Options) (*Server, error) {
	loop, err := CheckAddr(o.Addr, o.Token)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.History <= 0 {
		o.History = 120
	}
	page, err := template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	return &Server{b: b, o: o, loopback: loop, page: page, static: http.FileServer(http.FS(sub)),
		sampler: newSampler(b, o.Interval, o.History)}, nil
}

// Start listens and serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("web %s: %w", s.o.Addr, err)
	}
	s.addr = ln.Addr()
	go s.sampler.run(ctx)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(c context.Context, conn net.Conn) context.Context {
			return api.WithPeer(c, api.Peer{UID: -1, PID: -1, Remote: conn.RemoteAddr().String(), Via: "web"})
		}}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.o.Logger.Error("dashboard stopped", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the dashboard listens on (after Start).
func (s *Server) Addr() net.Addr { return s.addr }

// Handler returns the dashboard's handler (with authentication).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.static))
	mux.HandleFunc("GET /api/show", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.b.Show(), nil) })
	mux.HandleFunc("GET /api/tunnels", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.b.Tunnels(), nil) })
	mux.HandleFunc("GET /api/fdb", s.fdb)
	mux.HandleFunc("GET /api/flows", s.flows)
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.b.Events(events.Query{Last: 200, Kind: r.URL.Query().Get("kind")}), nil)
	})
	mux.HandleFunc("GET /api/rates", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.sampler.history(), nil) })
	mux.HandleFunc("POST /api/trace", s.trace)
	mux.HandleFunc("POST /api/doctor", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.b.Doctor(r.Context(), doctor.Options{ProbeTimeout: time.Second}), nil)
	})
	mux.HandleFunc("GET /api/stream", s.stream)
	return s.guard(mux)
}

const cookieName = "switchyard_token"

// guard checks the token (off loopback), the Host header (on loopback,
// against DNS rebinding), and that POSTs come from the page itself.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		if s.loopback && s.o.Token == "" {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			a, aerr := netip.ParseAddr(strings.Trim(host, "[]"))
			if host != "localhost" && (aerr != nil || !a.IsLoopback()) {
				http.Error(w, "this dashboard answers to loopback addresses only", http.StatusForbidden)
				return
			}
		}
		if s.o.Token != "" {
			tok := r.URL.Query().Get("token")
			if tok == "" {
				if c, err := r.Cookie(cookieName); err == nil {
					tok = c.Value
				}
			}
			if tok == "" {
				tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.o.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard"`)
				http.Error(w, "a token is required: open /?token=TOKEN (the daemon's --web-token)", http.StatusUnauthorized)
				return
			}
			if r.URL.Query().Get("token") != "" {
				http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			}
		}
		if r.Method == http.MethodPost && r.Header.Get("X-Switchyard") != "1" {
			http.Error(w, "POST needs the X-Switchyard: 1 header (the dashboard sends it)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = s.page.Execute(w, struct{ Version string }{s.o.Version})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		st := http.StatusBadRequest
		if e, ok := errs.As(err); ok && e.Kind == errs.NotFound {
			st = http.StatusNotFound
		}
		w.WriteHeader(st)
		_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) fdb(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	l, err := s.b.FDB(q.Get("bridge"), -1)
	if err != nil {
		writeJSON(w, nil, err)
		return
	}
	if term := strings.ToLower(strings.TrimSpace(q.Get("q"))); term != "" {
		out := l[:0]
		for _, e := range l {
			if strings.Contains(strings.ToLower(fmt.Sprintf("%s %s vlan %d %s %s", e.MAC, e.Port, e.VLAN, e.Remote, e.Type)), term) {
				out = append(out, e)
			}
		}
		l = out
	}
	// A million-entry FDB is not a page: the first FDBRows matches, and
	// the total in a header.
	w.Header().Set("X-Total-Count", strconv.Itoa(len(l)))
	if len(l) > FDBRows {
		l = l[:FDBRows]
	}
	writeJSON(w, l, nil)
}

// FDBRows bounds the FDB rows the dashboard gets at once (search narrows).
const FDBRows = 2000

func (s *Server) flows(w http.ResponseWriter, r *http.Request) {
	br := r.URL.Query().Get("bridge")
	fl, err := s.b.DumpFlows(br, "", -1)
	if err != nil {
		writeJSON(w, nil, err)
		return
	}
	dp, err := s.b.DatapathFlows(br)
	writeJSON(w, struct {
		Flows    []api.FlowEntry    `json:"flows"`
		Datapath []api.DatapathFlow `json:"datapath"`
	}{fl, dp}, err)
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Bridge string `json:"bridge"`
		Flow   string `json:"flow"`
		Packet string `json:"packet"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, nil, fmt.Errorf("request body: %w", err))
		return
	}
	res, err := s.b.Trace(req.Bridge, api.TraceRequest{Flow: req.Flow, Packet: req.Packet})
	writeJSON(w, res, err)
}

// stream is the server-sent event stream: a "rates" message at every
// sample, an "event" message for each event as it happens.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	_, sub := s.b.FollowEvents(events.Query{Since: ^uint64(0)})
	defer sub.Close()
	samples, unsub := s.sampler.subscribe()
	defer unsub()
	send := func(kind string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return true
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-sub.C():
			if !ok || !send("event", e) {
				return
			}
		case smp := <-samples:
			if !send("rates", smp) {
				return
			}
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// Sample is one sampling of every port: rates since the previous sample.
type Sample struct {
	Time  time.Time    `json:"time"`
	Ports []PortSample `json:"ports"`
}

// PortSample is one port's rates (per second) and totals.
type PortSample struct {
	Bridge   string             `json:"bridge"`
	Port     string             `json:"port"`
	Status   string             `json:"status"`
	RxPPS    float64            `json:"rx_pps"`
	TxPPS    float64            `json:"tx_pps"`
	RxBPS    float64            `json:"rx_bps"` // bits per second
	TxBPS    float64            `json:"tx_bps"`
	DropsPS  float64            `json:"drops_ps"`
	Rx       uint64             `json:"rx_packets"`
	Tx       uint64             `json:"tx_packets"`
	Drops    map[string]uint64  `json:"drops"`
	DropRate map[string]float64 `json:"drop_rates,omitempty"`
}

// sampler samples the ports' counters at an interval and keeps a history
// for the charts.
type sampler struct {
	b        Backend
	interval time.Duration
	keep     int

	mu   sync.Mutex
	hist []Sample
	prev map[string]prevCounters
	last time.Time
	subs map[chan Sample]struct{}
}

type prevCounters struct {
	rxP, txP, rxB, txB uint64
	drops              map[string]uint64
}

func newSampler(b Backend, interval time.Duration, keep int) *sampler {
	return &sampler{b: b, interval: interval, keep: keep, prev: map[string]prevCounters{}, subs: map[chan Sample]struct{}{}}
}

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.sample(now)
		}
	}
}

func (s *sampler) sample(now time.Time) {
	show := s.b.Show()
	s.mu.Lock()
	defer s.mu.Unlock()
	dt := now.Sub(s.last).Seconds()
	first := s.last.IsZero()
	s.last = now
	smp := Sample{Time: now, Ports: []PortSample{}}
	cur := map[string]prevCounters{}
	rate := func(a, b uint64) float64 {
		if first || dt <= 0 || a < b {
			return 0
		}
		return float64(a-b) / dt
	}
	for _, b := range show.Bridges {
		for _, p := range b.Ports {
			st := p.Stats
			c := prevCounters{st.RxPackets, st.TxPackets, st.RxBytes, st.TxBytes, st.Drops}
			cur[p.Name] = c
			o, had := s.prev[p.Name]
			ps := PortSample{Bridge: b.Name, Port: p.Name, Status: p.Status, Rx: st.RxPackets, Tx: st.TxPackets, Drops: st.Drops}
			if had {
				ps.RxPPS, ps.TxPPS = rate(c.rxP, o.rxP), rate(c.txP, o.txP)
				ps.RxBPS, ps.TxBPS = 8*rate(c.rxB, o.rxB), 8*rate(c.txB, o.txB)
				for r, n := range st.Drops {
					if d := rate(n, o.drops[r]); d > 0 {
						if ps.DropRate == nil {
							ps.DropRate = map[string]float64{}
						}
						ps.DropRate[r] = d
						ps.DropsPS += d
					}
				}
			}
			smp.Ports = append(smp.Ports, ps)
		}
	}
	sort.Slice(smp.Ports, func(i, j int) bool {
		if smp.Ports[i].Bridge != smp.Ports[j].Bridge {
			return smp.Ports[i].Bridge < smp.Ports[j].Bridge
		}
		return smp.Ports[i].Port < smp.Ports[j].Port
	})
	s.prev = cur
	s.hist = append(s.hist, smp)
	if len(s.hist) > s.keep {
		s.hist = s.hist[len(s.hist)-s.keep:]
	}
	for c := range s.subs {
		select {
		case c <- smp:
		default:
		}
	}
}

func (s *sampler) history() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample{}, s.hist...)
}

func (s *sampler) subscribe() (<-chan Sample, func()) {
	c := make(chan Sample, 4)
	s.mu.Lock()
	s.subs[c] = struct{}{}
	s.mu.Unlock()
	return c, func() {
		s.mu.Lock()
		delete(s.subs, c)
		s.mu.Unlock()
	}
}
