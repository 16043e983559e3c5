package ovsdb

import (
	"context"
	"math"
	"strings"
	"time"
)

// Operation is one operation of a transaction (RFC 7047 section 5.2).
// Values are Datums in any form ParseDatum accepts; they are checked against
// the column types when the operation runs.
type Operation struct {
	// Op is insert, select, update, mutate, delete, wait, commit, abort,
	// comment or assert.
	Op    string
	Table string
	// Row: insert and update.
	Row map[string]Datum
	// UUIDName names an inserted row for later operations (insert).
	UUIDName string
	// UUID, when not nil, is the inserted row's UUID (insert; Open vSwitch
	// 2.13's extension).
	UUID *UUID
	// Where selects rows (select, update, mutate, delete, wait).
	Where []Condition
	// Columns projects select and wait results (nil = all).
	Columns []string
	// Mutations (mutate).
	Mutations []Mutation
	// Timeout in milliseconds (wait; nil = forever), Until "==" or "!=",
	// Rows the expected rows (wait).
	Timeout *int64
	Until   string
	Rows    []map[string]Datum
	// Durable (commit).
	Durable bool
	// Comment (comment).
	Comment string
	// Lock (assert).
	Lock string
	// bad is a decoding error, reported when the operation's turn comes.
	bad *Error
}

// Condition is a where clause: [column, function, value]. Function is one
// of < <= == != >= > includes excludes. A Condition with Column "" is the
// constant Const (Open vSwitch's boolean conditions).
type Condition struct {
	Column   string
	Function string
	Value    Datum
	Const    bool
}

// Mutation is [column, mutator, value]: += -= *= /= %= insert delete.
type Mutation struct {
	Column  string
	Mutator string
	Value   Datum
}

// OperationResult is one operation's result. A nil *OperationResult in
// Transact's results stands for an operation that did not run.
type OperationResult struct {
	// UUID of the inserted row (insert).
	UUID UUID
	// Count of rows changed (update, mutate, delete).
	Count int
	// Rows selected (select), with the projected columns.
	Rows    []*Row
	Columns []*Column
	Error   *Error
	op      string
}

// TxnOptions tune one transaction.
type TxnOptions struct {
	// Origin is copied into the Commit so subscribers can recognise the
	// writer (the daemon's status writes).
	Origin string
	// Locks says whether the session owns a lock (for assert); nil = no
	// locks owned.
	Locks func(name string) bool
	// Wire marks a transaction that came from a client: a reserved
	// database (_Server) is read-only to it.
	Wire bool
	// NoSync writes the transaction's record without waiting for fsync
	// (the next synced commit, or Close, makes it durable). For status the
	// daemon can derive again after a crash (Interface.ofport, error,
	// cur_cfg): cheap, and a crash loses at most such writes, whole.
	NoSync bool
}

// Transact runs the operations as one atomic transaction. It returns one
// result per operation (nil for those after a failed one) and, for a
// failure found at commit (references, indexes, maxRows, a hook, the
// disk), one extra result carrying that error, exactly as RFC 7047 puts
// them in the reply. err is the first error (nil when the transaction
// committed). A "wait" operation that is not yet satisfied makes Transact
// wait for commits until its timeout (or ctx) ends.
func (db *DB) Transact(ctx context.Context, ops []Operation, opt TxnOptions) ([]*OperationResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	for {
		db.mu.RLock()
		changed := db.changed
		db.mu.RUnlock()
		res, retry, err := db.transactOnce(ops, opt, time.Since(start))
		if retry == nil {
			return res, err
		}
		timer := time.NewTimer(retry.wait)
		select {
		case <-changed:
			timer.Stop()
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			r := make([]*OperationResult, len(ops))
			e := &Error{Tag: ErrCanceled, Details: "the transaction was canceled while waiting"}
			if retry.op < len(r) {
				r[retry.op] = &OperationResult{Error: e, op: "wait"}
			}
			return r, e
		}
	}
}

type retryWait struct {
	op   int
	wait time.Duration
}

// HasTimedWait says whether ops contain a wait that may block (a server
// runs such transactions without holding up the session's other
// requests).
func HasTimedWait(ops []Operation) bool {
	for _, o := range ops {
		if o.Op == "wait" && (o.Timeout == nil || *o.Timeout > 0) {
			return true
		}
	}
	return false
}

