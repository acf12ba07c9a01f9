package services_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// Operators (the listener's credential: it submits transitions) and
// workers may publish events on osism.events.>; readers may not.
func TestBrokerRolesPublishEvents(t *testing.T) {
	t.Parallel()
	b := roleBroker(t, &logBuf{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := b.Connect()
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	got := make(chan string, 10)
	sub, err := admin.Subscribe(osism.EventSubjectPrefix+">", func(m *nats.Msg) { got <- m.Subject })
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, admin.Flush())

	opErrs, readErrs, workErrs := &permErrs{}, &permErrs{}, &permErrs{}
	op := dialAs(t, ctx, b.URL(), osism.ConnConfig{User: "ops", Password: opPass}, opErrs)
	reader := dialAs(t, ctx, b.URL(), osism.ConnConfig{User: "dash", Password: readerPass}, readErrs)
	worker := dialAs(t, ctx, b.URL(), osism.ConnConfig{Token: workerTok}, workErrs)

	for _, c := range []struct {
		name   string
		client *osism.Client
		errs   *permErrs
		may    bool
	}{{"operator", op, opErrs, true}, {"worker", worker, workErrs, true}, {"reader", reader, readErrs, false}} {
		require.NoError(t, c.client.PublishEvent(ctx, "ironic", "baremetal.node."+c.name, nil))
		require.NoError(t, c.client.Conn().Flush())
		if c.may {
			select {
			case s := <-got:
				require.Equal(t, osism.EventSubject("ironic", "baremetal.node."+c.name), s)
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: event not received", c.name)
			}
			require.False(t, c.errs.violated("osism.events."), "%s: %v", c.name, c.errs)
			continue
		}
		osismtest.WaitFor(t, 10*time.Second, func() bool { return c.errs.violated("osism.events.") }, "the %s's publish refused", c.name)
	}
	select {
	case s := <-got:
		t.Fatalf("a refused event arrived: %s", s)
	default:
	}
}
