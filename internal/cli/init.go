package cli

import (
	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/grading"
)

func newCmdInit(ios *IOStreams, sys grading.System) *cobra.Command {
	o := grading.InitRequest{Version: version(), Log: ios.ErrOut}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a grader.yaml for the project in DIR (default .), and optionally a CI workflow",
		Long: `Write grader.yaml for the project in DIR from what can be detected (a
Dockerfile, run.sh, go.mod, package.json with a start script, main.py or
app.py), with the stage from --stage (default: the first stage). Nothing is
asked: what detection cannot tell comes from --build and --run.

With --ci github it also writes .github/workflows/grader.yml, a workflow that
grades every push and pull request with the grader's GitHub Action.

An existing file is never overwritten: init says so and leaves it as it is.`,
		Example: `  grader init
  grader init ./myproject --stage rest --ci github
  grader init --run "python3 server.py"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Dir = "."
			if len(args) == 1 {
				o.Dir = args[0]
			}
			return grading.Init(o, sys.Launcher)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Stage, "stage", "", "the stage the project is at (default: the first stage)")
	fl.StringVar(&o.CI, "ci", "", "also write a CI workflow: github")
	fl.StringVar(&o.Build, "build", "", "the build command, when detection does not find the right one")
	fl.StringVar(&o.Run, "run", "", "the command that starts the service in the foreground, when detection does not find it")
	_ = cmd.RegisterFlagCompletionFunc("stage", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return grading.StageIDs(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}
