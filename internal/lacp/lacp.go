package lacp

import (
	"slices"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// Timers (802.1AX-2014 6.4.4), as Open vSwitch uses them.
const (
	FastPeriod     = 1 * time.Second  // Fast_Periodic_Time
	SlowPeriod     = 30 * time.Second // Slow_Periodic_Time
	ShortTimeout   = 3 * FastPeriod   // Short_Timeout_Time
	LongTimeout    = 3 * SlowPeriod   // Long_Timeout_Time
	ChurnDetection = 60 * time.Second // Churn_Detection_Time
	// MaxTxPerPeriod bounds the LACPDUs sent on one member in any
	// Fast_Periodic_Time (6.4.16).
	MaxTxPerPeriod = 3
)

// Mode is active (sends LACPDUs on its own) or passive (answers an active
// partner only).
type Mode uint8

// Modes.
const (
	Active Mode = iota
	Passive
)

func (m Mode) String() string {
	if m == Passive {
		return "passive"
	}
	return "active"
}

// ParseMode parses "active" or "passive".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "active", "":
		return Active, nil
	case "passive":
		return Passive, nil
	}
	return 0, errs.Invalidf("lacp", "active, passive", "%q", s)
}

// Rate is the LACPDU rate the actor asks its partner for: fast (every 1 s,
// timeout 3 s) or slow (every 30 s, timeout 90 s; Open vSwitch's default).
type Rate uint8

// Rates.
const (
	Slow Rate = iota
	Fast
)

func (r Rate) String() string {
	if r == Fast {
		return "fast"
	}
	return "slow"
}

// ParseRate parses "fast" or "slow".
func ParseRate(s string) (Rate, error) {
	switch s {
	case "slow", "":
		return Slow, nil
	case "fast":
		return Fast, nil
	}
	return 0, errs.Invalidf("lacp-rate", "fast, slow", "%q", s)
}

// Config is the LACP configuration of one bond (Open vSwitch's port
// other_config lacp-*).
type Config struct {
	// Name names the bond in status output.
	Name string
	// SystemID is the actor system ID, normally the bridge's MAC address;
	// it must be a non-zero unicast address.
	SystemID packet.MAC
	// SystemPriority is the actor system priority (1-65535); 0 picks Open
	// vSwitch's default, 65534 for a bond of two or more members (so a
	// bondable peer wins ties over a single link) and 65535 otherwise.
	SystemPriority uint16
	// Mode is active or passive.
	Mode Mode
	// Rate is fast or slow.
	Rate Rate
	// Key is the aggregation key (1-65535); 0 uses the port ID of the first
	// member, as Open vSwitch does.
	Key uint16
	// FallbackAB lets the members carry traffic as an active-backup bond
	// while the partner sends no LACPDU (Open vSwitch's lacp-fallback-ab).
	FallbackAB bool
}

// Validate checks the configuration and names the field at fault.
func (c *Config) Validate() error {
	if c.SystemID.IsZero() || c.SystemID.IsMulticast() {
		return errs.Invalidf("lacp-system-id", "a non-zero unicast MAC address (the bridge's)", "%s", c.SystemID)
	}
	if c.Mode > Passive {
		return errs.Invalidf("lacp", "active, passive", "mode %d", c.Mode)
	}
	if c.Rate > Fast {
		return errs.Invalidf("lacp-rate", "fast, slow", "rate %d", c.Rate)
	}
	return nil
}

// MemberConfig is the LACP configuration of one member link (Open
// vSwitch's interface other_config lacp-port-id, lacp-port-priority,
// lacp-aggregation-key).
type MemberConfig struct {
	// Name names the member in status output.
	Name string
	// MAC is the source address of the LACPDUs sent on the member (the
	// member device's own address).
	MAC packet.MAC
	// PortID is the actor port number (1-65535), unique in the bond.
	PortID uint16
	// PortPriority is the actor port priority; 0 means 65535 (Open
	// vSwitch's default).
	PortPriority uint16
	// Key overrides the bond's aggregation key for this member (0 = the
	// bond's). Members with different actor keys never aggregate together.
	Key uint16
}

// Validate checks the configuration and names the field at fault.
func (c *MemberConfig) Validate() error {
	if c.PortID == 0 {
		return errs.Invalidf("lacp-port-id", "1-65535", "0 for member %q", c.Name)
	}
	if c.MAC.IsMulticast() {
		return errs.Invalidf("mac", "a unicast MAC address", "%s of member %q", c.MAC, c.Name)
	}
	return nil
}

