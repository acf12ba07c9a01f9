package ansible

import (
	"fmt"
	"regexp"

	"github.com/osism/go-osism/internal/redact"
)

// DefaultSecretPattern matches the extra-var keys whose values are masked
// when Config.SecretPattern is empty: keys that name a password, a
// secret, a token or a key.
const DefaultSecretPattern = redact.DefaultPattern

// Masked is what stands for a secret value in records, the history file
// and printed commands.
const Masked = redact.Masked

var defaultSecret = redact.Default

// SecretRegexp compiles Config.SecretPattern (DefaultSecretPattern when
// empty); the error names the setting.
func (c Config) SecretRegexp() (*regexp.Regexp, error) {
	if c.SecretPattern == "" {
		return defaultSecret, nil
	}
	re, err := regexp.Compile(c.SecretPattern)
	if err != nil {
		return nil, fmt.Errorf("ansible secret_pattern %q: expected a regular expression: %w", c.SecretPattern, err)
	}
	return re, nil
}

// MaskArgs returns a copy of the ansible-playbook arguments args in which
// the value of every extra-var whose key matches pattern (nil:
// DefaultSecretPattern) is Masked. It reads -e the way ansible-playbook
// does: the option as argparse finds it (-e x, -ex, -e=x, --extra-vars x,
// --extra-vars=x, abbreviated, and at the end of other short flags, -Je x),
// then the value as ansible loads it: an @file reference stays; a value
// that starts with { or [ is a YAML or JSON document whose matching keys
// are masked at any depth; anything else is key=value pairs split as
// ansible's split_args does, with escapes in keys decoded. Where it cannot
// be sure (a document or pairs that do not parse, a key it cannot decode,
// escapes in a secret pair) it masks the whole value. args itself is not
// changed: what runs gets the real values.
func MaskArgs(args []string, pattern *regexp.Regexp) []string { return redact.Args(args, pattern) }
