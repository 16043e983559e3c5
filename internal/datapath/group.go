package datapath

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// Groups are OpenFlow 1.3 groups: lists of action buckets that a flow's
// group action hands the packet to. They are resolved in the decision like
// every other action (a pure function of the snapshot and the key):
//
//	all            every bucket, each on its own copy of the packet
//	indirect       its one bucket
//	select         one live bucket chosen by a hash of the flow (Ethernet
//	               addresses, EtherType, VLAN, IP addresses and protocol,
//	               L4 ports; symmetric, so both directions of a connection
//	               pick the same bucket), by weighted rendezvous hashing:
//	               bucket i with probability w_i/Σw, a flow keeps its
//	               bucket, and buckets added or removed move only their
//	               share of the flows
//	fast_failover  the first live bucket
//
// A bucket is live when its watch port is live (link up, not port_down,
// forwarding for spanning tree) and its watch group has a live bucket.
// Port liveness is in the snapshot, so a link change republishes it and
// cached decisions are made again. The fields a select hash reads are
// un-wildcarded in the decision's mask: its megaflows are per flow.

// GroupType is an OpenFlow group type.
type GroupType uint8

// Group types (ofp_group_type values).
const (
	GroupAll          GroupType = 0
	GroupSelect       GroupType = 1
	GroupIndirect     GroupType = 2
	GroupFastFailover GroupType = 3
)

var groupTypeNames = [...]string{"all", "select", "indirect", "fast_failover"}

func (t GroupType) String() string {
	if int(t) < len(groupTypeNames) {
		return groupTypeNames[t]
	}
	return fmt.Sprintf("type%d", t)
}

// Group ids with special meanings and limits.
const (
	// GroupMaxID is the largest group id (OFPG_MAX).
	GroupMaxID uint32 = 0xffffff00
	// GroupAllID deletes every group (OFPG_ALL).
	GroupAllID uint32 = 0xfffffffc
	// GroupAny means no group (a bucket's watch_group; OFPG_ANY).
	GroupAny uint32 = 0xffffffff
	// MaxGroups bounds the groups of a bridge.
	MaxGroups = 65536
	// MaxGroupBuckets bounds one group's buckets.
	MaxGroupBuckets = 1024
)

// Bucket is one bucket of a group.
type Bucket struct {
	Weight     uint16 // select groups
	WatchPort  uint32 // PortAny: none
	WatchGroup uint32 // GroupAny: none
	Actions    []Action
}

// GroupConfig is a group as a GROUP_MOD gives it.
type GroupConfig struct {
	ID      uint32
	Type    GroupType
	Buckets []Bucket
}

// Group is an installed group. It is immutable: a modify installs a new
// one (the group's counters carry over, the buckets' start from zero).
type Group struct {
	cfg     GroupConfig
	created time.Time
	// stats and bstats hold the group's and each bucket's counters; they
	// are rules only in name (never in a table), so decisions credit them
	// like the rules they went through.
	stats  *Rule
	bstats []*Rule
	// fields are the key bits the buckets' actions and the select hash
	// read.
	fields Key
}

// Config returns the group's configuration.
func (g *Group) Config() GroupConfig { return g.cfg }

func newCounterRule() *Rule { return &Rule{stats: &ruleStats{}, created: time.Now()} }

func (b *Bridge) groupError(field, format string, a ...any) error {
	return errs.Invalidf(field, "see the OpenFlow 1.3 group rules", format, a...)
}

