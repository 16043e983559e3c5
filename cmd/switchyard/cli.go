package main

import (
	"fmt"
	"io"
	"strings"
)

// command is one entry of the CLI's command table: its name, a one-line
// summary, its usage (per subcommand, if it has any) and flags for help and
// completion, and the function that runs it. Adding a command is adding one
// entry to commands (and its function, in a file of its own).
type command struct {
	name    string
	summary string
	// subs are the subcommands, in help order; nil for a command that takes
	// none (then use, flags and args describe the command itself).
	subs  []subcommand
	use   string   // synopsis after "switchyard NAME"
	flags flagSpec // the command's own flags (the global ones are implied)
	args  []string // what each positional argument is, for completion: "bridge", "port", "file", ""
	// run runs the command with the arguments after its name (a
	// subcommand first, for commands that have them).
	run func(argv []string, out io.Writer) error
	// hidden commands are left out of help and completion.
	hidden bool
}

// subcommand describes one subcommand, for help and completion.
type subcommand struct {
	name  string
	use   string // synopsis after "switchyard CMD SUB"
	flags flagSpec
	args  []string
}

// bridgeSynopsis is bridge add/set's synopsis.
const bridgeSynopsis = "NAME [--fdb-aging SECONDS] [--fdb-max N] [--fdb-full-policy refuse|evict-oldest] [--flow-cache-max N] [--stp on|off] [--rstp on|off] [--stp-priority N] [--stp-hello-time S] [--stp-max-age S] [--stp-forward-delay S] [--hwaddr MAC] " + ofBridgeUsage

// commands is the command table, in the order `switchyard help` lists them.
var commands []*command

