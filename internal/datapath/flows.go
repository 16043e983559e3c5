package datapath

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// FlowCommand is a flow table change, as OpenFlow 1.3's flow_mod commands.
type FlowCommand uint8

// Flow commands.
const (
	FlowAdd FlowCommand = iota
	FlowModify
	FlowModifyStrict
	FlowDelete
	FlowDeleteStrict
)

var flowCommandNames = [...]string{"add", "modify", "modify-strict", "delete", "delete-strict"}

func (c FlowCommand) String() string {
	if int(c) < len(flowCommandNames) {
		return flowCommandNames[c]
	}
	return "unknown"
}

// FlowMod is one change of the flow tables with OpenFlow 1.3's semantics.
type FlowMod struct {
	Command FlowCommand
	// Rule is the rule to add, or for modify and delete: its Table
	// (TableAll for every table in a delete), Priority (strict commands),
	// Match (the filter), Cookie (with CookieMask), and for modify the new
	// Instructions and Flags.
	Rule Rule
	// CookieMask restricts modify and delete to rules whose cookie agrees
	// with Rule.Cookie under the mask (0: any cookie).
	CookieMask uint64
	// OutPort and OutGroup restrict a delete to rules that output to that
	// port or group (PortAny: no restriction).
	OutPort  uint32
	OutGroup uint32
	// SetCookie makes modify give the rules it changes Rule.Cookie's
	// replacement NewCookie (OpenFlow 1.0 and NXM flow-mods; in 1.1+ a
	// modify keeps the cookies).
	SetCookie bool
	NewCookie uint64
}

// RemovedReason says why a rule left its table (OpenFlow's
// ofp_flow_removed_reason).
type RemovedReason uint8

// Removal reasons.
const (
	RemovedIdle RemovedReason = iota
	RemovedHard
	RemovedDelete
	RemovedGroupDelete
	RemovedMeterDelete
	// RemovedReplaced is a rule version that an add of the same identity
	// or a modify replaced: the rule stays in its table (OpenFlow sends no
	// FLOW_REMOVED for it).
	RemovedReplaced
)

// FlowRemoved reports a rule that left its table, with its final counters.
type FlowRemoved struct {
	Rule   *Rule
	Reason RemovedReason
	Stats  RuleStats
}

// FlowChanges are what a committed transaction did to the rule set: the
// rules now present that were not, and the rules that left (a modified rule
// appears in both, as its old and new version).
type FlowChanges struct {
	Added   []*Rule
	Removed []FlowRemoved
}

// ErrOverlap is the error of an add with CHECK_OVERLAP that overlaps an
// existing rule of the same priority.
var ErrOverlap = &errs.Error{Kind: errs.Exists, Field: "flow", Message: "overlaps an existing rule of the same priority (check_overlap)"}

// ErrTableFull is returned when a bridge holds its maximum number of rules.
var ErrTableFull = &errs.Error{Kind: errs.Failed, Field: "flow", Message: "the bridge's flow tables are full"}

// FlowTxn is an open change of a bridge's flow tables. Changes apply in
// order, each seeing the ones before; Commit makes them all visible at once
// (one new snapshot), Abort forgets them. While a transaction is open, other
// flow changes of the bridge wait.
type FlowTxn struct {
	b       *Bridge
	x       *flowTxn
	now     time.Time
	clock   uint32
	changes FlowChanges
	done    bool
}

// BeginFlows opens a flow transaction.
func (b *Bridge) BeginFlows() *FlowTxn {
	b.flowMu.Lock()
	return &FlowTxn{b: b, x: beginTxn(b.flows), now: time.Now(), clock: b.clock.Load()}
}

// ApplyFlowMods applies mods all or nothing: the first error aborts them all
// and leaves the tables as they were; it also reports which mod failed.
func (b *Bridge) ApplyFlowMods(mods []FlowMod) (FlowChanges, int, error) {
	t := b.BeginFlows()
	for i := range mods {
		if err := t.Apply(&mods[i]); err != nil {
			t.Abort()
			return FlowChanges{}, i, err
		}
	}
	return t.Commit(), -1, nil
}

