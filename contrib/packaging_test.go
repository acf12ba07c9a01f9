// Package contrib_test checks what ships beside the SDK: that the osism
// command installs with go install, the Containerfile's stages and health
// check, the compose file's mounts, and the systemd units.
package contrib_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

const root = ".."

var (
	installOnce sync.Once
	installDir  string
	installed   string
	installErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if installDir != "" {
		_ = os.RemoveAll(installDir)
	}
	os.Exit(code)
}

// osismBinary is the osism command installed with `go install -trimpath
// ./cmd/osism` into a GOBIN of its own, once per test binary.
func osismBinary(t *testing.T) string {
	t.Helper()
	installOnce.Do(func() {
		gobin, err := os.MkdirTemp("", "osism-gobin-")
		if err != nil {
			installErr = err
			return
		}
		installDir = gobin
		goCmd, err := exec.LookPath("go")
		if err != nil {
			installErr = fmt.Errorf("no go command on PATH: %w", err)
			return
		}
		cmd := exec.Command(goCmd, "install", "-trimpath", "./cmd/osism")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			installErr = fmt.Errorf("go install ./cmd/osism: %v\n%s", err, out)
			return
		}
		installed = filepath.Join(gobin, "osism")
	})
	require.NoError(t, installErr)
	return installed
}

// TestGoInstall: nothing in go.mod stops `go install
// github.com/osism/go-osism/cmd/osism@latest` (a replace or exclude
// directive, or a module path that is not the repository's), and the
// command installs into GOBIN and runs.
func TestGoInstall(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	var module string
	for i, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "module":
			module = f[1]
		case "replace", "exclude", "retract":
			t.Errorf("go.mod:%d: %q: go install ...@latest refuses a main module with replace or exclude directives", i+1, line)
		}
	}
	require.Equal(t, "github.com/osism/go-osism", module, "the module path is the repository's, so that go install finds it")

	bin := osismBinary(t)
	out, err := exec.Command(bin, "version", "--format", "json").Output()
	require.NoError(t, err)
	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
	}
	require.NoError(t, json.Unmarshal(out, &v), string(out))
	require.NotEmpty(t, v.Version)
	require.NotEmpty(t, v.GoVersion)

	// -trimpath: no path of this machine's checkout in the binary.
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	abs, err := filepath.Abs(root)
	require.NoError(t, err)
	require.False(t, bytes.Contains(b, []byte(abs+"/")), "the binary holds the build path %s", abs)
}

// instruction is one instruction of a Containerfile.
type instruction struct {
	Line int
	Cmd  string // upper case
	Args string
}

