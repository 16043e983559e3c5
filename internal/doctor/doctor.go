// Package doctor checks a running switch and explains what is wrong, each
// finding with why it matters and the command that fixes it: VM MTUs
// larger than their tunnel carries, offloads that break forwarding, remote
// VTEPs that do not answer, FDBs near their limit or refusing addresses,
// ports down or in error, configured ports whose device is gone, and clock
// and state-directory problems.
//
// The checks are pure functions of Inputs (what the daemon gathered) and
// of the answers of a Prober (remote VTEPs) and a host (clock, state
// directory), so they are tested without a network.
package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// Severities: an error breaks traffic or will; a warning degrades it or
// is about to; info is worth knowing and does not make the switch
// unhealthy.
const (
	Error   = "error"
	Warning = "warning"
	Info    = "info"
)

// Finding is one problem.
type Finding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Bridge   string `json:"bridge,omitempty"`
	Port     string `json:"port,omitempty"`
	// Problem says what is wrong; Explain why it matters; Fix what to do
	// (commands, one per line).
	Problem string `json:"problem"`
	Explain string `json:"explain,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// Check is one check that ran.
type Check struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	OK      bool   `json:"ok"`
	Summary string `json:"summary"`
}

// Report is the doctor's answer.
type Report struct {
	// Healthy is true when no finding is an error or a warning.
	Healthy  bool      `json:"healthy"`
	Time     time.Time `json:"time"`
	Checks   []Check   `json:"checks"`
	Findings []Finding `json:"findings"`
}

// Inputs are what the daemon knows and found out about its switch.
type Inputs struct {
	Now      time.Time
	StateDir string
	Socket   string
	// Offload says the daemon runs with offloads (--offload on).
	Offload bool
	Bridges []Bridge
	// Started is when the daemon started: its wall clock and the monotonic
	// time since then tell a clock jump.
	Started time.Time
}

// Bridge is one bridge.
type Bridge struct {
	Name        string
	FDBEntries  int // learned + static
	FDBStatic   int
	FDBMax      int // learned limit
	FDBRefused  uint64
	FDBEvicted  uint64
	FullPolicy  string
	Ports       []Port
	PatchPeers  []string // bridges joined to this one by patch ports
	Unreachable bool     // the bridge is configured but not running
}

// Port is one configured port and what the daemon saw of its device.
type Port struct {
	Name   string
	Type   string // tap, system, internal, patch, vxlan, geneve, gre
	Status string // up, down, error
	Reason string
	NetNS  string // where the VM side lives (a TAP's namespace, a veth peer's)
	// Peer is a patch port's peer; VethPeer the name of a veth's other end.
	Peer, VethPeer string
	// Device is the port's OS device (TAP, system, internal); VMSide its
	// other end in the VM's namespace (the same TAP, or the veth peer).
	Device *Device
	VMSide *Device
	Drops  map[string]uint64
	Tunnel *Tunnel
	// AccessVLAN is an access port's VLAN (0: a trunk or untagged port).
	AccessVLAN int
	// VLANs are the VLANs a tunnel port carries (nil: every VLAN).
	VLANs map[int]bool
}

// Device is what netlink and ethtool say of an interface.
type Device struct {
	Name    string
	NetNS   string
	Checked bool   // looked up (false: could not look, see Err)
	Exists  bool   // the interface is there
	Err     string // why it could not be looked up
	MTU     int
	AdminUp bool
	OperUp  bool
	// Features are ethtool's feature flags by name (large-receive-offload,
	// rx-gro-hw, tx-checksumming, …); nil when unknown.
	Features map[string]bool
}

// Tunnel is a tunnel port's settings.
type Tunnel struct {
	Encap       string
	Local       netip.Addr
	Remotes     []Remote
	Group       string
	UnderlayDev *Device // the device the local address is on
	UnderlayMTU int
	Overhead    int
	VMMTU       int
	UDPCsum     bool
}

// Remote is a remote VTEP.
type Remote struct {
	Addr       netip.Addr
	Configured bool
	MACs       int // FDB entries behind it
}

// Prober asks a remote VTEP whether it is there (an ICMP echo from the
// local VTEP address).
type Prober interface {
	Probe(ctx context.Context, local, remote netip.Addr) (time.Duration, error)
}

// Host answers the questions about the machine: its clock and the state
// directory.
type Host interface {
	// ClockSynced reports whether the kernel considers the clock
	// synchronized (adjtimex); known is false where it cannot tell.
	ClockSynced() (synced, known bool)
	// CheckDir checks that dir exists, is a directory, and takes a
	// written and synced file; free is the free space on its filesystem.
	CheckDir(dir string) (free uint64, err error)
}

// ProbeResult is one probe's answer (kept by the daemon for metrics).
type ProbeResult struct {
	Bridge, Port string
	Local        netip.Addr
	Remote       netip.Addr
	Up           bool
	RTT          time.Duration
	Err          string
}

// Options tune a run.
type Options struct {
	ProbeTimeout time.Duration // default 1 s
	// NoProbe skips the remote VTEP probes.
	NoProbe bool
}

// Run runs every check.
func Run(ctx context.Context, in Inputs, pr Prober, host Host, o Options) (*Report, []ProbeResult) {
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = time.Second
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	r := &Report{Time: in.Now, Checks: []Check{}, Findings: []Finding{}}
	run := func(name, title string, fn func() (string, []Finding)) {
		summary, fs := fn()
		ok := true
		for _, f := range fs {
			f.Check = name
			if f.Severity != Info {
				ok = false
			}
			r.Findings = append(r.Findings, f)
		}
		r.Checks = append(r.Checks, Check{Name: name, Title: title, OK: ok, Summary: summary})
	}
	run("ports", "ports up, devices present", func() (string, []Finding) { return checkPorts(&in) })
	run("mtu", "VM MTUs fit the tunnels", func() (string, []Finding) { return checkMTU(&in) })
	run("offloads", "offloads that break forwarding", func() (string, []Finding) { return checkOffloads(&in) })
	var probes []ProbeResult
	run("remote-vteps", "remote VTEPs answer", func() (string, []Finding) {
		if o.NoProbe || pr == nil {
			return "not probed", nil
		}
		var fs []Finding
		var s string
		probes, s, fs = checkRemotes(ctx, &in, pr, o.ProbeTimeout)
		return s, fs
	})
	run("fdb", "FDB room", func() (string, []Finding) { return checkFDB(&in) })
	run("clock", "the clock", func() (string, []Finding) { return checkClock(&in, host) })
	run("state-dir", "the state directory", func() (string, []Finding) { return checkStateDir(&in, host) })
	r.Healthy = true
	for _, f := range r.Findings {
		if f.Severity != Info {
			r.Healthy = false
		}
	}
	sort.SliceStable(r.Findings, func(i, j int) bool { return rank(r.Findings[i].Severity) < rank(r.Findings[j].Severity) })
	return r, probes
}

func rank(s string) int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

func where(ns string) string {
	if ns == "" {
		return "the daemon's namespace"
	}
	return "netns " + ns
}

func ipn(ns string) string {
	if ns == "" {
		return "ip"
	}
	return "ip -n " + ns
}

func checkPorts(in *Inputs) (string, []Finding) {
	var fs []Finding
	n, up := 0, 0
	for _, b := range in.Bridges {
		for _, p := range b.Ports {
			n++
			if p.Status == "up" {
				up++
			}
			switch {
			case p.Type == "patch" && p.Status != "up":
				fs = append(fs, Finding{Severity: Error, Bridge: b.Name, Port: p.Name,
					Problem: fmt.Sprintf("patch port %s is %s: %s", p.Name, p.Status, p.Reason),
					Explain: "a patch port forwards only when its peer port exists on the other bridge",
					Fix:     fmt.Sprintf("switchyard port add OTHER-BRIDGE %s --type patch --peer %s", orPeer(p.Peer), p.Name)})
			case p.Device != nil && p.Device.Checked && !p.Device.Exists:
				f := Finding{Severity: Error, Bridge: b.Name, Port: p.Name,
					Problem: fmt.Sprintf("port %s is configured but its device %s is gone from %s", p.Name, p.Device.Name, where(p.Device.NetNS)),
					Explain: "someone deleted the interface (or its namespace); the daemon retries every 5 s but cannot forward for it"}
				switch p.Type {
				case "tap":
					if p.NetNS != "" {
						f.Fix = fmt.Sprintf("ip netns add %s   # if the namespace is gone: the daemon then re-creates the TAP inside it\nswitchyard port del %s %s   # if the VM is gone for good", p.NetNS, b.Name, p.Name)
					} else {
						f.Fix = fmt.Sprintf("switchyard port del %s %s && switchyard port add %s %s --type tap", b.Name, p.Name, b.Name, p.Name)
					}
				case "system":
					if p.VethPeer != "" {
						f.Fix = fmt.Sprintf("ip netns add %s   # the daemon re-creates the veth pair when its namespace is there\nswitchyard port del %s %s   # if the VM is gone for good", orNS(p.NetNS), b.Name, p.Name)
					} else {
						f.Fix = fmt.Sprintf("bring interface %s back, or: switchyard port del %s %s", p.Device.Name, b.Name, p.Name)
					}
				default:
					f.Fix = fmt.Sprintf("switchyard port del %s %s && switchyard port add %s %s --type %s", b.Name, p.Name, b.Name, p.Name, p.Type)
				}
				fs = append(fs, f)
			case p.Status == "error":
				fs = append(fs, Finding{Severity: Error, Bridge: b.Name, Port: p.Name,
					Problem: fmt.Sprintf("port %s is in error: %s", p.Name, p.Reason),
					Explain: "the port's device could not be opened or failed; no frame goes through it",
					Fix:     fmt.Sprintf("fix what the reason says; the daemon retries every 5 s (switchyard show, switchyard events --kind port)")})
			case p.Status != "up":
				fs = append(fs, Finding{Severity: Warning, Bridge: b.Name, Port: p.Name,
					Problem: fmt.Sprintf("port %s is %s: %s", p.Name, p.Status, p.Reason),
					Fix:     "switchyard events --kind port   # what happened to it"})
			}
			if d := p.VMSide; p.Status == "up" && d != nil && d.Checked && d.Exists && (!d.AdminUp || !d.OperUp) && p.Type != "internal" {
				state := "down"
				if d.AdminUp {
					state = "up but without carrier"
				}
				fs = append(fs, Finding{Severity: Warning, Bridge: b.Name, Port: p.Name,
					Problem: fmt.Sprintf("the VM side of port %s (%s in %s) is %s", p.Name, d.Name, where(d.NetNS), state),
					Explain: "frames the switch sends to it are lost, and the VM sends nothing",
					Fix:     fmt.Sprintf("%s link set %s up", ipn(d.NetNS), d.Name)})
			}
		}
	}
	return fmt.Sprintf("%d of %d ports up", up, n), fs
}

func orPeer(s string) string {
	if s == "" {
		return "PEER"
	}
	return s
}

func orNS(s string) string {
	if s == "" {
		return "NS"
	}
	return s
}

// reachable returns the bridges joined to b by patch ports, b included.
func reachable(in *Inputs, b string) map[string]bool {
	byName := map[string]*Bridge{}
	for i := range in.Bridges {
		byName[in.Bridges[i].Name] = &in.Bridges[i]
	}
	seen := map[string]bool{b: true}
	q := []string{b}
	for len(q) > 0 {
		x := byName[q[0]]
		q = q[1:]
		if x == nil {
			continue
		}
		for _, p := range x.PatchPeers {
			if !seen[p] {
				seen[p] = true
				q = append(q, p)
			}
		}
	}
	return seen
}

func checkMTU(in *Inputs) (string, []Finding) {
	var fs []Finding
	type tun struct {
		b string
		p *Port
	}
	var tunnels []tun
	for i := range in.Bridges {
		for j := range in.Bridges[i].Ports {
			if p := &in.Bridges[i].Ports[j]; p.Tunnel != nil && p.Tunnel.VMMTU > 0 {
				tunnels = append(tunnels, tun{in.Bridges[i].Name, p})
			}
		}
	}
	if len(tunnels) == 0 {
		return "no tunnel ports", nil
	}
	checked := 0
	for _, t := range tunnels {
		tt := t.p.Tunnel
		br := reachable(in, t.b)
		for _, b := range in.Bridges {
			if !br[b.Name] {
				continue
			}
			for _, p := range b.Ports {
				d := p.VMSide
				if d == nil || !d.Checked || !d.Exists || d.MTU == 0 {
					continue
				}
				// On the tunnel's own bridge, a VM in a VLAN the tunnel does
				// not carry never reaches it.
				if b.Name == t.b && p.AccessVLAN != 0 && t.p.VLANs != nil && !t.p.VLANs[p.AccessVLAN] {
					continue
				}
				checked++
				if d.MTU <= tt.VMMTU {
					continue
				}
				fam := "IPv4"
				if tt.Local.Is6() {
					fam = "IPv6"
				}
				ev := ""
				if n := t.p.Drops["mtu-exceeded"]; n > 0 {
					ev = fmt.Sprintf(" (%d frames dropped as mtu-exceeded on %s so far)", n, t.p.Name)
				}
				fs = append(fs, Finding{Severity: Error, Bridge: b.Name, Port: p.Name,
					Problem: fmt.Sprintf("the NIC %s of port %s (%s) has MTU %d, but tunnel %s carries at most %d%s",
						d.Name, p.Name, where(d.NetNS), d.MTU, t.p.Name, tt.VMMTU, ev),
					Explain: fmt.Sprintf("%s over %s adds %d bytes and the underlay MTU is %d, so %d + %d = %d is the most it carries; tunnels never fragment, so larger frames from this VM are dropped (TCP stalls after the handshake, small pings work)",
						strings.ToUpper(tt.Encap), fam, tt.Overhead, tt.UnderlayMTU, tt.VMMTU, tt.Overhead, tt.UnderlayMTU),
					Fix: fmt.Sprintf("%s link set %s mtu %d   # on the VM's side (or its DHCP: interface-mtu %d)\nor raise the underlay MTU to %d: ip link set %s mtu %d",
						ipn(d.NetNS), d.Name, tt.VMMTU, tt.VMMTU, d.MTU+tt.Overhead, underlayName(tt), d.MTU+tt.Overhead)})
			}
		}
	}
	return fmt.Sprintf("%d VM NICs checked against %d tunnels", checked, len(tunnels)), fs
}

func underlayName(t *Tunnel) string {
	if t.UnderlayDev != nil && t.UnderlayDev.Name != "" {
		return t.UnderlayDev.Name
	}
	return "UNDERLAY-DEV"
}

func checkOffloads(in *Inputs) (string, []Finding) {
	var fs []Finding
	n := 0
	seen := map[string]bool{}
	look := func(b string, p *Port, d *Device, role string) {
		if d == nil || d.Features == nil || seen[d.NetNS+"/"+d.Name] {
			return
		}
		seen[d.NetNS+"/"+d.Name] = true
		n++
		var on []string
		for _, f := range []string{"large-receive-offload", "rx-gro-hw"} {
			if d.Features[f] {
				on = append(on, f)
			}
		}
		if len(on) > 0 && role == "system" {
			fs = append(fs, Finding{Severity: Warning, Bridge: b, Port: p.Name,
				Problem: fmt.Sprintf("%s (port %s) has %s on", d.Name, p.Name, strings.Join(on, " and ")),
				Explain: "the NIC merges received TCP segments into frames larger than the MTU without saying how to cut them again; forwarded to another port they are dropped (mtu-exceeded) or break the receiver — the Linux bridge turns LRO off on its ports for this reason",
				Fix:     fmt.Sprintf("ethtool -K %s lro off rx-gro-hw off", d.Name)})
		}
		if role == "underlay" && in.Offload && !d.Features["tx-checksumming"] && d.Features != nil {
			if _, known := d.Features["tx-checksumming"]; known {
				fs = append(fs, Finding{Severity: Warning, Bridge: b, Port: p.Name,
					Problem: fmt.Sprintf("the underlay device %s of tunnel %s has transmit checksum offload off", d.Name, p.Name),
					Explain: "UDP GSO needs it: the kernel refuses segmentation offload (EIO) and the tunnel sends every segment through the raw socket, one by one — several times slower for TCP in the VMs",
					Fix:     fmt.Sprintf("ethtool -K %s tx on", d.Name)})
			}
		}
		if role == "underlay" && d.Features["large-receive-offload"] {
			fs = append(fs, Finding{Severity: Info, Bridge: b, Port: p.Name,
				Problem: fmt.Sprintf("the underlay device %s has large-receive-offload on", d.Name),
				Explain: "harmless for the tunnel's UDP, but the kernel's forwarding turns LRO off for good reason; if the host routes, turn it off",
				Fix:     fmt.Sprintf("ethtool -K %s lro off", d.Name)})
		}
	}
	for _, b := range in.Bridges {
		for i := range b.Ports {
			p := &b.Ports[i]
			if p.Type == "system" {
				look(b.Name, p, p.Device, "system")
			}
			if p.Tunnel != nil {
				look(b.Name, p, p.Tunnel.UnderlayDev, "underlay")
				if !p.Tunnel.UDPCsum && p.Tunnel.Local.Is4() {
					fs = append(fs, Finding{Severity: Info, Bridge: b.Name, Port: p.Name,
						Problem: fmt.Sprintf("tunnel %s sends zero UDP checksums (--udp-csum off)", p.Name),
						Explain: "allowed by RFC 7348, but the kernel refuses UDP GSO without checksums, so super-frames leave segment by segment",
						Fix:     fmt.Sprintf("switchyard port del %s %s and add it again without --udp-csum off (or with --udp-csum on)", b.Name, p.Name)})
				}
			}
		}
	}
	return fmt.Sprintf("%d devices checked", n), fs
}

func checkRemotes(ctx context.Context, in *Inputs, pr Prober, timeout time.Duration) ([]ProbeResult, string, []Finding) {
	type job struct {
		b      string
		p      *Port
		r      Remote
		result ProbeResult
	}
	var jobs []*job
	seen := map[string]bool{}
	for _, b := range in.Bridges {
		for i := range b.Ports {
			p := &b.Ports[i]
			if p.Tunnel == nil || p.Status != "up" {
				continue
			}
			for _, r := range p.Tunnel.Remotes {
				k := p.Tunnel.Local.String() + ">" + r.Addr.String()
				if seen[k] || !r.Addr.IsValid() {
					continue
				}
				seen[k] = true
				jobs = append(jobs, &job{b: b.Name, p: p, r: r})
			}
		}
	}
	if len(jobs) == 0 {
		return nil, "no remote VTEPs", nil
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, j := range jobs {
		wg.Add(1)
		go func(j *job) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			rtt, err := pr.Probe(pctx, j.p.Tunnel.Local, j.r.Addr)
			j.result = ProbeResult{Bridge: j.b, Port: j.p.Name, Local: j.p.Tunnel.Local, Remote: j.r.Addr, Up: err == nil, RTT: rtt}
			if err != nil {
				j.result.Err = err.Error()
			}
		}(j)
	}
	wg.Wait()
	var fs []Finding
	var res []ProbeResult
	up := 0
	for _, j := range jobs {
		res = append(res, j.result)
		if j.result.Up {
			up++
			continue
		}
		f := Finding{Bridge: j.b, Port: j.p.Name,
			Problem: fmt.Sprintf("remote VTEP %s of tunnel %s does not answer an ICMP echo from %s within %v (%s)", j.r.Addr, j.p.Name, j.p.Tunnel.Local, timeout, j.result.Err),
			Fix: fmt.Sprintf("ip route get %s from %s   # is there a route, through the right device?\nping -I %s %s\non %s: is the switchyard daemon (or the VTEP) running, and does a firewall let %s through?",
				j.r.Addr, j.p.Tunnel.Local, j.p.Tunnel.Local, j.r.Addr, j.r.Addr, udpName(j.p.Tunnel.Encap))}
		if j.r.MACs > 0 {
			f.Severity = Warning
			f.Explain = fmt.Sprintf("frames do arrive from it (%d MACs learned behind it), so the tunnel may work and only ICMP is filtered — or the VTEP just went away and its MACs have not aged yet", j.r.MACs)
		} else {
			f.Severity = Error
			f.Explain = "nothing was learned from it either: frames flooded or sent to it are lost, so VMs behind it are unreachable"
		}
		if !j.r.Configured {
			f.Explain += "; it is not configured (--remote), the FDB learned it"
		}
		fs = append(fs, f)
	}
	return res, fmt.Sprintf("%d of %d remote VTEPs answer", up, len(jobs)), fs
}

func udpName(encap string) string {
	switch encap {
	case "geneve":
		return "UDP 6081"
	case "gre":
		return "GRE (IP protocol 47)"
	}
	return "UDP 4789"
}

// FDBNearFull is the fill ratio above which the FDB is reported as near
// its limit.
const FDBNearFull = 0.9

func checkFDB(in *Inputs) (string, []Finding) {
	var fs []Finding
	var parts []string
	for _, b := range in.Bridges {
		learned := b.FDBEntries - b.FDBStatic
		if b.FDBMax <= 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", b.Name, learned, b.FDBMax))
		fix := fmt.Sprintf("switchyard bridge set %s --fdb-max %d   # if the network is this large\nswitchyard fdb show %s   # which port holds the addresses (a MAC flood shows up on one port)", b.Name, nextLimit(b.FDBMax), b.Name)
		switch {
		case b.FDBRefused > 0 && learned >= b.FDBMax:
			fs = append(fs, Finding{Severity: Error, Bridge: b.Name,
				Problem: fmt.Sprintf("the FDB of %s is full (%d/%d learned) and refused %d new addresses", b.Name, learned, b.FDBMax, b.FDBRefused),
				Explain: "frames to the refused addresses are flooded to every port of their VLAN: more load, and every VM sees other VMs' traffic",
				Fix:     fix})
		case b.FDBEvicted > 0 && learned >= b.FDBMax:
			fs = append(fs, Finding{Severity: Warning, Bridge: b.Name,
				Problem: fmt.Sprintf("the FDB of %s is full (%d/%d learned) and evicted %d entries to learn new ones", b.Name, learned, b.FDBMax, b.FDBEvicted),
				Explain: "evicted hosts are flooded to until they are learned again; a steady stream of evictions means the limit is too small or a MAC flood",
				Fix:     fix})
		case float64(learned) >= FDBNearFull*float64(b.FDBMax):
			fs = append(fs, Finding{Severity: Warning, Bridge: b.Name,
				Problem: fmt.Sprintf("the FDB of %s is near its limit: %d/%d learned (%.0f%%)", b.Name, learned, b.FDBMax, 100*float64(learned)/float64(b.FDBMax)),
				Explain: fmt.Sprintf("when it is full, new addresses are %s", map[bool]string{true: "evicted fairly (evict-oldest)", false: "refused and flooded to (refuse)"}[b.FullPolicy == "evict-oldest"]),
				Fix:     fix})
		case b.FDBRefused > 0:
			fs = append(fs, Finding{Severity: Info, Bridge: b.Name,
				Problem: fmt.Sprintf("the FDB of %s refused %d addresses at some point (now %d/%d learned)", b.Name, b.FDBRefused, learned, b.FDBMax),
				Fix:     "switchyard events --kind fdb.full   # when, and which port"})
		}
	}
	if len(parts) == 0 {
		return "no bridges", fs
	}
	return strings.Join(parts, ", "), fs
}

func nextLimit(n int) int {
	m := 1024
	for m <= n {
		m *= 2
	}
	return m
}

func checkClock(in *Inputs, host Host) (string, []Finding) {
	var fs []Finding
	now := in.Now
	if now.Year() < 2024 {
		fs = append(fs, Finding{Severity: Error, Problem: fmt.Sprintf("the clock says %s", now.Format(time.RFC3339)),
			Explain: "event and log times are wrong, and anything that checks certificates (etcd, TLS controllers) fails",
			Fix:     "timedatectl set-ntp true   # or set it: date -s …"})
	}
	if !in.Started.IsZero() {
		// time.Since uses the monotonic clock; the wall clock difference
		// may differ after a jump.
		mono := time.Since(in.Started)
		wall := time.Now().Round(0).Sub(in.Started.Round(0))
		if d := wall - mono; d > 2*time.Second || d < -2*time.Second {
			fs = append(fs, Finding{Severity: Warning, Problem: fmt.Sprintf("the wall clock jumped by %v since the daemon started", d.Round(time.Second)),
				Explain: "events and logs before and after the jump are out of order; aging and timeouts are not affected (they use the monotonic clock)",
				Fix:     "run an NTP client (chrony, systemd-timesyncd) that slews instead of stepping"})
		}
	}
	if host != nil {
		if synced, known := host.ClockSynced(); known && !synced {
			fs = append(fs, Finding{Severity: Info, Problem: "the kernel says the clock is not synchronized (no NTP)",
				Explain: "times in events and logs may drift from other hosts', which makes comparing them across hosts harder",
				Fix:     "timedatectl set-ntp true"})
		}
	}
	return now.Format(time.RFC3339), fs
}

// MinFree is the free space below which the state directory is reported.
const MinFree = 64 << 20

func checkStateDir(in *Inputs, host Host) (string, []Finding) {
	if host == nil || in.StateDir == "" {
		return "not checked", nil
	}
	free, err := host.CheckDir(in.StateDir)
	if err != nil {
		return "unusable", []Finding{{Severity: Error, Problem: fmt.Sprintf("the state directory %s: %v", in.StateDir, err),
			Explain: "every configuration change is written there before it is applied; if it fails, changes are refused",
			Fix:     fmt.Sprintf("mount %s's filesystem read-write with room to spare, or start the daemon with --state-dir on one", in.StateDir)}}
	}
	s := fmt.Sprintf("%s, %d MiB free", in.StateDir, free>>20)
	if free < MinFree {
		return s, []Finding{{Severity: Warning, Problem: fmt.Sprintf("the state directory %s has only %d MiB free", in.StateDir, free>>20),
			Explain: "the configuration store needs room to commit; a full disk refuses every change",
			Fix:     "free space on that filesystem (df -h " + in.StateDir + ")"}}
	}
	return s, nil
}