func (db *DB) transactOnce(ops []Operation, opt TxnOptions, elapsed time.Duration) ([]*OperationResult, *retryWait, error) {
	results := make([]*OperationResult, len(ops))
	readOnly := true
	for _, o := range ops {
		switch o.Op {
		case "select", "wait", "comment", "assert", "abort", "commit":
		default:
			readOnly = false
		}
	}
	if readOnly {
		db.mu.RLock()
		defer db.mu.RUnlock()
	} else {
		db.mu.Lock()
		defer db.mu.Unlock()
	}
	if db.closed {
		e := &Error{Tag: ErrIO, Details: "the database is closed"}
		return append(results, &OperationResult{Error: e}), nil, e
	}
	tx := &txn{db: db, rows: map[*Table]map[UUID]*txnRow{}, symtab: map[string]*symbol{}, opt: opt}
	for i := range ops {
		r, err := tx.execute(&ops[i], elapsed)
		if err != nil {
			if w, ok := err.(*waitPending); ok {
				return nil, &retryWait{op: i, wait: w.left}, nil
			}
			e := AsError(err, ErrSyntax)
			results[i] = &OperationResult{Error: e, op: ops[i].Op}
			return results, nil, e
		}
		r.op = ops[i].Op
		results[i] = r
	}
	if err := tx.checkSymbols(); err != nil {
		return append(results, &OperationResult{Error: err}), nil, err
	}
	if readOnly || len(tx.rows) == 0 {
		return results, nil, nil
	}
	if err := tx.commit(); err != nil {
		e := AsError(err, ErrConstraint)
		return append(results, &OperationResult{Error: e}), nil, e
	}
	return results, nil, nil
}

type waitPending struct{ left time.Duration }

func (w *waitPending) Error() string { return "wait pending" }

type symbol struct {
	uuid    UUID
	created bool
}

type txnRow struct {
	old, new *Row
}

type txn struct {
	db      *DB
	rows    map[*Table]map[UUID]*txnRow
	symtab  map[string]*symbol
	comment []string
	opt     TxnOptions
	durable bool
}

// row returns the row as the transaction sees it.
func (tx *txn) row(t *Table, u UUID) *Row {
	if m := tx.rows[t]; m != nil {
		if tr := m[u]; tr != nil {
			return tr.new
		}
	}
	return tx.db.tables[t].rows[u]
}

// each calls fn for every row the transaction sees in t.
func (tx *txn) each(t *Table, fn func(*Row) bool) {
	m := tx.rows[t]
	for u, r := range tx.db.tables[t].rows {
		if m != nil {
			if _, ok := m[u]; ok {
				continue
			}
		}
		if !fn(r) {
			return
		}
	}
	for _, tr := range m {
		if tr.new != nil && !fn(tr.new) {
			return
		}
	}
}

func (tx *txn) put(t *Table, u UUID, old, new *Row) {
	m := tx.rows[t]
	if m == nil {
		m = map[UUID]*txnRow{}
		tx.rows[t] = m
	}
	if tr := m[u]; tr != nil {
		tr.new = new
		return
	}
	m[u] = &txnRow{old: old, new: new}
}

// txnView is the Reader over the transaction's state (for hooks).
type txnView struct{ tx *txn }

func (v txnView) Row(table string, u UUID) *Row {
	t := v.tx.db.schema.Tables[table]
	if t == nil {
		return nil
	}
	return v.tx.row(t, u)
}

func (v txnView) Rows(table string, fn func(*Row) bool) {
	if t := v.tx.db.schema.Tables[table]; t != nil {
		v.tx.each(t, fn)
	}
}

func (v txnView) Count(table string) int {
	t := v.tx.db.schema.Tables[table]
	if t == nil {
		return 0
	}
	n := len(v.tx.db.tables[t].rows)
	for _, tr := range v.tx.rows[t] {
		switch {
		case tr.old == nil && tr.new != nil:
			n++
		case tr.old != nil && tr.new == nil:
			n--
		}
	}
	return n
}

func (tx *txn) table(name string) (*Table, error) {
	if name == "" {
		return nil, syntaxErr("table: missing")
	}
	t := tx.db.schema.Tables[name]
	if t == nil {
		return nil, syntaxErr("unknown table %q", name)
	}
	return t, nil
}

