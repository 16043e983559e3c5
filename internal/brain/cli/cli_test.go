package cli_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain"
	"github.com/switchyard-net/switchyard/internal/brain/braintest"
	"github.com/switchyard-net/switchyard/internal/brain/cli"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

func run(t *testing.T, e *braintest.Env, argv ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	argv = append(argv, "--brain", "unix:"+e.Socket)
	err := cli.Commands[argv[0]](argv[1:], &out)
	return out.String(), err
}

func TestCLIWalkThrough(t *testing.T) {
	e := braintest.Start(t, braintest.Options{Brain: brain.Options{TTL: 10}})
	if out, err := run(t, e, "network", "create", "blue", "--vni", "5001"); err != nil || !strings.Contains(out, "vxlan VNI 5001 MTU 1450") {
		t.Fatalf("network create: %q %v", out, err)
	}
	if _, err := run(t, e, "network", "create", "green", "--vni", "5001"); err == nil || !strings.Contains(err.Error(), "vni: VNI 5001 is used by network blue") || cli.ExitCode(err) != 1 {
		t.Fatalf("duplicate VNI: %v", err)
	}
	if _, err := run(t, e, "network", "create", "x", "--vni", "5002", "--encap", "gre"); err == nil || !strings.Contains(err.Error(), "encap") || !strings.Contains(err.Error(), "allowed: vxlan, geneve") {
		t.Fatalf("bad encap: %v", err)
	}
	if _, err := run(t, e, "network", "create", "x"); err == nil || !strings.Contains(err.Error(), "vni: a VNI is required") {
		t.Fatalf("missing vni: %v", err)
	}
	e.StartAgent("h1", "198.18.0.1", nil)
	e.StartAgent("h2", "198.18.0.2", nil)
	braintest.Eventually(t, 5*time.Second, "hosts", func() error {
		out, err := run(t, e, "host", "list")
		if err != nil || strings.Count(out, "alive") != 2 {
			return &cli.UsageError{Msg: out}
		}
		return nil
	})
	out, err := run(t, e, "vif", "plug", "blue", "--host", "h1", "--mac", "02:00:00:00:00:01", "--ip", "203.0.113.1,2001:db8::1", "--netns", "vm1", "--id", "vm1", "--wait")
	if err != nil || !strings.Contains(out, "vif vm1: 02:00:00:00:00:01 in blue on h1") || !strings.Contains(out, " up") {
		t.Fatalf("vif plug --wait: %q %v", out, err)
	}
	if _, err := run(t, e, "vif", "plug", "blue", "--host", "h2", "--mac", "02:00:00:00:00:01"); err == nil || !strings.Contains(err.Error(), "mac: 02:00:00:00:00:01 is already port vm1") {
		t.Fatalf("duplicate MAC: %v", err)
	}
	if _, err := run(t, e, "vif", "plug", "blue", "--host", "h2", "--mac", "02:00:00:00:00:02", "--timeout", "forever"); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("bad timeout: %v", err)
	}
	if out, err = run(t, e, "vif", "move", "vm1", "--to-host", "h2"); err != nil || !strings.Contains(out, "now on h2") {
		t.Fatalf("vif move: %q %v", out, err)
	}
	out, err = run(t, e, "vif", "list", "--json")
	var l []wire.VIFStatus
	if err != nil || json.Unmarshal([]byte(out), &l) != nil || len(l) != 1 || l[0].Host != "h2" || l[0].Moves != 1 {
		t.Fatalf("vif list --json: %q %v", out, err)
	}
	if out, err = run(t, e, "network", "show", "blue"); err != nil || !strings.Contains(out, "vm1") || !strings.Contains(out, "203.0.113.1,2001:db8::1") {
		t.Fatalf("network show: %q %v", out, err)
	}
	if out, err = run(t, e, "brain", "audit"); err != nil || strings.Count(out, "clean") != 2 {
		t.Fatalf("brain audit: %q %v", out, err)
	}
	if out, err = run(t, e, "brain", "status"); err != nil || !strings.Contains(out, "1 networks, 1 ports, 2 hosts, 2 agents connected") {
		t.Fatalf("brain status: %q %v", out, err)
	}
	if _, err := run(t, e, "network", "delete", "blue"); err == nil || !strings.Contains(err.Error(), "has 1 ports") {
		t.Fatalf("delete busy network: %v", err)
	}
	if _, err := run(t, e, "vif", "unplug", "vm1", "--wait"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, e, "network", "delete", "blue"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, e, "vif", "frob"); err == nil || !strings.Contains(err.Error(), "allowed: plug, unplug, move, list, show") {
		t.Fatalf("unknown subcommand: %v", err)
	}
	var out2 bytes.Buffer
	err = cli.Network([]string{"list", "--brain", "unix:/nonexistent/brain.sock"}, &out2)
	if cli.ExitCode(err) != 2 {
		t.Fatalf("unreachable brain: exit %d, %v", cli.ExitCode(err), err)
	}
}
