package ansible_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/internal/testenv"
)

func TestMaskArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		pattern *regexp.Regexp
		want    []string
	}{
		{name: "password", args: []string{"-e", "password=x"}, want: []string{"-e", "password=******"}},
		{name: "a key that ends in secret", args: []string{"-e", "db_secret=y", "-l", "node-1"}, want: []string{"-e", "db_secret=******", "-l", "node-1"}},
		{name: "key itself", args: []string{"-e", "key=k1"}, want: []string{"-e", "key=******"}},
		{name: "pass and upper case", args: []string{"-e", "ROOT_PASS=a"}, want: []string{"-e", "ROOT_PASS=******"}},
		{name: "JSON extra-vars", args: []string{"--extra-vars", `{"api_token": "z", "x": 1}`}, want: []string{"--extra-vars", `{"api_token":"******","x":1}`}},
		{name: "nested JSON", args: []string{"-e", `{"db": {"password": "p", "user": "u"}, "list": [{"token": "t"}]}`},
			want: []string{"-e", `{"db":{"password":"******","user":"u"},"list":[{"token":"******"}]}`}},
		{name: "a secret key masks the whole value", args: []string{"-e", `{"secrets": {"a": "b"}}`}, want: []string{"-e", `{"secrets":"******"}`}},
		{name: "YAML flow extra-vars", args: []string{"-e", `{api_token: z, x: y}`}, want: []string{"-e", `{"api_token":"******","x":"y"}`}},
		{name: "a document that does not parse is masked whole", args: []string{"-e", `{"api_token": "z"`}, want: []string{"-e", "******"}},
		{name: "several pairs in one value", args: []string{"-e", "user=u password='a b' x=1"}, want: []string{"-e", "user=u password=****** x=1"}},
		{name: "attached short option", args: []string{"-epassword=x"}, want: []string{"-epassword=******"}},
		{name: "combined short options", args: []string{"-ve", "token=x", "-vetoken=y"}, want: []string{"-ve", "token=******", "-vetoken=******"}},
		{name: "long option with =", args: []string{"--extra-vars=token=x"}, want: []string{"--extra-vars=token=******"}},
		{name: "abbreviated long option", args: []string{"--extra", "token=x", "--ex=secret=y"}, want: []string{"--extra", "token=******", "--ex=secret=******"}},
		{name: "files and other options stay", args: []string{"-e", "@/srv/secrets.yml", "-l", "token=x", "--vault-password-file", "/run/key"},
			want: []string{"-e", "@/srv/secrets.yml", "-l", "token=x", "--vault-password-file", "/run/key"}},
		{name: "harmless vars stay verbatim", args: []string{"-e", "x=y  z=w"}, want: []string{"-e", "x=y  z=w"}},
		{name: "a trailing -e", args: []string{"-e"}, want: []string{"-e"}},
		{name: "a configured pattern", args: []string{"-e", "password=x", "-e", "community=public"}, pattern: regexp.MustCompile(`^community$`),
			want: []string{"-e", "password=x", "-e", "community=******"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := append([]string(nil), tc.args...)
			got := ansible.MaskArgs(tc.args, tc.pattern)
			require.Equal(t, tc.want, got)
			require.Equal(t, in, tc.args, "the arguments themselves are not changed")
			require.Equal(t, got, ansible.MaskArgs(got, tc.pattern), "masking is idempotent")
		})
	}
	require.Nil(t, ansible.MaskArgs(nil, nil))
}

// FuzzMaskArgs: whatever the value, a secret extra-var's value appears in
// none of the masked arguments; masking keeps the number of arguments,
// leaves arguments that are no extra-vars alone and is idempotent.
func FuzzMaskArgs(f *testing.F) {
	f.Add("hunter2", "-l")
	f.Add(`s3cr"et`, "node-1")
	f.Add("a'b c", "--extra-vars")
	f.Add("{x}", "-e")
	f.Add("=", "password=x")
	f.Fuzz(func(t *testing.T, value, other string) {
		args := []string{"-e", "db_password=" + shellish(value), "--extra-vars", jsonDoc(t, "api_token", value),
			"-e", "@" + other, "--limit", other, "-etoken=" + shellish(value), other}
		got := ansible.MaskArgs(args, nil)
		require.Len(t, got, len(args))
		require.Equal(t, args[4:7], got[4:7], "a file reference and other options stay")
		if !strings.HasPrefix(other, "-") {
			require.Equal(t, other, got[7])
		}
		require.Equal(t, got, ansible.MaskArgs(got, nil), "idempotent")
		if len(value) >= 3 && !strings.Contains("db_password=******{\"api_token\":}-etoken=", value) {
			for i, a := range got[:4] {
				require.NotContains(t, a, value, "argument %d", i)
			}
			require.NotContains(t, got[8], value)
		}
		// Any list of arguments: no panic, the same length, idempotent.
		free := []string{other, value, "-e", other + value}
		m := ansible.MaskArgs(free, nil)
		require.Len(t, m, len(free))
		require.Equal(t, m, ansible.MaskArgs(m, nil))
	})
}