func (tx *txn) execute(o *Operation, elapsed time.Duration) (*OperationResult, error) {
	if tx.opt.Wire && tx.db.reserved {
		switch o.Op {
		case "insert", "update", "mutate", "delete":
			return nil, Errorf(ErrNotAllowed, "%s operation not allowed on table in reserved database %s", o.Op, tx.db.schema.Name)
		}
	}
	if o.bad != nil {
		return nil, o.bad
	}
	switch o.Op {
	case "insert":
		return tx.insert(o)
	case "select":
		return tx.selectOp(o)
	case "update":
		return tx.update(o)
	case "mutate":
		return tx.mutate(o)
	case "delete":
		return tx.deleteOp(o)
	case "wait":
		return tx.wait(o, elapsed)
	case "commit":
		tx.durable = tx.durable || o.Durable
		return &OperationResult{}, nil
	case "abort":
		return nil, &Error{Tag: ErrAborted, Details: "aborted by request"}
	case "comment":
		tx.comment = append(tx.comment, o.Comment)
		return &OperationResult{}, nil
	case "assert":
		if tx.opt.Locks == nil || !tx.opt.Locks(o.Lock) {
			return nil, Errorf(ErrNotOwner, "asserted lock %q not held", o.Lock)
		}
		return &OperationResult{}, nil
	case "":
		return nil, syntaxErr("op: missing")
	}
	return nil, syntaxErr("unknown operation %q; allowed: insert, select, update, mutate, delete, wait, commit, abort, comment, assert", o.Op)
}

// resolve replaces named UUIDs with the UUIDs of their rows (a name used
// before its insert gets a UUID now; checkSymbols makes sure an insert
// claims it).
func (tx *txn) resolve(d Datum) Datum {
	has := false
	for _, k := range d.Keys {
		if _, ok := k.(NamedUUID); ok {
			has = true
			break
		}
	}
	for _, v := range d.Values {
		if _, ok := v.(NamedUUID); ok {
			has = true
			break
		}
	}
	if !has {
		return d
	}
	n := d.Clone()
	fix := func(a Atom) Atom {
		if name, ok := a.(NamedUUID); ok {
			s := tx.symtab[string(name)]
			if s == nil {
				s = &symbol{uuid: NewUUID()}
				tx.symtab[string(name)] = s
			}
			return s.uuid
		}
		return a
	}
	for i := range n.Keys {
		n.Keys[i] = fix(n.Keys[i])
	}
	for i := range n.Values {
		n.Values[i] = fix(n.Values[i])
	}
	n.sort()
	return n
}

func (tx *txn) checkSymbols() *Error {
	for name, s := range tx.symtab {
		if !s.created {
			return Errorf(ErrReferentialIntegrity, "named-uuid %q is not the uuid-name of an insert in this transaction", name)
		}
	}
	return nil
}

// columnValue checks a value for column c of t.
func (tx *txn) columnValue(t *Table, name string, d Datum, update bool) (*Column, Datum, error) {
	c := t.Columns[name]
	if c == nil {
		if name == "_uuid" || name == "_version" {
			return nil, d, constraintErr("column %s of table %s cannot be written", name, t.Name)
		}
		return nil, d, syntaxErr("table %s has no column %q", t.Name, name)
	}
	if update && !c.Mutable {
		return nil, d, constraintErr("cannot update immutable column %s of table %s", name, t.Name)
	}
	v, err := c.Type.Check(d)
	if err != nil {
		return nil, d, wrapDetails(err, "column "+name+" of table "+t.Name)
	}
	return c, tx.resolve(v), nil
}

// wrapDetails prefixes an *Error's details with where it happened.
func wrapDetails(err error, where string) error {
	if e, ok := err.(*Error); ok {
		return &Error{Tag: e.Tag, Details: where + ": " + e.Details}
	}
	return err
}

