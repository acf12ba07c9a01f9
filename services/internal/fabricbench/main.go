// Command fabricbench measures the fabric's device transitions at fleet
// scale: 1,000 nodes cabled to 20 leaves move from state a to b at once,
// through the four phases of services.Fabric (desired state in NetBox,
// render, deploy, compare), against the NetBox test double with a latency
// per request and simulated switches that cost a time per SSH session and
// per command. It reports the wall time, the NetBox requests per device
// and the SSH sessions per switch, and checks them against the targets:
// at most 10 NetBox requests per device, one SSH session per switch per
// deploy batch, the whole fleet in under 60 s.
//
//	go run ./services/internal/fabricbench
//	go run ./services/internal/fabricbench -concurrency 100 -uplinks 1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

type options struct {
	layout
	latency, session, command time.Duration
	concurrency               int
	maxSessions               int
	netboxConcurrent          int
	timeout                   time.Duration
	detail                    int
	serial                    bool
	cpuprofile                string
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 1000, "nodes to move from a to b")
	flag.IntVar(&o.leaves, "leaves", 20, "leaf switches")
	flag.IntVar(&o.uplinks, "uplinks", 2, "uplinks per node: 1 (eth0 to one leaf) or 2 (eth0 and eth1 to a leaf pair)")
	flag.DurationVar(&o.latency, "latency", 5*time.Millisecond, "latency the NetBox double adds to every request")
	flag.DurationVar(&o.session, "session", 200*time.Millisecond, "cost of opening an SSH session to a switch")
	flag.DurationVar(&o.command, "command", 5*time.Millisecond, "cost of one command on a switch")
	flag.IntVar(&o.concurrency, "concurrency", 0, "transitions in flight at once (0: all at once)")
	flag.IntVar(&o.maxSessions, "max-sessions", 20, "fabric max_sessions: concurrent SSH sessions")
	flag.IntVar(&o.netboxConcurrent, "netbox-concurrency", 0, "NetBox client's requests in flight (0: the client's default)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.IntVar(&o.detail, "detail", 6, "request kinds to list per phase (0: none)")
	flag.BoolVar(&o.serial, "serial", false, "let the double serve one request at a time, the latency added by the benchmark's transport; "+
		"default: the double's own latency (SetLatency), requests served concurrently")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the transitions to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "fabricbench:", err)
		os.Exit(1)
	}
}

const collection = "bench"

