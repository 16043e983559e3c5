package ovsdb

import (
	"encoding/json"
	"sort"
	"strconv"
)

// ParseTransact decodes the params of a "transact" request: the database
// name followed by operations. An operation that cannot be decoded is kept
// with its error, so that the transaction fails at that operation with the
// results RFC 7047 asks for.
func ParseTransact(params []any) (db string, ops []Operation, err *Error) {
	if len(params) == 0 {
		return "", nil, syntaxErr("transact: params must start with the database name")
	}
	name, ok := params[0].(string)
	if !ok {
		return "", nil, syntaxErr("transact: the first param must be the database name (a string)")
	}
	ops = make([]Operation, len(params)-1)
	for i, p := range params[1:] {
		ops[i] = parseOperation(p)
	}
	return name, ops, nil
}

// ParseOperation decodes one operation (for tests and tools); errors are
// returned rather than kept.
func ParseOperation(v any) (Operation, error) {
	o := parseOperation(v)
	if o.bad != nil {
		return o, o.bad
	}
	return o, nil
}

func parseOperation(v any) (o Operation) {
	obj, ok := v.(map[string]any)
	if !ok {
		o.bad = syntaxErr("an operation must be a JSON object, not %s", short(v))
		return o
	}
	fail := func(e *Error) Operation { o.bad = e; return o }
	op, _ := obj["op"].(string)
	if op == "" {
		return fail(syntaxErr("operation has no \"op\" member"))
	}
	o.Op = op
	allowed := map[string][]string{
		"insert":  {"table", "row", "uuid-name", "uuid"},
		"select":  {"table", "where", "columns"},
		"update":  {"table", "where", "row"},
		"mutate":  {"table", "where", "mutations"},
		"delete":  {"table", "where"},
		"wait":    {"table", "where", "columns", "until", "rows", "timeout"},
		"commit":  {"durable"},
		"abort":   {},
		"comment": {"comment"},
		"assert":  {"lock"},
	}[op]
	if allowed == nil {
		return fail(syntaxErr("unknown operation %q; allowed: insert, select, update, mutate, delete, wait, commit, abort, comment, assert", op))
	}
	for k := range obj {
		if k == "op" {
			continue
		}
		found := false
		for _, a := range allowed {
			found = found || a == k
		}
		if !found {
			return fail(syntaxErr("member %q is not allowed in a %s operation", k, op))
		}
	}
	str := func(k string, required bool) (string, *Error) {
		x, present := obj[k]
		if !present {
			if required {
				return "", syntaxErr("%s operation needs %q", op, k)
			}
			return "", nil
		}
		s, ok := x.(string)
		if !ok {
			return "", syntaxErr("%s: %q must be a string", op, k)
		}
		return s, nil
	}
	var e *Error
	if has(allowed, "table") {
		if o.Table, e = str("table", true); e != nil {
			return fail(e)
		}
	}
	if has(allowed, "row") {
		x, ok := obj["row"]
		if !ok && op == "update" {
			return fail(syntaxErr("update operation needs \"row\""))
		}
		if ok {
			if o.Row, e = parseRow(x); e != nil {
				return fail(e)
			}
		}
	}
	if op == "insert" {
		if o.UUIDName, e = str("uuid-name", false); e != nil {
			return fail(e)
		}
		if x, ok := obj["uuid"]; ok {
			s, _ := x.(string)
			u, err := ParseUUID(s)
			if err != nil {
				return fail(syntaxErr("insert: uuid: %v", err))
			}
			o.UUID = &u
		}
	}
	if has(allowed, "where") {
		x, ok := obj["where"]
		if !ok {
			return fail(syntaxErr("%s operation needs \"where\"", op))
		}
		if o.Where, e = ParseConditions(x); e != nil {
			return fail(e)
		}
	}
	if has(allowed, "columns") {
		if x, ok := obj["columns"]; ok {
			if o.Columns, e = stringList(x, "columns"); e != nil {
				return fail(e)
			}
			if o.Columns == nil {
				o.Columns = []string{}
			}
		}
	}
	switch op {
	case "mutate":
		x, ok := obj["mutations"].([]any)
		if !ok {
			return fail(syntaxErr("mutate operation needs \"mutations\" (an array)"))
		}
		for _, m := range x {
			arr, ok := m.([]any)
			if !ok || len(arr) != 3 {
				return fail(syntaxErr("a mutation is [column, mutator, value], not %s", short(m)))
			}
			col, ok1 := arr[0].(string)
			mut, ok2 := arr[1].(string)
			if !ok1 || !ok2 {
				return fail(syntaxErr("a mutation is [column, mutator, value], not %s", short(m)))
			}
			d, err := ParseDatum(arr[2])
			if err != nil {
				return fail(AsError(err, ErrSyntax))
			}
			o.Mutations = append(o.Mutations, Mutation{Column: col, Mutator: mut, Value: d})
		}
	case "wait":
		if o.Until, e = str("until", true); e != nil {
			return fail(e)
		}
		rows, ok := obj["rows"].([]any)
		if !ok {
			return fail(syntaxErr("wait operation needs \"rows\" (an array)"))
		}
		for _, r := range rows {
			row, e := parseRow(r)
			if e != nil {
				return fail(e)
			}
			o.Rows = append(o.Rows, row)
		}
		if x, ok := obj["timeout"]; ok {
			n, ok := x.(json.Number)
			t, err := n.Int64()
			if !ok || err != nil || t < 0 {
				if f, ferr := n.Float64(); ok && ferr == nil && f >= 0 {
					t, err = int64(f), nil
				} else {
					return fail(syntaxErr("wait: timeout must be a non-negative number of milliseconds"))
				}
			}
			o.Timeout = &t
		}
	case "commit":
		if x, ok := obj["durable"]; ok {
			b, ok := x.(bool)
			if !ok {
				return fail(syntaxErr("commit: durable must be a boolean"))
			}
			o.Durable = b
		} else {
			return fail(syntaxErr("commit operation needs \"durable\""))
		}
	case "comment":
		if o.Comment, e = str("comment", true); e != nil {
			return fail(e)
		}
	case "assert":
		if o.Lock, e = str("lock", true); e != nil {
			return fail(e)
		}
	}
	return o
}