// ReplaceFlows replaces every rule of the bridge with rules (at start, from
// the store), before or while traffic runs.
func (b *Bridge) ReplaceFlows(rules []Rule) error {
	t := b.BeginFlows()
	for _, r := range t.x.ts.rules(TableAll) {
		t.x.remove(r)
	}
	for i := range rules {
		m := FlowMod{Command: FlowAdd, Rule: rules[i]}
		if err := t.Apply(&m); err != nil {
			t.Abort()
			return err
		}
	}
	t.Commit()
	return nil
}

// ruleAlloc is a new rule and its counters in one allocation.
type ruleAlloc struct {
	r Rule
	s ruleStats
}

func (b *Bridge) newRule(r Rule) *Rule {
	a := &ruleAlloc{r: r}
	n := &a.r
	for i := range n.Match.Key {
		n.Match.Key[i] &= n.Match.Mask[i]
	}
	if n.Instr.Goto == 0 && r.Instr.Goto == 0 {
		// A zero Instructions value means no goto (table 0 can never be a
		// goto target).
		n.Instr.Goto = NoGoto
	}
	n.created = time.Now()
	a.s.created = b.clock.Load()
	n.stats = &a.s
	return n
}

// Apply applies one change to the transaction.
func (t *FlowTxn) Apply(m *FlowMod) error {
	r := &m.Rule
	if r.Instr.Goto == 0 {
		r.Instr.Goto = NoGoto
	}
	switch m.Command {
	case FlowAdd:
		if r.Table == TableAll {
			return errs.Invalidf("table", fmt.Sprintf("0-%d", NumTables-1), "add to table 255 (all)")
		}
		if err := r.Validate(); err != nil {
			return err
		}
		if err := t.b.checkRefs(r); err != nil {
			return err
		}
		return t.add(r)
	case FlowModify, FlowModifyStrict:
		if err := r.Validate(); err != nil && r.Table != TableAll {
			return err
		}
		if err := t.b.checkRefs(r); err != nil {
			return err
		}
		t.modify(m, m.Command == FlowModifyStrict)
		return nil
	case FlowDelete, FlowDeleteStrict:
		if r.Table != TableAll && int(r.Table) >= NumTables {
			return errs.Invalidf("table", fmt.Sprintf("0-%d or 255 (all)", NumTables-1), "%d", r.Table)
		}
		t.delete(m, m.Command == FlowDeleteStrict, RemovedDelete)
		return nil
	}
	return errs.Invalidf("command", "add, modify, modify-strict, delete, delete-strict", "command %d", m.Command)
}

func (t *FlowTxn) add(r *Rule) error {
	ts := t.x.ts
	nr := t.b.newRule(*r)
	if r.Flags&FlagCheckOverlap != 0 {
		overlap := false
		ts.each(r.Table, func(o *Rule) bool {
			if o.Priority == r.Priority && o.Match.Overlaps(&nr.Match) {
				overlap = true
				return false
			}
			return true
		})
		if overlap {
			return ErrOverlap
		}
	}
	if ts.nrules >= t.b.maxRules && ts.find(r.Table, r.Priority, &nr.Match) == nil {
		return ErrTableFull
	}
	if old := t.x.replace(nr); old != nil {
		// Same table, priority and match: the new rule replaced the old,
		// whose counters it keeps unless asked to reset them.
		if r.Flags&FlagResetCounts == 0 {
			nr.stats = old.stats
		}
		t.changes.Removed = append(t.changes.Removed, FlowRemoved{Rule: old, Reason: RemovedReplaced})
	}
	t.noteFields(nr)
	t.changes.Added = append(t.changes.Added, nr)
	return nil
}

// selected returns the rules a modify or delete applies to.
func (t *FlowTxn) selected(m *FlowMod, strict bool) []*Rule {
	f := &m.Rule
	var l []*Rule
	sel := func(r *Rule) bool {
		if m.CookieMask != 0 && (r.Cookie^f.Cookie)&m.CookieMask != 0 {
			return true
		}
		if strict {
			if r.Priority != f.Priority || r.Match != f.Match {
				return true
			}
		} else if !f.Match.Covers(&r.Match) {
			return true
		}
		if (m.OutPort != PortAny && m.OutPort != 0 || m.OutGroup != PortAny && m.OutGroup != 0) && !r.outputsTo(orAny(m.OutPort), orAny(m.OutGroup)) {
			return true
		}
		l = append(l, r)
		return true
	}
	fm := f.Match
	for i := range fm.Key {
		fm.Key[i] &= fm.Mask[i]
	}
	f.Match = fm
	t.x.ts.each(f.Table, sel)
	return l
}