// checkGroupLocked validates a group against the bridge's others (b.mu
// held): bucket actions valid, groups it forwards to and watches exist,
// no loop through forwarding or watching.
func (b *Bridge) checkGroupLocked(cfg *GroupConfig) error {
	if cfg.ID > GroupMaxID {
		return errs.Invalidf("group_id", fmt.Sprintf("0-%d", GroupMaxID), "%d", cfg.ID)
	}
	if cfg.Type > GroupFastFailover {
		return errs.Invalidf("type", "all, select, indirect, fast_failover", "type %d", cfg.Type)
	}
	if len(cfg.Buckets) > MaxGroupBuckets {
		return errs.Failedf("buckets", nil, "%d buckets, at most %d", len(cfg.Buckets), MaxGroupBuckets)
	}
	if cfg.Type == GroupIndirect && len(cfg.Buckets) != 1 {
		return errs.Invalidf("buckets", "exactly one bucket for an indirect group", "%d buckets", len(cfg.Buckets))
	}
	for i := range cfg.Buckets {
		bk := &cfg.Buckets[i]
		if cfg.Type != GroupSelect && bk.Weight != 0 {
			return errs.Invalidf("weight", "weights in select groups only", "bucket %d has weight %d in a %s group", i, bk.Weight, cfg.Type)
		}
		if cfg.Type == GroupFastFailover && bk.WatchPort == PortAny && bk.WatchGroup == GroupAny {
			return errs.Invalidf("watch_port", "a watch port or group for every fast_failover bucket", "bucket %d watches nothing", i)
		}
		if bk.WatchGroup != GroupAny {
			if bk.WatchGroup == cfg.ID {
				return errs.Invalidf("group_loop", "no group that watches itself", "bucket %d watches its own group %d", i, cfg.ID)
			}
			if b.groups[bk.WatchGroup] == nil {
				return errs.NotFoundf("watch_group", "bucket %d watches group %d, which does not exist", i, bk.WatchGroup)
			}
		}
		for j := range bk.Actions {
			a := &bk.Actions[j]
			if err := a.validate(nil); err != nil {
				return err
			}
			if a.Kind == ActGroup {
				if a.ID == cfg.ID {
					return errs.Invalidf("group_loop", "no group that forwards to itself", "bucket %d forwards to its own group %d", i, cfg.ID)
				}
				if b.groups[a.ID] == nil {
					return errs.NotFoundf("bucket_group", "bucket %d forwards to group %d, which does not exist", i, a.ID)
				}
			}
		}
	}
	// A loop through other groups: does any group this one reaches reach
	// it back?
	seen := map[uint32]bool{}
	var reaches func(id uint32, depth int) bool
	reaches = func(id uint32, depth int) bool {
		if id == cfg.ID {
			return true
		}
		if seen[id] || depth > maxDepth {
			return false
		}
		seen[id] = true
		g := b.groups[id]
		if g == nil {
			return false
		}
		for _, r := range groupRefs(&g.cfg) {
			if reaches(r, depth+1) {
				return true
			}
		}
		return false
	}
	for _, r := range groupRefs(cfg) {
		if reaches(r, 0) {
			return errs.Invalidf("group_loop", "groups that do not forward or watch in a loop", "group %d would reach itself through group %d", cfg.ID, r)
		}
	}
	return nil
}

// groupRefs lists the groups a group forwards to or watches.
func groupRefs(cfg *GroupConfig) []uint32 {
	var l []uint32
	for _, bk := range cfg.Buckets {
		if bk.WatchGroup != GroupAny {
			l = append(l, bk.WatchGroup)
		}
		for _, a := range bk.Actions {
			if a.Kind == ActGroup {
				l = append(l, a.ID)
			}
		}
	}
	return l
}

func (b *Bridge) newGroup(cfg GroupConfig, old *Group) *Group {
	g := &Group{cfg: cloneGroupConfig(cfg), created: time.Now()}
	if old != nil {
		g.stats, g.created = old.stats, old.created
	} else {
		g.stats = newCounterRule()
	}
	for range g.cfg.Buckets {
		g.bstats = append(g.bstats, newCounterRule())
	}
	for _, bk := range g.cfg.Buckets {
		actionFields(bk.Actions, &g.fields)
	}
	if cfg.Type == GroupSelect {
		for _, f := range selectFields {
			g.fields.unwildcard(f)
		}
	}
	return g
}

func cloneGroupConfig(c GroupConfig) GroupConfig {
	n := c
	n.Buckets = make([]Bucket, len(c.Buckets))
	for i, bk := range c.Buckets {
		bk.Actions = slices.Clone(bk.Actions)
		n.Buckets[i] = bk
	}
	return n
}

// actionFields adds the key fields actions read or write to f.
func actionFields(l []Action, f *Key) {
	for i := range l {
		a := &l[i]
		switch a.Kind {
		case ActSetField:
			f.unwildcard(a.Field)
			f.unwildcard(FieldEthType)
			f.unwildcard(FieldIPProto)
		case ActMove:
			f.unwildcard(a.Field)
			f.unwildcard(a.Src)
		case ActOutputReg:
			f.unwildcard(a.Src)
		case ActDecTTL:
			f.unwildcard(FieldIPTTL)
		}
	}
}

