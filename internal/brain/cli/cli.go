// Package cli holds the brain's command-line commands — network, vif,
// host and brain — as functions of (arguments, output), so that the
// switchyard binary only registers them:
//
//	switchyard network create NAME --vni N [--encap vxlan|geneve] [--mtu M]
//	switchyard network list | show NAME | delete NAME
//	switchyard vif plug NETWORK --host H --mac M [--ip IP[,IP...]] [--netns NS] [--id ID] [--ifname IF] [--wait] [--timeout DUR]
//	switchyard vif unplug ID [--wait] [--timeout DUR]
//	switchyard vif move ID --to-host H [--timeout DUR]
//	switchyard vif list [--network N] [--host H] | show ID
//	switchyard host list | show NAME
//	switchyard brain status | audit [--host H[,H...]] | run [switchyard-brain flags]
//
// Every command takes --brain ADDR (or SWITCHYARD_BRAIN; default
// unix:/run/switchyard/brain.sock), --token-file FILE (or
// SWITCHYARD_BRAIN_TOKEN) and --json. Errors name the field and the allowed
// values; ExitCode maps them to 1 (rejected), 2 (brain unreachable) and 3
// (not programmed in time).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain/client"
	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// Commands are the top-level commands this package provides, for
// registration in the switchyard binary: name → handler.
var Commands = map[string]func(argv []string, out io.Writer) error{
	"network": Network,
	"vif":     VIF,
	"host":    Host,
	"brain":   Brain,
}

// Usage is the help text of these commands.
const Usage = `  switchyard network create NAME --vni N [--encap vxlan|geneve] [--mtu M]
  switchyard network list | show NAME | delete NAME
  switchyard vif plug NETWORK --host H --mac M [--ip IP[,IP...]] [--netns NS] [--id ID] [--ifname IF] [--wait] [--timeout DUR]
  switchyard vif unplug ID [--wait] [--timeout DUR]
  switchyard vif move ID --to-host H [--timeout DUR]
  switchyard vif list [--network N] [--host H] | vif show ID
  switchyard host list | host show NAME
  switchyard brain status | brain audit [--host H[,H...]] | brain run [switchyard-brain flags]
Brain commands take --brain ADDR (SWITCHYARD_BRAIN), --token-file FILE (SWITCHYARD_BRAIN_TOKEN) and --json.
`

// UsageError is a rejected command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// TimeoutError means the brain did not see the change programmed in time.
type TimeoutError struct{ Err *model.Error }

func (e *TimeoutError) Error() string { return e.Err.Error() }

// ExitCode maps an error of these commands to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var un *client.UnreachableError
	if errors.As(err, &un) {
		return 2
	}
	var me *model.Error
	if errors.As(err, &me) && me.Code == model.CodeTimeout {
		return 3
	}
	return 1
}

type spec map[string]bool // flag → takes a value

var common = spec{"brain": true, "token-file": true, "json": false}

type parsed struct {
	cmd   string
	args  []string
	flags map[string]string
	set   map[string]bool
}

func parse(cmd string, argv []string, s spec) (*parsed, error) {
	p := &parsed{cmd: cmd, flags: map[string]string{}, set: map[string]bool{}}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			p.args = append(p.args, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.args = append(p.args, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, ok := s[name]
		if !ok {
			takes, ok = common[name]
		}
		if !ok {
			var l []string
			for n := range s {
				l = append(l, "--"+n)
			}
			sort.Strings(l)
			l = append(l, "--brain", "--token-file", "--json")
			return nil, usagef("unknown flag --%s for `switchyard %s`; allowed: %s", name, cmd, strings.Join(l, ", "))
		}
		if takes && !hasVal {
			if i+1 >= len(argv) {
				return nil, usagef("flag --%s of `switchyard %s` needs a value", name, cmd)
			}
			i++
			val = argv[i]
		}
		if !takes && hasVal {
			return nil, usagef("flag --%s of `switchyard %s` takes no value", name, cmd)
		}
		p.flags[name], p.set[name] = val, true
	}
	return p, nil
}

func (p *parsed) want(n int, usage string) error {
	if len(p.args) != n {
		return usagef("usage: switchyard %s %s", p.cmd, usage)
	}
	return nil
}

func (p *parsed) duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := p.flags[name]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > 10*time.Minute {
		return 0, usagef("%s: %q is not valid; allowed: a duration such as 30s, at most 10m", name, v)
	}
	return d, nil
}

