package ovsdb

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testSchema exercises every kind of column: constraints, strong and weak
// references, a non-root table, an index, maxRows, ephemeral and
// immutable columns.
const testSchema = `{
 "name": "T", "version": "1.0.0",
 "tables": {
  "Root": {"isRoot": true, "maxRows": 2, "columns": {
    "kids":  {"type": {"key": {"type": "uuid", "refTable": "Kid"}, "min": 0, "max": "unlimited"}},
    "watch": {"type": {"key": {"type": "uuid", "refTable": "Kid", "refType": "weak"}, "min": 0, "max": "unlimited"}},
    "must":  {"type": {"key": {"type": "uuid", "refTable": "Kid", "refType": "weak"}, "min": 1, "max": 1}},
    "n":     {"type": "integer"}}},
  "Kid": {"indexes": [["name"]], "columns": {
    "name":  {"type": "string", "mutable": false},
    "level": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 10}}},
    "ratio": {"type": {"key": {"type": "real", "minReal": 0, "maxReal": 1}, "min": 0, "max": 1}},
    "color": {"type": {"key": {"type": "string", "enum": ["set", ["red", "green"]]}, "min": 0, "max": 1}},
    "tags":  {"type": {"key": {"type": "string", "maxLength": 8}, "min": 0, "max": 3}},
    "nums":  {"type": {"key": "integer", "min": 0, "max": "unlimited"}},
    "opts":  {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
    "stat":  {"type": {"key": "string", "value": "integer", "min": 0, "max": "unlimited"}, "ephemeral": true},
    "next":  {"type": {"key": {"type": "uuid", "refTable": "Kid"}, "min": 0, "max": 1}}}},
  "Free": {"isRoot": true, "columns": {"v": {"type": "integer"}}}
 }
}`

func testDB(t *testing.T) *DB {
	t.Helper()
	return New(MustParseSchema([]byte(testSchema)), Options{})
}

func ops(t *testing.T, js string) []Operation {
	t.Helper()
	var v []any
	if err := decodeJSON([]byte(js), &v); err != nil {
		t.Fatalf("test ops %s: %v", js, err)
	}
	_, o, e := ParseTransact(append([]any{"T"}, v...))
	if e != nil {
		t.Fatal(e)
	}
	return o
}

func tx(t *testing.T, db *DB, js string) ([]*OperationResult, error) {
	t.Helper()
	return db.Transact(context.Background(), ops(t, js), TxnOptions{})
}

func mustTx(t *testing.T, db *DB, js string) []*OperationResult {
	t.Helper()
	r, err := tx(t, db, js)
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return r
}

func errTag(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Tag
	}
	return ""
}

const seed = `[{"op":"insert","table":"Root","uuid-name":"r","row":{"kids":["set",[["named-uuid","a"],["named-uuid","b"]]],"watch":["named-uuid","b"],"must":["named-uuid","a"]}},
 {"op":"insert","table":"Kid","uuid-name":"a","row":{"name":"a","level":1,"nums":["set",[1,2,3]],"opts":["map",[["k","v"]]]}},
 {"op":"insert","table":"Kid","uuid-name":"b","row":{"name":"b","next":["named-uuid","a"]}}]`

func TestSchemaErrors(t *testing.T) {
	for _, c := range []struct{ schema, want string }{
		{`{"name":"x","tables":{}}`, "at least one table"},
		{`{"name":"1x","tables":{"T":{"columns":{"a":{"type":"integer"}}}}}`, "name"},
		{`{"name":"x","tables":{"_T":{"columns":{"a":{"type":"integer"}}}}}`, "table name"},
		{`{"name":"x","tables":{"T":{"columns":{"_a":{"type":"integer"}}}}}`, "column name"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":"int"}}}}}`, "allowed: integer, real"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":"integer","min":2}}}}}}`, "min"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":"integer","max":0}}}}}}`, "max"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"uuid","refTable":"U"}}}}}}}`, "no such table"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"string","minInteger":1}}}}}}}`, "applies to integer"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"integer","enum":["set",["a"]]}}}}}}}`, "enum"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}},"indexes":[["b"]]}}}`, "no such column"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer","ephemeral":true}},"indexes":[["a"]]}}}`, "ephemeral"},
		{`{"name":"x","version":"1.2","tables":{"T":{"columns":{"a":{"type":"integer"}}}}}`, "version"},
		{`{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}},"bogus":1}}}`, "unknown field"},
	} {
		_, err := ParseSchema([]byte(c.schema))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.schema, err, c.want)
		}
	}
	// No root table at all: every table is a root (RFC 7047).
	s := MustParseSchema([]byte(`{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}}}}}`))
	if !s.Tables["T"].IsRoot {
		t.Fatal("a schema without roots must treat every table as root")
	}
}