func (tx *txn) insert(o *Operation) (*OperationResult, error) {
	t, err := tx.table(o.Table)
	if err != nil {
		return nil, err
	}
	var u UUID
	if o.UUID != nil {
		u = *o.UUID
		if tx.db.tables[t].rows[u] != nil || (tx.rows[t] != nil && tx.rows[t][u] != nil) {
			return nil, Errorf(ErrDuplicateUUID, "row with UUID %s already exists in table %s or was deleted by this transaction", u, t.Name)
		}
	}
	if o.UUIDName != "" {
		if !isID(o.UUIDName) {
			return nil, syntaxErr("uuid-name %q is not an identifier", o.UUIDName)
		}
		s := tx.symtab[o.UUIDName]
		switch {
		case s != nil && s.created:
			return nil, Errorf(ErrDuplicateUUIDName, "this transaction already inserted a row named %q", o.UUIDName)
		case s != nil && o.UUID != nil:
			// A forward reference already chose a UUID; honour the asked one.
			return nil, Errorf(ErrDuplicateUUIDName, "uuid-name %q was referenced before this insert, which asks for its own uuid", o.UUIDName)
		case s != nil:
			u = s.uuid
		default:
			if o.UUID == nil {
				u = NewUUID()
			}
			s = &symbol{uuid: u}
			tx.symtab[o.UUIDName] = s
		}
		s.created = true
	} else if o.UUID == nil {
		u = NewUUID()
	}
	if tx.db.tables[t].rows[u] != nil {
		return nil, Errorf(ErrDuplicateUUID, "row with UUID %s already exists in table %s", u, t.Name)
	}
	r := newRow(t, u)
	for name, d := range o.Row {
		c, v, err := tx.columnValue(t, name, d, false)
		if err != nil {
			return nil, err
		}
		r.Cols[c.Index] = v
	}
	r.Version = NewUUID()
	tx.put(t, u, nil, r)
	return &OperationResult{UUID: u}, nil
}

// matching returns the rows of t that satisfy every condition.
func (tx *txn) matching(t *Table, where []Condition) ([]*Row, error) {
	conds, err := compileConds(t, where, tx.resolve)
	if err != nil {
		return nil, err
	}
	// Fast path: _uuid == X.
	for _, c := range conds {
		if c.col == uuidCol && c.fn == "==" && len(c.val.Keys) == 1 {
			u, ok := c.val.Keys[0].(UUID)
			if !ok {
				return nil, nil
			}
			r := tx.row(t, u)
			if r == nil || !matchAll(conds, r) {
				return nil, nil
			}
			return []*Row{r}, nil
		}
	}
	// Fast path: == on a column that is an index by itself (Bridge.name,
	// Port.name, Interface.name): the committed row from the index, plus
	// the rows this transaction wrote.
	for _, c := range conds {
		if c.fn != "==" || c.col.Index < 0 {
			continue
		}
		for i, idx := range t.Indexes {
			if len(idx) != 1 || idx[0] != c.col {
				continue
			}
			var out []*Row
			m := tx.rows[t]
			if u, ok := tx.db.tables[t].indexes[i][string(append(c.val.AppendJSON(nil), 0))]; ok {
				if _, changed := m[u]; !changed {
					if r := tx.db.tables[t].rows[u]; r != nil && matchAll(conds, r) {
						out = append(out, r)
					}
				}
			}
			for _, tr := range m {
				if tr.new != nil && matchAll(conds, tr.new) {
					out = append(out, tr.new)
				}
			}
			return out, nil
		}
	}
	var out []*Row
	tx.each(t, func(r *Row) bool {
		if matchAll(conds, r) {
			out = append(out, r)
		}
		return true
	})
	return out, nil
}

func (tx *txn) projection(t *Table, cols []string) ([]*Column, error) {
	if cols == nil {
		return nil, nil
	}
	out := make([]*Column, 0, len(cols))
	seen := map[string]bool{}
	for _, n := range cols {
		c := t.Column(n)
		if c == nil {
			return nil, syntaxErr("table %s has no column %q", t.Name, n)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, c)
		}
	}
	return out, nil
}

func (tx *txn) selectOp(o *Operation) (*OperationResult, error) {
	t, err := tx.table(o.Table)
	if err != nil {
		return nil, err
	}
	rows, err := tx.matching(t, o.Where)
	if err != nil {
		return nil, err
	}
	cols, err := tx.projection(t, o.Columns)
	if err != nil {
		return nil, err
	}
	return &OperationResult{Rows: rows, Columns: cols}, nil
}

func (tx *txn) update(o *Operation) (*OperationResult, error) {
	t, err := tx.table(o.Table)
	if err != nil {
		return nil, err
	}
	type cv struct {
		c *Column
		v Datum
	}
	var set []cv
	for name, d := range o.Row {
		c, v, err := tx.columnValue(t, name, d, true)
		if err != nil {
			return nil, err
		}
		set = append(set, cv{c, v})
	}
	rows, err := tx.matching(t, o.Where)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		n := r.clone()
		for _, s := range set {
			n.Cols[s.c.Index] = s.v
		}
		tx.put(t, r.UUID, tx.db.tables[t].rows[r.UUID], n)
	}
	return &OperationResult{Count: len(rows)}, nil
}