func (p *parsed) client() (*client.Client, error) {
	addr := p.flags["brain"]
	if addr == "" {
		addr = os.Getenv("SWITCHYARD_BRAIN")
	}
	tf := p.flags["token-file"]
	if tf == "" {
		tf = os.Getenv("SWITCHYARD_BRAIN_TOKEN")
	}
	token := ""
	if tf != "" {
		b, err := os.ReadFile(tf)
		if err != nil {
			return nil, usagef("token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return client.New(addr, token)
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(out io.Writer, header string, rows [][]string) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sub(cmd string, argv []string, allowed string) (string, []string, error) {
	if len(argv) == 0 {
		return "", nil, usagef("`switchyard %s` needs a subcommand; allowed: %s", cmd, allowed)
	}
	return argv[0], argv[1:], nil
}

var ctx = context.Background()

// Network runs `switchyard network ...`.
func Network(argv []string, out io.Writer) error {
	s, rest, err := sub("network", argv, "create, list, show, delete")
	if err != nil {
		return err
	}
	switch s {
	case "create":
		p, err := parse("network create", rest, spec{"vni": true, "encap": true, "mtu": true})
		if err != nil {
			return err
		}
		if err := p.want(1, "NAME --vni N [--encap vxlan|geneve] [--mtu M]"); err != nil {
			return err
		}
		if !p.set["vni"] {
			return usagef("vni: a VNI is required; allowed: 1-16777215")
		}
		vni, err := strconv.ParseUint(p.flags["vni"], 10, 32)
		if err != nil {
			return usagef("vni: %q is not a number; allowed: 1-16777215", p.flags["vni"])
		}
		mtu := 0
		if v, ok := p.flags["mtu"]; ok {
			if mtu, err = strconv.Atoi(v); err != nil {
				return usagef("mtu: %q is not a number; allowed: %d-%d", v, model.MinMTU, model.MaxMTU)
			}
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		n, err := c.CreateNetwork(ctx, model.Network{Name: p.args[0], VNI: uint32(vni), Encap: p.flags["encap"], MTU: mtu})
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, n)
		}
		fmt.Fprintf(out, "network %s: %s VNI %d MTU %d (revision %d)\n", n.Name, n.Encap, n.VNI, n.MTU, n.Revision)
		return nil
	case "list":
		p, err := parse("network list", rest, nil)
		if err != nil {
			return err
		}
		if err := p.want(0, "list"); err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		l, err := c.Networks(ctx)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, l)
		}
		var rows [][]string
		for _, n := range l {
			rows = append(rows, []string{n.Name, n.Encap, strconv.Itoa(int(n.VNI)), strconv.Itoa(n.MTU), strconv.Itoa(n.Ports), strconv.Itoa(len(n.Hosts))})
		}
		table(out, "NETWORK\tENCAP\tVNI\tMTU\tPORTS\tHOSTS", rows)
		return nil
	case "show":
		p, err := parse("network show", rest, nil)
		if err != nil {
			return err
		}
		if err := p.want(1, "show NAME"); err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		d, err := c.Network(ctx, p.args[0])
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, d)
		}
		fmt.Fprintf(out, "network %s: %s VNI %d MTU %d, %d ports on hosts %s\n", d.Name, d.Encap, d.VNI, d.MTU, d.Ports, dash(strings.Join(d.Hosts, ",")))
		vifTable(out, d.VIFs)
		return nil
	case "delete", "del":
		p, err := parse("network delete", rest, nil)
		if err != nil {
			return err
		}
		if err := p.want(1, "delete NAME"); err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		return c.DeleteNetwork(ctx, p.args[0])
	}
	return usagef("unknown command `network %s`; allowed: create, list, show, delete", s)
}

