package datapath

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// Meters are OpenFlow 1.3 meters: a flow's meter instruction passes each
// of its packets through a set of bands, each a token bucket of its own
// rate. A packet that finds a band's bucket empty exceeds that band; of the
// bands it exceeds, the one with the highest rate applies: drop, or
// dscp_remark (the IP DSCP's drop precedence is raised by the band's
// prec_level, as RFC 2597's assured forwarding classes have it: bits 1-2 of
// the DSCP, capped at 3). Rates are in kbit/s or packets/s; the burst is
// the bucket's depth (kilobits or packets; without the burst flag, one
// second of the rate).
//
// The decision holds a meter operation; the token buckets are per packet,
// in execute (the only per-packet state a decision meets besides the FDB).

// MeterBandType is a meter band's type.
type MeterBandType uint8

// Meter band types (ofp_meter_band_type).
const (
	MeterBandDrop       MeterBandType = 1
	MeterBandDSCPRemark MeterBandType = 2
)

// Meter limits.
const (
	// MeterMaxID is the largest meter id (OFPM_MAX).
	MeterMaxID uint32 = 0xffff0000
	// MeterAllID deletes every meter (OFPM_ALL).
	MeterAllID uint32 = 0xffffffff
	// MaxMeters bounds a bridge's meters.
	MaxMeters = 65536
	// MaxMeterBands bounds one meter's bands.
	MaxMeterBands = 16
)

// MeterBand is one band of a meter.
type MeterBand struct {
	Type MeterBandType
	// Rate is kbit/s, or packets/s for a packets meter.
	Rate uint32
	// Burst is the bucket's depth in kilobits (or packets); 0: one second
	// of Rate.
	Burst uint32
	// PrecLevel is how many drop-precedence levels dscp_remark adds.
	PrecLevel uint8
}

// MeterConfig is a meter as a METER_MOD gives it.
type MeterConfig struct {
	ID uint32
	// Packets meters count packets per second; others kilobits per
	// second.
	Packets bool
	// Burst says the bands' Burst values are given (OFPMF_BURST).
	Burst bool
	// Stats asks for counters (OFPMF_STATS); they are kept either way.
	Stats bool
	Bands []MeterBand
}

// Meter is an installed meter.
type Meter struct {
	cfg     MeterConfig
	bands   []*meterBand
	created time.Time
	remark  bool // some band remarks DSCP (the key must hold it)
	packets atomic.Uint64
	bytes   atomic.Uint64
}

type meterBand struct {
	MeterBand
	tb      TokenBucket
	packets atomic.Uint64
	bytes   atomic.Uint64
}

// Config returns the meter's configuration.
func (m *Meter) Config() MeterConfig { return m.cfg }

// TokenBucket is a token bucket: Rate tokens per second up to Depth. It is
// safe for concurrent use. Meters use it; per-port policing (QoS) can too.
type TokenBucket struct {
	mu     sync.Mutex
	rate   float64
	depth  float64
	tokens float64
	last   int64 // monotonic ns
}

// NewTokenBucket returns a full bucket.
func NewTokenBucket(rate, depth float64) *TokenBucket {
	t := &TokenBucket{}
	t.Set(rate, depth)
	return t
}

// Set changes the rate and depth and fills the bucket.
func (t *TokenBucket) Set(rate, depth float64) {
	t.mu.Lock()
	t.rate, t.depth, t.tokens, t.last = rate, depth, depth, Monotime()
	t.mu.Unlock()
}

// Take takes n tokens at time now (Monotime) if the bucket holds them.
func (t *TokenBucket) Take(now int64, n float64) bool {
	t.mu.Lock()
	if d := now - t.last; d > 0 {
		t.tokens = math.Min(t.depth, t.tokens+float64(d)*t.rate/1e9)
		t.last = now
	}
	ok := t.tokens >= n
	if ok {
		t.tokens -= n
	}
	t.mu.Unlock()
	return ok
}

var monoEpoch = time.Now()

// Monotime is a monotonic clock in nanoseconds (for token buckets).
func Monotime() int64 { return int64(time.Since(monoEpoch)) }

