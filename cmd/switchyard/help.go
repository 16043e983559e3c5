package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// flagDocs describes every flag of every command, for `help COMMAND` and
// `COMMAND --help`: the value it takes and what it does.
var flagDocs = map[string]string{
	// global
	"socket": "PATH  the daemon's API socket (default /run/switchyard/switchyard.sock, or SWITCHYARD_SOCKET)",
	"json":   "print JSON instead of a table",
	"help":   "this help",
	// daemon
	"state-dir":      "DIR  where the configuration store lives (default /var/lib/switchyard)",
	"log-level":      "LEVEL  debug, info or warn (default info)",
	"offload":        "on|off  vnet headers, TSO/USO, UDP GSO/GRO (default on)",
	"devices":        "os|memory  open ports as OS devices, or in memory for trying things out",
	"web":            "ADDR  serve the dashboard on ADDR (host:port; off by default)",
	"web-token":      "TOKEN  require this token for the dashboard (needed unless --web is on loopback; or SWITCHYARD_WEB_TOKEN)",
	"metrics-listen": "ADDR  also serve Prometheus /metrics over TCP on ADDR (e.g. 127.0.0.1:9475)",
	// bridge
	"fdb-aging":       "SECONDS  how long a learned address lives unseen (10-1000000, default 300)",
	"fdb-max":         "N  most learned addresses (1-16777216, default 8192)",
	"fdb-full-policy": "refuse|evict-oldest  what a full FDB does with a new address (default refuse)",
	"flow-cache-max":  "N  most entries of the decision cache (0 = default 65536, or 1024-4194304)",
	// OpenFlow (bridge)
	"controller":      "TARGETS  controllers to connect to, comma separated: tcp:IP[:PORT] (6653), unix:PATH; \"\" clears",
	"listen":          "TARGETS  more passive OpenFlow targets: ptcp:PORT[:IP], punix:PATH (the management socket BRIDGE.mgmt is always there)",
	"fail-mode":       "standalone|secure  with no controller reachable: behave as NORMAL (standalone, default) or keep the flows (secure)",
	"protocols":       "LIST  OpenFlow versions allowed: OpenFlow10, OpenFlow13 (default both)",
	"datapath-id":     "HEX16  the bridge's datapath id (default derived from its MAC, stored once)",
	"packet-in-rate":  "N  packet-ins per second to the controllers (0 = 10000, -1 = unlimited)",
	"packet-in-burst": "N  the packet-in bucket's depth (0 = 1000)",
	// spanning tree (bridge)
	"stp":               "on|off  IEEE 802.1D spanning tree on the bridge",
	"rstp":              "on|off  IEEE 802.1w rapid spanning tree on the bridge",
	"stp-priority":      "N  bridge priority (multiples of 4096, 0-61440, default 32768); on a port: port priority (multiples of 16, 0-240, default 128)",
	"stp-hello-time":    "S  hello time (1-10 s, default 2)",
	"stp-max-age":       "S  max age (6-40 s, default 20)",
	"stp-forward-delay": "S  forward delay (4-30 s, default 15)",
	"hwaddr":            "MAC  the bridge's address (its STP bridge ID and LACP system ID; default derived from the machine, namespace and bridge name)",
	// spanning tree (port)
	"stp-cost":   "N  path cost (1-65535 stp, 1-200000000 rstp; default from the link speed)",
	"edge":       "on|off|auto  an edge port (no bridge behind it) forwards at once; auto detects it (default: on for TAP ports, auto for the others)",
	"bpdu-guard": "on|off  disable the port when a BPDU arrives on it",
	"root-guard": "on|off  never let this port become the root port",
	// bonds
	"members":          "IF,IF[,...]  the bond's member interfaces (2-32)",
	"bond-mode":        "active-backup|balance-slb|balance-tcp  how frames are spread over the members (default active-backup)",
	"lacp":             "off|active|passive  IEEE 802.1AX LACP (default off)",
	"lacp-rate":        "fast|slow  LACPDUs every second or every 30 s (default slow)",
	"lacp-fallback-ab": "on|off  without an LACP partner, fall back to active-backup",
	"updelay":          "MS  wait before a member that came up is used (0-3600000)",
	"downdelay":        "MS  wait before a member that went down is dropped (0-3600000)",
	// port
	"type":           "TYPE  tap, system, internal, patch, vxlan, geneve or gre",
	"netns":          "NS  the network namespace of a TAP (or of a veth's peer)",
	"peer":           "NAME  a patch port's peer port on the other bridge",
	"ofport":         "N  the port's OpenFlow port number (1-65279; default: the lowest free one)",
	"vlan":           "VID  access VLAN (1-4094); for fdb commands the VLAN of the entry (0 = untagged)",
	"trunk":          "VIDS  trunk of these VLANs, like 10,20-30",
	"native-vlan":    "VID  a trunk's native VLAN (untagged frames)",
	"native-tagged":  "send the native VLAN tagged",
	"no-learning":    "do not learn source addresses on this port",
	"learning":       "learn source addresses again (port set)",
	"local":          "IP  the local VTEP address",
	"remote":         "IP[,IP...]  remote VTEPs (head-end replication); for fdb add: the VTEP behind the MAC",
	"group":          "IP  multicast group to flood to (with --dev)",
	"dev":            "IFNAME  the underlay device that joins --group",
	"vni":            "N  the tunnel's VNI (0-16777215)",
	"vni-map":        "VLAN:VNI,...  one VNI per VLAN over one tunnel port",
	"dst-port":       "P  tunnel UDP port (default 4789 VXLAN, 6081 Geneve)",
	"src-port-range": "LOW-HIGH  outer UDP source ports (default 49152-65535)",
	"udp-csum":       "on|off  outer UDP checksum over IPv4 (default on)",
	"ttl":            "N  outer TTL (1-255, default 64)",
	"tos":            "N|inherit  outer TOS (default 0)",
	// veth
	"bridge":    "BRIDGE  the bridge to attach the host end to",
	"peer-name": "IFNAME  the name of the end inside the namespace (default eth0)",
	// fdb flush
	"port": "P  only this port's entries",
	// flows, trace
	"file":   "FLOWS  a file of flows, one per line (- for stdin)",
	"strict": "match priority and every field exactly",
	"table":  "N  only this table (0-253)",
	"packet": "HEX  trace this whole frame (with in_port in the flow)",
	"live":   "trace the next frames that arrive on PORT",
	"count":  "N  how many frames (trace --live, capture)",
	// lab
	"hosts":        "N  hosts (2-9, default 2)",
	"tenants":      "T  tenants (1-4, default 2)",
	"vms-per-host": "V  VMs per tenant per host (1-4, default 1)",
	"encap":        "vxlan|geneve|gre  the overlay (default vxlan)",
	"prefix":       "P  start every namespace name with P (default sylab-)",
	// capture
	"w":         "FILE  write pcapng to FILE (- for stdout, e.g. | tshark -r -); without it each frame is printed on a line",
	"filter":    "EXPR  only frames that match this tcpdump expression (pcap-filter(7))",
	"duration":  "S  stop after S seconds",
	"direction": "in|out|both  frames received by the port, sent by it, or both (default both)",
	"snaplen":   "N  keep at most N bytes of each frame (default 262144)",
	"quiet":     "do not print the summary at the end",
	// events
	"follow": "keep printing events as they happen",
	"since":  "SEQ  only events after sequence number SEQ",
	"last":   "N  only the last N events (default 100; 0 = all that are kept)",
	"kind":   "KIND  only events of this kind (prefix: fdb, port, tunnel, config, daemon, capture)",
	// doctor
	"probe-timeout": "S  how long to wait for a remote VTEP's answer (default 1)",
	"no-probe":      "do not probe the remote VTEPs",
}

