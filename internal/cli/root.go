// Package cli holds the grader's commands. Each verb is an options struct, a
// newCmdX that fills it from flags, and a runX(opts) that does the work, so
// that commands are testable without a process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/grading"
	"github.com/backend-grader/grader/internal/verdict"
)

// Exit codes (DESIGN.md §2.4).
const (
	ExitPassed      = 0
	ExitNotPassed   = 1
	ExitUsage       = 2
	ExitEnvironment = 3
	ExitInterrupted = 130
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// usagef is a mistake in how the grader was called (exit 2).
func usagef(format string, args ...any) error { return grading.Usagef(format, args...) }

// errNotPassed: the report was printed and the submission did not pass (exit 1).
var errNotPassed = grading.ErrNotPassed

// errInterrupted: SIGINT/SIGTERM arrived; cleanup is done (exit 130).
var errInterrupted = grading.ErrInterrupted

// Main runs the grader with args on sys (the real services and projects,
// wired in cmd/grader) and returns the exit code. A first SIGINT or SIGTERM
// cancels the run, which then cleans up and exits 130; a second one exits
// at once.
func Main(ios *IOStreams, sys grading.System, args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			n++
			if n == 1 {
				fmt.Fprintln(ios.ErrOut, "[grader] interrupted: cleaning up (press Ctrl-C again to quit at once)")
				cancel()
				continue
			}
			os.Exit(ExitInterrupted)
		}
	}()
	return Run(ctx, ios, sys, args)
}

// Run executes one command line and maps its outcome to an exit code.
func Run(ctx context.Context, ios *IOStreams, sys grading.System, args []string) int {
	root := NewRootCmd(ios, sys)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitCode(ctx, err)
	// "not passed" was said by the report itself; anything else is said here.
	if err != nil && !errors.Is(err, errNotPassed) && !errors.Is(err, errInterrupted) {
		fmt.Fprintln(ios.ErrOut, "grader: "+err.Error())
	}
	if errors.Is(err, errInterrupted) {
		fmt.Fprintln(ios.ErrOut, "[grader] interrupted; everything the grader started was stopped")
	}
	return code
}

func exitCode(ctx context.Context, err error) int {
	var ue *grading.UsageError
	var ee *grading.EnvError
	var pe *grading.ProjectError
	switch {
	case err == nil:
		return ExitPassed
	case errors.Is(err, errInterrupted) || ctx.Err() != nil:
		return ExitInterrupted
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ee), verdict.IsEnvironment(err):
		return ExitEnvironment
	case errors.Is(err, errNotPassed), errors.As(err, &pe):
		return ExitNotPassed
	case isCobraUsage(err):
		return ExitUsage
	default:
		return ExitNotPassed
	}
}

// isCobraUsage recognises cobra's own argument and command errors.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires ", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// NewRootCmd builds the command tree.
func NewRootCmd(ios *IOStreams, sys grading.System) *cobra.Command {
	root := &cobra.Command{
		Use:   "grader",
		Short: "Grade a backend project stage by stage, against real Postgres, Redis and RabbitMQ",
		Long: `grader builds and starts your backend service, provisions the databases it
needs, drives it from the outside (HTTP, and by looking into the database,
the cache and the broker) and prints a scored report per roadmap skill.

  grader check ./myproject --stage caching
  grader stages                 # the track, stage by stage
  grader explain caching        # what a stage asks you to build`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetIn(ios.In)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see 'grader %s --help')", err, c.Name())
	})
	root.AddCommand(
		newCmdCheck(ios, sys),
		newCmdBatch(ios, sys),
		newCmdMerge(ios),
		newCmdInit(ios, sys),
		newCmdStages(ios),
		newCmdExplain(ios),
		newCmdSkills(ios),
		newCmdDoctor(ios, sys),
		newCmdClean(ios, sys),
		newCmdVersion(ios),
	)
	return root
}