// selectFields are what a select group's hash reads.
var selectFields = []Field{FieldEthSrc, FieldEthDst, FieldEthType, FieldVLANVID, FieldIPProto, FieldIPv4Src, FieldIPv4Dst,
	FieldIPv6Src, FieldIPv6Dst, FieldTPSrc, FieldTPDst}

// AddGroup installs a group (GROUP_MOD add).
func (b *Bridge) AddGroup(cfg GroupConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.groups[cfg.ID] != nil {
		return errs.Existsf("group", "group %d already exists on bridge %q", cfg.ID, b.name)
	}
	if len(b.groups) >= MaxGroups {
		return errs.Failedf("groups", nil, "bridge %q holds %d groups, the most it can", b.name, MaxGroups)
	}
	if err := b.checkGroupLocked(&cfg); err != nil {
		return err
	}
	b.setGroupLocked(b.newGroup(cfg, nil))
	return nil
}

// ModifyGroup replaces an existing group's type and buckets (GROUP_MOD
// modify).
func (b *Bridge) ModifyGroup(cfg GroupConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.groups[cfg.ID]
	if old == nil {
		return errs.NotFoundf("group", "group %d does not exist on bridge %q", cfg.ID, b.name)
	}
	if err := b.checkGroupLocked(&cfg); err != nil {
		return err
	}
	b.setGroupLocked(b.newGroup(cfg, old))
	return nil
}

func (b *Bridge) setGroupLocked(g *Group) {
	m := make(map[uint32]*Group, len(b.groups)+1)
	for k, v := range b.groups {
		m[k] = v
	}
	m[g.cfg.ID] = g
	b.groups = m
	b.recomputeOFFieldsLocked()
	b.publishLocked()
}

// DeleteGroup removes group id (GroupAllID: every group) and the flows
// that forward to it (reason RemovedGroupDelete). Deleting a group that
// does not exist is not an error (OpenFlow); deleting one that another
// group forwards to or watches is.
func (b *Bridge) DeleteGroup(id uint32) (FlowChanges, error) {
	b.mu.Lock()
	var ids []uint32
	if id == GroupAllID {
		for k := range b.groups {
			ids = append(ids, k)
		}
	} else if b.groups[id] != nil {
		ids = []uint32{id}
		for oid, g := range b.groups {
			if oid != id && slices.Contains(groupRefs(&g.cfg), id) {
				b.mu.Unlock()
				return FlowChanges{}, errs.Failedf("chained_group", nil, "group %d forwards to or watches group %d: delete it first", oid, id)
			}
		}
	}
	b.mu.Unlock()
	if len(ids) == 0 {
		return FlowChanges{}, nil
	}
	gone := map[uint32]bool{}
	for _, g := range ids {
		gone[g] = true
	}
	// The flows go first, so that no decision meets a flow whose group is
	// gone.
	ch := b.deleteRulesWhere(RemovedGroupDelete, func(r *Rule) bool { return r.refersTo(ActGroup, gone) })
	b.mu.Lock()
	b.groups = withoutKeys(b.groups, gone)
	b.recomputeOFFieldsLocked()
	b.publishLocked()
	b.mu.Unlock()
	return ch, nil
}

// deleteRulesWhere removes the rules fn selects in one transaction.
func (b *Bridge) deleteRulesWhere(why RemovedReason, fn func(*Rule) bool) FlowChanges {
	t := b.BeginFlows()
	var sel []*Rule
	t.x.ts.each(TableAll, func(r *Rule) bool {
		if fn(r) {
			sel = append(sel, r)
		}
		return true
	})
	for _, r := range sel {
		t.x.remove(r)
		t.changes.Removed = append(t.changes.Removed, FlowRemoved{Rule: r, Reason: why})
	}
	return t.Commit()
}

// checkRefs refuses an OpenFlow rule whose actions use a group or meter
// the bridge does not have (rules from the CLI and the store may name
// them before they exist: the trace then says so).
func (b *Bridge) checkRefs(r *Rule) error {
	if r.Origin != OriginOpenFlow {
		return nil
	}
	// The published snapshot holds every group and meter change made so
	// far (a delete that races removes the rule after the transaction).
	s := b.snap.Load()
	if m := r.Instr.Meter; m != 0 && s.meters[m] == nil {
		return errs.NotFoundf("meter", "meter %d does not exist on bridge %q", m, b.name)
	}
	for _, l := range [2][]Action{r.Instr.Apply, r.Instr.Write} {
		for _, a := range l {
			switch {
			case a.Kind == ActGroup && s.groups[a.ID] == nil:
				return errs.NotFoundf("group", "group %d does not exist on bridge %q", a.ID, b.name)
			case a.Kind == ActMeter && s.meters[a.ID] == nil:
				return errs.NotFoundf("meter", "meter %d does not exist on bridge %q", a.ID, b.name)
			}
		}
	}
	return nil
}

