package datapath

import (
	"reflect"
	"testing"
)

// decideInto sets every field of its scratch xlate by name (it reuses one
// per receive context); a field added to xlate must be reset there too.
func TestDecideIntoResetsEveryXlateField(t *testing.T) {
	want := []string{"d", "snap", "key", "base", "mask", "in", "tr", "depth", "hops", "table", "set", "tunSet", "exit", "vlanOK", "ingress", "rule", "inSet", "inGroup", "packetOut", "exitAction"}
	typ := reflect.TypeOf(xlate{})
	var got []string
	for i := range typ.NumField() {
		got = append(got, typ.Field(i).Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("xlate fields are %v; decideInto resets %v: update decideInto and this list", got, want)
	}
}
