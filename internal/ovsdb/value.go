package ovsdb

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// UUID is a row's identity (RFC 4122 layout, printed 8-4-4-4-12).
type UUID [16]byte

// ZeroUUID is the all-zero UUID (the "no transaction" id of update3).
var ZeroUUID UUID

// NewUUID returns a random (version 4) UUID.
func NewUUID() UUID {
	var u UUID
	a, b := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// String formats the UUID as 8-4-4-4-12 lowercase hex digits.
func (u UUID) String() string {
	var b [36]byte
	u.put(&b)
	return string(b[:])
}

func (u UUID) put(b *[36]byte) {
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
}

// AppendText appends the 8-4-4-4-12 form.
func (u UUID) AppendText(b []byte) []byte {
	var t [36]byte
	u.put(&t)
	return append(b, t[:]...)
}

// ParseUUID parses the 8-4-4-4-12 form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits)", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits)", s)
	}
	return u, nil
}

// NamedUUID is a reference, inside one transaction, to the row that an
// insert operation of the same transaction named with "uuid-name". It is
// resolved to the row's UUID when the operation runs.
type NamedUUID string

// An Atom is one value of an atomic type: int64 (integer), float64 (real),
// bool (boolean), string (string) or UUID (uuid); NamedUUID is accepted in
// transactions in place of a UUID.
type Atom = any

// Datum is a column's value: a set of atoms (Values nil) or a map (Keys and
// Values of the same length). Keys are kept in canonical (sorted) order and
// are unique; a scalar column holds a one-element set.
type Datum struct {
	Keys   []Atom
	Values []Atom
}

// Scalar returns a one-atom datum.
func Scalar(a Atom) Datum { return Datum{Keys: []Atom{a}} }

// Set returns a set datum of the atoms, sorted and deduplicated.
func Set(atoms ...Atom) Datum {
	d := Datum{Keys: append([]Atom(nil), atoms...)}
	d.sort()
	return d
}

// StringMap returns a map datum from a Go map of strings.
func StringMap(m map[string]string) Datum {
	d := Datum{Keys: make([]Atom, 0, len(m)), Values: make([]Atom, 0, len(m))}
	for k, v := range m {
		d.Keys = append(d.Keys, k)
		d.Values = append(d.Values, v)
	}
	d.sort()
	if d.Values == nil {
		d.Values = []Atom{}
	}
	return d
}

// EmptyMap returns an empty map datum.
func EmptyMap() Datum { return Datum{Keys: []Atom{}, Values: []Atom{}} }

// IsMap says whether the datum is a map.
func (d Datum) IsMap() bool { return d.Values != nil }

// Len is the number of elements (atoms or pairs).
func (d Datum) Len() int { return len(d.Keys) }

// Clone returns a copy that shares no slices with d.
func (d Datum) Clone() Datum {
	n := Datum{Keys: slices.Clone(d.Keys)}
	if d.Values != nil {
		n.Values = slices.Clone(d.Values)
		if n.Values == nil {
			n.Values = []Atom{}
		}
	}
	return n
}

// Find returns the index of key k, or -1.
func (d Datum) Find(k Atom) int {
	i, ok := slices.BinarySearchFunc(d.Keys, k, CompareAtoms)
	if !ok {
		return -1
	}
	return i
}

// Get returns the value of map key k.
func (d Datum) Get(k Atom) (Atom, bool) {
	i := d.Find(k)
	if i < 0 || d.Values == nil {
		return nil, false
	}
	return d.Values[i], true
}

// atomKind orders atoms of different Go types (only happens for bad input).
func atomKind(a Atom) int {
	switch a.(type) {
	case int64:
		return 0
	case float64:
		return 1
	case bool:
		return 2
	case string:
		return 3
	case UUID:
		return 4
	case NamedUUID:
		return 5
	}
	return 6
}

// CompareAtoms orders atoms: numbers numerically, false before true,
// strings and UUIDs bytewise (Open vSwitch's order).
func CompareAtoms(a, b Atom) int {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case UUID:
		if y, ok := b.(UUID); ok {
			return bytes.Compare(x[:], y[:])
		}
	case NamedUUID:
		if y, ok := b.(NamedUUID); ok {
			return strings.Compare(string(x), string(y))
		}
	}
	return atomKind(a) - atomKind(b)
}

