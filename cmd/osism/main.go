// Command osism is the reference command line of go-osism: it parses flags,
// calls the SDK and prints. Business logic lives in the packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
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
		bifrostCommand(),
		workerCommand(),
		serviceCommand(),
		statusCommand(),
		taskCommand(),
		logCommand(),
		lockCommand(),
		unlockCommand(),
	}
}

func newApp() *cli.App {
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
	err := newApp().RunContext(ctx, os.Args)
	stop()
	os.Exit(exitCode(err))
}

// exitCode prints err and maps it to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "osism:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "osism:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}
