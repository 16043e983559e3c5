package ovsdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// AtomicType is one of RFC 7047's atomic types.
type AtomicType int

// The atomic types.
const (
	TypeInteger AtomicType = iota + 1
	TypeReal
	TypeBoolean
	TypeString
	TypeUUID
)

var atomicNames = map[string]AtomicType{"integer": TypeInteger, "real": TypeReal, "boolean": TypeBoolean, "string": TypeString, "uuid": TypeUUID}

func (t AtomicType) String() string {
	for n, v := range atomicNames {
		if v == t {
			return n
		}
	}
	return "invalid"
}

// RefType says what a reference does when its target goes away.
type RefType int

// Reference kinds: a strong reference keeps its target alive and may not
// dangle; a weak one is removed when its target is deleted.
const (
	RefStrong RefType = iota
	RefWeak
)

// Unlimited is the Max of a set or map column with "max": "unlimited".
const Unlimited = math.MaxInt

// BaseType is the type of a column's keys or values, with its constraints.
type BaseType struct {
	Type AtomicType
	// Enum, when not nil, is the set of allowed values.
	Enum *Datum
	// MinInteger and MaxInteger bound an integer (inclusive).
	MinInteger, MaxInteger int64
	// MinReal and MaxReal bound a real (inclusive).
	MinReal, MaxReal float64
	// MinLength and MaxLength bound a string's length in bytes.
	MinLength, MaxLength int
	// RefTable is the table a uuid refers to ("" = not a reference).
	RefTable string
	RefType  RefType
}

// ColumnType is a column's type: a set of Min..Max keys, or a map when
// Value is set.
type ColumnType struct {
	Key   BaseType
	Value *BaseType
	Min   int
	Max   int
}

// IsMap says whether the column holds a map.
func (t *ColumnType) IsMap() bool { return t.Value != nil }

// IsScalar says whether the column holds exactly one atom.
func (t *ColumnType) IsScalar() bool { return t.Value == nil && t.Min == 1 && t.Max == 1 }

// IsOptional says whether the column holds zero or one atom.
func (t *ColumnType) IsOptional() bool { return t.Value == nil && t.Min == 0 && t.Max == 1 }

// Column is a column of a table schema.
type Column struct {
	Name      string
	Type      ColumnType
	Mutable   bool
	Ephemeral bool
	// Index is the column's position in a Row's Cols (for user columns;
	// _uuid and _version are -1 and -2).
	Index int
	// refs says whether keys or values refer to rows; dstKey and dstValue
	// are the tables they refer to.
	refs             bool
	dstKey, dstValue *Table
}

// Index columns positions of _uuid and _version.
const (
	colUUID    = -1
	colVersion = -2
)

// Table is a table schema.
type Table struct {
	Name    string
	Columns map[string]*Column
	// Cols lists the user columns in the order of Row.Cols.
	Cols    []*Column
	MaxRows int // 0 = unlimited
	IsRoot  bool
	// Indexes lists, per index, the user columns it covers.
	Indexes [][]*Column
	// refsIn lists columns of other tables that refer to this one.
	refsIn []refCol
}

type refCol struct {
	table *Table
	col   *Column
}

// Schema is a parsed, checked database schema.
type Schema struct {
	Name    string
	Version string
	Cksum   string
	Tables  map[string]*Table
	// raw is the schema's JSON, as served by get_schema.
	raw json.RawMessage
}

// JSON returns the schema in RFC 7047 notation.
func (s *Schema) JSON() json.RawMessage { return s.raw }