// parseContainerfile reads the instructions of a Containerfile: comments
// and blank lines dropped, continuation lines joined; an unknown
// instruction is an error naming its line.
func parseContainerfile(src string) ([]instruction, error) {
	known := []string{"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
		"USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
	var out []instruction
	sc := bufio.NewScanner(strings.NewReader(src))
	n := 0
	var cur *instruction
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur == nil && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur != nil && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		cont := strings.HasSuffix(trimmed, "\\")
		trimmed = strings.TrimSuffix(trimmed, "\\")
		if cur == nil {
			cmd, args, _ := strings.Cut(trimmed, " ")
			cmd = strings.ToUpper(cmd)
			if !slices.Contains(known, cmd) {
				return nil, fmt.Errorf("Containerfile:%d: unknown instruction %q: expected one of %s", n, cmd, strings.Join(known, ", "))
			}
			cur = &instruction{Line: n, Cmd: cmd, Args: strings.TrimSpace(args)}
		} else {
			cur.Args += " " + strings.TrimSpace(trimmed)
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("Containerfile:%d: the file ends inside a continued %s", cur.Line, cur.Cmd)
	}
	return out, sc.Err()
}

// checkContainerfile says what a Containerfile lacks of what this project
// wants of its image.
func checkContainerfile(src string) error {
	ins, err := parseContainerfile(src)
	if err != nil {
		return err
	}
	var errs []error
	var stages [][]instruction
	var stageNames []string
	for _, in := range ins {
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			name := ""
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			stages, stageNames = append(stages, nil), append(stageNames, name)
		}
		if len(stages) == 0 {
			if in.Cmd != "ARG" {
				errs = append(errs, fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd))
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		return errors.Join(append(errs, fmt.Errorf("%d stage(s): expected a build stage and a runtime stage", len(stages)))...)
	}
	build, final := stages[0], stages[len(stages)-1]
	if stageNames[0] == "" {
		errs = append(errs, errors.New("the build stage has no name (FROM ... AS build)"))
	}
	built := false
	for _, in := range build {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			built = true
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "./cmd/osism"} {
				if !strings.Contains(in.Args, want) {
					errs = append(errs, fmt.Errorf("line %d: the go build lacks %s", in.Line, want))
				}
			}
		}
	}
	if !built {
		errs = append(errs, errors.New("the build stage runs no go build"))
	}
	has := map[string][]instruction{}
	for _, in := range final {
		has[in.Cmd] = append(has[in.Cmd], in)
	}
	copied := false
	for _, in := range has["COPY"] {
		if strings.Contains(in.Args, "--from="+stageNames[0]) && strings.Contains(in.Args, "/usr/local/bin/osism") {
			copied = true
		}
	}
	if !copied {
		errs = append(errs, fmt.Errorf("the runtime stage copies no osism from stage %q to /usr/local/bin/osism", stageNames[0]))
	}
	if u := has["USER"]; len(u) == 0 {
		errs = append(errs, errors.New("the runtime stage has no USER: it would run as root"))
	} else if user, _, _ := strings.Cut(u[len(u)-1].Args, ":"); user == "root" || user == "0" {
		errs = append(errs, fmt.Errorf("line %d: USER %s: expected a user that is not root", u[len(u)-1].Line, u[len(u)-1].Args))
	}
	if h := has["HEALTHCHECK"]; len(h) == 0 {
		errs = append(errs, errors.New("no HEALTHCHECK"))
	} else if a := h[len(h)-1].Args; !strings.Contains(a, "/healthz") || !strings.Contains(a, "127.0.0.1") || !strings.Contains(a, "8000") {
		errs = append(errs, fmt.Errorf("line %d: the HEALTHCHECK does not ask the API's /healthz on 127.0.0.1:8000", h[len(h)-1].Line))
	}
	if e := has["ENTRYPOINT"]; len(e) == 0 || e[len(e)-1].Args != `["/usr/local/bin/osism"]` {
		errs = append(errs, errors.New(`ENTRYPOINT: expected ["/usr/local/bin/osism"]`))
	}
	if c := has["CMD"]; len(c) == 0 || c[len(c)-1].Args != `["manager"]` {
		errs = append(errs, errors.New(`CMD: expected ["manager"]`))
	}
	return errors.Join(errs...)
}

func readFile(t *testing.T, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{root}, path...)...))
	require.NoError(t, err)
	return string(b)
}

