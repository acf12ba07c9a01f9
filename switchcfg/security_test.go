package switchcfg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// doubleDeployer is a Deployer over the sample fabric in the NetBox double
// whose switches are reached with drivers; no real switch is needed.
func doubleDeployer(t *testing.T, drivers func(string) (switchcfg.Driver, switchcfg.Dialect, error)) (*netboxtest.Server, *netbox.Client, *switchcfg.Deployer) {
	t.Helper()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	d, err := switchcfg.NewDeployer(switchcfg.Config{StateDir: t.TempDir()}, nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	d.Credentials = &switchcfg.Credentials{Defaults: switchcfg.TargetSpec{User: "u", Password: "p", InsecureIgnoreHostKey: true}}
	d.Drivers = drivers
	return srv, nb, d
}

// setInterface changes fields of an interface in the NetBox double.
func setInterface(t *testing.T, srv *netboxtest.Server, nb *netbox.Client, device, name string, fields map[string]any) {
	t.Helper()
	ifs, err := nb.Interfaces(context.Background(), netbox.InterfaceFilter{Device: []string{device}, Name: []string{name}})
	require.NoError(t, err)
	require.Len(t, ifs, 1)
	require.NoError(t, srv.Update("dcim.interface", ifs[0].ID, fields))
}

// fakeDriver opens fakeSessions over one shared running configuration and
// records what is sent.
type fakeDriver struct {
	mu      sync.Mutex
	opened  int
	running []byte
	sent    []string
	panicAt string // "open", "running", "apply", "save"
}

func (f *fakeDriver) drivers(string) (switchcfg.Driver, switchcfg.Dialect, error) {
	return f, switchcfg.NewFRR(), nil
}

func (f *fakeDriver) Open(context.Context, switchcfg.Target) (switchcfg.Session, error) {
	f.mu.Lock()
	f.opened++
	f.mu.Unlock()
	if f.panicAt == "open" {
		panic("driver exploded")
	}
	return &fakeSession{f: f}, nil
}

type fakeSession struct{ f *fakeDriver }

func (s *fakeSession) RunningConfig(context.Context) ([]byte, error) {
	if s.f.panicAt == "running" {
		var m map[string]int
		m["x"]++ // a nil map: a real runtime panic
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	// As FRR prints it: ending with "end".
	return append(bytes.Clone(s.f.running), "end\n"...), nil
}

func (s *fakeSession) Apply(_ context.Context, rendered, running []byte) ([]string, error) {
	if s.f.panicAt == "apply" {
		panic("apply exploded")
	}
	cmds := switchcfg.NewFRR().Commands(rendered, running)
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.sent = append(s.f.sent, cmds...)
	s.f.running = bytes.Clone(rendered)
	return cmds, nil
}

func (s *fakeSession) Save(context.Context) error { return nil }
func (s *fakeSession) Close() error               { return nil }

func TestRenderRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		set    func(t *testing.T, srv *netboxtest.Server, nb *netbox.Client)
		object string
		field  string
	}{
		{
			name: "interface description",
			set: func(t *testing.T, srv *netboxtest.Server, nb *netbox.Client) {
				setInterface(t, srv, nb, "leaf-1", "swp1", map[string]any{"description": "x\nrouter bgp 1"})
			},
			object: "interface swp1", field: "description",
		},
		{
			name: "interface label with a carriage return",
			set: func(t *testing.T, srv *netboxtest.Server, nb *netbox.Client) {
				setInterface(t, srv, nb, "leaf-1", "swp3", map[string]any{"label": "a\rb"})
			},
			object: "interface swp3", field: "label",
		},
		{
			name: "device custom field",
			set: func(t *testing.T, srv *netboxtest.Server, _ *netbox.Client) {
				require.NoError(t, srv.SetCustomField("dcim.device", srv.ID("dcim.device", "leaf-1"), "deployment_type", "frr\tx"))
			},
			object: "device", field: "custom_fields.deployment_type",
		},
		{
			name: "config context value",
			set: func(t *testing.T, srv *netboxtest.Server, _ *netbox.Client) {
				require.NoError(t, srv.Update("dcim.device", srv.ID("dcim.device", "leaf-1"),
					map[string]any{"local_context_data": map[string]any{"motd": []any{"ok", "line\x7f"}}}))
			},
			object: "device", field: "config_context.motd[1]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			drv := &fakeDriver{running: []byte("frr defaults traditional\n")}
			srv, nb, d := doubleDeployer(t, drv.drivers)
			tc.set(t, srv, nb)
			ctx := context.Background()

			_, err := d.Generate(ctx, "leaf-1")
			require.ErrorIs(t, err, switchcfg.ErrControlCharacter)
			var ce *switchcfg.ContextStringError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, switchcfg.ContextStringError{Switch: "leaf-1", Object: tc.object, Field: tc.field, Char: ce.Char}, *ce)
			require.Contains(t, err.Error(), `"leaf-1"`)
			require.Contains(t, err.Error(), tc.object)
			require.Contains(t, err.Error(), "field "+tc.field)
			require.NotContains(t, err.Error(), "router bgp 1", "the value is not quoted")

			sws, err := d.Repo.Switches()
			require.NoError(t, err)
			require.Empty(t, sws, "nothing was committed")
			_, err = d.Deploy(ctx, []string{"leaf-1"}, nil)
			require.Error(t, err)
			require.Zero(t, drv.opened, "no session was opened")
			require.Empty(t, drv.sent, "nothing was deployed")
		})
	}
}