// Status of a member's partner information (802.1AX receive machine).
type Status uint8

// Receive machine states.
const (
	// Defaulted: no partner heard (yet, or for longer than the timeout);
	// the default partner information is in use.
	Defaulted Status = iota
	// Expired: the partner was not heard for one timeout; its
	// information is kept but not trusted (not in sync).
	Expired
	// Current: the partner's information is up to date.
	Current
)

func (s Status) String() string {
	switch s {
	case Current:
		return "current"
	case Expired:
		return "expired"
	}
	return "defaulted"
}

// Frame is a frame the protocol asks to send on a member.
type Frame struct {
	Member int
	Data   []byte
}

// Output is what a call asks of the caller.
type Output struct {
	// Frames are to be sent, each on its member, in order.
	Frames []Frame
	// Changed is true when a member's MayEnable or the aggregator's
	// Negotiated changed: the bond must re-run its member selection.
	Changed bool
}

func (o *Output) merge(p Output) {
	o.Frames = append(o.Frames, p.Frames...)
	o.Changed = o.Changed || p.Changed
}

// Counters of one member (Open vSwitch's lacp/show-stats and the
// dot3adAggPortStats of 802.1AX).
type Counters struct {
	RxPDUs            uint64 `json:"rx_pdus"`
	RxBad             uint64 `json:"rx_bad"`
	RxMarkers         uint64 `json:"rx_markers"`
	RxDroppedNoLink   uint64 `json:"rx_dropped_no_carrier"`
	TxPDUs            uint64 `json:"tx_pdus"`
	TxMarkerResponses uint64 `json:"tx_marker_responses"`
	Expired           uint64 `json:"link_expired"`
	Defaulted         uint64 `json:"link_defaulted"`
	CarrierChanges    uint64 `json:"carrier_changes"`
	ActorChurn        uint64 `json:"actor_churn"`
	PartnerChurn      uint64 `json:"partner_churn"`
}

type member struct {
	id  int
	cfg MemberConfig

	carrier  bool
	status   Status
	partner  Info // Partner_Oper: what the partner says about itself (Sync masked by matched)
	matched  bool // the partner's view of us matches our actor information
	attached bool // selected for the aggregator and attached (actor Sync)

	rxDeadline time.Time   // current_while
	txNext     time.Time   // periodic timer
	ntt        bool        // need to transmit
	lastView   Info        // the partner's last view of us, from its LACPDU
	txTimes    []time.Time // last sends, for the 3-per-second limit

	syncSince        time.Time // last time the actor was in sync (or carrier came up)
	partnerSyncSince time.Time
	actorChurn       bool
	partnerChurn     bool

	counters Counters
}

// Aggregator is the LACP instance of one bond: its members' state machines
// and the selection of the members that aggregate. It is safe for
// concurrent use.
type Aggregator struct {
	mu         sync.Mutex
	cfg        Config
	members    []*member // in the order added
	negotiated bool
	reselect   bool
	lastMay    map[int]bool
}

// New returns an aggregator with no members.
func New(cfg Config) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Aggregator{cfg: cfg, lastMay: map[int]bool{}}, nil
}

