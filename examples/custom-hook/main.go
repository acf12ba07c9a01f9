// Command custom-hook shows how a program adds a phase hook of its own to
// the real device state machine: it builds the fabric of package services
// (phase 1 the desired state in NetBox, phase 2 render the switches, 3
// deploy them, 4 compare them) over the in-memory NetBox with its sample
// fabric, appends a ticket hook to phase 3 that files a change ticket in a
// ticket system (here a small HTTP server of the example's own) for every
// device whose switches were deployed, and moves node-1 from a to b.
//
//	go run ./examples/custom-hook
//
// It needs nothing installed: services.StartDev runs the NetBox double and
// a simulated FRR leaf per managed switch, which switchcfg deploys to over
// SSH as it does to real switches.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// Ticket is what the hook files.
type Ticket struct {
	Device  string `json:"device"`
	From    string `json:"from"`
	To      string `json:"to"`
	Phase   int    `json:"phase"`
	Summary string `json:"summary"`
}

// TicketHook is the program's own phase hook: it files a ticket in the
// ticket system at URL. A ticket system that does not take the ticket
// fails the phase, so the transition stops there and resumes at phase 3
// the next time.
type TicketHook struct {
	URL    string
	Client *http.Client
}

// RunPhase files the ticket of step.
func (h TicketHook) RunPhase(ctx context.Context, step statemachine.Step) error {
	t := Ticket{Device: step.Device, From: string(step.From), To: string(step.To), Phase: int(step.Phase),
		Summary: fmt.Sprintf("switches of %s reconfigured for state %s", step.Device, step.To)}
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("ticket for %s: %w", step.Device, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("ticket for %s: the ticket system at %s answered %s, expected 201 Created", step.Device, h.URL, resp.Status)
	}
	var created struct {
		ID int `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil {
		return fmt.Errorf("ticket for %s: the answer of %s: %w", step.Device, h.URL, err)
	}
	step.Progress(fmt.Sprintf("ticket #%d filed", created.ID), 1, 1)
	return nil
}

// ticketSystem is the example's stand-in for a ticket system: it keeps
// the tickets POSTed to it and answers 201 with the ticket's number.
type ticketSystem struct {
	mu      sync.Mutex
	tickets []Ticket
}

func (s *ticketSystem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a ticket", http.StatusMethodNotAllowed)
		return
	}
	var t Ticket
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&t); err != nil || t.Device == "" {
		http.Error(w, "expected a JSON ticket with a device", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.tickets = append(s.tickets, t)
	id := len(s.tickets)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]int{"id": id})
}

func (s *ticketSystem) all() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ticket(nil), s.tickets...)
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custom-hook:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("custom-hook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	desired := fs.String("desired-state", "", "desired-state directory (<dir>/<collection>/<device>/<state>.yaml); default the built-in sample desired states")
	device := fs.String("device", "node-1", "the device to move")
	state := fs.String("state", "b", "its target state")
	ticketURL := fs.String("ticket-url", "", "where to POST tickets (default: the example's own ticket system)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if st, err := os.Stat(*desired); *desired != "" && (err != nil || !st.IsDir()) {
		return fmt.Errorf("--desired-state %q: expected a directory of desired states (or none, for the built-in sample)", *desired)
	}

	// The ticket system, unless another is named.
	tickets := &ticketSystem{}
	if *ticketURL == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: tickets, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		*ticketURL = "http://" + ln.Addr().String() + "/tickets"
	}

	// The fabric on this machine: the NetBox double with its sample
	// fabric and a simulated FRR leaf per managed switch, reached over SSH
	// as real switches are; the configuration points at them.
	dev, err := services.StartDev(ctx, services.DevOpts{DesiredStateDir: *desired})
	if err != nil {
		return err
	}
	defer dev.Close()
	cfg := services.DefaultConfig()
	dev.Apply(&cfg)
	fab, closeFab, err := services.OpenFabric(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer closeFab()

	// The real machine's four phases, and the program's hook after the
	// deploy of phase 3.
	hooks := fab.Hooks("")
	hooks[statemachine.PhaseDeploy] = append(hooks[statemachine.PhaseDeploy], TicketHook{URL: *ticketURL})
	m, err := statemachine.New(statemachine.Config{
		Store: fab.Store(), Locker: fab.Locker, Hooks: hooks,
		Observers: []statemachine.Observer{statemachine.LineObserver(out)},
	})
	if err != nil {
		return err
	}
	res, err := m.Transition(ctx, *device, statemachine.State(*state), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s went from %s to %s\n", *device, res.From, res.To)
	for i, t := range tickets.all() {
		fmt.Fprintf(out, "ticket #%d: %s (%s, %s -> %s, phase %d)\n", i+1, t.Summary, t.Device, t.From, t.To, t.Phase)
	}
	return nil
}
