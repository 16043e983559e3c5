// Package ovsdb is Switchyard's OVSDB database engine (RFC 7047 with Open
// vSwitch's extensions): schemas, typed values, atomic transactions with
// referential integrity, garbage collection, indexes and constraints,
// durable storage in Open vSwitch's own log format, a bounded history of
// committed transactions for monitor_cond_since, and an in-process Go API
// (typed transactions, reads without JSON, commit subscriptions with
// row-level diffs, commit hooks that can veto).
//
// The JSON-RPC server that puts it on a socket is in ovsdb/server.
package ovsdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Options tune a database.
type Options struct {
	// HistoryTxns bounds the transaction history kept for
	// monitor_cond_since (default 100 transactions).
	HistoryTxns int
	// HistoryRows bounds the rows those transactions may hold together
	// (default 200,000); older transactions are dropped first.
	HistoryRows int
	// CompactMinBytes: the log is compacted when it is larger than this
	// (default 4 MiB) and than CompactRatio times its size after the last
	// compaction (default 4).
	CompactMinBytes int64
	CompactRatio    int
	// Logger receives compaction and recovery messages (default: discard).
	Logger *slog.Logger
}

// DB is one OVSDB database: its schema, its committed rows, and (when it
// was opened with a file) the log that makes commits durable.
type DB struct {
	schema *Schema
	opts   Options
	log    *slog.Logger

	mu      sync.RWMutex
	tables  map[*Table]*tableData
	file    *logFile
	closed  bool
	lastTxn UUID
	history []*Commit
	histRow int
	changed chan struct{}
	hooks   []hookEntry
	subs    map[int]func(*Commit)
	nextID  int
	// reserved: the wire may only read (the _Server database).
	reserved bool
}

type tableData struct {
	t       *Table
	rows    map[UUID]*Row
	refs    map[UUID]int32 // strong references to each row
	indexes []map[string]UUID
}

type hookEntry struct {
	id int
	fn CommitHook
}

// CommitHook sees a transaction that has passed every schema check, with
// its row changes and the database as it would be after it, and may veto
// it by returning an error. An *Error keeps its tag; any other error
// becomes a "constraint violation" with the message as details. Hooks run
// under the database's write lock and must not call the DB.
type CommitHook func(c *Commit, after Reader) error

// Commit is one committed transaction.
type Commit struct {
	// TxnID identifies the transaction (update3's last-txn-id).
	TxnID UUID
	// Origin is what the writer put in TxnOptions.Origin ("" from the
	// wire), so a subscriber can ignore its own writes.
	Origin string
	// Tables maps table name → row UUID → change.
	Tables map[string]map[UUID]RowChange
	// Durable says the transaction was written to disk (false when it
	// changed only ephemeral columns, or the database has no file).
	Durable bool
	rows    int
}

// RowChange is a row's value before and after a transaction: Old nil for an
// insert, New nil for a delete.
type RowChange struct {
	Old, New *Row
}

// Reader reads rows. Rows returned are immutable and may be kept.
type Reader interface {
	// Row returns the row of table with the UUID, or nil.
	Row(table string, u UUID) *Row
	// Rows calls fn for each row of the table until fn returns false.
	Rows(table string, fn func(*Row) bool)
	// Count returns the number of rows of the table.
	Count(table string) int
}

// New makes an in-memory database (no file: nothing is durable).
func New(schema *Schema, opts Options) *DB {
	db := &DB{schema: schema, opts: opts, tables: map[*Table]*tableData{}, changed: make(chan struct{}), subs: map[int]func(*Commit){}}
	if db.opts.HistoryTxns == 0 {
		db.opts.HistoryTxns = 100
	}
	if db.opts.HistoryRows == 0 {
		db.opts.HistoryRows = 200_000
	}
	if db.opts.CompactMinBytes == 0 {
		db.opts.CompactMinBytes = 4 << 20
	}
	if db.opts.CompactRatio == 0 {
		db.opts.CompactRatio = 4
	}
	db.log = opts.Logger
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	for _, t := range schema.Tables {
		td := &tableData{t: t, rows: map[UUID]*Row{}, refs: map[UUID]int32{}}
		for range t.Indexes {
			td.indexes = append(td.indexes, map[string]UUID{})
		}
		db.tables[t] = td
	}
	db.reserved = len(schema.Name) > 0 && schema.Name[0] == '_'
	return db
}