func orAny(p uint32) uint32 {
	if p == 0 {
		return PortAny
	}
	return p
}

func (t *FlowTxn) modify(m *FlowMod, strict bool) {
	for _, old := range t.selected(m, strict) {
		nr := *old
		nr.Instr = m.Rule.Instr
		nr.Flags = old.Flags&^(FlagResetCounts) | m.Rule.Flags&(FlagSendFlowRem|FlagNoPktCounts|FlagNoBytCounts)
		if m.SetCookie {
			nr.Cookie = m.NewCookie
		}
		if m.Rule.Flags&FlagResetCounts != 0 {
			nr.stats = &ruleStats{created: t.clock}
			nr.created = t.now
		}
		t.x.remove(old)
		t.x.insert(&nr)
		t.noteFields(&nr)
		t.changes.Removed = append(t.changes.Removed, FlowRemoved{Rule: old, Reason: RemovedReplaced})
		t.changes.Added = append(t.changes.Added, &nr)
	}
}

func (t *FlowTxn) delete(m *FlowMod, strict bool, why RemovedReason) {
	for _, r := range t.selected(m, strict) {
		t.x.remove(r)
		t.changes.Removed = append(t.changes.Removed, FlowRemoved{Rule: r, Reason: why, Stats: t.b.ruleStats(r, t.now)})
	}
}

// noteFields adds the fields r's actions read or write to what keys must
// hold (so a move from ipv4_src, or a partial write, sees the real value).
func (t *FlowTxn) noteFields(r *Rule) {
	f := &t.x.ts.fields
	f.Or(&r.Match.Mask)
	for _, l := range [2][]Action{r.Instr.Apply, r.Instr.Write} {
		for i := range l {
			a := &l[i]
			switch a.Kind {
			case ActSetField:
				f.unwildcard(a.Field)
			case ActMove:
				f.unwildcard(a.Field)
				f.unwildcard(a.Src)
			case ActDecTTL:
				f.unwildcard(FieldIPTTL)
			}
		}
	}
}

// Commit publishes the transaction's changes and returns them. Rules that
// left get their final counters (the decision cache is credited first).
func (t *FlowTxn) Commit() FlowChanges {
	if t.done {
		return FlowChanges{}
	}
	t.done = true
	b := t.b
	t.x.seal()
	ts := t.x.ts
	if len(t.changes.Added)+len(t.changes.Removed) > 0 || ts != b.flows {
		b.cache.pushStats()
		for i := range t.changes.Removed {
			t.changes.Removed[i].Stats = b.ruleStats(t.changes.Removed[i].Rule, t.now)
		}
		b.mu.Lock()
		b.flows = ts
		b.publishLocked()
		b.mu.Unlock()
	}
	b.flowMu.Unlock()
	changes := t.changes
	if fn := b.removed.Load(); fn != nil && len(changes.Removed) > 0 {
		(*fn)(changes.Removed)
	}
	return changes
}

// Abort forgets the transaction's changes.
func (t *FlowTxn) Abort() {
	if !t.done {
		t.done = true
		t.b.flowMu.Unlock()
	}
}

// OnFlowRemoved sets the function told about every rule that leaves a
// table (deleted, expired, replaced), after the change is visible.
func (b *Bridge) OnFlowRemoved(fn func([]FlowRemoved)) { b.removed.Store(&fn) }

// ruleStats returns r's counters as of now (credit the cache first for
// exact figures).
func (b *Bridge) ruleStats(r *Rule, now time.Time) RuleStats {
	s := r.stats
	st := RuleStats{Packets: s.packets.Load(), Bytes: s.bytes.Load(), Duration: now.Sub(r.created)}
	used := s.used.Load()
	if used == 0 || used < s.created {
		used = s.created
	}
	st.IdleAge = age(b.clock.Load(), used)
	return st
}

