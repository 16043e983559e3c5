package ovsdb

import "strings"

// Row is one row of a table. A committed Row is immutable: a transaction
// that changes a row makes a new one, so readers may keep and share the
// pointers they are given.
type Row struct {
	UUID    UUID
	Version UUID
	// Cols holds the user columns' values in the order of Table.Cols.
	Cols  []Datum
	table *Table
}

// Table returns the row's table schema.
func (r *Row) Table() *Table { return r.table }

// Get returns a column's value (also "_uuid" and "_version"); an unknown
// column yields an empty datum.
func (r *Row) Get(col string) Datum {
	switch col {
	case "_uuid":
		return Scalar(r.UUID)
	case "_version":
		return Scalar(r.Version)
	}
	c := r.table.Columns[col]
	if c == nil {
		return Datum{}
	}
	return r.Cols[c.Index]
}

func (r *Row) get(c *Column) Datum {
	switch c.Index {
	case colUUID:
		return Scalar(r.UUID)
	case colVersion:
		return Scalar(r.Version)
	}
	return r.Cols[c.Index]
}

// String returns a string column's value ("" when empty).
func (r *Row) String(col string) string {
	d := r.Get(col)
	if len(d.Keys) == 0 {
		return ""
	}
	s, _ := d.Keys[0].(string)
	return s
}

// Int returns an integer column's value, and false when the (optional)
// column is empty.
func (r *Row) Int(col string) (int64, bool) {
	d := r.Get(col)
	if len(d.Keys) == 0 {
		return 0, false
	}
	n, ok := d.Keys[0].(int64)
	return n, ok
}

// Bool returns a boolean column's value, and false as second result when
// the column is empty.
func (r *Row) Bool(col string) (bool, bool) {
	d := r.Get(col)
	if len(d.Keys) == 0 {
		return false, false
	}
	b, ok := d.Keys[0].(bool)
	return b, ok
}

// UUIDs returns the UUIDs of a uuid set column.
func (r *Row) UUIDs(col string) []UUID {
	d := r.Get(col)
	out := make([]UUID, 0, len(d.Keys))
	for _, k := range d.Keys {
		if u, ok := k.(UUID); ok {
			out = append(out, u)
		}
	}
	return out
}

// Ints returns the integers of an integer set column.
func (r *Row) Ints(col string) []int64 {
	d := r.Get(col)
	out := make([]int64, 0, len(d.Keys))
	for _, k := range d.Keys {
		if n, ok := k.(int64); ok {
			out = append(out, n)
		}
	}
	return out
}

// Strings returns the strings of a string set column.
func (r *Row) Strings(col string) []string {
	d := r.Get(col)
	out := make([]string, 0, len(d.Keys))
	for _, k := range d.Keys {
		if s, ok := k.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// StringMap returns a string→string map column as a Go map.
func (r *Row) StringMap(col string) map[string]string {
	d := r.Get(col)
	m := make(map[string]string, len(d.Keys))
	for i, k := range d.Keys {
		ks, _ := k.(string)
		var vs string
		if d.Values != nil {
			vs, _ = d.Values[i].(string)
		}
		m[ks] = vs
	}
	return m
}

// Data returns the row's columns (user columns, plus _uuid and _version)
// as a map.
func (r *Row) Data() map[string]Datum {
	m := make(map[string]Datum, len(r.Cols)+2)
	m["_uuid"] = Scalar(r.UUID)
	m["_version"] = Scalar(r.Version)
	for _, c := range r.table.Cols {
		m[c.Name] = r.Cols[c.Index]
	}
	return m
}

// AppendJSON appends the row as a JSON object of the given columns (nil =
// every column, with _uuid and _version); skipDefault leaves out columns
// whose value is the type's default (update2's rule).
func (r *Row) AppendJSON(b []byte, cols []*Column, skipDefault bool) []byte {
	b = append(b, '{')
	first := true
	put := func(c *Column, d Datum) {
		if skipDefault && c.Index >= 0 && isDefault(c, d) {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, c.Name)
		b = append(b, ':')
		b = d.AppendJSON(b)
	}
	putUUID := func(name string, u UUID) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":["uuid","`...)
		b = u.AppendText(b)
		b = append(b, `"]`...)
	}
	if cols == nil {
		putUUID("_uuid", r.UUID)
		putUUID("_version", r.Version)
		for _, c := range r.table.Cols {
			put(c, r.Cols[c.Index])
		}
	} else {
		for _, c := range cols {
			switch c.Index {
			case colUUID:
				putUUID("_uuid", r.UUID)
			case colVersion:
				putUUID("_version", r.Version)
			default:
				put(c, r.Cols[c.Index])
			}
		}
	}
	return append(b, '}')
}

func isDefault(c *Column, d Datum) bool {
	if c.Type.Min == 0 {
		return len(d.Keys) == 0
	}
	return d.Equal(c.Type.Default())
}

// refs calls fn for each reference of the row, strong or weak (self
// references excluded).
func (r *Row) refs(fn func(dst *Table, u UUID, weak bool)) {
	for _, c := range r.table.Cols {
		if !c.refs {
			continue
		}
		d := r.Cols[c.Index]
		if rt := c.Type.Key.RefTable; rt != "" {
			for _, k := range d.Keys {
				if u, ok := k.(UUID); ok && u != r.UUID {
					fn(c.dstKey, u, c.Type.Key.RefType == RefWeak)
				}
			}
		}
		if c.Type.Value != nil && c.Type.Value.RefTable != "" {
			for _, v := range d.Values {
				if u, ok := v.(UUID); ok && u != r.UUID {
					fn(c.dstValue, u, c.Type.Value.RefType == RefWeak)
				}
			}
		}
	}
}

func rowLabel(t *Table, u UUID) string {
	var b strings.Builder
	b.WriteString(t.Name)
	b.WriteString(" row ")
	b.WriteString(u.String())
	return b.String()
}

// Value returns the value of column c (user column, _uuid or _version).
func (r *Row) Value(c *Column) Datum { return r.get(c) }

// AppendColumnJSON appends "name":value.
func AppendColumnJSON(b []byte, name string, d Datum) []byte {
	b = appendJSONString(b, name)
	b = append(b, ':')
	return d.AppendJSON(b)
}

// AppendString appends s as a JSON string.
func AppendString(b []byte, s string) []byte { return appendJSONString(b, s) }
