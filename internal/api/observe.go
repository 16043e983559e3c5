package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-net/switchyard/internal/capture"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/events"
)

// CaptureStatus is one running capture (GET /v1/captures).
type CaptureStatus struct {
	ID        string    `json:"id"`
	Bridge    string    `json:"bridge"`
	Port      string    `json:"port"`
	Filter    string    `json:"filter,omitempty"`
	Direction string    `json:"direction"`
	Started   time.Time `json:"started"`
	Who       string    `json:"who,omitempty"`
	capture.Result
}

// TunnelStatus is a tunnel port with its remote VTEPs (GET /v1/tunnels).
type TunnelStatus struct {
	Bridge   string         `json:"bridge"`
	Port     string         `json:"port"`
	Encap    string         `json:"encap"`
	Local    string         `json:"local"`
	Group    string         `json:"group,omitempty"`
	VNI      int            `json:"vni,omitempty"`
	VNIMap   string         `json:"vni_map,omitempty"`
	Status   string         `json:"status"`
	MTU      int            `json:"mtu,omitempty"`
	Overhead int            `json:"overhead,omitempty"`
	VMMTU    int            `json:"vm_mtu,omitempty"`
	Remotes  []RemoteStatus `json:"remotes"`
}

// RemoteStatus is a remote VTEP of a tunnel port.
type RemoteStatus struct {
	Addr       string `json:"addr"`
	Configured bool   `json:"configured"`
	// MACs is how many FDB entries point at it.
	MACs int `json:"macs"`
	// Probed says a probe (doctor, dashboard) asked it; Up and RTTMicros
	// are its answer.
	Probed    bool      `json:"probed"`
	Up        bool      `json:"up"`
	RTTMicros int64     `json:"rtt_us,omitempty"`
	ProbedAt  time.Time `json:"probed_at,omitempty"`
	ProbeErr  string    `json:"probe_error,omitempty"`
}

// Capture trailers: the counts the daemon sends after the pcapng stream.
const (
	TrailerSeen    = "X-Switchyard-Seen"
	TrailerMatched = "X-Switchyard-Matched"
	TrailerWritten = "X-Switchyard-Written"
	TrailerDropped = "X-Switchyard-Dropped"
	TrailerReason  = "X-Switchyard-Reason"
	HeaderCapture  = "X-Switchyard-Capture"
)

func metricsRoute(b Backend, w http.ResponseWriter, r *http.Request) {
	b.MetricsHandler().ServeHTTP(w, r)
}

func eventQuery(r *http.Request) (events.Query, error) {
	q := r.URL.Query()
	var eq events.Query
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return eq, errs.Invalidf("since", "an event sequence number", "%q", v)
		}
		eq.Since = n
	}
	if v := q.Get("last"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return eq, errs.Invalidf("last", "0 (all kept) or a positive number", "%q", v)
		}
		eq.Last = n
	}
	eq.Kind = q.Get("kind")
	return eq, nil
}

// getEvents answers GET /v1/events (a JSON array), or with follow=1 an
// NDJSON stream: the selected kept events, then each new one as it
// happens, until the client goes away.
func getEvents(b Backend, w http.ResponseWriter, r *http.Request) {
	q, err := eventQuery(r)
	if err != nil {
		reply(w, nil, err)
		return
	}
	if f := r.URL.Query().Get("follow"); f == "" || f == "0" || f == "false" {
		reply(w, b.Events(q), nil)
		return
	}
	backlog, sub := b.FollowEvents(q)
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	for i := range backlog {
		if enc.Encode(&backlog[i]) != nil {
			return
		}
	}
	if fl != nil {
		fl.Flush()
	}
	// Keep-alive: a blank line now and then tells the client (and any
	// proxy) the stream is alive.
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			if !q.Match(&e) {
				continue
			}
			if enc.Encode(&e) != nil {
				return
			}
		case <-keep.C:
			if _, err := io.WriteString(w, "\n"); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// CaptureOptions parses a capture's query parameters.
func CaptureOptions(q url.Values) (capture.Options, error) {
	var o capture.Options
	var err error
	o.Filter = q.Get("filter")
	if o.Direction, err = capture.ParseDirection(q.Get("direction")); err != nil {
		return o, err
	}
	if v := q.Get("count"); v != "" {
		if o.Count, err = strconv.Atoi(v); err != nil {
			return o, errs.Invalidf("count", "a number of frames (0 = no limit)", "%q", v)
		}
	}
	if v := q.Get("duration"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return o, errs.Invalidf("duration", "seconds, like 10 or 0.5 (0 = no limit)", "%q", v)
		}
		o.Duration = time.Duration(secs * float64(time.Second))
	}
	if v := q.Get("snaplen"); v != "" {
		if o.SnapLen, err = strconv.Atoi(v); err != nil {
			return o, errs.Invalidf("snaplen", "0-262144", "%q", v)
		}
	}
	return o, o.Validate()
}

