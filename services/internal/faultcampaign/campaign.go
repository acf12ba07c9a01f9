package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/switchcfg"
)

// The sample fabric's nodes, moved between a and b, and the leaves they
// are cabled to.
var nodes = []string{"node-1", "node-2", "node-3", "node-4"}

type campaign struct {
	o        options
	tmp      string
	bin      string
	leaves   []testenv.SwitchEnv
	srv      *netboxtest.Server
	direct   *http.Client
	renderer *switchcfg.Renderer
	nbProxy  *netboxProxy
	ssh      map[string]*sshProxy
	broker   *services.Broker
	bus      *osism.Client
	env      []string
	worker   *workerProc
	started  int // workers started
	rng      *mrand.Rand
	devID    map[string]int
	stuck    map[string]bool
	edits    int // perturbations of the leaves in NetBox
	f        figures
}

// figures are what the campaign counts.
type figures struct {
	runs, reruns int
	rerunTasks   int // tasks the reruns took
	// kill
	kills      int
	missed     int       // transitions whose target phase was never seen
	landed     [5][6]int // [intended phase][phase at the kill: 1-4, 5 = finished]
	est        [5]time.Duration
	deliveries int // deliveries of killed tasks beyond the first two
	restarts   int // deliveries or reruns that did not resume at the recorded phase
	rejected   int // tasks with a failed phase 3 or 4 in the kill part
	lockFailed int // tasks that failed because the device or a switch was locked
	notSeen    [5]int
	// netbox
	nbRequests, nb5xx, nbHangBefore, nbHangAfter int64
	nbSucceeded                                  int
	nbFailedAt                                   [5]int // failed with device_transition naming phase N
	nbFailedClean                                int    // failed before phase 1 with nothing changed
	halfApplied                                  int
	nbExamples                                   []string // failures with their phase recorded
	// ssh
	sshDrops     int // connections dropped
	sshFailed3   int // runs whose phase 3 failed with a report naming a leaf
	sshUnexpect  int // runs that did not fail that way
	dropBytes    []int64
	lost, double int
	falseFailed  int // tasks recorded failed whose device reached its target
	notInTarget  int // task finished but device or leaves not where they should be
	notConverged int // still not there after reruns
	problems     []string
}

func (f *figures) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.problems = append(f.problems, msg)
	fmt.Println("  PROBLEM:", msg)
}

