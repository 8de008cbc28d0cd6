package cli

import (
	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/grading"
	"github.com/backend-grader/grader/internal/report"
)

func newCmdMerge(ios *IOStreams) *cobra.Command {
	var o grading.MergePlan
	cmd := &cobra.Command{
		Use:   "merge DIR... --out DIR",
		Short: "Combine the outputs of 'grader batch --shard I/N' runs into one gradebook",
		Long: `Combine the --out directories of the N shards of one batch (grader batch
--shard 1/N ... N/N) into one: each submission's directory, grades.csv,
summary.md and batch.json, as one unsharded batch would have written them.

Every report's signature is verified first (the shards must have been graded
with the same key: $GRADER_BATCH_KEY, or the same machine's key file). The
merge is refused, and nothing is written, when a report was changed, when
two directories hold the same shard or the same submission, when a shard is
missing, or when the shards were graded differently (stage, --seed, --check,
--env).

Exit codes: 0 merged and every submission was graded, 2 the shards do not
fit together, 3 a report cannot be trusted or some submission was not
graded (re-run its shard, then merge again).`,
		Example: `  grader merge out-1 out-2 out-3 --out grades
  grader merge shards/* --out grades`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dirs = args
			key, err := batchKey()
			if err != nil {
				return err
			}
			o.Key = key
			o.Log = report.NewSafeWriter(ios.ErrOut)
			return grading.Merge(o)
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "grader-out", "directory for the merged reports, grades.csv and summary.md")
	return cmd
}
