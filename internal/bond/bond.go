// Package bond holds a bond port's forwarding decisions as Open vSwitch
// makes them (ofproto/bond.c): which member carries a frame
// (active-backup, balance-slb by source MAC and VLAN, balance-tcp by L3/L4
// hash over 256 buckets with periodic rebalancing by measured load), which
// received frames a member may admit (the learning rules that keep a
// non-LACP upstream from looping frames back), member enable/disable from
// carrier and LACP with updelay/downdelay, the gratuitous learning frames
// that make an upstream switch relearn after a failover, and the status
// behind `switchyard bond show`.
//
// It makes no system calls and reads no clock. The control side (SetCarrier,
// ReceiveLACP, Tick) runs under a mutex and publishes an immutable Selector
// that the forwarding path reads without locks; choosing a member allocates
// nothing.
package bond

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/lacp"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// Mode is the bond mode (Open vSwitch's bond_mode).
type Mode uint8

// Modes.
const (
	// ActiveBackup sends everything on one member and fails over to
	// another when it goes down (the default, as in Open vSwitch).
	ActiveBackup Mode = iota
	// BalanceSLB spreads by source MAC and VLAN, needs no LACP, and
	// rebalances by load.
	BalanceSLB
	// BalanceTCP spreads by L3/L4 flow hash and needs LACP.
	BalanceTCP
)

var modeNames = [...]string{"active-backup", "balance-slb", "balance-tcp"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", m)
}

// Allowed-value texts of the bond settings.
const (
	AllowedModes = "active-backup, balance-slb, balance-tcp"
	AllowedLACP  = "off, active, passive"
)

// ParseMode parses a bond mode name.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	if s == "" {
		return ActiveBackup, nil
	}
	return 0, errs.Invalidf("bond-mode", AllowedModes, "%q", s)
}

// LACPMode is off, active or passive.
type LACPMode uint8

// LACP modes.
const (
	LACPOff LACPMode = iota
	LACPActive
	LACPPassive
)

func (m LACPMode) String() string {
	switch m {
	case LACPActive:
		return "active"
	case LACPPassive:
		return "passive"
	}
	return "off"
}

// ParseLACPMode parses "off", "active" or "passive".
func ParseLACPMode(s string) (LACPMode, error) {
	switch s {
	case "off", "":
		return LACPOff, nil
	case "active":
		return LACPActive, nil
	case "passive":
		return LACPPassive, nil
	}
	return 0, errs.Invalidf("lacp", AllowedLACP, "%q", s)
}

// Defaults and limits, as in Open vSwitch.
const (
	// DefaultRebalanceInterval is bond-rebalance-interval's default.
	DefaultRebalanceInterval = 10 * time.Second
	// MinRebalanceInterval is the shortest interval (OVS raises smaller
	// values to it).
	MinRebalanceInterval = time.Second
	// MaxDelay bounds updelay and downdelay.
	MaxDelay = time.Hour
	// Buckets is the number of hash buckets of a balancing bond.
	Buckets = 256
	// MaxMembers bounds the members of a bond.
	MaxMembers = 32
)

// Config is a bond's configuration.
type Config struct {
	Name string
	Mode Mode
	LACP LACPMode
	// LACPRate is fast or slow (default slow, as in Open vSwitch).
	LACPRate lacp.Rate
	// LACPFallbackAB carries traffic active-backup while LACP is
	// configured but the partner sends no LACPDU.
	LACPFallbackAB bool
	// SystemID is the LACP system ID (the bridge's MAC); required with LACP.
	SystemID packet.MAC
	// SystemPriority is the LACP system priority (0 = OVS's default).
	SystemPriority uint16
	// LACPKey is the aggregation key (0 = the first member's port ID).
	LACPKey uint16
	// UpDelay and DownDelay delay enabling and disabling a member after
	// its link changes (0-1 h, millisecond resolution; default 0).
	UpDelay, DownDelay time.Duration
	// RebalanceInterval is how often a balancing bond moves buckets from
	// loaded to idle members: 0 means the default 10 s, a negative value
	// turns rebalancing off, otherwise at least 1 s.
	RebalanceInterval time.Duration
	// HashBasis perturbs the hashes (bond-hash-basis).
	HashBasis uint32
	// Primary names the member an active-backup bond prefers whenever it
	// is enabled (bond-primary).
	Primary string
	// AllMembersActive lets a non-LACP balance-slb bond accept multicast
	// on every member, not only the active one (all_members_active).
	AllMembersActive bool
}

