package server

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
)

// A monitor replicates tables to a client: "monitor" (update), or
// "monitor_cond"/"monitor_cond_since" (update2/update3, with conditions and
// diffs). Changes are collected per row between sends (first old value,
// last new value), so a client that reads slowly gets the net change once
// instead of a backlog of every intermediate one.
type monitor struct {
	sess    *session
	db      *ovsdb.DB
	id      json.RawMessage
	version int // 1 update, 2 update2, 3 update3
	tables  map[string]*tableMon
	pending map[string]map[ovsdb.UUID]*ovsdb.RowChange
	lastTxn ovsdb.UUID
	cancel  func()
	dead    bool
	// started: the reply with the initial contents is queued; until then
	// changes only accumulate, so no update overtakes that reply.
	started bool
}

type selectFlags struct{ initial, insert, delete, modify bool }

type tableMon struct {
	t     *ovsdb.Table
	cols  []*ovsdb.Column
	sel   selectFlags
	where *ovsdb.Where // nil: every row
	conds []ovsdb.Condition
}

func badReq(format string, a ...any) *ovsdb.Error {
	return &ovsdb.Error{Tag: "syntax error", Details: fmt.Sprintf(format, a...)}
}

func parseMonitorRequests(db *ovsdb.DB, raw any, version int) (map[string]*tableMon, *ovsdb.Error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, badReq("monitor requests must be an object mapping table names to requests")
	}
	out := map[string]*tableMon{}
	for tname, v := range obj {
		t := db.Schema().Tables[tname]
		if t == nil {
			return nil, badReq("no table named %s", tname)
		}
		reqs, isArr := v.([]any)
		if !isArr {
			reqs = []any{v}
		}
		tm := &tableMon{t: t, cols: []*ovsdb.Column{}}
		seen := map[*ovsdb.Column]bool{}
		allCols := false
		for _, r := range reqs {
			ro, ok := r.(map[string]any)
			if !ok {
				return nil, badReq("monitor request for table %s must be an object", tname)
			}
			for k := range ro {
				if k != "columns" && k != "select" && !(k == "where" && version > 1) {
					return nil, badReq("member %q is not allowed in a monitor request", k)
				}
			}
			if c, ok := ro["columns"]; ok {
				names, ok := c.([]any)
				if !ok {
					return nil, badReq("columns of table %s must be an array of names", tname)
				}
				for _, n := range names {
					s, _ := n.(string)
					col := t.Column(s)
					if col == nil {
						return nil, badReq("%s is not a valid column name in table %s", short(n), tname)
					}
					if !seen[col] {
						seen[col] = true
						tm.cols = append(tm.cols, col)
					}
				}
			} else {
				allCols = true
			}
			sel := selectFlags{true, true, true, true}
			if sv, ok := ro["select"]; ok {
				so, ok := sv.(map[string]any)
				if !ok {
					return nil, badReq("select of table %s must be an object", tname)
				}
				get := func(k string, dst *bool) *ovsdb.Error {
					if x, ok := so[k]; ok {
						b, ok := x.(bool)
						if !ok {
							return badReq("select.%s must be a boolean", k)
						}
						*dst = b
					}
					return nil
				}
				for k := range so {
					if k != "initial" && k != "insert" && k != "delete" && k != "modify" {
						return nil, badReq("select member %q: allowed: initial, insert, delete, modify", k)
					}
				}
				for k, dst := range map[string]*bool{"initial": &sel.initial, "insert": &sel.insert, "delete": &sel.delete, "modify": &sel.modify} {
					if e := get(k, dst); e != nil {
						return nil, e
					}
				}
			}
			tm.sel.initial = tm.sel.initial || sel.initial
			tm.sel.insert = tm.sel.insert || sel.insert
			tm.sel.delete = tm.sel.delete || sel.delete
			tm.sel.modify = tm.sel.modify || sel.modify
			if w, ok := ro["where"]; ok {
				conds, e := ovsdb.ParseConditions(w)
				if e != nil {
					return nil, e
				}
				if len(conds) == 0 {
					conds = []ovsdb.Condition{{Const: true}}
				}
				tm.conds = append(tm.conds, conds...)
			} else {
				tm.conds = append(tm.conds, ovsdb.Condition{Const: true})
			}
		}
		if allCols {
			for _, c := range t.Cols {
				if !seen[c] {
					tm.cols = append(tm.cols, c)
				}
			}
		}
		if version > 1 {
			w, err := ovsdb.CompileAnyWhere(t, tm.conds)
			if err != nil {
				return nil, ovsdb.AsError(err, "syntax error")
			}
			tm.where = w
		}
		out[tname] = tm
	}
	return out, nil
}

func short(v any) string { b, _ := json.Marshal(v); return string(b) }