// TableNames returns the tables' names, sorted.
func (s *Schema) TableNames() []string {
	n := make([]string, 0, len(s.Tables))
	for k := range s.Tables {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

var uuidCol = &Column{Name: "_uuid", Type: ColumnType{Key: BaseType{Type: TypeUUID}, Min: 1, Max: 1}, Index: colUUID}
var versionCol = &Column{Name: "_version", Type: ColumnType{Key: BaseType{Type: TypeUUID}, Min: 1, Max: 1}, Index: colVersion}

// Column returns a column by name, including _uuid and _version.
func (t *Table) Column(name string) *Column {
	switch name {
	case "_uuid":
		return uuidCol
	case "_version":
		return versionCol
	}
	return t.Columns[name]
}

type jsonSchema struct {
	Name    *string                    `json:"name"`
	Version *string                    `json:"version"`
	Cksum   *string                    `json:"cksum"`
	Tables  map[string]json.RawMessage `json:"tables"`
}

type jsonTable struct {
	Columns map[string]json.RawMessage `json:"columns"`
	MaxRows *json.Number               `json:"maxRows"`
	IsRoot  *bool                      `json:"isRoot"`
	Indexes [][]string                 `json:"indexes"`
}

type jsonColumn struct {
	Type      json.RawMessage `json:"type"`
	Ephemeral *bool           `json:"ephemeral"`
	Mutable   *bool           `json:"mutable"`
}

func strictUnmarshal(b []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ParseSchema parses and checks a schema (RFC 7047 section 3.2, with Open
// vSwitch's extensions: indexes, isRoot, mutable, ephemeral).
func ParseSchema(raw []byte) (*Schema, error) {
	var js jsonSchema
	if err := strictUnmarshal(raw, &js, "schema"); err != nil {
		return nil, err
	}
	if js.Name == nil || !isID(*js.Name) {
		return nil, fmt.Errorf("schema: name: missing or not an identifier")
	}
	s := &Schema{Name: *js.Name, Tables: map[string]*Table{}}
	if js.Version != nil {
		if !validVersion(*js.Version) {
			return nil, fmt.Errorf("schema: version %q: allowed: x.y.z with decimal numbers", *js.Version)
		}
		s.Version = *js.Version
	}
	if js.Cksum != nil {
		s.Cksum = *js.Cksum
	}
	if len(js.Tables) == 0 {
		return nil, fmt.Errorf("schema: tables: at least one table is required")
	}
	anyRoot := false
	for name, rt := range js.Tables {
		if !isID(name) || strings.HasPrefix(name, "_") {
			return nil, fmt.Errorf("schema: table name %q: allowed: an identifier not starting with _", name)
		}
		var jt jsonTable
		if err := strictUnmarshal(rt, &jt, "table "+name); err != nil {
			return nil, err
		}
		t := &Table{Name: name, Columns: map[string]*Column{}}
		if jt.MaxRows != nil {
			n, err := jt.MaxRows.Int64()
			if err != nil || n < 1 || n > math.MaxInt32 {
				return nil, fmt.Errorf("table %s: maxRows %s: allowed: a positive integer", name, *jt.MaxRows)
			}
			t.MaxRows = int(n)
		}
		if jt.IsRoot != nil {
			t.IsRoot = *jt.IsRoot
			anyRoot = anyRoot || t.IsRoot
		}
		if len(jt.Columns) == 0 {
			return nil, fmt.Errorf("table %s: columns: at least one column is required", name)
		}
		names := make([]string, 0, len(jt.Columns))
		for cn := range jt.Columns {
			names = append(names, cn)
		}
		sort.Strings(names)
		for _, cn := range names {
			if !isID(cn) || strings.HasPrefix(cn, "_") {
				return nil, fmt.Errorf("table %s: column name %q: allowed: an identifier not starting with _", name, cn)
			}
			var jc jsonColumn
			if err := strictUnmarshal(jt.Columns[cn], &jc, "column "+name+"."+cn); err != nil {
				return nil, err
			}
			ct, err := parseColumnType(jc.Type)
			if err != nil {
				return nil, fmt.Errorf("table %s column %s: %w", name, cn, err)
			}
			c := &Column{Name: cn, Type: ct, Mutable: true, Index: len(t.Cols)}
			if jc.Mutable != nil {
				c.Mutable = *jc.Mutable
			}
			if jc.Ephemeral != nil {
				c.Ephemeral = *jc.Ephemeral
			}
			c.refs = ct.Key.RefTable != "" || (ct.Value != nil && ct.Value.RefTable != "")
			t.Columns[cn] = c
			t.Cols = append(t.Cols, c)
		}
		for _, idx := range jt.Indexes {
			if len(idx) == 0 {
				return nil, fmt.Errorf("table %s: index: at least one column is required", name)
			}
			var cols []*Column
			for _, cn := range idx {
				c := t.Columns[cn]
				if c == nil {
					return nil, fmt.Errorf("table %s: index column %q: no such column", name, cn)
				}
				if c.Ephemeral {
					return nil, fmt.Errorf("table %s: index column %q: ephemeral columns may not be indexed", name, cn)
				}
				cols = append(cols, c)
			}
			t.Indexes = append(t.Indexes, cols)
		}
		s.Tables[name] = t
	}
	if !anyRoot {
		// RFC 7047: a schema with no root table treats every table as root.
		for _, t := range s.Tables {
			t.IsRoot = true
		}
	}
	for _, t := range s.Tables {
		for _, c := range t.Cols {
			for _, bt := range []*BaseType{&c.Type.Key, c.Type.Value} {
				if bt == nil || bt.RefTable == "" {
					continue
				}
				dst := s.Tables[bt.RefTable]
				if dst == nil {
					return nil, fmt.Errorf("table %s column %s: refTable %q: no such table", t.Name, c.Name, bt.RefTable)
				}
				if bt == &c.Type.Key {
					c.dstKey = dst
				} else {
					c.dstValue = dst
				}
				if !slices.ContainsFunc(dst.refsIn, func(r refCol) bool { return r.col == c }) {
					dst.refsIn = append(dst.refsIn, refCol{t, c})
				}
			}
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	s.raw = compact.Bytes()
	return s, nil
}

// MustParseSchema is ParseSchema for schemas compiled into the program.
func MustParseSchema(raw []byte) *Schema {
	s, err := ParseSchema(raw)
	if err != nil {
		panic(err)
	}
	return s
}

func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func parseColumnType(raw json.RawMessage) (ColumnType, error) {
	ct := ColumnType{Min: 1, Max: 1}
	if len(raw) == 0 {
		return ct, fmt.Errorf("type: missing")
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		bt, err := parseBaseType(raw)
		ct.Key = bt
		return ct, err
	}
	var jt struct {
		Key   json.RawMessage `json:"key"`
		Value json.RawMessage `json:"value"`
		Min   *json.Number    `json:"min"`
		Max   json.RawMessage `json:"max"`
	}
	if err := strictUnmarshal(raw, &jt, "type"); err != nil {
		return ct, err
	}
	var err error
	if ct.Key, err = parseBaseType(jt.Key); err != nil {
		return ct, fmt.Errorf("key: %w", err)
	}
	if jt.Value != nil {
		v, err := parseBaseType(jt.Value)
		if err != nil {
			return ct, fmt.Errorf("value: %w", err)
		}
		ct.Value = &v
	}
	if jt.Min != nil {
		n, err := jt.Min.Int64()
		if err != nil || n < 0 || n > 1 {
			return ct, fmt.Errorf("min %s: allowed: 0 or 1", *jt.Min)
		}
		ct.Min = int(n)
	}
	if jt.Max != nil {
		var s string
		var n json.Number
		switch {
		case json.Unmarshal(jt.Max, &s) == nil && s == "unlimited":
			ct.Max = Unlimited
		case json.Unmarshal(jt.Max, &n) == nil:
			v, err := n.Int64()
			if err != nil || v < 1 || v > math.MaxInt32 {
				return ct, fmt.Errorf("max %s: allowed: a positive integer or \"unlimited\"", jt.Max)
			}
			ct.Max = int(v)
		default:
			return ct, fmt.Errorf("max %s: allowed: a positive integer or \"unlimited\"", jt.Max)
		}
	}
	if ct.Min > ct.Max {
		return ct, fmt.Errorf("min %d is greater than max %d", ct.Min, ct.Max)
	}
	return ct, nil
}

func parseBaseType(raw json.RawMessage) (BaseType, error) {
	bt := BaseType{MinInteger: math.MinInt64, MaxInteger: math.MaxInt64, MinReal: math.Inf(-1), MaxReal: math.Inf(1), MaxLength: math.MaxInt}
	if len(raw) == 0 {
		return bt, fmt.Errorf("missing")
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		t, ok := atomicNames[name]
		if !ok {
			return bt, fmt.Errorf("type %q: allowed: integer, real, boolean, string, uuid", name)
		}
		bt.Type = t
		return bt, nil
	}
	var jb struct {
		Type       string          `json:"type"`
		Enum       json.RawMessage `json:"enum"`
		MinInteger *json.Number    `json:"minInteger"`
		MaxInteger *json.Number    `json:"maxInteger"`
		MinReal    *json.Number    `json:"minReal"`
		MaxReal    *json.Number    `json:"maxReal"`
		MinLength  *json.Number    `json:"minLength"`
		MaxLength  *json.Number    `json:"maxLength"`
		RefTable   *string         `json:"refTable"`
		RefType    *string         `json:"refType"`
	}
	if err := strictUnmarshal(raw, &jb, "base type"); err != nil {
		return bt, err
	}
	t, ok := atomicNames[jb.Type]
	if !ok {
		return bt, fmt.Errorf("type %q: allowed: integer, real, boolean, string, uuid", jb.Type)
	}
	bt.Type = t
	only := func(what string, set bool, want AtomicType) error {
		if set && t != want {
			return fmt.Errorf("%s applies to %s only, not %s", what, want, t)
		}
		return nil
	}
	if err := errorsJoin(
		only("minInteger", jb.MinInteger != nil, TypeInteger), only("maxInteger", jb.MaxInteger != nil, TypeInteger),
		only("minReal", jb.MinReal != nil, TypeReal), only("maxReal", jb.MaxReal != nil, TypeReal),
		only("minLength", jb.MinLength != nil, TypeString), only("maxLength", jb.MaxLength != nil, TypeString),
		only("refTable", jb.RefTable != nil, TypeUUID), only("refType", jb.RefType != nil, TypeUUID)); err != nil {
		return bt, err
	}
	var err error
	geti := func(n *json.Number, dst *int64) {
		if n != nil && err == nil {
			*dst, err = n.Int64()
		}
	}
	geti(jb.MinInteger, &bt.MinInteger)
	geti(jb.MaxInteger, &bt.MaxInteger)
	if jb.MinReal != nil && err == nil {
		bt.MinReal, err = jb.MinReal.Float64()
	}
	if jb.MaxReal != nil && err == nil {
		bt.MaxReal, err = jb.MaxReal.Float64()
	}
	var ml int64
	if jb.MinLength != nil && err == nil {
		geti(jb.MinLength, &ml)
		bt.MinLength = int(ml)
	}
	if jb.MaxLength != nil && err == nil {
		geti(jb.MaxLength, &ml)
		bt.MaxLength = int(ml)
	}
	if err != nil {
		return bt, fmt.Errorf("bad bound: %w", err)
	}
	if bt.MinInteger > bt.MaxInteger || bt.MinReal > bt.MaxReal || bt.MinLength > bt.MaxLength || bt.MinLength < 0 {
		return bt, fmt.Errorf("minimum greater than maximum")
	}
	if jb.RefTable != nil {
		if !isID(*jb.RefTable) {
			return bt, fmt.Errorf("refTable %q is not a table name", *jb.RefTable)
		}
		bt.RefTable = *jb.RefTable
	}
	if jb.RefType != nil {
		switch *jb.RefType {
		case "strong":
		case "weak":
			bt.RefType = RefWeak
		default:
			return bt, fmt.Errorf("refType %q: allowed: strong, weak", *jb.RefType)
		}
	}
	if jb.Enum != nil {
		var v any
		dec := json.NewDecoder(bytes.NewReader(jb.Enum))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return bt, fmt.Errorf("enum: %w", err)
		}
		d, err := ParseDatum(v)
		if err != nil || d.IsMap() {
			return bt, fmt.Errorf("enum: a set of %s atoms expected", t)
		}
		plain := bt
		for i, a := range d.Keys {
			c, err := plain.coerce(a)
			if err != nil {
				return bt, fmt.Errorf("enum: %v", err)
			}
			d.Keys[i] = c
		}
		d.sort()
		bt.Enum = &d
	}
	return bt, nil
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// defaultAtom is the default value of an atomic type.
func defaultAtom(t AtomicType) Atom {
	switch t {
	case TypeInteger:
		return int64(0)
	case TypeReal:
		return float64(0)
	case TypeBoolean:
		return false
	case TypeString:
		return ""
	}
	return UUID{}
}

// Default returns the column's default value: empty for a column that may
// be empty, else the type's default atom (0, 0.0, false, "", the zero
// UUID).
func (t *ColumnType) Default() Datum {
	if t.Min == 0 {
		if t.Value != nil {
			return EmptyMap()
		}
		return Datum{Keys: []Atom{}}
	}
	if t.Value != nil {
		return Datum{Keys: []Atom{defaultAtom(t.Key.Type)}, Values: []Atom{defaultAtom(t.Value.Type)}}
	}
	return Datum{Keys: []Atom{defaultAtom(t.Key.Type)}}
}

// coerce checks an atom against the base type, converting an integer to a
// real where a real is expected. Named UUIDs pass (resolved later).
func (bt *BaseType) coerce(a Atom) (Atom, error) {
	switch bt.Type {
	case TypeInteger:
		n, ok := a.(int64)
		if !ok {
			return nil, syntaxErr("expected integer, got %s", atomJSON(a))
		}
		if n < bt.MinInteger || n > bt.MaxInteger {
			return nil, constraintErr("%d is not in the allowed range %s", n, intRange(bt.MinInteger, bt.MaxInteger))
		}
	case TypeReal:
		switch x := a.(type) {
		case int64:
			a = float64(x)
		case float64:
		default:
			return nil, syntaxErr("expected real, got %s", atomJSON(a))
		}
		f := a.(float64)
		if f < bt.MinReal || f > bt.MaxReal {
			return nil, constraintErr("%g is not in the allowed range %g to %g", f, bt.MinReal, bt.MaxReal)
		}
	case TypeBoolean:
		if _, ok := a.(bool); !ok {
			return nil, syntaxErr("expected boolean, got %s", atomJSON(a))
		}
	case TypeString:
		s, ok := a.(string)
		if !ok {
			return nil, syntaxErr("expected string, got %s", atomJSON(a))
		}
		if len(s) < bt.MinLength || len(s) > bt.MaxLength {
			return nil, constraintErr("%q length %d is not in the allowed range %s", s, len(s), intRange(int64(bt.MinLength), int64(bt.MaxLength)))
		}
	case TypeUUID:
		switch a.(type) {
		case UUID, NamedUUID:
		default:
			return nil, syntaxErr("expected uuid, got %s", atomJSON(a))
		}
	}
	if bt.Enum != nil && bt.Enum.Find(a) < 0 {
		return nil, constraintErr("%s is not one of the allowed values (%s)", atomJSON(a), enumList(bt.Enum))
	}
	return a, nil
}

func atomJSON(a Atom) string { return string(appendAtomJSON(nil, a)) }

func enumList(d *Datum) string {
	var b strings.Builder
	for i, k := range d.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(atomJSON(k))
	}
	return b.String()
}

func intRange(lo, hi int64) string {
	switch {
	case lo == math.MinInt64 && hi == math.MaxInt64:
		return "any"
	case hi == math.MaxInt64 || hi == math.MaxInt:
		return fmt.Sprintf("%d or more", lo)
	case lo == math.MinInt64:
		return fmt.Sprintf("%d or less", hi)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// Check coerces and checks a datum against the column type: element types,
// constraints, and the number of elements. It returns the datum in the
// column's form (reals for a real column, a map for a map column).
func (t *ColumnType) Check(d Datum) (Datum, error) {
	n, err := t.checkElems(d)
	if err != nil {
		return d, err
	}
	if n.Len() < t.Min || n.Len() > t.Max {
		return d, constraintErr("%d elements, but the column allows %s", n.Len(), intRange(int64(t.Min), int64(t.Max)))
	}
	return n, nil
}

// checkElems checks the elements but not their number.
func (t *ColumnType) checkElems(d Datum) (Datum, error) {
	if t.Value != nil {
		if d.Values == nil {
			if len(d.Keys) == 0 {
				return EmptyMap(), nil
			}
			return d, syntaxErr("expected a map ([\"map\",[[k,v],…]]), got %s", d)
		}
	} else if d.Values != nil {
		if len(d.Keys) == 0 {
			return Datum{Keys: []Atom{}}, nil
		}
		return d, syntaxErr("expected a set or atom, got a map")
	}
	n := Datum{Keys: make([]Atom, len(d.Keys))}
	if t.Value != nil {
		n.Values = make([]Atom, len(d.Keys))
	}
	changed := false
	for i, k := range d.Keys {
		c, err := t.Key.coerce(k)
		if err != nil {
			return d, err
		}
		n.Keys[i] = c
		if _, isInt := k.(int64); isInt && t.Key.Type == TypeReal {
			changed = true
		}
		if t.Value != nil {
			v, err := t.Value.coerce(d.Values[i])
			if err != nil {
				return d, err
			}
			n.Values[i] = v
		}
	}
	if changed {
		n.sort()
	}
	return n, nil
}
