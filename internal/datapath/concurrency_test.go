package datapath

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestConcurrentLearningAgingForwarding runs two receive goroutines that
// learn and forward while a third ages, flushes and edits static entries.
// Run with -race: readers take no lock, so this is where a data race shows.
func TestConcurrentLearningAgingForwarding(t *testing.T) {
	b, _ := NewBridge("race", BridgeConfig{AgingTime: 10 * time.Second, MaxLearned: 512, FullPolicy: FullEvictOldest})
	var ports [3]*Port
	for i := range ports {
		ports[i], _ = b.AddPort(string(rune('a'+i)), &memPort{}, PortConfig{})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]*Packet, 32)
			for i := range batch {
				batch[i] = NewPacket(128)
			}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				for i, p := range batch {
					p.SetData(frame(mac((n*32+i)%2000), mac(g*5000+(n*7+i)%3000), -1, 46))
				}
				ports[g].Receive(batch)
			}
		}()
	}
	t0 := b.epoch
	for i := 0; i < 200; i++ {
		b.Tick(t0.Add(time.Duration(i) * time.Second))
		if i%10 == 0 {
			b.FlushFDB("", -1)
		}
		_ = b.AddStaticFDB(mac(9000+i), 0, "c", netip.Addr{})
		_ = b.FDB(-1)
		time.Sleep(time.Millisecond) // pace the writer; readers run freely
	}
	close(stop)
	wg.Wait()
	st := b.Stats().FDB
	if st.Learned == 0 || st.Entries > 512+200 {
		t.Fatalf("fdb stats after the run: %+v", st)
	}
	if ports[2].Counters().TxPackets.Load() == 0 {
		t.Fatal("nothing was forwarded")
	}
}
