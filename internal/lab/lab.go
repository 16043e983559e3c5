// Package lab builds a whole Switchyard overlay on one machine, for
// `switchyard lab up`: N hosts (network namespaces) joined by an underlay,
// one switchyard daemon per host with its own state dir and socket, VMs as
// namespaces behind TAP ports, and one VNI per tenant with overlapping
// addresses. It then runs a ping matrix that shows who reaches whom and
// that tenants are isolated.
//
// Topology, for host h (1..N), tenant t (1..T), VM v (1..V):
//
//	namespace sylab-ul        Linux bridge "ul" (the underlay switch)
//	namespace sylab-h<h>      ul0 198.18.0.<h>/24, daemon, bridge br-int,
//	                          tunnel port vx0 (VLAN 10*t ↔ VNI 5000+t)
//	namespace sylab-h<h>t<t>v<v>  NIC tap-h<h>t<t>v<v>: a TAP port of
//	                          br-int in VLAN 10*t, MTU 1400,
//	                          203.0.113.<10h+v>/24 (the same in every tenant),
//	                          MAC 02:00:00:00:<h><v> (the same in every tenant),
//	                          and a tenant-unique probe address
//	                          198.51.100.<40(t-1)+10h+v>/24.
//
// Everything it makes is named with the "sylab-" prefix and recorded in a
// state file, so `lab down` removes exactly that and nothing else.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options are the parameters of a lab.
type Options struct {
	Hosts       int    // hosts (namespaces with a daemon), 2–9
	Tenants     int    // tenants, one VNI each, 1–4
	VMsPerHost  int    // VMs per tenant per host, 1–4
	Encap       string // vxlan, geneve or gre
	Binary      string // the switchyard binary to run daemons with
	StateDir    string // where the lab keeps daemon state and its record
	DstPort     int    // tunnel UDP port; 0 = the encapsulation's default
	Out         io.Writer
	MatrixOnly  bool // up: skip building, only run the matrix on an existing lab
	PingTimeout time.Duration
	// Prefix starts every namespace name (default "sylab-"); tests use a
	// unique one.
	Prefix string
}

// DefaultStateDir is where the lab keeps its daemons' state and its record.
const DefaultStateDir = "/run/switchyard/lab"

// DefaultPrefix starts the names of the lab's namespaces.
const DefaultPrefix = "sylab-"

// Validate checks the options and names the field at fault.
func (o *Options) Validate() error {
	if o.Hosts < 2 || o.Hosts > 9 {
		return fmt.Errorf("hosts %d is not valid; allowed 2-9", o.Hosts)
	}
	if o.Tenants < 1 || o.Tenants > 4 {
		return fmt.Errorf("tenants %d is not valid; allowed 1-4", o.Tenants)
	}
	if o.VMsPerHost < 1 || o.VMsPerHost > 4 {
		return fmt.Errorf("vms-per-host %d is not valid; allowed 1-4", o.VMsPerHost)
	}
	switch o.Encap {
	case "vxlan", "geneve", "gre":
	default:
		return fmt.Errorf("encap %q is not valid; allowed vxlan, geneve, gre", o.Encap)
	}
	return nil
}

// Record is what a running lab is made of; it is kept as JSON in the state
// dir so status and down know exactly what to look at and remove.
type Record struct {
	Options struct {
		Hosts, Tenants, VMsPerHost int
		Encap                      string
	}
	Prefix     string
	Namespaces []string
	Hosts      []Host
	VMs        []VM
	Created    time.Time
}

// Host is one lab host.
type Host struct {
	Name     string // namespace
	Index    int
	Underlay string // 198.18.0.<h>
	PID      int
	Socket   string
	StateDir string
}

// VM is one lab VM.
type VM struct {
	Name    string // namespace and TAP port name
	Host    int
	Tenant  int
	Index   int
	IP      string // overlapping address
	ProbeIP string // tenant-unique address
	MAC     string
}

func recordPath(dir string) string { return filepath.Join(dir, "lab.json") }