func TestValuesJSON(t *testing.T) {
	for in, want := range map[string]string{
		`["set",[3,1,2]]`:           `["set",[1,2,3]]`,
		`["set",[1]]`:               `1`,
		`["map",[["b",1],["a",2]]]`: `["map",[["a",2],["b",1]]]`,
		`["uuid","550e8400-e29b-41d4-a716-446655440000"]`: `["uuid","550e8400-e29b-41d4-a716-446655440000"]`,
		`["named-uuid","x"]`:                              `["named-uuid","x"]`,
		`1.5`:                                             `1.5`,
		`"a\"b"`:                                          `"a\"b"`,
	} {
		var d Datum
		if err := d.UnmarshalJSON([]byte(in)); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := d.String(); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{`["set",[1,1]]`, `["map",[["a",1],["a",2]]]`, `["uuid","nope"]`, `{"x":1}`, `["set",1]`, `null`} {
		var d Datum
		if err := d.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestTransactOperations(t *testing.T) {
	db := testDB(t)
	r := mustTx(t, db, seed)
	a := r[1].UUID
	// select with projection and conditions of every function.
	for _, c := range []struct {
		where string
		n     int
	}{
		{`[["name","==","a"]]`, 1},
		{`[["name","!=","a"]]`, 1},
		{`[["level",">",0]]`, 1},
		{`[["level","<=",0]]`, 1},
		{`[["nums","includes",["set",[1,3]]]]`, 1},
		{`[["nums","excludes",2]]`, 1},
		{`[["opts","includes",["map",[["k","v"]]]]]`, 1},
		{`[["opts","includes",["map",[["k","w"]]]]]`, 0},
		{`[["color","==",["set",[]]]]`, 2},
		{`[true]`, 2},
		{`[false]`, 0},
		{`[["_uuid","==",["uuid","` + a.String() + `"]]]`, 1},
	} {
		r := mustTx(t, db, `[{"op":"select","table":"Kid","where":`+c.where+`,"columns":["name"]}]`)
		if len(r[0].Rows) != c.n {
			t.Errorf("where %s: %d rows, want %d", c.where, len(r[0].Rows), c.n)
		}
	}
	// Mutations of every kind.
	mustTx(t, db, `[{"op":"mutate","table":"Kid","where":[["name","==","a"]],"mutations":[
		["level","+=",4],["level","*=",2],["level","-=",1],["level","/=",2],["level","%=",3],
		["nums","+=",10],["nums","delete",11],["nums","insert",["set",[0,99]]],
		["opts","insert",["map",[["k","ignored"],["k2","v2"]]]],["opts","delete",["set",["k"]]],
		["tags","insert","x"],["ratio","insert",0.5],["ratio","*=",2]]}]`)
	k := db.Get("Kid", a)
	if n, _ := k.Int("level"); n != 1 { // ((1+4)*2-1)/2 = 4; 4%3 = 1
		t.Errorf("level %d", n)
	}
	if got := k.Get("nums").String(); got != `["set",[0,12,13,99]]` {
		t.Errorf("nums %s", got)
	}
	if got := k.StringMap("opts"); len(got) != 1 || got["k2"] != "v2" {
		t.Errorf("opts %v", got)
	}
	if got := k.Get("ratio").String(); got != `1.0` {
		t.Errorf("ratio %s", got)
	}
	// Errors, and nothing changes.
	before := dump(db)
	for _, c := range []struct{ js, tag string }{
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["level","+=",100]]}]`, ErrConstraint},
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["level","/=",0]]}]`, ErrDomain},
		{`[{"op":"mutate","table":"Root","where":[],"mutations":[["n","+=",9223372036854775807]]},{"op":"mutate","table":"Root","where":[],"mutations":[["n","+=",1]]}]`, ErrRange},
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["nums","*=",0]]}]`, ErrConstraint},
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["tags","insert",["set",["1","2","3","4"]]]]}]`, ErrConstraint},
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["tags","insert","waytoolong"]]}]`, ErrConstraint},
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["name","insert","x"]]}]`, ErrConstraint},
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["opts","+=",1]]}]`, ErrSyntax},
		{`[{"op":"mutate","table":"Kid","where":[],"mutations":[["ratio","%=",1]]}]`, ErrSyntax},
		{`[{"op":"update","table":"Kid","where":[],"row":{"color":"blue"}}]`, ErrConstraint},
		{`[{"op":"update","table":"Kid","where":[],"row":{"ratio":2}}]`, ErrConstraint},
		{`[{"op":"update","table":"Kid","where":[],"row":{"_uuid":["uuid","` + a.String() + `"]}}]`, ErrConstraint},
		{`[{"op":"insert","table":"Kid","uuid-name":"x","row":{"name":"c"}},{"op":"insert","table":"Kid","uuid-name":"x","row":{"name":"d"}}]`, ErrDuplicateUUIDName},
		{`[{"op":"insert","table":"Kid","uuid":"` + a.String() + `","row":{"name":"c"}}]`, ErrDuplicateUUID},
		{`[{"op":"insert","table":"Free","row":{"v":["named-uuid","nobody"]}}]`, ErrSyntax},
		{`[{"op":"insert","table":"Root","row":{"kids":["named-uuid","nobody"],"must":["named-uuid","nobody"]}}]`, ErrReferentialIntegrity},
		{`[{"op":"delete","table":"Kid","where":[["name","==","a"]]}]`, ErrReferentialIntegrity},
		{`[{"op":"insert","table":"Root","row":{}}]`, ErrConstraint}, // must: min 1 (a zero UUID dangles weakly → removed → too few)
		{`[{"op":"select","table":"Nope","where":[]}]`, ErrSyntax},
		{`[{"op":"select","table":"Kid","where":[["nums","<",1]]}]`, ErrSyntax},
		{`[{"op":"frobnicate"}]`, ErrSyntax},
		{`[{"op":"wait","table":"Kid","where":[],"until":"==","rows":[],"timeout":0}]`, ErrTimedOut},
		{`[{"op":"assert","lock":"l"}]`, ErrNotOwner},
		{`[{"op":"insert","table":"Free","row":{"v":1}},{"op":"abort"}]`, ErrAborted},
	} {
		_, err := tx(t, db, c.js)
		if errTag(err) != c.tag {
			t.Errorf("%s: %v, want %s", c.js, err, c.tag)
		}
		if after := dump(db); after != before {
			t.Fatalf("%s changed the database", c.js)
		}
	}
	// wait ==, !=; comment; commit.
	mustTx(t, db, `[{"op":"wait","table":"Kid","where":[["name","==","b"]],"columns":["name","level"],"until":"==","rows":[{"name":"b","level":0}],"timeout":0},
		{"op":"wait","table":"Kid","where":[["name","==","b"]],"columns":["name"],"until":"!=","rows":[],"timeout":0},
		{"op":"comment","comment":"hello"},{"op":"commit","durable":true}]`)
	// Deleting a referencing row makes its strong targets unreferenced:
	// garbage collected; the weak reference to b disappears with b.
	mustTx(t, db, `[{"op":"mutate","table":"Root","where":[],"mutations":[["kids","delete",["uuid","`+r[2].UUID.String()+`"]]]}]`)
	if db.Get("Kid", r[2].UUID) != nil {
		t.Fatal("unreferenced Kid b not collected")
	}
	root := db.Rows("Root")[0]
	if len(root.UUIDs("watch")) != 0 {
		t.Fatalf("weak reference to a collected row kept: %v", root.UUIDs("watch"))
	}
	// Deleting a's last strong reference while the weak "must" (min 1)
	// still points at it is a constraint violation.
	if _, err := tx(t, db, `[{"op":"update","table":"Root","where":[],"row":{"kids":["set",[]]}}]`); errTag(err) != ErrConstraint {
		t.Fatalf("weak ref below min: %v", err)
	}
}

func TestIndexAndMaxRows(t *testing.T) {
	db := testDB(t)
	mustTx(t, db, seed)
	_, err := tx(t, db, `[{"op":"insert","table":"Kid","uuid-name":"x","row":{"name":"a"}},{"op":"mutate","table":"Root","where":[],"mutations":[["kids","insert",["named-uuid","x"]]]}]`)
	if errTag(err) != ErrConstraint || !strings.Contains(err.Error(), "identical values") {
		t.Fatalf("index: %v", err)
	}
	// Two rows swapping names in one transaction is fine... (names are
	// immutable here, so: delete a name and reuse it in one transaction).
	mustTx(t, db, `[{"op":"insert","table":"Root","row":{"must":["named-uuid","k"],"kids":["named-uuid","k"]}},{"op":"insert","table":"Kid","uuid-name":"k","row":{"name":"k"}}]`)
	_, err = tx(t, db, `[{"op":"insert","table":"Root","row":{"must":["named-uuid","k"],"kids":["named-uuid","k"]}},{"op":"insert","table":"Kid","uuid-name":"k","row":{"name":"k2"}}]`)
	if errTag(err) != ErrConstraint || !strings.Contains(err.Error(), "limit of 2 row") {
		t.Fatalf("maxRows: %v", err)
	}
}

func dump(db *DB) string {
	var b []byte
	db.Read(func(r Reader) { b = db.snapshotJSON() })
	s := string(b)
	return s[:strings.Index(s, `"_date"`)]
}

func TestCommitHookSubscribeAndEphemeral(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	db, err := Open(path, MustParseSchema([]byte(testSchema)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	remove := db.AddCommitHook(func(c *Commit, after Reader) error {
		for _, ch := range c.Tables["Free"] {
			if ch.New != nil {
				if v, _ := ch.New.Int("v"); v == 13 {
					return errors.New("13 is unlucky")
				}
			}
		}
		return nil
	})
	sub := db.Subscribe(10, "daemon")
	defer sub.Close()
	res, err := tx(t, db, `[{"op":"insert","table":"Free","row":{"v":13}}]`)
	if errTag(err) != ErrConstraint || len(res) != 2 || res[1].Error == nil || !strings.Contains(res[1].Error.Details, "unlucky") {
		t.Fatalf("hook veto: %v %v", err, res)
	}
	remove()
	mustTx(t, db, `[{"op":"insert","table":"Free","row":{"v":13}}]`)
	mustTx(t, db, seed)
	commits, overflow := sub.Next()
	if overflow || len(commits) != 2 || len(commits[1].Tables["Kid"]) != 2 || !commits[1].Durable {
		t.Fatalf("subscription: %v %v", commits, overflow)
	}
	// Status writes: ephemeral only, tagged with the daemon's origin: no
	// disk write, no wake-up of the daemon's own subscription.
	size := fileSize(t, path)
	var kid UUID
	for _, r := range db.Rows("Kid") {
		kid = r.UUID
	}
	_, err = db.Transact(context.Background(), []Operation{{Op: "update", Table: "Kid", Where: []Condition{{Column: "_uuid", Function: "==", Value: Scalar(kid)}},
		Row: map[string]Datum{"stat": {Keys: []Atom{"rx"}, Values: []Atom{int64(5)}}}}}, TxnOptions{Origin: "daemon"})
	if err != nil {
		t.Fatal(err)
	}
	if fileSize(t, path) != size {
		t.Fatal("an ephemeral-only transaction was written to disk")
	}
	if c, _ := sub.Next(); len(c) != 0 {
		t.Fatalf("the daemon's own status write reached its subscription: %v", c)
	}
	// Overflow: the consumer is told to resync.
	for i := 0; i < 12; i++ {
		mustTx(t, db, `[{"op":"mutate","table":"Free","where":[],"mutations":[["v","+=",1]]}]`)
	}
	if c, o := sub.Next(); !o || len(c) != 0 {
		t.Fatalf("overflow not reported: %d %v", len(c), o)
	}
}

func fileSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestDurabilityReopenTornTailCompaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	schema := MustParseSchema([]byte(testSchema))
	db, err := Open(path, schema, Options{CompactMinBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	mustTx(t, db, seed)
	for i := 0; i < 20; i++ {
		mustTx(t, db, `[{"op":"mutate","table":"Kid","where":[["name","==","a"]],"mutations":[["nums","insert",`+itoa(100+i)+`]]},{"op":"comment","comment":"step"}]`)
	}
	want := dump(db)
	last := db.LastTxnID()
	db.Close()
	// A torn record at the end (a crash mid-write) is dropped.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("OVSDB JSON 500 0123456789012345678901234567890123456789\n{\"Free\":")
	f.Close()
	db, err = Open(path, schema, Options{CompactMinBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(db); got != want {
		t.Fatalf("reopen:\n%s\nwant\n%s", got, want)
	}
	if db.LastTxnID() != last {
		t.Fatal("the last transaction id changed across a restart")
	}
	mustTx(t, db, `[{"op":"insert","table":"Free","row":{"v":1}}]`)
	want = dump(db)
	// Open vSwitch's own tools read the file.
	if tool, err := exec.LookPath("ovsdb-tool"); err == nil {
		out, err := exec.Command(tool, "show-log", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "step") {
			t.Fatalf("ovsdb-tool show-log: %v\n%s", err, out)
		}
		out, err = exec.Command(tool, "query", path, `["T",{"op":"select","table":"Kid","where":[["name","==","a"]],"columns":["nums"]}]`).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "119") {
			t.Fatalf("ovsdb-tool query: %v\n%s", err, out)
		}
	} else if os.Getuid() == 0 {
		t.Fatal("ovsdb-tool is needed (openvswitch-common)")
	}
	before := fileSize(t, path)
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	if after := fileSize(t, path); after >= before {
		t.Fatalf("compaction did not shrink the file: %d → %d", before, after)
	}
	mustTx(t, db, `[{"op":"insert","table":"Free","row":{"v":2}}]`)
	want = dump(db)
	db.Close()
	db, err = Open(path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := dump(db); got != want {
		t.Fatalf("after compaction:\n%s\nwant\n%s", got, want)
	}
	// Automatic compaction keeps the file bounded.
	db2path := filepath.Join(dir, "auto.db")
	db2, err := Open(db2path, schema, Options{CompactMinBytes: 16 << 10, CompactRatio: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	mustTx(t, db2, `[{"op":"insert","table":"Free","row":{"v":0}}]`)
	for i := 0; i < 2000; i++ {
		mustTx(t, db2, `[{"op":"mutate","table":"Free","where":[],"mutations":[["v","+=",1]]}]`)
	}
	if s := fileSize(t, db2path); s > 64<<10 {
		t.Fatalf("file grew to %d bytes despite compaction", s)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Schema conversion: a file written with an older schema opens with a new
// one; dropped columns go, new ones take defaults.
func TestOpenConvertsSchema(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	old := MustParseSchema([]byte(`{"name":"T","version":"0.9.0","tables":{"Free":{"isRoot":true,"columns":{"v":{"type":"integer"},"gone":{"type":"string"}}}}}`))
	db, err := Open(path, old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustTx(t, db, `[{"op":"insert","table":"Free","row":{"v":7,"gone":"x"}}]`)
	db.Close()
	db, err = Open(path, MustParseSchema([]byte(testSchema)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := db.Rows("Free")
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	if v, _ := rows[0].Int("v"); v != 7 {
		t.Fatalf("v = %d", v)
	}
}

// The daemon's status path: UpdateRow with NoSync writes a record without
// fsync; it is on disk after Close and reads back.
func TestStatusWriteNoSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	schema := MustParseSchema([]byte(testSchema))
	db, err := Open(path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := mustTx(t, db, `[{"op":"insert","table":"Free","row":{"v":1}}]`)
	var commit *Commit
	cancel := db.OnCommit(nil, func(c *Commit) { commit = c })
	if err := db.UpdateRow("Free", r[0].UUID, map[string]Datum{"v": Scalar(int64(2))}, TxnOptions{Origin: "daemon", NoSync: true}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if commit == nil || commit.Durable || commit.Origin != "daemon" {
		t.Fatalf("commit %+v", commit)
	}
	if err := db.UpdateRow("Free", NewUUID(), map[string]Datum{"v": Scalar(int64(2))}, TxnOptions{}); err == nil {
		t.Fatal("UpdateRow of a missing row succeeded")
	}
	db.Close()
	db, err = Open(path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Get("Free", r[0].UUID).Int("v"); v != 2 {
		t.Fatalf("v = %d after reopen", v)
	}
}
