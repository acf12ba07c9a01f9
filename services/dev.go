package services

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/switchcfg"
	"github.com/osism/go-osism/switchcfg/switchsim"
)

// DevDesiredStateDir is the default of DevOpts.DesiredStateDir and
// DemoOpts.DesiredStateDir: "" means the sample fabric's desired states
// built into the binary ([netboxtest.SampleDesiredStates]), written into a
// temporary directory of the environment's own, so no checkout of go-osism
// is needed.
const DevDesiredStateDir = ""

// DevOpts are the knobs of [StartDev].
type DevOpts struct {
	// Dir keeps the environment's files (secrets file, keys, known_hosts,
	// state repository); default a new temporary directory that Close
	// removes.
	Dir string
	// DesiredStateDir and Collection are the desired states Apply
	// configures; default the built-in sample desired states (written into
	// the environment's directory, see DevDesiredStateDir) and dc1.
	DesiredStateDir string
	Collection      string
	// User is the SSH user of the simulated leaves; default osism.
	User string
}

// DevEnv is a fabric on one machine with nothing installed: the NetBox
// double with its sample fabric and one simulated FRR switch per managed
// switch of it (leaf-1, leaf-2), reachable over SSH on 127.0.0.1.
type DevEnv struct {
	// NetBox is the NetBox double; NetBoxURL and NetBoxToken reach it.
	NetBox      *netboxtest.Server
	NetBoxURL   string
	NetBoxToken string
	// Switches are the managed switches of the sample fabric, in NetBox's
	// order (leaf-1, leaf-2); Leaves the simulated switch of each.
	Switches []string
	Leaves   map[string]*switchsim.Server
	// CredentialsFile is the switches' secrets file (mode 0600): host,
	// port, user, password and known_hosts of each leaf.
	CredentialsFile string
	// StateDir is the switches' state repository (Apply uses it unless the
	// configuration names one).
	StateDir string
	// DesiredStateDir and Collection are the sample desired states.
	DesiredStateDir string
	Collection      string
	// Dir holds the files.
	Dir string

	removeDir bool
	// sampleDir holds the built-in sample desired states when no
	// directory was given; Close removes it.
	sampleDir string
}

// StartDev starts the NetBox double with its sample fabric (custom fields
// and tags set up) and a simulated leaf per managed switch, with their
// credentials in a secrets file of the environment's own.
func StartDev(ctx context.Context, opts DevOpts) (env *DevEnv, err error) {
	if opts.Collection == "" {
		opts.Collection = "dc1"
	}
	if opts.User == "" {
		opts.User = "osism"
	}
	if opts.DesiredStateDir != "" {
		if st, err := os.Stat(opts.DesiredStateDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("desired-state directory %q: expected a directory (or none, for the built-in sample desired states)", opts.DesiredStateDir)
		}
	}
	env = &DevEnv{DesiredStateDir: opts.DesiredStateDir, Collection: opts.Collection, Leaves: map[string]*switchsim.Server{}}
	defer func() {
		if err != nil {
			env.Close()
			env = nil
		}
	}()
	if opts.Dir == "" {
		if env.Dir, err = os.MkdirTemp("", "osism-dev-"); err != nil {
			return env, err
		}
		env.removeDir = true
	} else {
		if st, serr := os.Stat(opts.Dir); serr != nil || !st.IsDir() {
			return env, fmt.Errorf("dev directory %q: expected an existing directory", opts.Dir)
		}
		env.Dir = opts.Dir
	}
	env.StateDir = filepath.Join(env.Dir, "switches")
	if env.DesiredStateDir == "" {
		// The built-in sample, in a temporary directory of its own that
		// Close removes (even when opts.Dir is the caller's).
		if env.sampleDir, err = os.MkdirTemp("", "osism-desired-"); err != nil {
			return env, err
		}
		if err := netboxtest.WriteSampleDesiredStates(env.sampleDir); err != nil {
			return env, err
		}
		env.DesiredStateDir = env.sampleDir
	}

	if env.NetBox, err = netboxtest.Start(netboxtest.WithSampleFabric()); err != nil {
		return env, fmt.Errorf("netbox double: %w", err)
	}
	env.NetBoxURL, env.NetBoxToken = env.NetBox.URL(), env.NetBox.Token()
	nb, err := netbox.New(netbox.Config{URL: env.NetBoxURL, Token: env.NetBoxToken})
	if err != nil {
		return env, err
	}
	if _, err := nb.Setup(ctx); err != nil {
		return env, fmt.Errorf("netbox double: custom fields and tags: %w", err)
	}

	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		return env, err
	}
	password := hex.EncodeToString(secret)
	keys := filepath.Join(env.Dir, "leaves")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return env, err
	}
	managed, err := switchcfg.Switches(ctx, nb)
	if err != nil {
		return env, fmt.Errorf("netbox double: managed switches: %w", err)
	}
	creds := switchcfg.Credentials{Switches: map[string]switchcfg.TargetSpec{}}
	for _, dev := range managed {
		name := dev.Name
		env.Switches = append(env.Switches, name)
		leaf, err := switchsim.Start(switchsim.Options{Hostname: name, Dir: keys, User: opts.User, Password: password})
		if err != nil {
			return env, err
		}
		env.Leaves[name] = leaf
		creds.Switches[name] = switchcfg.TargetSpec{Host: leaf.Host, Port: leaf.Port, User: leaf.User, Password: password, KnownHosts: leaf.KnownHosts}
	}
	b, err := yaml.Marshal(creds)
	if err != nil {
		return env, err
	}
	env.CredentialsFile = filepath.Join(env.Dir, "switch-credentials.yaml")
	if err := os.WriteFile(env.CredentialsFile, b, 0o600); err != nil {
		return env, err
	}
	return env, nil
}

