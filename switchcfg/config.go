package switchcfg

import (
	"errors"
	"log/slog"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/statemachine"
)

// DefaultStateDir is where rendered switch configurations are kept by
// default.
const DefaultStateDir = "/var/lib/osism/switches"

// The environment variables [Config.ApplyEnv] reads.
const (
	EnvTemplatesDir    = "OSISM_SWITCH_TEMPLATES"
	EnvStateDir        = "OSISM_SWITCH_STATE_DIR"
	EnvCredentialsFile = "OSISM_SWITCH_CREDENTIALS"
)

// Config is the switch section of the configuration: where the templates
// are, where rendered configurations are kept, and how switches are
// reached. The zero value renders with the built-in templates into
// DefaultStateDir.
type Config struct {
	// TemplatesDir holds the switch templates; empty: the built-in ones.
	TemplatesDir string `yaml:"templates_dir" json:"templates_dir,omitempty"`
	// StateDir is the git repository of rendered switch configurations
	// (DefaultStateDir).
	StateDir string `yaml:"state_dir" json:"state_dir,omitempty"`
	// CredentialsFile is the secrets file that says how to reach the
	// switches over SSH ([LoadCredentials]).
	CredentialsFile string `yaml:"credentials_file" json:"credentials_file,omitempty"`
	// MaxSessions bounds concurrent SSH sessions (8).
	MaxSessions int `yaml:"max_sessions" json:"max_sessions,omitempty"`
}

// ApplyEnv sets the fields whose variables lookup finds (os.LookupEnv, or
// a map of an injected environment).
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	for key, dst := range map[string]*string{
		EnvTemplatesDir:    &c.TemplatesDir,
		EnvStateDir:        &c.StateDir,
		EnvCredentialsFile: &c.CredentialsFile,
	} {
		if v, ok := lookup(key); ok {
			*dst = v
		}
	}
}

// NewDeployer builds a Deployer from cfg over the NetBox client nb: the
// templates, the state repository and the credentials file. locker, when
// not nil, serialises sessions to a switch across every process that
// shares it; log defaults to slog.Default().
func NewDeployer(cfg Config, nb *netbox.Client, locker statemachine.Locker, log *slog.Logger) (*Deployer, error) {
	if nb == nil {
		return nil, errors.New("switch deployer: no NetBox client")
	}
	var opts []Option
	if cfg.TemplatesDir != "" {
		opts = append(opts, WithTemplateDir(cfg.TemplatesDir))
	}
	r, err := NewRenderer(nb, opts...)
	if err != nil {
		return nil, err
	}
	// The credentials first: a configuration that cannot work creates no
	// state repository.
	var creds *Credentials
	if cfg.CredentialsFile != "" {
		if creds, err = LoadCredentials(cfg.CredentialsFile); err != nil {
			return nil, err
		}
	}
	repo, err := cfg.OpenRepo()
	if err != nil {
		return nil, err
	}
	return &Deployer{Renderer: r, Repo: repo, Credentials: creds, MaxSessions: cfg.MaxSessions, Locker: locker, Logger: log}, nil
}

// StateDirOrDefault is StateDir, or DefaultStateDir when it is empty.
func (c Config) StateDirOrDefault() string {
	if c.StateDir == "" {
		return DefaultStateDir
	}
	return c.StateDir
}

// OpenRepo opens (creating it if needed) the state repository of c:
// StateDir, or DefaultStateDir when it is empty.
func (c Config) OpenRepo(opts ...RepoOption) (*Repo, error) {
	return OpenRepo(c.StateDirOrDefault(), opts...)
}