func (tx *txn) deleteOp(o *Operation) (*OperationResult, error) {
	t, err := tx.table(o.Table)
	if err != nil {
		return nil, err
	}
	rows, err := tx.matching(t, o.Where)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		tx.put(t, r.UUID, tx.db.tables[t].rows[r.UUID], nil)
	}
	return &OperationResult{Count: len(rows)}, nil
}

func (tx *txn) mutate(o *Operation) (*OperationResult, error) {
	t, err := tx.table(o.Table)
	if err != nil {
		return nil, err
	}
	type cm struct {
		c  *Column
		op string
		v  Datum
	}
	var muts []cm
	for _, m := range o.Mutations {
		c := t.Columns[m.Column]
		if c == nil {
			if m.Column == "_uuid" || m.Column == "_version" {
				return nil, constraintErr("column %s of table %s cannot be mutated", m.Column, t.Name)
			}
			return nil, syntaxErr("table %s has no column %q", t.Name, m.Column)
		}
		if !c.Mutable {
			return nil, constraintErr("cannot mutate immutable column %s of table %s", m.Column, t.Name)
		}
		v, err := mutationArg(c, m.Mutator, m.Value)
		if err != nil {
			return nil, wrapDetails(err, "mutation of column "+m.Column+" of table "+t.Name)
		}
		muts = append(muts, cm{c, m.Mutator, tx.resolve(v)})
	}
	rows, err := tx.matching(t, o.Where)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		n := r.clone()
		for _, m := range muts {
			d, err := applyMutation(m.c, m.op, n.Cols[m.c.Index], m.v)
			if err != nil {
				return nil, wrapDetails(err, "mutation of column "+m.c.Name+" of table "+t.Name)
			}
			n.Cols[m.c.Index] = d
		}
		tx.put(t, r.UUID, tx.db.tables[t].rows[r.UUID], n)
	}
	return &OperationResult{Count: len(rows)}, nil
}

func (tx *txn) wait(o *Operation, elapsed time.Duration) (*OperationResult, error) {
	t, err := tx.table(o.Table)
	if err != nil {
		return nil, err
	}
	if o.Until != "==" && o.Until != "!=" {
		return nil, syntaxErr("wait: until %q: allowed: ==, !=", o.Until)
	}
	cols, err := tx.projection(t, o.Columns)
	if err != nil {
		return nil, err
	}
	if cols == nil {
		cols = append([]*Column(nil), t.Cols...)
	}
	rows, err := tx.matching(t, o.Where)
	if err != nil {
		return nil, err
	}
	// Compare as multisets of projected rows.
	have := map[string]int{}
	for _, r := range rows {
		have[string(r.AppendJSON(nil, cols, false))]++
	}
	want := map[string]int{}
	for _, wr := range o.Rows {
		p := newRow(t, UUID{})
		for name, d := range wr {
			c := t.Column(name)
			if c == nil {
				return nil, syntaxErr("wait: table %s has no column %q", t.Name, name)
			}
			v, err := c.Type.Check(d)
			if err != nil {
				return nil, wrapDetails(err, "wait: column "+name)
			}
			v = tx.resolve(v)
			switch c.Index {
			case colUUID:
				p.UUID = v.Keys[0].(UUID)
			case colVersion:
				p.Version = v.Keys[0].(UUID)
			default:
				p.Cols[c.Index] = v
			}
		}
		want[string(p.AppendJSON(nil, cols, false))]++
	}
	equal := len(have) == len(want)
	if equal {
		for k, n := range have {
			if want[k] != n {
				equal = false
				break
			}
		}
	}
	if equal == (o.Until == "==") {
		return &OperationResult{}, nil
	}
	if o.Timeout != nil {
		to := time.Duration(*o.Timeout) * time.Millisecond
		if elapsed >= to {
			return nil, Errorf(ErrTimedOut, "\"wait\" timed out after %d ms", *o.Timeout)
		}
		return nil, &waitPending{left: to - elapsed}
	}
	return nil, &waitPending{left: time.Hour}
}

// ---- conditions ----

type cond struct {
	col   *Column
	fn    string
	val   Datum
	konst *bool
}

