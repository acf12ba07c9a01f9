package switchcfg

import (
	"fmt"
	"regexp"
	"strings"
)

// FRR is the dialect of FRRouting's vtysh: the rendered files of the
// built-in template and what "show running-config" prints.
//
// # Reading a configuration
//
// Both sides are read into a tree by indentation: a line followed by more
// deeply indented lines is a block header ("interface swp1", "router bgp
// 65101", " address-family ipv4 unicast", "vrf red", "route-map RM permit
// 10", ...) and those lines are its block. Inside a line runs of
// whitespace count as one space; leading and trailing whitespace is
// dropped. Comments (lines starting with "!"), blank lines, the preamble
// "Building configuration..." and "Current configuration:", and the block
// terminators ("exit", "exit-address-family", "exit-vrf", "exit-vni", ...
// and "end") are not configuration; a terminator only ends its block, so a
// header closed right away ("interface swp1" then "exit") is still a
// block. A block whose header appears twice is one block with the lines of
// both, and a line repeated in a block counts once.
//
// An interface or vrf block without lines, and an address-family block
// without lines, count as absent on both sides: vtysh does not show them,
// so a rendered one could never be found on the switch.
//
// # Comparing
//
// Compare reports the lines of the rendered configuration the running one
// lacks (Missing, in rendered order) and the lines of the running one that
// were not rendered (Extra, in running order). An entry is the line's path
// of block headers joined with " / ", e.g.
// "router bgp 65101 / address-family ipv4 unicast / redistribute connected";
// a block missing or extra as a whole is one entry, its header. Top-level
// lines matching Ignore are left out on both sides, an ignored block
// header with its whole block.
//
// # Commands
//
// Commands returns the lines to send in configuration mode (after
// "configure terminal"; the caller enters and leaves it) that turn the
// running configuration into the rendered one: first every removal, then
// every addition. A command inside a block is sent after the block's
// header (and the headers above it) and followed by the block's terminator
// ("exit-address-family" for address-family, "exit-vrf" for a top-level
// vrf, "exit-vni" for a vni block, "exit" for the others), so every block
// is left again; lines of one block are sent in one visit of it.
//
// Removals go through the running configuration last line first, so a
// line goes before the lines it may depend on (a peer group's members
// before the peer group's remote-as, that before the peer group):
//
//   - A line is removed with "no <line>"; a line that is itself a "no ..."
//     is removed by sending it without its "no ". The few commands whose
//     "no" form takes no arguments are removed with "no <command>":
//     "description text" with "no description" (vtysh does not know "no
//     description text"), likewise "password" and "enable password".
//   - A block is removed whole with "no <header>" ("no router bgp 65001",
//     "no route-map RM permit 10"), except the blocks FRR cannot delete
//     that way: an interface or vrf that exists in the kernel ("only
//     inactive interfaces can be deleted"), an address-family, and a line
//     block. Those are emptied line by line instead, which makes FRR stop
//     showing them.
//   - "frr defaults" has no "no" form and is not removed; the rendered
//     "frr defaults" line, sent as an addition, replaces it.
//
// Additions go through the rendered configuration in order: a missing
// line is sent inside its block; a missing block is sent whole, its
// header, its lines and nested blocks, and its terminator.
//
// A setting FRR keeps one value of (an interface's description, "bgp
// router-id") that changed is removed and then added with the new value
// ("no bgp router-id 10.0.0.1", later "bgp router-id 10.0.0.2"; "no
// description", later "description new"): FRR accepts both, so no
// knowledge of which settings are single-valued is needed.
//
// FRR needs no I/O and is safe for concurrent use as long as Ignore is not
// changed meanwhile.
type FRR struct {
	// Ignore lists the top-level lines FRR shows that OSISM does not
	// manage (DefaultFRRIgnore): a top-level line matching one of them is
	// left out of Compare and Commands on both sides, a matching block
	// header with its whole block. Lines are matched after normalisation:
	// without indentation, whitespace runs as one space. Append to it to
	// leave out more, e.g. regexp.MustCompile(`^ip route `).
	Ignore []*regexp.Regexp
	// EndOptional accepts a running configuration that does not end with
	// "end". FRR's, EOS's and IOS's end with it, and one without it was
	// cut short (see [FRR.Complete]); NX-OS's does not, and other
	// platforms scrapligo ships are not known to.
	EndOptional bool
}

