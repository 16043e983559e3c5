// Command switchyard is Switchyard's daemon and command-line tool.
//
//	switchyard daemon [--state-dir DIR] [--socket PATH]
//	switchyard bridge add|set|del|list ...
//	switchyard port add|set|del|list ...
//	switchyard veth add NAME --netns NS --bridge BRIDGE ...
//	switchyard fdb show|add|del|flush ...
//	switchyard show | stats [BRIDGE [PORT]] | version
//	switchyard lab up|status|down
//
// Exit codes: 0 done, 1 rejected input (the message names the field and the
// allowed values), 2 daemon unreachable (the message says where it looked).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/vswitchd"
)

const usage = `switchyard — virtual switching and overlay networks

  switchyard daemon [--state-dir DIR] [--socket PATH] [--log-level debug|info|warn] [--offload on|off] [--devices os|memory]
  switchyard bridge add|set NAME [--fdb-aging SECONDS] [--fdb-max N] [--fdb-full-policy refuse|evict-oldest] [--flow-cache-max N]
        [--stp on|off] [--rstp on|off] [--stp-priority N] [--stp-hello-time S] [--stp-max-age S]
        [--stp-forward-delay S] [--hwaddr MAC]
  switchyard bridge del NAME
  switchyard bridge list
  switchyard port add BRIDGE NAME --type tap|system|internal|patch|vxlan|geneve|gre
        [--netns NS] [--peer NAME] [--ofport N] [VLAN flags] [--no-learning] [tunnel flags]
        [--type bond --members IF,IF[,...] [--bond-mode active-backup|balance-slb|balance-tcp]
         [--lacp off|active|passive] [--lacp-rate fast|slow] [--lacp-fallback-ab on|off]
         [--updelay MS] [--downdelay MS]] [STP port flags]
  switchyard port set BRIDGE NAME [VLAN flags] [--no-learning|--learning] [STP port flags]
  switchyard port del BRIDGE NAME
  switchyard port list BRIDGE
  switchyard veth add NAME --netns NS --bridge BRIDGE [--peer-name IFNAME] [VLAN flags] [STP port flags]
  switchyard fdb show BRIDGE [--vlan VID]
  switchyard fdb add BRIDGE MAC PORT [--vlan VID] [--remote IP]
  switchyard fdb del BRIDGE MAC [--vlan VID]
  switchyard fdb flush BRIDGE [--port P] [--vlan VID]
  switchyard flow add BRIDGE 'FLOW' | flow add BRIDGE --file FLOWS
  switchyard flow mod BRIDGE 'MATCH,actions=…' [--strict]
  switchyard flow del BRIDGE [MATCH] [--strict]
  switchyard flow dump BRIDGE [MATCH] [--table N]
  switchyard trace BRIDGE 'in_port=PORT,FIELD=VALUE,…' [--packet HEX]
  switchyard trace --live BRIDGE PORT [--count N]
  switchyard dpctl dump-flows [BRIDGE]
  switchyard bond show [BOND]
  switchyard show
  switchyard stats [BRIDGE [PORT]]
  switchyard lab up [--hosts N] [--tenants T] [--vms-per-host V] [--encap vxlan|geneve|gre]
  switchyard lab status | lab down
  switchyard version

VLAN flags:   --vlan VID | --trunk VIDS [--native-vlan VID] [--native-tagged]
Tunnel flags: --local IP (--remote IP[,IP...] | --group IP --dev IFNAME)
              [--vni N | --vni-map VLAN:VNI,...] [--dst-port P] [--src-port-range LOW-HIGH]
              [--udp-csum on|off] [--ttl N] [--tos N|inherit]
STP port flags: [--stp-cost N] [--stp-priority N] [--edge on|off|auto] [--bpdu-guard on|off] [--root-guard on|off]
Every command takes --socket PATH (or SWITCHYARD_SOCKET); read commands take --json.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code.
func run(argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 || argv[0] == "help" || argv[0] == "--help" || argv[0] == "-h" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	err := dispatch(argv, stdout)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "switchyard: "+err.Error())
	var un *api.UnreachableError
	if errors.As(err, &un) {
		return 2
	}
	return 1
}

func dispatch(argv []string, out io.Writer) error {
	cmd, rest := argv[0], argv[1:]
	sub := func() (string, []string, error) {
		if len(rest) == 0 {
			return "", nil, usagef("`switchyard %s` needs a subcommand; see `switchyard help`", cmd)
		}
		return rest[0], rest[1:], nil
	}
	switch cmd {
	case "daemon":
		return runDaemon(rest)
	case "version":
		fmt.Fprintln(out, "switchyard", vswitchd.Version)
		return nil
	case "show":
		return cmdShow(rest, out)
	case "stats":
		return cmdStats(rest, out)
	case "bridge":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return cmdBridge(s, r, out)
	case "port":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return cmdPort(s, r, out)
	case "veth":
		s, r, err := sub()
		if err != nil {
			return err
		}
		if s != "add" {
			return usagef("unknown command `veth %s`; allowed: veth add", s)
		}
		return cmdVethAdd(r, out)
	case "fdb":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return cmdFDB(s, r, out)
	case "lab":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return cmdLab(s, r, out)
	case "flow":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return cmdFlow(s, r, out)
	case "trace":
		return cmdTrace(rest, out)
	case "dpctl":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return cmdDpctl(s, r, out)
	case "bond":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return cmdBond(s, r, out)
	}
	return usagef("unknown command %q; see `switchyard help`", cmd)
}

func runDaemon(argv []string) error {
	p, err := parse("daemon", argv, flagSpec{"state-dir": true, "log-level": true, "offload": true, "devices": true})
	if err != nil {
		return err
	}
	if err := p.want(0, 0, "[--state-dir DIR] [--socket PATH]"); err != nil {
		return err
	}
	level := slog.LevelInfo
	switch p.flags["log-level"] {
	case "", "info":
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	default:
		return usagef("log-level %q is not valid; allowed: debug, info, warn", p.flags["log-level"])
	}
	noOffload := false
	switch p.flags["offload"] {
	case "", "on":
	case "off":
		noOffload = true
	default:
		return usagef("offload %q is not valid; allowed: on, off", p.flags["offload"])
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	memory := false
	switch p.flags["devices"] {
	case "", "os":
	case "memory":
		memory = true
	default:
		return usagef("devices %q is not valid; allowed: os, memory", p.flags["devices"])
	}
	return vswitchd.Run(ctx, vswitchd.Options{StateDir: p.flags["state-dir"], Socket: socketPath(p), Logger: log, NoOffload: noOffload, Memory: memory})
}

func socketPath(p *parsed) string {
	if s := p.flags["socket"]; s != "" {
		return s
	}
	if s := os.Getenv("SWITCHYARD_SOCKET"); s != "" {
		return s
	}
	return api.DefaultSocket
}

func client(p *parsed) *api.Client { return api.NewClient(socketPath(p)) }

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func join(l []string) string { return strings.Join(l, ",") }
