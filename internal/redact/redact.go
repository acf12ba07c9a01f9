// Package redact masks the values of secret ansible-playbook extra-vars,
// for package ansible (the history file, printed commands) and package
// osism (task records), which may not import each other.
package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v4"
)

// DefaultPattern matches the extra-var keys whose values are masked
// unless configured otherwise: keys that name a password, a secret, a
// token or a key.
const DefaultPattern = `(?i)(pass(word)?|secret|token|key)`

// Masked is what stands for a secret value.
const Masked = "******"

// Default is DefaultPattern compiled.
var Default = regexp.MustCompile(DefaultPattern)

// Args returns a copy of the ansible-playbook arguments args in which
// the value of every extra-var whose key matches pattern (nil:
// DefaultPattern) is Masked. It reads -e the way ansible-playbook does:
// the option as argparse finds it (-e x, -ex, -e=x, --extra-vars x,
// --extra-vars=x, abbreviated, and at the end of other short flags, -Je
// x), then the value as ansible loads it (an @file reference stays; a
// value that starts with { or [ is a YAML or JSON document whose matching
// keys are masked at any depth; anything else is key=value pairs split as
// ansible's split_args does, with escapes in keys decoded). Where it
// cannot be sure (a document or pairs that do not parse, a key it cannot
// decode, escapes in a secret pair) it masks the whole value. args itself
// is not changed: what runs gets the real values.
func Args(args []string, pattern *regexp.Regexp) []string {
	if args == nil {
		return nil
	}
	if pattern == nil {
		pattern = Default
	}
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		prefix, value, next := extraVarsOption(out[i])
		switch {
		case next:
			if i+1 < len(out) {
				out[i+1] = maskExtraVars(out[i+1], pattern)
				i++
			}
		case prefix != "":
			out[i] = prefix + maskExtraVars(value, pattern)
		}
	}
	return out
}

// valueShort are ansible-playbook's short options that take a value: what
// follows one of them in an argument is its value, never -e. Any other
// letter may stand before e in one argument (-ve, -Je, and letters this
// list does not know are treated the same, which can only mask more).
const valueShort = "MfilctTu"

// extraVarsOption reports whether a is the extra-vars option: with the
// value in the next argument (next), or attached (prefix is a up to the
// value, value the rest).
func extraVarsOption(a string) (prefix, value string, next bool) {
	if long, ok := strings.CutPrefix(a, "--"); ok {
		name, v, attached := strings.Cut(long, "=")
		if name == "" || !strings.HasPrefix("extra-vars", name) {
			return "", "", false
		}
		if attached {
			return a[:len(a)-len(v)], v, false
		}
		return "", "", true
	}
	if len(a) < 2 || a[0] != '-' {
		return "", "", false
	}
	for j := 1; j < len(a); j++ {
		switch {
		case a[j] == 'e':
			if j+1 == len(a) {
				return "", "", true
			}
			// argparse reads -e=x as -e with the value x.
			if a[j+1] == '=' {
				j++
			}
			return a[:j+1], a[j+1:], false
		case strings.IndexByte(valueShort, a[j]) >= 0:
			return "", "", false
		}
	}
	return "", "", false
}

// maskExtraVars masks one extra-vars value the way ansible's
// load_extra_vars reads it: a file reference, a YAML (or JSON) document,
// or key=value pairs. Like ansible it looks at the first byte as it is:
// " @f" and " {...}" are pairs.
func maskExtraVars(v string, pattern *regexp.Regexp) string {
	switch {
	case v == "" || v[0] == '@':
		return v
	case v[0] == '{' || v[0] == '[':
		return maskDocument(v, pattern)
	}
	params, ok := splitArgs(v)
	if !ok {
		return Masked
	}
	masked := false
	for i, p := range params {
		pos, key, sure := kvKey(p)
		if pos < 0 || (sure && !pattern.MatchString(key)) {
			continue
		}
		raw := p[:pos]
		if !sure || strings.Contains(p, "\\") || strings.ContainsAny(raw, "'\"{}#%") {
			// The key may not be what the text shows (escapes), or it is
			// quoted or templated: the pairs cannot be shown safely one
			// by one.
			return Masked
		}
		params[i] = raw + "=" + Masked
		masked = true
	}
	if !masked {
		return v
	}
	return strings.Join(params, " ")
}

// kvKey finds the key of one pair as ansible's parse_kv does: escapes
// decoded, the first = after the first byte that no backslash escapes,
// the key stripped. pos is the index of that = in p (-1: no pair); sure
// is false when the escapes in p cannot be decoded with certainty.
func kvKey(p string) (pos int, key string, sure bool) {
	x, sure := decodeEscapes(p)
	for i := 1; i < len(x); i++ {
		if x[i] == '=' && x[i-1] != '\\' {
			if !sure {
				return 0, pyStrip(x[:i]), false
			}
			return i, pyStrip(x[:i]), true
		}
	}
	if !sure && strings.Contains(x, "=") {
		return 0, "", false
	}
	return -1, "", sure
}

