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

// commit keeps only the first commitWords words of its base key: every
// field it compares must lie there.
func TestCommitFieldsLieInCommitWords(t *testing.T) {
	for _, f := range append([]Field{FieldVLANVID, FieldVLANPCP}, packetFields...) {
		fi := fieldInfo[f]
		last := int(fi.Word)
		if fi.Bits == 128 {
			last++
		}
		if last >= commitWords {
			t.Errorf("%s lives in word %d, past commitWords (%d): commit would not see it change", fi.Name, last, commitWords)
		}
	}
}