// startCapture streams a capture as pcapng; the counts follow in trailers.
func startCapture(b Backend, w http.ResponseWriter, r *http.Request) {
	o, err := CaptureOptions(r.URL.Query())
	if err != nil {
		reply(w, nil, err)
		return
	}
	s, err := b.StartCapture(r.PathValue("name"), r.PathValue("port"), o, WhoOf(r))
	if err != nil {
		reply(w, nil, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-pcapng")
	h.Set(HeaderCapture, s.ID())
	h.Set("Trailer", strings.Join([]string{TrailerSeen, TrailerMatched, TrailerWritten, TrailerDropped, TrailerReason}, ", "))
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	flush := func() {
		if fl != nil {
			fl.Flush()
		}
	}
	res, err := s.Run(r.Context(), w, flush)
	b.EndCapture(s, res, err)
	h.Set(TrailerSeen, strconv.FormatUint(res.Seen, 10))
	h.Set(TrailerMatched, strconv.FormatUint(res.Matched, 10))
	h.Set(TrailerWritten, strconv.FormatUint(res.Written, 10))
	h.Set(TrailerDropped, strconv.FormatUint(res.Dropped, 10))
	h.Set(TrailerReason, res.Reason)
}

func listCaptures(b Backend, w http.ResponseWriter, r *http.Request) { reply(w, b.Captures(), nil) }

func stopCapture(b Backend, w http.ResponseWriter, r *http.Request) {
	reply(w, nil, b.StopCapture(r.PathValue("id")))
}

// DoctorOptions parses the doctor's query parameters.
func DoctorOptions(q url.Values) (doctor.Options, error) {
	var o doctor.Options
	if v := q.Get("probe_timeout"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 || secs > 30 {
			return o, errs.Invalidf("probe-timeout", "0.01-30 seconds", "%q", v)
		}
		o.ProbeTimeout = time.Duration(secs * float64(time.Second))
	}
	o.NoProbe = q.Get("no_probe") == "1"
	return o, nil
}

func runDoctor(b Backend, w http.ResponseWriter, r *http.Request) {
	o, err := DoctorOptions(r.URL.Query())
	if err != nil {
		reply(w, nil, err)
		return
	}
	reply(w, b.Doctor(r.Context(), o), nil)
}

func getTunnels(b Backend, w http.ResponseWriter, r *http.Request) { reply(w, b.Tunnels(), nil) }

// Client side.

// Events returns the kept events q selects.
func (c *Client) Events(q events.Query) ([]events.Event, error) {
	var out []events.Event
	return out, c.do("GET", "/v1/events?"+eventValues(q).Encode(), nil, &out)
}

func eventValues(q events.Query) url.Values {
	v := url.Values{}
	if q.Since > 0 {
		v.Set("since", strconv.FormatUint(q.Since, 10))
	}
	if q.Last > 0 {
		v.Set("last", strconv.Itoa(q.Last))
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	return v
}

// stream makes a GET request without the client's timeout (it lasts as
// long as ctx) and returns the response, or the API error.
func (c *Client) stream(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://switchyard"+path, nil)
	if err != nil {
		return nil, err
	}
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &UnreachableError{Socket: c.Socket, Err: err}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var eb ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			eb.Error.Status = resp.StatusCode
			return nil, eb.Error
		}
		return nil, &Error{Status: resp.StatusCode, Code: CodeInternal, Message: string(raw)}
	}
	return resp, nil
}

// FollowEvents passes the kept events q selects to fn, then every new one
// as it happens, until ctx ends (which returns ctx.Err()).
func (c *Client) FollowEvents(ctx context.Context, q events.Query, fn func(events.Event)) error {
	v := eventValues(q)
	v.Set("follow", "1")
	resp, err := c.stream(ctx, "/v1/events?"+v.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e events.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		fn(e)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return nil
}

// CaptureStream is a running capture: its pcapng stream and, once the
// stream has been read to its end, the daemon's counts.
type CaptureStream struct {
	ID   string
	Body io.ReadCloser
	resp *http.Response
}

// Result returns the capture's counts; call it after Body reached EOF.
func (s *CaptureStream) Result() (capture.Result, bool) {
	t := s.resp.Trailer
	if t.Get(TrailerReason) == "" {
		return capture.Result{ID: s.ID}, false
	}
	n := func(k string) uint64 { v, _ := strconv.ParseUint(t.Get(k), 10, 64); return v }
	return capture.Result{ID: s.ID, Seen: n(TrailerSeen), Matched: n(TrailerMatched), Written: n(TrailerWritten),
		Dropped: n(TrailerDropped), Reason: t.Get(TrailerReason)}, true
}

// Capture starts a capture of port on bridge; read its Body (pcapng) to
// the end, then ask its Result.
func (c *Client) Capture(ctx context.Context, bridge, port string, o capture.Options) (*CaptureStream, error) {
	v := url.Values{}
	if o.Filter != "" {
		v.Set("filter", o.Filter)
	}
	v.Set("direction", o.Direction.String())
	if o.Count > 0 {
		v.Set("count", strconv.Itoa(o.Count))
	}
	if o.Duration > 0 {
		v.Set("duration", strconv.FormatFloat(o.Duration.Seconds(), 'f', -1, 64))
	}
	if o.SnapLen > 0 {
		v.Set("snaplen", strconv.Itoa(o.SnapLen))
	}
	resp, err := c.stream(ctx, "/v1/bridges/"+url.PathEscape(bridge)+"/ports/"+url.PathEscape(port)+"/capture?"+v.Encode())
	if err != nil {
		return nil, err
	}
	return &CaptureStream{ID: resp.Header.Get(HeaderCapture), Body: resp.Body, resp: resp}, nil
}

// StopCapture ends a running capture (its stream then ends cleanly).
func (c *Client) StopCapture(id string) error {
	return c.do("DELETE", "/v1/captures/"+url.PathEscape(id), nil, nil)
}

// Captures lists the running captures.
func (c *Client) Captures() ([]CaptureStatus, error) {
	var out []CaptureStatus
	return out, c.do("GET", "/v1/captures", nil, &out)
}

// Doctor runs the daemon's checks.
func (c *Client) Doctor(o doctor.Options) (*doctor.Report, error) {
	v := url.Values{}
	if o.ProbeTimeout > 0 {
		v.Set("probe_timeout", strconv.FormatFloat(o.ProbeTimeout.Seconds(), 'f', -1, 64))
	}
	if o.NoProbe {
		v.Set("no_probe", "1")
	}
	var r doctor.Report
	return &r, c.do("GET", "/v1/doctor?"+v.Encode(), nil, &r)
}

// Tunnels lists the tunnel ports and their remote VTEPs.
func (c *Client) Tunnels() ([]TunnelStatus, error) {
	var out []TunnelStatus
	return out, c.do("GET", "/v1/tunnels", nil, &out)
}

// Metrics returns a scrape of the daemon's /metrics.
func (c *Client) Metrics() (string, error) {
	resp, err := c.stream(context.Background(), "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