// Completer is a Dialect that can tell a complete running configuration
// from a read cut short (scrapligo sometimes returns before the switch
// has printed all of it). Complete returns nil for a complete one, else
// what is wrong.
type Completer interface {
	Complete(running []byte) error
}

var _ Completer = (*FRR)(nil)

// Complete checks that running ends with FRR's "end" line, unless
// EndOptional.
func (f *FRR) Complete(running []byte) error {
	if f.EndOptional {
		return nil
	}
	text := strings.TrimRight(string(running), " \t\r\n")
	last := text[strings.LastIndexByte(text, '\n')+1:]
	if strings.TrimSpace(last) != "end" {
		return fmt.Errorf("the running configuration (%d bytes) does not end with \"end\"", len(running))
	}
	return nil
}

// frrIgnore are the patterns of DefaultFRRIgnore.
var frrIgnore = []string{
	`^frr version `,                     // the version banner
	`^hostname `,                        // applies to vtysh only in FRR 8.4; not rendered
	`^service integrated-vtysh-config$`, // how frr.conf is kept
	`^(no )?ip(v6)? forwarding$`,        // follows the kernel's sysctls
	`^log `,                             // logging is the host's business
	`^line vty`,                         // the vty block
	`^end$`,                             // the end of the listing
}

// DefaultFRRIgnore returns the top-level lines of an FRR running
// configuration that OSISM does not manage, a new slice on each call:
// "frr version ...", "hostname ...", "service integrated-vtysh-config",
// "[no] ip forwarding" and "[no] ipv6 forwarding", "log ...", the
// "line vty" block and "end". "frr defaults ..." is managed: the built-in
// template renders it and FRR shows it.
func DefaultFRRIgnore() []*regexp.Regexp {
	res := make([]*regexp.Regexp, len(frrIgnore))
	for i, p := range frrIgnore {
		res[i] = regexp.MustCompile(p)
	}
	return res
}

// NewFRR returns the FRR dialect with Ignore set to DefaultFRRIgnore.
func NewFRR() *FRR { return &FRR{Ignore: DefaultFRRIgnore()} }

var _ Dialect = (*FRR)(nil)

// Compare reports how running differs from rendered (see FRR). The
// report's Switch is left empty; Missing and Extra are never nil.
func (f *FRR) Compare(rendered, running []byte) Report {
	want, have := parseFRR(rendered), parseFRR(running)
	return Report{
		Missing: f.diff(want, have, nil, []string{}),
		Extra:   f.diff(have, want, nil, []string{}),
	}
}

// Commands returns the vtysh configuration-mode lines that turn running
// into rendered (see FRR), or nil when there is nothing to change.
func (f *FRR) Commands(rendered, running []byte) []string {
	want, have := parseFRR(rendered), parseFRR(running)
	cmds := f.removals(want, have, 0, nil)
	cmds = f.additions(want, have, 0, cmds)
	if len(cmds) == 0 {
		return nil
	}
	return cmds
}

// ignored reports whether a top-level line is one f leaves out.
func (f *FRR) ignored(line string) bool {
	if f == nil {
		return false
	}
	for _, re := range f.Ignore {
		if re != nil && re.MatchString(line) {
			return true
		}
	}
	return false
}

// diff appends to out the path of every line of a that b lacks, in a's
// order; a block b lacks is one entry. path holds the headers above a.
func (f *FRR) diff(a, b *frrNode, path []string, out []string) []string {
	for _, n := range a.children {
		if len(path) == 0 && f.ignored(n.line) {
			continue
		}
		p := append(path[:len(path):len(path)], n.line)
		m := b.child(n.line)
		if m == nil {
			out = append(out, strings.Join(p, " / "))
			continue
		}
		out = f.diff(n, m, p, out)
	}
	return out
}

// removals appends to out the commands that remove what have, a block at
// depth (the root at 0 holding the top-level lines), has and want lacks,
// last line first.
func (f *FRR) removals(want, have *frrNode, depth int, out []string) []string {
	for i := len(have.children) - 1; i >= 0; i-- {
		h := have.children[i]
		if depth == 0 && f.ignored(h.line) {
			continue
		}
		w := want.child(h.line)
		if w == nil {
			out = frrRemove(h, depth, out)
			continue
		}
		out = frrWithin(h, depth, out, func(out []string) []string {
			return f.removals(w, h, depth+1, out)
		})
	}
	return out
}