func TestContextCheck(t *testing.T) {
	t.Parallel()
	base := func() *switchcfg.Context {
		return &switchcfg.Context{
			Device:     switchcfg.Device{Name: "leaf-1", CustomFields: map[string]any{}, ConfigContext: map[string]any{}},
			Interfaces: []switchcfg.Interface{{Name: "swp1"}, {Name: "swp2"}},
			VLANs:      []switchcfg.VLAN{{VID: 10, Name: "ten"}},
			MLAG:       &switchcfg.MLAG{Peer: "leaf-2"},
		}
	}
	for _, tc := range []struct {
		name          string
		change        func(c *switchcfg.Context)
		object, field string
	}{
		{"clean", func(*switchcfg.Context) {}, "", ""},
		{"unicode is fine", func(c *switchcfg.Context) { c.Interfaces[0].Description = "Grüße → swp1 ✓" }, "", ""},
		{"device name", func(c *switchcfg.Context) { c.Device.Site.Name = "dc\n1" }, "device", "site.name"},
		{"interface custom field", func(c *switchcfg.Context) {
			c.Interfaces[1].CustomFields = map[string]any{"note": map[string]any{"x": "a\x00"}}
		}, "interface swp2", "custom_fields.note.x"},
		{"a key of the config context", func(c *switchcfg.Context) { c.Device.ConfigContext["a\nb"] = 1 }, "device", `config_context."a\nb" (its key)`},
		{"vlan name", func(c *switchcfg.Context) { c.VLANs[0].Name = "t\ten" }, "vlan 10", "name"},
		{"interface name itself", func(c *switchcfg.Context) { c.Interfaces[0].Name = "swp1\n" }, "interface #1", "name"},
		{"mlag peer", func(c *switchcfg.Context) { c.MLAG.Peer = "leaf-2\x1b[0m" }, "mlag", "peer"},
		{"peer of an interface", func(c *switchcfg.Context) { c.Interfaces[0].Peer = &switchcfg.Peer{Device: "node\n"} }, "interface swp1", "peer.device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tc.change(c)
			err := c.Check()
			r, rerr := renderer(t, nil).RenderContext(c)
			if tc.object == "" {
				require.NoError(t, err)
				require.NoError(t, rerr)
				require.NotEmpty(t, r.Config)
				return
			}
			var ce *switchcfg.ContextStringError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, "leaf-1", ce.Switch)
			require.Equal(t, tc.object, ce.Object)
			require.Equal(t, tc.field, ce.Field)
			require.ErrorIs(t, rerr, switchcfg.ErrControlCharacter, "RenderContext checks too")
			require.Empty(t, r.Config)
		})
	}
}