// FlowEntry is a rule with its counters, as a dump reports it.
type FlowEntry struct {
	Rule  *Rule
	Stats RuleStats
}

// DumpFlows returns the rules of table (TableAll: every table) that match
// filter (nil: all) non-strictly, sorted by table and priority, with their
// counters.
func (b *Bridge) DumpFlows(table uint8, filter *Match, cookie, cookieMask uint64, outPort uint32) []FlowEntry {
	b.cache.pushStats()
	now := time.Now()
	var l []FlowEntry
	for _, r := range b.snap.Load().tables.rules(table) {
		if filter != nil && !filter.Covers(&r.Match) {
			continue
		}
		if cookieMask != 0 && (r.Cookie^cookie)&cookieMask != 0 {
			continue
		}
		if outPort != PortAny && outPort != 0 && !r.outputsTo(outPort, PortAny) {
			continue
		}
		l = append(l, FlowEntry{Rule: r, Stats: b.ruleStats(r, now)})
	}
	return l
}

// TableStats are one flow table's counters (OpenFlow's table stats).
type TableStats struct {
	Table   uint8
	Active  int
	Lookups uint64
	Matched uint64
}

// TableStats returns the counters of every table that has or had rules.
func (b *Bridge) TableStats() []TableStats {
	b.cache.pushStats()
	ts := b.snap.Load().tables
	var l []TableStats
	for id, t := range ts.t {
		if t == nil {
			continue
		}
		l = append(l, TableStats{Table: uint8(id), Active: t.n, Lookups: t.lookups.Load(), Matched: t.matched.Load()})
	}
	return l
}

// Rules returns every rule (for storing them), sorted.
func (b *Bridge) Rules() []*Rule { return b.snap.Load().tables.rules(TableAll) }

// expireRules removes rules whose idle or hard timeout passed.
func (b *Bridge) expireRules(now time.Time, clock uint32) {
	ts := b.snap.Load().tables
	timed := false
	ts.each(TableAll, func(r *Rule) bool {
		timed = r.IdleTimeout != 0 || r.HardTimeout != 0
		return !timed
	})
	if !timed {
		return
	}
	b.cache.pushStats()
	t := b.BeginFlows()
	t.x.ts.each(TableAll, func(r *Rule) bool {
		var why RemovedReason = 255
		if r.HardTimeout != 0 && now.Sub(r.created) >= time.Duration(r.HardTimeout)*time.Second {
			why = RemovedHard
		} else if r.IdleTimeout != 0 {
			used := max(r.stats.used.Load(), r.stats.created)
			if age(clock, used) >= uint32(r.IdleTimeout) {
				why = RemovedIdle
			}
		}
		if why != 255 {
			t.changes.Removed = append(t.changes.Removed, FlowRemoved{Rule: r, Reason: why})
		}
		return true
	})
	for _, fr := range t.changes.Removed {
		t.x.remove(fr.Rule)
	}
	t.Commit()
}

// RuleID returns a byte string naming a rule's identity (table, priority,
// match): equal for the versions of one rule, different for any two rules
// that can be in the tables together. The store keys rules by it.
func RuleID(r *Rule) []byte {
	b := []byte{r.Table, byte(r.Priority >> 8), byte(r.Priority)}
	for w := range r.Match.Mask {
		if r.Match.Mask[w] == 0 {
			continue
		}
		b = append(b, byte(w))
		b = binary.BigEndian.AppendUint64(b, r.Match.Mask[w])
		b = binary.BigEndian.AppendUint64(b, r.Match.Key[w]&r.Match.Mask[w])
	}
	return b
}

// SetMaxRules bounds the number of rules of the bridge (default 1,000,000).
func (b *Bridge) SetMaxRules(n int) {
	b.flowMu.Lock()
	b.maxRules = n
	b.flowMu.Unlock()
}

// Pending returns what the transaction has changed so far (for storing it
// before the commit makes it visible).
func (t *FlowTxn) Pending() FlowChanges { return t.changes }
