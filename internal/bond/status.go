package bond

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-net/switchyard/internal/lacp"
)

// BucketLoad is one hash bucket a member carries, with its recent load.
type BucketLoad struct {
	Bucket  int    `json:"bucket"`
	TxBytes uint64 `json:"tx_bytes"`
}

// CounterSnapshot is a member's counters at one moment.
type CounterSnapshot struct {
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
}

// MemberStatus is one member in `bond show` (bond/show's member block).
type MemberStatus struct {
	Name      string `json:"name"`
	Enabled   bool   `json:"enabled"`
	Active    bool   `json:"active"`
	Carrier   bool   `json:"carrier"`
	MayEnable bool   `json:"may_enable"`
	// Delay is "updelay" or "downdelay" while one runs, with the time left.
	Delay          string             `json:"delay,omitempty"`
	DelayExpiresMS int64              `json:"delay_expires_ms,omitempty"`
	Buckets        []BucketLoad       `json:"buckets"`
	Counters       CounterSnapshot    `json:"counters"`
	LACP           *lacp.MemberStatus `json:"lacp,omitempty"`
}

// Status is a bond in `bond show` (Open vSwitch's bond/show and lacp/show
// together).
type Status struct {
	Name                string         `json:"name"`
	Mode                string         `json:"mode"`
	LACP                string         `json:"lacp"`
	LACPStatus          string         `json:"lacp_status"`
	LACPFallbackAB      bool           `json:"lacp_fallback_ab"`
	LACPRate            string         `json:"lacp_rate,omitempty"`
	FallingBack         bool           `json:"falling_back_ab"`
	UpDelayMS           int64          `json:"updelay_ms"`
	DownDelayMS         int64          `json:"downdelay_ms"`
	RebalanceIntervalMS int64          `json:"rebalance_interval_ms"`
	NextRebalanceMS     int64          `json:"next_rebalance_ms,omitempty"`
	HashBasis           uint32         `json:"hash_basis"`
	Primary             string         `json:"primary,omitempty"`
	ActiveMember        string         `json:"active_member,omitempty"`
	AllMembersActive    bool           `json:"all_members_active"`
	Members             []MemberStatus `json:"members"`
	// Partner is the LACP partner the bond aggregates with (system ID and
	// key of the active or first attached member), if negotiated.
	PartnerSystemID string                 `json:"partner_system_id,omitempty"`
	PartnerKey      uint16                 `json:"partner_key,omitempty"`
	Aggregator      *lacp.AggregatorStatus `json:"lacp_detail,omitempty"`
}

// Status returns the bond's state at now.
func (b *Bond) Status(now time.Time) Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Status{Name: b.cfg.Name, Mode: b.cfg.Mode.String(), LACP: b.cfg.LACP.String(), LACPStatus: b.lacpSt.String(),
		LACPFallbackAB: b.cfg.LACPFallbackAB, FallingBack: b.fallingBack(),
		UpDelayMS: b.cfg.UpDelay.Milliseconds(), DownDelayMS: b.cfg.DownDelay.Milliseconds(),
		RebalanceIntervalMS: b.cfg.rebalanceInterval().Milliseconds(), HashBasis: b.cfg.HashBasis,
		Primary: b.cfg.Primary, AllMembersActive: b.cfg.AllMembersActive, Members: []MemberStatus{}}
	if b.cfg.LACP != LACPOff {
		s.LACPRate = b.cfg.LACPRate.String()
	}
	if b.balancing() && b.cfg.rebalanceInterval() > 0 {
		s.NextRebalanceMS = max(0, b.nextReb.Sub(now).Milliseconds())
	}
	if b.active >= 0 {
		s.ActiveMember = b.members[b.active].cfg.Name
	}
	var agg *lacp.AggregatorStatus
	if b.agg != nil {
		a := b.agg.Status()
		agg = &a
		s.Aggregator = agg
	}
	for _, m := range b.members {
		ms := MemberStatus{Name: m.cfg.Name, Enabled: m.enabled, Active: m.idx == b.active, Carrier: m.carrier,
			MayEnable: m.mayEnable, Buckets: []BucketLoad{},
			Counters: CounterSnapshot{TxPackets: m.counters.TxPackets.Load(), TxBytes: m.counters.TxBytes.Load(),
				RxPackets: m.counters.RxPackets.Load(), RxBytes: m.counters.RxBytes.Load(), RxDropped: m.counters.RxDropped.Load()}}
		if m.delay {
			ms.Delay = "updelay"
			if m.enabled {
				ms.Delay = "downdelay"
			}
			ms.DelayExpiresMS = max(0, m.until.Sub(now).Milliseconds())
		}
		if b.balancing() {
			for h, mi := range b.buckets {
				if int(mi) == m.idx {
					ms.Buckets = append(ms.Buckets, BucketLoad{Bucket: h, TxBytes: b.txBytes[h] + b.load[h].Load()})
				}
			}
		}
		if agg != nil {
			for i := range agg.Members {
				if agg.Members[i].ID == m.idx {
					ms.LACP = &agg.Members[i]
				}
			}
			if ms.LACP != nil && ms.LACP.Attached && s.PartnerSystemID == "" && b.lacpSt == LACPNegotiated {
				s.PartnerSystemID, s.PartnerKey = ms.LACP.Partner.SystemID, ms.LACP.Partner.Key
			}
		}
		s.Members = append(s.Members, ms)
	}
	return s
}

