// Package testnet builds throwaway networks for Switchyard's root tests:
// uniquely named network namespaces, veth links, switchyard daemons running
// inside namespaces, and traffic (ping, TCP transfers) between them. Every
// thing it makes is removed by t.Cleanup, also when the test fails.
//
// Addresses used with it must stay inside the test's namespaces: underlay
// 198.18.0.0/15, overlay 203.0.113.0/24, 198.51.100.0/24, 192.0.2.0/24 and
// 2001:db8::/32.
package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// RequireRoot skips the test unless it runs with CAP_NET_ADMIN (as root)
// and has the ip command.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) to create network namespaces; run the suite as root (CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
}

var seq atomic.Int64

// Name returns a name unique to this process and call, at most 15 bytes:
// "sy" + prefix + pid + counter. Packages run in parallel, so names carry
// the PID.
func Name(prefix string) string {
	n := fmt.Sprintf("sy%s%d%d", prefix, os.Getpid()%100000, seq.Add(1))
	if len(n) > 15 {
		h := sha256.Sum256([]byte(n))
		n = fmt.Sprintf("sy%x", h[:6])
	}
	return n
}

// Run runs a command and returns its combined output.
func Run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustRun runs a command and fails the test if it fails.
func MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// NS runs a command inside namespace ns.
func NS(ns string, args ...string) (string, error) {
	return Run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// MustNS runs a command inside namespace ns and fails the test on error.
func MustNS(t testing.TB, ns string, args ...string) string {
	t.Helper()
	out, err := NS(ns, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// NewNS creates a namespace with a unique name, loopback up, and removes it
// when the test ends (which also removes its links).
func NewNS(t testing.TB, prefix string) string {
	t.Helper()
	name := Name(prefix)
	MustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _, _ = Run("ip", "netns", "del", name) })
	MustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	// No IPv6 chatter (MLD, router solicitations) inside test networks
	// unless a test turns it on again.
	_, _ = NS(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return name
}

// Veth creates a veth pair with end a (named aName) in namespace nsA and
// end b in nsB ("" = the test's own namespace), both up.
func Veth(t testing.TB, aName, nsA, bName, nsB string) {
	t.Helper()
	tmpA, tmpB := Name("va"), Name("vb")
	MustRun(t, "ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	t.Cleanup(func() { _, _ = Run("ip", "link", "del", tmpA) }) // if still in the host ns
	for _, e := range []struct{ tmp, name, ns string }{{tmpA, aName, nsA}, {tmpB, bName, nsB}} {
		if e.ns != "" {
			MustRun(t, "ip", "link", "set", e.tmp, "netns", e.ns)
			MustRun(t, "ip", "-n", e.ns, "link", "set", e.tmp, "name", e.name)
			MustRun(t, "ip", "-n", e.ns, "link", "set", e.name, "up")
		} else {
			MustRun(t, "ip", "link", "set", e.tmp, "name", e.name)
			MustRun(t, "ip", "link", "set", e.name, "up")
		}
	}
}

// Addr adds an address (CIDR) to dev in ns.
func Addr(t testing.TB, ns, dev, cidr string) {
	t.Helper()
	MustRun(t, "ip", "-n", ns, "addr", "add", cidr, "dev", dev)
	MustRun(t, "ip", "-n", ns, "link", "set", dev, "up")
}

// Ping sends count pings from ns to addr, one second of patience each, and
// returns an error unless all came back.
func Ping(ns, addr string, count int) error {
	_, err := NS(ns, "ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", "-q", addr)
	return err
}

// PingFails reports whether ns can NOT reach addr (two pings, both lost).
func PingFails(ns, addr string) bool {
	_, err := NS(ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-q", addr)
	return err != nil
}

// Eventually polls cond until it returns nil or the timeout passes, and
// fails the test with the last error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// InNS runs fn on an OS thread switched into namespace ns. Sockets created
// in fn belong to ns and keep working from any goroutine afterwards.
func InNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread's namespace is changed for good: never unlock, so the
		// runtime discards the thread when this goroutine ends.
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("open netns %q: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter netns %q: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// TCPTransfer sends size bytes over TCP from a client in nsClient to a
// server listening on serverAddr (host:port) in nsServer, and verifies the
// bytes' SHA-256 at the far end. It returns the throughput in bits/s.
func TCPTransfer(nsClient, nsServer, serverAddr string, size int, timeout time.Duration) (float64, error) {
	var ln net.Listener
	if err := InNS(nsServer, func() (err error) { ln, err = net.Listen("tcp", serverAddr); return }); err != nil {
		return 0, fmt.Errorf("listen in %s: %w", nsServer, err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		res <- result{s, n, err}
	}()
	var conn net.Conn
	if err := InNS(nsClient, func() (err error) {
		conn, err = net.DialTimeout("tcp", serverAddr, timeout)
		return
	}); err != nil {
		return 0, fmt.Errorf("dial %s from %s: %w", serverAddr, nsClient, err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	want := sha256.Sum256(data)
	start := time.Now()
	if _, err := conn.Write(data); err != nil {
		conn.Close()
		return 0, fmt.Errorf("send: %w", err)
	}
	conn.Close()
	r := <-res
	el := time.Since(start)
	if r.err != nil {
		return 0, fmt.Errorf("receive: %w", r.err)
	}
	if r.n != int64(size) || r.sum != want {
		return 0, fmt.Errorf("received %d of %d bytes, checksum match %v", r.n, size, r.sum == want)
	}
	return float64(size*8) / el.Seconds(), nil
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/switchyard once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchyard-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "switchyard")
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/switchyard")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/switchyard: %w: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the test directory")
		}
		dir = parent
	}
}
