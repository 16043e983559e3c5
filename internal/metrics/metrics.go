// Package metrics exports Switchyard's counters in the Prometheus format.
// A collector reads the engine's counters when Prometheus scrapes (they
// are atomics the forwarding path keeps anyway): nothing is added to the
// per-packet path, and nothing is kept between scrapes.
//
// Names and labels follow the Prometheus conventions: a switchyard_
// prefix, base units, _total for counters, {bridge,port} labels on port
// series, {bridge,port,remote} on remote-VTEP series, one series per drop
// reason (every reason, zeros included, so rate() works from the first
// drop).
package metrics

import (
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard-net/switchyard/internal/datapath"
)

// Snapshot is what one scrape reads from the daemon.
type Snapshot struct {
	Revision uint64
	Bridges  []Bridge
	Daemon   Daemon
	// Events counts the event log's events by kind; EventsLagged the ones
	// followers missed.
	Events       map[string]uint64
	EventsLagged uint64
	// Captures is the number of running captures; CaptureDropped the
	// copies captures dropped because their reader lagged, ever.
	Captures       int
	CaptureDropped uint64
}

// Daemon is the daemon's own figures.
type Daemon struct {
	Version, GoVersion, Commit string
	Start                      time.Time
	// Reconciles counts reconcile runs; FailedPorts the configured ports
	// whose device is not up.
	FailedPorts int
}

// Bridge is one bridge's counters.
type Bridge struct {
	Name         string
	AgingSeconds int
	FullPolicy   string
	FDB          datapath.FDBStats
	// FDBBytesPerEntry is the FDB's memory per entry it can hold.
	FDBBytesPerEntry float64
	Cache            datapath.CacheStats
	Rules            int
	// LearnedPerPort is how many learned addresses each port holds.
	LearnedPerPort map[string]int
	Ports          []Port
}

// Port is one port's status and counters.
type Port struct {
	Name   string
	Type   string
	OFPort int
	Status string // up, down, error
	Stats  datapath.PortStats
	Tunnel *Tunnel
}

// Tunnel is a tunnel port's settings and remote VTEPs.
type Tunnel struct {
	Encap    string
	Local    string
	MTU      int // underlay MTU
	Overhead int
	VMMTU    int
	// Socket-level drops before the engine sees a frame.
	BadHeader, UnknownVNI uint64
	Remotes               []Remote
}

// Remote is one remote VTEP of a tunnel port.
type Remote struct {
	Addr string
	// Configured: named with --remote; Learned: some FDB entry points at
	// it (MACs says how many).
	Configured, Learned bool
	MACs                int
	// Probed: the last probe's result (doctor); Up and RTT then hold.
	Probed bool
	Up     bool
	RTT    time.Duration
	// HasCounters: the tunnel device counts per remote (Rx/Tx below).
	HasCounters                            bool
	RxPackets, RxBytes, TxPackets, TxBytes uint64
	Drops                                  uint64
}

// Source gives the collector a snapshot at each scrape.
type Source interface {
	MetricsSnapshot() *Snapshot
}

// metric is one exported family: its description, for Describe and for
// the documentation.
type metric struct {
	desc   *prometheus.Desc
	name   string
	help   string
	typ    string
	labels []string
}

var families []*metric

func def(name, typ, help string, labels ...string) *metric {
	m := &metric{desc: prometheus.NewDesc(name, help, labels, nil), name: name, help: help, typ: typ, labels: labels}
	families = append(families, m)
	return m
}