func compileConds(t *Table, where []Condition, resolve func(Datum) Datum) ([]cond, error) {
	out := make([]cond, 0, len(where))
	for _, w := range where {
		if w.Column == "" && w.Function == "" {
			k := w.Const
			out = append(out, cond{konst: &k})
			continue
		}
		c := t.Column(w.Column)
		if c == nil {
			return nil, syntaxErr("table %s has no column %q", t.Name, w.Column)
		}
		ct := c.Type
		switch w.Function {
		case "<", "<=", ">", ">=":
			if (ct.Key.Type != TypeInteger && ct.Key.Type != TypeReal) || ct.Value != nil || ct.Max != 1 {
				return nil, syntaxErr("function %s applies to integer and real columns with at most one value, not column %s", w.Function, c.Name)
			}
			ct.Min = 1
		case "==", "!=":
		case "includes", "excludes":
			ct.Min = 0
		default:
			return nil, syntaxErr("function %q: allowed: <, <=, ==, !=, >=, >, includes, excludes", w.Function)
		}
		if w.Function == "includes" || w.Function == "excludes" || w.Function == "==" || w.Function == "!=" {
			// Any number of elements may be compared against.
			ct.Min, ct.Max = 0, Unlimited
		}
		v, err := ct.checkElems(w.Value)
		if err == nil && (v.Len() < ct.Min || v.Len() > ct.Max) {
			err = syntaxErr("condition on %s needs %s value(s)", c.Name, intRange(int64(ct.Min), int64(ct.Max)))
		}
		if err != nil {
			// A value that cannot be a member of the column type is a
			// syntax error in RFC 7047; enum misses compare false.
			if e, ok := err.(*Error); ok && e.Tag == ErrConstraint {
				v = w.Value
			} else {
				return nil, wrapDetails(err, "condition on column "+c.Name)
			}
		}
		out = append(out, cond{col: c, fn: w.Function, val: resolve(v)})
	}
	return out, nil
}

func matchAll(conds []cond, r *Row) bool {
	for i := range conds {
		if !conds[i].match(r) {
			return false
		}
	}
	return true
}

func (c *cond) match(r *Row) bool {
	if c.konst != nil {
		return *c.konst
	}
	d := r.get(c.col)
	switch c.fn {
	case "==":
		return d.Equal(c.val)
	case "!=":
		return !d.Equal(c.val)
	case "includes":
		return includes(d, c.val)
	case "excludes":
		return excludes(d, c.val)
	}
	if len(d.Keys) == 0 || len(c.val.Keys) == 0 {
		return false
	}
	cmp := CompareAtoms(d.Keys[0], c.val.Keys[0])
	switch c.fn {
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	}
	return false
}

// includes: every element of b is in a (for maps, with the same value).
func includes(a, b Datum) bool {
	for i, k := range b.Keys {
		j := a.Find(k)
		if j < 0 {
			return false
		}
		if a.Values != nil && b.Values != nil && CompareAtoms(a.Values[j], b.Values[i]) != 0 {
			return false
		}
	}
	return true
}

// excludes: no element of b is in a (for maps, key and value both).
func excludes(a, b Datum) bool {
	for i, k := range b.Keys {
		j := a.Find(k)
		if j < 0 {
			continue
		}
		if a.Values == nil || b.Values == nil || CompareAtoms(a.Values[j], b.Values[i]) == 0 {
			return false
		}
	}
	return true
}

// ---- mutations ----

func mutationArg(c *Column, op string, v Datum) (Datum, error) {
	ct := c.Type
	switch op {
	case "+=", "-=", "*=", "/=", "%=":
		if ct.Value != nil || (ct.Key.Type != TypeInteger && ct.Key.Type != TypeReal) {
			return v, syntaxErr("mutator %s applies to integer and real columns and sets, not %s", op, describeType(&ct))
		}
		if op == "%=" && ct.Key.Type != TypeInteger {
			return v, syntaxErr("mutator %%= applies to integers only")
		}
		// The argument is a single atom of the base type, without its
		// range constraints (they apply to the result).
		bt := BaseType{Type: ct.Key.Type, MinInteger: math.MinInt64, MaxInteger: math.MaxInt64, MinReal: math.Inf(-1), MaxReal: math.Inf(1), MaxLength: math.MaxInt}
		if v.Len() != 1 || v.IsMap() {
			return v, syntaxErr("mutator %s needs one %s", op, ct.Key.Type)
		}
		a, err := bt.coerce(v.Keys[0])
		if err != nil {
			return v, err
		}
		return Scalar(a), nil
	case "insert", "delete":
		if ct.IsScalar() {
			return v, syntaxErr("mutator %s applies to sets and maps, not to a column with exactly one value", op)
		}
		arg := ct
		arg.Min, arg.Max = 0, Unlimited
		if ct.Value != nil && op == "delete" && !v.IsMap() {
			// Delete by keys: a set of keys.
			arg.Value = nil
		}
		return arg.checkElems(v)
	}
	return v, syntaxErr("mutator %q: allowed: +=, -=, *=, /=, %%=, insert, delete", op)
}

