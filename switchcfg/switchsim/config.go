package switchsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Config is a running configuration in FRR's block structure: top-level
// lines, blocks (interface, router, vrf, route-map, line, and
// address-family and vni inside them) with their lines, as vtysh keeps it
// and "show running-config" prints it. The zero value is an empty
// configuration. A Config is not safe for concurrent use; a Server guards
// its own.
type Config struct {
	root  node
	stack []*node // the blocks configuration mode is in, outermost first
	// Strict refuses what FRR refuses and what a generated command list
	// must never do: leaving a block with another command than its own
	// (exit-address-family, exit-vrf, exit-vni, exit), leaving at the top
	// level. Without it "exit" leaves any block, as a person types it.
	Strict bool
}

type node struct {
	line     string
	block    bool
	children []*node
}

func (n *node) child(s string) *node {
	for _, c := range n.children {
		if c.line == s {
			return c
		}
	}
	return nil
}

func (n *node) add(s string) *node {
	if c := n.child(s); c != nil {
		return c
	}
	c := &node{line: s}
	n.children = append(n.children, c)
	return c
}

func (n *node) remove(s string) {
	n.children = slices.DeleteFunc(n.children, func(c *node) bool { return c.line == s })
}

// ErrRefused marks a command the simulated vtysh refuses; the error's text
// is what vtysh prints.
var ErrRefused = errors.New("refused")

type refusedError struct{ msg string }

func (e *refusedError) Error() string        { return e.msg }
func (e *refusedError) Is(target error) bool { return target == ErrRefused }

func refused(format string, a ...any) error { return &refusedError{msg: fmt.Sprintf(format, a...)} }

// ParseConfig reads a configuration as "show running-config" prints it or
// as a configuration file has it (indented blocks ended by exit,
// exit-address-family, exit-vrf, exit-vni). It accepts any input: comment
// lines (!), empty lines and vtysh's header lines are skipped, and empty
// interface, vrf and address-family blocks are dropped as FRR does not
// show them.
func ParseConfig(text []byte) *Config {
	type open struct {
		n      *node
		indent int
	}
	c := &Config{}
	stack := []open{{&c.root, -1}}
	for raw := range strings.SplitSeq(string(text), "\n") {
		rest := strings.TrimLeft(raw, " \t")
		indent := len(raw) - len(rest)
		line := strings.Join(strings.Fields(rest), " ")
		switch {
		case line == "", line[0] == '!',
			line == "Building configuration...", line == "Current configuration:":
			continue
		case line == "end":
			stack = stack[:1]
			continue
		case terminator(line):
			for len(stack) > 1 && stack[len(stack)-1].indent > indent {
				stack = stack[:len(stack)-1]
			}
			if top := stack[len(stack)-1]; len(stack) > 1 && top.indent == indent {
				top.n.block = true
				stack = stack[:len(stack)-1]
			}
			continue
		}
		for len(stack) > 1 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		parent := stack[len(stack)-1].n
		if parent != &c.root {
			parent.block = true
		}
		stack = append(stack, open{parent.add(line), indent})
	}
	prune(&c.root, 0)
	return c
}

func prune(n *node, depth int) {
	kept := n.children[:0]
	for _, c := range n.children {
		prune(c, depth+1)
		if len(c.children) == 0 && hiddenWhenEmpty(c.line, depth) {
			continue
		}
		kept = append(kept, c)
	}
	clear(n.children[len(kept):])
	n.children = kept
}

func hiddenWhenEmpty(line string, depth int) bool {
	switch firstWord(line) {
	case "address-family":
		return true
	case "interface", "vrf":
		return depth == 0
	}
	return false
}