// usageText is `switchyard help`: every command's synopsis.
func usageText() string {
	var b strings.Builder
	b.WriteString("switchyard — virtual switching and overlay networks\n\n")
	for _, c := range commands {
		if c.hidden {
			continue
		}
		if c.subs == nil {
			fmt.Fprintf(&b, "  %s\n", strings.TrimSpace("switchyard "+c.name+" "+c.use))
			continue
		}
		for _, s := range c.subs {
			fmt.Fprintf(&b, "  %s\n", strings.TrimSpace("switchyard "+c.name+" "+s.name+" "+s.use))
		}
	}
	b.WriteString(`
VLAN flags:   --vlan VID | --trunk VIDS [--native-vlan VID] [--native-tagged]
Tunnel flags: --local IP (--remote IP[,IP...] | --group IP --dev IFNAME)
              [--vni N | --vni-map VLAN:VNI,...] [--dst-port P] [--src-port-range LOW-HIGH]
              [--udp-csum on|off] [--ttl N] [--tos N|inherit]
Every command takes --socket PATH (or SWITCHYARD_SOCKET) and --json, before or after the command;
` + "`switchyard help COMMAND` or `switchyard COMMAND --help` gives a command's synopsis and flags.\n")
	return b.String()
}

// cmdHelp runs `switchyard help [COMMAND [SUBCOMMAND]]`.
func cmdHelp(argv []string, out io.Writer) error {
	if len(argv) == 0 {
		fmt.Fprint(out, usageText())
		return nil
	}
	c := lookup(argv[0])
	if c == nil || c.hidden {
		return usagef("unknown command %q; allowed: %s", argv[0], strings.Join(commandNames(), ", "))
	}
	return printHelp(out, c, argv[1:])
}

func commandNames() []string {
	var l []string
	for _, c := range commands {
		if !c.hidden {
			l = append(l, c.name)
		}
	}
	return l
}

// printHelp prints a command's (or one subcommand's, if args names one)
// synopsis, summary and flags.
func printHelp(out io.Writer, c *command, args []string) error {
	fmt.Fprintf(out, "switchyard %s — %s\n\n", c.name, c.summary)
	var flags flagSpec
	if c.subs == nil {
		fmt.Fprintf(out, "usage: %s\n", strings.TrimSpace("switchyard "+c.name+" "+c.use))
		flags = c.flags
	} else {
		var subs []subcommand
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			s := c.sub(args[0])
			if s == nil {
				var names []string
				for _, s := range c.subs {
					names = append(names, s.name)
				}
				return usagef("unknown command `%s %s`; allowed: %s", c.name, args[0], strings.Join(names, ", "))
			}
			subs = []subcommand{*s}
		} else {
			subs = c.subs
		}
		fmt.Fprintln(out, "usage:")
		flags = flagSpec{}
		for _, s := range subs {
			fmt.Fprintf(out, "  %s\n", strings.TrimSpace("switchyard "+c.name+" "+s.name+" "+s.use))
			for k, v := range s.flags {
				flags[k] = v
			}
		}
	}
	fmt.Fprintln(out, "\nflags:")
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range append(names, "socket", "json", "help") {
		doc := flagDocs[n]
		val, text, ok := strings.Cut(doc, "  ")
		if !ok || !isValueDoc(val) {
			val, text = "", doc
		}
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		fmt.Fprintf(w, "  %s%s %s\t%s\n", dash, n, val, text)
	}
	w.Flush()
	return nil
}

// isValueDoc says whether the first part of a flag's doc names its value.
func isValueDoc(s string) bool {
	return s != "" && (strings.ToUpper(s) == s || strings.Contains(s, "|"))
}