// GroupEntry is a group with its counters, as group stats and group
// descriptions report it.
type GroupEntry struct {
	Config   GroupConfig
	Duration time.Duration
	Packets  uint64
	Bytes    uint64
	Buckets  []BucketStats
	// RefCount is the number of rules that forward to the group.
	RefCount int
}

// BucketStats are one bucket's counters.
type BucketStats struct{ Packets, Bytes uint64 }

// Groups returns the bridge's groups sorted by id, with counters.
func (b *Bridge) Groups() []GroupEntry {
	b.cache.pushStats()
	s := b.snap.Load()
	refs := map[uint32]int{}
	s.tables.each(TableAll, func(r *Rule) bool {
		for _, l := range [2][]Action{r.Instr.Apply, r.Instr.Write} {
			for _, a := range l {
				if a.Kind == ActGroup {
					refs[a.ID]++
				}
			}
		}
		return true
	})
	now := time.Now()
	var out []GroupEntry
	for _, g := range s.groups {
		e := GroupEntry{Config: cloneGroupConfig(g.cfg), Duration: now.Sub(g.created), Packets: g.stats.stats.packets.Load(), Bytes: g.stats.stats.bytes.Load(), RefCount: refs[g.cfg.ID]}
		for _, bs := range g.bstats {
			e.Buckets = append(e.Buckets, BucketStats{Packets: bs.stats.packets.Load(), Bytes: bs.stats.bytes.Load()})
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Config.ID < out[j].Config.ID })
	return out
}

// --- in the decision ------------------------------------------------------

// group runs the packet through group id.
func (x *xlate) group(id uint32) {
	g := x.snap.groups[id]
	if g == nil {
		if x.tr != nil {
			x.tracef(nodeAction, "group:%d: no such group: dropped", id)
		}
		return
	}
	if x.depth >= maxDepth {
		if x.tr != nil {
			x.tracef(nodeAction, "group:%d: depth limit %d reached: dropped", id, maxDepth)
		}
		x.dropAs(DropLoop)
		return
	}
	if x.tr != nil {
		x.tr.push(nodeAction, "group:%d (%s, %d buckets)", id, g.cfg.Type, len(g.cfg.Buckets))
		defer x.tr.pop()
	}
	x.d.rules = append(x.d.rules, g.stats)
	x.depth++
	x.inGroup++
	defer func() { x.depth--; x.inGroup-- }()
	switch g.cfg.Type {
	case GroupAll:
		for i := range g.cfg.Buckets {
			x.bucket(g, i)
		}
	case GroupIndirect:
		if len(g.cfg.Buckets) > 0 {
			x.bucket(g, 0)
		}
	case GroupFastFailover:
		for i := range g.cfg.Buckets {
			if x.bucketLive(&g.cfg.Buckets[i], x.depth) {
				x.bucket(g, i)
				return
			}
		}
		x.tracef(nodeDetail, "no live bucket: dropped")
	case GroupSelect:
		h := x.selectHash()
		best, bestScore := -1, 0.0
		for i := range g.cfg.Buckets {
			bk := &g.cfg.Buckets[i]
			if bk.Weight == 0 || !x.bucketLive(bk, x.depth) {
				continue
			}
			// Weighted rendezvous hashing: the bucket with the largest
			// ln(u)/w wins, which picks bucket i with probability
			// w_i/Σw (u uniform in (0,1) from the flow and the bucket).
			u := (float64(hash32(uint32(i), h)) + 0.5) / (1 << 32)
			score := math.Log(u) / float64(bk.Weight)
			if best < 0 || score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			x.tracef(nodeDetail, "no live bucket: dropped")
			return
		}
		if x.tr != nil {
			x.tracef(nodeDetail, "flow hash 0x%08x selects bucket %d", h, best)
		}
		x.bucket(g, best)
	}
}

