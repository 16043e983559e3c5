package netdev

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// The watcher reports the current carrier at once, then every change from
// netlink: our end set down, the peer end set down (our end loses
// IFF_LOWER_UP), and the link deleted.
func TestCarrierWatcher(t *testing.T) {
	testnet.RequireRoot(t)
	a, b := testnet.NewNS(t, "ca"), testnet.NewNS(t, "cb")
	testnet.Veth(t, "c1", a, "c2", b)
	w := NewCarrierWatcher(nil)
	defer w.Close()
	var mu sync.Mutex
	var got []bool
	at := map[int]time.Time{}
	cancel, err := w.Watch(a, "c1", func(up bool) {
		mu.Lock()
		got = append(got, up)
		at[len(got)] = time.Now()
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(n int, want bool) {
		t.Helper()
		testnet.Eventually(t, 5*time.Second, fmt.Sprintf("event %d = %v", n, want), func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) < n {
				return fmt.Errorf("events %v", got)
			}
			if got[n-1] != want {
				return fmt.Errorf("events %v", got)
			}
			return nil
		})
	}
	wait(1, true)
	start := time.Now()
	testnet.MustNS(t, b, "ip", "link", "set", "c2", "down")
	wait(2, false)
	mu.Lock()
	t.Logf("peer down: carrier loss reported %v after the command returned", at[2].Sub(start).Round(time.Millisecond))
	mu.Unlock()
	testnet.MustNS(t, b, "ip", "link", "set", "c2", "up")
	wait(3, true)
	testnet.MustNS(t, a, "ip", "link", "set", "c1", "down")
	wait(4, false)
	testnet.MustNS(t, a, "ip", "link", "set", "c1", "up")
	wait(5, true)
	// A second watch of the same link shares the subscription and starts
	// with the current state.
	var second []bool
	c2, err := w.Watch(a, "c1", func(up bool) { second = append(second, up) })
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 1 || !second[0] {
		t.Fatalf("second watch started with %v", second)
	}
	c2()
	testnet.MustNS(t, a, "ip", "link", "del", "c1")
	wait(6, false)
	cancel()
	if up, err := LinkCarrier("nosuchlink0", a); err == nil || up {
		t.Fatalf("missing link: %v %v", up, err)
	}
}