// Open opens the database file at path, creating it with the schema when
// it does not exist. A torn record at the end of the file (a crash in the
// middle of a write) is dropped. A file written with another version of
// the schema is converted: columns and tables the new schema lacks are
// dropped, new ones take their defaults, and the file is rewritten.
func Open(path string, schema *Schema, opts Options) (*DB, error) {
	db := New(schema, opts)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		size, err := writeFresh(path, schema.raw, nil)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		lf, err := openLogFile(path, size)
		if err != nil {
			return nil, err
		}
		db.file = lf
		return db, nil
	}
	if err != nil {
		return nil, err
	}
	recs, good, err := readLog(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no schema record", path)
	}
	fileSchema, err := ParseSchema(recs[0].json)
	if err != nil {
		return nil, fmt.Errorf("%s: schema record: %w", path, err)
	}
	convert := fileSchema.Name != schema.Name || fileSchema.Version != schema.Version || string(fileSchema.raw) != string(schema.raw)
	if fileSchema.Name != schema.Name {
		return nil, fmt.Errorf("%s holds database %q, not %q", path, fileSchema.Name, schema.Name)
	}
	for i, r := range recs[1:] {
		c := &Commit{TxnID: txnIDFromSum(r.sum), Durable: true, Tables: map[string]map[UUID]RowChange{}}
		if err := db.replay(r.json, convert, c); err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", path, i+1, err)
		}
		db.lastTxn = c.TxnID
		if !convert {
			db.remember(c)
		}
	}
	db.rebuildDerived()
	if good < fileInfoSize(path) {
		db.log.Warn("dropped a torn record at the end of the database file", "file", path, "offset", good)
	}
	lf, err := openLogFile(path, good)
	if err != nil {
		return nil, err
	}
	lf.records = len(recs) - 1
	db.file = lf
	if convert {
		db.log.Info("converting database file to the new schema", "file", path, "from", fileSchema.Version, "to", schema.Version)
		if err := db.compactLocked(); err != nil {
			lf.close()
			return nil, fmt.Errorf("convert %s: %w", path, err)
		}
	}
	return db, nil
}

func fileInfoSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func txnIDFromSum(sum [20]byte) UUID {
	var u UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// replay applies one log record to memory (no checks beyond types: the
// record was checked when it was committed).
func (db *DB) replay(js []byte, convert bool, c *Commit) error {
	var rec map[string]json.RawMessage
	if err := decodeJSON(js, &rec); err != nil {
		return err
	}
	// Open vSwitch 2.15 and later write the changed columns of a modified
	// row as update2-style diffs, marked "_is_diff": true.
	isDiff := string(rec["_is_diff"]) == "true"
	for tname, raw := range rec {
		if len(tname) > 0 && tname[0] == '_' {
			continue
		}
		t := db.schema.Tables[tname]
		if t == nil {
			if convert {
				continue
			}
			return fmt.Errorf("unknown table %q", tname)
		}
		td := db.tables[t]
		var rows map[string]json.RawMessage
		if err := decodeJSON(raw, &rows); err != nil {
			return fmt.Errorf("table %s: %w", tname, err)
		}
		for us, rraw := range rows {
			u, err := ParseUUID(us)
			if err != nil {
				return fmt.Errorf("table %s: %w", tname, err)
			}
			tc := c.Tables[tname]
			if tc == nil {
				tc = map[UUID]RowChange{}
				c.Tables[tname] = tc
			}
			old := td.rows[u]
			if prev, ok := tc[u]; ok {
				old = prev.Old
			}
			if string(rraw) == "null" {
				if old == nil {
					delete(tc, u)
				} else {
					tc[u] = RowChange{Old: old}
				}
				c.rows++
				delete(td.rows, u)
				continue
			}
			var cols map[string]any
			if err := decodeJSON(rraw, &cols); err != nil {
				return fmt.Errorf("table %s row %s: %w", tname, us, err)
			}
			existed := td.rows[u] != nil
			var r *Row
			if cur := td.rows[u]; cur == nil {
				r = newRow(t, u)
			} else {
				r = cur.clone()
			}
			for cn, v := range cols {
				c := t.Columns[cn]
				if c == nil {
					if convert {
						continue
					}
					return fmt.Errorf("table %s: unknown column %q", tname, cn)
				}
				d, err := ParseDatum(v)
				if err == nil && isDiff && existed {
					if d, err = c.Type.checkElems(d); err == nil {
						d, err = c.Type.Check(ApplyDiff(c, r.Cols[c.Index], d))
					}
				} else if err == nil {
					d, err = c.Type.Check(d)
				}
				if err != nil {
					if convert {
						continue
					}
					return fmt.Errorf("table %s row %s column %s: %w", tname, us, cn, err)
				}
				r.Cols[c.Index] = d
			}
			r.Version = NewUUID()
			td.rows[u] = r
			tc[u] = RowChange{Old: old, New: r}
			c.rows++
		}
	}
	return nil
}

// rebuildDerived recomputes reference counts and indexes from the rows.
func (db *DB) rebuildDerived() {
	for _, td := range db.tables {
		td.refs = map[UUID]int32{}
		for i := range td.indexes {
			td.indexes[i] = map[string]UUID{}
		}
	}
	for _, td := range db.tables {
		for u, r := range td.rows {
			r.refs(func(dst *Table, v UUID, weak bool) {
				if !weak {
					db.tables[dst].refs[v]++
				}
			})
			for i, idx := range td.t.Indexes {
				td.indexes[i][indexKey(r, idx)] = u
			}
		}
	}
}

func newRow(t *Table, u UUID) *Row {
	r := &Row{UUID: u, Cols: make([]Datum, len(t.Cols)), table: t}
	for _, c := range t.Cols {
		r.Cols[c.Index] = c.Type.Default()
	}
	return r
}

func (r *Row) clone() *Row {
	n := *r
	n.Cols = append([]Datum(nil), r.Cols...)
	return &n
}

func indexKey(r *Row, cols []*Column) string {
	var b []byte
	for _, c := range cols {
		b = r.Cols[c.Index].AppendJSON(b)
		b = append(b, 0)
	}
	return string(b)
}

// Schema returns the database's schema.
func (db *DB) Schema() *Schema { return db.schema }

// Name returns the database's name.
func (db *DB) Name() string { return db.schema.Name }

// Close closes the file. Later transactions fail.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if db.file != nil {
		return db.file.close()
	}
	return nil
}