func vifTable(out io.Writer, l []wire.VIFStatus) {
	var rows [][]string
	for _, v := range l {
		host := v.Host
		if v.MigratingTo != "" {
			host += "→" + v.MigratingTo
		}
		state := v.State
		if v.Error != "" {
			state += " (" + v.Error + ")"
		} else if len(v.Waiting) > 0 {
			state += " (" + strings.Join(v.Waiting, ",") + ")"
		}
		rows = append(rows, []string{v.ID, v.Network, v.MAC, dash(strings.Join(v.IPs, ",")), host, dash(v.NetNS), v.IfName, strconv.FormatInt(v.Version, 10), state})
	}
	table(out, "VIF\tNETWORK\tMAC\tIPS\tHOST\tNETNS\tIFNAME\tVERSION\tSTATE", rows)
}

// VIF runs `switchyard vif ...`.
func VIF(argv []string, out io.Writer) error {
	s, rest, err := sub("vif", argv, "plug, unplug, move, list, show")
	if err != nil {
		return err
	}
	switch s {
	case "plug":
		p, err := parse("vif plug", rest, spec{"host": true, "mac": true, "ip": true, "netns": true, "id": true, "ifname": true, "wait": false, "timeout": true})
		if err != nil {
			return err
		}
		if err := p.want(1, "plug NETWORK --host H --mac M [--ip IP[,IP...]] [--netns NS] [--id ID] [--ifname IF] [--wait] [--timeout DUR]"); err != nil {
			return err
		}
		for _, f := range []string{"host", "mac"} {
			if !p.set[f] {
				return usagef("%s: required", f)
			}
		}
		timeout, err := p.duration("timeout", 30*time.Second)
		if err != nil {
			return err
		}
		var ips []string
		if v := p.flags["ip"]; v != "" {
			ips = strings.Split(v, ",")
		}
		wait := time.Duration(0)
		if p.set["wait"] {
			wait = timeout
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		st, err := c.Plug(ctx, model.Port{ID: p.flags["id"], Network: p.args[0], Host: p.flags["host"], MAC: p.flags["mac"], IPs: ips, NetNS: p.flags["netns"], IfName: p.flags["ifname"]}, wait)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, st)
		}
		fmt.Fprintf(out, "vif %s: %s in %s on %s, version %d, %s\n", st.ID, st.MAC, st.Network, st.Host, st.Version, st.State)
		return nil
	case "unplug":
		p, err := parse("vif unplug", rest, spec{"wait": false, "timeout": true})
		if err != nil {
			return err
		}
		if err := p.want(1, "unplug ID [--wait] [--timeout DUR]"); err != nil {
			return err
		}
		timeout, err := p.duration("timeout", 30*time.Second)
		if err != nil {
			return err
		}
		wait := time.Duration(0)
		if p.set["wait"] {
			wait = timeout
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		return c.Unplug(ctx, p.args[0], wait)
	case "move":
		p, err := parse("vif move", rest, spec{"to-host": true, "timeout": true})
		if err != nil {
			return err
		}
		if err := p.want(1, "move ID --to-host H [--timeout DUR]"); err != nil {
			return err
		}
		if !p.set["to-host"] {
			return usagef("to-host: required")
		}
		timeout, err := p.duration("timeout", 30*time.Second)
		if err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		st, err := c.Move(ctx, p.args[0], p.flags["to-host"], timeout)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, st)
		}
		fmt.Fprintf(out, "vif %s: now on %s, version %d, move %d, %s\n", st.ID, st.Host, st.Version, st.Moves, st.State)
		return nil
	case "list":
		p, err := parse("vif list", rest, spec{"network": true, "host": true})
		if err != nil {
			return err
		}
		if err := p.want(0, "list [--network N] [--host H]"); err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		l, err := c.VIFs(ctx, p.flags["network"], p.flags["host"])
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, l)
		}
		vifTable(out, l)
		return nil
	case "show":
		p, err := parse("vif show", rest, nil)
		if err != nil {
			return err
		}
		if err := p.want(1, "show ID"); err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		st, err := c.VIF(ctx, p.args[0])
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, st)
		}
		vifTable(out, []wire.VIFStatus{st})
		return nil
	}
	return usagef("unknown command `vif %s`; allowed: plug, unplug, move, list, show", s)
}

