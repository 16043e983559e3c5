package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// TestLab runs `switchyard lab up` for each encapsulation — hosts, daemons,
// VMs, a ping matrix that must show every tenant connected across hosts and
// isolated from the others — then `lab status` and `lab down`, which must
// leave no namespace behind.
func TestLab(t *testing.T) {
	testnet.RequireRoot(t)
	bin := testnet.Binary(t)
	for _, encap := range []string{"vxlan", "geneve", "gre"} {
		t.Run(encap, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lab")
			prefix := testnet.Name("l") + "-"
			lab := func(args ...string) (string, error) {
				full := append(append([]string{"lab"}, args...), "--state-dir", dir)
				out, err := exec.Command(bin, full...).CombinedOutput()
				return string(out), err
			}
			t.Cleanup(func() { _, _ = lab("down") })
			out, err := lab("up", "--hosts", "3", "--tenants", "2", "--vms-per-host", "1", "--encap", encap, "--prefix", prefix)
			if err != nil {
				t.Fatalf("lab up: %v\n%s", err, out)
			}
			if !strings.Contains(out, "no frame crossed between tenants") || strings.Contains(out, "!") {
				t.Fatalf("ping matrix:\n%s", out)
			}
			st, err := lab("status")
			if err != nil || strings.Count(st, "running") != 3 || !strings.Contains(st, encap) {
				t.Fatalf("lab status: %v\n%s", err, st)
			}
			// Safe to run twice: the same lab is kept and checked again.
			if out, err := lab("up", "--hosts", "3", "--tenants", "2", "--vms-per-host", "1", "--encap", encap, "--prefix", prefix); err != nil || !strings.Contains(out, "already up") {
				t.Fatalf("second lab up: %v\n%s", err, out)
			}
			if out, err := lab("down"); err != nil {
				t.Fatalf("lab down: %v\n%s", err, out)
			}
			ns, _ := testnet.Run("ip", "netns", "list")
			if strings.Contains(ns, prefix) {
				t.Fatalf("lab down left namespaces:\n%s", ns)
			}
		})
	}
}
