package cli

import (
	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/services"
)

func newCmdDoctor(ios *IOStreams) *cobra.Command {
	var svc serviceFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run the grader: Docker, images, external services",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := svc.options("doctor", logger(ios.ErrOut))
			if err != nil {
				return err
			}
			if !services.Doctor(cmd.Context(), o, ios.Out) {
				return &services.EnvError{Message: "the grader cannot run here as configured: fix the problems above"}
			}
			return nil
		},
	}
	svc.register(cmd)
	return cmd
}

func newCmdClean(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove every container, network and volume a grader run left behind",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return services.Clean(cmd.Context(), ios.Out)
		},
	}
}