// bucket runs one bucket's actions on its own copy of the packet: what
// they change does not reach the actions after the group.
func (x *xlate) bucket(g *Group, i int) {
	if x.tr != nil {
		x.tr.push(nodeAction, "bucket %d", i)
		defer x.tr.pop()
	}
	x.d.rules = append(x.d.rules, g.bstats[i])
	saved, tunSet, set, in := x.key, x.tunSet, x.set, x.in
	x.set = nil
	x.actions(g.cfg.Buckets[i].Actions)
	x.key, x.tunSet, x.set, x.in = saved, tunSet, set, in
	x.exit, x.exitAction = false, false
}

// bucketLive reports whether a bucket's watch port and watch group are
// live.
func (x *xlate) bucketLive(bk *Bucket, depth int) bool {
	if bk.WatchPort != PortAny && !x.portLive(bk.WatchPort) {
		return false
	}
	if bk.WatchGroup != GroupAny {
		return x.groupLive(bk.WatchGroup, depth+1)
	}
	return true
}

func (x *xlate) portLive(no uint32) bool {
	var v *portView
	switch {
	case no == PortLocal:
		v = x.snap.local
	case no >= 1 && no <= MaxOFPort:
		v = x.snap.ports[uint16(no)]
	}
	return v != nil && v.live
}

// groupLive reports whether a group has a live bucket.
func (x *xlate) groupLive(id uint32, depth int) bool {
	g := x.snap.groups[id]
	if g == nil || depth > maxDepth {
		return false
	}
	for i := range g.cfg.Buckets {
		if x.bucketLive(&g.cfg.Buckets[i], depth) {
			return true
		}
	}
	return false
}

// selectHash is a symmetric hash of the flow's addresses, protocol and
// ports (Open vSwitch's default select method), un-wildcarding what it
// reads.
func (x *xlate) selectHash() uint32 {
	m, k := &x.mask, &x.key
	m.unwildcard(FieldEthSrc)
	m.unwildcard(FieldEthDst)
	m.unwildcard(FieldEthType)
	m.unwildcard(FieldVLANVID)
	a, c := k.srcWord(), k.dstWord()
	h := uint64(0x2545F4914F6CDD1D)
	h = mix64(h, a^c)
	h = mix64(h, min(a, c))
	et := k.ethType()
	h = mix64(h, uint64(et)<<16|uint64(k.vlanTCI()&0x1fff))
	isIP := et == etherTypeIPv4 || et == etherTypeIPv6
	if isIP {
		m.unwildcard(FieldIPProto)
		proto := k.ipProto()
		h = mix64(h, uint64(proto))
		if et == etherTypeIPv4 {
			m.unwildcard(FieldIPv4Src)
			m.unwildcard(FieldIPv4Dst)
			s, d := k[3]&0xffffffff, k[3]>>32
			h = mix64(mix64(h, s^d), min(s, d))
		} else {
			m.unwildcard(FieldIPv6Src)
			m.unwildcard(FieldIPv6Dst)
			h = mix64(mix64(h, k[4]^k[6]), k[5]^k[7])
			h = mix64(h, min(k[4], k[6])^min(k[5], k[7]))
		}
		if proto == 6 || proto == 17 || proto == 132 {
			m.unwildcard(FieldTPSrc)
			m.unwildcard(FieldTPDst)
			sp, dp := k[8]&0xffff, k[8]>>16&0xffff
			h = mix64(mix64(h, sp^dp), min(sp, dp))
		}
	}
	return uint32(h ^ h>>32)
}

func mix64(h, v uint64) uint64 {
	h ^= v
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	return h ^ h>>29
}

func hash32(a, basis uint32) uint32 {
	h := uint64(a)<<32 | uint64(basis)
	h = mix64(0x9E3779B97F4A7C15, h)
	return uint32(h >> 16)
}

// refersTo reports whether one of r's actions of kind (a group or a meter)
// names an ID in ids.
func (r *Rule) refersTo(kind ActionKind, ids map[uint32]bool) bool {
	for _, l := range [2][]Action{r.Instr.Apply, r.Instr.Write} {
		for _, a := range l {
			if a.Kind == kind && ids[a.ID] {
				return true
			}
		}
	}
	return false
}

// withoutKeys returns a copy of m without the keys in gone (the maps of
// groups and meters are copied on write).
func withoutKeys[V any](m map[uint32]V, gone map[uint32]bool) map[uint32]V {
	n := make(map[uint32]V, len(m))
	for k, v := range m {
		if !gone[k] {
			n[k] = v
		}
	}
	return n
}
