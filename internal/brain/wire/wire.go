// Package wire is the protocol between the brain and its agents, and the
// HTTP paths and request types of the brain's API. It holds only types: the
// agent and the CLI import it without importing etcd.
//
// An agent registers (POST /v1/agent/register), then opens its stream
// (POST /v1/agent/stream with a StreamRequest): newline-delimited JSON messages, in etcd
// revision order, carrying exactly what the host needs — the networks it
// has ports in, every port of those networks, and the hosts those ports are
// on. A stream starts with a snapshot (begin … end at one revision), then
// carries changes; a message with Done set is the last one of its revision
// for this host, so the agent knows it holds every change up to Rev. The
// agent reports its applied revision and keeps its lease alive with
// POST /v1/agent/report.
package wire

// Message types on the agent stream.
const (
	// Begin starts a snapshot at Rev: everything until End replaces the
	// agent's view (it diffs, adds before deletes).
	TBegin = "begin"
	// End closes a snapshot.
	TEnd = "end"
	// Net: the host has (or keeps) ports in this network.
	TNet = "net"
	// NetDel: the host has no port left in Name; drop the network.
	TNetDel = "netdel"
	// Host: a host record (VTEPs, liveness) the view refers to.
	THost = "host"
	// Port: a port added or changed (Rev orders it).
	TPort = "port"
	// PortDel: the port (Name = network, MAC) is gone.
	TPortDel = "portdel"
	// Rev: progress; nothing for this host changed up to Rev. Ack asks the
	// agent to report its applied revision now.
	TRev = "rev"
	// Audit asks the agent to audit (ID names the request).
	TAudit = "audit"
)

// Msg is one line of the stream.
type Msg struct {
	T    string `json:"t"`
	Rev  int64  `json:"rev,omitempty"`
	Done bool   `json:"done,omitempty"`
	Ack  bool   `json:"ack,omitempty"`

	Net  *Net  `json:"net,omitempty"`
	Host *Host `json:"host,omitempty"`
	Port *Port `json:"port,omitempty"`
	// Name is the network of NetDel and PortDel.
	Name string `json:"name,omitempty"`
	MAC  string `json:"mac,omitempty"`
	ID   string `json:"id,omitempty"`
	// Keep (on Begin) lists the networks the agent holds exactly as the
	// brain does (their digests matched): they are not resent.
	Keep []string `json:"keep,omitempty"`
}

// Net is a network as agents see it.
type Net struct {
	Name  string `json:"name"`
	Encap string `json:"encap"`
	VNI   uint32 `json:"vni"`
	MTU   int    `json:"mtu"`
}

// Host is a host as agents see it.
type Host struct {
	Name   string   `json:"name"`
	VTEPs  []string `json:"vteps"`
	Encaps []string `json:"encaps,omitempty"`
	Alive  bool     `json:"alive"`
}

// Port is a port as agents see it. ID, NetNS and IfName are sent only to
// the hosts that create the VIF (Host and MigratingTo).
type Port struct {
	Net    string   `json:"net"`
	MAC    string   `json:"mac"`
	IPs    []string `json:"ips,omitempty"`
	Host   string   `json:"host"`
	To     string   `json:"to,omitempty"`
	Ver    int64    `json:"ver"`
	ID     string   `json:"id,omitempty"`
	NetNS  string   `json:"netns,omitempty"`
	IfName string   `json:"ifname,omitempty"`
}

// RegisterRequest is POST /v1/agent/register.
type RegisterRequest struct {
	Host   string   `json:"host"`
	VTEPs  []string `json:"vteps"`
	Encaps []string `json:"encaps,omitempty"`
	// TTL of the host's lease in seconds (0: the brain's default, 10).
	TTL int64 `json:"ttl,omitempty"`
}

// RegisterReply is the answer to a registration.
type RegisterReply struct {
	Session string `json:"session"`
	Lease   int64  `json:"lease"`
	TTL     int64  `json:"ttl"`
	// HeartbeatMS is how often the agent must report (lease keep-alive).
	HeartbeatMS int64 `json:"heartbeat_ms"`
	// Reused says the host's previous lease was still alive and kept, so
	// no other host saw the host go away.
	Reused bool `json:"reused"`
}

// Report is POST /v1/agent/report: heartbeat, applied revision and port
// errors.
type Report struct {
	Session string `json:"session"`
	Applied int64  `json:"applied"`
	// Errors are the local VIFs the dataplane could not create, by port ID.
	Errors map[string]string `json:"errors,omitempty"`
	// Stats are the agent's counters.
	Stats *AgentStats `json:"stats,omitempty"`
}

// AgentStats are an agent's counters.
type AgentStats struct {
	Snapshots     uint64 `json:"snapshots"`
	KeptNets      uint64 `json:"kept_networks"` // networks not resent on reconnects (digests matched)
	Messages      uint64 `json:"messages"`
	Ops           uint64 `json:"ops"`
	ApplyErrors   uint64 `json:"apply_errors"`
	Reconnects    uint64 `json:"reconnects"`
	StaleIgnored  uint64 `json:"stale_ignored"`
	DuplicateMACs uint64 `json:"duplicate_macs"`
	DuplicateIPs  uint64 `json:"duplicate_ips"`
	Frozen        int    `json:"frozen"`
	RemoteMACs    int    `json:"remote_macs"`
	LocalVIFs     int    `json:"local_vifs"`
	Networks      int    `json:"networks"`
}