func describeType(t *ColumnType) string {
	if t.Value != nil {
		return "a map"
	}
	return "a " + t.Key.Type.String() + " column"
}

func applyMutation(c *Column, op string, cur, arg Datum) (Datum, error) {
	ct := &c.Type
	var out Datum
	switch op {
	case "+=", "-=", "*=", "/=", "%=":
		out = Datum{Keys: make([]Atom, len(cur.Keys))}
		for i, k := range cur.Keys {
			r, err := arith(op, k, arg.Keys[0])
			if err != nil {
				return cur, err
			}
			r, err = ct.Key.coerce(r)
			if err != nil {
				return cur, err
			}
			out.Keys[i] = r
		}
		if out.sort() {
			return cur, constraintErr("mutation %s made two elements of the set equal", op)
		}
	case "insert":
		out = cur.Clone()
		for i, k := range arg.Keys {
			if out.Find(k) >= 0 {
				continue // maps: an existing key keeps its value
			}
			out.Keys = append(out.Keys, k)
			if out.Values != nil {
				out.Values = append(out.Values, arg.Values[i])
			}
		}
		out.sort()
	case "delete":
		out = Datum{Keys: make([]Atom, 0, len(cur.Keys))}
		if cur.Values != nil {
			out.Values = make([]Atom, 0, len(cur.Keys))
		}
		for i, k := range cur.Keys {
			j := arg.Find(k)
			drop := j >= 0
			if drop && cur.Values != nil && arg.Values != nil {
				drop = CompareAtoms(cur.Values[i], arg.Values[j]) == 0
			}
			if drop {
				continue
			}
			out.Keys = append(out.Keys, k)
			if cur.Values != nil {
				out.Values = append(out.Values, cur.Values[i])
			}
		}
	}
	if out.Len() < ct.Min || out.Len() > ct.Max {
		return cur, constraintErr("mutation %s leaves %d elements, but the column allows %s", op, out.Len(), intRange(int64(ct.Min), int64(ct.Max)))
	}
	return out, nil
}

func arith(op string, a, b Atom) (Atom, error) {
	switch x := a.(type) {
	case int64:
		y := b.(int64)
		switch op {
		case "+=":
			r := x + y
			if (r > x) != (y > 0) {
				return nil, Errorf(ErrRange, "%d + %d overflows a 64-bit integer", x, y)
			}
			return r, nil
		case "-=":
			r := x - y
			if (r < x) != (y > 0) {
				return nil, Errorf(ErrRange, "%d - %d overflows a 64-bit integer", x, y)
			}
			return r, nil
		case "*=":
			if x != 0 && y != 0 {
				r := x * y
				if r/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
					return nil, Errorf(ErrRange, "%d * %d overflows a 64-bit integer", x, y)
				}
				return r, nil
			}
			return int64(0), nil
		case "/=", "%=":
			if y == 0 {
				return nil, Errorf(ErrDomain, "division by zero")
			}
			if x == math.MinInt64 && y == -1 {
				if op == "%=" {
					return int64(0), nil
				}
				return nil, Errorf(ErrRange, "%d / -1 overflows a 64-bit integer", x)
			}
			if op == "/=" {
				return x / y, nil
			}
			return x % y, nil
		}
	case float64:
		y := b.(float64)
		var r float64
		switch op {
		case "+=":
			r = x + y
		case "-=":
			r = x - y
		case "*=":
			r = x * y
		case "/=":
			if y == 0 {
				return nil, Errorf(ErrDomain, "division by zero")
			}
			r = x / y
		}
		if math.IsInf(r, 0) || math.IsNaN(r) {
			return nil, Errorf(ErrRange, "result of %g %s %g is out of range", x, strings.TrimSuffix(op, "="), y)
		}
		return r, nil
	}
	return nil, syntaxErr("bad mutation")
}
