package main

import (
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/services"
)

// listenerCommand is `osism service listener`.
func listenerCommand() *cli.Command {
	return &cli.Command{
		Name:  "listener",
		Usage: "mirror Ironic's notifications into NetBox and drive the device state machine",
		Description: `Consumes Ironic's versioned notifications from RabbitMQ (exchange ironic,
routing key ironic_versioned_notifications.info, durable queue
osism-listener-ironic), writes provision_state, power_state and maintenance
of the device named like the node to NetBox and every secondary NetBox
(netbox.secondaries, NETBOX_SECONDARIES), submits the device transitions of
listener.transitions as netbox.connect tasks, and publishes every event on
the bus (osism.events.ironic.<event type>). A message is acknowledged only
after all of that succeeded; one that cannot be decoded goes to the
dead-letter queue osism-listener-ironic.dead with the reason.

The RabbitMQ URL holds a password: it comes from listener.url_file,
listener.url, ` + services.EnvListenerURL + `, ` + services.EnvListenerURLFile + ` or upstream's
` + services.EnvListenerBrokerURI + `, never from a flag. The listener needs a broker (broker.url) to
submit tasks to; its credential needs the operator role.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "the listener's queue (default listener.queue, " + services.EnvListenerQueue + ", else osism-listener-ironic)"},
			&cli.DurationFlag{Name: "stats-interval", Value: 5 * time.Minute, Usage: "log the counters this often (0: never)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("service listener: no arguments expected, got %q", c.Args().First())
			}
			if c.Duration("stats-interval") < 0 {
				return usagef("service listener --stats-interval %s: expected 0 or a positive duration", c.Duration("stats-interval"))
			}
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
			cfg := config(c)
			lc := cfg.Listener
			if c.IsSet("queue") {
				lc.Queue = c.String("queue")
			}
			nb, err := netbox.New(cfg.NetBox)
			if err != nil {
				return usagef("service listener: NetBox: %v", err)
			}
			secs, err := netbox.OpenSecondaries(cfg.NetBox)
			if err != nil {
				return usagef("service listener: %v", err)
			}
			client, _, err := busClientConfig(c)
			if err != nil {
				return err
			}
			defer client.Close()
			l, err := services.NewListener(lc, services.ListenerOpts{NetBox: nb, Secondaries: secs, Bus: client, Logger: log})
			if err != nil {
				return usagef("service listener: %v", err)
			}
			if every := c.Duration("stats-interval"); every > 0 {
				go func() {
					t := time.NewTicker(every)
					defer t.Stop()
					for {
						select {
						case <-c.Context.Done():
							return
						case <-t.C:
							log.Info("listener counters", "stats", l.Stats())
						}
					}
				}()
			}
			return l.Run(c.Context)
		},
	}
}
