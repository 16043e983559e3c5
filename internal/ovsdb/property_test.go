package ovsdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// Random transactions against the test schema: after every one, committed
// or not, the database satisfies every constraint, and a failed one changed
// nothing. At the end the file reopens to the same state.
func TestRandomTransactionsKeepInvariants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	schema := MustParseSchema([]byte(testSchema))
	db, err := Open(path, schema, Options{CompactMinBytes: 32 << 10, CompactRatio: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustTx(t, db, seed)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 500
	}
	committed, failed, changed, maxRows := 0, 0, 0, 0
	cancel := db.OnCommit(nil, func(*Commit) { changed++ })
	for i := 0; i < n; i++ {
		ops := randomOps(rng, db)
		before := dump(db)
		_, err := db.Transact(context.Background(), ops, TxnOptions{})
		if err != nil {
			failed++
			if after := dump(db); after != before {
				t.Fatalf("txn %d failed (%v) but changed the database", i, err)
			}
		} else {
			committed++
		}
		if n := len(db.Rows("Kid")) + len(db.Rows("Root")); n > maxRows {
			maxRows = n
		}
		if err := checkInvariants(db); err != nil {
			t.Fatalf("after txn %d (%v): %v\nops: %+v", i, err, err, ops)
		}
		// The index fast path (name ==) and a scan (name includes) select
		// the same rows, also over the transaction's own changes.
		name := pick(rng, []string{"a", "b", "c", "d", "e"})
		probe := append(randomOps(rng, db),
			Select("Kid", Where1("name", "==", Scalar(name)), "_uuid"),
			Select("Kid", Where1("name", "includes", Scalar(name)), "_uuid"),
			Operation{Op: "abort"})
		res, _ := db.Transact(context.Background(), probe, TxnOptions{})
		if a, b := res[len(res)-3], res[len(res)-2]; a != nil && b != nil && a.Error == nil {
			if string(a.AppendJSON(nil)) != string(b.AppendJSON(nil)) {
				t.Fatalf("index lookup %s differs from scan %s", a.AppendJSON(nil), b.AppendJSON(nil))
			}
		}
	}
	cancel()
	t.Logf("largest state: %d rows", maxRows)
	if changed < n/10 || failed < n/10 {
		t.Fatalf("poor mix: %d committed (%d changed something), %d failed", committed, changed, failed)
	}
	want := dump(db)
	db.Close()
	db, err = Open(path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := dump(db); got != want {
		t.Fatal("reopened database differs from the one in memory")
	}
	if err := checkInvariants(db); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d committed (%d changed the database), %d rejected; %d Kid and %d Root rows at the end", committed, changed, failed, len(db.Rows("Kid")), len(db.Rows("Root")))
}

func pick[T any](rng *rand.Rand, l []T) T { return l[rng.IntN(len(l))] }

func randomOps(rng *rand.Rand, db *DB) []Operation {
	kids := db.Rows("Kid")
	roots := db.Rows("Root")
	// bad says, rarely, to use a value that must be rejected.
	bad := func() bool { return rng.IntN(12) == 0 }
	uuidOf := func(rows []*Row) Atom {
		if len(rows) == 0 || bad() {
			return NewUUID() // dangling
		}
		return pick(rng, rows).UUID
	}
	var ops []Operation
	names := []string{"a", "b", "c", "d", "e"}
	for j := rng.IntN(3) + 1; j > 0; j-- {
		switch rng.IntN(9) {
		case 0, 1:
			name := fmt.Sprintf("n%d", j)
			row := map[string]Datum{
				"name":  Scalar(pick(rng, names)),
				"level": Scalar(int64(rng.IntN(11))),
				"tags":  Set(pick(rng, []Atom{"x", "y"})),
			}
			if bad() {
				row["level"] = Scalar(int64(pick(rng, []int{-1, 11})))
			}
			if bad() {
				row["tags"] = Set("toolongvalue")
			}
			if rng.IntN(2) == 0 {
				row["next"] = Set(uuidOf(kids))
			}
			ops = append(ops, Operation{Op: "insert", Table: "Kid", UUIDName: name, Row: row})
			if !bad() && len(roots) > 0 {
				ops = append(ops, Operation{Op: "mutate", Table: "Root", Where: []Condition{{Column: "_uuid", Function: "==", Value: Scalar(pick(rng, roots).UUID)}},
					Mutations: []Mutation{{Column: "kids", Mutator: "insert", Value: Scalar(NamedUUID(name))}}})
			}
		case 2:
			// A root with a new kid of its own (or, rarely, pointing at
			// whatever exists).
			kn := fmt.Sprintf("rk%d", j)
			ops = append(ops, Operation{Op: "insert", Table: "Kid", UUIDName: kn, Row: map[string]Datum{"name": Scalar(pick(rng, names))}})
			row := map[string]Datum{"must": Scalar(NamedUUID(kn)), "kids": Set(NamedUUID(kn))}
			if len(kids) > 0 {
				row["kids"] = Set(NamedUUID(kn), uuidOf(kids))
			}
			if bad() {
				row["must"] = Scalar(uuidOf(kids))
			}
			if rng.IntN(2) == 0 {
				row["watch"] = Set(uuidOf(kids))
			}
			ops = append(ops, Operation{Op: "insert", Table: "Root", Row: row})
		case 3:
			if rng.IntN(4) > 0 {
				ops = append(ops, Operation{Op: "delete", Table: "Kid", Where: Where1("name", "==", Scalar(pick(rng, names)))})
			} else {
				ops = append(ops, Operation{Op: "delete", Table: "Root", Where: Where1("n", "==", Scalar(int64(rng.IntN(3))))})
			}
		case 4:
			m := Mutation{Column: "nums", Mutator: pick(rng, []string{"+=", "-=", "*=", "/=", "%=", "insert", "delete"}), Value: Scalar(int64(rng.IntN(5)))}
			if rng.IntN(2) == 0 {
				m = Mutation{Column: "level", Mutator: pick(rng, []string{"+=", "-=", "*=", "/=", "%="}), Value: Scalar(int64(rng.IntN(3)))}
			}
			ops = append(ops, Operation{Op: "mutate", Table: "Kid", Where: Where1("name", "==", Scalar(pick(rng, names))), Mutations: []Mutation{m}})
		case 5:
			ops = append(ops, Operation{Op: "update", Table: "Root", Where: nil, Row: map[string]Datum{"kids": Set(uuidOf(kids), uuidOf(kids)), "n": Scalar(int64(rng.IntN(3)))}})
		case 6:
			ops = append(ops, Operation{Op: "mutate", Table: "Root", Where: nil, Mutations: []Mutation{{Column: pick(rng, []string{"kids", "watch"}), Mutator: pick(rng, []string{"insert", "delete"}), Value: Set(uuidOf(kids))}}})
		case 7:
			color := pick(rng, []Atom{"red", "green"})
			if bad() {
				color = "blue"
			}
			ops = append(ops, Operation{Op: "update", Table: "Kid", Where: []Condition{{Column: "level", Function: "<", Value: Scalar(int64(rng.IntN(5)))}},
				Row: map[string]Datum{"opts": StringMap(map[string]string{"k": fmt.Sprint(rng.IntN(3))}), "color": Set(color)}})
		case 8:
			if rng.IntN(6) == 0 {
				ops = append(ops, Operation{Op: "abort"})
			} else {
				ops = append(ops, Operation{Op: "update", Table: "Kid", Where: []Condition{{Const: true}}, Row: map[string]Datum{"stat": {Keys: []Atom{"rx"}, Values: []Atom{int64(rng.IntN(100))}}}})
			}
		}
	}
	return ops
}

// checkInvariants verifies every schema rule on the committed database and
// that the derived state (reference counts, indexes) matches the rows.
func checkInvariants(db *DB) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	refs := map[*Table]map[UUID]int32{}
	for t, td := range db.tables {
		if t.MaxRows > 0 && len(td.rows) > t.MaxRows {
			return fmt.Errorf("%s has %d rows, max %d", t.Name, len(td.rows), t.MaxRows)
		}
		for i, idx := range t.Indexes {
			seen := map[string]UUID{}
			for u, r := range td.rows {
				k := indexKey(r, idx)
				if o, dup := seen[k]; dup {
					return fmt.Errorf("%s rows %s and %s share index %d", t.Name, u, o, i)
				}
				seen[k] = u
				if td.indexes[i][k] != u {
					return fmt.Errorf("%s index %d out of date for %s", t.Name, i, u)
				}
			}
			if len(td.indexes[i]) != len(td.rows) {
				return fmt.Errorf("%s index %d has %d keys for %d rows", t.Name, i, len(td.indexes[i]), len(td.rows))
			}
		}
		for u, r := range td.rows {
			for _, c := range t.Cols {
				if _, err := c.Type.Check(r.Cols[c.Index]); err != nil {
					return fmt.Errorf("%s row %s column %s: %v", t.Name, u, c.Name, err)
				}
			}
			var err error
			r.refs(func(dst *Table, v UUID, weak bool) {
				if db.tables[dst].rows[v] == nil && err == nil {
					err = fmt.Errorf("%s row %s refers (weak=%v) to missing %s row %s", t.Name, u, weak, dst.Name, v)
				}
				if !weak {
					if refs[dst] == nil {
						refs[dst] = map[UUID]int32{}
					}
					refs[dst][v]++
				}
			})
			if err != nil {
				return err
			}
		}
	}
	for t, td := range db.tables {
		for u := range td.rows {
			if refs[t][u] != td.refs[u] {
				return fmt.Errorf("%s row %s: %d references, counted %d", t.Name, u, refs[t][u], td.refs[u])
			}
			if !t.IsRoot && refs[t][u] == 0 {
				return fmt.Errorf("%s row %s is unreferenced in a non-root table", t.Name, u)
			}
		}
	}
	return nil
}