func init() {
	commands = []*command{
		{name: "daemon", summary: "run the switch", use: "[--state-dir DIR] [--socket PATH] [--log-level debug|info|warn] [--offload on|off] [--devices os|memory] [--web ADDR [--web-token TOKEN]] [--metrics-listen ADDR]",
			flags: merge(flagSpec{"state-dir": true, "log-level": true, "offload": true, "devices": true}, observeDaemonFlags), args: []string{},
			run: func(argv []string, _ io.Writer) error { return runDaemon(argv) }},
		{name: "bridge", summary: "add, change, delete and list bridges", run: withSub("bridge", cmdBridge), subs: []subcommand{
			{"add", bridgeSynopsis, merge(bridgeFlags, bridgeSTPFlags), []string{""}},
			{"set", bridgeSynopsis, merge(bridgeFlags, bridgeSTPFlags), []string{"bridge"}},
			{"del", "NAME", nil, []string{"bridge"}},
			{"list", "", nil, nil},
		}},
		{name: "port", summary: "add, change, delete and list ports", run: withSub("port", cmdPort), subs: []subcommand{
			{"add", "BRIDGE NAME --type tap|system|internal|patch|vxlan|geneve|gre|bond [--netns NS] [--peer NAME] [--ofport N] [VLAN flags] [--no-learning] [tunnel flags] [bond flags] [STP port flags]",
				merge(vlanFlags, tunnelFlags, bondFlags, portSTPFlags, flagSpec{"type": true, "netns": true, "peer": true, "ofport": true}), []string{"bridge", ""}},
			{"set", "BRIDGE NAME [VLAN flags] [--no-learning|--learning] [--vni-map MAP] [STP port flags]", merge(vlanFlags, portSTPFlags, flagSpec{"vni-map": true}), []string{"bridge", "port"}},
			{"del", "BRIDGE NAME", nil, []string{"bridge", "port"}},
			{"list", "BRIDGE", nil, []string{"bridge"}},
		}},
		{name: "veth", summary: "create a veth pair into a namespace and attach it", run: cmdVeth, subs: []subcommand{
			{"add", "NAME --netns NS --bridge BRIDGE [--peer-name IFNAME] [VLAN flags] [STP port flags]", merge(vlanFlags, portSTPFlags, flagSpec{"netns": true, "bridge": true, "peer-name": true}), []string{""}},
		}},
		{name: "fdb", summary: "show and edit the forwarding database", run: withSub("fdb", cmdFDB), subs: []subcommand{
			{"show", "BRIDGE [--vlan VID]", flagSpec{"vlan": true}, []string{"bridge"}},
			{"add", "BRIDGE MAC PORT [--vlan VID] [--remote IP]", flagSpec{"vlan": true, "remote": true}, []string{"bridge", "", "port"}},
			{"del", "BRIDGE MAC [--vlan VID]", flagSpec{"vlan": true}, []string{"bridge", ""}},
			{"flush", "BRIDGE [--port P] [--vlan VID]", flagSpec{"vlan": true, "port": true}, []string{"bridge"}},
		}},
		{name: "flow", summary: "add, modify, delete and dump flow rules", run: withSub("flow", cmdFlow), subs: []subcommand{
			{"add", "BRIDGE 'FLOW' | flow add BRIDGE --file FLOWS", flagSpec{"file": true}, []string{"bridge"}},
			{"mod", "BRIDGE 'MATCH,actions=…' [--strict]", flagSpec{"strict": false}, []string{"bridge"}},
			{"del", "BRIDGE [MATCH] [--strict]", flagSpec{"strict": false}, []string{"bridge"}},
			{"dump", "BRIDGE [MATCH] [--table N]", flagSpec{"table": true}, []string{"bridge"}},
		}},
		{name: "trace", summary: "trace a frame through the pipeline (or the next frames of a port)",
			use:   "BRIDGE 'in_port=PORT,FIELD=VALUE,…' [--packet HEX] | trace --live BRIDGE PORT [--count N]",
			flags: flagSpec{"packet": true, "live": false, "count": true}, args: []string{"bridge", "port"}, run: cmdTrace},
		{name: "dpctl", summary: "the datapath's decision cache", run: withSub("dpctl", cmdDpctl), subs: []subcommand{
			{"dump-flows", "[BRIDGE]", flagSpec{}, []string{"bridge"}},
		}},
		{name: "bond", summary: "bonds: members, LACP partners, hash buckets", run: withSub("bond", cmdBond), subs: []subcommand{
			{"show", "[BOND]", nil, []string{"port"}},
		}},
		{name: "show", summary: "bridges, ports, status and counters", use: "", run: cmdShow},
		{name: "stats", summary: "counters of bridges and ports", use: "[BRIDGE [PORT]]", args: []string{"bridge", "port"}, run: cmdStats},
		{name: "capture", summary: "capture a port's frames to pcapng (tshark, tcpdump -r)",
			use:   "BRIDGE PORT [-w FILE.pcapng | -] [--filter 'tcpdump expression'] [--count N] [--duration S] [--direction in|out|both] [--snaplen N]",
			flags: captureFlags, args: []string{"bridge", "port"}, run: cmdCapture},
		{name: "events", summary: "the daemon's event log: MAC moves, full FDBs, ports, tunnels, configuration",
			use: "[--follow] [--json] [--since SEQ] [--last N] [--kind KIND]", flags: eventsFlags, run: cmdEvents},
		{name: "doctor", summary: "check the switch and explain what is wrong, with the fix",
			use: "[--json] [--probe-timeout S] [--no-probe]", flags: doctorFlags, run: cmdDoctor},
		{name: "lab", summary: "the demo: hosts, VMs and tenants over an overlay in namespaces", run: withSub("lab", cmdLab), subs: []subcommand{
			{"up", "[--hosts N] [--tenants T] [--vms-per-host V] [--encap vxlan|geneve|gre]", labFlags, nil},
			{"status", "", labFlags, nil},
			{"down", "", labFlags, nil},
		}},
		{name: "completion", summary: "print a shell completion script", use: "bash", flags: flagSpec{}, args: []string{""}, run: cmdCompletion},
		{name: "version", summary: "what was built", use: "[--json]", flags: flagSpec{}, run: cmdVersion},
		{name: "help", summary: "this text, or a command's synopsis and flags", use: "[COMMAND [SUBCOMMAND]]", flags: flagSpec{}, args: []string{""}, run: cmdHelp},
		{name: "__complete", hidden: true, run: cmdComplete},
	}
}

