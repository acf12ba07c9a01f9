// Command applybench measures what osism apply adds to a playbook run: the
// wall time of `osism apply` in standalone mode and against a running
// manager (broker and worker in this process, reached over TCP), against
// ansible-playbook run directly with the same command, environment and
// directory, on the same trivial playbook, rounds interleaved. It also times
// `osism --help`.
//
//	go run ./cmd/osism/internal/applybench
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

const playbook = `---
- name: Trivial
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Say something
      ansible.builtin.debug:
        msg: "bench"
`

func main() {
	var (
		rounds = flag.Int("rounds", 15, "runs of each variant")
		helps  = flag.Int("help-runs", 50, "runs of osism --help")
		bin    = flag.String("osism", "", "osism binary (default: build ./cmd/osism)")
	)
	flag.Parse()
	if err := run(*rounds, *helps, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "applybench:", err)
		os.Exit(1)
	}
}

func run(rounds, helps int, bin string) error {
	dir, err := os.MkdirTemp("", "applybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "osism")
		build := exec.Command("go", "build", "-o", bin, "./cmd/osism")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build osism (run from the repository root): %w", err)
		}
	}
	conf := filepath.Join(dir, "configuration")
	for p, data := range map[string]string{
		"environments/generic/playbook-bench.yml": playbook,
		"inventory/hosts.yml":                     "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(conf, p)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(conf, p), []byte(data), 0o644); err != nil {
			return err
		}
	}
	acfg := ansible.Config{ConfigurationDir: conf, PlaybooksDir: filepath.Join(dir, "playbooks")}
	env := append(os.Environ(),
		services.EnvConfigFile+"="+filepath.Join(dir, "none.yaml"),
		ansible.EnvConfigurationDir+"="+acfg.ConfigurationDir,
		ansible.EnvPlaybooksDir+"="+acfg.PlaybooksDir,
		osism.EnvBrokerURL+"=",
	)

	// The direct run is exactly what the worker runs.
	out, err := command(env, bin, "apply", "--dry-run", "--format", "json", "--environment", "generic", "bench").Output()
	if err != nil {
		return fmt.Errorf("osism apply --dry-run: %w", err)
	}
	var plan []struct {
		Command struct {
			Path string   `json:"path"`
			Args []string `json:"args"`
			Env  []string `json:"env"`
			Dir  string   `json:"dir"`
		} `json:"command"`
	}
	if err := json.Unmarshal(out, &plan); err != nil || len(plan) != 1 {
		return fmt.Errorf("osism apply --dry-run: unexpected output %q", out)
	}
	pc := plan[0].Command
	direct := func() *exec.Cmd {
		c := command(append(os.Environ(), pc.Env...), pc.Path, pc.Args...)
		c.Dir = pc.Dir
		return c
	}

	// The manager: broker and worker in this process, on loopback.
	quiet := slog.New(slog.DiscardHandler)
	b, err := services.NewBroker(services.BrokerConfig{Name: "applybench", Port: -1, Memory: true, Logger: quiet})
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer b.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := services.Config{Bus: osism.Config{Broker: osism.ConnConfig{URL: b.URL(), TokenFile: b.TokenFile()}, Tasks: osism.TaskConfig{Storage: osism.StorageMemory}}, Ansible: acfg}
	client, err := osism.Dial(ctx, cfg.Bus)
	if err != nil {
		return err
	}
	defer client.Close()
	handlers, err := services.BuiltinHandlers(cfg)
	if err != nil {
		return err
	}
	w, err := services.NewWorker(client, services.WorkerConfig{Queues: map[osism.Queue]int{osism.QueueOSISMAnsible: 1},
		Handlers: handlers, Logger: quiet})
	if err != nil {
		return err
	}
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(ctx) }()
	managerEnv := append(slices.Clone(env), osism.EnvBrokerURL+"="+b.URL(), osism.EnvBrokerTokenFile+"="+b.TokenFile(), osism.EnvTaskStorage+"=memory")

	variants := []struct {
		name string
		cmd  func() *exec.Cmd
	}{
		{"ansible-playbook, direct", direct},
		{"osism apply, standalone", func() *exec.Cmd { return command(env, bin, "apply", "--environment", "generic", "bench") }},
		{"osism apply, running manager", func() *exec.Cmd { return command(managerEnv, bin, "apply", "--environment", "generic", "bench") }},
	}
	times := make([][]time.Duration, len(variants))
	for r := -1; r < rounds; r++ { // round -1 warms caches
		for i, v := range variants {
			start := time.Now()
			if out, err := v.cmd().CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %w\n%s", v.name, err, out)
			}
			if r >= 0 {
				times[i] = append(times[i], time.Since(start))
			}
		}
	}
	fmt.Printf("go-osism applybench: %d rounds, interleaved; trivial playbook (1 debug task on localhost)\n", rounds)
	base := median(times[0])
	for i, v := range variants {
		m := median(times[i])
		fmt.Printf("%-30s median %6.1f ms  min %6.1f ms  max %6.1f ms", v.name, ms(m), ms(slices.Min(times[i])), ms(slices.Max(times[i])))
		if i > 0 {
			fmt.Printf("  added %+5.1f ms  ratio %.3f", ms(m-base), float64(m)/float64(base))
		}
		fmt.Println()
	}
	var help []time.Duration
	for range helps {
		start := time.Now()
		if err := command(env, bin, "--help").Run(); err != nil {
			return fmt.Errorf("osism --help: %w", err)
		}
		help = append(help, time.Since(start))
	}
	slices.Sort(help)
	fmt.Printf("%-30s median %6.1f ms  p90 %6.1f ms (%d runs)\n", "osism --help", ms(median(help)), ms(help[len(help)*9/10]), helps)
	cancel()
	return <-wdone
}

func command(env []string, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = env
	return c
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
