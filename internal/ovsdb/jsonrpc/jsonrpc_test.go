package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReaderSplitsMessages(t *testing.T) {
	in := ` {"a":"}{[\"x"} [1,[2]]
{"b":{"c":[]}}`
	rd := NewReader(strings.NewReader(in), 0)
	var got []string
	for {
		m, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m))
	}
	want := []string{`{"a":"}{[\"x"}`, `[1,[2]]`, `{"b":{"c":[]}}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

func TestReaderErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":[}`:    "closes",
		`123`:        "must be a JSON object",
		`{"a":1`:     "unexpected EOF",
		"{\"\x01\"}": "control character",
	} {
		_, err := NewReader(strings.NewReader(in), 0).Next()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	_, err := NewReader(strings.NewReader(`{"a":"`+strings.Repeat("x", 100)+`"}`), 50).Next()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

// FuzzReader: any byte stream splits into messages that are each valid
// JSON (when Decode accepts them) and never panics.
func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"id":1,"method":"echo","params":[]}{"id":null,"method":"update","params":["x",{}]}`))
	f.Add([]byte(`{"id":1,"method":"transact","params":["Open_vSwitch",{"op":"insert","table":"Bridge","row":{"name":"br0"}}]}`))
	f.Add([]byte(`[{"a":"\"}"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data), 1<<16)
		for i := 0; i < 100; i++ {
			m, err := rd.Next()
			if err != nil {
				return
			}
			if !json.Valid(m) {
				// The framer only splits; an invalid body must then fail Decode.
				if _, err := Decode(m); err == nil {
					t.Fatalf("invalid JSON %q decoded", m)
				}
				continue
			}
			if msg, err := Decode(m); err == nil {
				_, _ = DecodeParams(msg.Params)
			}
		}
	})
}
