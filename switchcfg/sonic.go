package switchcfg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The commands a SONiC session runs, each as one SSH exec request. The
// management user's login shell (bash on SONiC) runs them, so the
// redirection of the upload works.
const (
	sonicShowRunning = "show runningconfiguration all"
	sonicUploadPath  = "/tmp/osism-config_db.json"
	sonicUpload      = "cat > " + sonicUploadPath
	sonicLoad        = "sudo config load -y " + sonicUploadPath
	sonicSave        = "sudo config save -y"

	// sonicOutputLimit bounds the command output an error carries.
	sonicOutputLimit = 2048
)

// SONiC is the Driver of SONiC switches (deployment type "sonic"; tested
// against the commands of SONiC 202305). SONiC keeps its configuration as
// JSON, config_db.json, so the driver is file-oriented: a session
//
//   - reads the running configuration with "show runningconfiguration all",
//     the JSON of CONFIG_DB;
//   - applies a rendered configuration by uploading it to
//     /tmp/osism-config_db.json (its bytes as the standard input of
//     "cat > /tmp/osism-config_db.json") and loading it with
//     "sudo config load -y /tmp/osism-config_db.json";
//   - saves with "sudo config save -y", which writes CONFIG_DB to
//     /etc/sonic/config_db.json.
//
// "config load" merges the file into CONFIG_DB (sonic-cfggen --write-to-db
// sets the fields given and leaves the others): it changes and adds, it
// never removes. Keys and fields the switch has that were not rendered stay
// on the switch, and SONiCDialect keeps reporting them as Extra.
//
// Every operation is one SSH exec channel, bounded by the Target's
// Timeout; when its context ends first, the channel is closed and the
// operation returns the context's error. A command exiting non-zero is an
// error carrying its output (trimmed, at most about 2 KB, the end kept).
//
// The management user needs password-less sudo for "config load" and
// "config save", as the admin user of a SONiC image has.
type SONiC struct{}

var (
	_ Driver  = SONiC{}
	_ Dialect = SONiCDialect{}
)

// Open connects to the switch t names over SSH: as t.User, with the
// private key in t.KeyFile (without passphrase) or t.Password (both are
// tried when both are set, the key first), the host key checked against
// t.KnownHosts unless t.InsecureIgnoreHostKey. Connecting and the SSH
// handshake are bounded by t's Timeout and by ctx. Errors name the switch
// and what failed; they never contain the password.
func (SONiC) Open(ctx context.Context, t Target) (Session, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.port()))
	auth, how, err := sonicAuth(t)
	if err != nil {
		return nil, err
	}
	hostKeys, err := sonicHostKeys(t)
	if err != nil {
		return nil, err
	}

	timeout := t.timeout()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w: no SSH session within %s", context.DeadlineExceeded, timeout))
	defer cancel()
	fail := func(err error) error { return fmt.Errorf("switch %s: ssh %s: %w", t.Switch, addr, err) }

	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return nil, fail(err)
	}
	// Closing the connection is what ends a handshake when ctx does.
	stop := context.AfterFunc(ctx, func() { conn.Close() })

	var hostKeyErr error
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			hostKeyErr = hostKeys.check(hostname, remote, key)
			return hostKeyErr
		},
		HostKeyAlgorithms: hostKeys.algorithms(addr, conn.RemoteAddr()),
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, fail(context.Cause(ctx))
	}
	if err != nil {
		conn.Close()
		switch {
		case hostKeyErr != nil:
			return nil, fail(hostKeyErr)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fail(fmt.Errorf("unable to authenticate with %s (user %s)", how, t.User))
		}
		return nil, fail(err)
	}
	return &sonicSession{
		name:    t.Switch,
		timeout: timeout,
		client:  ssh.NewClient(c, chans, reqs),
	}, nil
}

