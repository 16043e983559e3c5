package ovsdb

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// commit checks the transaction as a whole and, when it passes, writes it
// to the file (fsync) and applies it. Called with the write lock held.
// The order of the checks is Open vSwitch's: strong references, garbage
// collection, maxRows, weak references, indexes; then the commit hooks.
func (tx *txn) commit() error {
	db := tx.db
	// 1. Drop rows that did not change.
	for t, m := range tx.rows {
		for u, tr := range m {
			switch {
			case tr.old == nil && tr.new == nil:
				delete(m, u)
			case tr.old != nil && tr.new != nil && sameCols(tr.old, tr.new):
				delete(m, u)
			}
		}
		if len(m) == 0 {
			delete(tx.rows, t)
		}
	}
	if len(tx.rows) == 0 {
		return nil
	}
	// 2. Strong reference counts and referential integrity.
	delta := map[*Table]map[UUID]int32{}
	add := func(t *Table, u UUID, n int32) {
		m := delta[t]
		if m == nil {
			m = map[UUID]int32{}
			delta[t] = m
		}
		m[u] += n
	}
	var refErr error
	for _, t := range sortedTables(tx.rows) {
		for _, u := range sortedUUIDs(tx.rows[t]) {
			tr := tx.rows[t][u]
			if tr.old != nil {
				tr.old.refs(func(dst *Table, v UUID, weak bool) {
					if !weak {
						add(dst, v, -1)
					}
				})
			}
			if tr.new != nil {
				tr.new.refs(func(dst *Table, v UUID, weak bool) {
					if weak {
						return
					}
					if refErr == nil && tx.row(dst, v) == nil {
						refErr = Errorf(ErrReferentialIntegrity, "Table %s column %s row %s references nonexistent row %s in table %s.",
							t.Name, refColumn(tr.new, dst, v), u, v, dst.Name)
					}
					add(dst, v, 1)
				})
			}
		}
	}
	if refErr != nil {
		return refErr
	}
	count := func(t *Table, u UUID) int32 { return db.tables[t].refs[u] + delta[t][u] }
	for _, t := range sortedTables(tx.rows) {
		for _, u := range sortedUUIDs(tx.rows[t]) {
			tr := tx.rows[t][u]
			if tr.new == nil {
				if n := count(t, u); n > 0 {
					return Errorf(ErrReferentialIntegrity, "cannot delete %s row %s because of %d remaining reference(s)", t.Name, u, n)
				}
			}
		}
	}
	// 3. Garbage-collect unreferenced rows of non-root tables: those the
	// transaction touched and those that lost references.
	type key struct {
		t *Table
		u UUID
	}
	var work []key
	for t, m := range tx.rows {
		if !t.IsRoot {
			for u, tr := range m {
				if tr.new != nil {
					work = append(work, key{t, u})
				}
			}
		}
	}
	for t, m := range delta {
		if !t.IsRoot {
			for u, n := range m {
				if n < 0 {
					work = append(work, key{t, u})
				}
			}
		}
	}
	for len(work) > 0 {
		k := work[len(work)-1]
		work = work[:len(work)-1]
		r := tx.row(k.t, k.u)
		if r == nil || count(k.t, k.u) > 0 {
			continue
		}
		tx.put(k.t, k.u, db.tables[k.t].rows[k.u], nil)
		r.refs(func(dst *Table, v UUID, weak bool) {
			if !weak {
				add(dst, v, -1)
				if !dst.IsRoot {
					work = append(work, key{dst, v})
				}
			}
		})
	}
	for t, m := range tx.rows {
		for u, tr := range m {
			if tr.old == nil && tr.new == nil {
				delete(m, u)
			}
		}
		if len(m) == 0 {
			delete(tx.rows, t)
		}
	}
	// 4. maxRows.
	for _, t := range sortedTables(tx.rows) {
		if t.MaxRows == 0 {
			continue
		}
		if n := (txnView{tx}).Count(t.Name); n > t.MaxRows {
			return constraintErr("transaction causes %q table to contain %d rows, greater than the schema-defined limit of %d row(s)", t.Name, n, t.MaxRows)
		}
	}
	// 5. Weak references: drop those whose target is gone.
	if err := tx.fixWeakRefs(); err != nil {
		return err
	}
	// 6. Index uniqueness.
	if err := tx.checkIndexes(); err != nil {
		return err
	}
	// 7. Versions, then the hooks see the final rows.
	for _, m := range tx.rows {
		for _, tr := range m {
			if tr.new != nil {
				tr.new.Version = NewUUID()
			}
		}
	}
	c := &Commit{Origin: tx.opt.Origin, Tables: make(map[string]map[UUID]RowChange, len(tx.rows))}
	for t, m := range tx.rows {
		tc := make(map[UUID]RowChange, len(m))
		for u, tr := range m {
			tc[u] = RowChange{Old: tr.old, New: tr.new}
		}
		c.Tables[t.Name] = tc
		c.rows += len(m)
	}
	for _, h := range db.hooks {
		if err := h.fn(c, txnView{tx}); err != nil {
			return AsError(err, ErrConstraint)
		}
	}
	// 8. Durability: write and fsync before anything becomes visible.
	c.TxnID = NewUUID()
	if db.file != nil {
		if rec := tx.record(); rec != nil {
			sum, err := db.file.append(rec, !tx.opt.NoSync)
			if err != nil {
				return Errorf(ErrIO, "writing %s: %v", db.file.path, err)
			}
			c.TxnID = txnIDFromSum(sum)
			c.Durable = !tx.opt.NoSync
		}
	}
	// 9. Apply.
	for t, m := range tx.rows {
		td := db.tables[t]
		for u, tr := range m {
			if tr.old != nil {
				for i, idx := range t.Indexes {
					k := indexKey(tr.old, idx)
					if td.indexes[i][k] == u {
						delete(td.indexes[i], k)
					}
				}
			}
			if tr.new == nil {
				delete(td.rows, u)
			}
		}
	}
	for t, m := range tx.rows {
		td := db.tables[t]
		for u, tr := range m {
			if tr.new != nil {
				td.rows[u] = tr.new
				for i, idx := range t.Indexes {
					td.indexes[i][indexKey(tr.new, idx)] = u
				}
			}
		}
	}
	for t, m := range delta {
		refs := db.tables[t].refs
		for u, n := range m {
			if n == 0 {
				continue
			}
			if v := refs[u] + n; v <= 0 {
				delete(refs, u)
			} else {
				refs[u] = v
			}
		}
	}
	db.lastTxn = c.TxnID
	db.remember(c)
	close(db.changed)
	db.changed = make(chan struct{})
	for _, id := range sortedSubIDs(db.subs) {
		db.subs[id](c)
	}
	if c.Durable {
		db.maybeCompact()
	}
	return nil
}