// shellish quotes v the way a user would for ansible's key=value form.
func shellish(v string) string { return "'" + strings.ReplaceAll(v, "'", `\'`) + "'" }

func jsonDoc(t *testing.T, key, v string) string {
	b, err := json.Marshal(map[string]string{key: v})
	require.NoError(t, err)
	return string(b)
}

func TestSecretPatternConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SecretPattern = "("
	_, err := cfg.Command(ansible.Run{Environment: "generic", Role: "hello"})
	require.ErrorContains(t, err, `ansible secret_pattern "(": expected a regular expression`)
	require.ErrorContains(t, cfg.Validate(), "secret_pattern")

	cfg.SecretPattern = "^community$"
	cmd, err := cfg.Command(ansible.Run{Environment: "generic", Role: "hello", Args: []string{"-e", "community=public", "-e", "password=x"}})
	require.NoError(t, err)
	require.Contains(t, cmd.String(), "-e 'community=******' -e password=x")
	require.Equal(t, []string{"-e", "community=public", "-e", "password=x"}, cmd.Args[len(cmd.Args)-4:], "the command runs with the real values")
}

// The command's printed form and its masked copy hide secret extra-vars;
// the command that runs keeps them.
func TestCommandMasked(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	args := []string{"-e", "password=x1", "-e", "db_secret=y1", "--extra-vars", `{"api_token": "z1"}`, "-e", "key=k1", "-e", "x=visible"}
	cmd, err := cfg.Command(ansible.Run{Environment: "generic", Role: "hello", Args: args})
	require.NoError(t, err)
	require.Equal(t, args, cmd.Args[len(cmd.Args)-len(args):])
	m := cmd.Masked()
	data, err := json.Marshal(m)
	require.NoError(t, err)
	for _, s := range []string{cmd.String(), string(data)} {
		for _, secret := range []string{"x1", "y1", "z1", "k1"} {
			require.NotContains(t, s, secret)
		}
		require.Contains(t, s, "x=visible")
		require.Contains(t, s, "password=******")
	}
	require.Equal(t, args, cmd.Args[len(cmd.Args)-len(args):], "Masked leaves the command alone")
}

// The history file records the arguments masked; the playbook gets the
// real values.
func TestHistoryMasksSecrets(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Playbook = playbookBinary(t)
	var out lines
	res, err := cfg.Run(context.Background(), ansible.Run{Environment: "generic", Role: "hello", TaskID: "task-2",
		Args: []string{"-e", "extra=s3cr3t-extra", "-e", "extra_token=s3cr3t-token", "-e", `{"api_key": "s3cr3t-json"}`}}, out.add)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode)
	require.Contains(t, out.text(), "extra=s3cr3t-extra", "the playbook gets the value of a key that is not secret")

	cfg.Playbook = writeScript(t, `for a in "$@"; do echo "arg:$a"; done`)
	out = lines{}
	_, err = cfg.Run(context.Background(), ansible.Run{Environment: "generic", Role: "hello", TaskID: "task-3",
		Args: []string{"-e", "db_password=s3cr3t-pw"}}, out.add)
	require.NoError(t, err)
	require.Contains(t, out.all(), "arg:db_password=s3cr3t-pw", "ansible-playbook receives the real value")

	data, err := os.ReadFile(cfg.HistoryFile)
	require.NoError(t, err)
	for _, secret := range []string{"s3cr3t-token", "s3cr3t-json", "s3cr3t-pw"} {
		require.NotContains(t, string(data), secret)
	}
	require.Contains(t, string(data), `"extra_token=******"`)
	require.Contains(t, string(data), `"db_password=******"`)
	require.Contains(t, string(data), `"extra=s3cr3t-extra"`)
}

// writeScript writes an executable shell script that stands in for
// ansible-playbook.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-playbook")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return p
}

