package switchcfg

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrapli/scrapligo/driver/options"
	"github.com/scrapli/scrapligo/platform"
	"github.com/scrapli/scrapligo/transport"
	"github.com/stretchr/testify/require"
)

// replaySession is a session of the FRR platform over scrapligo's file
// transport: the switch's side is the text device, and every write is
// recorded.
func replaySession(t *testing.T, device string) *scrapliSession {
	t.Helper()
	f := filepath.Join(t.TempDir(), "session.txt")
	require.NoError(t, os.WriteFile(f, []byte(device), 0o600))
	p, err := platform.NewPlatform(frrPlatform, "leaf-1",
		options.WithTransportType(transport.FileTransport),
		options.WithFileTransportFile(f),
		options.WithTransportReadSize(1),
		options.WithReadDelay(0),
	)
	require.NoError(t, err)
	d, err := p.GetNetworkDriver()
	require.NoError(t, err)
	require.NoError(t, d.Open())
	// Not d.Close: its on-close operations would wait for a prompt the
	// file does not hold.
	t.Cleanup(func() { _ = d.Transport.Close(true) })
	return &scrapliSession{t: Target{Switch: "leaf-1"}, d: d, dialect: NewFRR(), save: "write memory"}
}

// A failed "show running-config" or save quotes what the switch printed
// with its secrets masked: scrapligo's own error, which quotes all of it,
// is not passed on.
func TestScrapliFailureOutputIsMasked(t *testing.T) {
	t.Parallel()
	const secret = "pl4nted-s3cret"
	printed := "router bgp 65101\n neighbor 192.0.2.1 password " + secret + "\ninterface swp1\n ip ospf authentication-key " + secret +
		"\n ip rip authentication string " + secret + "\n ip nhrp authentication " + secret + "\nERROR: the read was cut\n"
	for _, tc := range []struct {
		name string
		run  func(*scrapliSession) error
		cmd  string
	}{
		{"show running-config", func(s *scrapliSession) error { _, err := s.RunningConfig(context.Background()); return err }, "show running-config"},
		{"save", func(s *scrapliSession) error { return s.Save(context.Background()) }, "write memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := replaySession(t, "leaf-1# terminal length 0\nleaf-1# "+tc.cmd+"\n"+printed+"leaf-1# ")
			err := tc.run(s)
			require.Error(t, err)
			require.NotContains(t, err.Error(), secret)
			require.Contains(t, err.Error(), "switch leaf-1")
			require.Contains(t, err.Error(), `"ERROR:"`, "what the switch answered is named")
			require.Contains(t, err.Error(), "neighbor 192.0.2.1 password "+Masked)
			require.Contains(t, err.Error(), "ERROR: the read was cut")
			require.Equal(t, 4, strings.Count(err.Error(), Masked))
		})
	}
}