func setup(ctx context.Context, o options) (_ *campaign, err error) {
	c := &campaign{o: o, rng: mrand.New(mrand.NewPCG(o.seed, 1)), ssh: map[string]*sshProxy{}, devID: map[string]int{}, stuck: map[string]bool{}}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if c.leaves, err = leavesFromEnv(); err != nil {
		return nil, err
	}
	if c.tmp, err = os.MkdirTemp("", "faultcampaign-"); err != nil {
		return nil, err
	}
	c.bin = o.osismBin
	if c.bin == "" {
		c.bin = filepath.Join(c.tmp, "osism")
		build := exec.CommandContext(ctx, "go", "build", "-o", c.bin, "./cmd/osism")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/osism: %w: %s", err, bytes.TrimSpace(out))
		}
	}

	// NetBox: the double with the sample fabric, and the faulty proxy the
	// worker talks to.
	if c.srv, err = netboxtest.Start(netboxtest.WithSampleFabric(), netboxtest.WithSeed(int64(o.seed))); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		id := c.srv.ID("dcim.device", n)
		if id == 0 {
			return nil, fmt.Errorf("the sample fabric has no device %s", n)
		}
		c.devID[n] = id
	}
	c.direct = &http.Client{Timeout: 30 * time.Second}
	nb, err := netbox.New(netbox.Config{URL: c.srv.URL(), Token: c.srv.Token(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if c.renderer, err = switchcfg.NewRenderer(nb); err != nil {
		return nil, err
	}
	if c.nbProxy, err = newNetBoxProxy(c.srv.URL(), o.seed, o.rate5xx, o.rateTimeout, o.afterShare); err != nil {
		return nil, err
	}

	// The leaves, each behind a TCP proxy, in a credentials file and a
	// known_hosts of the proxies' addresses.
	var creds strings.Builder
	creds.WriteString("switches:\n")
	knownHosts := filepath.Join(c.tmp, "known_hosts")
	for i, sw := range c.leaves {
		p, err := newSSHProxy(sw.Name, sw.Addr, o.seed+uint64(i))
		if err != nil {
			return nil, err
		}
		c.ssh[sw.Name] = p
		fmt.Fprintf(&creds, "  %s: {host: 127.0.0.1, port: %d, user: %q, key_file: %q, known_hosts: %q, timeout: 20s}\n",
			sw.Name, p.Addr().Port, sw.User, sw.KeyFile, knownHosts)
	}
	if err := writeKnownHosts(knownHosts, c.leaves, c.ssh); err != nil {
		return nil, err
	}
	credsFile := filepath.Join(c.tmp, "switches.yaml")
	if err := os.WriteFile(credsFile, []byte(creds.String()), 0o600); err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(c.tmp, "osism.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, "netbox:\n  timeout: %s\n", o.netboxTimeout), 0o600); err != nil {
		return nil, err
	}

	// The broker, in this process; the worker connects over TCP with a
	// worker credential, the campaign with an operator one.
	opTok, workerTok := rand.Text(), rand.Text()
	c.broker, err = services.NewBroker(services.BrokerConfig{Name: "faultcampaign", Port: -1, StoreDir: filepath.Join(c.tmp, "broker"),
		Users: []services.BrokerUser{
			{Name: "campaign", Role: services.RoleOperator, Token: osism.Secret(opTok)},
			{Name: "worker", Role: services.RoleWorker, Token: osism.Secret(workerTok)},
		},
		Bus:    osism.TaskConfig{AckWait: o.ackWait},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if err := c.broker.Start(); err != nil {
		c.broker = nil
		return nil, err
	}
	busCfg := osism.Config{Broker: osism.ConnConfig{URL: c.broker.URL(), Name: "faultcampaign", Token: osism.Secret(opTok)},
		Tasks: osism.TaskConfig{AckWait: o.ackWait}}
	if c.bus, err = osism.Dial(ctx, busCfg); err != nil {
		return nil, err
	}
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.tmp,
		"TMPDIR=" + os.TempDir(),
		osism.EnvBrokerURL + "=" + c.broker.URL(),
		osism.EnvBrokerToken + "=" + workerTok,
		osism.EnvTaskAckWait + "=" + o.ackWait.String(),
		netbox.EnvURL + "=" + c.nbProxy.URL(),
		netbox.EnvToken + "=" + c.srv.Token(),
		switchcfg.EnvStateDir + "=" + filepath.Join(c.tmp, "state"),
		switchcfg.EnvCredentialsFile + "=" + credsFile,
		netbox.EnvDesiredStateDir + "=" + filepath.Join(root, "netbox", "netboxtest", "sample", "desired"),
		netbox.EnvCollection + "=dc1",
		services.EnvConfigFile + "=" + cfgFile,
	}
	if err := c.startWorker(); err != nil {
		return nil, err
	}
	if err := c.workerReady(ctx); err != nil {
		return nil, err
	}
	fmt.Printf("go-osism faultcampaign: seed %d; worker %s (separate process, kill -9 of its process group); broker %s, tasks.ack_wait %s; "+
		"NetBox double %s behind a fault proxy %s (client timeout %s); leaves %s behind TCP proxies; logs in %s\n",
		o.seed, c.bin, c.broker.URL(), o.ackWait, c.srv.URL(), c.nbProxy.URL(), o.netboxTimeout, c.leafNames(), c.tmp)
	return c, nil
}

func (c *campaign) leafNames() string {
	var s []string
	for _, sw := range c.leaves {
		s = append(s, sw.Name+" ("+sw.Addr+")")
	}
	return strings.Join(s, ", ")
}

func (c *campaign) close() {
	if c.worker != nil {
		c.worker.Stop(5 * time.Second)
	}
	if c.bus != nil {
		_ = c.bus.Close()
	}
	if c.broker != nil {
		c.broker.Shutdown()
	}
	for _, p := range c.ssh {
		p.Close()
	}
	if c.nbProxy != nil {
		c.nbProxy.Close()
	}
	if c.srv != nil {
		c.srv.Close()
	}
	if c.tmp != "" && !c.o.keep && len(c.f.problems) == 0 {
		_ = os.RemoveAll(c.tmp)
	}
}

func (c *campaign) startWorker() error {
	c.started++
	w, err := startWorker(c.bin, c.env, c.tmp, c.started)
	if err != nil {
		return err
	}
	c.worker = w
	return nil
}

// workerReady waits until the current worker announces itself on the bus.
func (c *campaign) workerReady(ctx context.Context) error {
	id := fmt.Sprintf("campaign-%03d", c.started)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.worker.Exited() {
			log, _ := os.ReadFile(c.worker.log)
			return fmt.Errorf("worker %s ended at once (%v): %s", id, c.worker.err, bytes.TrimSpace(log))
		}
		ws, err := c.bus.Runners(ctx)
		if err != nil {
			return fmt.Errorf("list workers: %w", err)
		}
		for _, w := range ws {
			if w.ID == id {
				return nil
			}
		}
	}
	return fmt.Errorf("worker %s not announced within 30s; its log: %s", id, c.worker.log)
}

// ensureWorker starts a worker if the current one has ended.
func (c *campaign) ensureWorker() error {
	if c.worker != nil && !c.worker.Exited() {
		return nil
	}
	if c.worker != nil {
		c.f.problem("worker %d ended by itself (%v); its log: %s", c.worker.Pid(), c.worker.err, c.worker.log)
	}
	return c.startWorker()
}

// section runs one part with the leaves locked (as the tests lock them)
// and reset before and after.
func (c *campaign) section(ctx context.Context, name string, part func(context.Context) error) error {
	release, err := lockLeaves()
	if err != nil {
		return err
	}
	defer release()
	if err := resetLeaves(ctx, c.leaves); err != nil {
		return err
	}
	began := time.Now()
	fmt.Printf("== %s\n", name)
	err = part(ctx)
	rerr := resetLeaves(context.WithoutCancel(ctx), c.leaves)
	fmt.Printf("== %s done in %s\n", name, time.Since(began).Round(time.Second))
	return errors.Join(err, rerr)
}

// spare is the leaf port that perturb edits: uncabled, not in a
// transition's way.
const spare = "swp5"

// perturb edits the leaves in the double before a transition, as an
// operator would, so that every transition renders a new configuration
// and deploys real commands: the spare port's description changes, and
// it is shut down or brought up, in turn. (Not an address: the leaves'
// ports exist in FRR only, not in the kernel, and FRR then refuses to
// remove an address it shows.)
func (c *campaign) perturb() error {
	c.edits++
	for _, sw := range c.leaves {
		id := c.srv.ID("dcim.interface", sw.Name+":"+spare)
		if id == 0 {
			return fmt.Errorf("the double has no interface %s:%s", sw.Name, spare)
		}
		if err := c.srv.Update("dcim.interface", id, map[string]any{
			"description": fmt.Sprintf("faultcampaign edit %d", c.edits), "enabled": c.edits%2 == 0}); err != nil {
			return err
		}
	}
	return nil
}

// device reads a device's state and transition from the double.
func (c *campaign) device(name string) (state, transition string) {
	id := c.devID[name]
	s, _ := c.srv.CustomField("dcim.device", id, netbox.FieldDeviceState).(string)
	t, _ := c.srv.CustomField("dcim.device", id, netbox.FieldDeviceTransition).(string)
	if t == "0" {
		t = ""
	}
	return s, t
}

// next is the target of a node's next transition: b from a, a from b.
func next(state string) string {
	if state == "b" {
		return "a"
	}
	return "b"
}

func (c *campaign) submit(ctx context.Context, dev, to string) (string, error) {
	res, err := c.bus.Submit(ctx, osism.NetBoxConnectArgs{Device: dev, State: to}, nil)
	if err != nil {
		return "", fmt.Errorf("submit netbox.connect %s %s: %w", dev, to, err)
	}
	return res.ID, nil
}

// final waits for the task's final record; nil when there is none within
// the task timeout.
func (c *campaign) final(ctx context.Context, id string, since time.Time) *osism.Task {
	wctx, cancel := context.WithDeadline(ctx, since.Add(c.o.taskTimeout))
	defer cancel()
	t, err := c.bus.Wait(wctx, id)
	if err != nil || t == nil || !t.State.Finished() {
		return nil
	}
	return t
}

// output is the task's output over all its deliveries.
func (c *campaign) output(ctx context.Context, id string) string {
	var b strings.Builder
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _ = c.bus.Follow(octx, id, &b, &osism.FollowOpts{NoFollow: true})
	return b.String()
}

// compliant checks that every leaf runs what NetBox says now: a fresh
// render from the double, compared with the leaf's running configuration
// read with its local vtysh. It returns the leaves that do not.
func (c *campaign) compliant(ctx context.Context) ([]string, error) {
	var names []string
	for _, sw := range c.leaves {
		names = append(names, sw.Name)
	}
	rendered, err := c.renderer.Render(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("render %v from the double: %w", names, err)
	}
	var bad []string
	for i, sw := range c.leaves {
		running, err := sw.RunVtysh(ctx, "show running-config")
		if err != nil {
			return nil, err
		}
		rep := switchcfg.NewFRR().Compare(rendered[i].Config, []byte(running))
		if !rep.OK() {
			bad = append(bad, fmt.Sprintf("%s: %d missing (e.g. %s), %d extra (e.g. %s)", sw.Name,
				len(rep.Missing), first(rep.Missing), len(rep.Extra), first(rep.Extra)))
		}
	}
	return bad, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return s[0]
}

// check says whether dev is in state to, out of transit, with the leaves
// running what NetBox says; "" when it is.
func (c *campaign) check(ctx context.Context, dev, to string) string {
	st, tr := c.device(dev)
	var why []string
	if st != to || tr != "" {
		why = append(why, fmt.Sprintf("%s: device_state %q, device_transition %q, want %q and none", dev, st, tr, to))
	}
	bad, err := c.compliant(ctx)
	if err != nil {
		why = append(why, err.Error())
	}
	why = append(why, bad...)
	return strings.Join(why, "; ")
}

// rerun moves dev to `to` again (it resumes a recorded transition) until
// it gets there or a minute has passed, as an operator would; locks left
// by a killed worker expire in that time. It returns "" once dev is there.
func (c *campaign) rerun(ctx context.Context, dev, to string) string {
	deadline := time.Now().Add(time.Minute + 30*time.Second)
	last := ""
	c.f.reruns++
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err := c.ensureWorker(); err != nil {
			return err.Error()
		}
		c.f.rerunTasks++
		_, before := c.device(dev)
		began := time.Now()
		id, err := c.submit(ctx, dev, to)
		if err != nil {
			return err.Error()
		}
		t := c.final(ctx, id, began)
		switch {
		case t == nil:
			c.f.lost++
			c.f.problem("rerun %s of %s -> %s: no final record within %s", id, dev, to, c.o.taskTimeout)
			return "lost rerun"
		case t.State == osism.StateSucceeded:
			if tr, ok := parseTransit(before); ok {
				if fp := analyzeOutput(c.output(ctx, id)).FirstPhase[0]; fp != tr.Phase {
					c.f.restarts++
					c.f.problem("rerun %s of %s -> %s: recorded at phase %d, started at phase %d", id, dev, to, tr.Phase, fp)
				}
			}
			if why := c.check(ctx, dev, to); why != "" {
				return "rerun succeeded but " + why
			}
			return ""
		}
		last = fmt.Sprintf("rerun %s: %s", id, oneLine(t.Error))
		time.Sleep(3 * time.Second)
	}
	return last
}

// settle makes sure a device is where the campaign expects it after a
// problem: a rerun to `to`; a device that does not get there is left out
// of the rest of the campaign.
func (c *campaign) settle(ctx context.Context, dev, to string) {
	if why := c.rerun(ctx, dev, to); why != "" {
		c.f.notConverged++
		c.f.problem("%s does not reach %s even after reruns: %s", dev, to, why)
		c.stuck[dev] = true
	}
}

// nextNode is the next node to move, round robin over those not stuck.
func (c *campaign) nextNode(i int) (string, bool) {
	for k := range nodes {
		n := nodes[(i+k)%len(nodes)]
		if !c.stuck[n] {
			return n, true
		}
	}
	return "", false
}

// snapshot is a digest of what NetBox holds about the fabric (devices
// without their state fields, interfaces, cables, IP addresses, VLANs),
// read straight from the double.
func (c *campaign) snapshot(ctx context.Context) (string, error) {
	h := sha256.New()
	for _, path := range []string{"/api/dcim/devices/", "/api/dcim/interfaces/", "/api/dcim/cables/", "/api/ipam/ip-addresses/", "/api/ipam/vlans/"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.srv.URL()+path+"?limit=1000&ordering=id", nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Token "+c.srv.Token())
		req.Header.Set("Accept", "application/json")
		resp, err := c.direct.Do(req)
		if err != nil {
			return "", err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s %v", path, resp.Status, err)
		}
		var page struct {
			Results []map[string]any `json:"results"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return "", fmt.Errorf("GET %s: %w", path, err)
		}
		for _, o := range page.Results {
			delete(o, "last_updated")
			if cf, ok := o["custom_fields"].(map[string]any); ok {
				delete(cf, netbox.FieldDeviceState)
				delete(cf, netbox.FieldDeviceTransition)
			}
			b, _ := json.Marshal(o) // maps marshal with sorted keys
			h.Write(b)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

func (c *campaign) runningConfigs(ctx context.Context) (string, error) {
	var b strings.Builder
	for _, sw := range c.leaves {
		out, err := sw.RunVtysh(ctx, "show running-config")
		if err != nil {
			return "", err
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

// phaseName names a phase as phaseOf returns it.
func phaseName(p int) string {
	switch p {
	case 0:
		return "before phase 1"
	case 5:
		return "after phase 4 (device already in its target)"
	}
	return fmt.Sprintf("in phase %d", p)
}

// phaseOf is the phase dev is in: 1-4 from its record, 5 once it is in
// state to, 0 before phase 1.
func (c *campaign) phaseOf(dev, to string) int {
	st, tr := c.device(dev)
	if t, ok := parseTransit(tr); ok {
		return t.Phase
	}
	if tr == "" && st == to {
		return 5
	}
	return 0
}

// watch polls dev every millisecond and records when each phase was
// first seen, until stop is closed; the channel it returns then yields
// the times (index 5: arrival in the target state).
func (c *campaign) watch(dev, to string, stop <-chan struct{}) <-chan [6]time.Time {
	out := make(chan [6]time.Time, 1)
	go func() {
		var seen [6]time.Time
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if p := c.phaseOf(dev, to); p > 0 && seen[p].IsZero() {
				seen[p] = time.Now()
			}
			select {
			case <-stop:
				out <- seen
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// killPart: for each phase, per-phase transitions, each with one kill -9
// in that phase.
func (c *campaign) killPart(ctx context.Context) error {
	// Calibration: one transition per node without a fault measures the
	// phases, so that a kill can land anywhere within one.
	var sum [5]time.Duration
	var n [5]int
	for _, dev := range nodes {
		st, _ := c.device(dev)
		to := next(st)
		stop := make(chan struct{})
		seenCh := c.watch(dev, to, stop)
		if err := c.perturb(); err != nil {
			return err
		}
		began := time.Now()
		c.f.runs++
		id, err := c.submit(ctx, dev, to)
		if err != nil {
			return err
		}
		t := c.final(ctx, id, began)
		time.Sleep(5 * time.Millisecond)
		close(stop)
		seen := <-seenCh
		if t == nil || t.State != osism.StateSucceeded {
			reason := "no final record"
			if t != nil {
				reason = oneLine(t.Error)
			}
			return fmt.Errorf("calibration %s -> %s (task %s) without faults failed: %s; worker log %s", dev, to, id, reason, c.worker.log)
		}
		if why := c.check(ctx, dev, to); why != "" {
			return fmt.Errorf("calibration %s -> %s without faults: %s", dev, to, why)
		}
		for p := 1; p <= 4; p++ {
			if !seen[p].IsZero() && !seen[p+1].IsZero() {
				sum[p] += seen[p+1].Sub(seen[p])
				n[p]++
			}
		}
	}
	for p := 1; p <= 4; p++ {
		c.f.est[p] = 50 * time.Millisecond
		if n[p] > 0 {
			c.f.est[p] = sum[p] / time.Duration(n[p])
		}
	}
	fmt.Printf("calibration: phase durations without faults: 1 %s, 2 %s, 3 %s, 4 %s; a kill waits a uniform random time below that after the phase is recorded\n",
		c.f.est[1].Round(time.Millisecond), c.f.est[2].Round(time.Millisecond), c.f.est[3].Round(time.Millisecond), c.f.est[4].Round(time.Millisecond))

	i := 0
	for p := 1; p <= 4; p++ {
		began := time.Now()
		for k := 0; k < c.o.perPhase; k++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			dev, ok := c.nextNode(i)
			i++
			if !ok {
				return errors.New("every node is stuck")
			}
			if err := c.killOne(ctx, dev, p); err != nil {
				return err
			}
		}
		fmt.Printf("phase %d: %d transitions in %s; kills landed in phase 1 %d, 2 %d, 3 %d, 4 %d, after the end %d, phase not seen %d\n",
			p, c.o.perPhase, time.Since(began).Round(time.Second), c.f.landed[p][1], c.f.landed[p][2], c.f.landed[p][3],
			c.f.landed[p][4], c.f.landed[p][5], c.f.notSeen[p])
	}
	return nil
}

func (c *campaign) killOne(ctx context.Context, dev string, p int) error {
	if err := c.ensureWorker(); err != nil {
		return err
	}
	from, _ := c.device(dev)
	to := next(from)
	label := transitLabel(from, to, p)
	if err := c.perturb(); err != nil {
		return err
	}
	c.f.runs++
	began := time.Now()
	id, err := c.submit(ctx, dev, to)
	if err != nil {
		return err
	}
	// Wait for NetBox to record the phase, then a random time within it.
	killed, landed := false, 0
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		_, tr := c.device(dev)
		if tr == label {
			break
		}
		if ph := c.phaseOf(dev, to); ph > p {
			landed = -1 // the phase passed between two polls
			break
		}
		time.Sleep(time.Millisecond)
	}
	if landed == 0 && c.phaseOf(dev, to) == p {
		if d := int64(c.f.est[p]); d > 0 {
			time.Sleep(time.Duration(c.rng.Int64N(d)))
		}
		landed = c.phaseOf(dev, to)
		if err := c.worker.Kill(); err != nil {
			return err
		}
		killed = true
		c.f.kills++
		c.f.landed[p][landed]++
		// Aim later or earlier: the estimate follows where kills land, so
		// that they spread over the whole phase.
		if landed == p {
			c.f.est[p] += c.f.est[p] / 20
		} else {
			c.f.est[p] -= c.f.est[p] / 5
		}
		if err := c.startWorker(); err != nil {
			return err
		}
	} else {
		c.f.missed++
		c.f.notSeen[p]++
		c.f.problem("%s -> %s (task %s): phase %d was not seen; no kill", dev, to, id, p)
	}
	t := c.final(ctx, id, began)
	if t == nil {
		c.f.lost++
		c.f.problem("%s -> %s (task %s), killed %s: no final record within %s; worker log %s", dev, to, id, phaseName(landed),
			c.o.taskTimeout, c.worker.log)
		c.settle(ctx, dev, to)
		return nil
	}
	facts := analyzeOutput(c.output(ctx, id))
	if facts.DoubleRun() {
		c.f.double++
		c.f.problem("%s -> %s (task %s): double run: %d completions in %d deliveries", dev, to, id, facts.Completions, facts.Deliveries)
	}
	if killed && t.Attempt > 2 {
		c.f.deliveries += t.Attempt - 2
	}
	if killed && landed >= 1 && landed <= 4 && len(facts.FirstPhase) > 1 {
		if fp := facts.FirstPhase[len(facts.FirstPhase)-1]; fp != 0 && fp != landed {
			c.f.restarts++
			c.f.problem("%s -> %s (task %s): killed in phase %d, the next delivery started at phase %d", dev, to, id, landed, fp)
		}
	}
	for ph := 3; ph <= 4; ph++ {
		for _, msg := range facts.Failed[ph] {
			c.f.rejected++
			c.f.problem("%s -> %s (task %s): phase %d failed: %s", dev, to, id, ph, oneLine(msg))
		}
	}
	if t.State != osism.StateSucceeded {
		if strings.Contains(t.Error, "locked") {
			c.f.lockFailed++
		}
		if c.check(ctx, dev, to) == "" {
			c.f.falseFailed++
			c.f.problem("%s -> %s (task %s), killed %s: the device is in its target, but the redelivered task %s after %d deliveries: %s",
				dev, to, id, phaseName(landed), t.State, t.Attempt, oneLine(t.Error))
		} else {
			c.f.notInTarget++
			c.f.problem("%s -> %s (task %s), killed %s: the redelivered task %s after %d deliveries: %s", dev, to, id, phaseName(landed),
				t.State, t.Attempt, oneLine(t.Error))
		}
		c.settle(ctx, dev, to)
		return nil
	}
	if why := c.check(ctx, dev, to); why != "" {
		c.f.notInTarget++
		c.f.problem("%s -> %s (task %s), killed %s: the task succeeded but %s", dev, to, id, phaseName(landed), why)
		c.settle(ctx, dev, to)
	}
	return nil
}

// netboxPart: transitions with the NetBox faults on.
func (c *campaign) netboxPart(ctx context.Context) error {
	before := [4]int64{c.nbProxy.requests.Load(), c.nbProxy.injected5xx.Load(), c.nbProxy.hangsBefore.Load(), c.nbProxy.hangsAfter.Load()}
	defer func() {
		c.f.nbRequests += c.nbProxy.requests.Load() - before[0]
		c.f.nb5xx += c.nbProxy.injected5xx.Load() - before[1]
		c.f.nbHangBefore += c.nbProxy.hangsBefore.Load() - before[2]
		c.f.nbHangAfter += c.nbProxy.hangsAfter.Load() - before[3]
	}()
	began := time.Now()
	for k := 0; k < c.o.netboxRuns; k++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		dev, ok := c.nextNode(k)
		if !ok {
			return errors.New("every node is stuck")
		}
		if err := c.netboxOne(ctx, dev); err != nil {
			return err
		}
		if (k+1)%10 == 0 {
			fmt.Printf("netbox: %d/%d transitions in %s: %d succeeded, failed with phase recorded %v, failed before phase 1 with nothing changed %d\n",
				k+1, c.o.netboxRuns, time.Since(began).Round(time.Second), c.f.nbSucceeded, c.f.nbFailedAt[1:], c.f.nbFailedClean)
		}
	}
	return nil
}

func (c *campaign) netboxOne(ctx context.Context, dev string) error {
	if err := c.ensureWorker(); err != nil {
		return err
	}
	from, _ := c.device(dev)
	to := next(from)
	if err := c.perturb(); err != nil {
		return err
	}
	snap, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	running, err := c.runningConfigs(ctx)
	if err != nil {
		return err
	}
	c.f.runs++
	began := time.Now()
	c.nbProxy.SetFaults(true)
	id, err := c.submit(ctx, dev, to)
	if err != nil {
		c.nbProxy.SetFaults(false)
		return err
	}
	t := c.final(ctx, id, began)
	c.nbProxy.SetFaults(false)
	if t == nil {
		c.f.lost++
		c.f.problem("%s -> %s (task %s) with NetBox faults: no final record within %s", dev, to, id, c.o.taskTimeout)
	} else if f := analyzeOutput(c.output(ctx, id)); f.DoubleRun() {
		c.f.double++
		c.f.problem("%s -> %s (task %s) with NetBox faults: double run: %d completions in %d deliveries", dev, to, id, f.Completions, f.Deliveries)
	}
	if t != nil && t.State == osism.StateSucceeded {
		c.f.nbSucceeded++
		if why := c.check(ctx, dev, to); why != "" {
			c.f.notInTarget++
			c.f.problem("%s -> %s (task %s) with NetBox faults: succeeded but %s", dev, to, id, why)
			c.settle(ctx, dev, to)
		}
		return nil
	}
	// Failed (or lost): the phase must be on record, or nothing changed.
	st, tr := c.device(dev)
	reason := "no final record"
	if t != nil {
		reason = oneLine(t.Error)
	}
	if tt, ok := parseTransit(tr); ok && tt.From == from && tt.To == to {
		c.f.nbFailedAt[tt.Phase]++
		if len(c.f.nbExamples) < 3 {
			c.f.nbExamples = append(c.f.nbExamples, fmt.Sprintf("task %s, %s recorded: %s", id, tr, reason))
		}
	} else {
		snap2, err := c.snapshot(ctx)
		if err != nil {
			return err
		}
		running2, err := c.runningConfigs(ctx)
		if err != nil {
			return err
		}
		switch {
		case st == from && tr == "" && snap2 == snap && running2 == running:
			c.f.nbFailedClean++
		default:
			c.f.halfApplied++
			c.f.problem("%s -> %s (task %s) failed (%s) and left device_state %q, device_transition %q; NetBox changed: %v, a leaf changed: %v",
				dev, to, id, reason, st, tr, snap2 != snap, running2 != running)
		}
	}
	c.settle(ctx, dev, to)
	return nil
}

// sshPart: node-1's sessions to the leaves are dropped in phase 3.
func (c *campaign) sshPart(ctx context.Context) error {
	const dev = "node-1"
	if c.stuck[dev] {
		return fmt.Errorf("%s is stuck after an earlier part", dev)
	}
	// Calibration: two transitions without drops (the second deploys as
	// few commands as the dropped ones will) measure the bytes of a
	// phase-3 session, so that drops land after the SSH handshake and
	// login, in the middle of the deploy.
	var sizes []int64
	for range 2 {
		sizes = sizes[:0]
		from, _ := c.device(dev)
		to := next(from)
		for _, p := range c.ssh {
			p.Closed()
		}
		stop := make(chan struct{})
		seenCh := c.watch(dev, to, stop)
		if err := c.perturb(); err != nil {
			return err
		}
		c.f.runs++
		began := time.Now()
		id, err := c.submit(ctx, dev, to)
		if err != nil {
			return err
		}
		t := c.final(ctx, id, began)
		time.Sleep(5 * time.Millisecond)
		close(stop)
		seen := <-seenCh
		if t == nil || t.State != osism.StateSucceeded {
			return fmt.Errorf("ssh calibration %s -> %s (task %s) without faults did not succeed", dev, to, id)
		}
		if why := c.check(ctx, dev, to); why != "" {
			return fmt.Errorf("ssh calibration %s -> %s without faults: %s", dev, to, why)
		}
		for _, p := range c.ssh {
			for _, cc := range p.Closed() {
				if !seen[3].IsZero() && !cc.opened.Before(seen[3]) && (seen[4].IsZero() || cc.opened.Before(seen[4])) {
					sizes = append(sizes, cc.bytes)
				}
			}
		}
	}
	if len(sizes) > 0 {
		lo := slices.Min(sizes)
		for _, p := range c.ssh {
			p.SetDropBytes(lo*45/100, lo*9/10)
		}
		fmt.Printf("ssh calibration: %d sessions in phase 3 carried %d-%d bytes; an armed proxy drops each new session after a random %d-%d bytes\n",
			len(sizes), lo, slices.Max(sizes), lo*45/100, lo*9/10)
	} else {
		fmt.Println("ssh calibration: no session seen in phase 3; an armed proxy drops sessions 50-300 ms after they open")
	}
	for k := 0; k < c.o.sshRuns; k++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.sshOne(ctx, dev); err != nil {
			return err
		}
	}
	fmt.Printf("ssh: %d runs: phase 3 failed with a report naming a leaf %d, otherwise %d; %d connections dropped\n",
		c.o.sshRuns, c.f.sshFailed3, c.f.sshUnexpect, c.f.sshDrops)
	return nil
}

func (c *campaign) sshOne(ctx context.Context, dev string) error {
	if err := c.ensureWorker(); err != nil {
		return err
	}
	from, _ := c.device(dev)
	to := next(from)
	label := transitLabel(from, to, 3)
	if err := c.perturb(); err != nil {
		return err
	}
	c.f.runs++
	began := time.Now()
	id, err := c.submit(ctx, dev, to)
	if err != nil {
		return err
	}
	armed := false
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, tr := c.device(dev); tr == label {
			for _, p := range c.ssh {
				p.Arm()
			}
			armed = true
			break
		}
		if c.phaseOf(dev, to) > 3 {
			break
		}
	}
	t := c.final(ctx, id, began)
	var drops []int64
	for _, p := range c.ssh {
		p.Disarm()
		drops = append(drops, p.Dropped()...)
	}
	c.f.sshDrops += len(drops)
	if os.Getenv("FAULTCAMPAIGN_DEBUG") != "" {
		fmt.Printf("debug: task %s drops %v output:\n%s\n", id, drops, c.output(ctx, id))
	}
	c.f.dropBytes = append(c.f.dropBytes, drops...)
	if t == nil {
		c.f.lost++
		c.f.problem("%s -> %s (task %s) with SSH drops: no final record within %s", dev, to, id, c.o.taskTimeout)
		c.settle(ctx, dev, to)
		return nil
	}
	out := c.output(ctx, id)
	facts := analyzeOutput(out)
	if facts.DoubleRun() {
		c.f.double++
		c.f.problem("%s -> %s (task %s) with SSH drops: double run", dev, to, id)
	}
	_, tr := c.device(dev)
	report := strings.Join(facts.Failed[3], " | ")
	switch {
	case !armed:
		c.f.sshUnexpect++
		c.f.problem("%s -> %s (task %s): phase 3 was not seen, nothing dropped", dev, to, id)
	case t.State == osism.StateFailed && tr == label && strings.Contains(t.Error, "phase 3") && len(facts.Failed[3]) > 0 && strings.Contains(report, "leaf-"):
		c.f.sshFailed3++
		if c.f.sshFailed3 == 1 {
			fmt.Printf("ssh: e.g. task %s: %s\n", id, oneLine(report))
		}
	default:
		c.f.sshUnexpect++
		c.f.problem("%s -> %s (task %s) with SSH drops (%d connections dropped): %s, device_transition %q, error %q, phase 3 report %q",
			dev, to, id, len(drops), t.State, tr, oneLine(t.Error), oneLine(report))
	}
	if t.State == osism.StateSucceeded {
		if why := c.check(ctx, dev, to); why != "" {
			c.f.notInTarget++
			c.f.problem("%s -> %s (task %s): succeeded but %s", dev, to, id, why)
			c.settle(ctx, dev, to)
		}
		return nil
	}
	// The rerun, without drops, must converge.
	if why := c.rerun(ctx, dev, to); why != "" {
		c.f.notConverged++
		c.f.problem("%s -> %s: the rerun after the SSH drop does not converge: %s", dev, to, why)
		c.stuck[dev] = true
		return fmt.Errorf("%s is stuck", dev)
	}
	return nil
}

// report prints the figures and says whether every must-be-0 figure is 0.
func (c *campaign) report(wall time.Duration) bool {
	f := &c.f
	fmt.Printf("== figures (seed %d, %s)\n", c.o.seed, wall.Round(time.Second))
	fmt.Printf("runs: %d transitions submitted; %d reruns after a problem, in %d tasks; %d worker processes started\n", f.runs, f.reruns, f.rerunTasks, c.started)
	var landed []string
	for p := 1; p <= 4; p++ {
		landed = append(landed, fmt.Sprintf("phase %d %d/%d", p, f.landed[p][p], f.landed[p][1]+f.landed[p][2]+f.landed[p][3]+f.landed[p][4]+f.landed[p][5]))
	}
	fmt.Printf("faults injected: %d kill -9 of the worker (landed in the phase aimed at: %s; %d phases not seen), "+
		"NetBox: %d of %d requests answered 5xx, %d held before NetBox and %d after NetBox applied them, "+
		"SSH: %d connections dropped in phase 3\n",
		f.kills, strings.Join(landed, ", "), f.missed, f.nb5xx, f.nbRequests, f.nbHangBefore, f.nbHangAfter, f.sshDrops)
	if c.o.has("netbox") {
		fmt.Printf("netbox outcomes: %d succeeded; failed with device_transition at phase 1 %d, 2 %d, 3 %d, 4 %d; failed before phase 1 with nothing changed %d\n",
			f.nbSucceeded, f.nbFailedAt[1], f.nbFailedAt[2], f.nbFailedAt[3], f.nbFailedAt[4], f.nbFailedClean)
		for _, e := range f.nbExamples {
			fmt.Println("  e.g. " + e)
		}
	}
	if c.o.has("ssh") && len(f.dropBytes) > 0 {
		s := slices.Clone(f.dropBytes)
		slices.Sort(s)
		fmt.Printf("ssh outcomes: %d runs failed phase 3 with a report naming the leaf, %d did not; dropped connections had carried %d-%d bytes (median %d)\n",
			f.sshFailed3, f.sshUnexpect, s[0], s[len(s)-1], s[len(s)/2])
	}
	fmt.Printf("kill outcomes: %d deliveries beyond kill + redelivery, %d deliveries or reruns that did not resume at the recorded phase, "+
		"%d tasks failed on a held lock\n", f.deliveries, f.restarts, f.lockFailed)
	must := []struct {
		name string
		n    int
		def  string
	}{
		{"tasks lost", f.lost, "submitted tasks without a final record within -task-timeout"},
		{"double runs", f.double, "tasks whose output shows the transition run again after it had run to its end (two \"now in state\" lines, or a delivery after the completing one that starts a phase)"},
		{"not in target", f.notInTarget, "tasks after whose final record the device is not in its target state out of transit, or a leaf does not run what NetBox says (fresh render vs vtysh), without a rerun; in the netbox part only those that succeeded"},
		{"switch rejections", f.rejected, "kill part: tasks with a failed phase 3 (deploy) or 4 (compare)"},
		{"failed records of completed transitions", f.falseFailed, "kill part: tasks recorded failed although the device is in its target state and the leaves run what NetBox says"},
		{"half-applied without record", f.halfApplied, "netbox part: failed tasks whose device_transition names no phase while NetBox or a leaf changed"},
		{"ssh runs not failing phase 3 with a report", f.sshUnexpect, "ssh part: runs that did not fail in phase 3 with an error naming a leaf and the phase recorded"},
		{"not converged", f.notConverged, "devices that did not reach their target even after reruns (each rerun resumes the recorded phase; locks of a killed worker expire meanwhile)"},
	}
	ok := true
	for _, m := range must {
		verdict := "ok"
		if m.n != 0 {
			verdict, ok = "FAIL", false
		}
		fmt.Printf("%s: %d (must be 0: %s) %s\n", m.name, m.n, verdict, m.def)
	}
	if len(f.problems) > 0 {
		fmt.Printf("problems (%d):\n", len(f.problems))
		for _, p := range f.problems {
			fmt.Println("  " + p)
		}
		fmt.Printf("worker logs and the state repository are kept in %s\n", c.tmp)
	}
	if ok {
		fmt.Println("PASS")
	} else {
		fmt.Println("FAIL")
	}
	return ok
}
