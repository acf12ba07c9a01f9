// Package redact masks the values of secret ansible-playbook extra-vars,
// for package ansible (the history file, printed commands) and package
// osism (task records), which may not import each other.
package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

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
// DefaultPattern) is Masked. It understands -e and --extra-vars
// (also attached, -ekey=v, --extra-vars=..., abbreviated, --extra, and
// after other short flags, -ve), values of key=value pairs (several in one
// argument, quoted as ansible reads them) and JSON or YAML documents, whose
// matching keys are masked at any depth. @file arguments name a file and
// stay; a document that does not parse but mentions a matching key is
// masked whole. args itself is not changed: what runs gets the real values.
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

// noArgShort are ansible-playbook's short flags that take no value, so
// that -e may follow them in one argument (-ve x=y).
const noArgShort = "vCDbKkh"

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
			return a[:j+1], a[j+1:], false
		case strings.IndexByte(noArgShort, a[j]) < 0:
			return "", "", false
		}
	}
	return "", "", false
}

// maskExtraVars masks one extra-vars value the way ansible reads it: a
// file reference, a YAML (or JSON) document, or key=value pairs.
func maskExtraVars(v string, pattern *regexp.Regexp) string {
	t := strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(t, "@"):
		return v
	case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
		return maskDocument(v, pattern)
	}
	tokens := splitKV(v)
	masked := false
	for i, tok := range tokens {
		if k, _, ok := strings.Cut(tok, "="); ok && pattern.MatchString(k) {
			tokens[i] = k + "=" + Masked
			masked = true
		}
	}
	if !masked {
		return v
	}
	return strings.Join(tokens, " ")
}

// splitKV splits key=value pairs at white space outside quotes, as
// ansible's parse_kv does; quotes and backslashes stay in the tokens.
func splitKV(s string) []string {
	var tokens []string
	var cur strings.Builder
	var quote byte
	inToken := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			cur.WriteByte(ch)
			cur.WriteByte(s[i+1])
			i++
			inToken = true
		case quote != 0:
			cur.WriteByte(ch)
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
			cur.WriteByte(ch)
			inToken = true
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inToken {
				tokens = append(tokens, cur.String())
				cur.Reset()
				inToken = false
			}
		default:
			cur.WriteByte(ch)
			inToken = true
		}
	}
	if inToken {
		tokens = append(tokens, cur.String())
	}
	return tokens
}

// maskDocument masks the matching keys of a YAML or JSON document and
// returns it as JSON; a document that does not parse is masked whole when
// the pattern finds anything in it.
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
			if pattern.MatchString(v) {
				return Masked
			}
			return v
		}
	}
	doc = maskValue(doc, pattern)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// A YAML document JSON cannot hold (a map with non-string keys).
		if pattern.MatchString(v) {
			return Masked
		}
		return v
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
