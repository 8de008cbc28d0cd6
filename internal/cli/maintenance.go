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
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove every container, network and volume a grader run left behind",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return grading.Clean(cmd.Context(), sys, ios.Out)
		},
	}
}