// hostileExtraVars are ways to hand ansible-playbook a secret extra-var
// that a masker reading -e naively lets through. Each plants s3cr3t.
var hostileExtraVars = []struct {
	name string
	args []string
	want []string
}{
	{"-e=", []string{"-e=password=s3cr3t"}, []string{"-e=password=******"}},
	{"short flags ending in e", []string{"-Je", "password=s3cr3t"}, []string{"-Je", "password=******"}},
	{"check and diff before e", []string{"-CDe", "token=s3cr3t"}, []string{"-CDe", "token=******"}},
	{"short flags, e and =", []string{"-vvve=token=s3cr3t"}, []string{"-vvve=token=******"}},
	{"short flags before a document", []string{"-Ce", `{"db": {"token": "s3cr3t"}}`}, []string{"-Ce", `{"db":{"token":"******"}}`}},
	{"--extra-vars=", []string{"--extra-vars=password=s3cr3t"}, []string{"--extra-vars=password=******"}},
	{"abbreviated --extra-vars=", []string{"--extra-v=api_key=s3cr3t"}, []string{"--extra-v=api_key=******"}},
	{"a leading space before @", []string{"-e", " @vars.yml password=s3cr3t"}, []string{"-e", "@vars.yml password=******"}},
	{"an escaped space", []string{"-e", `x=\ password=s3cr3t`}, []string{"-e", `x=\ password=******`}},
	{"an escaped key", []string{"-e", `pass\x77ord=s3cr3t`}, []string{"-e", "******"}},
	{"a unicode-escaped key", []string{"-e", `p\u0061ssword=s3cr3t`}, []string{"-e", "******"}},
	{"an escaped quote in the key", []string{"-e", `\"password=s3cr3t`}, []string{"-e", "******"}},
	{"a tab inside the value", []string{"-e", "token=s3cr3t\tmore=x"}, []string{"-e", "token=******"}},
	{"a tab after the key", []string{"-e", "token\t=s3cr3t"}, []string{"-e", "token\t=******"}},
	{"a newline between pairs", []string{"-e", "x=1\npassword=s3cr3t"}, []string{"-e", "x=1\n password=******"}},
	{"a quoted value with spaces", []string{"-e", `password="s3cr3t and more" x=1`}, []string{"-e", "password=****** x=1"}},
	{"a Jinja2 value", []string{"-e", `password={{ 's3cr3t' }}`}, []string{"-e", "password=******"}},
	{"a JSON document", []string{"-e", `{"password": "s3cr3t"}`}, []string{"-e", `{"password":"******"}`}},
	{"a YAML flow document", []string{"-e", `{password: s3cr3t, x: 1}`}, []string{"-e", `{"password":"******","x":1}`}},
	{"a document that does not parse", []string{"-e", `{"password": "s3cr3t"`}, []string{"-e", "******"}},
	{"quotes that do not parse", []string{"-e", `password='s3cr3t`}, []string{"-e", "******"}},
	{"a leading = before the key", []string{"-e", "=password=s3cr3t"}, []string{"-e", "=password=******"}},
	{"a file reference stays", []string{"-e", "@/srv/password=s3cr3t.yml"}, []string{"-e", "@/srv/password=s3cr3t.yml"}},
	{"--extra-vars=@file stays", []string{"--extra-vars=@token.yml"}, []string{"--extra-vars=@token.yml"}},
}

func TestMaskArgsHostile(t *testing.T) {
	t.Parallel()
	for _, tc := range hostileExtraVars {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ansible.MaskArgs(tc.args, nil)
			require.Equal(t, tc.want, got)
			require.Equal(t, got, ansible.MaskArgs(got, nil), "masking is idempotent")
		})
	}
}

// ansibleSecrets asks ansible itself (its argument parser, parse_kv and
// YAML loader) which values it loads under a key that pattern matches,
// for each argument list; nil where ansible-playbook refuses the list.
func ansibleSecrets(t *testing.T, argvs [][]string, pattern *regexp.Regexp) [][]string {
	t.Helper()
	playbook := testenv.AnsiblePlaybook(t)
	data, err := os.ReadFile(playbook)
	require.NoError(t, err)
	line, _, _ := strings.Cut(string(data), "\n")
	python := strings.Fields(strings.TrimPrefix(line, "#!"))
	require.NotEmpty(t, python, "the interpreter of %s", playbook)
	in, err := json.Marshal(argvs)
	require.NoError(t, err)
	cmd := exec.Command(python[0], append(python[1:], "testdata/ansible_extra_vars.py")...)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var pairs [][][2]string
	require.NoError(t, json.Unmarshal(out, &pairs))
	secrets := make([][]string, len(pairs))
	for i, ps := range pairs {
		if ps == nil {
			continue
		}
		secrets[i] = []string{}
		for _, p := range ps {
			if pattern.MatchString(p[0]) {
				secrets[i] = append(secrets[i], p[1])
			}
		}
	}
	return secrets
}