// MemberConfig is one member of a bond.
type MemberConfig struct {
	// Name is the member's interface name.
	Name string
	// MAC is the member device's address (source of its LACPDUs).
	MAC packet.MAC
	// PortID is the LACP port ID (1-65535); 0 numbers the members 1, 2, …
	// in order.
	PortID uint16
	// PortPriority is the LACP port priority (0 = 65535).
	PortPriority uint16
	// Key overrides the LACP aggregation key for this member.
	Key uint16
}

// Validate checks the configuration with its members and names the field
// at fault.
func (c *Config) Validate(members []MemberConfig) error {
	if c.Mode > BalanceTCP {
		return errs.Invalidf("bond-mode", AllowedModes, "mode %d", c.Mode)
	}
	if c.LACP > LACPPassive {
		return errs.Invalidf("lacp", AllowedLACP, "mode %d", c.LACP)
	}
	if c.Mode == BalanceTCP && c.LACP == LACPOff {
		return errs.Invalidf("bond-mode", "active-backup or balance-slb without LACP; balance-tcp with lacp active or passive", "balance-tcp needs LACP; set lacp to active or passive, or use balance-slb or active-backup")
	}
	if c.LACP == LACPOff && (c.LACPFallbackAB || c.LACPRate != lacp.Slow) {
		return errs.Invalidf("lacp", "active, passive (lacp-rate and lacp-fallback-ab need LACP)", "lacp-rate and lacp-fallback-ab need lacp active or passive")
	}
	if c.LACP != LACPOff && (c.SystemID.IsZero() || c.SystemID.IsMulticast()) {
		return errs.Invalidf("lacp-system-id", "a non-zero unicast MAC address (the bridge's)", "%s", c.SystemID)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"updelay", c.UpDelay}, {"downdelay", c.DownDelay}} {
		if d.v < 0 || d.v > MaxDelay {
			return errs.Invalidf(d.name, fmt.Sprintf("0-%d ms", MaxDelay.Milliseconds()), "%d ms", d.v.Milliseconds())
		}
	}
	if c.RebalanceInterval > 0 && c.RebalanceInterval < MinRebalanceInterval {
		return errs.Invalidf("bond-rebalance-interval", fmt.Sprintf("0 (the default, 10 s), negative (off), or at least %d ms", MinRebalanceInterval.Milliseconds()), "%d ms", c.RebalanceInterval.Milliseconds())
	}
	if len(members) < 2 || len(members) > MaxMembers {
		return errs.Invalidf("members", fmt.Sprintf("2-%d interface names", MaxMembers), "a bond has 2-%d members, not %d", MaxMembers, len(members))
	}
	seen := map[string]bool{}
	primary := c.Primary == ""
	for _, m := range members {
		if m.Name == "" {
			return errs.Invalidf("members", "interface names", "a member has no name")
		}
		if seen[m.Name] {
			return errs.Invalidf("members", "distinct interface names", "%q is listed twice", m.Name)
		}
		seen[m.Name] = true
		primary = primary || m.Name == c.Primary
	}
	if !primary {
		return errs.Invalidf("bond-primary", "a member of the bond", "%q is not a member of bond %q", c.Primary, c.Name)
	}
	return nil
}

func (c *Config) rebalanceInterval() time.Duration {
	switch {
	case c.RebalanceInterval == 0:
		return DefaultRebalanceInterval
	case c.RebalanceInterval < 0:
		return 0
	}
	return c.RebalanceInterval
}

// Counters of one member, updated by the engine (per batch is enough).
type Counters struct {
	TxPackets, TxBytes atomic.Uint64
	RxPackets, RxBytes atomic.Uint64
	// RxDropped counts frames the admission rules refused on this member.
	RxDropped atomic.Uint64
}

type member struct {
	idx     int
	cfg     MemberConfig
	carrier bool
	// mayEnable is LACP's verdict (always true without LACP).
	mayEnable bool
	enabled   bool
	delay     bool // a delay runs until delayUntil
	until     time.Time
	counters  Counters
}

// LACPStatus is the state of LACP on a bond (Open vSwitch's lacp_status).
type LACPStatus uint8

// LACP states.
const (
	LACPDisabled   LACPStatus = iota // LACP off
	LACPConfigured                   // on, but no partner to aggregate with
	LACPNegotiated                   // on, with a partner
)

