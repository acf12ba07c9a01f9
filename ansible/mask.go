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
// DefaultSecretPattern) is Masked. It understands -e and --extra-vars
// (also attached, -ekey=v, --extra-vars=..., abbreviated, --extra, and
// after other short flags, -ve), values of key=value pairs (several in one
// argument, quoted as ansible reads them) and JSON or YAML documents, whose
// matching keys are masked at any depth. @file arguments name a file and
// stay; a document that does not parse but mentions a matching key is
// masked whole. args itself is not changed: what runs gets the real values.
func MaskArgs(args []string, pattern *regexp.Regexp) []string { return redact.Args(args, pattern) }