// pyStrip is Python's str.strip: Unicode white space and the
// separators \x1c to \x1f.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f })
}

var escapeRE = regexp.MustCompile(`\\U[0-9a-fA-F]{8}|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\N\{[^}]+\}|\\[\\'"abfnrtv]`)

// decodeEscapes decodes the escapes ansible's _decode_escapes does. ok
// is false when it cannot be sure what ansible makes of s (\N{name}, or a
// code point out of range).
func decodeEscapes(s string) (string, bool) {
	if !strings.Contains(s, "\\") {
		return s, true
	}
	ok := true
	return escapeRE.ReplaceAllStringFunc(s, func(m string) string {
		switch m[1] {
		case 'U', 'u', 'x':
			n, err := strconv.ParseUint(m[2:], 16, 32)
			if err != nil || n > unicode.MaxRune {
				ok = false
				return m
			}
			return string(rune(n))
		case 'N':
			ok = false
			return m
		}
		if r, found := map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v"}[m[1]]; found {
			return r
		}
		return m[1:]
	}), ok
}

// splitArgs splits key=value pairs as ansible's split_args does: at
// spaces and newlines (not tabs), keeping quoted strings and Jinja2
// blocks together, a lone backslash continuing the line. ok is false
// where ansible fails to split (unbalanced quotes or blocks).
func splitArgs(args string) (params []string, ok bool) {
	var quote byte
	var printDepth, blockDepth, commentDepth int
	items := strings.Split(args, "\n")
	for itemIdx, item := range items {
		tokens := strings.Split(item, " ")
		lineContinuation := false
		for idx, token := range tokens {
			if token == "" && idx != 0 {
				if len(params) == 0 {
					return nil, false
				}
				params[len(params)-1] += " "
				continue
			}
			if token == "\\" && quote == 0 {
				lineContinuation = true
				continue
			}
			wasInside := quote != 0
			quote = quoteState(token, quote)
			inside := quote != 0
			appended := false
			inBlock := printDepth != 0 || blockDepth != 0 || commentDepth != 0
			switch {
			case inside && !wasInside && !inBlock:
				params = append(params, token)
				appended = true
			case inBlock || inside || wasInside:
				if len(params) == 0 {
					return nil, false
				}
				last := &params[len(params)-1]
				switch {
				case idx == 0 && wasInside:
					*last += token
				case len(tokens) > 1:
					if idx > 0 {
						*last += " "
					}
					*last += token
				default:
					*last += "\n" + token
				}
				appended = true
			}
			for _, b := range []struct {
				depth       *int
				open, close string
			}{{&printDepth, "{{", "}}"}, {&blockDepth, "{%", "%}"}, {&commentDepth, "{#", "#}"}} {
				prev := *b.depth
				if n := strings.Count(token, b.open) - strings.Count(token, b.close); n != 0 {
					*b.depth = max(*b.depth+n, 0)
				}
				if *b.depth != prev && !appended {
					params = append(params, token)
					appended = true
				}
			}
			if printDepth == 0 && blockDepth == 0 && commentDepth == 0 && !inside && !appended && token != "" {
				params = append(params, token)
			}
		}
		if len(items) > 1 && itemIdx != len(items)-1 && !lineContinuation {
			if len(params) == 0 {
				return nil, false
			}
			params[len(params)-1] += "\n"
		}
	}
	if printDepth != 0 || blockDepth != 0 || commentDepth != 0 || quote != 0 {
		return nil, false
	}
	return params, true
}

// quoteState is ansible's _get_quote_state: the quote token leaves open,
// given the one open before it.
func quoteState(token string, quote byte) byte {
	for i := 0; i < len(token); i++ {
		c := token[i]
		if (c == '"' || c == '\'') && (i == 0 || token[i-1] != '\\') {
			switch {
			case quote == 0:
				quote = c
			case c == quote:
				quote = 0
			}
		}
	}
	return quote
}

// maskDocument masks the matching keys of a YAML or JSON document and
// returns it as JSON; a document that does not parse is masked whole.
func maskDocument(v string, pattern *regexp.Regexp) string {
	var doc any
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	err := dec.Decode(&doc)
	if err == nil && dec.More() {
		err = fmt.Errorf("trailing data")
	}
	if err != nil {
		doc = nil
		if yerr := yaml.Unmarshal([]byte(v), &doc); yerr != nil || doc == nil {
			// Ansible fails on it too; what it holds cannot be told.
			return Masked
		}
	}
	doc = maskValue(doc, pattern)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// A YAML document JSON cannot hold.
		return Masked
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func maskValue(v any, pattern *regexp.Regexp) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if pattern.MatchString(k) {
				v[k] = Masked
			} else {
				v[k] = maskValue(x, pattern)
			}
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			ks := fmt.Sprint(k)
			if pattern.MatchString(ks) {
				m[ks] = Masked
			} else {
				m[ks] = maskValue(x, pattern)
			}
		}
		return m
	case []any:
		for i, x := range v {
			v[i] = maskValue(x, pattern)
		}
		return v
	}
	return v
}