func sortedSubIDs(m map[int]func(*Commit)) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

func (db *DB) maybeCompact() {
	f := db.file
	if f.size < db.opts.CompactMinBytes || f.size < int64(db.opts.CompactRatio)*f.snapSize {
		return
	}
	if err := db.compactLocked(); err != nil {
		db.log.Error("compaction failed; the log keeps growing", "file", f.path, "err", err)
	}
}

// remember keeps the commit in the bounded history.
func (db *DB) remember(c *Commit) {
	db.history = append(db.history, c)
	db.histRow += c.rows
	drop := 0
	for len(db.history)-drop > db.opts.HistoryTxns || (db.histRow > db.opts.HistoryRows && len(db.history)-drop > 1) {
		db.histRow -= db.history[drop].rows
		drop++
	}
	if drop > 0 {
		db.history = append([]*Commit(nil), db.history[drop:]...)
	}
}

func sameCols(a, b *Row) bool {
	for i := range a.Cols {
		if !a.Cols[i].Equal(b.Cols[i]) {
			return false
		}
	}
	return true
}

func refColumn(r *Row, dst *Table, v UUID) string {
	for _, c := range r.table.Cols {
		if c.dstKey == dst && r.Cols[c.Index].Find(v) >= 0 {
			return c.Name
		}
		if c.dstValue == dst {
			for _, x := range r.Cols[c.Index].Values {
				if x == Atom(v) {
					return c.Name
				}
			}
		}
	}
	return "?"
}

