package switchcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Target says how to reach one switch over SSH. Secrets never reach a log:
// Target's String, GoString and LogValue leave the password out, and JSON
// never carries it.
type Target struct {
	// Switch is the device name in NetBox.
	Switch string
	// DeploymentType is the device's custom field deployment_type; it
	// picks the driver (frr, sonic, or a scrapligo platform name).
	DeploymentType string
	// Host and Port are the SSH address; Port defaults to 22.
	Host string
	Port int
	// User authenticates with KeyFile (a private key without passphrase)
	// or Password.
	User     string
	KeyFile  string
	Password string `json:"-"`
	// KnownHosts is the known_hosts file the host key is checked against;
	// InsecureIgnoreHostKey turns the check off, explicitly.
	KnownHosts            string
	InsecureIgnoreHostKey bool
	// Timeout bounds one operation; default 30s.
	Timeout time.Duration
}

// String names the target without its secrets.
func (t Target) String() string {
	return fmt.Sprintf("%s (%s, %s@%s:%d)", t.Switch, t.DeploymentType, t.User, t.Host, t.port())
}

// GoString keeps %#v from printing the password.
func (t Target) GoString() string { return "switchcfg.Target{" + t.String() + "}" }

// LogValue keeps slog from printing the password.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("switch", t.Switch),
		slog.String("deployment_type", t.DeploymentType),
		slog.String("host", t.Host),
		slog.Int("port", t.port()),
		slog.String("user", t.User),
		slog.String("key_file", t.KeyFile),
		slog.Bool("password_set", t.Password != ""),
		slog.String("known_hosts", t.KnownHosts),
		slog.Bool("insecure_ignore_host_key", t.InsecureIgnoreHostKey),
	)
}

func (t Target) port() int {
	if t.Port == 0 {
		return 22
	}
	return t.Port
}

func (t Target) timeout() time.Duration {
	if t.Timeout <= 0 {
		return 30 * time.Second
	}
	return t.Timeout
}

// check reports what is missing to open a session.
func (t Target) check() error {
	var errs []error
	if t.Host == "" {
		errs = append(errs, errors.New("no SSH host"))
	}
	if t.User == "" {
		errs = append(errs, errors.New("no SSH user"))
	}
	if t.KeyFile == "" && t.Password == "" {
		errs = append(errs, errors.New("no SSH key file or password"))
	}
	if t.KnownHosts == "" && !t.InsecureIgnoreHostKey {
		errs = append(errs, errors.New("no known_hosts file (host keys are checked unless explicitly turned off)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("switch %s: %w", t.Switch, err)
	}
	return nil
}

// Session is an open management session to one switch. A driver
// implements it per network operating system.
type Session interface {
	// RunningConfig returns the configuration the switch runs, as the
	// switch prints it.
	RunningConfig(ctx context.Context) ([]byte, error)
	// Apply brings the switch from running to rendered: a line-oriented
	// driver sends the commands of [Plan], a file-oriented one (SONiC)
	// loads rendered whole. It does not save.
	Apply(ctx context.Context, rendered, running []byte) (sent []string, err error)
	// Save makes what runs the startup configuration.
	Save(ctx context.Context) error
	// Close ends the session.
	Close() error
}

// Driver opens sessions to the switches of one deployment type.
type Driver interface {
	Open(ctx context.Context, t Target) (Session, error)
}

// Report is how a switch's running configuration compares with the
// rendered one: lines (or settings) the switch lacks, and ones it has that
// were not rendered. Each entry names its place, e.g.
// "router bgp 65101 / neighbor swp1 interface peer-group fabric".
type Report struct {
	Switch  string   `json:"switch"`
	Missing []string `json:"missing"`
	Extra   []string `json:"extra"`
}

// OK reports whether the switch runs what was rendered.
func (r Report) OK() bool { return len(r.Missing) == 0 && len(r.Extra) == 0 }

// Dialect knows one configuration syntax: how to compare a running
// configuration with a rendered one and which commands turn one into the
// other.
type Dialect interface {
	// Compare normalises both and reports the difference; lines the
	// dialect does not manage (version banners, hostname, ...) are left
	// out.
	Compare(rendered, running []byte) Report
	// Commands returns what to send, in configuration mode, to turn
	// running into rendered: removals first, then additions, each inside
	// its block. A file-oriented dialect returns nil.
	Commands(rendered, running []byte) []string
}
