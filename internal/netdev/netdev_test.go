package netdev

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/testnet"
)

// rig is an in-process bridge whose ports' receive loops run until the test
// ends.
type rig struct {
	t      *testing.T
	br     *datapath.Bridge
	ctx    context.Context
	wg     sync.WaitGroup
	errs   chan error
	cancel context.CancelFunc
}

func newRig(t *testing.T) *rig {
	br, err := datapath.NewBridge("br", datapath.BridgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, br: br, ctx: ctx, cancel: cancel, errs: make(chan error, 16)}
	t.Cleanup(func() {
		cancel()
		r.wg.Wait()
		select {
		case err := <-r.errs:
			t.Errorf("receive loop: %v", err)
		default:
		}
	})
	return r
}

func (r *rig) attach(dev Device, cfg datapath.PortConfig) {
	bp, err := r.br.AddPort(dev.Name(), dev, cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := dev.Run(r.ctx, bp); err != nil {
			r.errs <- err
		}
	}()
}

func tapVM(t *testing.T, r *rig, ip string) (ns string, tap *TAP) {
	ns = testnet.NewNS(t, "vm")
	name := testnet.Name("tp")
	tap, err := OpenTAP(name, TAPOptions{NetNS: ns, Up: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tap.Created() {
		t.Fatal("a new TAP was reported as adopted")
	}
	t.Cleanup(func() { tap.Close() })
	testnet.Addr(t, ns, name, ip+"/24")
	r.attach(tap, datapath.PortConfig{})
	return ns, tap
}

func vethVM(t *testing.T, r *rig, ip string) string {
	ns := testnet.NewNS(t, "vm")
	host := testnet.Name("ve")
	if err := CreateVeth(host, "eth0", ns, 0, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DeleteLink(host, "") })
	s, err := OpenSystem(host, "", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	testnet.Addr(t, ns, "eth0", ip+"/24")
	r.attach(s, datapath.PortConfig{})
	return ns
}

func pingOK(t *testing.T, from, to string) {
	t.Helper()
	testnet.Eventually(t, 10*time.Second, from+" pings "+to, func() error { return testnet.Ping(from, to, 2) })
}

func tcp(t *testing.T, from, to, ip string) {
	t.Helper()
	bps, err := testnet.TCPTransfer(from, to, ip+":7001", 16<<20, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP 16 MiB: %.2f Gbit/s", bps/1e9)
}

func newHostRig(t *testing.T) *rig {
	testnet.RequireRoot(t)
	// Run the devices' namespace-independent parts in the test's namespace;
	// the VMs are namespaces of their own.
	return newRig(t)
}

func TestTAPToTAP(t *testing.T) {
	r := newHostRig(t)
	a, _ := tapVM(t, r, "203.0.113.1")
	b, _ := tapVM(t, r, "203.0.113.2")
	pingOK(t, a, "203.0.113.2")
	tcp(t, a, b, "203.0.113.2")
}

func TestVethToVeth(t *testing.T) {
	r := newHostRig(t)
	a := vethVM(t, r, "203.0.113.1")
	b := vethVM(t, r, "203.0.113.2")
	pingOK(t, a, "203.0.113.2")
	tcp(t, a, b, "203.0.113.2")
}

func TestMixedTAPAndVeth(t *testing.T) {
	r := newHostRig(t)
	a, _ := tapVM(t, r, "203.0.113.1")
	b := vethVM(t, r, "203.0.113.2")
	pingOK(t, b, "203.0.113.1")
	tcp(t, a, b, "203.0.113.2")
	tcp(t, b, a, "203.0.113.1")
}

// A TAP closed and opened again by name is adopted, not recreated: the VM
// keeps its address and traffic flows again.
func TestTAPAdoptAfterClose(t *testing.T) {
	testnet.RequireRoot(t)
	ns := testnet.NewNS(t, "vm")
	name := testnet.Name("tp")
	tap, err := OpenTAP(name, TAPOptions{NetNS: ns, Up: true})
	if err != nil {
		t.Fatal(err)
	}
	testnet.Addr(t, ns, name, "203.0.113.9/24")
	tap.Close()
	again, err := OpenTAP(name, TAPOptions{NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Created() {
		t.Fatal("reopening an existing TAP created a new one")
	}
	if out := testnet.MustNS(t, ns, "ip", "-br", "addr", "show", name); !contains(out, "203.0.113.9") {
		t.Fatalf("VM lost its address: %s", out)
	}
	r := newRig(t)
	r.attach(again, datapath.PortConfig{})
	b, _ := tapVM(t, r, "203.0.113.2")
	pingOK(t, b, "203.0.113.9")
	// DeleteTAP removes it.
	again.Close()
	if err := DeleteTAP(name, ns); err != nil {
		t.Fatal(err)
	}
	if ok, _ := LinkExists(name, ns); ok {
		t.Fatal("TAP still exists after DeleteTAP")
	}
}

func TestOpenErrorsNameTheProblem(t *testing.T) {
	testnet.RequireRoot(t)
	if _, err := OpenTAP("this-name-is-too-long", TAPOptions{}); err == nil || !contains(err.Error(), "1-15") {
		t.Fatalf("long name: %v", err)
	}
	if _, err := OpenTAP("x1", TAPOptions{NetNS: "sy-no-such-ns"}); err == nil || !contains(err.Error(), "sy-no-such-ns") {
		t.Fatalf("missing netns: %v", err)
	}
	if _, err := OpenSystem("sy-nope0", "", false); err == nil || !contains(err.Error(), "sy-nope0") {
		t.Fatalf("missing interface: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