// Ansible itself is the reference: every value it loads under a secret
// key, from each hostile form, is gone from the masked arguments.
func TestMaskArgsAgainstAnsible(t *testing.T) {
	t.Parallel()
	argvs := make([][]string, len(hostileExtraVars))
	for i, tc := range hostileExtraVars {
		argvs[i] = tc.args
	}
	secrets := ansibleSecrets(t, argvs, regexp.MustCompile(ansible.DefaultSecretPattern))
	for i, tc := range hostileExtraVars {
		masked := strings.Join(ansible.MaskArgs(tc.args, nil), " ")
		if secrets[i] == nil {
			// -J (--ask-vault-password) is newer than some ansible-core.
			t.Logf("%s: this ansible-playbook refuses %q", tc.name, tc.args)
			continue
		}
		if !strings.Contains(tc.name, "stays") && !strings.Contains(tc.name, "not parse") {
			require.NotEmpty(t, secrets[i], "%s: ansible loads a secret from %q", tc.name, tc.args)
		}
		for _, s := range secrets[i] {
			if len(s) >= 4 {
				require.NotContains(t, masked, s, "%s: %q", tc.name, tc.args)
			}
		}
	}
}

// secretForms are the ways FuzzMaskExtraVars hands the option and a
// secret key to ansible-playbook; %s is where the pair goes.
var secretForms = []struct{ opt, key string }{
	{"-e", "password"}, {"-e=", "db_secret"}, {"-Je", "api_token"}, {"-vvve", "KEY"}, {"--extra-vars", "ROOT_PASS"},
	{"--extra-vars=", "token"}, {"--extra", "password\t"}, {"-CDe", "  password"}, {"-e", `pass\x77ord`}, {"-e", `p\u0061ssword`},
}

// FuzzMaskExtraVars: a secret value planted after a secret-looking key,
// in any of the forms ansible-playbook reads, with fuzzed text before and
// after the pair, never survives masking; masking keeps the number of
// arguments and never panics.
func FuzzMaskExtraVars(f *testing.F) {
	f.Add(uint8(0), "x=1", "hunter2", "y=2")
	f.Add(uint8(2), "", "s3cr3t", "")
	f.Add(uint8(8), `x=\`, "a b", "\t")
	f.Add(uint8(4), " @f", "v", "{{ x }}")
	f.Fuzz(func(t *testing.T, form uint8, before, value, after string) {
		fm := secretForms[int(form)%len(secretForms)]
		// The planted value: a token of its own that nothing else in the
		// arguments contains.
		secret := fmt.Sprintf("Zq%xQz", value)
		for _, sep := range []string{" ", "\n"} {
			kv := fm.key + "=" + secret
			pair := strings.TrimLeft(before, " \n\t") + sep + kv + sep + strings.TrimRight(after, " \n\t")
			if strings.ContainsAny(before+after, `'"{}#%\`) || strings.HasPrefix(pair, "@") || strings.HasPrefix(pair, "[") {
				// Quotes, Jinja2 and escapes around the pair may make it
				// part of another key's value, and @ or [ first make the
				// value a file name or a document; the pair alone then.
				pair = kv
			}
			var args []string
			if strings.HasSuffix(fm.opt, "=") || fm.opt == "-vvve" {
				args = []string{fm.opt + pair}
			} else {
				args = []string{fm.opt, pair}
			}
			got := ansible.MaskArgs(args, nil)
			require.Len(t, got, len(args))
			for _, a := range got {
				require.NotContains(t, a, secret, "%q", args)
			}
			if strings.Contains(fm.key, `\`) {
				continue // in a document the escape is the key's text
			}
			doc := jsonDoc(t, strings.TrimSpace(fm.key), secret)
			for _, a := range ansible.MaskArgs([]string{"-e", doc, "--extra-vars=" + doc}, nil) {
				require.NotContains(t, a, secret, "%q", doc)
			}
		}
	})
}
