package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// usageError is a rejected command line: exit code 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// flagSpec lists a command's flags: name → takes a value.
type flagSpec map[string]bool

// common flags every client command takes.
var common = flagSpec{"socket": true, "json": false, "help": false}

// parsed is a command line split into positional arguments and flags.
// Flags may come before, between or after the positional arguments.
type parsed struct {
	cmd   string
	args  []string
	flags map[string]string
	set   map[string]bool
}

func parse(cmd string, argv []string, spec flagSpec) (*parsed, error) {
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
		takes, ok := spec[name]
		if !ok {
			takes, ok = common[name]
		}
		if !ok {
			return nil, usagef("unknown flag --%s for `switchyard %s`; allowed: %s", name, cmd, spec.list())
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
		p.flags[name] = val
		p.set[name] = true
	}
	return p, nil
}

func (s flagSpec) list() string {
	var l []string
	for n, v := range s {
		if v {
			l = append(l, "--"+n+" VALUE")
		} else {
			l = append(l, "--"+n)
		}
	}
	sort.Strings(l)
	l = append(l, "--socket PATH", "--json")
	return strings.Join(l, ", ")
}

// intFlag parses an integer flag, naming it in the error.
func (p *parsed) intFlag(name, allowed string) (int, error) {
	v, ok := p.flags[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, usagef("%s: %q is not a number; allowed: %s", name, v, allowed)
	}
	return n, nil
}

// want checks the number of positional arguments.
func (p *parsed) want(min, max int, usage string) error {
	if len(p.args) < min || len(p.args) > max {
		return usagef("usage: switchyard %s %s", p.cmd, usage)
	}
	return nil
}
