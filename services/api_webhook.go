package services

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
)

// webhook takes NetBox's webhook. The signature is checked on the raw
// body before anything parses it: a missing or wrong one gets 401. A
// change on a device tagged managed-by-osism, or on an interface of one
// (or wired to one), submits netbox.generate for those switches; a change
// on a device whose device_type is server submits reconciler.run; the
// rest gets 204 and is counted.
func (a *API) webhook(w http.ResponseWriter, r *http.Request) {
	if a.hookKey == "" {
		a.metrics.webhooks.WithLabelValues("unauthorized").Inc()
		writeError(w, http.StatusServiceUnavailable, "no webhook secret configured: set api.webhook_secret_file (the secret of the NetBox webhook)")
		return
	}
	body, ok := a.readBody(w, r)
	if !ok {
		a.metrics.webhooks.WithLabelValues("invalid").Inc()
		return
	}
	if err := netbox.VerifySignature(a.hookKey, body, r.Header.Get(netbox.SignatureHeader)); err != nil {
		a.metrics.webhooks.WithLabelValues("unauthorized").Inc()
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	p, err := netbox.ParseWebhook(body)
	if err != nil {
		a.metrics.webhooks.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusBadRequest, "webhook body: "+err.Error())
		return
	}
	args, key, err := a.webhookTask(r.Context(), p)
	if err != nil {
		var bad *webhookDataError
		if errors.As(err, &bad) {
			a.metrics.webhooks.WithLabelValues("invalid").Inc()
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.metrics.webhooks.WithLabelValues("failed").Inc()
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if args == nil {
		a.metrics.webhooks.WithLabelValues("ignored").Inc()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	res, err := a.bus.Submit(r.Context(), args, &osism.SubmitOpts{DedupKey: key})
	if err != nil && !errors.Is(err, osism.ErrMaybeQueued) {
		a.metrics.webhooks.WithLabelValues("failed").Inc()
		a.busError(w, err)
		return
	}
	result := "generate"
	if args.Kind() == osism.KindReconcilerRun {
		result = "reconcile"
	}
	a.metrics.webhooks.WithLabelValues(result).Inc()
	a.log.Info("webhook submitted a task", "model", p.Model, "event", p.Event, "kind", args.Kind(), "task", res.ID, "duplicate", res.Duplicate)
	writeJSON(w, http.StatusAccepted, submitted{TaskID: res.ID, Kind: args.Kind(), Duplicate: res.Duplicate})
}

// webhookDataError is a webhook whose data does not decode as its model.
type webhookDataError struct{ err error }

func (e *webhookDataError) Error() string { return "webhook body: " + e.err.Error() }
func (e *webhookDataError) Unwrap() error { return e.err }

// webhookTask is the task a webhook calls for, with its de-duplication
// key; nil when none.
func (a *API) webhookTask(ctx context.Context, p netbox.WebhookPayload) (osism.Args, string, error) {
	switch p.Model {
	case "device":
		d, err := p.Device()
		if err != nil {
			return nil, "", &webhookDataError{err}
		}
		// A deleted switch has nothing left to render.
		if d.HasTag(netbox.TagManagedByOSISM) && d.Name != "" && p.Event != netbox.EventDeleted {
			sws := []string{d.Name}
			return osism.NetBoxGenerateArgs{Switches: sws, Reason: "webhook"}, osism.NetBoxGenerateDedupKey(sws), nil
		}
		if d.CustomFields.String("device_type") == "server" {
			return osism.ReconcilerRunArgs{Reason: "webhook"}, osism.ReconcilerDedupKey, nil
		}
		return nil, "", nil
	case "interface":
		i, err := p.Interface()
		if err != nil {
			return nil, "", &webhookDataError{err}
		}
		// The interface's device and the devices its cable reaches: those
		// of them that are managed switches are rendered.
		var names []string
		add := func(n string) {
			if n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		add(i.Device.Name)
		for _, lp := range i.LinkPeers {
			add(lp.Device.Name)
		}
		if len(names) == 0 {
			return nil, "", nil
		}
		if a.nb == nil {
			return nil, "", errors.New("interface webhook: no NetBox configured to tell managed switches: set netbox.url and a token")
		}
		ds, err := a.nb.Devices(ctx, netbox.DeviceFilter{Name: names, Tag: []string{netbox.TagManagedByOSISM}})
		if err != nil {
			return nil, "", fmt.Errorf("interface webhook: NetBox: %w", err)
		}
		var sws []string
		for _, d := range ds {
			sws = append(sws, d.Name)
		}
		if len(sws) == 0 {
			return nil, "", nil
		}
		slices.Sort(sws)
		return osism.NetBoxGenerateArgs{Switches: sws, Reason: "webhook"}, osism.NetBoxGenerateDedupKey(sws), nil
	}
	return nil, "", nil
}
