package wire

import (
	"hash/fnv"
	"testing"
)

func TestFNVMatchesStdlib(t *testing.T) {
	for _, s := range []string{"", "a", "hello world", "02:00:00:00:00:01"} {
		h := fnv.New128a()
		h.Write([]byte(s))
		want := h.Sum(nil)
		f := newFNV()
		for i := 0; i < len(s); i++ {
			f.byte(s[i])
		}
		var got [16]byte
		for i := 0; i < 8; i++ {
			got[i] = byte(f.hi >> (56 - 8*i))
			got[8+i] = byte(f.lo >> (56 - 8*i))
		}
		if string(got[:]) != string(want) {
			t.Fatalf("%q: got %x want %x", s, got, want)
		}
	}
}