// Load reads the record of the running lab; it returns nil, nil when there
// is none.
func Load(dir string) (*Record, error) {
	b, err := os.ReadFile(recordPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lab record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse lab record %s: %w", recordPath(dir), err)
	}
	return &r, nil
}

func (r *Record) save(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := recordPath(dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write lab record: %w", err)
	}
	return os.Rename(tmp, recordPath(dir))
}

// plan computes the names and addresses of a lab.
func plan(o *Options) *Record {
	prefix := o.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	r := &Record{Created: time.Now(), Prefix: prefix}
	r.Options.Hosts, r.Options.Tenants, r.Options.VMsPerHost, r.Options.Encap = o.Hosts, o.Tenants, o.VMsPerHost, o.Encap
	r.Namespaces = append(r.Namespaces, prefix+"ul")
	for h := 1; h <= o.Hosts; h++ {
		name := fmt.Sprintf("%sh%d", prefix, h)
		r.Namespaces = append(r.Namespaces, name)
		r.Hosts = append(r.Hosts, Host{
			Name: name, Index: h, Underlay: fmt.Sprintf("198.18.0.%d", h),
			Socket:   filepath.Join(o.StateDir, fmt.Sprintf("h%d.sock", h)),
			StateDir: filepath.Join(o.StateDir, fmt.Sprintf("h%d", h)),
		})
		for t := 1; t <= o.Tenants; t++ {
			for v := 1; v <= o.VMsPerHost; v++ {
				vm := VM{
					Name: fmt.Sprintf("%sh%dt%dv%d", prefix, h, t, v), Host: h, Tenant: t, Index: v,
					IP:      fmt.Sprintf("203.0.113.%d", 10*h+v),
					ProbeIP: fmt.Sprintf("198.51.100.%d", 40*(t-1)+10*h+v),
					MAC:     fmt.Sprintf("02:00:00:00:%02x:%02x", h, v),
				}
				r.VMs = append(r.VMs, vm)
				r.Namespaces = append(r.Namespaces, vm.Name)
			}
		}
	}
	return r
}

// tapName is the VM's TAP port name (≤ 15 bytes): "t" + host, tenant, VM.
func tapName(vm VM) string { return fmt.Sprintf("tap-h%dt%dv%d", vm.Host, vm.Tenant, vm.Index) }

// Up builds the lab (or, if one with the same shape is running, keeps it)
// and runs the ping matrix. It returns an error if any expectation of the
// matrix fails.
func Up(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("lab needs root (CAP_NET_ADMIN) to create network namespaces; run it as root")
	}
	if o.PingTimeout == 0 {
		o.PingTimeout = time.Second
	}
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	old, err := Load(o.StateDir)
	if err != nil {
		return err
	}
	if old != nil {
		same := old.Options.Hosts == o.Hosts && old.Options.Tenants == o.Tenants &&
			old.Options.VMsPerHost == o.VMsPerHost && old.Options.Encap == o.Encap
		if same && old.healthy() {
			fmt.Fprintf(o.Out, "lab already up (%d hosts, %d tenants, %d VMs per host, %s); running the ping matrix again\n",
				o.Hosts, o.Tenants, o.VMsPerHost, o.Encap)
			return old.matrix(ctx, o)
		}
		fmt.Fprintln(o.Out, "a different or broken lab is up; taking it down first")
		if err := Down(o.StateDir, o.Out); err != nil {
			return err
		}
	}
	r := plan(&o)
	// Record first, so a failed build can be taken down.
	if err := r.save(o.StateDir); err != nil {
		return err
	}
	if err := r.build(ctx, o); err != nil {
		_ = r.save(o.StateDir)
		return fmt.Errorf("%w (run `switchyard lab down` to remove what was made)", err)
	}
	if err := r.save(o.StateDir); err != nil {
		return err
	}
	return r.matrix(ctx, o)
}

