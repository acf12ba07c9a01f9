package switchcfg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/switchcfg"
	"github.com/osism/go-osism/switchcfg/internal/sshtest"
)

const planted = "pl4nted-s3cret"

// Every line that holds a secret in FRR's syntax is masked, as a command
// and as a report entry, and masking is idempotent.
func TestFRRMasksEverySecretLine(t *testing.T) {
	t.Parallel()
	frr := switchcfg.NewFRR()
	for _, tc := range []struct{ name, in, want string }{
		{"rip authentication string", " ip rip authentication string " + planted, " ip rip authentication string ******"},
		{"rip, report entry", "interface swp1 / ip rip authentication string " + planted, "interface swp1 / ip rip authentication string ******"},
		{"rip, removed", " no ip rip authentication string " + planted, " no ip rip authentication string ******"},
		{"rip key chain name is no secret", " ip rip authentication key-chain K", " ip rip authentication key-chain K"},
		{"rip authentication mode is no secret", " ip rip authentication mode md5", " ip rip authentication mode md5"},
		{"key chain key-string", "key chain K / key 1 / key-string " + planted, "key chain K / key 1 / key-string ******"},
		{"key-string command", "  key-string " + planted, "  key-string ******"},
		{"ospf message-digest-key md5", " ip ospf message-digest-key 1 md5 " + planted, " ip ospf message-digest-key 1 md5 ******"},
		{"ospf authentication-key", " ip ospf authentication-key " + planted, " ip ospf authentication-key ******"},
		{"ospf authentication mode is no secret", " ip ospf authentication message-digest", " ip ospf authentication message-digest"},
		{"nhrp authentication", " ip nhrp authentication " + planted, " ip nhrp authentication ******"},
		{"nhrp, report entry", "interface gre1 / ip nhrp authentication " + planted, "interface gre1 / ip nhrp authentication ******"},
		{"nhrp network-id is no secret", " ip nhrp network-id 1", " ip nhrp network-id 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, frr.Mask(tc.in))
			require.Equal(t, tc.want, frr.Mask(frr.Mask(tc.in)))
		})
	}
}

// SONiC's secrets are masked in report entries and in sentences that
// quote them: field values, SNMP communities (the community is the
// table's key), and fields that follow a key holding "|" or "=".
func TestSONiCMasksEverySecret(t *testing.T) {
	t.Parallel()
	var sonic switchcfg.SONiCDialect
	for _, tc := range []struct{ name, in, want string }{
		{"community key", "SNMP_COMMUNITY|" + planted, "SNMP_COMMUNITY|******"},
		{"community key with a field", "SNMP_COMMUNITY|" + planted + "|TYPE=RO", "SNMP_COMMUNITY|******|TYPE=RO"},
		{"community key holding a bar", "SNMP_COMMUNITY|" + planted + "|x|TYPE=RO", "SNMP_COMMUNITY|******|TYPE=RO"},
		{"community in an error", "running configuration is not config_db JSON: SNMP_COMMUNITY|" + planted + ": a number, want a JSON object",
			"running configuration is not config_db JSON: SNMP_COMMUNITY|******"},
		{"key holding =", "TACPLUS_SERVER|a=b|passkey=" + planted, "TACPLUS_SERVER|a=b|passkey=******"},
		{"key holding | and =", "RADIUS_SERVER|x|y=z|passkey=" + planted, "RADIUS_SERVER|x|y=z|passkey=******"},
		{"value holding =", "RADIUS|global|auth_key=" + planted + "=x", "RADIUS|global|auth_key=******"},
		{"plain field", "PORT|Ethernet0|mtu=9100", "PORT|Ethernet0|mtu=9100"},
		{"key holding = without a secret", "VLAN|a=b|vlanid=100", "VLAN|a=b|vlanid=100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := sonic.Mask(tc.in)
			require.Equal(t, tc.want, got)
			require.NotContains(t, got, planted)
			require.Equal(t, got, sonic.Mask(got))
		})
	}
}

// A SONiC report never carries a community or a secret field.
func TestSONiCReportMasksCommunities(t *testing.T) {
	t.Parallel()
	var sonic switchcfg.SONiCDialect
	rendered := `{"SNMP_COMMUNITY": {"` + planted + `": {"TYPE": "RO"}}, "TACPLUS_SERVER": {"192.0.2.9": {"passkey": "` + planted + `"}}}`
	running := `{"SNMP_COMMUNITY": {"other-` + planted + `": {"TYPE": "RO"}}, "TACPLUS_SERVER": {"192.0.2.9": {"passkey": "x"}}}`
	rep := sonic.Compare([]byte(rendered), []byte(running))
	require.False(t, rep.OK())
	for _, l := range append(rep.Missing, rep.Extra...) {
		require.NotContains(t, sonic.Mask(l), planted)
		require.True(t, strings.Contains(sonic.Mask(l), switchcfg.Masked), l)
	}
}

