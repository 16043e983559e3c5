package ovsdb

import (
	"context"
	"testing"
)

// FuzzTransact feeds arbitrary JSON to the transaction decoder and the
// engine: no panic, and the database keeps every invariant.
func FuzzTransact(f *testing.F) {
	f.Add([]byte(seed))
	f.Add([]byte(`[{"op":"mutate","table":"Kid","where":[["name","==","a"]],"mutations":[["nums","insert",["set",[1,2]]],["opts","delete",["map",[["k","v"]]]]]}]`))
	f.Add([]byte(`[{"op":"wait","table":"Kid","where":[],"columns":["name"],"until":"==","rows":[{"name":"a"}],"timeout":0}]`))
	f.Add([]byte(`[{"op":"select","table":"Kid","where":[["level",">=",1.5],["_uuid","!=",["uuid","550e8400-e29b-41d4-a716-446655440000"]]]}]`))
	f.Add([]byte(`[{"op":"insert","table":"Root","row":{"kids":["named-uuid","x"],"must":["named-uuid","x"]}},{"op":"insert","table":"Kid","uuid-name":"x","row":{"name":"q","opts":["map",[["a","b"]]]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v []any
		if decodeJSON(data, &v) != nil {
			return
		}
		db := New(MustParseSchema([]byte(testSchema)), Options{})
		_, o, e := ParseTransact(append([]any{"T"}, v...))
		if e != nil {
			return
		}
		for i := range o {
			if o[i].Op == "wait" && (o[i].Timeout == nil || *o[i].Timeout > 0) {
				return // would block
			}
		}
		_, o2, _ := ParseTransact(append([]any{"T"}, mustSeed()...))
		_, _ = db.Transact(context.Background(), o2, TxnOptions{})
		res, _ := db.Transact(context.Background(), o, TxnOptions{})
		_ = AppendResultsJSON(nil, res)
		if err := checkInvariants(db); err != nil {
			t.Fatal(err)
		}
	})
}

func mustSeed() []any {
	var v []any
	if err := decodeJSON([]byte(seed), &v); err != nil {
		panic(err)
	}
	return v
}

// FuzzDatum: any JSON that parses as a datum round-trips through its
// canonical JSON.
func FuzzDatum(f *testing.F) {
	for _, s := range []string{`1`, `["set",[1,2]]`, `["map",[["a",1]]]`, `["uuid","550e8400-e29b-41d4-a716-446655440000"]`, `1.5`, `"x"`, `true`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Datum
		if d.UnmarshalJSON(data) != nil {
			return
		}
		var d2 Datum
		if err := d2.UnmarshalJSON([]byte(d.String())); err != nil {
			t.Fatalf("%s → %s does not parse: %v", data, d, err)
		}
		if !d.Equal(d2) {
			t.Fatalf("%s → %s → %s", data, d, d2)
		}
	})
}
