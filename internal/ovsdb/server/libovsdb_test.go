package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
)

// Client models, as a Go program using libovsdb writes them.
type lbBridge struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Ports       []string          `ovsdb:"ports"`
	FailMode    *string           `ovsdb:"fail_mode"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type lbPort struct {
	UUID       string   `ovsdb:"_uuid"`
	Name       string   `ovsdb:"name"`
	Interfaces []string `ovsdb:"interfaces"`
	Tag        *int     `ovsdb:"tag"`
	Trunks     []int    `ovsdb:"trunks"`
}

type lbInterface struct {
	UUID    string            `ovsdb:"_uuid"`
	Name    string            `ovsdb:"name"`
	Type    string            `ovsdb:"type"`
	Options map[string]string `ovsdb:"options"`
	Ofport  *int              `ovsdb:"ofport"`
}

type lbOVS struct {
	UUID    string   `ovsdb:"_uuid"`
	Bridges []string `ovsdb:"bridges"`
	NextCfg int      `ovsdb:"next_cfg"`
}

func TestLibovsdbClient(t *testing.T) {
	ts := startServer(t, Config{})
	ts.vsctl("init")
	for i := 0; i < 30; i++ {
		ts.vsctl("add-br", fmt.Sprintf("br%d", i))
	}
	dbModel, err := model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		"Open_vSwitch": &lbOVS{}, "Bridge": &lbBridge{}, "Port": &lbPort{}, "Interface": &lbInterface{},
	})
	if err != nil {
		t.Fatal(err)
	}
	bo := backoff.NewConstantBackOff(50 * time.Millisecond)
	c, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(ts.remote()), client.WithReconnect(5*time.Second, bo))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.MonitorAll(ctx); err != nil {
		t.Fatal(err)
	}
	var bridges []lbBridge
	if err := c.List(ctx, &bridges); err != nil || len(bridges) != 30 {
		t.Fatalf("list: %d bridges, %v", len(bridges), err)
	}
	// Transact through the client: a port with a VXLAN interface on br0.
	br := &lbBridge{Name: "br0"}
	if err := c.Get(ctx, br); err != nil {
		t.Fatal(err)
	}
	tag := 10
	iface := &lbInterface{UUID: "iface", Name: "vx0", Type: "vxlan", Options: map[string]string{"remote_ip": "198.18.0.2", "key": "5001"}}
	port := &lbPort{UUID: "port", Name: "vx0", Interfaces: []string{"iface"}, Tag: &tag}
	ops, err := c.Create(iface)
	if err != nil {
		t.Fatal(err)
	}
	pops, err := c.Create(port)
	if err != nil {
		t.Fatal(err)
	}
	ops = append(ops, pops...)
	mut, err := c.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: "insert", Value: []string{"port"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Transact(ctx, append(ops, mut...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ovsdbErrors(res); err != nil {
		t.Fatal(err)
	}
	if got := ts.vsctl("get", "interface", "vx0", "options:remote_ip"); got != "\"198.18.0.2\"\n" {
		t.Fatalf("ovs-vsctl sees %q", got)
	}
	// The monitor delivers other clients' changes to the cache.
	ts.vsctl("set", "port", "vx0", "trunks=20,30")
	eventually(t, 5*time.Second, "libovsdb cache to see trunks", func() bool {
		p := &lbPort{Name: "vx0"}
		return c.Get(ctx, p) == nil && len(p.Trunks) == 2
	})
	// Reconnect: the server goes away; changes happen meanwhile; the client
	// comes back with monitor_cond_since and gets only what it missed.
	found := ts.srv.Stats().SinceFound.Load()
	ts.drop()
	if _, err := ts.db.Transact(ctx, []ovsdb.Operation{{Op: "update", Table: "Bridge", Where: []ovsdb.Condition{{Column: "name", Function: "==", Value: ovsdb.Scalar("br7")}},
		Row: map[string]ovsdb.Datum{"fail_mode": ovsdb.Scalar("secure")}}}, ovsdb.TxnOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "libovsdb to reconnect with monitor_cond_since", func() bool { return ts.srv.Stats().SinceFound.Load() > found })
	if n := ts.srv.Stats().LastInitialBytes.Load(); n > 1000 {
		t.Fatalf("the reconnect reply is %d bytes: more than the one change", n)
	}
	eventually(t, 5*time.Second, "the missed change in the cache", func() bool {
		b := &lbBridge{Name: "br7"}
		return c.Get(ctx, b) == nil && b.FailMode != nil && *b.FailMode == "secure"
	})
	if err := c.List(ctx, &bridges); err != nil || len(bridges) != 30 {
		t.Fatalf("after reconnect: %d bridges, %v", len(bridges), err)
	}
}

func ovsdbErrors(res []ovsdbResult) (int, error) {
	for i, r := range res {
		if r.Error != "" {
			return i, fmt.Errorf("op %d: %s: %s", i, r.Error, r.Details)
		}
	}
	return 0, nil
}
