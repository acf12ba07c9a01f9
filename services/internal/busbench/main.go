// Command busbench measures the task bus on an embedded broker with file
// storage: the round trip of a no-op task, tasks per second end to end with
// 1 and 4 workers, output lines per second through Follow, and the RSS of
// an idle worker process.
//
//	go run ./services/internal/busbench
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

func main() {
	var (
		idle        = flag.String("idle-worker", "", "run as an idle worker connected to this URL (used by the RSS measurement)")
		rounds      = flag.Int("rounds", 20000, "round trips to time")
		tasks       = flag.Int("tasks", 100000, "tasks per throughput run")
		submitters  = flag.Int("submitters", 256, "concurrent submitters in the throughput runs")
		concurrency = flag.Int("concurrency", 128, "concurrency of each worker")
		lines       = flag.Int("lines", 1000000, "output lines of the Follow run")
		syncAlways  = flag.Bool("sync-always", false, "fsync every write")
		tcp         = flag.Bool("tcp", false, "clients and workers connect over TCP instead of in process")
		memory      = flag.Bool("memory", false, "memory storage instead of files (for comparison)")
		cpuprofile  = flag.String("cpuprofile", "", "write a CPU profile of the measurements to this file")
	)
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if *idle != "" {
		os.Exit(idleWorker(*idle))
	}
	if err := run(*rounds, *tasks, *submitters, *concurrency, *lines, *syncAlways, *tcp, *memory); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "busbench:", err)
		os.Exit(1)
	}
}

func run(rounds, tasks, submitters, concurrency, lines int, syncAlways, tcp, memory bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "busbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler)
	tcfg := osism.TaskConfig{Storage: osism.StorageFile}
	if memory {
		tcfg.Storage = osism.StorageMemory
	}
	b, err := services.NewBroker(services.BrokerConfig{Name: "busbench", Port: -1, StoreDir: dir, SyncAlways: syncAlways, Logger: quiet, Bus: tcfg})
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer b.Shutdown()
	connect := func() (*nats.Conn, error) {
		if tcp {
			// The broker generated its token in dir: connect as this
			// host's clients do.
			tok, err := os.ReadFile(b.TokenFile())
			if err != nil {
				return nil, err
			}
			return nats.Connect(b.URL(), nats.Token(strings.TrimSpace(string(tok))))
		}
		return b.Connect()
	}
	newClient := func() (*osism.Client, error) {
		nc, err := connect()
		if err != nil {
			return nil, err
		}
		return osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: tcfg, Logger: quiet})
	}
	fmt.Printf("go-osism busbench: %s, GOMAXPROCS %d, storage %s in %s, sync always %v, connections %s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), tcfg.Storage, dir, syncAlways, map[bool]string{true: "TCP", false: "in process"}[tcp])

	client, err := newClient()
	if err != nil {
		return err
	}
	handlers, err := services.BuiltinHandlers(services.DefaultConfig())
	if err != nil {
		return err
	}
	startWorkers := func(n int) (stop func(), err error) {
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range n {
			c, err := newClient()
			if err != nil {
				cancel()
				return nil, err
			}
			r, err := c.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: concurrency},
				Handlers: handlers, ID: fmt.Sprintf("bench-%d", i), Logger: quiet})
			if err != nil {
				cancel()
				return nil, err
			}
			wg.Add(1)
			go func() { defer wg.Done(); _ = r.Run(wctx) }()
		}
		// Warm up: every worker has its consumer and a pull open.
		for range 200 {
			if _, err := roundTrip(ctx, client, osism.NoopArgs{}); err != nil {
				cancel()
				return nil, err
			}
		}
		return func() { cancel(); wg.Wait() }, nil
	}

	// Round trip: one task at a time, submit to result seen.
	stop, err := startWorkers(1)
	if err != nil {
		return err
	}
	lat := make([]time.Duration, 0, rounds)
	for range rounds {
		d, err := roundTrip(ctx, client, osism.NoopArgs{})
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	fmt.Printf("round trip (no-op task, %d sequential): p50 %s  p90 %s  p99 %s  max %s\n",
		rounds, pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1])

	// Throughput with 1 worker, then 4.
	for _, n := range []int{1, 4} {
		if n > 1 {
			stop()
			if stop, err = startWorkers(n); err != nil {
				return err
			}
		}
		rate, err := throughput(ctx, client, tasks, submitters)
		if err != nil {
			return err
		}
		fmt.Printf("throughput, %d worker(s) x concurrency %d, %d submitters: %.0f tasks/s (%d tasks, each recorded queued, running, succeeded)\n",
			n, concurrency, submitters, rate, tasks)
	}
	stop()

	// Output through Follow.
	if stop, err = startWorkers(1); err != nil {
		return err
	}
	start := time.Now()
	res, err := client.Submit(ctx, osism.NoopArgs{Lines: lines}, nil)
	if err != nil {
		return err
	}
	cw := &countWriter{}
	code, err := client.Follow(ctx, res.ID, cw, nil)
	if err != nil {
		return err
	}
	el := time.Since(start)
	if cw.lines.Load() != int64(lines) || code != 0 {
		return fmt.Errorf("follow: %d lines, exit %d; want %d lines, exit 0", cw.lines.Load(), code, lines)
	}
	fmt.Printf("output through Follow (live): %.0f lines/s (%d lines in %s)\n", float64(lines)/el.Seconds(), lines, el.Round(time.Millisecond))
	start = time.Now()
	cw = &countWriter{}
	if _, err := client.Follow(ctx, res.ID, cw, nil); err != nil {
		return err
	}
	el = time.Since(start)
	fmt.Printf("output through Follow (replay): %.0f lines/s (%d lines in %s)\n", float64(cw.lines.Load())/el.Seconds(), cw.lines.Load(), el.Round(time.Millisecond))
	stop()

	rss, err := idleRSS(ctx, b.URL(), b.TokenFile(), client)
	if err != nil {
		return err
	}
	fmt.Printf("idle worker process (all %d queues): RSS %.1f MiB\n", len(osism.Queues()), float64(rss)/(1<<20))
	return nil
}