// sonicAuth returns the authentication methods of t and how they read in
// an error ("key /path", "password", "key /path or password").
func sonicAuth(t Target) ([]ssh.AuthMethod, string, error) {
	var (
		methods []ssh.AuthMethod
		how     []string
	)
	if t.KeyFile != "" {
		pem, err := os.ReadFile(t.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("switch %s: ssh key: %w", t.Switch, err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
				return nil, "", fmt.Errorf("switch %s: ssh key %s is protected by a passphrase; use a key without one", t.Switch, t.KeyFile)
			}
			return nil, "", fmt.Errorf("switch %s: ssh key %s: %w", t.Switch, t.KeyFile, err)
		}
		methods = append(methods, ssh.PublicKeys(signer))
		how = append(how, "key "+t.KeyFile)
	}
	if t.Password != "" {
		methods = append(methods, ssh.Password(t.Password))
		how = append(how, "password")
	}
	return methods, strings.Join(how, " or "), nil
}

// sonicHostKeyCheck checks host keys against a known_hosts file, or not
// at all (file "").
type sonicHostKeyCheck struct {
	file     string
	callback ssh.HostKeyCallback
}

func sonicHostKeys(t Target) (*sonicHostKeyCheck, error) {
	if t.InsecureIgnoreHostKey {
		return &sonicHostKeyCheck{callback: ssh.InsecureIgnoreHostKey()}, nil
	}
	cb, err := knownhosts.New(t.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("switch %s: known_hosts: %w", t.Switch, err)
	}
	return &sonicHostKeyCheck{file: t.KnownHosts, callback: cb}, nil
}

// check runs the callback and turns its verdict into a sentence.
func (h *sonicHostKeyCheck) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := h.callback(hostname, remote, key)
	if err == nil {
		return nil
	}
	which := fmt.Sprintf("host key %s %s", key.Type(), ssh.FingerprintSHA256(key))
	if ke, ok := errors.AsType[*knownhosts.KeyError](err); ok {
		if len(ke.Want) == 0 {
			return fmt.Errorf("%s is unknown: %s has no key of %s", which, h.file, hostname)
		}
		w := ke.Want[0]
		return fmt.Errorf("%s does not match the key in %s:%d (%s %s); if the switch was reinstalled, update known_hosts",
			which, w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key))
	}
	if re, ok := errors.AsType[*knownhosts.RevokedError](err); ok {
		return fmt.Errorf("%s is revoked in %s:%d", which, re.Revoked.Filename, re.Revoked.Line)
	}
	return fmt.Errorf("%s: %w", which, err)
}

// algorithms returns the host key algorithms of the keys known_hosts has
// for the switch, so that the handshake asks for a key it can check: a
// switch offering RSA, ECDSA and Ed25519 keys would otherwise be asked for
// ECDSA, and fail as a mismatch when known_hosts holds only its Ed25519
// key. Nil (the defaults) without a known_hosts file or keys for the
// switch.
func (h *sonicHostKeyCheck) algorithms(addr string, remote net.Addr) []string {
	if h.file == "" {
		return nil
	}
	ke, ok := errors.AsType[*knownhosts.KeyError](h.callback(addr, remote, sonicProbeKey{}))
	if !ok {
		return nil
	}
	var algos []string
	for _, w := range ke.Want {
		switch typ := w.Key.Type(); typ {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, typ)
		}
	}
	slices.Sort(algos)
	return slices.Compact(algos)
}

// sonicProbeKey is a public key no known_hosts file holds: checking it
// lists the keys that are known for a host.
type sonicProbeKey struct{}

func (sonicProbeKey) Type() string    { return "osism-probe" }
func (sonicProbeKey) Marshal() []byte { return []byte("\x00\x00\x00\x0bosism-probe") }
func (sonicProbeKey) Verify([]byte, *ssh.Signature) error {
	return errors.New("probe key")
}

// sonicSession is an open SSH connection to a SONiC switch.
type sonicSession struct {
	name    string
	timeout time.Duration
	client  *ssh.Client

	applyMu   sync.Mutex // Apply calls share the upload file
	closeOnce sync.Once
	closeErr  error
}

// RunningConfig returns the output of "show runningconfiguration all":
// CONFIG_DB as JSON.
func (s *sonicSession) RunningConfig(ctx context.Context) ([]byte, error) {
	out, err := s.run(ctx, sonicShowRunning, sonicShowRunning, nil)
	if err != nil {
		return nil, err
	}
	if !json.Valid(out) {
		// The output is the configuration, secrets and all: it is not quoted.
		return nil, fmt.Errorf("switch %s: %s: output is not JSON (%d bytes; not quoted, since a configuration holds secrets)", s.name, sonicShowRunning, len(out))
	}
	return out, nil
}

