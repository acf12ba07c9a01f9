// Command osism is the reference command line of go-osism: it parses flags,
// calls the SDK and prints. Business logic lives in the packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/services"
)

// Exit codes scripts can rely on.
const (
	exitOK      = 0 // success
	exitFailure = 1 // the operation failed
	exitUsage   = 2 // bad flags, arguments or input
)

// commands lists the top-level commands; each lives in a file of its own.
func commands() []*cli.Command {
	return []*cli.Command{
		versionCommand(),
		demoCommand(),
		completionCommand(),
		netboxCommand(),
		applyCommand(),
		baremetalCommand(),
		syncCommand(),
		reconcilerCommand(),
		bifrostCommand(),
		workerCommand(),
		serviceCommand(),
		managerCommand(),
		statusCommand(),
		taskCommand(),
		logCommand(),
		lockCommand(),
		unlockCommand(),
	}
}

// newApp returns the CLI; its Before loads the configuration once per run
// from load (the process's files and environment in main, an injected
// environment in tests).
func newApp(load services.LoadOpts) *cli.App {
	app := &cli.App{
		Name:                 "osism",
		Usage:                "the OSISM manager interface",
		Version:              version(),
		HideVersion:          true,
		EnableBashCompletion: true,
		Commands:             commands(),
		Flags:                globalFlags(),
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		Before: func(c *cli.Context) error {
			cfg, err := services.LoadConfig(load)
			if err != nil {
				return err
			}
			c.App.Metadata = map[string]any{configKey: cfg}
			return nil
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q: run 'osism --help' for the list", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	markUsageErrors(app.Commands)
	return app
}

// markUsageErrors makes flag errors of every command exit with exitUsage;
// urfave/cli applies App.OnUsageError to the top level only.
func markUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
		}
		markUsageErrors(c.Subcommands)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp(services.LoadOptsFromEnv()).RunContext(ctx, os.Args)
	stop()
	os.Exit(exitCode(os.Stderr, err))
}

// exitCode prints err to w and maps it to the process exit code.
func exitCode(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(w, "osism:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(w, "osism:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

const configKey = "config"

// config is the configuration App.Before loaded.
func config(c *cli.Context) services.Config {
	cfg, _ := c.App.Metadata[configKey].(services.Config)
	return cfg
}

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}
