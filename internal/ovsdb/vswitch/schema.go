// Package vswitch holds Switchyard's Open_vSwitch database schema: Open
// vSwitch's table and column names and types (so ovs-vsctl and every other
// OVSDB client of Open vSwitch work unchanged), written in the compact
// notation of schema.txt, which also says for each column whether the
// daemon acts on it, writes it as status, or only stores it.
package vswitch

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
)

//go:embed schema.txt
var schemaText string

// Name and Version of the schema. The version is Open vSwitch 3.1's
// (8.3.1): the tables and columns are the same, so clients that check it
// see what they expect.
const (
	Name    = "Open_vSwitch"
	Version = "8.3.1"
)

var (
	once    sync.Once
	schema  *ovsdb.Schema
	rawJSON []byte
	usage   map[string]string
)

// Schema returns the parsed schema.
func Schema() *ovsdb.Schema {
	once.Do(build)
	return schema
}

// JSON returns the schema in RFC 7047 notation (what get_schema serves).
func JSON() []byte {
	once.Do(build)
	return rawJSON
}

// Usage returns, per "Table.column", what Switchyard does with it: "acts",
// "status" or "stored" (with the note of schema.txt).
func Usage() map[string]string {
	once.Do(build)
	return usage
}

func build() {
	raw, use, err := compile(schemaText)
	if err != nil {
		panic("vswitch schema: " + err.Error())
	}
	rawJSON, usage = raw, use
	schema = ovsdb.MustParseSchema(raw)
}

type jcol struct {
	Type      any   `json:"type"`
	Ephemeral *bool `json:"ephemeral,omitempty"`
	Mutable   *bool `json:"mutable,omitempty"`
}

type jtable struct {
	Columns map[string]jcol `json:"columns"`
	IsRoot  *bool           `json:"isRoot,omitempty"`
	MaxRows *int            `json:"maxRows,omitempty"`
	Indexes [][]string      `json:"indexes,omitempty"`
}

// compile turns schema.txt into RFC 7047 JSON.
func compile(text string) ([]byte, map[string]string, error) {
	tables := map[string]*jtable{}
	use := map[string]string{}
	var cur *jtable
	var curName string
	for n, line := range strings.Split(text, "\n") {
		code, comment, _ := strings.Cut(line, "#")
		f := tokens(code)
		if len(f) == 0 {
			continue
		}
		where := fmt.Sprintf("schema.txt:%d", n+1)
		if f[0] == "table" {
			if len(f) < 2 {
				return nil, nil, fmt.Errorf("%s: table needs a name", where)
			}
			curName = f[1]
			cur = &jtable{Columns: map[string]jcol{}}
			tables[curName] = cur
			for _, a := range f[2:] {
				switch {
				case a == "root":
					t := true
					cur.IsRoot = &t
				case strings.HasPrefix(a, "maxRows="):
					v, err := strconv.Atoi(a[8:])
					if err != nil {
						return nil, nil, fmt.Errorf("%s: %s", where, a)
					}
					cur.MaxRows = &v
				case strings.HasPrefix(a, "index="):
					cur.Indexes = append(cur.Indexes, strings.Split(a[6:], ","))
				default:
					return nil, nil, fmt.Errorf("%s: unknown table attribute %q", where, a)
				}
			}
			continue
		}
		if cur == nil {
			return nil, nil, fmt.Errorf("%s: column outside a table", where)
		}
		name := f[0]
		rest := f[1:]
		var key, value any
		var err error
		if len(rest) > 0 && rest[0] == "map" {
			if len(rest) < 3 {
				return nil, nil, fmt.Errorf("%s: map needs a key and a value type", where)
			}
			if key, err = baseType(rest[1]); err == nil {
				value, err = baseType(rest[2])
			}
			rest = rest[3:]
		} else if len(rest) > 0 {
			key, err = baseType(rest[0])
			rest = rest[1:]
		} else {
			err = fmt.Errorf("missing type")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: column %s: %w", where, name, err)
		}
		min, max := 1, any(1)
		var col jcol
		for _, a := range rest {
			switch {
			case a == "ephemeral":
				t := true
				col.Ephemeral = &t
			case a == "immutable":
				f := false
				col.Mutable = &f
			case strings.Contains(a, ".."):
				lo, hi, _ := strings.Cut(a, "..")
				if min, err = strconv.Atoi(lo); err != nil {
					return nil, nil, fmt.Errorf("%s: %s", where, a)
				}
				if hi == "*" {
					max = "unlimited"
				} else if max, err = strconv.Atoi(hi); err != nil {
					return nil, nil, fmt.Errorf("%s: %s", where, a)
				}
			default:
				return nil, nil, fmt.Errorf("%s: unknown column attribute %q", where, a)
			}
		}
		t := map[string]any{"key": key}
		if value != nil {
			t["value"] = value
		}
		if min != 1 {
			t["min"] = min
		}
		if max != any(1) {
			t["max"] = max
		}
		col.Type = t
		cur.Columns[name] = col
		use[curName+"."+name] = strings.TrimSpace(comment)
	}
	doc := map[string]any{"name": Name, "version": Version, "tables": tables}
	raw, err := json.MarshalIndent(doc, "", " ")
	return raw, use, err
}

// tokens splits on spaces, keeping parenthesised groups whole.
func tokens(s string) []string {
	var out []string
	depth, start := 0, -1
	for i, c := range s {
		switch {
		case c == '(':
			if depth == 0 && start < 0 {
				start = i
			}
			depth++
		case c == ')':
			depth--
		case (c == ' ' || c == '\t') && depth == 0:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, strings.TrimSpace(s[start:]))
	}
	return out
}

// baseType turns "integer" or "(integer min=0 max=4095)" into JSON.
func baseType(s string) (any, error) {
	if !strings.HasPrefix(s, "(") {
		return s, nil
	}
	f := strings.Fields(strings.Trim(s, "()"))
	if len(f) == 0 {
		return nil, fmt.Errorf("empty type %q", s)
	}
	bt := map[string]any{"type": f[0]}
	for _, a := range f[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "min", "max":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
			name := map[string]string{"min": "minInteger", "max": "maxInteger"}[k]
			if f[0] == "string" {
				name = map[string]string{"min": "minLength", "max": "maxLength"}[k]
			}
			bt[name] = n
		case "enum":
			vals := []any{}
			for _, e := range strings.Split(v, "|") {
				vals = append(vals, e)
			}
			bt["enum"] = []any{"set", vals}
		case "ref":
			bt["refTable"] = v
		case "weak":
			bt["refType"] = "weak"
		default:
			return nil, fmt.Errorf("unknown constraint %q", a)
		}
	}
	return bt, nil
}