// additions appends to out the commands that add what want, a block at
// depth, has and have lacks, in want's order.
func (f *FRR) additions(want, have *frrNode, depth int, out []string) []string {
	for _, w := range want.children {
		if depth == 0 && f.ignored(w.line) {
			continue
		}
		h := have.child(w.line)
		if h == nil {
			out = frrAdd(w, depth, out)
			continue
		}
		out = frrWithin(w, depth, out, func(out []string) []string {
			return f.additions(w, h, depth+1, out)
		})
	}
	return out
}

// frrWithin appends body's commands to out inside the block n at depth: its
// header before them, its terminator after; nothing when body adds none.
func frrWithin(n *frrNode, depth int, out []string, body func([]string) []string) []string {
	mark := len(out)
	out = body(append(out, n.line))
	if len(out) == mark+1 {
		return out[:mark]
	}
	return append(out, frrExit(n.line, depth))
}

// frrRemove appends to out the commands that remove the line or block n
// at depth whole.
func frrRemove(n *frrNode, depth int, out []string) []string {
	switch {
	case depth == 0 && strings.HasPrefix(n.line, "frr defaults "):
		return out // no "no" form; the rendered one replaces it
	case n.isBlock(depth) && !frrDeletable(n.line, depth):
		return frrWithin(n, depth, out, func(out []string) []string {
			for i := len(n.children) - 1; i >= 0; i-- {
				out = frrRemove(n.children[i], depth+1, out)
			}
			return out
		})
	default:
		return append(out, frrNo(n.line))
	}
}

// frrBareNo are the commands whose "no" form takes none of their
// arguments: vtysh knows "no description", not "no description text".
var frrBareNo = []string{"description", "password", "enable password"}

// frrNo returns the command that removes the line: "no <line>", the line
// without its "no " when it is a "no ..." itself, and for a command of
// frrBareNo "no <command>".
func frrNo(line string) string {
	if pos, ok := strings.CutPrefix(line, "no "); ok {
		return pos
	}
	for _, c := range frrBareNo {
		if strings.HasPrefix(line, c+" ") {
			return "no " + c
		}
	}
	return "no " + line
}

// frrAdd appends to out the commands that add the line or block n at depth
// whole.
func frrAdd(n *frrNode, depth int, out []string) []string {
	out = append(out, n.line)
	if !n.isBlock(depth) {
		return out
	}
	for _, c := range n.children {
		out = frrAdd(c, depth+1, out)
	}
	return append(out, frrExit(n.line, depth))
}

// frrNode is one line of an FRR configuration with the lines of its block;
// the root of a tree has no line and holds the top-level lines.
type frrNode struct {
	line     string
	block    bool // had lines or was ended by a terminator
	children []*frrNode
	index    map[string]*frrNode
}

// child returns n's line s, or nil; n may be nil.
func (n *frrNode) child(s string) *frrNode {
	if n == nil {
		return nil
	}
	return n.index[s]
}

// add returns n's line s, appending it when n has none.
func (n *frrNode) add(s string) *frrNode {
	if c := n.child(s); c != nil {
		return c
	}
	c := &frrNode{line: s}
	if n.index == nil {
		n.index = make(map[string]*frrNode)
	}
	n.index[s] = c
	n.children = append(n.children, c)
	return c
}

// isBlock reports whether n, at depth, is a block header: it has lines,
// was ended by a terminator, or starts as one of FRR's block commands do.
func (n *frrNode) isBlock(depth int) bool {
	if n.block || len(n.children) > 0 {
		return true
	}
	word := frrFirstWord(n.line)
	if word == "address-family" {
		return true
	}
	if depth > 0 {
		return false
	}
	switch word {
	case "interface", "router", "vrf", "route-map", "line", "key", "bfd",
		"segment-routing", "nexthop-group", "pbr-map", "rpki", "l2vpn":
		return true
	}
	return false
}

// prune drops, below n at depth, the blocks FRR does not show when they
// are empty: interface and vrf at the top level, address-family anywhere.
func (n *frrNode) prune(depth int) {
	kept := n.children[:0]
	for _, c := range n.children {
		c.prune(depth + 1)
		if len(c.children) == 0 && frrHiddenWhenEmpty(c.line, depth) {
			delete(n.index, c.line)
			continue
		}
		kept = append(kept, c)
	}
	clear(n.children[len(kept):])
	n.children = kept
}