var (
	buildInfo    = def("switchyard_build_info", "gauge", "Version of the running daemon (value 1).", "version", "goversion", "commit")
	startTime    = def("switchyard_daemon_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch.")
	revision     = def("switchyard_config_revision", "gauge", "Revision of the stored configuration the daemon runs.")
	failedPorts  = def("switchyard_config_ports_not_up", "gauge", "Configured ports whose device is not up (down or in error).")
	eventsTotal  = def("switchyard_events_total", "counter", "Events added to the event log, by kind.", "kind")
	eventsLagged = def("switchyard_events_follower_missed_total", "counter", "Events that followers of the event log missed because they did not keep up.")
	captures     = def("switchyard_captures_running", "gauge", "Packet captures running.")
	captureDrops = def("switchyard_capture_dropped_total", "counter", "Captured frames dropped because the capture's reader did not keep up (forwarding is never slowed).")

	bridgeInfo = def("switchyard_bridge_info", "gauge", "A bridge and its FDB full-table policy (value 1).", "bridge", "fdb_full_policy")
	fdbEntries = def("switchyard_fdb_entries", "gauge", "FDB entries, learned and static.", "bridge")
	fdbStatic  = def("switchyard_fdb_static_entries", "gauge", "Static FDB entries.", "bridge")
	fdbLimit   = def("switchyard_fdb_learned_limit", "gauge", "Most learned FDB entries the bridge keeps (--fdb-max).", "bridge")
	fdbAging   = def("switchyard_fdb_aging_seconds", "gauge", "How long a learned address lives without being seen.", "bridge")
	fdbBytes   = def("switchyard_fdb_bytes_per_entry", "gauge", "FDB memory per entry it can hold, in bytes.", "bridge")
	fdbLearned = def("switchyard_fdb_learned_total", "counter", "New addresses learned.", "bridge")
	fdbMoved   = def("switchyard_fdb_moved_total", "counter", "Learned addresses that moved to another port or remote VTEP.", "bridge")
	fdbAged    = def("switchyard_fdb_aged_total", "counter", "Learned entries removed by aging.", "bridge")
	fdbEvicted = def("switchyard_fdb_evicted_total", "counter", "Learned entries evicted to make room (evict-oldest).", "bridge")
	fdbRefused = def("switchyard_fdb_refused_total", "counter", "New addresses not learned because the FDB was full (refuse); frames to them are flooded.", "bridge")
	fdbFlushed = def("switchyard_fdb_flushed_total", "counter", "Entries removed by a flush, a delete or a port removal.", "bridge")
	fdbPort    = def("switchyard_fdb_port_learned_entries", "gauge", "Learned FDB entries per port.", "bridge", "port")

	cacheEntries = def("switchyard_decision_cache_entries", "gauge", "Cached decisions (megaflows).", "bridge")
	cacheLimit   = def("switchyard_decision_cache_limit", "gauge", "Most cached decisions (--flow-cache-max).", "bridge")
	cacheMasks   = def("switchyard_decision_cache_masks", "gauge", "Distinct masks (subtables) of the decision cache.", "bridge")
	cacheHits    = def("switchyard_decision_cache_hits_total", "counter", "Packets whose decision came from the cache.", "bridge")
	cacheMisses  = def("switchyard_decision_cache_misses_total", "counter", "Packets decided afresh (no cached decision).", "bridge")
	cacheInserts = def("switchyard_decision_cache_inserts_total", "counter", "Decisions inserted into the cache.", "bridge")
	cacheEvict   = def("switchyard_decision_cache_evictions_total", "counter", "Cached decisions evicted (full cache, or idle).", "bridge")
	cacheReval   = def("switchyard_decision_cache_revalidations_total", "counter", "Stale cached decisions decided again and kept (unchanged).", "bridge")
	cacheReplace = def("switchyard_decision_cache_replaced_total", "counter", "Stale cached decisions replaced by a different decision.", "bridge")
	cacheUncache = def("switchyard_decision_cache_uncached_total", "counter", "Decisions run without caching because the cache was busy.", "bridge")
	rules        = def("switchyard_flow_rules", "gauge", "Flow rules in the bridge's tables.", "bridge")

	portInfo    = def("switchyard_port_info", "gauge", "A port, its type and OpenFlow port number (value 1).", "bridge", "port", "type", "ofport")
	portUp      = def("switchyard_port_up", "gauge", "1 if the port forwards, 0 if it is down or in error.", "bridge", "port")
	portStatus  = def("switchyard_port_status", "gauge", "The port's status as a state set: 1 for the current one of up, down, error.", "bridge", "port", "status")
	rxPackets   = def("switchyard_port_rx_packets_total", "counter", "Frames the port received.", "bridge", "port")
	rxBytes     = def("switchyard_port_rx_bytes_total", "counter", "Bytes the port received.", "bridge", "port")
	txPackets   = def("switchyard_port_tx_packets_total", "counter", "Frames the port sent.", "bridge", "port")
	txBytes     = def("switchyard_port_tx_bytes_total", "counter", "Bytes the port sent.", "bridge", "port")
	portDrops   = def("switchyard_port_drops_total", "counter", "Frames dropped at the port, by reason (docs: the drop reasons).", "bridge", "port", "reason")
	tunnelInfo  = def("switchyard_tunnel_info", "gauge", "A tunnel port's encapsulation and local VTEP (value 1).", "bridge", "port", "encap", "local")
	tunnelMTU   = def("switchyard_tunnel_underlay_mtu_bytes", "gauge", "MTU of the tunnel's underlay.", "bridge", "port")
	tunnelOver  = def("switchyard_tunnel_overhead_bytes", "gauge", "Encapsulation overhead of the tunnel.", "bridge", "port")
	tunnelVMMTU = def("switchyard_tunnel_vm_mtu_bytes", "gauge", "Largest VM MTU the tunnel carries without dropping (underlay MTU - overhead).", "bridge", "port")
	tunnelBad   = def("switchyard_tunnel_socket_bad_header_total", "counter", "Datagrams the tunnel socket dropped for a malformed or refused header.", "bridge", "port")
	tunnelVNI   = def("switchyard_tunnel_socket_unknown_vni_total", "counter", "Datagrams the tunnel socket dropped for a VNI no port carries.", "bridge", "port")
	remoteInfo  = def("switchyard_tunnel_remote_info", "gauge", "A remote VTEP of a tunnel port and how it is known: configured (--remote) or learned (value 1).", "bridge", "port", "remote", "source")
	remoteMACs  = def("switchyard_tunnel_remote_fdb_entries", "gauge", "FDB entries (MACs) behind a remote VTEP.", "bridge", "port", "remote")
	remoteUp    = def("switchyard_tunnel_remote_up", "gauge", "1 if the remote VTEP answered the last probe, 0 if not (after `switchyard doctor` or the dashboard probed it).", "bridge", "port", "remote")
	remoteRTT   = def("switchyard_tunnel_remote_probe_rtt_seconds", "gauge", "Round-trip time of the last answered probe to the remote VTEP.", "bridge", "port", "remote")
	remoteRxP   = def("switchyard_tunnel_remote_rx_packets_total", "counter", "Frames received from a remote VTEP.", "bridge", "port", "remote")
	remoteRxB   = def("switchyard_tunnel_remote_rx_bytes_total", "counter", "Bytes received from a remote VTEP.", "bridge", "port", "remote")
	remoteTxP   = def("switchyard_tunnel_remote_tx_packets_total", "counter", "Frames sent to a remote VTEP.", "bridge", "port", "remote")
	remoteTxB   = def("switchyard_tunnel_remote_tx_bytes_total", "counter", "Bytes sent to a remote VTEP.", "bridge", "port", "remote")
	remoteDrops = def("switchyard_tunnel_remote_drops_total", "counter", "Frames to a remote VTEP that could not be sent.", "bridge", "port", "remote")
)