// What a SONiC switch prints when a command fails, or a running
// configuration that is not JSON, reaches errors without its secrets.
func TestSONiCErrorsMaskSecrets(t *testing.T) {
	t.Parallel()
	quoted := `{"SNMP_COMMUNITY": {"` + planted + `": {"TYPE": "RO"}}}`
	for _, tc := range []struct {
		name  string
		reply sshtest.Reply
		cmd   string
		run   func(switchcfg.Session) error
		want  string
	}{
		{"load fails quoting the file", sshtest.Reply{Stderr: `Error: bad entry "TACPLUS_SERVER": {"192.0.2.9": {"passkey": "` + planted + `"}} in ` + quoted, Exit: 1},
			sonicLoad, func(s switchcfg.Session) error {
				_, err := s.Apply(t.Context(), []byte(`{"PORT": {}}`), nil)
				return err
			}, `"passkey": "******"`},
		{"save fails", sshtest.Reply{Stderr: `"auth_key": "` + planted + `"`, Exit: 1},
			sonicSave, func(s switchcfg.Session) error { return s.Save(t.Context()) }, `"auth_key": "******"`},
		{"show fails midway", sshtest.Reply{Stdout: `{"RADIUS": {"global": {"passkey": "` + planted + `"}}, ` + quoted[1:], Exit: 1},
			sonicShow, func(s switchcfg.Session) error { _, err := s.RunningConfig(t.Context()); return err }, "exit status 1"},
		{"show prints no JSON", sshtest.Reply{Stdout: `{"RADIUS": {"global": {"passkey": "` + planted + `"}}`},
			sonicShow, func(s switchcfg.Session) error { _, err := s.RunningConfig(t.Context()); return err }, "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := sshtest.LoadRecording(t, sonicRecording)
			fake := newSONiCFake(t, rec)
			rec.Commands[tc.cmd] = tc.reply
			srv := sshtest.Start(t, sshtest.Config{Handler: func(ctx context.Context, e sshtest.Exec) sshtest.Reply {
				if e.Command == tc.cmd {
					return tc.reply
				}
				return fake.handle(ctx, e)
			}})
			err := tc.run(sonicOpen(t, sonicTarget(srv)))
			require.Error(t, err)
			require.NotContains(t, err.Error(), planted)
			require.Contains(t, err.Error(), "switch leaf-3")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// Planted secrets of every kind the FRR dialect knows reach neither the
// commands a deploy reports, nor the phase-4 reports (their String and
// JSON), nor the logs; the switch gets them all.
func TestDeployAndVerifyMaskEverySecretKind(t *testing.T) {
	t.Parallel()
	lines := []string{
		"key chain K", " key 1", "  key-string " + planted + "-1", "exit", "exit",
		"interface swp1", " ip rip authentication string " + planted + "-2", " ip ospf authentication-key " + planted + "-3",
		" ip ospf message-digest-key 1 md5 " + planted + "-4", "exit",
		"interface gre1", " ip nhrp authentication " + planted + "-5", "exit",
		"router bgp 65101", " neighbor 192.0.2.1 remote-as 65102", " neighbor 192.0.2.1 password " + planted + "-6", "exit",
		"snmp-server community " + planted + "-7 ro",
	}
	drv := &fakeDriver{running: []byte("frr defaults traditional\n")}
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	tpl := fstest.MapFS{"default.cfg.j2": {Data: []byte("frr defaults traditional\n" + strings.Join(lines, "\n") + "\n")}}
	r, err := switchcfg.NewRenderer(nb, switchcfg.WithTemplateFS(tpl, "test templates"))
	require.NoError(t, err)
	repo, err := switchcfg.OpenRepo(t.TempDir())
	require.NoError(t, err)
	var logs bytes.Buffer
	d := &switchcfg.Deployer{Renderer: r, Repo: repo, Drivers: drv.drivers, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Credentials: &switchcfg.Credentials{Defaults: switchcfg.TargetSpec{User: "u", Password: "p", InsecureIgnoreHostKey: true}}}
	ctx := context.Background()
	_, err = d.Generate(ctx, "leaf-1")
	require.NoError(t, err)

	dry, err := d.Deploy(ctx, []string{"leaf-1"}, &switchcfg.DeployOpts{DryRun: true})
	require.NoError(t, err)
	res, err := d.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	drv.mu.Lock()
	sent := strings.Join(drv.sent, "\n")
	drv.running = bytes.ReplaceAll(drv.running, []byte(planted), []byte("other-"+planted))
	drv.mu.Unlock()
	for i := 1; i <= 7; i++ {
		require.Contains(t, sent, planted+"-"+strconv.Itoa(i), "the switch gets secret %d", i)
	}
	reports, err := d.Verify(ctx, []string{"leaf-1"}, &switchcfg.VerifyOpts{Fresh: true})
	require.NoError(t, err)
	require.False(t, reports[0].OK())
	require.GreaterOrEqual(t, len(reports[0].Missing), 7, reports[0].String())
	for _, out := range []any{dry, res, reports, reports[0].String(), dry[0].Report.String()} {
		b, err := json.Marshal(out)
		require.NoError(t, err)
		require.NotContains(t, string(b), planted)
	}
	require.Contains(t, reports[0].String(), "ip nhrp authentication "+switchcfg.Masked)
	require.Contains(t, reports[0].String(), "ip rip authentication string "+switchcfg.Masked)
	require.NotContains(t, logs.String(), planted)
}