func run(o options) error {
	switch {
	case o.nodes < 1 || o.leaves < 1:
		return errors.New("-nodes and -leaves must be at least 1")
	case o.uplinks != 1 && o.uplinks != 2:
		return errors.New("-uplinks must be 1 or 2")
	case o.leaves%o.uplinks != 0:
		return fmt.Errorf("-leaves %d: want a multiple of -uplinks %d (leaf pairs)", o.leaves, o.uplinks)
	}
	if o.netboxConcurrent <= 0 {
		o.netboxConcurrent = netbox.DefaultMaxConcurrent
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	pan := &panics{}
	log.SetOutput(pan) // net/http logs handler panics here
	defer log.SetOutput(os.Stderr)

	// The fabric in the NetBox double, without latency.
	began := time.Now()
	fx, err := o.fixture()
	if err != nil {
		return err
	}
	srv, err := netboxtest.Start(netboxtest.WithFixture(fx))
	if err != nil {
		return err
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "fabricbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	desiredDir, stateDir := dir+"/desired", dir+"/switches"
	if err := o.writeDesired(desiredDir, collection); err != nil {
		return err
	}

	// The NetBox client as the fabric workers build it (netbox.New with the
	// defaults), over a transport that counts requests by phase.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = o.netboxConcurrent // as netbox.Config's own transport
	cnt := &counter{next: base, serial: o.serial}
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), MaxConcurrent: o.netboxConcurrent, Transport: cnt, Logger: quiet})
	if err != nil {
		return err
	}
	var fcfg services.FabricConfig
	fcfg.DesiredState = netbox.DesiredStateConfig{Dir: desiredDir, Collection: collection}
	fcfg.Switches = switchcfg.Config{StateDir: stateDir, MaxSessions: o.maxSessions}
	f, err := services.NewFabric(fcfg, nb, nil, quiet)
	if err != nil {
		return err
	}
	fl := newFleet(o.session, o.command)
	f.Deployer.Drivers = fl.drivers
	creds := &switchcfg.Credentials{
		Defaults: switchcfg.TargetSpec{User: "osism", KeyFile: dir + "/switch_key", InsecureIgnoreHostKey: true},
		Switches: map[string]switchcfg.TargetSpec{},
	}
	var leaves []string
	for j := range o.leaves {
		leaves = append(leaves, o.leafName(j))
		creds.Switches[o.leafName(j)] = switchcfg.TargetSpec{Host: fmt.Sprintf("192.0.2.%d", j+1)}
	}
	f.Deployer.Credentials = creds

	// State a on the switches: render every leaf once and make that what
	// they run and what is marked deployed.
	gen, err := f.Deployer.Generate(ctx, leaves...)
	if err != nil {
		return fmt.Errorf("render state a: %w", err)
	}
	for _, g := range gen {
		cfg, err := f.Deployer.Repo.Show(g.Switch, g.Rev)
		if err != nil {
			return err
		}
		if !strings.Contains(string(cfg), "router bgp ") {
			return fmt.Errorf("%s: the rendered configuration has no router bgp", g.Switch)
		}
		fl.seed(g.Switch, cfg)
		if err := f.Deployer.Repo.MarkDeployed(g.Switch, g.Rev); err != nil {
			return err
		}
	}
	setup := time.Since(began)

	conc := "all at once"
	if o.concurrency > 0 && o.concurrency < o.nodes {
		conc = fmt.Sprintf("%d at a time", o.concurrency)
	}
	serving := "the double's latency, concurrent serving"
	if o.serial {
		serving = "latency in the bench's transport, the double serving one request at a time"
	}
	fmt.Printf("go-osism fabricbench: %s, GOMAXPROCS %d; %d nodes (%d uplink(s) each) on %d leaves; NetBox double +%s per request (%s), client %d in flight; switch session %s + %s per command, max_sessions %d; transitions a -> b %s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), o.nodes, o.uplinks, o.leaves, o.latency, serving, o.netboxConcurrent,
		o.session, o.command, o.maxSessions, conc)
	fmt.Printf("setup: %d devices, %d interfaces, %d cables in the double, %d desired-state files, state a rendered and deployed on %d leaves, in %s\n",
		srv.Count("dcim.device"), srv.Count("dcim.interface"), srv.Count("dcim.cable"), o.nodes, len(gen), setup.Round(time.Millisecond))

	// The machine of f.Machine(collection), with each hook marking its
	// phase for the request counter, and an observer for phase times.
	hooks := f.Hooks(collection)
	for p, hs := range hooks {
		for i, h := range hs {
			hs[i] = phaseHook{p: p, h: h}
		}
	}
	var (
		phMu    sync.Mutex
		phTime  [statemachine.NumPhases + 1]time.Duration
		phCount [statemachine.NumPhases + 1]int
	)
	observe := func(e statemachine.Event) {
		if e.Kind == statemachine.PhaseFinished || e.Kind == statemachine.PhaseFailed {
			phMu.Lock()
			phTime[e.Phase] += e.Duration
			phCount[e.Phase]++
			phMu.Unlock()
		}
	}
	transition := func(node string) error {
		m, err := statemachine.New(statemachine.Config{Graph: f.Graph, Store: f.Store(), Locker: f.Locker,
			Hooks: hooks, Observers: []statemachine.Observer{observe}})
		if err != nil {
			return err
		}
		_, err = m.Transition(ctx, node, statemachine.StateB, nil)
		return err
	}

	if o.cpuprofile != "" {
		pf, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	srv.ResetCounters()
	cnt.start()
	if o.serial {
		cnt.latency = o.latency
	} else {
		srv.SetLatency(o.latency)
	}
	durs := make([]time.Duration, o.nodes)
	errs := make([]error, o.nodes)
	start := time.Now()
	one := func(i int) {
		t0 := time.Now()
		errs[i] = transition(o.nodeName(i))
		durs[i] = time.Since(t0)
	}
	var wg sync.WaitGroup
	if o.concurrency <= 0 || o.concurrency >= o.nodes {
		for i := range o.nodes {
			wg.Go(func() { one(i) })
		}
	} else {
		next := make(chan int)
		for range o.concurrency {
			wg.Go(func() {
				for i := range next {
					one(i)
				}
			})
		}
		for i := range o.nodes {
			next <- i
		}
		close(next)
	}
	wg.Wait()
	wall := time.Since(start)
	srv.SetLatency(0)
	cnt.latency = 0
	byKind := cnt.stop()
	total := srv.TotalRequests()
	if o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}

	// Wall time and phases.
	sorted := slices.Clone(durs)
	slices.Sort(sorted)
	fmt.Printf("wall time: %s for %d transitions (%.1f/s); per transition p50 %s p90 %s max %s\n",
		wall.Round(100*time.Millisecond), o.nodes, float64(o.nodes)/wall.Seconds(),
		pct(sorted, 50), pct(sorted, 90), sorted[len(sorted)-1].Round(time.Millisecond))
	var ph []string
	for p := statemachine.Phase(1); p <= statemachine.NumPhases; p++ {
		mean := time.Duration(0)
		if phCount[p] > 0 {
			mean = phTime[p] / time.Duration(phCount[p])
		}
		ph = append(ph, fmt.Sprintf("%d %s %s", p, phaseName(p), mean.Round(time.Millisecond)))
	}
	fmt.Printf("phases, mean per transition: %s\n", strings.Join(ph, ", "))

	// NetBox requests.
	type ep struct {
		name string
		n    int
	}
	var eps []ep
	sum := 0
	for _, path := range netboxPaths {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
			for _, p := range []string{path, path + "{id}/"} {
				if n := srv.Requests(m, p); n > 0 {
					eps = append(eps, ep{m + " " + p, n})
					sum += n
				}
			}
		}
	}
	if n := srv.Requests(http.MethodGet, "/api/status/"); n > 0 {
		eps = append(eps, ep{"GET /api/status/", n})
		sum += n
	}
	if sum < total {
		eps = append(eps, ep{"other", total - sum})
	}
	slices.SortStableFunc(eps, func(a, b ep) int { return b.n - a.n })
	var top []string
	for _, e := range eps {
		top = append(top, fmt.Sprintf("%s %d", e.name, e.n))
	}
	perDevice := float64(total) / float64(o.nodes)
	fmt.Printf("NetBox requests: %d (%.1f per device); top: %s\n", total, perDevice, strings.Join(top, ", "))
	var byPhase [statemachine.NumPhases + 1]int
	counted, renderRounds := 0, 0
	for k, n := range byKind {
		byPhase[k.phase] += n
		counted += n
		// A render round lists its switches' IP addresses once; nothing
		// else in phase 2 asks for IP addresses.
		if k.phase == statemachine.PhaseGenerate && k.method == http.MethodGet && k.path == "/api/ipam/ip-addresses/" {
			renderRounds += n
		}
	}
	ph = ph[:0]
	for p := statemachine.Phase(0); p <= statemachine.NumPhases; p++ {
		ph = append(ph, fmt.Sprintf("%s %.2f", phaseName(p), float64(byPhase[p])/float64(o.nodes)))
	}
	fmt.Printf("NetBox requests per device by phase: %s (client side: %d requests)\n", strings.Join(ph, ", "), counted)
	if n, first := pan.count(); n > 0 {
		fmt.Printf("NetBox double: %d handler panics (%s); net/http retried some requests itself, hence the client-side count; results are unreliable\n", n, first)
	}
	if o.detail > 0 {
		keys := slices.Collect(maps.Keys(byKind))
		slices.SortFunc(keys, func(a, b reqKey) int {
			if a.phase != b.phase {
				return int(a.phase) - int(b.phase)
			}
			if byKind[a] != byKind[b] {
				return byKind[b] - byKind[a]
			}
			return strings.Compare(a.endpoint(), b.endpoint())
		})
		for p := statemachine.Phase(0); p <= statemachine.NumPhases; p++ {
			var ks []string
			more := 0
			for _, k := range keys {
				if k.phase != p {
					continue
				}
				if len(ks) < o.detail {
					ks = append(ks, fmt.Sprintf("%s %d", k.endpoint(), byKind[k]))
				} else {
					more += byKind[k]
				}
			}
			if more > 0 {
				ks = append(ks, fmt.Sprintf("others %d", more))
			}
			if len(ks) > 0 {
				fmt.Printf("  %s: %s\n", phaseName(p), strings.Join(ks, ", "))
			}
		}
	}

	// SSH sessions and renders.
	sessions := f.Deployer.Sessions()
	snap := fl.snapshot()
	var ses, deploys, commits []int
	reads, empties, commands, maxOpen := 0, 0, 0, 0
	extra := []string{}
	for _, sw := range leaves {
		s := snap[sw]
		ses = append(ses, sessions[sw])
		deploys = append(deploys, s.deploys)
		reads += s.reads
		empties += s.emptyApplies
		commands += s.commands
		maxOpen = max(maxOpen, s.maxOpen)
		if sessions[sw] != s.deploys {
			extra = append(extra, fmt.Sprintf("%s %d sessions for %d deploys", sw, sessions[sw], s.deploys))
		}
		hist, err := f.Deployer.Repo.History(sw)
		if err != nil {
			return err
		}
		commits = append(commits, len(hist)-1)
	}
	batches := sumInts(deploys)
	perBatch := 0.0
	if batches > 0 {
		perBatch = float64(o.nodes*o.uplinks) / float64(batches)
	}
	fmt.Printf("SSH sessions per switch: min %d max %d mean %.1f (deploy batches: %d in all, min %d max %d per switch, %.1f node changes per batch, %d with nothing to send; compare sessions %d; at most %d open per switch at once; %d commands sent)\n",
		slices.Min(ses), slices.Max(ses), mean(ses), batches, slices.Min(deploys), slices.Max(deploys), perBatch, empties, reads, maxOpen, commands)
	fmt.Printf("render rounds: %d for %d switch renders asked for; renders committed per switch: min %d max %d mean %.1f\n",
		renderRounds, o.nodes*o.uplinks, slices.Min(commits), slices.Max(commits), mean(commits))

	// Verification: every node in b, every leaf running its last render.
	inB := 0
	for i := range o.nodes {
		id := srv.ID("dcim.device", o.nodeName(i))
		if srv.CustomField("dcim.device", id, netbox.FieldDeviceState) == "b" && srv.CustomField("dcim.device", id, netbox.FieldDeviceTransition) == "" {
			inB++
		}
	}
	okLeaves, neighborsOK := 0, 0
	var bad []string
	neighbor := regexp.MustCompile(`(?m)^ neighbor swp\d+ interface peer-group fabric$`)
	for j, sw := range leaves {
		hist, err := f.Deployer.Repo.History(sw)
		if err != nil {
			return err
		}
		rendered, err := f.Deployer.Repo.Show(sw, hist[0].Rev)
		if err != nil {
			return err
		}
		deployed, err := f.Deployer.Repo.Deployed(sw)
		if err != nil {
			return err
		}
		rep := fl.dialect.Compare(rendered, snap[sw].running)
		rep.Switch = sw
		switch {
		case !rep.OK():
			bad = append(bad, fmt.Sprintf("%s: %d missing, %d extra", sw, len(rep.Missing), len(rep.Extra)))
		case deployed != hist[0].Rev:
			bad = append(bad, fmt.Sprintf("%s: runs its last render %s but %s is marked deployed", sw, short(hist[0].Rev), short(deployed)))
		default:
			okLeaves++
		}
		if n := len(neighbor.FindAll(snap[sw].running, -1)); n == o.expectedNeighbors(j) {
			neighborsOK++
		} else {
			bad = append(bad, fmt.Sprintf("%s: %d BGP neighbors, state b wants %d", sw, n, o.expectedNeighbors(j)))
		}
	}
	failed := 0
	byPhaseErr := map[string]int{}
	var sample []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		where := "before phase 1"
		var pe *statemachine.PhaseError
		if errors.As(err, &pe) {
			where = fmt.Sprintf("phase %d", pe.Phase)
		}
		byPhaseErr[where]++
		if len(sample) < 3 {
			sample = append(sample, oneLine(err.Error()))
		}
	}
	fmt.Printf("verify: %d/%d nodes in state b; %d/%d leaves run their last rendered revision, marked deployed; %d/%d leaves with the BGP neighbors of state b\n",
		inB, o.nodes, okLeaves, o.leaves, neighborsOK, o.leaves)
	if failed > 0 {
		var where []string
		for _, k := range slices.Sorted(maps.Keys(byPhaseErr)) {
			where = append(where, fmt.Sprintf("%s %d", k, byPhaseErr[k]))
		}
		fmt.Printf("failed transitions: %d (%s); e.g.\n", failed, strings.Join(where, ", "))
		for _, e := range sample {
			fmt.Printf("  %s\n", e)
		}
	}
	for _, b := range bad[:min(len(bad), 5)] {
		fmt.Printf("  %s\n", b)
	}

	// Targets.
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	allDone := failed == 0 && inB == o.nodes && okLeaves == o.leaves && neighborsOK == o.leaves
	fmt.Printf("target at most 10 NetBox requests per device: %s (%.1f)\n", verdict(perDevice <= 10), perDevice)
	sessNote := "sessions = deploy batches on every switch, at most 1 open per switch"
	if len(extra) > 0 {
		sessNote = fmt.Sprintf("%d compare sessions besides the deploy batches, e.g. %s", reads, strings.Join(extra[:min(3, len(extra))], ", "))
	}
	if maxOpen > 1 {
		sessNote += fmt.Sprintf("; up to %d sessions open to one switch at once", maxOpen)
	}
	fmt.Printf("target one SSH session per switch per batch: %s (%s)\n", verdict(len(extra) == 0 && maxOpen <= 1), sessNote)
	fleetNote := wall.Round(100 * time.Millisecond).String()
	if !allDone {
		fleetNote += ", but not every node reached b on a leaf running it"
	}
	fmt.Printf("target whole fleet under 60s: %s (%s)\n", verdict(allDone && wall < time.Minute), fleetNote)
	return nil
}

func phaseName(p statemachine.Phase) string {
	switch p {
	case 0:
		return "state records"
	case statemachine.PhaseNetBox:
		return "netbox"
	case statemachine.PhaseGenerate:
		return "render"
	case statemachine.PhaseDeploy:
		return "deploy"
	case statemachine.PhaseCompare:
		return "compare"
	}
	return fmt.Sprintf("phase %d", p)
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100].Round(time.Millisecond)
}

func sumInts(s []int) int {
	n := 0
	for _, v := range s {
		n += v
	}
	return n
}

func mean(s []int) float64 { return float64(sumInts(s)) / float64(len(s)) }

func short(rev string) string { return rev[:min(len(rev), 12)] }

// oneLine puts a multi-line error on one line, shortened.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
	if len(s) > 240 {
		s = s[:240] + "..."
	}
	return s
}