// Family is an exported metric family, for the documentation.
type Family struct {
	Name, Type, Help string
	Labels           []string
}

// Families lists every metric family the collector exports (besides the
// Go runtime's go_* and the process's process_* families).
func Families() []Family {
	l := make([]Family, len(families))
	for i, m := range families {
		l[i] = Family{m.name, m.typ, m.help, m.labels}
	}
	return l
}

// Collector is a prometheus.Collector over a Source.
type Collector struct{ src Source }

// NewCollector returns a collector that reads src at each scrape.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range families {
		ch <- m.desc
	}
}

func gauge(ch chan<- prometheus.Metric, m *metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, m *metric, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(v), labels...)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.MetricsSnapshot()
	if s == nil {
		return
	}
	d := s.Daemon
	gauge(ch, buildInfo, 1, d.Version, d.GoVersion, d.Commit)
	if !d.Start.IsZero() {
		gauge(ch, startTime, float64(d.Start.UnixNano())/1e9)
	}
	gauge(ch, revision, float64(s.Revision))
	gauge(ch, failedPorts, float64(d.FailedPorts))
	kinds := make([]string, 0, len(s.Events))
	for k := range s.Events {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		counter(ch, eventsTotal, s.Events[k], k)
	}
	counter(ch, eventsLagged, s.EventsLagged)
	gauge(ch, captures, float64(s.Captures))
	counter(ch, captureDrops, s.CaptureDropped)
	reasons := datapath.DropReasons()
	for i := range s.Bridges {
		b := &s.Bridges[i]
		n := b.Name
		gauge(ch, bridgeInfo, 1, n, b.FullPolicy)
		f := b.FDB
		gauge(ch, fdbEntries, float64(f.Entries), n)
		gauge(ch, fdbStatic, float64(f.Static), n)
		gauge(ch, fdbLimit, float64(f.Max), n)
		gauge(ch, fdbAging, float64(b.AgingSeconds), n)
		gauge(ch, fdbBytes, b.FDBBytesPerEntry, n)
		counter(ch, fdbLearned, f.Learned, n)
		counter(ch, fdbMoved, f.Moved, n)
		counter(ch, fdbAged, f.Aged, n)
		counter(ch, fdbEvicted, f.Evicted, n)
		counter(ch, fdbRefused, f.Refused, n)
		counter(ch, fdbFlushed, f.Flushed, n)
		k := b.Cache
		gauge(ch, cacheEntries, float64(k.Entries), n)
		gauge(ch, cacheLimit, float64(k.Max), n)
		gauge(ch, cacheMasks, float64(k.Masks), n)
		counter(ch, cacheHits, k.Hits, n)
		counter(ch, cacheMisses, k.Misses, n)
		counter(ch, cacheInserts, k.Inserts, n)
		counter(ch, cacheEvict, k.Evictions, n)
		counter(ch, cacheReval, k.Revalidations, n)
		counter(ch, cacheReplace, k.Replaced, n)
		counter(ch, cacheUncache, k.Uncached, n)
		gauge(ch, rules, float64(b.Rules), n)
		for _, p := range b.Ports {
			c.port(ch, n, &p, reasons, b.LearnedPerPort)
		}
	}
}