// SetConfig changes the configuration; members renegotiate.
func (a *Aggregator) SetConfig(cfg Config, now time.Time) (Output, error) {
	if err := cfg.Validate(); err != nil {
		return Output{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg = cfg
	for _, m := range a.members {
		m.ntt = true
	}
	a.reselect = true
	return a.run(now), nil
}

// AddMember adds member id (an index the caller chooses, unique in the
// aggregator) with its carrier down.
func (a *Aggregator) AddMember(id int, cfg MemberConfig, now time.Time) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.members {
		if m.id == id {
			return errs.Existsf("members", "member %d (%q) is already in bond %q", id, m.cfg.Name, a.cfg.Name)
		}
		if m.cfg.PortID == cfg.PortID {
			return errs.Invalidf("lacp-port-id", "1-65535, unique in the bond", "%d of member %q is already used by member %q", cfg.PortID, cfg.Name, m.cfg.Name)
		}
	}
	m := &member{id: id, cfg: cfg}
	a.setDefaulted(m)
	m.syncSince, m.partnerSyncSince = now, now
	a.members = append(a.members, m)
	a.reselect = true
	return nil
}

// RemoveMember removes member id.
func (a *Aggregator) RemoveMember(id int, now time.Time) Output {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.members = slices.DeleteFunc(a.members, func(m *member) bool { return m.id == id })
	delete(a.lastMay, id)
	a.reselect = true
	return a.run(now)
}

func (a *Aggregator) find(id int) *member {
	for _, m := range a.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// period is the actor's Fast/Slow_Periodic_Time, which its partner
// transmits at.
func (a *Aggregator) rxTimeout() time.Duration {
	if a.cfg.Rate == Fast {
		return ShortTimeout
	}
	return LongTimeout
}

// defaultPartner is Partner_Admin: no system, and the short-timeout bit, so
// that a member without a partner keeps probing every second. A link that
// was repaired is found again within one second, where Open vSwitch 3.1,
// whose defaulted partner has the long-timeout bit, probes every 30 s.
func defaultPartner() Info { return Info{State: StateTimeout} }

func (a *Aggregator) setDefaulted(m *member) {
	m.partner = defaultPartner()
	m.matched = false
	m.status = Defaulted
	a.reselect = true
}

func (a *Aggregator) setExpired(m *member, now time.Time) {
	m.status = Expired
	m.partner.State &^= StateSync
	m.partner.State |= StateTimeout
	m.rxDeadline = now.Add(ShortTimeout)
	m.ntt = true
	a.reselect = true
}

// SetCarrier reports a member's carrier. A member whose carrier goes down
// stops carrying traffic at once; when it comes up its partner information
// is expired until the partner is heard again, and an LACPDU goes out.
func (a *Aggregator) SetCarrier(id int, up bool, now time.Time) Output {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.find(id)
	if m == nil || m.carrier == up {
		return a.run(now)
	}
	m.carrier = up
	m.counters.CarrierChanges++
	if m.status == Current || a.cfg.Mode == Active {
		a.setExpired(m, now)
	}
	if up {
		m.syncSince, m.partnerSyncSince = now, now
		m.txNext = now
	}
	a.reselect = true
	return a.run(now)
}

// Receive handles a slow-protocols frame received on member id: an LACPDU
// updates the partner, a Marker Information PDU is answered. A malformed
// frame is counted and dropped.
func (a *Aggregator) Receive(id int, frame []byte, now time.Time) Output {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.find(id)
	if m == nil {
		return Output{}
	}
	sub, pdu, mk, err := DecodeFrame(frame)
	if err != nil {
		m.counters.RxBad++
		return a.run(now)
	}
	if sub == SubtypeMarker {
		m.counters.RxMarkers++
		if mk.Response || !m.carrier {
			return a.run(now)
		}
		mk.Response = true
		out := a.run(now)
		out.Frames = append(out.Frames, Frame{Member: id, Data: mk.AppendFrame(nil, m.cfg.MAC)})
		m.counters.TxMarkerResponses++
		return out
	}
	m.counters.RxPDUs++
	if !m.carrier {
		// Some NICs report carrier late; Open vSwitch drops these too.
		m.counters.RxDroppedNoLink++
		return a.run(now)
	}
	a.recordPDU(m, &pdu, now)
	return a.run(now)
}

// recordPDU is the CURRENT state of the receive machine (802.1AX 6.4.12):
// record the partner's information, decide whether its view of us matches,
// and restart current_while.
func (a *Aggregator) recordPDU(m *member, pdu *PDU, now time.Time) {
	actor := a.actorInfo(m)
	m.matched = pdu.Partner.sameIdentity(actor) || pdu.Actor.State&StateAggregation == 0
	p := pdu.Actor
	if !m.matched {
		p.State &^= StateSync
	}
	wasFast := m.partner.State&StateTimeout != 0
	if p != m.partner || m.status != Current {
		a.reselect = true
	}
	m.partner = p
	m.status = Current
	m.rxDeadline = now.Add(a.rxTimeout())
	// What the partner believes about us; run compares it with our actor
	// information and transmits when they differ.
	m.lastView = pdu.Partner
	// The partner asks for fast LACPDUs now: the periodic machine goes to
	// FAST_PERIODIC at once.
	if !wasFast && p.State&StateTimeout != 0 {
		m.ntt = true
	}
}

// systemPriority is the actor system priority in use.
func (a *Aggregator) systemPriority() uint16 {
	if a.cfg.SystemPriority != 0 {
		return a.cfg.SystemPriority
	}
	if len(a.members) > 1 {
		return 65534
	}
	return 65535
}

// key is the actor key of member m.
func (a *Aggregator) key(m *member) uint16 {
	if m.cfg.Key != 0 {
		return m.cfg.Key
	}
	if a.cfg.Key != 0 {
		return a.cfg.Key
	}
	if len(a.members) > 0 {
		return a.members[0].cfg.PortID
	}
	return m.cfg.PortID
}

func portPriority(m *member) uint16 {
	if m.cfg.PortPriority == 0 {
		return 65535
	}
	return m.cfg.PortPriority
}

// actorState is Actor_Oper_Port_State.
func (a *Aggregator) actorState(m *member) State {
	var s State
	if a.cfg.Mode == Active {
		s |= StateActivity
	}
	if a.cfg.Rate == Fast {
		s |= StateTimeout
	}
	if len(a.members) > 1 {
		s |= StateAggregation
	}
	// An expired member (the partner went silent) does not claim to be in
	// sync: a partner that stops distributing only on our Sync bit (Open
	// vSwitch) takes the link out at once instead of a whole timeout
	// later, so a one-way failure does not black-hole the other way.
	if m.attached && m.status != Expired {
		s |= StateSync
		// Coupled control (6.4.15): collecting and distributing once the
		// partner is in sync with us.
		if m.partner.State&StateSync != 0 {
			s |= StateCollecting | StateDistributing
		}
	}
	switch m.status {
	case Defaulted:
		s |= StateDefaulted
	case Expired:
		s |= StateExpired
	}
	return s
}

func (a *Aggregator) actorInfo(m *member) Info {
	return Info{
		SystemPriority: a.systemPriority(),
		System:         a.cfg.SystemID,
		Key:            a.key(m),
		PortPriority:   portPriority(m),
		Port:           m.cfg.PortID,
		State:          a.actorState(m),
	}
}

// mayEnable is whether the member may carry traffic: attached, and its
// partner in sync and collecting, or defaulted with fallback-ab.
func (a *Aggregator) mayEnable(m *member) bool {
	if !m.attached || !m.carrier {
		return false
	}
	if m.status == Defaulted {
		return a.cfg.FallbackAB
	}
	return m.partner.State&(StateSync|StateCollecting) == StateSync|StateCollecting
}

// linkPriority orders the links of a bond for choosing the aggregator's
// lead, as Open vSwitch does: the port information of whichever system has
// the better (lower) system priority and ID decides. Lower is better.
func (a *Aggregator) linkPriority(m *member) [4]uint64 {
	act := a.actorInfo(m)
	use := act
	pp := m.partner
	if pp.SystemPriority < act.SystemPriority ||
		pp.SystemPriority == act.SystemPriority && macLess(pp.System, act.System) {
		use = pp
	}
	return [4]uint64{uint64(use.SystemPriority), macU64(use.System), uint64(use.PortPriority), uint64(use.Port)}
}

func macU64(m packet.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func macLess(a, b packet.MAC) bool { return macU64(a) < macU64(b) }

func prioLess(a, b [4]uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// selectLinks is the selection logic (802.1AX 6.4.14) in Open vSwitch's
// form: pick the best link with a partner as the lead, and attach every
// link whose partner is the same system with the same key and whose actor
// key is the lead's. A link looped back to this system, an individual link
// that is not the lead and a link without carrier are never attached.
func (a *Aggregator) selectLinks() {
	a.reselect = false
	hasPartner := func(m *member) bool {
		return m.carrier && m.status != Defaulted && !m.partner.System.IsZero() && m.partner.System != a.cfg.SystemID
	}
	// Prefer a link already carrying traffic, so a new link cannot move the
	// aggregator to another partner under running traffic.
	var current *member
	var curPri [4]uint64
	for _, m := range a.members {
		if m.status == Current && m.attached && hasPartner(m) {
			if p := a.linkPriority(m); current == nil || prioLess(p, curPri) {
				current, curPri = m, p
			}
		}
	}
	var lead *member
	var leadPri [4]uint64
	leadEnable := false
	if current != nil {
		lead, leadPri, leadEnable = current, curPri, current.partner.State&StateSync != 0
	}
	for _, m := range a.members {
		m.attached = false
		if !m.carrier {
			continue
		}
		if !hasPartner(m) {
			// Defaulted (or expired without ever hearing a partner): only
			// fallback-ab lets it carry traffic, as a backup link.
			m.attached = a.cfg.FallbackAB && m.status == Defaulted
			continue
		}
		if current != nil && m.partner.System != current.partner.System {
			continue
		}
		m.attached = true
		enable := m.partner.State&StateSync != 0
		p := a.linkPriority(m)
		if lead == nil || enable && !leadEnable || enable == leadEnable && prioLess(p, leadPri) {
			lead, leadEnable, leadPri = m, enable, p
		}
	}
	a.negotiated = lead != nil
	if lead == nil {
		return
	}
	individual := lead.partner.State&StateAggregation == 0
	for _, m := range a.members {
		if !m.attached || m == lead {
			continue
		}
		if m.status == Defaulted || individual || m.partner.State&StateAggregation == 0 ||
			m.partner.System != lead.partner.System || m.partner.SystemPriority != lead.partner.SystemPriority ||
			m.partner.Key != lead.partner.Key || a.key(m) != a.key(lead) {
			m.attached = false
		}
	}
}

// run advances timers, reselects when needed and transmits what is due.
func (a *Aggregator) run(now time.Time) Output {
	var out Output
	for _, m := range a.members {
		if m.status != Defaulted && !m.rxDeadline.IsZero() && !now.Before(m.rxDeadline) {
			if m.status == Current {
				a.setExpired(m, now)
				m.counters.Expired++
			} else {
				a.setDefaulted(m)
				m.counters.Defaulted++
				m.ntt = true
			}
		}
	}
	if a.reselect {
		a.selectLinks()
	}
	for _, m := range a.members {
		a.churn(m, now)
		// The partner's view of us is stale (we changed, or it never heard
		// us): tell it now (Open vSwitch's ntt_actor test).
		if m.status != Defaulted && !m.lastView.sameTx(a.actorInfo(m)) {
			m.ntt = true
		}
		may := a.mayEnable(m)
		if a.lastMay[m.id] != may {
			a.lastMay[m.id] = may
			out.Changed = true
		}
		if f, ok := a.transmit(m, now); ok {
			out.Frames = append(out.Frames, Frame{Member: m.id, Data: f})
		}
	}
	return out
}

// churn is the churn detection machine (6.4.17), cheaply: a link whose
// actor (or partner) has not been in sync for Churn_Detection_Time while
// its carrier is up is in churn; each entry into churn is counted.
func (a *Aggregator) churn(m *member, now time.Time) {
	if !m.carrier {
		m.actorChurn, m.partnerChurn = false, false
		return
	}
	if m.attached {
		m.syncSince = now
		m.actorChurn = false
	} else if !m.actorChurn && now.Sub(m.syncSince) >= ChurnDetection {
		m.actorChurn = true
		m.counters.ActorChurn++
	}
	if m.partner.State&StateSync != 0 {
		m.partnerSyncSince = now
		m.partnerChurn = false
	} else if !m.partnerChurn && now.Sub(m.partnerSyncSince) >= ChurnDetection {
		m.partnerChurn = true
		m.counters.PartnerChurn++
	}
}

// transmit is the periodic and transmit machines: send when NTT is set or
// the periodic timer expired, at most three LACPDUs a second. The period
// follows the partner's timeout bit; nothing is sent without carrier, or
// when both ends are passive.
func (a *Aggregator) transmit(m *member, now time.Time) ([]byte, bool) {
	if !m.carrier || a.cfg.Mode == Passive && m.partner.State&StateActivity == 0 {
		return nil, false
	}
	if !m.ntt && now.Before(m.txNext) {
		return nil, false
	}
	// Rate limit: three in any Fast_Periodic_Time.
	cut := now.Add(-FastPeriod)
	m.txTimes = slices.DeleteFunc(m.txTimes, func(t time.Time) bool { return !t.After(cut) })
	if len(m.txTimes) >= MaxTxPerPeriod {
		m.ntt = true
		return nil, false
	}
	m.txTimes = append(m.txTimes, now)
	m.ntt = false
	m.lastView = a.actorInfo(m)
	period := SlowPeriod
	if m.partner.State&StateTimeout != 0 {
		period = FastPeriod
	}
	m.txNext = now.Add(period)
	pdu := PDU{Version: 1, Actor: a.actorInfo(m), Partner: m.partner}
	if m.status == Defaulted {
		pdu.Partner = Info{}
	}
	m.counters.TxPDUs++
	return pdu.AppendFrame(nil, m.cfg.MAC), true
}

// Tick advances the state machines to now: partner timeouts, periodic
// transmission, rate-limited retransmission. Call it at least every
// 100 ms, or at NextDeadline.
func (a *Aggregator) Tick(now time.Time) Output {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.run(now)
}

// NextDeadline is the earliest time Tick has work to do.
func (a *Aggregator) NextDeadline() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var next time.Time
	upd := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, m := range a.members {
		if m.status != Defaulted {
			upd(m.rxDeadline)
		}
		if m.carrier {
			upd(m.txNext)
			if m.ntt && len(m.txTimes) > 0 {
				upd(m.txTimes[0].Add(FastPeriod))
			}
		}
	}
	return next
}

// MayEnable reports whether member id may carry traffic: Open vSwitch's
// lacp_member_may_enable.
func (a *Aggregator) MayEnable(id int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.find(id); m != nil {
		return a.mayEnable(m)
	}
	return false
}

// Negotiated reports whether some member has a partner to aggregate with
// (Open vSwitch's lacp_status "negotiated"; otherwise "configured").
func (a *Aggregator) Negotiated() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.negotiated
}

// InfoStatus is actor or partner information in status output.
type InfoStatus struct {
	SystemID       string   `json:"system_id"`
	SystemPriority uint16   `json:"system_priority"`
	PortID         uint16   `json:"port_id"`
	PortPriority   uint16   `json:"port_priority"`
	Key            uint16   `json:"key"`
	State          []string `json:"state"`
}

func infoStatus(in Info) InfoStatus {
	st := in.State.Names()
	if st == nil {
		st = []string{}
	}
	return InfoStatus{SystemID: in.System.String(), SystemPriority: in.SystemPriority, PortID: in.Port,
		PortPriority: in.PortPriority, Key: in.Key, State: st}
}

// MemberStatus is one member in status output (Open vSwitch's lacp/show
// member block and lacp/show-stats).
type MemberStatus struct {
	ID           int        `json:"id"`
	Name         string     `json:"name"`
	Carrier      bool       `json:"carrier"`
	Status       string     `json:"status"`
	Attached     bool       `json:"attached"`
	MayEnable    bool       `json:"may_enable"`
	ActorChurn   bool       `json:"actor_churn"`
	PartnerChurn bool       `json:"partner_churn"`
	Actor        InfoStatus `json:"actor"`
	Partner      InfoStatus `json:"partner"`
	Counters     Counters   `json:"counters"`
}

// AggregatorStatus is the aggregator in status output (lacp/show).
type AggregatorStatus struct {
	Name           string         `json:"name"`
	Mode           string         `json:"mode"`
	Negotiated     bool           `json:"negotiated"`
	SystemID       string         `json:"system_id"`
	SystemPriority uint16         `json:"system_priority"`
	Key            uint16         `json:"key"`
	Rate           string         `json:"rate"`
	FallbackAB     bool           `json:"fallback_ab"`
	Members        []MemberStatus `json:"members"`
}

// Status returns the aggregator's state for `bond show`.
func (a *Aggregator) Status() AggregatorStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := AggregatorStatus{Name: a.cfg.Name, Mode: a.cfg.Mode.String(), Negotiated: a.negotiated,
		SystemID: a.cfg.SystemID.String(), SystemPriority: a.systemPriority(), Rate: a.cfg.Rate.String(),
		FallbackAB: a.cfg.FallbackAB, Members: []MemberStatus{}}
	if len(a.members) > 0 {
		s.Key = a.key(a.members[0])
	}
	for _, m := range a.members {
		s.Members = append(s.Members, MemberStatus{ID: m.id, Name: m.cfg.Name, Carrier: m.carrier,
			Status: m.status.String(), Attached: m.attached, MayEnable: a.mayEnable(m),
			ActorChurn: m.actorChurn, PartnerChurn: m.partnerChurn,
			Actor: infoStatus(a.actorInfo(m)), Partner: infoStatus(m.partner), Counters: m.counters})
	}
	return s
}
