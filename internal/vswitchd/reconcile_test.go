package vswitchd

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/switchyard-net/switchyard/internal/config"
)

func newTestSwitch(t *testing.T) *Switch {
	t.Helper()
	store, err := config.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := newSwitch(ctx, store, slog.New(slog.NewTextHandler(io.Discard, nil)), true, false)
	t.Cleanup(func() { s.close(); cancel(); store.Close() })
	return s
}

// Reconcile is idempotent: a second run rebuilds nothing. VLAN changes are
// applied in place; identity changes rebuild the port; patch pairs come up
// only when both ends exist, and go down when one goes.
func TestReconcileIdempotentAndInPlace(t *testing.T) {
	s := newTestSwitch(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddBridge(config.Bridge{Name: "br0"}))
	must(s.AddBridge(config.Bridge{Name: "br1", FDBAging: 60}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "pa", Type: config.TypePatch, Peer: "pb", Trunks: "10,20"}))
	if st := s.portStatus(s.Config().Ports["pa"]); st.Status != "down" {
		t.Fatalf("half a patch pair is %s, want down", st.Status)
	}
	must(s.AddPort(config.Port{Bridge: "br1", Name: "pb", Type: config.TypePatch, Peer: "pa", Trunks: "10,20"}))
	for _, n := range []string{"pa", "pb"} {
		if st := s.portStatus(s.Config().Ports[n]); st.Status != "up" {
			t.Fatalf("%s is %s (%s) with both ends present", n, st.Status, st.Reason)
		}
	}
	bpA, bpB := s.ports["pa"].bp, s.ports["pb"].bp
	s.Reconcile()
	s.Reconcile()
	if s.ports["pa"].bp != bpA || s.ports["pb"].bp != bpB {
		t.Fatal("an idle reconcile rebuilt ports")
	}
	if s.bridges["br1"].dp.Config().AgingTime.Seconds() != 60 {
		t.Fatal("bridge setting not applied")
	}
	must(s.SetPort(config.Port{Bridge: "br0", Name: "pa", Trunks: "10,20,30"}))
	trunks := func() string { c := s.ports["pa"].bp.Config(); return c.Trunks.String() }
	if s.ports["pa"].bp != bpA || trunks() != "10,20,30" {
		t.Fatal("a VLAN change rebuilt the port or was not applied")
	}
	// A rejected change leaves the running port alone.
	if err := s.SetPort(config.Port{Bridge: "br0", Name: "pa", Trunks: "10,5000"}); err == nil {
		t.Fatal("trunk 5000 accepted")
	}
	if s.ports["pa"].bp != bpA || trunks() != "10,20,30" {
		t.Fatal("a rejected change touched the running port")
	}
	must(s.DelPort("br1", "pb"))
	if st := s.portStatus(s.Config().Ports["pa"]); st.Status == "up" {
		t.Fatal("patch port stayed up after its peer went")
	}
	must(s.DelBridge("br0"))
	if _, ok := s.ports["pa"]; ok || s.bridges["br0"] != nil {
		t.Fatal("bridge deletion left its port or itself running")
	}
}