func (c *Collector) port(ch chan<- prometheus.Metric, br string, p *Port, reasons []string, learned map[string]int) {
	gauge(ch, portInfo, 1, br, p.Name, p.Type, itoa(p.OFPort))
	up := 0.0
	if p.Status == "up" {
		up = 1
	}
	gauge(ch, portUp, up, br, p.Name)
	for _, st := range []string{"up", "down", "error"} {
		v := 0.0
		if p.Status == st {
			v = 1
		}
		gauge(ch, portStatus, v, br, p.Name, st)
	}
	if learned != nil {
		gauge(ch, fdbPort, float64(learned[p.Name]), br, p.Name)
	}
	st := p.Stats
	counter(ch, rxPackets, st.RxPackets, br, p.Name)
	counter(ch, rxBytes, st.RxBytes, br, p.Name)
	counter(ch, txPackets, st.TxPackets, br, p.Name)
	counter(ch, txBytes, st.TxBytes, br, p.Name)
	seen := map[string]bool{}
	for _, r := range reasons {
		counter(ch, portDrops, st.Drops[r], br, p.Name, r)
		seen[r] = true
	}
	var extra []string
	for r := range st.Drops {
		if !seen[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(extra)
	for _, r := range extra {
		counter(ch, portDrops, st.Drops[r], br, p.Name, r)
	}
	t := p.Tunnel
	if t == nil {
		return
	}
	gauge(ch, tunnelInfo, 1, br, p.Name, t.Encap, t.Local)
	if t.MTU > 0 {
		gauge(ch, tunnelMTU, float64(t.MTU), br, p.Name)
		gauge(ch, tunnelOver, float64(t.Overhead), br, p.Name)
		gauge(ch, tunnelVMMTU, float64(t.VMMTU), br, p.Name)
	}
	counter(ch, tunnelBad, t.BadHeader, br, p.Name)
	counter(ch, tunnelVNI, t.UnknownVNI, br, p.Name)
	for _, r := range t.Remotes {
		src := "learned"
		if r.Configured {
			src = "configured"
		}
		gauge(ch, remoteInfo, 1, br, p.Name, r.Addr, src)
		gauge(ch, remoteMACs, float64(r.MACs), br, p.Name, r.Addr)
		if r.Probed {
			up := 0.0
			if r.Up {
				up = 1
				gauge(ch, remoteRTT, r.RTT.Seconds(), br, p.Name, r.Addr)
			}
			gauge(ch, remoteUp, up, br, p.Name, r.Addr)
		}
		if r.HasCounters {
			counter(ch, remoteRxP, r.RxPackets, br, p.Name, r.Addr)
			counter(ch, remoteRxB, r.RxBytes, br, p.Name, r.Addr)
			counter(ch, remoteTxP, r.TxPackets, br, p.Name, r.Addr)
			counter(ch, remoteTxB, r.TxBytes, br, p.Name, r.Addr)
			counter(ch, remoteDrops, r.Drops, br, p.Name, r.Addr)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// NewRegistry returns a registry with the collector over src, the Go
// runtime's collector and the process collector.
func NewRegistry(src Source) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(NewCollector(src), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves a registry's metrics in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func Handler(r *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(r, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
}
