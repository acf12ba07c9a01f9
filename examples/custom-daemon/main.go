// Command custom-daemon shows a manager of your own, composed from package
// services: the embedded Broker, a Worker of the conductor queue with the
// built-in handlers, the HTTP API, and beside them a service of the
// program's own (a pinger that waits for the API's /healthz, then submits
// osism.noop at an interval and counts the outcomes in a Prometheus
// counter), all in one services.Group, which stops every service when one
// fails or the context ends. The API and the pinger share one Prometheus
// registry, so the API's /metrics serves both.
//
//	go run ./examples/custom-daemon --for 5s --every 1s
//
// Without --for it runs until SIGINT or SIGTERM. It needs nothing
// installed: the broker keeps its files in a temporary directory.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custom-daemon:", err)
		os.Exit(1)
	}
}

// Pinger is the program's own service: it waits until the API answers
// /healthz, then submits osism.noop every Every and counts the outcomes.
type Pinger struct {
	Bus     *osism.Client
	Health  string // the API's /healthz URL
	Every   time.Duration
	Out     io.Writer
	Outcome *prometheus.CounterVec

	mu sync.Mutex
	n  int
}

// Run is the service's loop: it returns nil when ctx ends.
func (p *Pinger) Run(ctx context.Context) error {
	code, err := waitHealthy(ctx, p.Health)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	fmt.Fprintf(p.Out, "pinger: the API's /healthz answered %d\n", code)
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		if err := p.ping(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ping submits one osism.noop and waits for its record.
func (p *Pinger) ping(ctx context.Context) error {
	sub, err := p.Bus.Submit(ctx, osism.NoopArgs{Lines: 1}, nil)
	if err != nil {
		return err
	}
	task, err := p.Bus.Wait(ctx, sub.ID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.n++
	n := p.n
	p.mu.Unlock()
	p.Outcome.WithLabelValues(string(task.State)).Inc()
	fmt.Fprintf(p.Out, "pinger: osism.noop #%d %s\n", n, task.State)
	return nil
}

// waitHealthy polls url until it answers 200 or ctx ends.
func waitHealthy(ctx context.Context, url string) (int, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return resp.StatusCode, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s did not answer 200: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("custom-daemon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runFor := fs.Duration("for", 0, "stop after this long (0: run until SIGINT or SIGTERM)")
	every := fs.Duration("every", time.Second, "how often the pinger submits osism.noop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *every <= 0 {
		return fmt.Errorf("--every %s: expected a positive duration", *every)
	}
	if *runFor < 0 {
		return fmt.Errorf("--for %s: expected a duration of 0 or more", *runFor)
	}
	log := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "custom-daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The broker outlives the services that use it: it starts first and
	// stops after the group.
	broker, err := services.NewBroker(services.BrokerConfig{Port: -1, StoreDir: dir + "/broker", Logger: log})
	if err != nil {
		return err
	}
	if err := broker.Start(); err != nil {
		return err
	}
	defer broker.Shutdown()
	cfg := services.DefaultConfig()
	cfg.Bus.Broker.URL, cfg.Bus.Broker.TokenFile = broker.URL(), broker.TokenFile()
	dial := func(name string) (*osism.Client, error) {
		c := cfg.Bus
		c.Broker.Name = name
		return osism.Dial(ctx, c)
	}

	workerBus, err := dial("custom-daemon-worker")
	if err != nil {
		return err
	}
	defer workerBus.Close()
	handlers, err := services.BuiltinHandlers(cfg)
	if err != nil {
		return err
	}
	worker, err := services.NewWorker(workerBus, services.WorkerConfig{
		Queues: map[osism.Queue]int{osism.QueueConductor: 2}, Handlers: handlers, Logger: log,
	})
	if err != nil {
		return err
	}

	apiBus, err := dial("custom-daemon-api")
	if err != nil {
		return err
	}
	defer apiBus.Close()
	token, err := newToken()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	api, err := services.NewAPI(services.APIConfig{OperatorToken: osism.Secret(token)},
		services.APIOpts{Bus: apiBus, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()

	pings := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "example_pings_total", Help: "osism.noop tasks the pinger submitted, by final state.",
	}, []string{"state"})
	if err := reg.Register(pings); err != nil {
		return err
	}
	pingerBus, err := dial("custom-daemon-pinger")
	if err != nil {
		return err
	}
	defer pingerBus.Close()
	pinger := &Pinger{Bus: pingerBus, Health: base + "/healthz", Every: *every, Out: out, Outcome: pings}

	var g services.Group
	g.Add("worker", worker)
	g.Add("api", services.ServiceFunc(func(ctx context.Context) error { return api.Serve(ctx, ln) }))
	g.Add("pinger", pinger)
	fmt.Fprintln(out, "manager: broker, then worker (conductor), api and pinger in one group")

	gctx := ctx
	if *runFor > 0 {
		var cancel context.CancelFunc
		gctx, cancel = context.WithTimeout(ctx, *runFor)
		defer cancel()
	}
	if err := g.Run(gctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "manager: every service stopped")

	// One registry, one /metrics: the pinger's counter is on the API's
	// endpoint beside the API's own, as Prometheus scrapes it.
	return printMetrics(api.Handler(), token, out)
}

// printMetrics asks the API's handler for /metrics and prints the
// pinger's lines.
func printMetrics(h http.Handler, token string, out io.Writer) error {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("GET /metrics: %d", rec.Code)
	}
	sc := bufio.NewScanner(rec.Body)
	found := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "example_pings_total{") {
			fmt.Fprintln(out, "metrics:", sc.Text())
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !found {
		return errors.New("GET /metrics: no example_pings_total")
	}
	return nil
}

// newToken is a random API token, held in memory only.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
