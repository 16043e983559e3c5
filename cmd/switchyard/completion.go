package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// flagValues are the values a flag takes, when there is a fixed list, for
// completion.
var flagValues = map[string]string{
	"type":            "tap system internal patch vxlan geneve gre",
	"fdb-full-policy": "refuse evict-oldest",
	"log-level":       "debug info warn",
	"offload":         "on off",
	"devices":         "os memory",
	"udp-csum":        "on off",
	"encap":           "vxlan geneve gre",
	"direction":       "in out both",
	"kind":            "fdb port tunnel config daemon capture",
}

// cmdCompletion runs `switchyard completion bash`.
func cmdCompletion(argv []string, out io.Writer) error {
	p, err := parse("completion", argv, flagSpec{})
	if err != nil {
		return err
	}
	if err := p.want(1, 1, "bash"); err != nil {
		return err
	}
	if p.args[0] != "bash" {
		return usagef("shell: %q; allowed: bash", p.args[0])
	}
	fmt.Fprint(out, bashCompletion())
	return nil
}

func flagWords(s flagSpec) string {
	var l []string
	for n := range s {
		if len(n) == 1 {
			l = append(l, "-"+n)
		} else {
			l = append(l, "--"+n)
		}
	}
	sort.Strings(l)
	l = append(l, "--socket", "--json", "--help")
	return strings.Join(l, " ")
}

func valueFlags(s flagSpec) []string {
	var l []string
	for n, v := range s {
		if v {
			l = append(l, n)
		}
	}
	sort.Strings(l)
	return l
}

// bashCompletion writes the completion script from the command table:
// commands, subcommands, each one's flags, the values of flags that take a
// fixed set, and bridge and port names (asked of the daemon, through
// `switchyard __complete`) for the positional arguments that are bridges
// or ports.
func bashCompletion() string {
	var b strings.Builder
	b.WriteString(`# bash completion for switchyard; load with: source <(switchyard completion bash)
_switchyard() {
    local cur prev cmd sub i sock="" w
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local -a pos=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        case "$w" in
            --socket) i=$((i + 1)); sock="${COMP_WORDS[i]}" ;;
            --socket=*) sock="${w#--socket=}" ;;
            -*) ;;
            *) pos+=("$w") ;;
        esac
    done
    local -a sockarg=()
    [[ -n "$sock" ]] && sockarg=(--socket "$sock")
    cmd="${pos[0]}"
    sub="${pos[1]}"
    case "$prev" in
        --socket|-w|--file|--state-dir) COMPREPLY=($(compgen -f -- "$cur")); return ;;
`)
	vals := make([]string, 0, len(flagValues))
	for n := range flagValues {
		vals = append(vals, n)
	}
	sort.Strings(vals)
	for _, n := range vals {
		fmt.Fprintf(&b, "        --%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", n, flagValues[n])
	}
	// Flags that take a free value: complete nothing.
	free := map[string]bool{}
	for _, c := range commands {
		for _, n := range valueFlags(c.flags) {
			free[n] = true
		}
		for _, s := range c.subs {
			for _, n := range valueFlags(s.flags) {
				free[n] = true
			}
		}
	}
	var frees []string
	for n := range free {
		if _, ok := flagValues[n]; !ok && n != "file" && n != "state-dir" && n != "w" {
			frees = append(frees, "--"+n)
		}
	}
	sort.Strings(frees)
	if len(frees) > 0 {
		fmt.Fprintf(&b, "        %s) return ;;\n", strings.Join(frees, "|"))
	}
	b.WriteString("    esac\n")
	b.WriteString("    if [[ ${#pos[@]} -eq 0 ]]; then\n")
	fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W %q -- \"$cur\")); return\n", strings.Join(commandNames(), " ")+" --socket --json --help")
	b.WriteString("    fi\n    local flags=\"\" args=\"\" npos=$((${#pos[@]} - 1)) bi=1\n    case \"$cmd\" in\n")
	for _, c := range commands {
		if c.hidden {
			continue
		}
		fmt.Fprintf(&b, "        %s)\n", c.name)
		if c.subs == nil {
			if c.name == "help" {
				b.WriteString("            [[ $npos -eq 0 ]] && { COMPREPLY=($(compgen -W \"" + strings.Join(commandNames(), " ") + "\" -- \"$cur\")); return; }\n")
			}
			fmt.Fprintf(&b, "            flags=%q; args=%q ;;\n", flagWords(c.flags), strings.Join(argKinds(c.args), " "))
			continue
		}
		var names []string
		for _, s := range c.subs {
			names = append(names, s.name)
		}
		fmt.Fprintf(&b, "            if [[ $npos -eq 0 ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(names, " "))
		b.WriteString("            npos=$((npos - 1)); bi=2\n            case \"$sub\" in\n")
		for _, s := range c.subs {
			fmt.Fprintf(&b, "                %s) flags=%q; args=%q ;;\n", s.name, flagWords(s.flags), strings.Join(argKinds(s.args), " "))
		}
		b.WriteString("            esac ;;\n")
	}
	b.WriteString(`    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur")); return
    fi
    local -a kinds=($args)
    local kind="${kinds[$npos]}" bridge=""
    # The bridge is the first positional argument after the (sub)command.
    [[ "$args" == bridge* ]] && bridge="${pos[$bi]}"
    case "$kind" in
        bridge) COMPREPLY=($(compgen -W "$(switchyard __complete bridges "${sockarg[@]}" 2>/dev/null)" -- "$cur")) ;;
        port) COMPREPLY=($(compgen -W "$(switchyard __complete ports "$bridge" "${sockarg[@]}" 2>/dev/null)" -- "$cur")) ;;
        file) COMPREPLY=($(compgen -f -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "$flags" -- "$cur")) ;;
    esac
}
complete -F _switchyard switchyard
`)
	return b.String()
}

func argKinds(a []string) []string {
	l := make([]string, len(a))
	for i, k := range a {
		if k == "" {
			k = "-"
		}
		l[i] = k
	}
	return l
}

// cmdComplete runs `switchyard __complete bridges|ports BRIDGE`: names for
// the completion script, one per line, nothing on error.
func cmdComplete(argv []string, out io.Writer) error {
	p, err := parse("__complete", argv, flagSpec{})
	if err != nil || len(p.args) == 0 {
		return nil
	}
	s, err := client(p).Show()
	if err != nil {
		return nil
	}
	switch p.args[0] {
	case "bridges":
		for _, b := range s.Bridges {
			fmt.Fprintln(out, b.Name)
		}
	case "ports":
		for _, b := range s.Bridges {
			if len(p.args) > 1 && b.Name != p.args[1] {
				continue
			}
			for _, port := range b.Ports {
				fmt.Fprintln(out, port.Name)
			}
		}
	}
	return nil
}
