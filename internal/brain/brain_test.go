package brain_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent/memdp"
	"github.com/switchyard-net/switchyard/internal/brain"
	"github.com/switchyard-net/switchyard/internal/brain/braintest"
	"github.com/switchyard-net/switchyard/internal/brain/model"
)

func quiet() brain.Options { return brain.Options{TTL: 10, IdleProgress: time.Hour} }

// A bind is delivered to exactly the hosts in its network: one message each
// (no fan-out to every host, Neutron l2pop's cost).
func TestFanOutOnlyToInterestedHosts(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: quiet()})
	for i, n := range []string{"small", "big"} {
		if _, err := e.Brain.CreateNetwork(bg, model.Network{Name: n, VNI: uint32(1 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	const hosts = 12
	for i := 0; i < hosts; i++ {
		e.StartAgent(fmt.Sprintf("h%d", i), fmt.Sprintf("198.18.0.%d", i+1), nil)
	}
	waitConnected(t, e, hosts)
	for i := 0; i < hosts; i++ {
		net := "big"
		if i < 3 {
			net = "small"
		}
		if _, err := e.Brain.Plug(bg, model.Port{ID: fmt.Sprintf("p%d", i), Network: net, Host: fmt.Sprintf("h%d", i), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1)}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		net  string
		host int
		want uint64
	}{{"small", 1, 3}, {"big", 5, 9}} {
		before := e.Brain.Status(bg).Delivered
		if _, err := e.Brain.Plug(bg, model.Port{ID: "x-" + c.net, Network: c.net, Host: fmt.Sprintf("h%d", c.host), MAC: "02:00:00:00:01:" + fmt.Sprintf("%02x", c.host)}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		// --wait asks the interested hosts to report: one more message each.
		got := e.Brain.Status(bg).Delivered - before
		if got != 2*c.want {
			t.Errorf("bind in %s (%d hosts): %d messages delivered, want %d (one update + one ack request per host)", c.net, c.want, got, 2*c.want)
		}
		before = e.Brain.Status(bg).Delivered
		if _, err := e.Brain.Plug(bg, model.Port{ID: "y-" + c.net, Network: c.net, Host: fmt.Sprintf("h%d", c.host), MAC: "02:00:00:00:02:" + fmt.Sprintf("%02x", c.host)}, 0); err != nil {
			t.Fatal(err)
		}
		braintest.Eventually(t, 5*time.Second, "delivered", func() error {
			if got := e.Brain.Status(bg).Delivered - before; got != c.want {
				return fmt.Errorf("bind in %s: %d messages, want %d", c.net, got, c.want)
			}
			return nil
		})
	}
}

// A slow or overflowing agent queue is dropped for a fresh snapshot:
// bounded memory, and the agent still converges exactly.
func TestQueueOverflowResyncs(t *testing.T) {
	o := quiet()
	o.QueueMax = 1 // every batch overflows
	e := braintest.Start(t, braintest.Options{Brain: o})
	if _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "n", VNI: 1}); err != nil {
		t.Fatal(err)
	}
	a := e.StartAgent("h1", "198.18.0.1", nil)
	b := e.StartAgent("h2", "198.18.0.2", nil)
	waitConnected(t, e, 2)
	for i := 0; i < 40; i++ {
		if _, err := e.Brain.Plug(bg, model.Port{ID: fmt.Sprintf("p%d", i), Network: "n", Host: fmt.Sprintf("h%d", i%2+1), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), IPs: []string{fmt.Sprintf("203.0.113.%d", i+1)}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	braintest.Eventually(t, 10*time.Second, "converged", func() error {
		s := a.DP.State()
		if len(s.FDB) != 20 || len(s.VIFs) != 20 || len(s.Neigh) != 40 {
			return fmt.Errorf("h1 has %d fdb %d vifs %d neigh", len(s.FDB), len(s.VIFs), len(s.Neigh))
		}
		if len(b.DP.State().FDB) != 20 {
			return fmt.Errorf("h2 incomplete")
		}
		return nil
	})
	if st := e.Brain.Status(bg); st.Resyncs == 0 {
		t.Fatal("no resync happened: the test did not overflow the queue")
	}
	if s := a.Stats(); s.Snapshots < 2 {
		t.Fatalf("agent saw %d snapshots", s.Snapshots)
	}
	for _, r := range a.DP.Log() {
		if strings.Contains(r.Op.Kind.String(), "del") {
			t.Fatalf("resync removed %s", r.Op)
		}
	}
}

// A watch that fell behind a compaction relists; the agents get snapshots,
// diff them, and change nothing that is still wanted.
func TestCompactedWatchRelists(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: quiet()})
	if _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "n", VNI: 1}); err != nil {
		t.Fatal(err)
	}
	a := e.StartAgent("h1", "198.18.0.1", nil)
	e.StartAgent("h2", "198.18.0.2", nil)
	waitConnected(t, e, 2)
	for i := 0; i < 10; i++ {
		if _, err := e.Brain.Plug(bg, model.Port{ID: fmt.Sprintf("p%d", i), Network: "n", Host: fmt.Sprintf("h%d", i%2+1), MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1)}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	head := e.Brain.Revision()
	if _, err := e.Cli.Compact(bg, head); err != nil {
		t.Fatal(err)
	}
	a.DP.ResetLog()
	snaps := a.Stats().Snapshots
	e.Brain.WatchFrom(1)
	braintest.Eventually(t, 5*time.Second, "relisted and resynced", func() error {
		if e.Brain.Relists() < 2 {
			return fmt.Errorf("no relist yet")
		}
		if a.Stats().Snapshots <= snaps {
			return fmt.Errorf("no snapshot yet")
		}
		return nil
	})
	if l := a.DP.Log(); len(l) != 0 {
		t.Fatalf("a relist with nothing changed changed the dataplane: %v", l)
	}
}

// The API requires the token over TCP, and errors name the field.
func TestHTTPTokenAndErrors(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: quiet()})
	h := e.Brain.Handler("s3cret")
	srv := &http.Server{Handler: h}
	ln, err := brain.Listen("tcp:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/v1/networks"
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"name":"n","vni":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"name":"n","vni":99999999}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body [512]byte
	n, _ := resp.Body.Read(body[:])
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body[:n]), `"field":"vni"`) || !strings.Contains(string(body[:n]), `"allowed":"1-16777215"`) {
		t.Fatalf("bad vni: %d %s", resp.StatusCode, body[:n])
	}
}

var _ = memdp.New
