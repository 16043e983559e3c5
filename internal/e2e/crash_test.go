package e2e

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// TestKill9DuringWrites kills the daemon with SIGKILL at random moments
// while a client adds bridges and patch-port pairs one after another, then
// restarts it, five times over. After every restart: the store opens and
// validates, every write the daemon acknowledged is there, nothing beyond
// the one write in flight is, and the running switch shows exactly the
// stored bridges with both ends of every complete patch pair up.
func TestKill9DuringWrites(t *testing.T) {
	d := testnet.StartDaemon(t, "")
	c := api.NewClient(d.Socket)
	if err := c.AddBridge(config.Bridge{Name: "base"}); err != nil {
		t.Fatal(err)
	}
	pairsUp := 0
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := 0 // writes 0..acked-1 were acknowledged
	for round := 0; round < 5; round++ {
		stop := make(chan int)
		go func(start int) {
			i := start
			for {
				select {
				case <-stop:
					stop <- i
					return
				default:
				}
				if err := write(c, i); err != nil {
					<-stop
					stop <- i
					return
				}
				i++
			}
		}(acked)
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond) // a random moment to kill at
		d.Kill()
		stop <- 0
		acked = <-stop
		d.Start()
		cfg, err := c.Config()
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("round %d: stored config invalid after kill -9: %v", round, err)
		}
		// Writes are sequential: the store must hold a prefix of them
		// covering every acknowledged one.
		n := 0
		for ; ; n++ {
			if !hasWrite(cfg, n) {
				break
			}
		}
		for m := n + 1; m < n+3; m++ {
			if hasWrite(cfg, m) {
				t.Fatalf("round %d: write %d present but %d missing: not a prefix", round, m, n)
			}
		}
		if n < acked || n > acked+1 {
			t.Fatalf("round %d: %d writes acknowledged, %d stored", round, acked, n)
		}
		acked = n
		show, err := c.Show()
		if err != nil {
			t.Fatal(err)
		}
		if len(show.Bridges) != len(cfg.Bridges) || len(cfg.Bridges) != 1+(n+2)/3 {
			t.Fatalf("round %d: %d bridges running, %d stored", round, len(show.Bridges), len(cfg.Bridges))
		}
		for _, b := range show.Bridges {
			for _, p := range b.Ports {
				peer, ok := cfg.Ports[p.Peer]
				if ok && peer.Peer == p.Name {
					if p.Status != "up" {
						t.Fatalf("round %d: patch %s of a complete pair is %s (%s)", round, p.Name, p.Status, p.Reason)
					}
					pairsUp++
				}
			}
		}
		t.Logf("round %d: %d writes stored, %d bridges running", round, n, len(show.Bridges))
	}
	if acked < 5 || pairsUp == 0 {
		t.Fatalf("only %d writes made it; the test did not exercise the store", acked)
	}
}

// write i, in threes: bridge b<k>, patch port p<k> on it, and its peer
// q<k> on the bridge "base", which completes the pair (k = i - i%3).
func write(c *api.Client, i int) error {
	k := i - i%3
	switch i % 3 {
	case 0:
		return c.AddBridge(config.Bridge{Name: fmt.Sprintf("b%d", k), FDBAging: 10 + k})
	case 1:
		return c.AddPort(config.Port{Bridge: fmt.Sprintf("b%d", k), Name: fmt.Sprintf("p%d", k), Type: config.TypePatch, Peer: fmt.Sprintf("q%d", k)})
	}
	return c.AddPort(config.Port{Bridge: "base", Name: fmt.Sprintf("q%d", k), Type: config.TypePatch, Peer: fmt.Sprintf("p%d", k)})
}

func hasWrite(cfg *config.Config, i int) bool {
	k := i - i%3
	switch i % 3 {
	case 0:
		b, ok := cfg.Bridges[fmt.Sprintf("b%d", k)]
		return ok && b.FDBAging == 10+k
	case 1:
		_, ok := cfg.Ports[fmt.Sprintf("p%d", k)]
		return ok
	}
	_, ok := cfg.Ports[fmt.Sprintf("q%d", k)]
	return ok
}

// TestKill9DuringFlowWrites kills the daemon at random moments while a
// client adds flows one at a time, three times over: after each restart the
// bridge holds exactly a prefix of the flows covering every acknowledged
// one (in-memory devices: the flows are what is tested).
func TestKill9DuringFlowWrites(t *testing.T) {
	d := testnet.StartDaemon(t, "", "--devices", "memory")
	c := api.NewClient(d.Socket)
	if err := c.AddBridge(config.Bridge{Name: "fl0"}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	acked := 0
	for round := 0; round < 3; round++ {
		stop := make(chan int)
		go func(i int) {
			for {
				select {
				case <-stop:
					stop <- i
					return
				default:
				}
				if _, err := c.AddFlows("fl0", []string{fmt.Sprintf("priority=%d,ip,nw_dst=198.51.100.%d,actions=drop", 1000+i, i%250)}); err != nil {
					<-stop
					stop <- i
					return
				}
				i++
			}
		}(acked)
		time.Sleep(time.Duration(30+rng.IntN(150)) * time.Millisecond) // a random moment to kill at
		d.Kill()
		stop <- 0
		acked = <-stop
		d.Start()
		fl, err := c.DumpFlows("fl0", "", -1)
		if err != nil {
			t.Fatal(err)
		}
		have := map[uint16]bool{}
		for _, f := range fl {
			have[f.Priority] = true
		}
		n := 0
		for have[uint16(1000+n)] {
			n++
		}
		if n < acked || n > acked+1 || len(fl) != n+1 { // + the default rule
			t.Fatalf("round %d: %d flows acknowledged, %d stored in order, %d in all", round, acked, n, len(fl))
		}
		acked = n
	}
	if acked < 5 {
		t.Fatalf("only %d flows made it; the test did not exercise the store", acked)
	}
}