func (ss *session) monitor(id json.RawMessage, method string, params []any) {
	version := map[string]int{"monitor": 1, "monitor_cond": 2, "monitor_cond_since": 3}[method]
	want := 3
	if version == 3 {
		want = 4
	}
	if len(params) != want {
		ss.sendError(id, "syntax error", fmt.Sprintf("%s takes %d params", method, want))
		return
	}
	db, e := ss.dbParam(params, 0)
	if e != nil {
		ss.replyErr(id, e)
		return
	}
	monID, _ := json.Marshal(params[1])
	tables, e := parseMonitorRequests(db, params[2], version)
	if e != nil {
		ss.replyErr(id, e)
		return
	}
	var since ovsdb.UUID
	if version == 3 {
		s, _ := params[3].(string)
		u, err := ovsdb.ParseUUID(s)
		if err != nil {
			ss.sendError(id, "syntax error", "last-txn-id: "+err.Error())
			return
		}
		since = u
	}
	m := &monitor{sess: ss, db: db, id: monID, version: version, tables: tables}
	ss.mu.Lock()
	if _, dup := ss.monitors[string(monID)]; dup {
		ss.mu.Unlock()
		ss.sendError(id, "duplicate monitor ID", string(monID))
		return
	}
	ss.monitors[string(monID)] = m
	ss.mu.Unlock()
	var result []byte
	m.cancel = db.OnCommit(func(snap ovsdb.Snapshot) {
		m.lastTxn = snap.LastTxnID()
		if version == 3 {
			if commits, found := snap.Since(since); found {
				ss.srv.stats.SinceFound.Add(1)
				changes := coalesce(commits, tables)
				b := []byte(`[true,"`)
				b = m.lastTxn.AppendText(b)
				b = append(b, `",`...)
				b = m.appendUpdates(b, changes)
				result = append(b, ']')
				return
			}
		}
		var b []byte
		if version == 3 {
			ss.srv.stats.SinceMissed.Add(1)
			b = append(b, `[false,"`...)
			b = m.lastTxn.AppendText(b)
			b = append(b, `",`...)
		}
		b = m.appendInitial(b, snap)
		if version == 3 {
			b = append(b, ']')
		}
		result = b
	}, m.onCommit)
	ss.srv.stats.LastInitialBytes.Store(int64(len(result)))
	ss.srv.stats.Monitors.Add(1)
	ss.mu.Lock()
	ss.reply(id, result)
	m.started = true
	m.flushLocked()
	ss.mu.Unlock()
}

// coalesce merges the row changes of commits, per monitored table.
func coalesce(commits []*ovsdb.Commit, tables map[string]*tableMon) map[string]map[ovsdb.UUID]*ovsdb.RowChange {
	out := map[string]map[ovsdb.UUID]*ovsdb.RowChange{}
	for _, c := range commits {
		for tname, rows := range c.Tables {
			if tables[tname] == nil {
				continue
			}
			m := out[tname]
			if m == nil {
				m = map[ovsdb.UUID]*ovsdb.RowChange{}
				out[tname] = m
			}
			for u, ch := range rows {
				if p := m[u]; p != nil {
					p.New = ch.New
				} else {
					c := ch
					m[u] = &c
				}
			}
		}
	}
	return out
}

// onCommit runs under the database's write lock.
func (m *monitor) onCommit(c *ovsdb.Commit) {
	ss := m.sess
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if m.dead {
		return
	}
	touched := false
	for tname, rows := range c.Tables {
		if m.tables[tname] == nil {
			continue
		}
		if m.pending == nil {
			m.pending = map[string]map[ovsdb.UUID]*ovsdb.RowChange{}
		}
		pm := m.pending[tname]
		if pm == nil {
			pm = map[ovsdb.UUID]*ovsdb.RowChange{}
			m.pending[tname] = pm
		}
		for u, ch := range rows {
			if p := pm[u]; p != nil {
				p.New = ch.New
			} else {
				x := ch
				pm[u] = &x
			}
			touched = true
		}
	}
	if !touched {
		return
	}
	m.lastTxn = c.TxnID
	if ss.w.Backlog() < ss.srv.cfg.MonitorBacklog {
		m.flushLocked()
	} else {
		ss.srv.stats.CoalescedTimes.Add(1)
	}
}

// flushLocked sends the pending changes (ss.mu held).
func (m *monitor) flushLocked() {
	if len(m.pending) == 0 || !m.started {
		return
	}
	changes := m.pending
	m.pending = nil
	b := []byte{'['}
	b = append(b, m.id...)
	b = append(b, ',')
	if m.version == 3 {
		b = append(b, '"')
		b = m.lastTxn.AppendText(b)
		b = append(b, `",`...)
	}
	n := len(b)
	b = m.appendUpdates(b, changes)
	if len(b)-n == 2 { // "{}": nothing this client selected
		return
	}
	b = append(b, ']')
	method := [...]string{1: "update", 2: "update2", 3: "update3"}[m.version]
	p := make([]byte, 0, len(b)+64)
	p = append(p, `{"id":null,"method":"`...)
	p = append(p, method...)
	p = append(p, `","params":`...)
	p = append(p, b...)
	p = append(p, '}')
	_ = m.sess.w.Send(p)
}