func (s LACPStatus) String() string {
	switch s {
	case LACPConfigured:
		return "configured"
	case LACPNegotiated:
		return "negotiated"
	}
	return "off"
}

// Output is what a control call asks of the caller.
type Output struct {
	// Frames are LACPDUs (and marker responses) to send on members.
	Frames []lacp.Frame
	// Changed is true when a new Selector was published: cached
	// forwarding decisions that involve this bond must be revalidated.
	Changed bool
	// SendLearning asks the engine to send, for each MAC address learned
	// on a port other than this bond, the frame LearningFrame builds, so
	// the upstream switch relearns where those hosts are after a failover
	// (Open vSwitch's bond_should_send_learning_packets).
	SendLearning bool
}

// Bond is one bond port's control state. It is safe for concurrent use.
type Bond struct {
	mu       sync.Mutex
	cfg      Config
	members  []*member
	agg      *lacp.Aggregator
	lacpSt   LACPStatus
	active   int // member index or -1
	buckets  [Buckets]int8
	load     *[Buckets]atomic.Uint64 // bytes since the last rebalance, by bucket
	txBytes  [Buckets]uint64         // decaying load used to rebalance
	nextReb  time.Time
	learning bool
	gen      uint64
	sel      atomic.Pointer[Selector]
}

// New returns a bond of members, all with carrier down.
func New(cfg Config, members []MemberConfig, now time.Time) (*Bond, error) {
	if err := cfg.Validate(members); err != nil {
		return nil, err
	}
	b := &Bond{cfg: cfg, active: -1, load: new([Buckets]atomic.Uint64)}
	for i := range b.buckets {
		b.buckets[i] = -1
	}
	if cfg.LACP != LACPOff {
		mode := lacp.Active
		if cfg.LACP == LACPPassive {
			mode = lacp.Passive
		}
		agg, err := lacp.New(lacp.Config{Name: cfg.Name, SystemID: cfg.SystemID, SystemPriority: cfg.SystemPriority,
			Mode: mode, Rate: cfg.LACPRate, Key: cfg.LACPKey, FallbackAB: cfg.LACPFallbackAB})
		if err != nil {
			return nil, err
		}
		b.agg = agg
		b.lacpSt = LACPConfigured
	}
	for i, mc := range members {
		if mc.PortID == 0 {
			mc.PortID = uint16(i + 1)
		}
		m := &member{idx: i, cfg: mc, mayEnable: b.agg == nil}
		b.members = append(b.members, m)
		if b.agg != nil {
			if err := b.agg.AddMember(i, lacp.MemberConfig{Name: mc.Name, MAC: mc.MAC, PortID: mc.PortID,
				PortPriority: mc.PortPriority, Key: mc.Key}, now); err != nil {
				return nil, err
			}
		}
	}
	b.nextReb = now.Add(cfg.rebalanceInterval())
	b.publish()
	return b, nil
}

// SetConfig changes the bond's configuration, members kept (to change
// the members, build a new Bond). A change of mode or of LACP resets the
// hash buckets; turning LACP on or off renegotiates from scratch.
func (b *Bond) SetConfig(cfg Config, now time.Time) (Output, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mcs := make([]MemberConfig, len(b.members))
	for i, m := range b.members {
		mcs[i] = m.cfg
	}
	if err := cfg.Validate(mcs); err != nil {
		return Output{}, err
	}
	old := b.cfg
	b.cfg = cfg
	var out Output
	if cfg.LACP != old.LACP || (cfg.LACP != LACPOff && (cfg.SystemID != old.SystemID || cfg.LACPKey != old.LACPKey)) {
		b.agg, b.lacpSt = nil, LACPDisabled
		if cfg.LACP != LACPOff {
			mode := lacp.Active
			if cfg.LACP == LACPPassive {
				mode = lacp.Passive
			}
			agg, err := lacp.New(lacp.Config{Name: cfg.Name, SystemID: cfg.SystemID, SystemPriority: cfg.SystemPriority,
				Mode: mode, Rate: cfg.LACPRate, Key: cfg.LACPKey, FallbackAB: cfg.LACPFallbackAB})
			if err != nil {
				b.cfg = old
				return Output{}, err
			}
			for _, m := range b.members {
				if err := agg.AddMember(m.idx, lacp.MemberConfig{Name: m.cfg.Name, MAC: m.cfg.MAC, PortID: m.cfg.PortID,
					PortPriority: m.cfg.PortPriority, Key: m.cfg.Key}, now); err != nil {
					b.cfg = old
					return Output{}, err
				}
				out.Frames = append(out.Frames, agg.SetCarrier(m.idx, m.carrier, now).Frames...)
			}
			b.agg, b.lacpSt = agg, LACPConfigured
		}
		for _, m := range b.members {
			m.mayEnable = b.agg == nil
		}
	} else if b.agg != nil {
		mode := lacp.Active
		if cfg.LACP == LACPPassive {
			mode = lacp.Passive
		}
		o, err := b.agg.SetConfig(lacp.Config{Name: cfg.Name, SystemID: cfg.SystemID, SystemPriority: cfg.SystemPriority,
			Mode: mode, Rate: cfg.LACPRate, Key: cfg.LACPKey, FallbackAB: cfg.LACPFallbackAB}, now)
		if err != nil {
			b.cfg = old
			return Output{}, err
		}
		out.Frames = append(out.Frames, o.Frames...)
	}
	if cfg.Mode != old.Mode || cfg.LACP != old.LACP || cfg.HashBasis != old.HashBasis {
		for i := range b.buckets {
			b.buckets[i] = -1
		}
	}
	if cfg.rebalanceInterval() != old.rebalanceInterval() {
		b.nextReb = now.Add(cfg.rebalanceInterval())
	}
	b.update(now, &out)
	b.publish()
	out.Changed = true
	return out, nil
}