func frrHiddenWhenEmpty(line string, depth int) bool {
	switch frrFirstWord(line) {
	case "address-family":
		return true
	case "interface", "vrf":
		return depth == 0
	}
	return false
}

// frrDeletable reports whether the block header at depth can be removed
// with "no <header>".
func frrDeletable(header string, depth int) bool {
	switch frrFirstWord(header) {
	case "address-family":
		return false
	case "interface", "vrf", "line":
		return depth > 0
	}
	return true
}

// frrExit returns the command that leaves the block of header at depth.
func frrExit(header string, depth int) string {
	switch frrFirstWord(header) {
	case "address-family":
		return "exit-address-family"
	case "vrf":
		if depth == 0 {
			return "exit-vrf"
		}
	case "vni":
		if depth > 0 {
			return "exit-vni"
		}
	case "link-params":
		return "exit-link-params"
	}
	return "exit"
}

// frrTerminator reports whether line only ends a block.
func frrTerminator(line string) bool {
	return line == "exit" || line == "end" ||
		strings.HasPrefix(line, "exit-") && !strings.Contains(line, " ")
}

func frrFirstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// parseFRR reads an FRR configuration, rendered or as "show
// running-config" prints it, into a tree (see FRR). It accepts any input.
func parseFRR(text []byte) *frrNode {
	type open struct {
		n      *frrNode
		indent int
	}
	root := &frrNode{}
	stack := []open{{root, -1}}
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
		case frrTerminator(line):
			// It ends the block whose header is as indented as it is.
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
		if parent != root {
			parent.block = true
		}
		stack = append(stack, open{parent.add(line), indent})
	}
	root.prune(0)
	return root
}

// frrSecretWords are the words after which an FRR (or IOS-like) line holds
// a secret: "neighbor X password S", "password S", "enable secret 5 S",
// "ip ospf authentication-key S", "ip ospf message-digest-key 1 md5 S",
// "snmp-server community S ro", "key-string S", "isis password md5 S",
// "tacacs-server host H key 7 S".
var frrSecretWords = map[string]bool{
	"password": true, "secret": true, "key-string": true, "authentication-key": true,
	"community": true, "area-password": true, "domain-password": true, "md5": true, "key": true,
}

// frrSecretAfter are the pairs of words after which the next word is a
// secret: "ip rip authentication string S" (RIP's simple password) and
// "ip nhrp authentication S" (NHRP's).
var frrSecretAfter = map[string]bool{
	"authentication string": true,
	"nhrp authentication":   true,
}

// frrSecretTypes are the words between a secret word and the secret that
// say how the secret is given.
var frrSecretTypes = map[string]bool{
	"0": true, "5": true, "7": true, "8": true, "9": true, "clear": true, "md5": true,
	"hmac-md5": true, "hmac-sha-1": true, "hmac-sha-256": true, "encrypted": true,
}

// Mask replaces the secrets of a line (a command, or a report entry
// "block / line") with Masked: the word after password, secret, key-string,
// authentication-key, community, area-password, domain-password, md5 and
// key (not a key chain's "key 1" at the start of a line), after an
// optional word that says the secret's kind ("7", "md5", "clear", ...);
// and the word after "authentication string" (RIP) and "nhrp
// authentication" (NHRP).
func (f *FRR) Mask(line string) string { return maskPath(line, frrMask) }

func frrMask(line string) string {
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	words := strings.Fields(line)
	changed := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if i+1 < len(words) && i > 0 && frrSecretAfter[words[i-1]+" "+w] {
			// "ip rip authentication string S", "ip nhrp authentication S"
			if words[i+1] != Masked {
				words[i+1] = Masked
				changed = true
			}
			i++
			continue
		}
		if !frrSecretWords[w] || i+1 >= len(words) {
			continue
		}
		first := i == 0 || i == 1 && words[0] == "no"
		if w == "key" && first {
			continue // "key 1" opens a key chain's key
		}
		if w == "md5" && (i < 2 || words[i-2] != "message-digest-key") {
			continue // only "message-digest-key 1 md5 S"; "password md5 S" is handled at password
		}
		j := i + 1
		if frrSecretTypes[words[j]] && j+1 < len(words) {
			j++
		}
		if words[j] != Masked {
			words[j] = Masked
			changed = true
		}
		i = j
	}
	if !changed {
		return line
	}
	return indent + strings.Join(words, " ")
}