// FuzzContextStrings: a string with a C0 control character or DEL, put in
// any string of the context, is refused with an error naming the switch,
// the object and the field; any other string is accepted.
func FuzzContextStrings(f *testing.F) {
	for _, s := range []string{"x\nrouter bgp 1", "plain", "", "\x7f", "tab\there", "ünïcode", "\u2028", "a\x00"} {
		for where := range uint8(8) {
			f.Add(s, where)
		}
	}
	f.Fuzz(func(t *testing.T, s string, where uint8) {
		c := &switchcfg.Context{
			Device:     switchcfg.Device{Name: "leaf-1", CustomFields: map[string]any{}, ConfigContext: map[string]any{}},
			Interfaces: []switchcfg.Interface{{Name: "swp1"}},
		}
		var object, field string
		switch where % 8 {
		case 0:
			c.Interfaces[0].Description, object, field = s, "interface swp1", "description"
		case 1:
			c.Interfaces[0].Label, object, field = s, "interface swp1", "label"
		case 2:
			c.Device.Serial, object, field = s, "device", "serial"
		case 3:
			c.Device.CustomFields["cf"], object, field = s, "device", "custom_fields.cf"
		case 4:
			c.Device.ConfigContext["l"], object, field = []any{1, map[string]any{"k": s}}, "device", "config_context.l[1].k"
		case 5:
			c.Interfaces[0].TaggedVLANs, object, field = []switchcfg.VLANRef{{VID: 7, Name: s}}, "interface swp1", "tagged_vlans[0].name"
		case 6:
			c.BGP.RouterID, object, field = s, "bgp", "router_id"
		case 7:
			c.Device.Tags, object, field = []string{"a", s}, "device", "tags[1]"
		}
		bad := strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
		err := c.Check()
		if !bad {
			require.NoError(t, err)
			return
		}
		var ce *switchcfg.ContextStringError
		require.ErrorAs(t, err, &ce, "%q at %s/%s", s, object, field)
		require.ErrorIs(t, err, switchcfg.ErrControlCharacter)
		require.Equal(t, "leaf-1", ce.Switch)
		require.Equal(t, object, ce.Object)
		require.Equal(t, field, ce.Field)
		require.True(t, ce.Char < 0x20 || ce.Char == 0x7f)
		require.True(t, strings.ContainsRune(s, ce.Char))
	})
}

// panicFS is a template file system that panics, as a broken template
// engine would.
type panicFS struct{}

func (panicFS) Open(string) (fs.File, error) { panic("template engine exploded") }