// Config returns the bond's configuration.
func (b *Bond) Config() Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// Members returns the member names in order; a member's index in this
// list is how every other call names it.
func (b *Bond) Members() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := make([]string, len(b.members))
	for i, m := range b.members {
		l[i] = m.cfg.Name
	}
	return l
}

// Counters returns member i's counters, for the engine to update.
func (b *Bond) Counters(i int) *Counters {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < 0 || i >= len(b.members) {
		return nil
	}
	return &b.members[i].counters
}

// SetCarrier reports member i's carrier (from netlink, not from traffic).
func (b *Bond) SetCarrier(i int, up bool, now time.Time) Output {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out Output
	if i < 0 || i >= len(b.members) {
		return out
	}
	b.members[i].carrier = up
	if b.agg != nil {
		out.Frames = b.agg.SetCarrier(i, up, now).Frames
	}
	b.update(now, &out)
	return out
}

// ReceiveLACP hands a slow-protocols frame received on member i to LACP.
// On a bond without LACP it is dropped (and counted on the member).
func (b *Bond) ReceiveLACP(i int, frame []byte, now time.Time) Output {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out Output
	if i < 0 || i >= len(b.members) {
		return out
	}
	if b.agg == nil {
		b.members[i].counters.RxDropped.Add(1)
		return out
	}
	out.Frames = b.agg.Receive(i, frame, now).Frames
	b.update(now, &out)
	return out
}

// Tick runs timers: LACP, updelay/downdelay and rebalancing. Call it at
// least every 100 ms (or at NextDeadline).
func (b *Bond) Tick(now time.Time) Output {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out Output
	if b.agg != nil {
		out.Frames = b.agg.Tick(now).Frames
	}
	b.update(now, &out)
	if iv := b.cfg.rebalanceInterval(); iv > 0 && b.balancing() && !now.Before(b.nextReb) {
		b.nextReb = now.Add(iv)
		if b.rebalance() {
			b.publish()
			out.Changed = true
		}
	}
	return out
}

// NextDeadline is the earliest time Tick has work to do.
func (b *Bond) NextDeadline() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := time.Time{}
	upd := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if b.agg != nil {
		upd(b.agg.NextDeadline())
	}
	for _, m := range b.members {
		if m.delay {
			upd(m.until)
		}
	}
	if b.balancing() && b.cfg.rebalanceInterval() > 0 {
		upd(b.nextReb)
	}
	return next
}

// update re-derives member states, the active member and the buckets, and
// publishes a new selector if anything changed.
func (b *Bond) update(now time.Time, out *Output) {
	changed := false
	if b.agg != nil {
		st := LACPConfigured
		if b.agg.Negotiated() {
			st = LACPNegotiated
		}
		if st != b.lacpSt {
			b.lacpSt = st
			changed = true
			// Falling back to active-backup (or back) resets the buckets.
			for i := range b.buckets {
				b.buckets[i] = -1
			}
		}
		for _, m := range b.members {
			m.mayEnable = b.agg.MayEnable(m.idx)
		}
	}
	for _, m := range b.members {
		if b.linkStatus(m, now) {
			changed = true
		}
	}
	act := b.active
	if b.active < 0 || !b.members[b.active].enabled || b.primaryIdx() >= 0 && b.members[b.primaryIdx()].enabled && b.active != b.primaryIdx() {
		b.chooseActive(now)
	}
	if act != b.active {
		changed = true
		b.learning = true
	}
	if changed {
		b.publish()
		out.Changed = true
	}
	if b.learning && b.mayLearn() {
		out.SendLearning = true
	}
	b.learning = false
}