func terminator(line string) bool {
	return line == "exit" || line == "end" ||
		strings.HasPrefix(line, "exit-") && !strings.Contains(line, " ")
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// singleValued are the settings of which a block has one: setting one
// replaces the one before.
var singleValued = []string{"frr defaults ", "hostname ", "description ", "ip router-id ", "bgp router-id ", "mtu "}

// ExitCommand is the command that leaves the block of header at depth (0
// for a top-level block): exit-address-family, exit-vrf (a top-level vrf),
// exit-vni (a vni inside a block) or exit.
func ExitCommand(header string, depth int) string {
	switch w := firstWord(header); {
	case w == "address-family":
		return "exit-address-family"
	case w == "vrf" && depth == 0:
		return "exit-vrf"
	case w == "vni" && depth > 0:
		return "exit-vni"
	}
	return "exit"
}

// Depth is how many blocks configuration mode is in (0 at the top level).
func (c *Config) Depth() int { return len(c.stack) }

// Mode is the name vtysh shows in its prompt for where configuration mode
// is: config, config-if, config-router, config-router-af, config-vrf,
// config-route-map, config-line, config-router-af-vni, ...
func (c *Config) Mode() string {
	mode := "config"
	for i, n := range c.stack {
		switch w := firstWord(n.line); {
		case w == "interface":
			mode = "config-if"
		case w == "router":
			mode = "config-router"
		case w == "vrf" && i == 0:
			mode = "config-vrf"
		case w == "route-map":
			mode = "config-route-map"
		case w == "line":
			mode = "config-line"
		case w == "address-family":
			mode += "-af"
		case w == "vni":
			mode += "-vni"
		default:
			mode = "config-" + w
		}
	}
	return mode
}

// End leaves every block, as "end" does.
func (c *Config) End() { c.stack = nil }

// Apply applies one configuration-mode command: a line, "no" and a line,
// or a command that leaves the current block. A line that starts a block
// (interface, router, vrf, route-map and line at the top level;
// address-family; vni inside an address-family) enters it. The error of a refused
// command (errors.Is ErrRefused) is what vtysh prints.
func (c *Config) Apply(cmd string) error {
	cmd = strings.Join(strings.Fields(cmd), " ")
	if cmd == "" {
		return nil
	}
	cur, depth := &c.root, len(c.stack)
	if depth > 0 {
		cur = c.stack[depth-1]
	}
	if cmd == "end" {
		if c.Strict {
			return refused("%% %q: a command list leaves its blocks one by one", cmd)
		}
		c.End()
		return nil
	}
	if cmd == "exit" || strings.HasPrefix(cmd, "exit-") && !strings.Contains(cmd, " ") {
		if depth == 0 {
			if c.Strict {
				return refused("%% %q: not in a block", cmd)
			}
			return nil
		}
		want := ExitCommand(cur.line, depth-1)
		if cmd != want && (c.Strict || cmd != "exit") {
			return refused("%% Unknown command: %s", cmd)
		}
		c.stack = c.stack[:depth-1]
		return nil
	}
	if target, ok := strings.CutPrefix(cmd, "no "); ok {
		w := firstWord(target)
		if w == "address-family" || depth == 0 && (w == "interface" || w == "vrf" || w == "line") {
			if cur.child(target) == nil {
				return refused("%% Unknown command: %s", cmd)
			}
			return refused("%% Only inactive %ss can be deleted", w)
		}
		if cur.child(target) != nil {
			cur.remove(target)
			return nil
		}
		if target == "description" { // FRR's "no description" takes no text
			cur.children = slices.DeleteFunc(cur.children, func(n *node) bool {
				return strings.HasPrefix(n.line, "description ")
			})
			return nil
		}
		// Otherwise a negated setting, kept as such below.
	}
	if cur.child("no "+cmd) != nil { // undoes a negated setting
		cur.remove("no " + cmd)
		return nil
	}
	// A setting with one value replaces the one set before.
	for _, p := range singleValued {
		if strings.HasPrefix(cmd, p) && (p != "frr defaults " || depth == 0) {
			cur.children = slices.DeleteFunc(cur.children, func(n *node) bool {
				return strings.HasPrefix(n.line, p) && n.line != cmd
			})
		}
	}
	n := cur.add(cmd)
	if w := firstWord(cmd); w == "address-family" ||
		w == "vni" && strings.HasPrefix(cur.line, "address-family ") ||
		depth == 0 && slices.Contains([]string{"interface", "router", "vrf", "route-map", "line"}, w) {
		n.block = true
		c.stack = append(c.stack, n)
	}
	return nil
}

// Show prints the configuration as vtysh's "show running-config" does,
// ending with "end".
func (c *Config) Show() []byte {
	var b strings.Builder
	b.WriteString("Building configuration...\n\nCurrent configuration:\n!\n")
	global := false // the last top-level line was a global one
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		for _, ch := range n.children {
			if len(ch.children) == 0 && hiddenWhenEmpty(ch.line, depth) {
				continue
			}
			isBlock := ch.block || len(ch.children) > 0
			if depth == 0 && isBlock && global {
				b.WriteString("!\n") // after the global lines
			}
			global = depth == 0 && !isBlock
			b.WriteString(strings.Repeat(" ", depth) + ch.line + "\n")
			if isBlock {
				walk(ch, depth+1)
				b.WriteString(strings.Repeat(" ", depth) + ExitCommand(ch.line, depth) + "\n")
				if depth == 0 {
					b.WriteString("!\n")
				}
			}
		}
	}
	top := &node{children: showOrder(c.root.children)}
	walk(top, 0)
	b.WriteString("end\n")
	return []byte(b.String())
}

// Clone returns a copy of the configuration at the top level.
func (c *Config) Clone() *Config { return ParseConfig(c.Show()) }

// showOrder is the order in which FRR shows the top level: the global
// lines, then vrf, interface (by name, numbers compared as numbers),
// router, route-map and other blocks, each kind in the order they were
// made but interfaces.
func showOrder(children []*node) []*node {
	rank := func(n *node) int {
		if !n.block && len(n.children) == 0 {
			return 0
		}
		switch firstWord(n.line) {
		case "vrf":
			return 1
		case "interface":
			return 2
		case "router":
			return 3
		case "route-map":
			return 4
		case "line":
			return 6
		}
		return 5
	}
	out := slices.Clone(children)
	slices.SortStableFunc(out, func(a, b *node) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if rank(a) == 2 {
			return compareNames(strings.TrimPrefix(a.line, "interface "), strings.TrimPrefix(b.line, "interface "))
		}
		return 0
	})
	return out
}

// compareNames compares interface names as FRR orders them: runs of
// digits as numbers, the rest byte by byte (swp2 before swp10).
func compareNames(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da != db {
			return strings.Compare(a[:1], b[:1])
		}
		ia, ib := chunk(a, da), chunk(b, db)
		ca, cb := a[:ia], b[:ib]
		if da {
			ta, tb := strings.TrimLeft(ca, "0"), strings.TrimLeft(cb, "0")
			if len(ta) != len(tb) {
				return len(ta) - len(tb)
			}
			ca, cb = ta, tb
		}
		if r := strings.Compare(ca, cb); r != 0 {
			return r
		}
		a, b = a[ia:], b[ib:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func chunk(s string, digits bool) int {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return i
}
