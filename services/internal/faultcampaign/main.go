// Command faultcampaign injects faults into device transitions that run on
// the real parts: the `osism worker netbox` binary as a separate process,
// an embedded broker, the NetBox double with its sample fabric, and the
// FRR leaves behind sshd that `scripts/services start` runs. It has three
// parts:
//
//   - kill: for each phase 1..4, -per-phase transitions of the sample
//     nodes (a -> b and back); in each, once NetBox records the device in
//     that phase, a random time within the phase later, the worker's
//     process group gets SIGKILL and a new worker starts. The task must
//     be delivered again and finish, the device must end in its target
//     state, and the leaves must run what NetBox says.
//   - netbox: -netbox-runs transitions with the worker's NetBox requests
//     going through a proxy that answers 10% of them with a 5xx and
//     holds 5% past the client's per-attempt timeout (half of these after
//     NetBox applied them). Each transition completes, or fails with its
//     phase recorded in device_transition; none leaves NetBox or a leaf
//     changed without a record.
//   - ssh: -ssh-runs transitions of node-1 whose SSH sessions to the
//     leaves (through a TCP proxy) are dropped in phase 3. Phase 3 fails
//     with a report naming the switch, and a rerun converges.
//
// It prints the figures and exits 1 when a figure that must be 0 is not,
// or a device or leaf does not end where it should.
//
//	eval "$(scripts/services env)"
//	go run ./services/internal/faultcampaign -quick
//	go run ./services/internal/faultcampaign -per-phase 50 -netbox-runs 100 -ssh-runs 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	perPhase, netboxRuns, sshRuns int
	parts                         string
	quick                         bool
	ackWait                       time.Duration
	netboxTimeout                 time.Duration
	rate5xx, rateTimeout          float64
	afterShare                    float64
	taskTimeout                   time.Duration
	seed                          uint64
	keep                          bool
	osismBin                      string
}

func main() {
	var o options
	flag.IntVar(&o.perPhase, "per-phase", 50, "kill: transitions per phase, each killed once in that phase")
	flag.IntVar(&o.netboxRuns, "netbox-runs", 100, "netbox: transitions against the faulty NetBox")
	flag.IntVar(&o.sshRuns, "ssh-runs", 10, "ssh: transitions whose SSH sessions are dropped in phase 3")
	flag.StringVar(&o.parts, "parts", "kill,netbox,ssh", "the parts to run, comma-separated")
	flag.BoolVar(&o.quick, "quick", false, "a short run: 2 per phase, 10 NetBox runs, 2 SSH runs (flags given explicitly win)")
	flag.DurationVar(&o.ackWait, "ack-wait", 2*time.Second, "tasks.ack_wait of the bus: how soon a killed worker's task is delivered again")
	flag.DurationVar(&o.netboxTimeout, "netbox-timeout", time.Second, "the worker's NetBox timeout per attempt (netbox.timeout)")
	flag.Float64Var(&o.rate5xx, "rate-5xx", 0.10, "netbox: share of requests answered with a 5xx")
	flag.Float64Var(&o.rateTimeout, "rate-timeout", 0.05, "netbox: share of requests held past the client's timeout")
	flag.Float64Var(&o.afterShare, "timeout-after-share", 0.5, "netbox: share of the held requests that NetBox applies before the answer is withheld")
	flag.DurationVar(&o.taskTimeout, "task-timeout", 3*time.Minute, "a task without a final record this long after its submit counts as lost")
	flag.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock); printed, so that a run can be replayed")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (worker logs, state repository)")
	flag.StringVar(&o.osismBin, "osism", "", "the osism binary (default: built from ./cmd/osism of this module)")
	flag.Parse()
	if o.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["per-phase"] {
			o.perPhase = 2
		}
		if !set["netbox-runs"] {
			o.netboxRuns = 10
		}
		if !set["ssh-runs"] {
			o.sshRuns = 2
		}
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultcampaign:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func (o options) check() error {
	var errs []error
	if o.perPhase < 0 || o.netboxRuns < 0 || o.sshRuns < 0 {
		errs = append(errs, errors.New("-per-phase, -netbox-runs and -ssh-runs must not be negative"))
	}
	for _, p := range strings.Split(o.parts, ",") {
		switch strings.TrimSpace(p) {
		case "kill", "netbox", "ssh":
		default:
			errs = append(errs, fmt.Errorf("-parts %q: unknown part %q, expected kill, netbox or ssh", o.parts, p))
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"-rate-5xx", o.rate5xx}, {"-rate-timeout", o.rateTimeout}, {"-timeout-after-share", o.afterShare}} {
		if r.v < 0 || r.v > 1 {
			errs = append(errs, fmt.Errorf("%s %v: expected a share between 0 and 1", r.name, r.v))
		}
	}
	if o.rate5xx+o.rateTimeout > 1 {
		errs = append(errs, errors.New("-rate-5xx plus -rate-timeout must not exceed 1"))
	}
	if o.ackWait < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("-ack-wait %s: expected at least 300ms (the bus's minimum)", o.ackWait))
	}
	if o.netboxTimeout <= 0 || o.taskTimeout <= 0 {
		errs = append(errs, errors.New("-netbox-timeout and -task-timeout must be positive"))
	}
	return errors.Join(errs...)
}

func (o options) has(part string) bool {
	for _, p := range strings.Split(o.parts, ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

// moduleRoot is the directory of this module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the go-osism module: run from its directory")
	}
	root := filepath.Dir(mod)
	if _, err := os.Stat(filepath.Join(root, "cmd", "osism")); err != nil {
		return "", fmt.Errorf("%s holds no cmd/osism: run from the go-osism module", root)
	}
	return root, nil
}

func run(ctx context.Context, o options) (bool, error) {
	if err := o.check(); err != nil {
		return false, err
	}
	c, err := setup(ctx, o)
	if err != nil {
		return false, err
	}
	defer c.close()
	began := time.Now()
	if o.has("kill") && o.perPhase > 0 {
		if err := c.section(ctx, "kill", c.killPart); err != nil {
			return false, err
		}
	}
	if o.has("netbox") && o.netboxRuns > 0 {
		if err := c.section(ctx, "netbox", c.netboxPart); err != nil {
			return false, err
		}
	}
	if o.has("ssh") && o.sshRuns > 0 {
		if err := c.section(ctx, "ssh", c.sshPart); err != nil {
			return false, err
		}
	}
	return c.report(time.Since(began)), nil
}
