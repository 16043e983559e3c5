package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/events"
)

type fake struct {
	mu  sync.Mutex
	rx  uint64
	log *events.Log
}

func (f *fake) Show() *api.Show {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rx += 100
	return &api.Show{Revision: 3, Bridges: []api.BridgeStatus{{Bridge: config.Bridge{Name: "br0"}, MaxLearned: 8192, Ports: []api.PortStatus{
		{Port: config.Port{Name: "tap1", Bridge: "br0", Type: "tap", NetNS: "vm1"}, Status: "up",
			Stats: datapath.PortStats{RxPackets: f.rx, RxBytes: f.rx * 100, Drops: map[string]uint64{"vlan-not-allowed": f.rx / 100}}},
	}}}}
}

func (f *fake) FDB(bridge string, vlan int) ([]api.FDBEntry, error) {
	return []api.FDBEntry{{VLAN: 10, MAC: "02:00:00:00:00:01", Port: "tap1", Type: "learned"}, {VLAN: 10, MAC: "02:00:00:00:00:02", Port: "vx0", Remote: "198.18.0.2", Type: "learned"}}, nil
}
func (f *fake) DumpFlows(string, string, int) ([]api.FlowEntry, error) { return []api.FlowEntry{}, nil }
func (f *fake) DatapathFlows(string) ([]api.DatapathFlow, error)       { return []api.DatapathFlow{}, nil }
func (f *fake) Trace(bridge string, r api.TraceRequest) (*api.TraceResult, error) {
	return &api.TraceResult{Root: &datapath.TraceNode{Kind: "bridge", Text: bridge + " " + r.Flow}}, nil
}
func (f *fake) Events(q events.Query) []events.Event { return f.log.Events(q) }
func (f *fake) FollowEvents(q events.Query) ([]events.Event, *events.Subscription) {
	return f.log.Follow(q, 16)
}
func (f *fake) Tunnels() []api.TunnelStatus { return []api.TunnelStatus{} }
func (f *fake) Doctor(ctx context.Context, o doctor.Options) *doctor.Report {
	return &doctor.Report{Healthy: true}
}

func newTest(t *testing.T, addr, token string) (*Server, *fake, *httptest.Server) {
	f := &fake{log: events.New(10, nil)}
	s, err := New(f, Options{Addr: addr, Token: token, Version: "test", Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go s.sampler.run(ctx)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, f, hs
}

func get(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAddressesAndTokens(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		ok          bool
		field       string
	}{
		{"127.0.0.1:8080", "", true, ""}, {"[::1]:8080", "", true, ""}, {"localhost:8080", "", true, ""},
		{"0.0.0.0:8080", "", false, "web-token"}, {"198.18.0.1:8080", "", false, "web-token"},
		{"198.18.0.1:8080", "0123456789abcdef0123", true, ""}, {"198.18.0.1:8080", "short", false, "web-token"},
		{"8080", "", false, "web"}, {"example.com:80", "x", false, "web"},
	} {
		_, err := CheckAddr(c.addr, c.token)
		if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s token %q: %v", c.addr, c.token, err)
		}
	}
}

func TestLoopbackChecksTheHostHeader(t *testing.T) {
	_, _, hs := newTest(t, "127.0.0.1:0", "")
	req, _ := http.NewRequest("GET", hs.URL+"/", nil)
	if st, body := get(t, hs.Client(), req); st != 200 || !strings.Contains(body, "<title>Switchyard</title>") || !strings.Contains(body, "test") {
		t.Fatalf("index: %d %s", st, body)
	}
	req, _ = http.NewRequest("GET", hs.URL+"/api/show", nil)
	req.Host = "attacker.example:8080" // DNS rebinding
	if st, _ := get(t, hs.Client(), req); st != http.StatusForbidden {
		t.Fatalf("rebound host: %d", st)
	}
	req, _ = http.NewRequest("POST", hs.URL+"/api/trace", strings.NewReader(`{"bridge":"br0","flow":"in_port=1"}`))
	if st, _ := get(t, hs.Client(), req); st != http.StatusForbidden {
		t.Fatalf("POST without the header: %d", st)
	}
	req.Header.Set("X-Switchyard", "1")
	req, _ = http.NewRequest("POST", hs.URL+"/api/trace", strings.NewReader(`{"bridge":"br0","flow":"in_port=1"}`))
	req.Header.Set("X-Switchyard", "1")
	if st, body := get(t, hs.Client(), req); st != 200 || !strings.Contains(body, "br0 in_port=1") {
		t.Fatalf("trace: %d %s", st, body)
	}
}

func TestTokenIsRequiredOffLoopback(t *testing.T) {
	tok := "0123456789abcdef-secret"
	_, _, hs := newTest(t, "198.18.0.1:8080", tok)
	req, _ := http.NewRequest("GET", hs.URL+"/api/show", nil)
	if st, _ := get(t, hs.Client(), req); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d", st)
	}
	req, _ = http.NewRequest("GET", hs.URL+"/api/show", nil)
	req.Header.Set("Authorization", "Bearer wrong-token-0123456")
	if st, _ := get(t, hs.Client(), req); st != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", st)
	}
	// ?token= sets a cookie that later requests carry.
	resp, err := hs.Client().Get(hs.URL + "/?token=" + tok)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token in the URL: %v %v", err, resp.Status)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	resp.Body.Close()
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", cookie)
	}
	req, _ = http.NewRequest("GET", hs.URL+"/api/show", nil)
	req.AddCookie(cookie)
	if st, body := get(t, hs.Client(), req); st != 200 || !strings.Contains(body, "tap1") {
		t.Fatalf("with the cookie: %d %s", st, body)
	}
}