// TestContainerfile is the syntax check of the Containerfile that runs
// where no image builder is (see TestContainerBuild): its instructions
// parse, and its stages are what the image needs. The broken variants
// show that each check can fail.
func TestContainerfile(t *testing.T) {
	t.Parallel()
	src := readFile(t, "Containerfile")
	require.NoError(t, checkContainerfile(src))

	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"root", "USER osism:osism", "USER root", "USER root: expected a user that is not root"},
		{"no user", "USER osism:osism\n", "", "the runtime stage has no USER"},
		{"cgo", "CGO_ENABLED=0 ", "", "the go build lacks CGO_ENABLED=0"},
		{"no trimpath", "go build -trimpath", "go build", "the go build lacks -trimpath"},
		{"not stripped", `-s -w `, "", "the go build lacks -s -w"},
		{"no health check", "HEALTHCHECK", "#", "no HEALTHCHECK"},
		{"another entrypoint", `ENTRYPOINT ["/usr/local/bin/osism"]`, `ENTRYPOINT ["/bin/sh"]`, "ENTRYPOINT: expected"},
		{"another command", `CMD ["manager"]`, `CMD ["service", "api"]`, `CMD: expected ["manager"]`},
		{"one stage", "FROM docker.io/library/debian:bookworm-slim\n", "", "expected a build stage and a runtime stage"},
		{"no copy from the build stage", "COPY --from=build", "COPY --from=elsewhere", "copies no osism from stage \"build\""},
		{"a typo", "WORKDIR /src", "WORKDRI /src", `unknown instruction "WORKDRI"`},
		{"a continuation at the end", `CMD ["manager"]`, `CMD ["manager"] \`, "the file ends inside a continued CMD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, src, tc.old)
			broken := strings.Replace(src, tc.old, tc.new, 1)
			require.ErrorContains(t, checkContainerfile(broken), tc.want)
		})
	}
}

// healthcheckArgv is the exec form of the Containerfile's HEALTHCHECK CMD.
func healthcheckArgv(t *testing.T) []string {
	t.Helper()
	ins, err := parseContainerfile(readFile(t, "Containerfile"))
	require.NoError(t, err)
	for _, in := range ins {
		if in.Cmd == "HEALTHCHECK" {
			_, js, ok := strings.Cut(in.Args, "CMD ")
			require.True(t, ok, "HEALTHCHECK without CMD")
			var argv []string
			require.NoError(t, json.Unmarshal([]byte(js), &argv), "the HEALTHCHECK CMD is in exec form: %s", js)
			return argv
		}
	}
	t.Fatal("no HEALTHCHECK")
	return nil
}

// TestContainerHealthcheck runs the image's health check against the real
// API's /healthz, moved from port 8000 to a free one: healthy while the
// API serves, unhealthy when nothing listens or /healthz fails.
func TestContainerHealthcheck(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the health check with")
	}
	argv := healthcheckArgv(t)
	require.Equal(t, "bash", argv[0])

	bus := osismtest.New(t, nil)
	api, err := services.NewAPI(services.APIConfig{OperatorToken: "operator-token-of-the-test"}, services.APIOpts{Bus: bus.Client, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := closed.Addr().(*net.TCPAddr).Port
	require.NoError(t, closed.Close())

	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	for _, tc := range []struct {
		name    string
		port    string
		healthy bool
	}{
		{"the API serves", port(ln.Addr().String()), true},
		{"/healthz fails", port(failing.Listener.Addr().String()), false},
		{"nothing listens", fmt.Sprint(closedPort), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := strings.ReplaceAll(argv[len(argv)-1], "127.0.0.1/8000", "127.0.0.1/"+tc.port)
			require.NotEqual(t, argv[len(argv)-1], script, "the health check names 127.0.0.1/8000")
			args := append(slices.Clone(argv[1:len(argv)-1]), script)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bash, args...).CombinedOutput()
			if tc.healthy {
				require.NoError(t, err, string(out))
			} else {
				require.Error(t, err, string(out))
			}
		})
	}
}

// TestContainerBuild builds the image with the builder this machine has
// (podman, buildah, or docker with a daemon); without one it says so and
// leaves the check to TestContainerfile.
func TestContainerBuild(t *testing.T) {
	var argv []string
	for _, b := range [][]string{
		{"podman", "build", "-f", "Containerfile", "-t", "localhost/osism:test", "."},
		{"buildah", "bud", "-f", "Containerfile", "-t", "localhost/osism:test", "."},
		{"docker", "build", "-f", "Containerfile", "-t", "osism:test", "."},
	} {
		p, err := exec.LookPath(b[0])
		if err != nil {
			continue
		}
		if b[0] == "docker" {
			if err := exec.Command(p, "info").Run(); err != nil {
				t.Logf("docker is installed but has no daemon to build with: %v", err)
				continue
			}
		}
		argv = append([]string{p}, b[1:]...)
		break
	}
	if argv == nil {
		t.Skip("no image builder on this machine (podman, buildah, or docker with a daemon): TestContainerfile checks the Containerfile's syntax and stages instead")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s:\n%s", strings.Join(argv, " "), out)
}

// TestCompose checks the compose file: the image built from this
// repository's Containerfile, the mounts of the OSISM manager's layout,
// the NetBox token as a secret, and the image's health check.
func TestCompose(t *testing.T) {
	t.Parallel()
	var c struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Command     []string          `yaml:"command"`
			User        string            `yaml:"user"`
			ReadOnly    bool              `yaml:"read_only"`
			NetworkMode string            `yaml:"network_mode"`
			Environment map[string]string `yaml:"environment"`
			Secrets     []string          `yaml:"secrets"`
			Volumes     []string          `yaml:"volumes"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, "contrib", "compose", "compose.yaml")))
	require.NoError(t, dec.Decode(&c))
	m, ok := c.Services["manager"]
	require.True(t, ok, "a service named manager")

	_, err := os.Stat(filepath.Join(root, "contrib", "compose", m.Build.Context, m.Build.Dockerfile))
	require.NoError(t, err, "the build context and Containerfile exist")
	require.Equal(t, []string{"manager"}, m.Command)
	require.Empty(t, m.User, "the image's non-root user")
	require.True(t, m.ReadOnly)
	require.Equal(t, "host", m.NetworkMode, "broker and API stay on loopback, as they must without TLS")

	for _, want := range []string{
		"/opt/configuration:/opt/configuration:ro",
		"/opt/ansible/secrets:/ansible/secrets:ro",
		"inventory:/ansible/inventory",
		"/opt/state/osism:/var/lib/osism",
	} {
		require.Contains(t, m.Volumes, want)
	}
	require.Contains(t, m.Secrets, "NETBOX_TOKEN")
	require.Equal(t, "/run/secrets/NETBOX_TOKEN", m.Environment["NETBOX_TOKEN_FILE"])
	require.Equal(t, "/opt/manager/secrets/NETBOX_TOKEN", c.Secrets["NETBOX_TOKEN"].File)
	for k, v := range m.Environment {
		require.NotContains(t, strings.ToUpper(k), "PASSWORD", "secrets come from files")
		if strings.Contains(strings.ToUpper(k), "TOKEN") {
			require.True(t, strings.HasSuffix(k, "_FILE"), "%s=%s: a token comes from a file", k, v)
		}
	}
	require.Equal(t, append([]string{"CMD"}, healthcheckArgv(t)...), m.Healthcheck.Test, "the same health check as the image's")
}