func checkMeter(cfg *MeterConfig) error {
	if cfg.ID == 0 || cfg.ID > MeterMaxID {
		return errs.Invalidf("meter_id", fmt.Sprintf("1-%d", MeterMaxID), "%d", cfg.ID)
	}
	if len(cfg.Bands) > MaxMeterBands {
		return errs.Failedf("bands", nil, "%d bands, at most %d", len(cfg.Bands), MaxMeterBands)
	}
	for i, bd := range cfg.Bands {
		switch bd.Type {
		case MeterBandDrop, MeterBandDSCPRemark:
		default:
			return errs.Invalidf("band", "drop, dscp_remark", "band %d has type %d", i, bd.Type)
		}
		if bd.Rate == 0 {
			return errs.Invalidf("rate", "1 or more", "band %d has rate 0", i)
		}
		if bd.Type == MeterBandDSCPRemark && (bd.PrecLevel == 0 || bd.PrecLevel > 3) {
			return errs.Invalidf("prec_level", "1-3", "band %d: %d", i, bd.PrecLevel)
		}
		if !cfg.Burst && bd.Burst != 0 {
			return errs.Invalidf("burst_size", "0 unless the meter has the burst flag", "band %d: %d", i, bd.Burst)
		}
	}
	return nil
}

func newMeter(cfg MeterConfig, old *Meter) *Meter {
	m := &Meter{cfg: cfg, created: time.Now()}
	m.cfg.Bands = slices.Clone(cfg.Bands)
	if old != nil {
		m.created = old.created
		m.packets.Store(old.packets.Load())
		m.bytes.Store(old.bytes.Load())
	}
	for _, bd := range m.cfg.Bands {
		mb := &meterBand{MeterBand: bd}
		rate, depth := float64(bd.Rate), float64(bd.Burst)
		if depth == 0 {
			depth = rate
		}
		if !cfg.Packets {
			rate, depth = rate*1000, depth*1000 // bits
		}
		mb.tb.Set(rate, depth)
		m.bands = append(m.bands, mb)
		m.remark = m.remark || bd.Type == MeterBandDSCPRemark
	}
	return m
}

// AddMeter installs a meter (METER_MOD add).
func (b *Bridge) AddMeter(cfg MeterConfig) error {
	if err := checkMeter(&cfg); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.meters[cfg.ID] != nil {
		return errs.Existsf("meter", "meter %d already exists on bridge %q", cfg.ID, b.name)
	}
	if len(b.meters) >= MaxMeters {
		return errs.Failedf("meters", nil, "bridge %q holds %d meters, the most it can", b.name, MaxMeters)
	}
	b.setMeterLocked(newMeter(cfg, nil))
	return nil
}

// ModifyMeter replaces an existing meter's bands (METER_MOD modify); its
// counters carry over, its bands' start again.
func (b *Bridge) ModifyMeter(cfg MeterConfig) error {
	if err := checkMeter(&cfg); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.meters[cfg.ID]
	if old == nil {
		return errs.NotFoundf("meter", "meter %d does not exist on bridge %q", cfg.ID, b.name)
	}
	b.setMeterLocked(newMeter(cfg, old))
	return nil
}

func (b *Bridge) setMeterLocked(m *Meter) {
	n := make(map[uint32]*Meter, len(b.meters)+1)
	for k, v := range b.meters {
		n[k] = v
	}
	n[m.cfg.ID] = m
	b.meters = n
	b.recomputeOFFieldsLocked()
	b.publishLocked()
}

// DeleteMeter removes meter id (MeterAllID: every meter) and the flows that
// use it (reason RemovedMeterDelete). A meter that does not exist is not an
// error.
func (b *Bridge) DeleteMeter(id uint32) FlowChanges {
	b.mu.Lock()
	gone := map[uint32]bool{}
	for k := range b.meters {
		if id == MeterAllID || k == id {
			gone[k] = true
		}
	}
	b.mu.Unlock()
	if len(gone) == 0 {
		return FlowChanges{}
	}
	ch := b.deleteRulesWhere(RemovedMeterDelete, func(r *Rule) bool { return gone[r.Instr.Meter] || r.refersTo(ActMeter, gone) })
	b.mu.Lock()
	b.meters = withoutKeys(b.meters, gone)
	b.recomputeOFFieldsLocked()
	b.publishLocked()
	b.mu.Unlock()
	return ch
}