var labFlags = flagSpec{"hosts": true, "tenants": true, "vms-per-host": true, "encap": true, "state-dir": true, "dst-port": true, "prefix": true}

// withSub adapts a command function that takes its subcommand apart.
func withSub(name string, fn func(sub string, argv []string, out io.Writer) error) func([]string, io.Writer) error {
	return func(argv []string, out io.Writer) error {
		if len(argv) == 0 {
			return usagef("`switchyard %s` needs a subcommand; see `switchyard help %s`", name, name)
		}
		return fn(argv[0], argv[1:], out)
	}
}

func cmdVeth(argv []string, out io.Writer) error {
	if len(argv) == 0 {
		return usagef("`switchyard veth` needs a subcommand; see `switchyard help veth`")
	}
	if argv[0] != "add" {
		return usagef("unknown command `veth %s`; allowed: veth add", argv[0])
	}
	return cmdVethAdd(argv[1:], out)
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (c *command) sub(name string) *subcommand {
	for i := range c.subs {
		if c.subs[i].name == name {
			return &c.subs[i]
		}
	}
	return nil
}

// globals are the flags every command takes, wherever they stand on the
// command line (before the command as well: `switchyard --socket S show`).
type globals struct {
	socket    string
	hasSocket bool
	json      bool
	help      bool
}

// takeGlobals removes the global flags (--socket PATH, --json, --help, -h)
// from argv, up to a "--"; it returns the rest.
func takeGlobals(argv []string) ([]string, globals, error) {
	var g globals
	var rest []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			rest = append(rest, argv[i:]...)
			break
		}
		switch {
		case a == "--json" || a == "-json":
			g.json = true
		case a == "--help" || a == "-h" || a == "-help":
			g.help = true
		case a == "--socket" || a == "-socket":
			if i+1 >= len(argv) {
				return nil, g, usagef("flag --socket needs a value (the daemon's socket path)")
			}
			i++
			g.socket, g.hasSocket = argv[i], true
		case strings.HasPrefix(a, "--socket=") || strings.HasPrefix(a, "-socket="):
			_, g.socket, _ = strings.Cut(a, "=")
			g.hasSocket = true
		default:
			rest = append(rest, a)
		}
	}
	return rest, g, nil
}

// dispatch runs one command line.
func dispatch(argv []string, out io.Writer) error {
	rest, g, err := takeGlobals(argv)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] == "--" {
		fmt.Fprint(out, usageText())
		return nil
	}
	name := rest[0]
	if strings.HasPrefix(name, "-") {
		return usagef("unknown flag %s before the command; allowed there: --socket PATH, --json, --help", name)
	}
	c := lookup(name)
	if c == nil {
		return usagef("unknown command %q; see `switchyard help`", name)
	}
	args := rest[1:]
	if g.help {
		return printHelp(out, c, args)
	}
	// Put the global flags back right after the command (and its
	// subcommand), where every command's own parser takes them.
	var gl []string
	if g.hasSocket {
		gl = append(gl, "--socket", g.socket)
	}
	if g.json {
		gl = append(gl, "--json")
	}
	if len(gl) > 0 && c.name != "help" && c.name != "completion" {
		at := 0
		if c.subs != nil && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			at = 1
		}
		args = append(append(append([]string{}, args[:at]...), gl...), args[at:]...)
	}
	return c.run(args, out)
}

// exitError ends the program with a code of its own (and an optional
// message): `doctor` exits 1 when it has findings.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.msg
}