func TestFDBSearch(t *testing.T) {
	_, _, hs := newTest(t, "127.0.0.1:0", "")
	req, _ := http.NewRequest("GET", hs.URL+"/api/fdb?bridge=br0&q=198.18", nil)
	st, body := get(t, hs.Client(), req)
	var l []api.FDBEntry
	if err := json.Unmarshal([]byte(body), &l); st != 200 || err != nil || len(l) != 1 || l[0].Port != "vx0" {
		t.Fatalf("search: %d %v %s", st, err, body)
	}
	resp, err := hs.Client().Get(hs.URL + "/api/fdb?bridge=br0")
	if err != nil || resp.Header.Get("X-Total-Count") != "2" {
		t.Fatalf("total count: %v %v", err, resp.Header)
	}
	resp.Body.Close()
}

// The stream sends rates that change as counters move, and events as they
// happen.
func TestStreamSendsRatesAndEvents(t *testing.T) {
	_, f, hs := newTest(t, "127.0.0.1:0", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/api/stream", nil)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var kind string
	rates, sawEvent := 0, false
	go func() {
		time.Sleep(200 * time.Millisecond)
		f.log.Add(events.Event{Kind: events.PortDown, Message: "tap9 down"})
	}()
	for sc.Scan() && (rates < 3 || !sawEvent) {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			switch kind {
			case "rates":
				var s Sample
				if err := json.Unmarshal([]byte(data), &s); err != nil || len(s.Ports) != 1 {
					t.Fatalf("rates: %v %s", err, data)
				}
				if rates > 0 && (s.Ports[0].RxPPS <= 0 || s.Ports[0].DropRate["vlan-not-allowed"] <= 0) {
					t.Fatalf("a port whose counters move has rates %+v", s.Ports[0])
				}
				rates++
			case "event":
				var e events.Event
				if err := json.Unmarshal([]byte(data), &e); err != nil || e.Message != "tap9 down" {
					t.Fatalf("event: %v %s", err, data)
				}
				sawEvent = true
			}
		}
	}
	if rates < 3 || !sawEvent {
		t.Fatalf("stream ended: %d rates, event %v, %v", rates, sawEvent, sc.Err())
	}
}

func TestStaticAssetsAreEmbedded(t *testing.T) {
	_, _, hs := newTest(t, "127.0.0.1:0", "")
	for _, p := range []string{"/static/app.js", "/static/style.css"} {
		req, _ := http.NewRequest("GET", hs.URL+p, nil)
		if st, body := get(t, hs.Client(), req); st != 200 || len(body) < 1000 {
			t.Errorf("%s: %d, %d bytes", p, st, len(body))
		}
	}
	req, _ := http.NewRequest("GET", hs.URL+"/", nil)
	_, body := get(t, hs.Client(), req)
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the page loads something from elsewhere")
	}
}