// AuditResult is POST /v1/agent/audit: the agent's answer to an audit.
type AuditResult struct {
	Session string       `json:"session"`
	ID      string       `json:"id"`
	Report  *AuditReport `json:"report,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// AuditReport compares a host's programmed dataplane with a recompute from
// etcd at revision Rev.
type AuditReport struct {
	Host    string `json:"host"`
	Rev     int64  `json:"rev"`
	Entries int    `json:"entries"`
	// Missing are entries etcd wants that the dataplane lacks, Extra the
	// reverse, Wrong those with a different value ("key: have X, want Y").
	Missing []string `json:"missing,omitempty"`
	Extra   []string `json:"extra,omitempty"`
	Wrong   []string `json:"wrong,omitempty"`
	// Frozen are duplicate-detection freezes (not differences).
	Frozen []string `json:"frozen,omitempty"`
}

// Clean says the audit found no difference.
func (r *AuditReport) Clean() bool { return len(r.Missing)+len(r.Extra)+len(r.Wrong) == 0 }

// View is GET /v1/agent/view?host=H&rev=R: a host's whole view recomputed
// from etcd at one revision (for audits), independent of the stream.
type View struct {
	Rev   int64  `json:"rev"`
	Nets  []Net  `json:"nets"`
	Hosts []Host `json:"hosts"`
	Ports []Port `json:"ports"`
}

// Agent API paths.
const (
	PathRegister = "/v1/agent/register"
	PathStream   = "/v1/agent/stream"
	PathReport   = "/v1/agent/report"
	PathAudit    = "/v1/agent/audit"
	PathView     = "/v1/agent/view"
)

// Digest is an order-independent digest of a set of records: the sum of
// their 128-bit FNV-1a hashes. A network's digest covers its record and its
// ports' host-independent fields (net, MAC, IPs, host, target, version), so
// the brain and an agent that hold the same network compute the same
// digest, and a reconnecting agent is sent only the networks whose digest
// differs.
type Digest [2]uint64

// Add adds a record's hash.
func (d *Digest) Add(x Digest) { d[0] += x[0]; d[1] += x[1] }

// Sub removes a record's hash.
func (d *Digest) Sub(x Digest) { d[0] -= x[0]; d[1] -= x[1] }

// String is the hex form sent on the wire.
func (d Digest) String() string {
	const h = "0123456789abcdef"
	b := make([]byte, 32)
	for w := 0; w < 2; w++ {
		for i := 0; i < 16; i++ {
			b[w*16+i] = h[(d[w]>>(60-4*uint(i)))&15]
		}
	}
	return string(b)
}

const (
	fnvOffHi, fnvOffLo = 0x6c62272e07bb0142, 0x62b821756295c58d
	fnvPrimeLo         = 0x13b
	fnvPrimeShift      = 24
)

// fnv128a is FNV-1a with a 128-bit state (as hash/fnv's New128a), without
// allocating.
type fnv128a struct{ hi, lo uint64 }

func newFNV() fnv128a { return fnv128a{fnvOffHi, fnvOffLo} }

func (f *fnv128a) byte(c byte) {
	f.lo ^= uint64(c)
	// (hi,lo) *= 2^88 + 0x13b
	s0 := f.lo * fnvPrimeLo
	carry := mulHi(f.lo, fnvPrimeLo)
	s1 := f.hi*fnvPrimeLo + carry + (f.lo << fnvPrimeShift)
	f.hi, f.lo = s1, s0
}

func mulHi(a, b uint64) uint64 {
	a0, a1 := a&0xffffffff, a>>32
	b0, b1 := b&0xffffffff, b>>32
	t := a1*b0 + (a0*b0)>>32
	w1 := t&0xffffffff + a0*b1
	return a1*b1 + t>>32 + w1>>32
}

func (f *fnv128a) str(s string) {
	for i := 0; i < len(s); i++ {
		f.byte(s[i])
	}
	f.byte(0)
}

func (f *fnv128a) int(v int64) {
	for i := 0; i < 8; i++ {
		f.byte(byte(v >> (8 * i)))
	}
}

// PortDigest hashes a port's host-independent fields.
func PortDigest(net, mac string, ips []string, host, to string, ver int64) Digest {
	f := newFNV()
	f.byte('p')
	f.str(net)
	f.str(mac)
	for _, ip := range ips {
		f.str(ip)
	}
	f.byte(1)
	f.str(host)
	f.str(to)
	f.int(ver)
	return Digest{f.hi, f.lo}
}

// NetDigest hashes a network's record.
func NetDigest(n *Net) Digest {
	f := newFNV()
	f.byte('n')
	f.str(n.Name)
	f.str(n.Encap)
	f.int(int64(n.VNI))
	f.int(int64(n.MTU))
	return Digest{f.hi, f.lo}
}

// StreamRequest is the body of POST /v1/agent/stream: the session and the
// digest of every network the agent holds (empty after it started).
type StreamRequest struct {
	Session string            `json:"session"`
	Nets    map[string]string `json:"nets,omitempty"`
}
