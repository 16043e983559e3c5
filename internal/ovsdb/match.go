package ovsdb

// Where is a compiled list of conditions on one table.
type Where struct {
	conds []cond
	any   bool
}

// CompileWhere compiles conditions that must all hold (a transaction's
// "where").
func CompileWhere(t *Table, where []Condition) (*Where, error) {
	c, err := compileConds(t, where, func(d Datum) Datum { return d })
	if err != nil {
		return nil, err
	}
	return &Where{conds: c}, nil
}

// CompileAnyWhere compiles conditions of which one must hold (a monitor's
// "where", Open vSwitch's clauses); an empty list matches every row.
func CompileAnyWhere(t *Table, where []Condition) (*Where, error) {
	w, err := CompileWhere(t, where)
	if err != nil {
		return nil, err
	}
	w.any = len(w.conds) > 0
	return w, nil
}

// Match says whether the row satisfies the conditions.
func (w *Where) Match(r *Row) bool {
	if w == nil {
		return true
	}
	if !w.any {
		return matchAll(w.conds, r)
	}
	for i := range w.conds {
		if w.conds[i].match(r) {
			return true
		}
	}
	return false
}

// IsComposite says whether the column holds more than one value at most
// (a set with max > 1, or a map): update2 sends such columns as diffs.
func (c *Column) IsComposite() bool { return c.Type.Value != nil || c.Type.Max > 1 }

// Diff returns update2's difference of two values of column c: for sets
// the elements in one only, for maps the pairs whose key is in one only
// plus, with the new value, the keys whose value changed; for other
// columns the new value.
func Diff(c *Column, old, new Datum) Datum {
	if !c.IsComposite() {
		return new
	}
	d := Datum{Keys: []Atom{}}
	if c.Type.Value != nil {
		d.Values = []Atom{}
	}
	oi, ni := 0, 0
	addOld := func() {
		d.Keys = append(d.Keys, old.Keys[oi])
		if d.Values != nil {
			d.Values = append(d.Values, old.Values[oi])
		}
	}
	addNew := func() {
		d.Keys = append(d.Keys, new.Keys[ni])
		if d.Values != nil {
			d.Values = append(d.Values, new.Values[ni])
		}
	}
	for oi < len(old.Keys) && ni < len(new.Keys) {
		switch cmp := CompareAtoms(old.Keys[oi], new.Keys[ni]); {
		case cmp < 0:
			addOld()
			oi++
		case cmp > 0:
			addNew()
			ni++
		default:
			if d.Values != nil && CompareAtoms(old.Values[oi], new.Values[ni]) != 0 {
				addNew()
			}
			oi++
			ni++
		}
	}
	for ; oi < len(old.Keys); oi++ {
		addOld()
	}
	for ; ni < len(new.Keys); ni++ {
		addNew()
	}
	return d
}

// ApplyDiff applies an update2 diff to a value (the client side of Diff;
// used by tests).
func ApplyDiff(c *Column, old, diff Datum) Datum {
	if !c.IsComposite() {
		return diff
	}
	out := old.Clone()
	for i, k := range diff.Keys {
		j := out.Find(k)
		switch {
		case j < 0:
			out.Keys = append(out.Keys, k)
			if out.Values != nil {
				out.Values = append(out.Values, diff.Values[i])
			}
			out.sort()
		case out.Values != nil && CompareAtoms(out.Values[j], diff.Values[i]) != 0:
			out.Values[j] = diff.Values[i]
		default:
			out.Keys = append(out.Keys[:j], out.Keys[j+1:]...)
			if out.Values != nil {
				out.Values = append(out.Values[:j], out.Values[j+1:]...)
			}
		}
	}
	return out
}