func (ss *session) flushMonitors() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, m := range ss.monitors {
		m.flushLocked()
	}
}

// drained runs when the session's output queue empties.
func (ss *session) drained() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, m := range ss.monitors {
		m.flushLocked()
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (m *monitor) appendInitial(b []byte, snap ovsdb.Snapshot) []byte {
	b = append(b, '{')
	nt := 0
	for _, tname := range sortedKeys(m.tables) {
		tm := m.tables[tname]
		if !tm.sel.initial {
			continue
		}
		start := len(b)
		if nt > 0 {
			b = append(b, ',')
		}
		b = ovsdb.AppendString(b, tname)
		b = append(b, ":{"...)
		nr := 0
		snap.Rows(tname, func(r *ovsdb.Row) bool {
			if tm.where != nil && !tm.where.Match(r) {
				return true
			}
			if nr > 0 {
				b = append(b, ',')
			}
			nr++
			b = append(b, '"')
			b = r.UUID.AppendText(b)
			if m.version == 1 {
				b = append(b, `":{"new":`...)
				b = r.AppendJSON(b, tm.cols, false)
			} else {
				b = append(b, `":{"initial":`...)
				b = r.AppendJSON(b, tm.cols, true)
			}
			b = append(b, '}')
			return true
		})
		if nr == 0 {
			b = b[:start]
			continue
		}
		b = append(b, '}')
		nt++
	}
	return append(b, '}')
}

// appendUpdates composes <table-updates> (v1) or <table-updates2>.
func (m *monitor) appendUpdates(b []byte, changes map[string]map[ovsdb.UUID]*ovsdb.RowChange) []byte {
	b = append(b, '{')
	nt := 0
	for _, tname := range sortedKeys(changes) {
		tm := m.tables[tname]
		if tm == nil {
			continue
		}
		start := len(b)
		if nt > 0 {
			b = append(b, ',')
		}
		b = ovsdb.AppendString(b, tname)
		b = append(b, ":{"...)
		nr := 0
		for u, ch := range changes[tname] {
			mark := len(b)
			if nr > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = u.AppendText(b)
			b = append(b, `":`...)
			var ok bool
			if m.version == 1 {
				b, ok = tm.appendUpdate1(b, ch)
			} else {
				b, ok = tm.appendUpdate2(b, ch)
			}
			if !ok {
				b = b[:mark]
				continue
			}
			nr++
		}
		if nr == 0 {
			b = b[:start]
			continue
		}
		b = append(b, '}')
		nt++
	}
	return append(b, '}')
}

func (tm *tableMon) appendUpdate1(b []byte, ch *ovsdb.RowChange) ([]byte, bool) {
	switch {
	case ch.Old == nil && ch.New == nil:
		return b, false
	case ch.Old == nil:
		if !tm.sel.insert {
			return b, false
		}
		b = append(b, `{"new":`...)
		b = ch.New.AppendJSON(b, tm.cols, false)
		return append(b, '}'), true
	case ch.New == nil:
		if !tm.sel.delete {
			return b, false
		}
		b = append(b, `{"old":`...)
		b = ch.Old.AppendJSON(b, tm.cols, false)
		return append(b, '}'), true
	}
	if !tm.sel.modify {
		return b, false
	}
	var changed []*ovsdb.Column
	for _, c := range tm.cols {
		if !ch.Old.Value(c).Equal(ch.New.Value(c)) {
			changed = append(changed, c)
		}
	}
	if len(changed) == 0 {
		return b, false
	}
	b = append(b, `{"old":`...)
	b = ch.Old.AppendJSON(b, changed, false)
	b = append(b, `,"new":`...)
	b = ch.New.AppendJSON(b, tm.cols, false)
	return append(b, '}'), true
}

func (tm *tableMon) appendUpdate2(b []byte, ch *ovsdb.RowChange) ([]byte, bool) {
	oldM := ch.Old != nil && tm.where.Match(ch.Old)
	newM := ch.New != nil && tm.where.Match(ch.New)
	switch {
	case !oldM && !newM:
		return b, false
	case !oldM:
		if !tm.sel.insert {
			return b, false
		}
		b = append(b, `{"insert":`...)
		b = ch.New.AppendJSON(b, tm.cols, true)
		return append(b, '}'), true
	case !newM:
		if !tm.sel.delete {
			return b, false
		}
		return append(b, `{"delete":null}`...), true
	}
	if !tm.sel.modify {
		return b, false
	}
	start := len(b)
	b = append(b, `{"modify":{`...)
	n := 0
	for _, c := range tm.cols {
		o, nv := ch.Old.Value(c), ch.New.Value(c)
		if o.Equal(nv) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = ovsdb.AppendColumnJSON(b, c.Name, ovsdb.Diff(c, o, nv))
	}
	if n == 0 {
		return b[:start], false
	}
	return append(b, "}}"...), true
}

func (ss *session) monitorCancel(id json.RawMessage, params []any) {
	if len(params) != 1 {
		ss.sendError(id, "syntax error", "monitor_cancel takes one param, the monitor id")
		return
	}
	key, _ := json.Marshal(params[0])
	ss.mu.Lock()
	m := ss.monitors[string(key)]
	if m != nil {
		delete(ss.monitors, string(key))
		m.dead = true
	}
	ss.mu.Unlock()
	if m == nil {
		ss.sendError(id, "unknown monitor", string(key))
		return
	}
	m.cancel()
	ss.srv.stats.Monitors.Add(-1)
	ss.reply(id, []byte("{}"))
}

func (ss *session) monitorCondChange(id json.RawMessage, params []any) {
	if len(params) != 3 {
		ss.sendError(id, "syntax error", "monitor_cond_change takes 3 params")
		return
	}
	oldKey, _ := json.Marshal(params[0])
	newKey, _ := json.Marshal(params[1])
	ss.mu.Lock()
	m := ss.monitors[string(oldKey)]
	ss.mu.Unlock()
	if m == nil || m.version == 1 {
		ss.sendError(id, "unknown monitor", string(oldKey))
		return
	}
	reqs, ok := params[2].(map[string]any)
	if !ok {
		ss.sendError(id, "syntax error", "monitor_cond_change requests must be an object")
		return
	}
	var e *ovsdb.Error
	m.db.Read(func(r ovsdb.Reader) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if string(newKey) != string(oldKey) {
			if _, dup := ss.monitors[string(newKey)]; dup {
				e = &ovsdb.Error{Tag: "duplicate monitor ID", Details: string(newKey)}
				return
			}
		}
		// Parse everything before changing anything.
		type change struct {
			tm    *tableMon
			where *ovsdb.Where
			conds []ovsdb.Condition
		}
		var changes []change
		for _, tname := range sortedKeys(reqs) {
			tm := m.tables[tname]
			if tm == nil {
				e = badReq("table %s is not monitored", tname)
				return
			}
			list, isArr := reqs[tname].([]any)
			if !isArr {
				list = []any{reqs[tname]}
			}
			var conds []ovsdb.Condition
			for _, x := range list {
				o, ok := x.(map[string]any)
				if !ok {
					e = badReq("monitor_cond_change request for %s must be an object", tname)
					return
				}
				if w, ok := o["where"]; ok {
					c, pe := ovsdb.ParseConditions(w)
					if pe != nil {
						e = pe
						return
					}
					if len(c) == 0 {
						c = []ovsdb.Condition{{Const: true}}
					}
					conds = append(conds, c...)
				} else {
					conds = append(conds, tm.conds...)
				}
			}
			w, err := ovsdb.CompileAnyWhere(tm.t, conds)
			if err != nil {
				e = ovsdb.AsError(err, "syntax error")
				return
			}
			changes = append(changes, change{tm, w, conds})
		}
		m.flushLocked()
		// Rows that enter or leave the new condition.
		diff := map[string]map[ovsdb.UUID]*ovsdb.RowChange{}
		for _, c := range changes {
			tm := c.tm
			pm := map[ovsdb.UUID]*ovsdb.RowChange{}
			r.Rows(tm.t.Name, func(row *ovsdb.Row) bool {
				was, is := tm.where.Match(row), c.where.Match(row)
				switch {
				case is && !was:
					pm[row.UUID] = &ovsdb.RowChange{New: row}
				case was && !is:
					pm[row.UUID] = &ovsdb.RowChange{Old: row}
				}
				return true
			})
			tm.where, tm.conds = c.where, c.conds
			if len(pm) > 0 {
				diff[tm.t.Name] = pm
			}
		}
		if string(newKey) != string(oldKey) {
			delete(ss.monitors, string(oldKey))
			ss.monitors[string(newKey)] = m
			m.id = newKey
		}
		// With the new conditions a departing row reads as a delete, an
		// arriving one as an insert (old/new are judged separately).
		m.pending = diff
		saved := map[*tableMon]*ovsdb.Where{}
		for _, c := range changes {
			saved[c.tm] = c.tm.where
			c.tm.where = &everything
		}
		m.flushLocked()
		for tm, w := range saved {
			tm.where = w
		}
	})
	if e != nil {
		ss.replyErr(id, e)
		return
	}
	ss.reply(id, []byte("{}"))
}

// everything matches every row.
var everything ovsdb.Where