func has(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func stringList(x any, what string) ([]string, *Error) {
	arr, ok := x.([]any)
	if !ok {
		return nil, syntaxErr("%s must be an array of strings", what)
	}
	out := make([]string, 0, len(arr))
	for _, a := range arr {
		s, ok := a.(string)
		if !ok {
			return nil, syntaxErr("%s must be an array of strings", what)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseRow(x any) (map[string]Datum, *Error) {
	obj, ok := x.(map[string]any)
	if !ok {
		return nil, syntaxErr("a row must be a JSON object, not %s", short(x))
	}
	row := make(map[string]Datum, len(obj))
	for k, v := range obj {
		d, err := ParseDatum(v)
		if err != nil {
			return nil, wrapDetails(err, "column "+k).(*Error)
		}
		row[k] = d
	}
	return row, nil
}

// ParseConditions decodes a where clause: an array of [column, function,
// value] conditions and booleans.
func ParseConditions(x any) ([]Condition, *Error) {
	arr, ok := x.([]any)
	if !ok {
		return nil, syntaxErr("where must be an array of conditions")
	}
	out := make([]Condition, 0, len(arr))
	for _, c := range arr {
		if b, ok := c.(bool); ok {
			out = append(out, Condition{Const: b})
			continue
		}
		t, ok := c.([]any)
		if !ok || len(t) != 3 {
			return nil, syntaxErr("a condition is [column, function, value] or a boolean, not %s", short(c))
		}
		col, ok1 := t[0].(string)
		fn, ok2 := t[1].(string)
		if !ok1 || !ok2 || col == "" {
			return nil, syntaxErr("a condition is [column, function, value] or a boolean, not %s", short(c))
		}
		d, err := ParseDatum(t[2])
		if err != nil {
			return nil, AsError(err, ErrSyntax)
		}
		out = append(out, Condition{Column: col, Function: fn, Value: d})
	}
	return out, nil
}

// AppendResultsJSON appends the transact reply's result array.
func AppendResultsJSON(b []byte, results []*OperationResult) []byte {
	b = append(b, '[')
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.AppendJSON(b)
	}
	return append(b, ']')
}

// AppendJSON appends one result object (null for nil).
func (r *OperationResult) AppendJSON(b []byte) []byte {
	if r == nil {
		return append(b, "null"...)
	}
	if r.Error != nil {
		return AppendErrorJSON(b, r.Error)
	}
	switch r.op {
	case "insert":
		b = append(b, `{"uuid":["uuid","`...)
		b = r.UUID.AppendText(b)
		return append(b, `"]}`...)
	case "select":
		b = append(b, `{"rows":[`...)
		rows := r.Rows
		sort.Slice(rows, func(i, j int) bool { return CompareAtoms(rows[i].UUID, rows[j].UUID) < 0 })
		for i, row := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = row.AppendJSON(b, r.Columns, false)
		}
		return append(b, "]}"...)
	case "update", "mutate", "delete":
		b = append(b, `{"count":`...)
		b = strconv.AppendInt(b, int64(r.Count), 10)
		return append(b, '}')
	}
	return append(b, "{}"...)
}

// AppendErrorJSON appends {"error":…,"details":…}.
func AppendErrorJSON(b []byte, e *Error) []byte {
	b = append(b, `{"error":`...)
	b = appendJSONString(b, e.Tag)
	if e.Details != "" {
		b = append(b, `,"details":`...)
		b = appendJSONString(b, e.Details)
	}
	return append(b, '}')
}