// linkStatus is Open vSwitch's bond_link_status_update: a member goes up
// (or down) after its updelay (downdelay) when carrier and LACP agree. It
// reports whether the member's enabled state changed.
func (b *Bond) linkStatus(m *member, now time.Time) bool {
	up := m.carrier && m.mayEnable
	if (up == m.enabled) == m.delay {
		if up == m.enabled {
			m.delay = false
		} else {
			d := b.cfg.DownDelay
			if up {
				d = b.cfg.UpDelay
			}
			m.delay, m.until = true, now.Add(d)
		}
	}
	if m.delay && !now.Before(m.until) {
		return b.enable(m, up)
	}
	return false
}

func (b *Bond) enable(m *member, on bool) bool {
	m.delay = false
	if m.enabled == on {
		return false
	}
	m.enabled = on
	if !on {
		b.learning = true
	}
	return true
}

func (b *Bond) primaryIdx() int {
	if b.cfg.Primary == "" {
		return -1
	}
	for _, m := range b.members {
		if m.cfg.Name == b.cfg.Primary {
			return m.idx
		}
	}
	return -1
}

// chooseActive is bond_choose_member: the primary if enabled, else the
// current active member if still enabled, else the first enabled member,
// else the member whose updelay ends first (its remaining updelay is
// skipped, since nothing else can carry traffic).
func (b *Bond) chooseActive(now time.Time) {
	if p := b.primaryIdx(); p >= 0 && b.members[p].enabled {
		b.active = p
		return
	}
	if b.active >= 0 && b.members[b.active].enabled {
		return
	}
	for _, m := range b.members {
		if m.enabled {
			b.active = m.idx
			return
		}
	}
	var best *member
	for _, m := range b.members {
		if m.delay && m.carrier && m.mayEnable && (best == nil || m.until.Before(best.until)) {
			best = m
		}
	}
	if best != nil {
		b.enable(best, true)
		b.active = best.idx
		return
	}
	b.active = -1
}

// fallingBack reports whether LACP is configured, not negotiated, and
// fallback-ab makes the bond behave as active-backup.
func (b *Bond) fallingBack() bool {
	return b.cfg.LACPFallbackAB && b.lacpSt == LACPConfigured
}

// balancing reports whether the bond hashes into buckets right now.
func (b *Bond) balancing() bool {
	return b.cfg.Mode != ActiveBackup && !b.fallingBack()
}

// mayLearn is may_send_learning_packets: a non-LACP active-backup or SLB
// bond, or an LACP bond falling back to active-backup, with an active
// member. An LACP partner knows the bond and needs no help.
func (b *Bond) mayLearn() bool {
	return b.active >= 0 && (b.lacpSt == LACPDisabled && b.cfg.Mode != BalanceTCP || b.fallingBack())
}

