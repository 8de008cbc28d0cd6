package cli

import (
	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/grading"
)

func newCmdDoctor(ios *IOStreams, sys grading.System) *cobra.Command {
	var svc serviceFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run the grader: Docker, images, external services",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := svc.options(sys.Services.Names())
			if err != nil {
				return err
			}
			o.RunID, o.Logf = "doctor", grading.Logger(ios.ErrOut)
			return grading.Doctor(cmd.Context(), sys, o, ios.Out)
		},
	}
	svc.register(cmd)
	return cmd
}

func newCmdClean(ios *IOStreams, sys grading.System) *cobra.Command {
	var (
		svc serviceFlags
		o   grading.CleanOptions
	)
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove what grader runs that were killed left behind",
		Long: `Remove what grader runs that are no longer running left behind: containers,
networks and volumes labelled io.grader.run, and on external servers the
grader_* databases and roles, Redis claims (and their databases' keys) and
users, and RabbitMQ vhosts and users.

A running grader holds a lock on its run id (in $XDG_RUNTIME_DIR/grader-runs,
else the temporary directory's grader-runs; $GRADER_RUNS_DIR overrides it)
for as long as it lives, and clean leaves its things alone; --all removes
them too. Runs on another machine sharing the same Docker engine or servers
hold their locks there: clean from that machine, or stop them first.

With --services auto (the default) clean looks at Docker and at the external
servers that answer (the given URLs, else the standard local addresses).`,
		Example: `  grader clean
  grader clean --all
  grader clean --services external --postgres-url postgres://admin:pw@db:5432/postgres`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			so, err := svc.options(sys.Services.Names())
			if err != nil {
				return err
			}
			o.Services = so
			return grading.Clean(cmd.Context(), sys, o, ios.Out)
		},
	}
	svc.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&o.All, "all", false, "also remove what running graders own")
	fl.StringArrayVar(&o.Runs, "run", nil, "only this run id's leftovers (repeatable)")
	for _, n := range []string{"image", "postgres-connection-limit"} {
		_ = fl.MarkHidden(n)
	}
	return cmd
}