func run(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (r *Record) build(ctx context.Context, o Options) error {
	step := func(format string, a ...any) { fmt.Fprintf(o.Out, "• "+format+"\n", a...) }
	ul := r.Prefix + "ul"
	step("underlay: namespace %s with a Linux bridge, 198.18.0.0/24", ul)
	if err := run("ip", "netns", "add", ul); err != nil {
		return err
	}
	cmds := [][]string{
		{"ip", "-n", ul, "link", "set", "lo", "up"},
		{"ip", "-n", ul, "link", "add", "ul", "type", "bridge", "mcast_snooping", "0"},
		{"ip", "-n", ul, "link", "set", "ul", "up"},
	}
	for _, h := range r.Hosts {
		peer := fmt.Sprintf("ul-h%d", h.Index)
		cmds = append(cmds,
			[]string{"ip", "netns", "add", h.Name},
			[]string{"ip", "-n", h.Name, "link", "set", "lo", "up"},
			[]string{"ip", "-n", ul, "link", "add", peer, "type", "veth", "peer", "name", "ul0", "netns", h.Name},
			[]string{"ip", "-n", ul, "link", "set", peer, "master", "ul", "up"},
			[]string{"ip", "-n", h.Name, "addr", "add", h.Underlay + "/24", "dev", "ul0"},
			[]string{"ip", "-n", h.Name, "link", "set", "ul0", "up"},
		)
	}
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	for i := range r.Hosts {
		h := &r.Hosts[i]
		step("host %s: underlay %s, switchyard daemon (socket %s)", h.Name, h.Underlay, h.Socket)
		if err := r.startDaemon(ctx, h, o); err != nil {
			return err
		}
	}
	for _, h := range r.Hosts {
		if err := r.configureHost(ctx, h, o); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	return nil
}

func (r *Record) startDaemon(ctx context.Context, h *Host, o Options) error {
	if err := os.MkdirAll(h.StateDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(o.StateDir, fmt.Sprintf("h%d.log", h.Index)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", h.Name, o.Binary, "daemon", "--state-dir", h.StateDir, "--socket", h.Socket)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlive the lab command
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start daemon in %s: %w", h.Name, err)
	}
	h.PID = cmd.Process.Pid
	_ = cmd.Process.Release()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := sy(o.Binary, h, "bridge", "list"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("daemon in %s did not answer on %s: %w (log: %s)", h.Name, h.Socket, err, logf.Name())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sy runs the switchyard CLI against host h's daemon, inside h's namespace.
func sy(bin string, h *Host, args ...string) (string, error) {
	full := append([]string{"ip", "netns", "exec", h.Name, bin}, args...)
	full = append(full, "--socket", h.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, full[0], full[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("switchyard %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (r *Record) configureHost(ctx context.Context, h Host, o Options) error {
	var remotes []string
	for _, other := range r.Hosts {
		if other.Index != h.Index {
			remotes = append(remotes, other.Underlay)
		}
	}
	var vniMap []string
	for t := 1; t <= r.Options.Tenants; t++ {
		vniMap = append(vniMap, fmt.Sprintf("%d:%d", 10*t, 5000+t))
	}
	steps := [][]string{
		{"bridge", "add", "br-int"},
		{"port", "add", "br-int", "vx0", "--type", r.Options.Encap, "--local", h.Underlay,
			"--remote", strings.Join(remotes, ","), "--vni-map", strings.Join(vniMap, ",")},
	}
	if o.DstPort != 0 {
		steps[1] = append(steps[1], "--dst-port", strconv.Itoa(o.DstPort))
	}
	for _, s := range steps {
		if _, err := sy(o.Binary, &h, s...); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.Out, "• host %s: bridge br-int, %s port vx0 to %s, VNIs %s\n", h.Name, r.Options.Encap, strings.Join(remotes, ","), strings.Join(vniMap, ","))
	for _, vm := range r.VMs {
		if vm.Host != h.Index {
			continue
		}
		if err := run("ip", "netns", "add", vm.Name); err != nil {
			return err
		}
		tap := tapName(vm)
		if _, err := sy(o.Binary, &h, "port", "add", "br-int", tap, "--type", "tap", "--netns", vm.Name, "--vlan", strconv.Itoa(10*vm.Tenant)); err != nil {
			return err
		}
		for _, c := range [][]string{
			{"ip", "-n", vm.Name, "link", "set", "lo", "up"},
			{"ip", "-n", vm.Name, "link", "set", tap, "address", vm.MAC, "mtu", "1400"},
			{"ip", "-n", vm.Name, "addr", "add", vm.IP + "/24", "dev", tap},
			{"ip", "-n", vm.Name, "addr", "add", vm.ProbeIP + "/24", "dev", tap},
			{"ip", "-n", vm.Name, "link", "set", tap, "up"},
		} {
			if err := run(c...); err != nil {
				return err
			}
		}
		fmt.Fprintf(o.Out, "  VM %s: tenant %d (VLAN %d, VNI %d), NIC %s %s %s + %s\n", vm.Name, vm.Tenant, 10*vm.Tenant, 5000+vm.Tenant, tap, vm.MAC, vm.IP, vm.ProbeIP)
	}
	return nil
}

// healthy reports whether every namespace and daemon of the lab is there.
func (r *Record) healthy() bool {
	for _, ns := range r.Namespaces {
		if _, err := os.Stat(filepath.Join("/var/run/netns", ns)); err != nil {
			return false
		}
	}
	for _, h := range r.Hosts {
		if h.PID == 0 || syscall.Kill(h.PID, 0) != nil {
			return false
		}
	}
	return true
}

func ping(ns, addr string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := strconv.Itoa(max(1, int(timeout/time.Second)))
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", w, "-q", addr).CombinedOutput()
	return err == nil && !strings.Contains(string(out), "duplicates")
}

// matrix pings every VM's tenant-unique probe address from every VM, in
// parallel, and checks that exactly the same-tenant pairs succeed; then it
// pings the overlapping addresses within each tenant.
func (r *Record) matrix(ctx context.Context, o Options) error {
	n := len(r.VMs)
	res := make([][]bool, n)
	for i := range res {
		res[i] = make([]bool, n)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	// Warm up ARP and learning within each tenant first (in parallel).
	for i := range r.VMs {
		for j := range r.VMs {
			if i == j {
				continue
			}
			wg.Add(1)
			go func(i, j int) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				res[i][j] = ping(r.VMs[i].Name, r.VMs[j].ProbeIP, o.PingTimeout)
			}(i, j)
		}
	}
	wg.Wait()
	fmt.Fprintf(o.Out, "\nPing matrix over %s (rows ping the tenant-unique address of columns; ✓ reached, · isolated):\n\n", r.Options.Encap)
	fmt.Fprintf(o.Out, "%-16s", "")
	for _, vm := range r.VMs {
		fmt.Fprintf(o.Out, " %-9s", short(vm))
	}
	fmt.Fprintln(o.Out)
	var bad []string
	for i, a := range r.VMs {
		fmt.Fprintf(o.Out, "%-16s", short(a))
		for j, b := range r.VMs {
			mark := "·"
			switch {
			case i == j:
				mark = "-"
			case res[i][j]:
				mark = "✓"
			}
			want := a.Tenant == b.Tenant
			if i != j && res[i][j] != want {
				mark += "!"
				if want {
					bad = append(bad, fmt.Sprintf("%s cannot reach %s (same tenant %d)", a.Name, b.Name, a.Tenant))
				} else {
					bad = append(bad, fmt.Sprintf("%s reached %s across tenants %d→%d: ISOLATION BROKEN", a.Name, b.Name, a.Tenant, b.Tenant))
				}
			}
			fmt.Fprintf(o.Out, " %-9s", mark)
		}
		fmt.Fprintln(o.Out)
	}
	// Overlapping addresses: within a tenant, each VM's shared address is
	// reachable, and answered only once (no duplicates from other tenants).
	overlapOK := 0
	for _, a := range r.VMs {
		for _, b := range r.VMs {
			if a.Name == b.Name || a.Tenant != b.Tenant {
				continue
			}
			if ping(a.Name, b.IP, o.PingTimeout) {
				overlapOK++
			} else {
				bad = append(bad, fmt.Sprintf("%s cannot reach %s at overlapping address %s", a.Name, b.Name, b.IP))
			}
		}
	}
	fmt.Fprintf(o.Out, "\nOverlapping addresses (203.0.113.x, same MACs in every tenant): %d same-tenant pings answered once each.\n", overlapOK)
	if len(bad) > 0 {
		fmt.Fprintln(o.Out, "\nFAILED:")
		for _, b := range bad {
			fmt.Fprintln(o.Out, "  "+b)
		}
		return fmt.Errorf("ping matrix: %d expectations failed", len(bad))
	}
	fmt.Fprintf(o.Out, "\nAll %d tenants connect across %d hosts; no frame crossed between tenants.\n", r.Options.Tenants, r.Options.Hosts)
	return nil
}

func short(vm VM) string { return fmt.Sprintf("h%d.t%d.v%d", vm.Host, vm.Tenant, vm.Index) }

// Status prints the running lab: hosts, daemons, VMs, and each daemon's
// `show`.
func Status(dir, bin string, out io.Writer) error {
	r, err := Load(dir)
	if err != nil {
		return err
	}
	if r == nil {
		fmt.Fprintln(out, "no lab is up (start one with `switchyard lab up`)")
		return nil
	}
	fmt.Fprintf(out, "lab: %d hosts, %d tenants, %d VMs per host, %s, up since %s\n",
		r.Options.Hosts, r.Options.Tenants, r.Options.VMsPerHost, r.Options.Encap, r.Created.Format(time.RFC3339))
	for _, h := range r.Hosts {
		alive := "running"
		if h.PID == 0 || syscall.Kill(h.PID, 0) != nil {
			alive = "NOT RUNNING"
		}
		fmt.Fprintf(out, "\n== host %s  underlay %s  daemon pid %d %s  socket %s\n", h.Name, h.Underlay, h.PID, alive, h.Socket)
		if alive == "running" {
			s, err := sy(bin, &h, "show")
			if err != nil {
				fmt.Fprintf(out, "   (show failed: %v)\n", err)
			}
			fmt.Fprint(out, s)
		}
	}
	fmt.Fprintln(out, "\nVMs:")
	for _, vm := range r.VMs {
		fmt.Fprintf(out, "  %-18s host %d tenant %d  %s  %s + %s\n", vm.Name, vm.Host, vm.Tenant, vm.MAC, vm.IP, vm.ProbeIP)
	}
	return nil
}

// Down stops the lab's daemons (by their recorded PIDs) and removes its
// namespaces (which removes their links), then its state.
func Down(dir string, out io.Writer) error {
	r, err := Load(dir)
	if err != nil {
		return err
	}
	if r == nil {
		fmt.Fprintln(out, "no lab is up")
		return nil
	}
	for _, h := range r.Hosts {
		if h.PID > 0 && isOurDaemon(h.PID, h.Socket) {
			_ = syscall.Kill(h.PID, syscall.SIGTERM)
			waitGone(h.PID, 5*time.Second)
			_ = syscall.Kill(h.PID, syscall.SIGKILL)
		}
	}
	var errs []error
	for i := len(r.Namespaces) - 1; i >= 0; i-- {
		ns := r.Namespaces[i]
		if _, err := os.Stat(filepath.Join("/var/run/netns", ns)); err != nil {
			continue
		}
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range r.Hosts {
		_ = os.RemoveAll(h.StateDir)
		_ = os.Remove(h.Socket)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(recordPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(out, "lab down: stopped %d daemons, removed %d namespaces\n", len(r.Hosts), len(r.Namespaces))
	return nil
}

// isOurDaemon checks that pid is still a switchyard daemon serving socket,
// so a recycled PID is never killed.
func isOurDaemon(pid int, socket string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	cmd := string(b)
	return strings.Contains(cmd, "daemon") && strings.Contains(cmd, socket)
}

func waitGone(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