// Apply uploads rendered and loads it with "config load"; running is not
// needed. Rendered must be a config_db JSON object (tables of keys of
// fields); otherwise nothing is sent. Sent lists the steps run, the failed
// one included.
func (s *sonicSession) Apply(ctx context.Context, rendered, _ []byte) ([]string, error) {
	if _, err := parseSONiCConfig(rendered, nil); err != nil {
		return nil, fmt.Errorf("switch %s: rendered configuration: %w", s.name, err)
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()

	upload := fmt.Sprintf("upload %s (%d bytes)", sonicUploadPath, len(rendered))
	sent := []string{upload}
	if _, err := s.run(ctx, upload, sonicUpload, rendered); err != nil {
		return sent, err
	}
	sent = append(sent, sonicLoad)
	if _, err := s.run(ctx, sonicLoad, sonicLoad, nil); err != nil {
		return sent, err
	}
	return sent, nil
}

// Save runs "sudo config save -y": /etc/sonic/config_db.json becomes what
// CONFIG_DB holds.
func (s *sonicSession) Save(ctx context.Context) error {
	_, err := s.run(ctx, sonicSave, sonicSave, nil)
	return err
}

// Close closes the SSH connection; calling it again does nothing.
func (s *sonicSession) Close() error {
	s.closeOnce.Do(func() {
		if err := s.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("switch %s: close ssh: %w", s.name, err)
		}
	})
	return s.closeErr
}

// run runs cmd in one exec channel, stdin (when not nil) as its standard
// input, and returns its standard output. op names the step in errors.
// When ctx ends or the session's timeout passes first, the channel is
// closed and run returns at once.
func (s *sonicSession) run(ctx context.Context, op, cmd string, stdin []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, fmt.Errorf("%w: no answer within %s", context.DeadlineExceeded, s.timeout))
	defer cancel()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("switch %s: %s: %w", s.name, op, context.Cause(ctx))
	}

	type result struct {
		stdout, output []byte
		err            error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			// A panic in the SSH library is an error of this step.
			if p := recover(); p != nil {
				done <- result{err: &PanicError{What: "switch " + s.name + ": " + op, Value: p, Stack: debug.Stack()}}
			}
		}()
		sess, err := s.client.NewSession()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer sess.Close()
		stop := context.AfterFunc(ctx, func() { sess.Close() })
		defer stop()

		var stdout bytes.Buffer
		output := &sonicTail{max: 2 * sonicOutputLimit}
		sess.Stdout = io.MultiWriter(&stdout, output)
		sess.Stderr = output
		if stdin != nil {
			sess.Stdin = bytes.NewReader(stdin)
		}
		err = sess.Run(cmd)
		done <- result{stdout: stdout.Bytes(), output: output.bytes(), err: err}
	}()

	select {
	case r := <-done:
		if r.err == nil {
			return r.stdout, nil
		}
		// What a failed command printed may quote the configuration.
		output := sonicBound([]byte(sonicMaskJSON(string(r.output))))
		if ee, ok := errors.AsType[*ssh.ExitError](r.err); ok {
			return nil, &sonicExitError{name: s.name, op: op, status: ee.ExitStatus(), output: output, err: ee}
		}
		if ctx.Err() != nil {
			// Closing the channel when ctx ended is what made the
			// command end (without an exit status, most often).
			return nil, fmt.Errorf("switch %s: %s: %w", s.name, op, context.Cause(ctx))
		}
		if _, ok := errors.AsType[*ssh.ExitMissingError](r.err); ok {
			return nil, fmt.Errorf("switch %s: %s: ended without an exit status: %s", s.name, op, output)
		}
		return nil, fmt.Errorf("switch %s: %s: %w", s.name, op, r.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("switch %s: %s: %w", s.name, op, context.Cause(ctx))
	}
}

