package brain_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/agent"
	"github.com/switchyard-net/switchyard/internal/brain"
	"github.com/switchyard-net/switchyard/internal/brain/braintest"
	"github.com/switchyard-net/switchyard/internal/brain/model"
)

// startDebianEtcd runs Debian's etcd (3.4) on loopback ports; the test fails
// without it when run as root (CI installs it) and skips otherwise.
func startDebianEtcd(t *testing.T) (string, *os.Process) {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("etcd (Debian etcd-server) is not installed: %v", err)
		}
		t.Skip("etcd is not installed (install etcd-server; the test runs as root in CI)")
	}
	ports, err := braintest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sybe")
	if err != nil {
		t.Fatal(err)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	name := fmt.Sprintf("sybe%d", os.Getpid())
	cmd := exec.Command(bin, "--name", name, "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", name+"="+peer, "--initial-cluster-token", name,
		"--logger", "zap", "--log-level", "error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	})
	ep := strings.TrimPrefix(client, "http://")
	cli, err := braintest.Client([]string{ep})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	braintest.Eventually(t, 20*time.Second, "etcd 3.4 serving", func() error {
		c, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		_, err := cli.Status(c, ep)
		return err
	})
	return ep, cmd.Process
}

// etcd itself unreachable (Debian's etcd 3.4 paused with SIGSTOP for more
// than two lease TTLs): agents keep forwarding, no host is declared dead
// (their agents kept reporting), writes fail with an error that says so,
// and after etcd returns every change flows again; the v3.7 client and
// brain against a 3.4 server.
func TestEtcdPausedFailStatic(t *testing.T) {
	ep, proc := startDebianEtcd(t)
	const ttl = 3
	e := braintest.Start(t, braintest.Options{Endpoints: []string{ep}, Brain: brain.Options{TTL: ttl, IdleProgress: time.Second, Grace: -1}})
	if _, err := e.Brain.CreateNetwork(bg, model.Network{Name: "blue", VNI: 5001}); err != nil {
		t.Fatal(err)
	}
	var as []*braintest.Agent
	for i := 1; i <= 3; i++ {
		as = append(as, e.StartAgent(fmt.Sprintf("h%d", i), fmt.Sprintf("198.18.0.%d", i), nil))
	}
	waitConnected(t, e, 3)
	for i := 1; i <= 6; i++ {
		if _, err := e.Brain.Plug(bg, model.Port{ID: fmt.Sprintf("p%d", i), Network: "blue", Host: fmt.Sprintf("h%d", (i-1)%3+1),
			MAC: fmt.Sprintf("02:00:00:00:00:%02x", i), IPs: []string{fmt.Sprintf("203.0.113.%d", i)}}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	before := make([]*agent.State, len(as))
	for i, a := range as {
		before[i] = a.DP.State()
		a.DP.ResetLog()
	}
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	_, err := e.Brain.Plug(ctx, model.Port{ID: "late", Network: "blue", Host: "h1", MAC: "02:00:00:00:00:77"}, 0)
	cancel()
	if me, ok := err.(*model.Error); !ok || (me.Code != model.CodeTimeout && me.Code != model.CodeUnavailable) {
		t.Fatalf("plug with etcd paused: %v", err)
	}
	time.Sleep(2*ttl*time.Second + time.Second)
	for _, h := range e.Brain.Hosts() {
		if !h.Alive {
			t.Fatalf("host %s declared dead while its agent reports (etcd paused)", h.Name)
		}
	}
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Leases expired inside the paused etcd; the brain renews them.
	time.Sleep(2 * time.Second)
	if _, err := e.Brain.Plug(bg, model.Port{ID: "p7", Network: "blue", Host: "h2", MAC: "02:00:00:00:00:07", IPs: []string{"203.0.113.7"}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for i, a := range as {
		for _, r := range a.DP.Log() {
			if strings.Contains(r.Op.Kind.String(), "del") {
				t.Errorf("agent %d removed %s across the etcd pause", i, r.Op)
			}
		}
		r := agent.Compare(a.DP.State(), before[i])
		if len(r.Missing) > 0 || len(r.Wrong) > 0 {
			t.Errorf("agent %d lost entries: %+v", i, r)
		}
	}
	braintest.Eventually(t, 5*time.Second, "leases renewed", func() error {
		for _, h := range e.Brain.Hosts() {
			if !h.Alive || h.Lease == 0 {
				return fmt.Errorf("host %s alive %v lease %x", h.Name, h.Alive, h.Lease)
			}
		}
		return nil
	})
	all := e.Brain.Audit(bg, nil, 10*time.Second)
	for _, r := range all.Reports {
		if !r.Clean() {
			t.Fatalf("audit %s: %+v", r.Host, r)
		}
	}
	if len(all.Reports) != 3 {
		t.Fatalf("audit: %v", all.Errors)
	}
}