// MeterEntry is a meter with its counters.
type MeterEntry struct {
	Config   MeterConfig
	Duration time.Duration
	// Packets and Bytes are what entered the meter.
	Packets uint64
	Bytes   uint64
	// Bands are what exceeded each band.
	Bands []BucketStats
	// FlowCount is the number of rules using the meter.
	FlowCount int
}

// Meters returns the bridge's meters sorted by id, with counters.
func (b *Bridge) Meters() []MeterEntry {
	s := b.snap.Load()
	refs := map[uint32]int{}
	s.tables.each(TableAll, func(r *Rule) bool {
		if r.Instr.Meter != 0 {
			refs[r.Instr.Meter]++
		}
		return true
	})
	now := time.Now()
	var out []MeterEntry
	for _, m := range s.meters {
		e := MeterEntry{Config: m.cfg, Duration: now.Sub(m.created), Packets: m.packets.Load(), Bytes: m.bytes.Load(), FlowCount: refs[m.cfg.ID]}
		e.Config.Bands = slices.Clone(m.cfg.Bands)
		for _, bd := range m.bands {
			e.Bands = append(e.Bands, BucketStats{Packets: bd.packets.Load(), Bytes: bd.bytes.Load()})
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Config.ID < out[j].Config.ID })
	return out
}

// meter puts a meter operation in the decision, after the rewrites so
// far (a remark works on the packet as the actions before left it).
func (x *xlate) meter(id uint32) {
	m := x.snap.meters[id]
	if m == nil {
		if x.tr != nil {
			x.tracef(nodeAction, "meter:%d: no such meter: not metered", id)
		}
		return
	}
	if x.tr != nil {
		unit := "kbps"
		if m.cfg.Packets {
			unit = "pktps"
		}
		var bands []string
		for _, bd := range m.cfg.Bands {
			t := "drop"
			if bd.Type == MeterBandDSCPRemark {
				t = fmt.Sprintf("dscp_remark(+%d)", bd.PrecLevel)
			}
			bands = append(bands, fmt.Sprintf("%s above %d %s", t, bd.Rate, unit))
		}
		x.tracef(nodeAction, "meter:%d (%v): per packet", id, bands)
	}
	if m.remark {
		x.mask.unwildcard(FieldEthType)
	}
	x.commit()
	x.emit(op{kind: opMeter, ext: &opExt{b: x.snap.b, meter: m}})
}

// meter passes one packet through meter m: false means a drop band
// applies. A dscp_remark band rewrites the packet (a copy if it is already
// queued somewhere).
func (c *rxContext) meter(m *Meter, cur *Packet, shared bool, lay *layout, key *Key) (*Packet, bool, bool) {
	n := uint64(cur.Len)
	m.packets.Add(1)
	m.bytes.Add(n)
	cost := 1.0
	if !m.cfg.Packets {
		cost = float64(n * 8)
	}
	now := Monotime()
	var hit *meterBand
	for _, bd := range m.bands {
		if !bd.tb.Take(now, cost) && (hit == nil || bd.Rate > hit.Rate) {
			hit = bd
		}
	}
	if hit == nil {
		return cur, shared, true
	}
	hit.packets.Add(1)
	hit.bytes.Add(n)
	if hit.Type == MeterBandDrop {
		return cur, shared, false
	}
	if et := key.ethType(); et != etherTypeIPv4 && et != etherTypeIPv6 {
		return cur, shared, true
	}
	old := key.Get(FieldIPDSCP).Lo
	dp := min(old>>1&3+uint64(hit.PrecLevel), 3)
	nd := old&^6 | dp<<1
	if nd == old {
		return cur, shared, true
	}
	if shared {
		s := c.spare(cur.Len)
		copyPacket(s, cur)
		cur, shared = s, false
	}
	o := op{kind: opSetField, field: FieldIPDSCP, val: Value{Lo: nd}}
	rewrite(cur, &o, lay)
	applyToKey(key, &o)
	return cur, shared, true
}