func sortedTables[V any](m map[*Table]V) []*Table {
	ts := make([]*Table, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts
}

func sortedUUIDs[V any](m map[UUID]V) []UUID {
	us := make([]UUID, 0, len(m))
	for u := range m {
		us = append(us, u)
	}
	sort.Slice(us, func(i, j int) bool { return CompareAtoms(us[i], us[j]) < 0 })
	return us
}

// fixWeakRefs removes weak references to rows that do not exist after the
// transaction, from rows the transaction wrote and from rows of tables
// that refer weakly to a table that lost rows.
func (tx *txn) fixWeakRefs() error {
	lost := map[*Table]bool{}
	for t, m := range tx.rows {
		for _, tr := range m {
			if tr.new == nil {
				lost[t] = true
				break
			}
		}
	}
	check := func(t *Table, r *Row) error {
		var n *Row
		for _, c := range t.Cols {
			if !c.refs {
				continue
			}
			weakKey := c.Type.Key.RefTable != "" && c.Type.Key.RefType == RefWeak
			weakVal := c.Type.Value != nil && c.Type.Value.RefTable != "" && c.Type.Value.RefType == RefWeak
			if !weakKey && !weakVal {
				continue
			}
			d := r.Cols[c.Index]
			keep := make([]int, 0, len(d.Keys))
			for i := range d.Keys {
				ok := true
				if weakKey {
					if u, isU := d.Keys[i].(UUID); isU && tx.row(c.dstKey, u) == nil {
						ok = false
					}
				}
				if weakVal && ok {
					if u, isU := d.Values[i].(UUID); isU && tx.row(c.dstValue, u) == nil {
						ok = false
					}
				}
				if ok {
					keep = append(keep, i)
				}
			}
			if len(keep) == len(d.Keys) {
				continue
			}
			nd := Datum{Keys: make([]Atom, 0, len(keep))}
			if d.Values != nil {
				nd.Values = make([]Atom, 0, len(keep))
			}
			for _, i := range keep {
				nd.Keys = append(nd.Keys, d.Keys[i])
				if d.Values != nil {
					nd.Values = append(nd.Values, d.Values[i])
				}
			}
			if nd.Len() < c.Type.Min {
				return constraintErr("removing weak references to deleted rows leaves column %s of %s with %d element(s), fewer than the %d it needs", c.Name, rowLabel(t, r.UUID), nd.Len(), c.Type.Min)
			}
			if n == nil {
				n = r.clone()
			}
			n.Cols[c.Index] = nd
		}
		if n != nil {
			tx.put(t, r.UUID, tx.db.tables[t].rows[r.UUID], n)
		}
		return nil
	}
	// Rows written by the transaction.
	for _, t := range sortedTables(tx.rows) {
		for _, u := range sortedUUIDs(tx.rows[t]) {
			if r := tx.rows[t][u].new; r != nil {
				if err := check(t, r); err != nil {
					return err
				}
			}
		}
	}
	// Rows elsewhere that may point at what was deleted.
	seen := map[*Table]bool{}
	for dst := range lost {
		for _, rc := range dst.refsIn {
			bt := &rc.col.Type.Key
			if rc.col.dstKey != dst {
				bt = rc.col.Type.Value
			}
			if bt.RefType != RefWeak || seen[rc.table] {
				continue
			}
			seen[rc.table] = true
			var rows []*Row
			for u, r := range tx.db.tables[rc.table].rows {
				if tx.rows[rc.table] == nil || tx.rows[rc.table][u] == nil {
					rows = append(rows, r)
				}
			}
			for _, r := range rows {
				if err := check(rc.table, r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (tx *txn) checkIndexes() error {
	for _, t := range sortedTables(tx.rows) {
		if len(t.Indexes) == 0 {
			continue
		}
		td := tx.db.tables[t]
		m := tx.rows[t]
		for i, idx := range t.Indexes {
			mine := map[string]UUID{}
			for _, u := range sortedUUIDs(m) {
				r := m[u].new
				if r == nil {
					continue
				}
				k := indexKey(r, idx)
				if other, ok := mine[k]; ok {
					return indexErr(t, idx, r, tx.row(t, other), m)
				}
				mine[k] = u
				if owner, ok := td.indexes[i][k]; ok && owner != u {
					if _, changed := m[owner]; !changed {
						return indexErr(t, idx, r, td.rows[owner], m)
					}
				}
			}
		}
	}
	return nil
}

func indexErr(t *Table, idx []*Column, a, b *Row, m map[UUID]*txnRow) error {
	names := make([]string, len(idx))
	vals := make([]string, len(idx))
	for i, c := range idx {
		names[i] = c.Name
		vals[i] = a.Cols[c.Index].String()
	}
	if CompareAtoms(a.UUID, b.UUID) > 0 {
		a, b = b, a
	}
	how := func(r *Row) string {
		tr := m[r.UUID]
		switch {
		case tr == nil:
			return "existed in the database before this transaction and was not modified by the transaction."
		case tr.old == nil:
			return "was inserted by this transaction."
		}
		return "was modified by this transaction."
	}
	return constraintErr("Transaction causes multiple rows in %q table to have identical values (%s) for index on %s.  First row, with UUID %s, %s  Second row, with UUID %s, %s",
		t.Name, strings.Join(vals, ", "), strings.Join(names, ", "), a.UUID, how(a), b.UUID, how(b))
}

// record is the log record of the transaction, or nil when it changed no
// durable column.
func (tx *txn) record() []byte {
	b := []byte{'{'}
	n := 0
	for _, t := range sortedTables(tx.rows) {
		m := tx.rows[t]
		start := len(b)
		if n > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.Name)
		b = append(b, ":{"...)
		rows := 0
		for _, u := range sortedUUIDs(m) {
			tr := m[u]
			mark := len(b)
			if rows > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = u.AppendText(b)
			b = append(b, `":`...)
			if tr.new == nil {
				b = append(b, "null"...)
			} else {
				rs := len(b)
				b = appendRowRecord(b, tr.old, tr.new)
				if tr.old != nil && len(b)-rs == 2 { // "{}": only ephemeral changes
					b = b[:mark]
					continue
				}
			}
			rows++
		}
		if rows == 0 {
			b = b[:start]
			continue
		}
		b = append(b, '}')
		n++
	}
	if n == 0 {
		return nil
	}
	b = append(b, `,"_date":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	if len(tx.comment) > 0 {
		b = append(b, `,"_comment":`...)
		b = appendJSONString(b, strings.Join(tx.comment, "\n"))
	}
	return append(b, '}')
}