// LastTxnID returns the id of the last committed transaction (the zero
// UUID before the first).
func (db *DB) LastTxnID() UUID {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.lastTxn
}

// Read runs fn with a consistent view of the committed database.
func (db *DB) Read(fn func(Reader)) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	fn(committed{db})
}

// Rows returns the rows of a table (a snapshot; order unspecified).
func (db *DB) Rows(table string) []*Row {
	var out []*Row
	db.Read(func(r Reader) {
		out = make([]*Row, 0, r.Count(table))
		r.Rows(table, func(row *Row) bool { out = append(out, row); return true })
	})
	return out
}

// Get returns one row, or nil.
func (db *DB) Get(table string, u UUID) *Row {
	var row *Row
	db.Read(func(r Reader) { row = r.Row(table, u) })
	return row
}

type committed struct{ db *DB }

func (c committed) Row(table string, u UUID) *Row {
	t := c.db.schema.Tables[table]
	if t == nil {
		return nil
	}
	return c.db.tables[t].rows[u]
}

func (c committed) Rows(table string, fn func(*Row) bool) {
	t := c.db.schema.Tables[table]
	if t == nil {
		return
	}
	for _, r := range c.db.tables[t].rows {
		if !fn(r) {
			return
		}
	}
}

func (c committed) Count(table string) int {
	t := c.db.schema.Tables[table]
	if t == nil {
		return 0
	}
	return len(c.db.tables[t].rows)
}

// Changed returns a channel that is closed at the next commit.
func (db *DB) Changed() <-chan struct{} {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.changed
}

// AddCommitHook adds a hook that can veto transactions; the returned
// function removes it.
func (db *DB) AddCommitHook(fn CommitHook) (remove func()) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.nextID++
	id := db.nextID
	db.hooks = append(db.hooks, hookEntry{id, fn})
	return func() {
		db.mu.Lock()
		defer db.mu.Unlock()
		for i, h := range db.hooks {
			if h.id == id {
				db.hooks = append(db.hooks[:i:i], db.hooks[i+1:]...)
				return
			}
		}
	}
}

// Snapshot is what OnCommit's setup sees: the committed rows and the
// transaction history, consistent with the commits that follow.
type Snapshot struct {
	Reader
	db *DB
}

// LastTxnID returns the id of the last committed transaction.
func (s Snapshot) LastTxnID() UUID { return s.db.lastTxn }

// Since returns the commits after the one with id, oldest first, and
// whether id is in the history (the zero UUID is not: it asks for
// everything).
func (s Snapshot) Since(id UUID) ([]*Commit, bool) {
	if id == ZeroUUID {
		return nil, false
	}
	if id == s.db.lastTxn {
		return nil, true
	}
	for i := len(s.db.history) - 1; i >= 0; i-- {
		if s.db.history[i].TxnID == id {
			return s.db.history[i+1:], true
		}
	}
	return nil, false
}

