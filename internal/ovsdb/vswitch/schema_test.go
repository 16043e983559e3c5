package vswitch

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
)

// The schema parses, and every column it has has exactly the type Open
// vSwitch's own schema gives it (the Debian package's copy), so OVS's
// clients read and write it unchanged.
func TestSchemaMatchesOpenVSwitchTypes(t *testing.T) {
	s := Schema()
	if s.Name != "Open_vSwitch" || len(s.Tables) < 19 {
		t.Fatalf("schema %s with %d tables", s.Name, len(s.Tables))
	}
	raw, err := os.ReadFile("/usr/share/openvswitch/vswitch.ovsschema")
	if err != nil {
		if os.Getuid() == 0 {
			t.Fatalf("Open vSwitch's schema is needed to compare (openvswitch-common): %v", err)
		}
		t.Skip("no /usr/share/openvswitch/vswitch.ovsschema (install openvswitch-common)")
	}
	ovs, err := ovsdb.ParseSchema(raw)
	if err != nil {
		t.Fatal(err)
	}
	for tn, tab := range s.Tables {
		ot := ovs.Tables[tn]
		if ot == nil {
			t.Errorf("table %s is not in Open vSwitch's schema", tn)
			continue
		}
		if tab.IsRoot != ot.IsRoot || tab.MaxRows != ot.MaxRows || len(tab.Indexes) != len(ot.Indexes) {
			t.Errorf("table %s: root/maxRows/indexes %v/%d/%d, OVS %v/%d/%d", tn, tab.IsRoot, tab.MaxRows, len(tab.Indexes), ot.IsRoot, ot.MaxRows, len(ot.Indexes))
		}
		for cn, c := range tab.Columns {
			oc := ot.Columns[cn]
			if oc == nil {
				t.Errorf("column %s.%s is not in Open vSwitch's schema", tn, cn)
				continue
			}
			a, _ := json.Marshal(c.Type)
			b, _ := json.Marshal(oc.Type)
			if string(a) != string(b) || c.Ephemeral != oc.Ephemeral || c.Mutable != oc.Mutable {
				t.Errorf("column %s.%s: %s eph=%v mut=%v, OVS %s eph=%v mut=%v", tn, cn, a, c.Ephemeral, c.Mutable, b, oc.Ephemeral, oc.Mutable)
			}
		}
		for cn := range ot.Columns {
			if tab.Columns[cn] == nil {
				t.Logf("not in our schema: %s.%s", tn, cn)
			}
		}
	}
	for tn := range ovs.Tables {
		if s.Tables[tn] == nil {
			t.Logf("table not in our schema: %s", tn)
		}
	}
	for k, v := range Usage() {
		if v == "" && !isMinorTable(k) {
			t.Errorf("column %s does not say what Switchyard does with it", k)
		}
	}
}

func isMinorTable(col string) bool {
	for _, p := range []string{"NetFlow.", "sFlow.", "IPFIX.", "Flow_Sample_Collector_Set.", "Datapath.", "CT_Zone.", "CT_Timeout_Policy.", "AutoAttach."} {
		if len(col) > len(p) && col[:len(p)] == p {
			return true
		}
	}
	return false
}