// sort puts keys (and values) in canonical order. It reports whether a key
// appeared twice (the later duplicate is dropped).
func (d *Datum) sort() (dup bool) {
	if len(d.Keys) < 2 {
		return false
	}
	if d.Values == nil {
		slices.SortFunc(d.Keys, CompareAtoms)
		n := 1
		for i := 1; i < len(d.Keys); i++ {
			if CompareAtoms(d.Keys[i], d.Keys[n-1]) == 0 {
				dup = true
				continue
			}
			d.Keys[n] = d.Keys[i]
			n++
		}
		d.Keys = d.Keys[:n]
		return dup
	}
	idx := make([]int, len(d.Keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int { return CompareAtoms(d.Keys[i], d.Keys[j]) })
	k := make([]Atom, 0, len(idx))
	v := make([]Atom, 0, len(idx))
	for _, i := range idx {
		if len(k) > 0 && CompareAtoms(k[len(k)-1], d.Keys[i]) == 0 {
			dup = true
			continue
		}
		k = append(k, d.Keys[i])
		v = append(v, d.Values[i])
	}
	d.Keys, d.Values = k, v
	return dup
}

// Equal says whether two datums hold the same elements.
func (d Datum) Equal(o Datum) bool {
	if len(d.Keys) != len(o.Keys) || (d.Values == nil) != (o.Values == nil) && len(d.Keys) > 0 {
		return false
	}
	for i := range d.Keys {
		if CompareAtoms(d.Keys[i], o.Keys[i]) != 0 {
			return false
		}
		if d.Values != nil && o.Values != nil && CompareAtoms(d.Values[i], o.Values[i]) != 0 {
			return false
		}
	}
	return true
}

// Compare orders datums (element by element, then by length).
func (d Datum) Compare(o Datum) int {
	for i := 0; i < len(d.Keys) && i < len(o.Keys); i++ {
		if c := CompareAtoms(d.Keys[i], o.Keys[i]); c != 0 {
			return c
		}
		if d.Values != nil && o.Values != nil {
			if c := CompareAtoms(d.Values[i], o.Values[i]); c != 0 {
				return c
			}
		}
	}
	return len(d.Keys) - len(o.Keys)
}

// String formats the datum in RFC 7047 JSON notation.
func (d Datum) String() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// ---- JSON ----

func appendAtomJSON(b []byte, a Atom) []byte {
	switch x := a.(type) {
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return append(b, '0')
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			// Keep a fraction so the value reads back as a real.
			return strconv.AppendFloat(b, x, 'f', 1, 64)
		}
		return strconv.AppendFloat(b, x, 'g', 17, 64)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendJSONString(b, x)
	case UUID:
		b = append(b, `["uuid","`...)
		b = x.AppendText(b)
		return append(b, `"]`...)
	case NamedUUID:
		b = append(b, `["named-uuid",`...)
		b = appendJSONString(b, string(x))
		return append(b, ']')
	}
	return append(b, "null"...)
}

func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendJSON appends the datum in RFC 7047 notation: a map as
// ["map",[[k,v]…]], a one-element set as its atom, any other set as
// ["set",[…]].
func (d Datum) AppendJSON(b []byte) []byte {
	switch {
	case d.Values != nil:
		b = append(b, `["map",[`...)
		for i := range d.Keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendAtomJSON(b, d.Keys[i])
			b = append(b, ',')
			b = appendAtomJSON(b, d.Values[i])
			b = append(b, ']')
		}
		return append(b, "]]"...)
	case len(d.Keys) == 1:
		return appendAtomJSON(b, d.Keys[0])
	default:
		b = append(b, `["set",[`...)
		for i, k := range d.Keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAtomJSON(b, k)
		}
		return append(b, "]]"...)
	}
}

// MarshalJSON implements json.Marshaler.
func (d Datum) MarshalJSON() ([]byte, error) { return d.AppendJSON(nil), nil }

// UnmarshalJSON implements json.Unmarshaler (untyped: see ParseDatum).
func (d *Datum) UnmarshalJSON(b []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	x, err := ParseDatum(v)
	if err != nil {
		return err
	}
	*d = x
	return nil
}

// ParseAtom decodes an atom from decoded JSON (numbers as json.Number or
// float64). Integers become int64; numbers with a fraction or exponent
// become float64 (a real column accepts both).
func ParseAtom(v any) (Atom, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, syntaxErr("integer %s out of range", s)
			}
			return n, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, syntaxErr("real %s out of range", s)
		}
		return f, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x), nil
		}
		return x, nil
	case bool:
		return x, nil
	case string:
		return x, nil
	case []any:
		if len(x) == 2 {
			tag, _ := x[0].(string)
			s, ok := x[1].(string)
			switch {
			case tag == "uuid" && ok:
				u, err := ParseUUID(s)
				if err != nil {
					return nil, syntaxErr("%v", err)
				}
				return u, nil
			case tag == "named-uuid" && ok:
				if !isID(s) {
					return nil, syntaxErr("named-uuid %q is not an identifier", s)
				}
				return NamedUUID(s), nil
			}
		}
	}
	return nil, syntaxErr("%s is not an atom (integer, real, boolean, string, [\"uuid\",…] or [\"named-uuid\",…])", short(v))
}

// ParseDatum decodes a datum from decoded JSON: an atom, ["set",[…]] or
// ["map",[[k,v]…]]. The result is in canonical order; duplicate set
// elements or map keys are a syntax error.
func ParseDatum(v any) (Datum, error) {
	if arr, ok := v.([]any); ok && len(arr) == 2 {
		if tag, _ := arr[0].(string); tag == "set" || tag == "map" {
			elems, ok := arr[1].([]any)
			if !ok {
				return Datum{}, syntaxErr("%s needs an array of elements", tag)
			}
			d := Datum{Keys: make([]Atom, 0, len(elems))}
			if tag == "map" {
				d.Values = make([]Atom, 0, len(elems))
			}
			for _, e := range elems {
				if tag == "set" {
					a, err := ParseAtom(e)
					if err != nil {
						return Datum{}, err
					}
					d.Keys = append(d.Keys, a)
					continue
				}
				pair, ok := e.([]any)
				if !ok || len(pair) != 2 {
					return Datum{}, syntaxErr("map element %s is not a [key, value] pair", short(e))
				}
				k, err := ParseAtom(pair[0])
				if err != nil {
					return Datum{}, err
				}
				val, err := ParseAtom(pair[1])
				if err != nil {
					return Datum{}, err
				}
				d.Keys = append(d.Keys, k)
				d.Values = append(d.Values, val)
			}
			if d.sort() {
				return Datum{}, syntaxErr("%s contains duplicate %s", tag, map[string]string{"set": "elements", "map": "keys"}[tag])
			}
			return d, nil
		}
	}
	a, err := ParseAtom(v)
	if err != nil {
		return Datum{}, err
	}
	return Datum{Keys: []Atom{a}}, nil
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

func isID(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