// OnCommit runs setup (when not nil) with a snapshot of the database and
// registers fn to be called with every commit after that snapshot, in
// commit order. fn runs under the database's write lock after the commit
// is durable and before the writer's reply: it must be quick, must not
// block and must not call the DB (queue the work). The returned function
// unregisters fn.
func (db *DB) OnCommit(setup func(Snapshot), fn func(*Commit)) (cancel func()) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if setup != nil {
		setup(Snapshot{committed{db}, db})
	}
	db.nextID++
	id := db.nextID
	db.subs[id] = fn
	return func() {
		db.mu.Lock()
		defer db.mu.Unlock()
		delete(db.subs, id)
	}
}

// Subscription is a bounded queue of commits for a consumer that runs in
// its own goroutine (the daemon's reconcile loop).
type Subscription struct {
	mu       sync.Mutex
	queue    []*Commit
	overflow bool
	max      int
	ready    chan struct{}
	skip     string
	cancel   func()
}

// Subscribe returns a subscription holding at most max pending commits
// (default 1024) and ignoring commits whose Origin is skipOrigin (when not
// ""). When more pile up, they are dropped and Next reports overflow: the
// consumer must then read the whole database again. It never slows the
// writers.
func (db *DB) Subscribe(max int, skipOrigin string) *Subscription {
	if max <= 0 {
		max = 1024
	}
	s := &Subscription{max: max, ready: make(chan struct{}, 1), skip: skipOrigin}
	s.cancel = db.OnCommit(nil, func(c *Commit) {
		if s.skip != "" && c.Origin == s.skip {
			return
		}
		s.mu.Lock()
		if len(s.queue) >= s.max {
			s.queue, s.overflow = nil, true
		} else if !s.overflow {
			s.queue = append(s.queue, c)
		}
		s.mu.Unlock()
		select {
		case s.ready <- struct{}{}:
		default:
		}
	})
	return s
}

// Ready receives a value (coalesced) when commits are pending.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Next takes the pending commits. overflow says commits were dropped since
// the last call (then commits is empty and the consumer should resync).
func (s *Subscription) Next() (commits []*Commit, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, o := s.queue, s.overflow
	s.queue, s.overflow = nil, false
	return c, o
}

// Wait blocks until commits are pending or ctx ends, then returns Next.
func (s *Subscription) Wait(ctx context.Context) ([]*Commit, bool, error) {
	for {
		if c, o := s.Next(); len(c) > 0 || o {
			return c, o, nil
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// Close ends the subscription.
func (s *Subscription) Close() { s.cancel() }

// compactLocked rewrites the file as the schema and one record holding
// every row.
func (db *DB) compactLocked() error {
	snap := db.snapshotJSON()
	size, err := writeFresh(db.file.path, db.schema.raw, snap)
	if err != nil {
		return err
	}
	old := db.file
	lf, err := openLogFile(db.file.path, size)
	if err != nil {
		return err
	}
	old.close()
	db.file = lf
	db.log.Info("compacted database file", "file", lf.path, "bytes", size)
	return nil
}

// Compact rewrites the database file now.
func (db *DB) Compact() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.file == nil || db.closed {
		return nil
	}
	return db.compactLocked()
}

func (db *DB) snapshotJSON() []byte {
	b := []byte{'{'}
	first := true
	for _, name := range db.schema.TableNames() {
		t := db.schema.Tables[name]
		td := db.tables[t]
		if len(td.rows) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, name)
		b = append(b, ":{"...)
		uu := make([]UUID, 0, len(td.rows))
		for u := range td.rows {
			uu = append(uu, u)
		}
		sort.Slice(uu, func(i, j int) bool { return CompareAtoms(uu[i], uu[j]) < 0 })
		for i, u := range uu {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = u.AppendText(b)
			b = append(b, `":`...)
			b = appendRowRecord(b, nil, td.rows[u])
		}
		b = append(b, '}')
	}
	if !first {
		b = append(b, ',')
	}
	b = append(b, `"_date":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	b = append(b, `,"_comment":"compacted by switchyard"}`...)
	return b
}

// appendRowRecord writes a row as the log stores it: for a new row its
// non-default durable columns, for a changed row the durable columns that
// changed. It returns b unchanged (and ok false) when nothing durable
// changed.
func appendRowRecord(b []byte, old, new *Row) []byte {
	b = append(b, '{')
	first := true
	for _, c := range new.table.Cols {
		if c.Ephemeral {
			continue
		}
		d := new.Cols[c.Index]
		if old == nil {
			if isDefault(c, d) {
				continue
			}
		} else if d.Equal(old.Cols[c.Index]) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, c.Name)
		b = append(b, ':')
		b = d.AppendJSON(b)
	}
	return append(b, '}')
}
