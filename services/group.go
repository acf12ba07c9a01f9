package services

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Service is a long-running loop: it runs until ctx ends (then returns
// nil) or it fails.
type Service interface {
	Run(ctx context.Context) error
}

// ServiceFunc adapts a function to a Service.
type ServiceFunc func(ctx context.Context) error

// Run calls f.
func (f ServiceFunc) Run(ctx context.Context) error { return f(ctx) }

// Group runs several services in one process. The zero value is empty and
// ready.
type Group struct {
	names    []string
	services []Service
}

// Add adds a service under a name used in errors.
func (g *Group) Add(name string, s Service) {
	g.names, g.services = append(g.names, name), append(g.services, s)
}

// Run runs every service until ctx ends or one returns; then it cancels
// the others and waits for all. It returns the errors of the services that
// failed (a service that returns nil before ctx ended also stops the group).
func (g *Group) Run(ctx context.Context) error {
	if len(g.services) == 0 {
		return errors.New("service group: no services")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(g.services))
	var wg sync.WaitGroup
	for i, s := range g.services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			if err := s.Run(ctx); err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
				errs[i] = fmt.Errorf("service %s: %w", g.names[i], err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
