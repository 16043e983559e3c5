package vswitchd

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/netdev"
)

// memSwitch is a daemon whose ports are in-memory devices, over a store in
// dir (reopened by a second call with the same dir: a restart).
func memSwitch(t *testing.T, dir string) (*Switch, func()) {
	t.Helper()
	store, err := config.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := newSwitch(ctx, store, slog.New(slog.NewTextHandler(io.Discard, nil)), true, true)
	s.Reconcile()
	stop := func() { s.close(); cancel(); store.Close() }
	return s, stop
}

func ethFrame(dst, src byte, etype uint16, payload []byte) []byte {
	f := []byte{2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src}
	f = binary.BigEndian.AppendUint16(f, etype)
	return append(f, payload...)
}

func ipv4To(dst [4]byte) []byte {
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 28)
	copy(ip[12:], []byte{198, 51, 100, 1})
	copy(ip[16:], dst[:])
	return append(ip, 0, 1, 0, 2, 0, 8, 0, 0)
}

func inject(t *testing.T, port string, frames ...[]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := netdev.MemoryDevice(port)
	if d == nil {
		t.Fatalf("no memory device %s", port)
	}
	if err := d.Inject(ctx, frames...); err != nil {
		t.Fatal(err)
	}
}

func sentOn(port string) int { return len(netdev.MemoryDevice(port).Take()) }

// Every port type runs as an in-memory device, with its stable port number,
// and a flow installed through the backend steers traffic; the flows come
// back after a restart, before the first frame; a bad flow changes nothing.
func TestFlowsInMemoryDaemonAndRestart(t *testing.T) {
	dir := t.TempDir()
	s, stop := memSwitch(t, dir)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddBridge(config.Bridge{Name: "br0"}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "fvm1", Type: config.TypeTAP}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "fvm2", Type: config.TypeTAP, OFPort: 10}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "fsys", Type: config.TypeSystem}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "fint", Type: config.TypeInternal}))
	must(s.AddPort(config.Port{Bridge: "br0", Name: "fvx", Type: config.TypeVXLAN, Tunnel: &config.Tunnel{VNI: 5001, Local: "198.18.0.1", Remotes: []string{"198.18.0.2"}}}))
	if err := s.AddPort(config.Port{Bridge: "br0", Name: "fdup", Type: config.TypeTAP, OFPort: 10}); errs.KindOf(err) != errs.Exists {
		t.Fatalf("a taken port number was accepted: %v", err)
	}
	show := s.Show()
	numbers := map[string]int{}
	for _, p := range show.Bridges[0].Ports {
		if p.Status != "up" {
			t.Fatalf("port %s is %s (%s)", p.Name, p.Status, p.Reason)
		}
		numbers[p.Name] = p.OFPort
	}
	if numbers["fvm2"] != 10 || numbers["fvm1"] == 0 || numbers["fvm1"] == numbers["fsys"] {
		t.Fatalf("port numbers %v", numbers)
	}
	// A flow steering 203.0.113.0/24 to fvm2, then a bad file that must
	// change nothing (line 2 is wrong).
	res, err := s.AddFlows("br0", api.FlowsRequest{Flows: []string{"priority=100,ip,nw_dst=203.0.113.0/24,actions=output:fvm2"}})
	if err != nil || res.Added != 1 {
		t.Fatalf("add: %+v %v", res, err)
	}
	_, err = s.AddFlows("br0", api.FlowsRequest{Flows: []string{"priority=5,actions=drop", "ip,nw_dst=1.2.3.4/33,actions=drop"}})
	if e, ok := errs.As(err); !ok || e.Field != "nw_dst" || !strings.HasPrefix(e.Message, "line 2:") || e.Offset != 4 {
		t.Fatalf("bad file: %#v", err)
	}
	fl, _ := s.DumpFlows("br0", "", -1)
	if len(fl) != 2 || fl[0].Priority != 100 || !strings.Contains(fl[0].Actions, "output:fvm2") {
		t.Fatalf("flows after a rejected file: %+v", fl)
	}
	inject(t, "fvm1", ethFrame(9, 1, 0x0800, ipv4To([4]byte{203, 0, 113, 7})))
	if sentOn("fvm2") != 1 || sentOn("fsys") != 0 {
		t.Fatal("the flow did not steer the frame")
	}
	// The trace says the same, naming the rule.
	tr, err := s.Trace("br0", api.TraceRequest{Flow: "in_port=fvm1,ip,nw_dst=203.0.113.8"})
	if err != nil || len(tr.Outputs) != 1 || tr.Outputs[0].Port != "fvm2" || !strings.Contains(tr.Text, "nw_dst=203.0.113.0/24") {
		t.Fatalf("trace: %v %+v\n%s", err, tr, tr.Text)
	}
	dp, _ := s.DatapathFlows("br0")
	if len(dp) == 0 || !strings.Contains(dp[0].Text, "actions:") {
		t.Fatalf("dpctl: %+v", dp)
	}
	stop()

	// Restart: the flows are back before the ports forward.
	s, stop = memSwitch(t, dir)
	defer stop()
	fl, _ = s.DumpFlows("br0", "", -1)
	if len(fl) != 2 || fl[0].Priority != 100 {
		t.Fatalf("after a restart: %+v", fl)
	}
	for _, p := range s.Show().Bridges[0].Ports {
		if p.OFPort != numbers[p.Name] {
			t.Fatalf("port %s came back as number %d, was %d", p.Name, p.OFPort, numbers[p.Name])
		}
	}
	inject(t, "fvm1", ethFrame(9, 1, 0x0800, ipv4To([4]byte{203, 0, 113, 9})))
	if sentOn("fvm2") != 1 {
		t.Fatal("after a restart the stored flow does not steer")
	}
	// Deleting everything, including the default rule, is stored too.
	if res, err := s.DelFlows("br0", api.FlowDelRequest{}); err != nil || res.Deleted != 2 {
		t.Fatalf("del all: %+v %v", res, err)
	}
	inject(t, "fvm1", ethFrame(9, 1, 0x0800, ipv4To([4]byte{198, 51, 100, 9})))
	if sentOn("fvm2")+sentOn("fsys")+sentOn("fint")+sentOn("fvx") != 0 {
		t.Fatal("with no rules frames still went somewhere")
	}
}