// Apply points cfg's netbox and fabric settings at the environment: the
// NetBox double, the leaves' secrets file, the sample desired states and,
// unless cfg names one, the environment's state repository and lock
// directory.
func (e *DevEnv) Apply(cfg *Config) {
	cfg.NetBox.URL, cfg.NetBox.Token, cfg.NetBox.TokenFile = e.NetBoxURL, e.NetBoxToken, ""
	cfg.NetBox.InsecureSkipVerify, cfg.NetBox.CAFile = false, ""
	cfg.Fabric.Switches.CredentialsFile = e.CredentialsFile
	cfg.Fabric.DesiredState.Dir = e.DesiredStateDir
	cfg.Fabric.DesiredState.Collection = e.Collection
	if cfg.Fabric.Switches.StateDir == "" {
		cfg.Fabric.Switches.StateDir = e.StateDir
		if cfg.Fabric.LockDir == "" {
			cfg.Fabric.LockDir = filepath.Join(e.Dir, "locks")
		}
	}
}

// Info says how to reach the environment: NetBox's URL and token, an ssh
// command per leaf, where the leaves' password is, and the state
// repository. The password itself is not printed.
func (e *DevEnv) Info() string {
	var b strings.Builder
	fmt.Fprintf(&b, "NetBox (in-memory, sample fabric): %s token %s\n", e.NetBoxURL, e.NetBoxToken)
	for _, name := range e.Switches {
		l := e.Leaves[name]
		if l == nil {
			continue
		}
		fmt.Fprintf(&b, "%s (simulated FRR): ssh -p %d -i %s -o UserKnownHostsFile=%s %s@%s\n",
			name, l.Port, l.KeyFile, l.KnownHosts, l.User, l.Host)
	}
	fmt.Fprintf(&b, "switch credentials (with the leaves' password): %s\n", e.CredentialsFile)
	fmt.Fprintf(&b, "switch state repository: %s\n", e.StateDir)
	fmt.Fprintf(&b, "desired states: %s (collection %s)\n", e.DesiredStateDir, e.Collection)
	return b.String()
}

// Close stops the leaves and NetBox and removes the files of a temporary
// directory and the built-in sample desired states it wrote.
func (e *DevEnv) Close() error {
	var errs []error
	for _, name := range e.Switches {
		if l := e.Leaves[name]; l != nil {
			errs = append(errs, l.Close())
		}
	}
	if e.NetBox != nil {
		e.NetBox.Close()
	}
	if e.removeDir && e.Dir != "" {
		errs = append(errs, os.RemoveAll(e.Dir))
	}
	if e.sampleDir != "" {
		errs = append(errs, os.RemoveAll(e.sampleDir))
	}
	return errors.Join(errs...)
}
