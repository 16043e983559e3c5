package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
	"github.com/switchyard-net/switchyard/internal/ovsdb/vswitch"
)

// FuzzSession feeds arbitrary bytes to a server session: it answers or
// closes, never panics, and the database keeps working for the next
// client.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"method":"transact","params":["Open_vSwitch",{"op":"insert","table":"Bridge","row":{"name":"br0"}}]}`,
		`{"id":1,"method":"monitor_cond","params":["Open_vSwitch","m",{"Bridge":[{"where":[["name","==","x"]],"select":{"initial":false}}]}]}{"id":2,"method":"monitor_cond_change","params":["m","n",{"Bridge":[{"where":[true]}]}]}`,
		`{"id":1,"method":"monitor_cond_since","params":["Open_vSwitch","m",{"Port":{}},"00000000-0000-0000-0000-000000000000"]}`,
		`{"id":1,"method":"lock","params":["a"]}{"id":2,"method":"steal","params":["a"]}{"id":3,"method":"unlock","params":["a"]}`,
		`{"id":1,"method":"echo","params":[]}{"id":null,"method":"cancel","params":[1]}`,
		`{"id":[1],"method":"monitor","params":["_Server",null,{"Database":{"columns":["name"]}}]}`,
	} {
		f.Add([]byte(s))
	}
	db := ovsdb.New(vswitch.Schema(), ovsdb.Options{})
	srv := New(Config{WriteTimeout: time.Second})
	if err := srv.AddDB(db); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() { defer close(done); srv.ServeConn(ctx, a) }()
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := b.Read(buf); err != nil {
					return
				}
			}
		}()
		b.SetWriteDeadline(time.Now().Add(time.Second))
		b.Write(data)
		b.Close()
		<-done
		if _, err := db.Transact(ctx, []ovsdb.Operation{ovsdb.Select("Bridge", nil)}, ovsdb.TxnOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
