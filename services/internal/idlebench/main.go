// Command idlebench measures the CPU time the beat and the watchdog use
// while idle: the embedded broker runs in a child process, so that only
// the services (and their bus clients) are counted in this one.
//
//	go run ./services/internal/idlebench -duration 60s
//
// It prints, for each service, the user and system CPU time of the
// process over the duration (getrusage, as /proc/self/stat's utime and
// stime) and that as a share of one core.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

func main() {
	serve := flag.Bool("serve-bus", false, "run the embedded broker and print its URL (the child)")
	duration := flag.Duration("duration", 60*time.Second, "how long each service is measured")
	settle := flag.Duration("settle", 3*time.Second, "how long each service runs before the measurement starts")
	dirs := flag.Int("dirs", 50, "directories in the watched inventory tree")
	flag.Parse()
	if *serve {
		serveBus()
		return
	}
	if err := run(*duration, *settle, *dirs); err != nil {
		fmt.Fprintln(os.Stderr, "idlebench:", err)
		os.Exit(1)
	}
}

func serveBus() {
	bus, err := osismtest.Start(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idlebench bus:", err)
		os.Exit(1)
	}
	fmt.Println(bus.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { _, _ = os.Stdin.Read(make([]byte, 1)); stop() }() // the parent went away
	<-ctx.Done()
	_ = bus.Close()
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(duration, settle time.Duration, ndirs int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "-serve-bus")
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { _ = stdin.Close(); _ = child.Wait() }()
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	cfg := osism.Config{Broker: osism.ConnConfig{URL: strings.TrimSpace(url)}}
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	inv, err := os.MkdirTemp("", "idlebench-inventory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(inv)
	for i := range ndirs {
		d := filepath.Join(inv, fmt.Sprintf("group_vars/g%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "vars.yml"), []byte("x: 1\n"), 0o644); err != nil {
			return err
		}
	}

	measure := func(name string, start func(ctx context.Context, c1, c2 *osism.Client) ([]services.Service, error)) error {
		c1, err := osism.Dial(ctx, cfg)
		if err != nil {
			return err
		}
		defer c1.Close()
		c2, err := osism.Dial(ctx, cfg)
		if err != nil {
			return err
		}
		defer c2.Close()
		svcs, err := start(ctx, c1, c2)
		if err != nil {
			return err
		}
		var g services.Group
		for i, s := range svcs {
			g.Add(fmt.Sprintf("%s-%d", name, i), s)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- g.Run(rctx) }()
		time.Sleep(settle)
		before, t0 := cpu(), time.Now()
		time.Sleep(duration)
		used, wall := cpu()-before, time.Since(t0)
		cancel()
		if err := <-done; err != nil {
			return err
		}
		fmt.Printf("%-45s cpu %8s over %s = %.4f%% of one core\n", name, used.Round(time.Microsecond), wall.Round(time.Millisecond),
			100*used.Seconds()/wall.Seconds())
		return nil
	}

	fmt.Printf("idle CPU of the services (broker in a child process), %d CPUs\n", runtime.NumCPU())
	if err := measure("nothing (two bus clients only)", func(context.Context, *osism.Client, *osism.Client) ([]services.Service, error) {
		return []services.Service{services.ServiceFunc(func(ctx context.Context) error { <-ctx.Done(); return nil })}, nil
	}); err != nil {
		return err
	}
	if err := measure("beat: leader and follower, default schedules", func(_ context.Context, c1, c2 *osism.Client) ([]services.Service, error) {
		a, err := services.NewBeat(services.BeatConfig{}, services.BeatOpts{Bus: c1, Owner: "bench-a", Logger: quiet})
		if err != nil {
			return nil, err
		}
		b, err := services.NewBeat(services.BeatConfig{}, services.BeatOpts{Bus: c2, Owner: "bench-b", Logger: quiet})
		if err != nil {
			return nil, err
		}
		return []services.Service{a, b}, nil
	}); err != nil {
		return err
	}
	return measure(fmt.Sprintf("watchdog: %d directories", ndirs+2), func(_ context.Context, c1, _ *osism.Client) ([]services.Service, error) {
		w, err := services.NewWatchdog(services.WatchdogConfig{Dir: inv}, services.WatchdogOpts{Bus: c1, Logger: quiet})
		if err != nil {
			return nil, err
		}
		return []services.Service{w}, nil
	})
}