// unit is a systemd unit file: section -> key -> values.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	u := unit{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok && section != "", "%s:%d: %q: expected key=value in a section", path, i+1, line)
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// TestSystemdUnits checks the units of contrib/systemd: one for the whole
// manager and one per service, each running a command the osism binary
// has, as user osism, hardened; systemd-analyze verify accepts them where
// it is installed.
func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join(root, "contrib", "systemd")
	want := map[string]string{
		"osism-manager.service":    "manager",
		"osism-broker.service":     "service broker",
		"osism-api.service":        "service api",
		"osism-beat.service":       "service beat",
		"osism-watchdog.service":   "service watchdog",
		"osism-listener.service":   "service listener",
		"osism-reconciler.service": "service reconciler",
		"osism-worker@.service":    "worker %i",
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.service"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	require.ElementsMatch(t, slices.Collect(mapsKeys(want)), names)

	bin := osismBinary(t)
	for name, args := range want {
		t.Run(name, func(t *testing.T) {
			u := parseUnit(t, filepath.Join(dir, name))
			s := u["Service"]
			require.Equal(t, []string{"/usr/local/bin/osism " + args}, s["ExecStart"])
			for k, v := range map[string]string{
				"User": "osism", "Group": "osism", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
				"ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
				"StateDirectory": "osism", "UMask": "0077",
			} {
				require.Equal(t, []string{v}, s[k], "%s=", k)
			}
			require.Len(t, s["ReadWritePaths"], 1)
			rw := strings.Fields(s["ReadWritePaths"][0])
			require.Contains(t, rw, "/var/lib/osism", "the state directory is writable")
			if args == "manager" || strings.HasPrefix(args, "worker") || args == "service reconciler" {
				require.Contains(t, rw, "-/ansible/inventory", "the reconciler writes the inventory")
			}
			require.Equal(t, []string{"osism.target"}, u["Install"]["WantedBy"])

			// The command exists in the binary (its --help succeeds).
			argv := append(strings.Fields(strings.ReplaceAll(args, "%i", "")), "--help")
			out, err := exec.Command(bin, argv...).CombinedOutput()
			if err != nil && args == "manager" {
				t.Skipf("osism manager is not in this binary yet: %v\n%s", err, out)
			}
			require.NoError(t, err, "osism %s --help:\n%s", args, out)
		})
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this machine: the units were checked by the parser above only")
	}
	// systemd-analyze verify needs ExecStart to exist: the units, with the
	// binary installed above, in a directory of their own; the template
	// as an instance.
	tmp := t.TempDir()
	var paths []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		src := readFile(t, "contrib", "systemd", e.Name())
		src = strings.ReplaceAll(src, "/usr/local/bin/osism", bin)
		name := strings.Replace(e.Name(), "@.service", "@osism-ansible.service", 1)
		p := filepath.Join(tmp, name)
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
		paths = append(paths, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, append([]string{"verify", "--man=no"}, paths...)...)
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	// It exits 0 on keys it ignores: any word from it is a finding.
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify")

	// The same check finds a unit's mistakes.
	bad := filepath.Join(tmp, "bad.service")
	require.NoError(t, os.WriteFile(bad, []byte("[Service]\nExecStart="+bin+" manager\nProtectSystem=stricter\n"), 0o644))
	out, _ = exec.CommandContext(ctx, analyze, "verify", "--man=no", bad).CombinedOutput()
	require.Contains(t, string(out), "stricter")
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