// Text formats the status as Open vSwitch's bond/show and lacp/show do.
func (s Status) Text() string {
	var w strings.Builder
	fmt.Fprintf(&w, "---- %s ----\nbond_mode: %s\n", s.Name, s.Mode)
	fmt.Fprintf(&w, "updelay: %d ms\ndowndelay: %d ms\n", s.UpDelayMS, s.DownDelayMS)
	if s.NextRebalanceMS > 0 {
		fmt.Fprintf(&w, "next rebalance: %d ms\n", s.NextRebalanceMS)
	}
	fmt.Fprintf(&w, "lacp_status: %s\nlacp_fallback_ab: %v\n", s.LACPStatus, s.LACPFallbackAB)
	if s.Primary != "" {
		fmt.Fprintf(&w, "active-backup primary: %s\n", s.Primary)
	}
	if s.ActiveMember != "" {
		fmt.Fprintf(&w, "active member: %s\n", s.ActiveMember)
	}
	if s.PartnerSystemID != "" {
		fmt.Fprintf(&w, "partner: %s key %d\n", s.PartnerSystemID, s.PartnerKey)
	}
	for _, m := range s.Members {
		st := "disabled"
		if m.Enabled {
			st = "enabled"
		}
		fmt.Fprintf(&w, "\nmember %s: %s\n", m.Name, st)
		if m.Active {
			fmt.Fprintf(&w, "  active member\n")
		}
		if m.Delay != "" {
			fmt.Fprintf(&w, "  %s expires in %d ms\n", m.Delay, m.DelayExpiresMS)
		}
		fmt.Fprintf(&w, "  carrier: %v\n  may_enable: %v\n", m.Carrier, m.MayEnable)
		if len(m.Buckets) > 0 {
			fmt.Fprintf(&w, "  hash buckets: %d\n", len(m.Buckets))
			for _, bk := range m.Buckets {
				if kb := bk.TxBytes / 1024; kb > 0 {
					fmt.Fprintf(&w, "  hash %d: %d kB load\n", bk.Bucket, kb)
				}
			}
		}
		c := m.Counters
		fmt.Fprintf(&w, "  tx: %d packets %d bytes, rx: %d packets %d bytes, rx dropped: %d\n", c.TxPackets, c.TxBytes, c.RxPackets, c.RxBytes, c.RxDropped)
		if l := m.LACP; l != nil {
			at := "detached"
			if l.Attached {
				at = "attached"
			}
			fmt.Fprintf(&w, "  lacp: %s %s\n", l.Status, at)
			fmt.Fprintf(&w, "  actor: sys_id %s sys_priority %d port_id %d port_priority %d key %d state %s\n",
				l.Actor.SystemID, l.Actor.SystemPriority, l.Actor.PortID, l.Actor.PortPriority, l.Actor.Key, strings.Join(l.Actor.State, " "))
			fmt.Fprintf(&w, "  partner: sys_id %s sys_priority %d port_id %d port_priority %d key %d state %s\n",
				l.Partner.SystemID, l.Partner.SystemPriority, l.Partner.PortID, l.Partner.PortPriority, l.Partner.Key, strings.Join(l.Partner.State, " "))
		}
	}
	return w.String()
}
