package switchcfg

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scrapli/scrapligo/driver/network"
	"github.com/scrapli/scrapligo/driver/opoptions"
	"github.com/scrapli/scrapligo/driver/options"
	"github.com/scrapli/scrapligo/platform"
	"github.com/scrapli/scrapligo/response"
	"github.com/scrapli/scrapligo/util"
)

//go:embed platforms/frr.yaml
var frrPlatform []byte

// Scrapli opens line-oriented sessions with scrapligo: FRR's vtysh with the
// project's own platform definition (platforms/frr.yaml), or any platform
// scrapligo ships (arista_eos, cisco_iosxe, cisco_nxos, ...) whose
// configuration the dialect can compare.
type Scrapli struct {
	// Platform is "frr" or a scrapligo platform name.
	Platform string
	// Dialect turns the difference into commands; default the FRR dialect.
	Dialect Dialect
	// SaveCommand makes the running configuration the startup one; default
	// "write memory".
	SaveCommand string
}

// Open connects to t, checking its host key unless t says explicitly not
// to, and enters the exec level.
func (s Scrapli) Open(ctx context.Context, t Target) (Session, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	opts := []util.Option{
		options.WithTransportType("standard"),
		options.WithPort(t.port()),
		options.WithAuthUsername(t.User),
		options.WithTimeoutOps(t.timeout()),
		options.WithTimeoutSocket(t.timeout()),
	}
	if t.KeyFile != "" {
		opts = append(opts, options.WithAuthPrivateKey(t.KeyFile, ""))
	}
	if t.Password != "" {
		opts = append(opts, options.WithAuthPassword(t.Password))
	}
	if t.InsecureIgnoreHostKey {
		opts = append(opts, options.WithAuthNoStrictKey())
	} else {
		opts = append(opts, options.WithSSHKnownHostsFile(t.KnownHosts))
	}
	var def any = s.Platform
	if s.Platform == "frr" || s.Platform == "" {
		def = frrPlatform
	} else if !slices.Contains(platform.GetPlatformNames(), s.Platform) {
		return nil, fmt.Errorf("switch %s: platform %q: expected frr or one of scrapligo's: %s",
			t.Switch, s.Platform, strings.Join(platform.GetPlatformNames(), ", "))
	}
	p, err := platform.NewPlatform(def, t.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("switch %s: %w", t, err)
	}
	d, err := p.GetNetworkDriver()
	if err != nil {
		return nil, fmt.Errorf("switch %s: %w", t, err)
	}
	if err := withContext(ctx, d, d.Open); err != nil {
		return nil, fmt.Errorf("switch %s: open: %w", t, err)
	}
	dialect, save := s.Dialect, s.SaveCommand
	if dialect == nil {
		dialect = NewFRR()
	}
	if save == "" {
		save = "write memory"
	}
	return &scrapliSession{t: t, d: d, dialect: dialect, save: save}, nil
}

type scrapliSession struct {
	t       Target
	d       *network.Driver
	dialect Dialect
	save    string
}

// withContext runs op and closes d when ctx ends first, which makes the
// operation return; scrapligo's operations take no context.
func withContext(ctx context.Context, d *network.Driver, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = d.Close()
		case <-done:
		}
	}()
	err := op()
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}

func (s *scrapliSession) RunningConfig(ctx context.Context) ([]byte, error) {
	var out []byte
	err := withContext(ctx, s.d, func() error {
		r, err := s.d.SendCommand("show running-config")
		if err != nil {
			return err
		}
		if r.Failed != nil {
			return s.failed(r)
		}
		out = []byte(r.Result)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("switch %s: show running-config: %w", s.t.Switch, err)
	}
	return out, nil
}

func (s *scrapliSession) Apply(ctx context.Context, rendered, running []byte) ([]string, error) {
	cmds := s.dialect.Commands(rendered, running)
	if len(cmds) == 0 {
		return nil, nil
	}
	err := withContext(ctx, s.d, func() error {
		mr, err := s.d.SendConfigs(cmds, opoptions.WithStopOnFailed())
		if err != nil {
			return err
		}
		if mr.Failed != nil {
			for i, r := range mr.Responses {
				if r.Failed != nil {
					return fmt.Errorf("command %d of %d %q: %s", i+1, len(cmds), maskLine(s.dialect, r.Input), maskText(s.dialect, strings.TrimSpace(r.Result)))
				}
			}
			return errors.New("a command failed")
		}
		return s.d.AcquirePriv("exec")
	})
	if err != nil {
		return cmds, fmt.Errorf("switch %s: configure: %w", s.t.Switch, err)
	}
	return cmds, nil
}

func (s *scrapliSession) Save(ctx context.Context) error {
	err := withContext(ctx, s.d, func() error {
		r, err := s.d.SendCommand(s.save)
		if err != nil {
			return err
		}
		if r.Failed != nil {
			return s.failed(r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("switch %s: %s: %w", s.t.Switch, s.save, err)
	}
	return nil
}

// failed is the error of a command the switch refused. scrapligo's own
// error (r.Failed) quotes the whole output, which may be part of the
// configuration, so it is not used: the output is quoted with the lines
// that hold secrets masked.
func (s *scrapliSession) failed(r *response.Response) error {
	matched := ""
	if oe, ok := errors.AsType[*response.OperationError](r.Failed); ok {
		matched = oe.ErrorString
	}
	return fmt.Errorf("the switch answered %q: %s", matched, maskText(s.dialect, strings.TrimSpace(r.Result)))
}

func (s *scrapliSession) Close() error { return s.d.Close() }

// DriverFor returns the driver and the dialect of a deployment type (the
// device's custom field deployment_type): frr (also cumulus), sonic, or a
// platform scrapligo ships, compared with the FRR dialect, which fits
// indentation-based configurations such as EOS or IOS.
func DriverFor(deploymentType string) (Driver, Dialect, error) {
	switch t := strings.ToLower(strings.TrimSpace(deploymentType)); t {
	case "frr", "cumulus", "cumulus_vtysh":
		d := NewFRR()
		return Scrapli{Platform: "frr", Dialect: d}, d, nil
	case "sonic":
		return SONiC{}, SONiCDialect{}, nil
	case "":
		return nil, nil, errors.New("no deployment_type: expected frr, sonic or a scrapligo platform")
	default:
		if !slices.Contains(platform.GetPlatformNames(), t) {
			return nil, nil, fmt.Errorf("deployment_type %q: expected frr, sonic or one of %s", deploymentType,
				strings.Join(platform.GetPlatformNames(), ", "))
		}
		save := "write memory"
		if t == "cisco_nxos" {
			save = "copy running-config startup-config"
		}
		d := NewFRR()
		switch t {
		case "arista_eos", "cisco_iosxe", "cisco_iosxr":
		default:
			d.EndOptional = true // not known to end with "end"
		}
		return Scrapli{Platform: t, Dialect: d, SaveCommand: save}, d, nil
	}
}