func TestPanicsBecomeErrors(t *testing.T) {
	t.Parallel()
	t.Run("render", func(t *testing.T) {
		t.Parallel()
		r := renderer(t, nil, switchcfg.WithTemplateFS(panicFS{}, "exploding templates"))
		_, err := r.RenderContext(&switchcfg.Context{Device: switchcfg.Device{Name: "leaf-1"}})
		var pe *switchcfg.PanicError
		require.ErrorAs(t, err, &pe)
		require.Contains(t, err.Error(), `render switch "leaf-1"`)
		require.Contains(t, err.Error(), "template engine exploded")
	})
	for _, at := range []string{"open", "running", "apply"} {
		t.Run("deploy, panic in "+at, func(t *testing.T) {
			t.Parallel()
			drv := &fakeDriver{running: []byte("frr defaults traditional\n"), panicAt: at}
			_, _, d := doubleDeployer(t, drv.drivers)
			ctx := context.Background()
			_, err := d.Generate(ctx, "leaf-1", "leaf-2")
			require.NoError(t, err)
			res, err := d.Deploy(ctx, []string{"leaf-1", "leaf-2"}, nil)
			var pe *switchcfg.PanicError
			require.ErrorAs(t, err, &pe)
			require.Contains(t, err.Error(), "switch leaf-1")
			require.Contains(t, err.Error(), "switch leaf-2")
			require.Len(t, res, 2)
			_, err = d.Repo.Deployed("leaf-1")
			require.ErrorIs(t, err, switchcfg.ErrNotDeployed)

			// The dry run and the comparison run outside the deploy's rounds.
			_, err = d.Deploy(ctx, []string{"leaf-1"}, &switchcfg.DeployOpts{DryRun: true})
			if at != "apply" {
				require.ErrorAs(t, err, &pe)
			}
			_, err = d.Compare(ctx, []string{"leaf-2"})
			if at != "apply" {
				require.ErrorAs(t, err, &pe)
			}

			// The process lives on: the next deploy with a sound driver works.
			drv.panicAt = ""
			res, err = d.Deploy(ctx, []string{"leaf-1"}, nil)
			require.NoError(t, err)
			require.True(t, res[0].Report.OK(), res[0].Report.String())
		})
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	frr := switchcfg.NewFRR()
	for in, want := range map[string]string{
		" neighbor 192.0.2.1 password s3cret":                " neighbor 192.0.2.1 password ******",
		"no neighbor fabric password s3cret":                 "no neighbor fabric password ******",
		"router bgp 65101 / neighbor fabric password s3cret": "router bgp 65101 / neighbor fabric password ******",
		"enable secret 5 $1$abc":                             "enable secret 5 ******",
		"password zebra":                                     "password ******",
		"enable password zebra":                              "enable password ******",
		" ip ospf authentication-key k3y":                    " ip ospf authentication-key ******",
		" ip ospf message-digest-key 1 md5 k3y":              " ip ospf message-digest-key 1 md5 ******",
		"snmp-server community publ1c ro":                    "snmp-server community ****** ro",
		"key chain k / key 1 / key-string s3cret":            "key chain k / key 1 / key-string ******",
		" isis password md5 s3cret":                          " isis password md5 ******",
		"tacacs-server host 192.0.2.9 key 7 s3cret":          "tacacs-server host 192.0.2.9 key 7 ******",
		"interface swp1 / description node-1:eth0":           "interface swp1 / description node-1:eth0",
		" neighbor swp1 interface peer-group fabric":         " neighbor swp1 interface peer-group fabric",
		"key 1":    "key 1",
		"password": "password",
	} {
		require.Equal(t, want, frr.Mask(in), in)
		require.Equal(t, want, frr.Mask(frr.Mask(in)), "masking twice is masking once: %s", in)
	}
	var sonic switchcfg.SONiCDialect
	for in, want := range map[string]string{
		"TACPLUS_SERVER|192.0.2.9|passkey=s3cret":      "TACPLUS_SERVER|192.0.2.9|passkey=******",
		"RADIUS|global|auth_key=a=b":                   "RADIUS|global|auth_key=******",
		"SNMP_COMMUNITY|public|TYPE=RO":                "SNMP_COMMUNITY|******|TYPE=RO",
		"BGP_NEIGHBOR|10.0.0.1|password=x":             "BGP_NEIGHBOR|10.0.0.1|password=******",
		"PORT|Ethernet0|mtu=9100":                      "PORT|Ethernet0|mtu=9100",
		"DEVICE_METADATA|localhost":                    "DEVICE_METADATA|localhost",
		"rendered configuration is not config_db JSON": "rendered configuration is not config_db JSON",
	} {
		require.Equal(t, want, sonic.Mask(in), in)
	}
}

// Secrets in the rendered configuration reach neither the commands a
// deploy reports nor its reports, their JSON or the logs.
func TestDeployOutputMasksSecrets(t *testing.T) {
	t.Parallel()
	const secret = "pl4nted-s3cret"
	drv := &fakeDriver{running: []byte("frr defaults traditional\n")}
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	tpl := fstest.MapFS{"default.cfg.j2": {Data: []byte("frr defaults traditional\nrouter bgp 65101\n neighbor 192.0.2.1 remote-as 65102\n neighbor 192.0.2.1 password " + secret + "\nexit\n")}}
	var logs bytes.Buffer
	r, err := switchcfg.NewRenderer(nb, switchcfg.WithTemplateFS(tpl, "test templates"))
	require.NoError(t, err)
	repo, err := switchcfg.OpenRepo(t.TempDir())
	require.NoError(t, err)
	d := &switchcfg.Deployer{Renderer: r, Repo: repo, Drivers: drv.drivers, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Credentials: &switchcfg.Credentials{Defaults: switchcfg.TargetSpec{User: "u", Password: "p", InsecureIgnoreHostKey: true}}}
	ctx := context.Background()
	_, err = d.Generate(ctx, "leaf-1")
	require.NoError(t, err)

	dry, err := d.Deploy(ctx, []string{"leaf-1"}, &switchcfg.DeployOpts{DryRun: true})
	require.NoError(t, err)
	require.Contains(t, dry[0].Sent, "neighbor 192.0.2.1 password ******")
	res, err := d.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	require.Contains(t, res[0].Sent, "neighbor 192.0.2.1 password ******")
	require.Contains(t, drv.sent, "neighbor 192.0.2.1 password "+secret, "the switch gets the secret itself")

	drv.mu.Lock()
	drv.running = []byte("frr defaults traditional\nrouter bgp 65101\n neighbor 192.0.2.1 password other-s3cret\nexit\n")
	drv.mu.Unlock()
	reports, err := d.Verify(ctx, []string{"leaf-1"}, &switchcfg.VerifyOpts{Fresh: true})
	require.NoError(t, err)
	require.False(t, reports[0].OK())
	require.Contains(t, reports[0].String(), "missing: router bgp 65101 / neighbor 192.0.2.1 password ******")
	require.Contains(t, reports[0].String(), "extra:   router bgp 65101 / neighbor 192.0.2.1 password ******")
	for _, out := range []any{dry, res, reports, reports[0].String(), dry[0].Report.String()} {
		b, err := json.Marshal(out)
		require.NoError(t, err)
		require.NotContains(t, string(b), secret)
		require.NotContains(t, string(b), "other-s3cret")
	}
	require.NotContains(t, logs.String(), secret)
}

// leafDeployers are two Deployers with caches of their own over one state
// repository and one Locker, as two processes have them, reaching the real
// FRR leaves.
func leafDeployers(t *testing.T, e *hookEnv, locker statemachine.Locker) (*switchcfg.Deployer, *switchcfg.Deployer) {
	t.Helper()
	dir := e.d.Repo.Dir()
	var out []*switchcfg.Deployer
	for range 2 {
		d, err := switchcfg.NewDeployer(switchcfg.Config{StateDir: dir}, e.nb, locker, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		d.Credentials = e.d.Credentials
		out = append(out, d)
	}
	return out[0], out[1]
}

func TestDeployTakesTheRepositoryAsItIsUnderTheLock(t *testing.T) {
	e := newHookEnv(t)
	ctx := context.Background()
	one, two := leafDeployers(t, e, statemachine.NewMemoryLocker())

	_, err := one.Generate(ctx, "leaf-1")
	require.NoError(t, err)
	setInterface(t, e.srv, e.nb, "leaf-1", "swp5", map[string]any{"description": "newer render"})
	gen, err := two.Generate(ctx, "leaf-1")
	require.NoError(t, err)
	require.True(t, gen[0].Changed)

	// one deploys after two committed: the newer render, not its own.
	res, err := one.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	require.Equal(t, gen[0].Rev, res[0].Rev)
	require.Contains(t, e.leaves["leaf-1"].Vtysh(t, "show running-config"), "description newer render")

	// two verifies what one deployed: against a read of the switch, since
	// the revision deployed is not its own.
	_, err = two.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	setInterface(t, e.srv, e.nb, "leaf-1", "swp5", map[string]any{"description": "newest render"})
	_, err = one.Generate(ctx, "leaf-1")
	require.NoError(t, err)
	_, err = one.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	e.leaves["leaf-1"].Vtysh(t, "configure terminal", "interface swp5", "description hand-made", "end")
	reports, err := two.Verify(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	require.False(t, reports[0].OK(), "the drift after another deploy is seen: %s", reports[0])
	require.Contains(t, reports[0].String(), "hand-made")
}

// lockBreaker wraps a driver: its sessions break the switch lock when
// asked to apply, then wait (up to 10 s) for the deploy to notice.
type lockBreaker struct {
	inner  switchcfg.Driver
	locker *statemachine.MemoryLocker
	broke  chan string
}

func (b lockBreaker) Open(ctx context.Context, t switchcfg.Target) (switchcfg.Session, error) {
	s, err := b.inner.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return breakingSession{Session: s, b: b, sw: t.Switch}, nil
}

type breakingSession struct {
	switchcfg.Session
	b  lockBreaker
	sw string
}

func (s breakingSession) Apply(ctx context.Context, rendered, running []byte) ([]string, error) {
	if s.b.locker.Break(switchcfg.SwitchLockKey(s.sw)) {
		s.b.broke <- s.sw
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	return s.Session.Apply(ctx, rendered, running)
}

func TestLostSwitchLockStopsTheDeploy(t *testing.T) {
	e := newHookEnv(t)
	ctx := context.Background()
	locker := statemachine.NewMemoryLocker()
	e.d.Locker = locker
	broke := make(chan string, 4)
	e.d.Drivers = func(dt string) (switchcfg.Driver, switchcfg.Dialect, error) {
		drv, dialect, err := switchcfg.DriverFor(dt)
		return lockBreaker{inner: drv, locker: locker, broke: broke}, dialect, err
	}
	_, err := e.d.Generate(ctx, "leaf-1")
	require.NoError(t, err)
	before := e.leaves["leaf-1"].Vtysh(t, "show running-config")

	start := time.Now()
	_, err = e.d.Deploy(ctx, []string{"leaf-1"}, nil)
	require.Less(t, time.Since(start), 10*time.Second, "the deploy stopped at the loss, not at the breaker's timeout")
	require.Equal(t, "leaf-1", <-broke)
	require.ErrorIs(t, err, statemachine.ErrLockLost)
	var le *switchcfg.LockLostError
	require.ErrorAs(t, err, &le)
	require.Contains(t, err.Error(), "switch leaf-1")
	require.Contains(t, err.Error(), "lost")
	require.Equal(t, before, e.leaves["leaf-1"].Vtysh(t, "show running-config"), "nothing was sent after the loss")
	_, err = e.d.Repo.Deployed("leaf-1")
	require.ErrorIs(t, err, switchcfg.ErrNotDeployed, "a deploy that lost its lock marks nothing deployed")
	require.False(t, locker.Held(switchcfg.SwitchLockKey("leaf-1")))

	// A fresh run converges.
	e.d.Drivers = switchcfg.DriverFor
	res, err := e.d.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, res[0].Sent)
	require.True(t, res[0].Report.OK(), res[0].Report.String())
}

var _ = errors.New
var _ = os.Getenv
var _ = filepath.Join
