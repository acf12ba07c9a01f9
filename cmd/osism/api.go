package main

import (
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/services"
)

// apiCommand is `osism service api`.
func apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "serve the HTTP API: NetBox webhooks, tasks, device states, events, inventory, health and metrics",
		Description: `Serves the routes of /v1/openapi.json on api.listen (` + services.EnvAPIListen + `, default
` + services.DefaultAPIListen + `). Every route but /healthz, /readyz and POST /v1/webhook/netbox needs a
bearer token: the read token (api.read_token_file, ` + services.EnvAPIReadTokenFile + `) reads; the
operator token (api.operator_token_file, ` + services.EnvAPIOperatorTokenFile + `) also submits and
cancels. The webhook is checked with NetBox's HMAC-SHA512 signature of the secret in
api.webhook_secret_file (` + services.EnvAPIWebhookSecretFile + `). Secrets come from files or the
environment, never from flags. On loopback without tokens every request is served
without one; an address that is not loopback needs TLS (api.tls_cert, api.tls_key)
and both tokens.

The API needs a broker (broker.url; its credential needs the operator role to submit
and cancel). NetBox (netbox.url) serves device states, the webhook's interface
look-ups and POST /v1/notifications/baremetal; Ironic (the openstack section) serves
GET /v1/baremetal/nodes. Without them those routes answer 503.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "host:port (default api.listen, " + services.EnvAPIListen + ", else " + services.DefaultAPIListen + ")"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("service api: no arguments expected, got %q", c.Args().First())
			}
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
			cfg := config(c)
			ac := cfg.API
			if ac.InventoryDir == "" {
				ac.InventoryDir = cfg.Reconciler.OutputDir // the reconciler's output; empty: its default
			}
			if c.IsSet("listen") {
				ac.Listen = c.String("listen")
			}
			if err := ac.Validate(); err != nil {
				return usagef("service api: %v", err)
			}
			client, _, err := busClientConfig(c)
			if err != nil {
				return err
			}
			defer client.Close()
			opts := services.APIOpts{Bus: client, Ansible: cfg.Ansible, Logger: log}
			if cfg.NetBox.URL != "" {
				nb, err := netbox.New(cfg.NetBox)
				if err != nil {
					return usagef("service api: NetBox: %v", err)
				}
				secs, err := netbox.OpenSecondaries(cfg.NetBox)
				if err != nil {
					return usagef("service api: %v", err)
				}
				opts.NetBox = nb
				opts.Notifications, err = services.NewNotificationHandler(cfg.Listener, services.ListenerOpts{NetBox: nb, Secondaries: secs,
					Bus: client, Logger: log})
				if err != nil {
					return usagef("service api: %v", err)
				}
			} else {
				log.Warn("no NetBox configured: device states, interface webhooks and notifications answer 503 (set netbox.url, NETBOX_URL)")
			}
			if cfg.OpenStack.Configured() {
				bm, err := openstack.NewBareMetal(c.Context, cfg.OpenStack)
				if err != nil {
					log.Warn("Ironic not reachable: GET /v1/baremetal/nodes answers 503", "error", err)
				} else {
					opts.BareMetal = bm
				}
			}
			api, err := services.NewAPI(ac, opts)
			if err != nil {
				return usagef("service api: %v", err)
			}
			return api.Run(c.Context)
		},
	}
}