func roundTrip(ctx context.Context, c *osism.Client, args osism.Args) (time.Duration, error) {
	start := time.Now()
	res, err := c.Submit(ctx, args, nil)
	if err != nil {
		return 0, err
	}
	t, err := c.Wait(ctx, res.ID)
	if err != nil {
		return 0, err
	}
	if t.State != osism.StateSucceeded {
		return 0, fmt.Errorf("task %s %s: %s", t.ID, t.State, t.Error)
	}
	return time.Since(start), nil
}

func throughput(ctx context.Context, c *osism.Client, n, submitters int) (float64, error) {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := roundTrip(ctx, c, osism.NoopArgs{}); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100].Round(time.Microsecond)
}

type countWriter struct{ lines atomic.Int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// idleRSS starts this program as an idle worker of every queue, waits
// until it announced itself and settled, and reads its resident set.
func idleRSS(ctx context.Context, url, tokenFile string, c *osism.Client) (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(exe, "-idle-worker", url)
	// As the workers of this host do: the broker's token from its file.
	cmd.Env = append(os.Environ(), osism.EnvBrokerTokenFile+"="+tokenFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ws, err := c.Runners(ctx)
		if err != nil {
			return 0, err
		}
		if slices.ContainsFunc(ws, func(w osism.RunnerInfo) bool { return w.PID == cmd.Process.Pid }) {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("idle worker did not announce itself within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let it idle through a few pull expiries and heartbeats.
	time.Sleep(6 * time.Second)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", cmd.Process.Pid)
}

func idleWorker(url string) int {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	c, err := osism.Dial(ctx, osism.Config{Broker: osism.ConnConfig{URL: url, TokenFile: os.Getenv(osism.EnvBrokerTokenFile)}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	queues := map[osism.Queue]int{}
	for _, q := range osism.Queues() {
		queues[q] = 1
	}
	w, err := services.NewWorker(c, services.WorkerConfig{Queues: queues, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = w.Run(ctx)
	return 0
}

var _ = io.Discard