// sonicExitError is a command that exited non-zero, with what it printed.
// It unwraps to the *ssh.ExitError.
type sonicExitError struct {
	name, op string
	status   int
	output   string // trimmed and bounded
	err      error
}

func (e *sonicExitError) Error() string {
	msg := fmt.Sprintf("switch %s: %s: exit status %d", e.name, e.op, e.status)
	if e.output != "" {
		msg += ": " + e.output
	}
	return msg
}

func (e *sonicExitError) Unwrap() error { return e.err }

// sonicTail keeps the last max bytes written to it, for both output
// streams at once.
type sonicTail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *sonicTail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *sonicTail) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.buf)
}

// sonicBound trims output and keeps at most its last sonicOutputLimit
// bytes, cut at a character boundary.
func sonicBound(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) <= sonicOutputLimit {
		return s
	}
	s = s[len(s)-sonicOutputLimit:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return "…" + s
}

// SONiCDialect compares SONiC configurations: config_db.json, a JSON
// object of tables, each an object of keys, each an object of fields:
//
//	{"PORT": {"Ethernet0": {"admin_status": "up", "mtu": "9100"}},
//	 "VLAN_MEMBER": {"Vlan100|Ethernet0": {"tagging_mode": "untagged"}}}
//
// Compare reports paths "TABLE|key|field=value" (a key missing or extra
// as a whole: "TABLE|key"), each list sorted; a field whose value differs
// is missing with the rendered value and extra with the running one.
//
// Only the tables the rendered configuration has are compared: a switch
// runs many tables OSISM does not manage (FEATURE, CRM, FLEX_COUNTER_TABLE,
// VERSIONS, ...), and they are left out. Within a rendered table every key
// and field counts, so a table rendered empty ({}) reports each key the
// switch has in it as Extra.
//
// Values compare as CONFIG_DB stores them, as strings: the number 9100
// equals "9100". A list compares as its compact JSON, in order.
//
// The dialect is file-oriented: Commands returns nil (SONiC.Apply loads
// the rendered file whole).
type SONiCDialect struct{}

// Compare reports how running differs from rendered in the tables
// rendered has. A side that is not a config_db JSON object makes a Report
// with one Missing entry that says why.
func (SONiCDialect) Compare(rendered, running []byte) Report {
	want, err := parseSONiCConfig(rendered, nil)
	if err != nil {
		return Report{Missing: []string{"rendered configuration is not config_db JSON: " + err.Error()}}
	}
	have, err := parseSONiCConfig(running, func(table string) bool { _, ok := want[table]; return ok })
	if err != nil {
		return Report{Missing: []string{"running configuration is not config_db JSON: " + err.Error()}}
	}

	var r Report
	for table, wantKeys := range want {
		haveKeys := have[table]
		for key, wantFields := range wantKeys {
			haveFields, ok := haveKeys[key]
			if !ok {
				r.Missing = append(r.Missing, table+"|"+key)
				continue
			}
			for field, v := range wantFields {
				if hv, ok := haveFields[field]; !ok || hv != v {
					r.Missing = append(r.Missing, table+"|"+key+"|"+field+"="+v)
				}
			}
			for field, hv := range haveFields {
				if v, ok := wantFields[field]; !ok || hv != v {
					r.Extra = append(r.Extra, table+"|"+key+"|"+field+"="+hv)
				}
			}
		}
		for key := range haveKeys {
			if _, ok := wantKeys[key]; !ok {
				r.Extra = append(r.Extra, table+"|"+key)
			}
		}
	}
	sort.Strings(r.Missing)
	sort.Strings(r.Extra)
	return r
}

// Commands returns nil: SONiC loads its configuration as a file.
func (SONiCDialect) Commands(rendered, running []byte) []string { return nil }

// sonicConfig is config_db.json: table → key → field → value.
type sonicConfig map[string]map[string]map[string]string

