package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// TestGeneveAndGREOnTheWire joins two Switchyard hosts with each of Geneve
// and GRE (this kernel has neither device, so our own two ends are the
// peers), checks that the VMs connect, and that tshark dissects our
// packets: Geneve VNI, GRE key and protocol 0x6558. It also checks that a
// frame too large for the underlay is dropped and counted, never
// fragmented.
func TestGeneveAndGREOnTheWire(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("needs tshark (installed by .ci/deps)")
	}
	for _, c := range []struct {
		encap, filter string
		fields        []string
		want          string
	}{
		{"geneve", "udp port 6081", []string{"geneve.vni", "geneve.proto_type"}, "0x0015b3,0x6558"},
		{"gre", "proto 47", []string{"gre.key", "gre.proto"}, "0x000015b3,0x6558"},
	} {
		t.Run(c.encap, func(t *testing.T) {
			a, b := underlayPair(t)
			var vms []vm
			for i, h := range []string{a, b} {
				d := testnet.StartDaemon(t, h)
				d.MustCLI("bridge", "add", "br0")
				d.MustCLI("port", "add", "br0", "tun0", "--type", c.encap, "--vni", "5555",
					"--local", fmt.Sprintf("198.18.0.%d", i+1), "--remote", fmt.Sprintf("198.18.0.%d", 2-i))
				vms = append(vms, tapVM(t, d, "br0", fmt.Sprintf("203.0.113.%d", i+1)))
				if i == 0 {
					defer func() {
						// 1500-byte frames do not fit a 1500-byte underlay with
						// the overhead: dropped and counted, not fragmented.
						_, _ = testnet.NS(vms[0].ns, "ping", "-c", "2", "-W", "1", "-s", "1472", "-M", "do", "203.0.113.2")
						if n := portCounterDrop(t, d, "tun0", "mtu-exceeded"); n < 2 {
							t.Errorf("mtu-exceeded drops = %d, want ≥ 2", n)
						}
					}()
				}
			}
			reach(t, vms[0], vms[1])
			capture := startCapture(t, a, 4, c.filter+" and src host 198.18.0.1")
			_, _ = testnet.NS(vms[0].ns, "ping", "-c", "6", "-i", "0.2", "-W", "1", "203.0.113.2")
			capture.wait(t)
			args := []string{"-r", capture.Pcap, "-T", "fields", "-E", "separator=,"}
			for _, f := range c.fields {
				args = append(args, "-e", f)
			}
			for _, line := range strings.Split(strings.TrimSpace(tshark(t, args...)), "\n") {
				if line != c.want {
					t.Fatalf("tshark dissects %q, want %q", line, c.want)
				}
			}
		})
	}
}

// portCounterDrop reads one drop counter of a port of br0.
func portCounterDrop(t *testing.T, d *testnet.Daemon, port, reason string) uint64 {
	t.Helper()
	n, _ := findNumberIn(t, d.MustCLI("stats", "br0", port, "--json"), reason)
	return n
}

func findNumberIn(t *testing.T, js, key string) (uint64, bool) {
	t.Helper()
	var v any
	if err := jsonUnmarshal(js, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return findNumber(v, key)
}