// A deleted bridge takes its stored flows with it: a new bridge of the
// same name starts with the default rule.
func TestBridgeDeleteForgetsFlows(t *testing.T) {
	s, stop := memSwitch(t, t.TempDir())
	defer stop()
	if err := s.AddBridge(config.Bridge{Name: "br9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddFlows("br9", api.FlowsRequest{Flows: []string{"priority=7,actions=drop"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DelBridge("br9"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBridge(config.Bridge{Name: "br9"}); err != nil {
		t.Fatal(err)
	}
	fl, _ := s.DumpFlows("br9", "", -1)
	if len(fl) != 1 || fl[0].Priority != 0 || fl[0].Actions != "NORMAL" {
		t.Fatalf("a recreated bridge has %+v", fl)
	}
}

// trace --live traces exactly the next N frames that arrive on the port,
// as they are forwarded (the second goes where the rule says, the first
// floods), then the channel closes; frames on other ports are not traced.
func TestTraceLiveTracesTheNextFrames(t *testing.T) {
	s, stop := memSwitch(t, t.TempDir())
	defer stop()
	for _, err := range []error{
		s.AddBridge(config.Bridge{Name: "br0"}),
		s.AddPort(config.Port{Bridge: "br0", Name: "lvm1", Type: config.TypeTAP}),
		s.AddPort(config.Port{Bridge: "br0", Name: "lvm2", Type: config.TypeTAP}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddFlows("br0", api.FlowsRequest{Flows: []string{"priority=100,ip,nw_dst=203.0.113.9,actions=output:lvm2", "priority=0,actions=NORMAL"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TraceLive("br0", "nosuch", 1); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("live trace on a missing port: %v", err)
	}
	ch, cancel, err := s.TraceLive("br0", "lvm1", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	inject(t, "lvm2", ethFrame(1, 2, 0x0800, ipv4To([4]byte{203, 0, 113, 1}))) // another port: not traced
	inject(t, "lvm1", ethFrame(0xff, 1, 0x0800, ipv4To([4]byte{203, 0, 113, 8})))
	inject(t, "lvm1", ethFrame(0xff, 1, 0x0800, ipv4To([4]byte{203, 0, 113, 9})))
	inject(t, "lvm1", ethFrame(0xff, 1, 0x0800, ipv4To([4]byte{203, 0, 113, 9}))) // the third: not traced
	var got []*datapath.Trace
	timeout := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case tr, ok := <-ch:
			if !ok {
				goto done
			}
			got = append(got, tr)
		case <-timeout:
			t.Fatalf("%d traces in 5 s, want 2 and the channel closed", len(got))
		}
	}
done:
	if len(got) != 2 {
		t.Fatalf("%d live traces, want 2", len(got))
	}
	if o := got[0].Outputs; len(o) != 1 || o[0].Port != "lvm2" || !strings.Contains(got[0].Root.Text, "nw_dst=203.0.113.8") {
		t.Errorf("first trace (NORMAL flood): %s outputs %+v", got[0].Root.Text, o)
	}
	if o := got[1].Outputs; len(o) != 1 || o[0].Port != "lvm2" || !strings.Contains(got[1].Root.Text, "nw_dst=203.0.113.9") || !traceMentions(got[1].Root, "priority=100") {
		t.Errorf("second trace (the rule): %s outputs %+v", got[1].Root.Text, o)
	}
}

func traceMentions(n *datapath.TraceNode, s string) bool {
	if strings.Contains(n.Text, s) {
		return true
	}
	for _, c := range n.Children {
		if traceMentions(c, s) {
			return true
		}
	}
	return false
}