// parseSONiCConfig parses config_db JSON, of the tables keep accepts (all
// with keep nil); the other tables are not looked into.
func parseSONiCConfig(b []byte, keep func(table string) bool) (sonicConfig, error) {
	tables, err := sonicObject(b)
	if err != nil {
		return nil, err
	}
	cfg := make(sonicConfig, len(tables))
	for table, raw := range tables {
		if keep != nil && !keep(table) {
			continue
		}
		keys, err := sonicObject(raw)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", table, err)
		}
		cfg[table] = make(map[string]map[string]string, len(keys))
		for key, raw := range keys {
			fields, err := sonicObject(raw)
			if err != nil {
				return nil, fmt.Errorf("%s|%s: %w", table, key, err)
			}
			vals := make(map[string]string, len(fields))
			for field, raw := range fields {
				v, err := sonicValue(raw)
				if err != nil {
					return nil, fmt.Errorf("%s|%s|%s: %w", table, key, field, err)
				}
				vals[field] = v
			}
			cfg[table][key] = vals
		}
	}
	return cfg, nil
}

// sonicObject decodes a JSON object, refusing anything else (null too).
func sonicObject(b []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return nil, errors.New("empty, want a JSON object")
	}
	if trimmed[0] != '{' {
		var v any
		if err := json.Unmarshal(trimmed, &v); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s, want a JSON object", sonicKind(v))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// sonicValue returns a field's value as CONFIG_DB holds it: a string as
// is, a number as written, anything else as compact JSON.
func sonicValue(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func sonicKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// sonicSecretField matches the config_db fields that hold secrets.
var sonicSecretField = regexp.MustCompile(`(?i)pass|secret|key|token|community`)

// sonicSecretKeyTables are the tables whose keys are secrets: an SNMP
// community is the key of its entry in SNMP_COMMUNITY.
var sonicSecretKeyTables = []string{"SNMP_COMMUNITY"}

// sonicFieldStart finds "|field=" in a report entry.
var sonicFieldStart = regexp.MustCompile(`\|([A-Za-z0-9_.@-]+)=`)

// Mask replaces the secrets of a report entry "TABLE|key|field=value" (or
// of a sentence that quotes one) with Masked: the value of every field
// whose name says it holds a secret (passkey, password, secret, auth_key,
// token, community, ...), and the key of a table whose keys are secrets
// (SNMP_COMMUNITY|<community>). A key may hold "|" and "=" itself, so
// each "|name=" is looked at, and once a secret field is found the rest of
// the line is masked.
func (SONiCDialect) Mask(line string) string {
	for _, table := range sonicSecretKeyTables {
		line = sonicMaskKeys(line, table+"|")
	}
	for _, m := range sonicFieldStart.FindAllStringSubmatchIndex(line, -1) {
		if sonicSecretField.MatchString(line[m[2]:m[3]]) {
			if line[m[1]:] == Masked {
				return line
			}
			return line[:m[1]] + Masked
		}
	}
	return line
}

// sonicMaskKeys masks the key after each prefix ("SNMP_COMMUNITY|") in
// line: up to the "|field=" that follows it, or the end of the line.
func sonicMaskKeys(line, prefix string) string {
	var b strings.Builder
	for {
		i := strings.Index(line, prefix)
		if i < 0 {
			b.WriteString(line)
			return b.String()
		}
		b.WriteString(line[:i+len(prefix)])
		rest := line[i+len(prefix):]
		end := len(rest)
		if m := sonicFieldStart.FindAllStringIndex(rest, -1); len(m) > 0 {
			end = m[len(m)-1][0]
		}
		if end > 0 {
			b.WriteString(Masked)
		}
		line = rest[end:]
	}
}

// sonicMaskJSON masks, in command output that may quote config_db JSON,
// the value of each field whose name says it holds a secret, and the keys
// of SNMP_COMMUNITY.
func sonicMaskJSON(out string) string {
	out = sonicJSONSecret.ReplaceAllString(out, `$1"`+Masked+`"`)
	if i := strings.Index(out, `"SNMP_COMMUNITY"`); i >= 0 {
		// Every community is a key of the table's object: cut it all.
		out = out[:i] + `"SNMP_COMMUNITY": ` + Masked
	}
	return out
}

// sonicJSONSecret matches "secret_field": "value" in JSON text.
var sonicJSONSecret = regexp.MustCompile(`("[^"]*(?i:pass|secret|key|token|community)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"`)