// Host runs `switchyard host ...`.
func Host(argv []string, out io.Writer) error {
	s, rest, err := sub("host", argv, "list, show")
	if err != nil {
		return err
	}
	switch s {
	case "list", "show":
		p, err := parse("host "+s, rest, nil)
		if err != nil {
			return err
		}
		n := 0
		if s == "show" {
			n = 1
		}
		if err := p.want(n, s+map[bool]string{true: " NAME", false: ""}[n == 1]); err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		var l []wire.HostInfo
		if s == "show" {
			h, err := c.Host(ctx, p.args[0])
			if err != nil {
				return err
			}
			if p.set["json"] {
				return printJSON(out, h)
			}
			l = []wire.HostInfo{h}
		} else {
			if l, err = c.Hosts(ctx); err != nil {
				return err
			}
			if p.set["json"] {
				return printJSON(out, l)
			}
		}
		var rows [][]string
		for _, h := range l {
			alive := "dead"
			if h.Alive {
				alive = "alive"
			}
			conn := "no"
			if h.Connected {
				conn = "yes"
			}
			lease := "-"
			if h.Lease != 0 {
				lease = fmt.Sprintf("%x/%ds", h.Lease, h.LeaseTTL)
			}
			errs := "-"
			if len(h.Errors) > 0 {
				errs = strconv.Itoa(len(h.Errors))
			}
			rows = append(rows, []string{h.Name, dash(strings.Join(h.VTEPs, ",")), alive, conn, lease, strconv.FormatInt(h.Applied, 10), strconv.FormatInt(h.Lag, 10), strconv.Itoa(h.Networks), strconv.Itoa(h.Ports), errs})
		}
		table(out, "HOST\tVTEPS\tSTATE\tCONNECTED\tLEASE\tAPPLIED\tLAG\tNETWORKS\tPORTS\tERRORS", rows)
		return nil
	}
	return usagef("unknown command `host %s`; allowed: list, show", s)
}

// Brain runs `switchyard brain status|audit|run`.
func Brain(argv []string, out io.Writer) error {
	s, rest, err := sub("brain", argv, "status, audit, run")
	if err != nil {
		return err
	}
	switch s {
	case "status":
		p, err := parse("brain status", rest, nil)
		if err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, st)
		}
		mode := "external etcd"
		if st.Embedded {
			mode = "embedded etcd"
		}
		fmt.Fprintf(out, "brain %s, %s %s, revision %d, db %d bytes\n%d networks, %d ports, %d hosts, %d agents connected\n%d messages delivered, %d resyncs, %d relists\n",
			st.Version, mode, strings.Join(st.Endpoints, ","), st.Revision, st.DBSize, st.Networks, st.Ports, st.Hosts, st.Sessions, st.Delivered, st.Resyncs, st.Relists)
		return nil
	case "audit":
		p, err := parse("brain audit", rest, spec{"host": true})
		if err != nil {
			return err
		}
		c, err := p.client()
		if err != nil {
			return err
		}
		var hosts []string
		if v := p.flags["host"]; v != "" {
			hosts = strings.Split(v, ",")
		}
		r, err := c.Audit(ctx, hosts)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, r)
		}
		dirty := 0
		for _, a := range r.Reports {
			state := "clean"
			if !a.Clean() {
				state = "DIFFERS"
				dirty++
			}
			fmt.Fprintf(out, "%s: %s at revision %d (%d entries)\n", a.Host, state, a.Rev, a.Entries)
			for _, m := range a.Missing {
				fmt.Fprintln(out, "  missing", m)
			}
			for _, m := range a.Extra {
				fmt.Fprintln(out, "  extra  ", m)
			}
			for _, m := range a.Wrong {
				fmt.Fprintln(out, "  wrong  ", m)
			}
			for _, m := range a.Frozen {
				fmt.Fprintln(out, "  frozen ", m)
			}
		}
		for h, e := range r.Errors {
			fmt.Fprintf(out, "%s: not audited: %s\n", h, e)
		}
		if dirty > 0 || len(r.Errors) > 0 {
			return &model.Error{Code: model.CodeFailed, Field: "host", Message: fmt.Sprintf("%d hosts differ from etcd, %d not audited", dirty, len(r.Errors))}
		}
		return nil
	case "run":
		return runService(rest)
	}
	return usagef("unknown command `brain %s`; allowed: status, audit, run", s)
}