// publish builds and stores a new Selector. Buckets whose member is
// unassigned or disabled get an enabled member, round robin, so every
// bucket of the snapshot names an enabled member.
func (b *Bond) publish() {
	b.gen++
	s := &Selector{gen: b.gen, active: int8(b.active), basis: b.cfg.HashBasis, load: b.load,
		mode: b.cfg.Mode, lacp: b.lacpSt, fallback: b.cfg.LACPFallbackAB, allActive: b.cfg.AllMembersActive}
	for _, m := range b.members {
		if m.enabled {
			s.enabled |= 1 << m.idx
		}
		if m.mayEnable && m.carrier {
			s.mayEnable |= 1 << m.idx
		}
	}
	switch {
	case b.lacpSt == LACPConfigured && !b.cfg.LACPFallbackAB:
		s.hash = HashDrop
	case b.cfg.Mode == ActiveBackup || b.fallingBack():
		s.hash = HashNone
	case b.cfg.Mode == BalanceTCP && b.lacpSt != LACPNegotiated:
		s.hash = HashDrop
	case b.cfg.Mode == BalanceTCP:
		s.hash = HashL4
	default:
		s.hash = HashSrcMAC
	}
	if s.hash == HashSrcMAC || s.hash == HashL4 {
		var en []int8
		for _, m := range b.members {
			if m.enabled {
				en = append(en, int8(m.idx))
			}
		}
		for i := range b.buckets {
			if len(en) == 0 {
				b.buckets[i] = -1
				continue
			}
			// A bucket whose member left, or that carried nothing lately,
			// takes its place in an even spread over the enabled members;
			// a loaded bucket stays where it is, so its flows are not
			// reordered (Open vSwitch moves those only when rebalancing;
			// it also leaves idle buckets on the old members when a
			// member comes up, which starves the new one until traffic
			// and a rebalance move them).
			idle := b.txBytes[i] == 0 && b.load[i].Load() == 0
			if mi := b.buckets[i]; mi < 0 || !b.members[mi].enabled || idle {
				b.buckets[i] = en[i%len(en)]
			}
		}
		s.buckets = b.buckets
	}
	if s.hash == HashNone && s.active < 0 {
		s.hash = HashDrop
	}
	b.sel.Store(s)
}

// Selector returns the current forwarding snapshot. It never changes; a
// new one replaces it when the bond changes (Output.Changed).
func (b *Bond) Selector() *Selector { return b.sel.Load() }

// rebalance is Open vSwitch's bond_rebalance: move buckets from the most
// to the least loaded enabled member while that cuts the gap by more than
// the 10 % migration threshold, then halve every bucket's load (a moving
// average: old load decays below 1 % in 7 intervals). It reports whether a
// bucket moved.
func (b *Bond) rebalance() bool {
	for i := range b.txBytes {
		b.txBytes[i] += b.load[i].Swap(0)
	}
	type bal struct {
		m       *member
		tx      uint64
		entries []int // bucket indices, by load descending
	}
	bals := map[int]*bal{}
	var list []*bal
	for _, m := range b.members {
		if m.enabled {
			bl := &bal{m: m}
			bals[m.idx] = bl
			list = append(list, bl)
		}
	}
	order := make([]int, Buckets)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return b.txBytes[order[x]] > b.txBytes[order[y]] })
	for _, h := range order {
		if bl := bals[int(b.buckets[h])]; bl != nil && b.txBytes[h] > 0 && b.buckets[h] >= 0 {
			bl.tx += b.txBytes[h]
			bl.entries = append(bl.entries, h)
		}
	}
	moved := false
	resort := func() { sort.SliceStable(list, func(x, y int) bool { return list[x].tx > list[y].tx }) }
	resort()
	for len(list) > 1 {
		from, to := list[0], list[len(list)-1]
		overload := from.tx - to.tx
		if overload < to.tx>>5 || overload < 100000 {
			break
		}
		mig := chooseMigration(from.entries, b.txBytes[:], from.tx, to.tx)
		if len(mig) == 0 {
			list = list[1:] // nothing useful to move away from it
			continue
		}
		for _, h := range mig {
			d := b.txBytes[h]
			from.tx -= d
			to.tx += d
			b.buckets[h] = int8(to.m.idx)
			from.entries = slices.DeleteFunc(from.entries, func(x int) bool { return x == h })
		}
		moved = true
		resort()
	}
	for i := range b.txBytes {
		b.txBytes[i] /= 2
	}
	return moved
}

// chooseMigration is choose_entries_to_migrate: take the heaviest buckets
// whose load fits in half the gap, stop once within 10 % of ideal; if none
// fits, the lightest one; move only if the lower side gains at least the
// 10 % threshold.
func chooseMigration(entries []int, load []uint64, fromTx, toTx uint64) []int {
	if len(entries) <= 1 {
		return nil
	}
	ideal := (fromTx + toTx) / 2
	idealDelta := ideal - toTx
	threshold := idealDelta / 10
	var delta uint64
	var mig []int
	for _, h := range entries {
		if delta+load[h] <= idealDelta {
			mig = append(mig, h)
			delta += load[h]
		}
		if idealDelta-delta < threshold {
			break
		}
	}
	if len(mig) == 0 {
		h := entries[len(entries)-1]
		mig, delta = []int{h}, load[h]
	}
	newLow := min(fromTx-delta, toTx+delta)
	if newLow > toTx && newLow-toTx >= threshold {
		return mig
	}
	return nil
}
