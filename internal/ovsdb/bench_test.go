package ovsdb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

func benchDB(b *testing.B, file bool) *DB {
	b.Helper()
	schema := MustParseSchema([]byte(testSchema))
	if !file {
		return New(schema, Options{})
	}
	db, err := Open(filepath.Join(b.TempDir(), "b.db"), schema, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// One small transaction through the typed API: in memory, and with the
// fsync a durable commit costs on this machine.
func BenchmarkTransactUpdate(b *testing.B) {
	for _, file := range []bool{false, true} {
		b.Run(fmt.Sprintf("file=%v", file), func(b *testing.B) {
			db := benchDB(b, file)
			res, err := db.Transact(context.Background(), []Operation{Insert("Free", "", map[string]Datum{"v": Scalar(int64(0))})}, TxnOptions{})
			if err != nil {
				b.Fatal(err)
			}
			u := res[0].UUID
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.UpdateRow("Free", u, map[string]Datum{"v": Scalar(int64(i))}, TxnOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The initial dump of a monitor composes straight from the rows.
func BenchmarkRowsJSON10k(b *testing.B) {
	db := benchDB(b, false)
	ops := []Operation{Insert("Root", "r", map[string]Datum{"must": Scalar(NamedUUID("k0"))})}
	var kids []Atom
	for i := 0; i < 10000; i++ {
		n := fmt.Sprintf("k%d", i)
		kids = append(kids, NamedUUID(n))
		ops = append(ops, Insert("Kid", n, map[string]Datum{"name": Scalar(n), "level": Scalar(int64(i % 10)), "opts": StringMap(map[string]string{"a": n})}))
	}
	ops[0].Row["kids"] = Set(kids...)
	if _, err := db.Transact(context.Background(), ops, TxnOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		db.Read(func(r Reader) {
			r.Rows("Kid", func(row *Row) bool { buf = row.AppendJSON(buf, nil, true); return true })
		})
	}
	b.SetBytes(int64(len(buf)))
}
