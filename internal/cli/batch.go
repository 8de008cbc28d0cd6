package cli

import (
	"os"
	"slices"
	"strings"
	"time"

	units "github.com/docker/go-units"

	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/grading"
	"github.com/backend-grader/grader/internal/report"
)

func newCmdBatch(ios *IOStreams, sys grading.System) *cobra.Command {
	var (
		run   runFlags
		svc   serviceFlags
		quiet bool
		shard string
		box   sandboxFlags
	)
	o := grading.BatchPlan{ListInput: ios.In, Version: version()}
	cmd := &cobra.Command{
		Use:   "batch DIR... --stage STAGE",
		Short: "Grade many submissions at once (each subdirectory of DIR is one)",
		Long: `Grade every submission in DIR (each subdirectory is one submission; several
DIRs may be given) or listed in a file (--list), on one set of Postgres, Redis
and RabbitMQ servers started once for the whole batch. Each submission gets a
database and role, a Redis server (docker mode; a Redis database and user in
external mode) and a vhost and user of its own, with credentials of its own
(see docs/batch.md; --allow-trusting-servers), is copied to a temporary
directory before it is built, and is graded within its own time limit
(--timeout), so a submission that hangs or floods its output never holds up
the others beyond that limit. Each process of its build and service is also
limited to twice --timeout of CPU time, files of 1 GiB, 4096 open files and
4 GiB of data (heap).

Submissions are untrusted code: by default each is built and run in a
container of its own (the sandbox; Docker must run on this machine): its own
processes only (all of them end with it), --memory, --pids and --cpus for the
whole submission, a read-only root with its private copy at /app and a small
/tmp, none of the grader's environment or files, and a network that reaches
only its own services. The toolchain comes from a runner image per language
(official golang, node and python images, or the local ones
scripts/build-images.sh builds; --runner-image names the course's own);
docker: true projects run their own image. --no-sandbox runs them as
processes of your user instead, for trusted code only (every report says so).

Written to --out (default ./grader-out):
  <name>/report.json, <name>/report.txt   each submission's report
  <name>/grader.log                        what the grader and the service printed (capped)
  <name>/error.txt                         why a submission could not be graded at all
  grades.csv                               one row per submission: scores per stage and skill
  summary.md                               class statistics: scores, most failed checks, stages

Each report.json is signed (HMAC-SHA256, with the key in $GRADER_BATCH_KEY
or else in the user's config directory, grader/batch.key). Running the same
command again grades only the submissions without a report.json the grader
can verify (new ones, those that could not be graded, and reports changed
since); --force grades all of them again.

--shard I/N grades one of N slices of the submissions (sorted by name,
dealt round-robin) into its own --out; 'grader merge' combines the slices.

Exit codes: 0 every submission was graded (whatever the grades), 2 usage
error, 3 the grader's environment failed or some submission could not be
graded (re-run to retry those), 130 interrupted.`,
		Example: `  grader batch ./submissions --stage caching
  grader batch ./class-a ./class-b --stage rest --parallel 3 --out grades-rest
  grader batch --list repos.txt --stage auth --timeout 10m --format junit
  grader batch ./submissions --stage rest --seed 7 --shard 2/3 --out out-2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dirs = args
			if shard != "" {
				var err error
				if o.Shard, err = grading.ParseShard(shard); err != nil {
					return err
				}
			}
			key, err := batchKey()
			if err != nil {
				return err
			}
			o.Key = key
			o.Selection = run.selection(cmd)
			if o.Sandbox, err = box.sandbox(); err != nil {
				return err
			}
			if o.Services, err = svc.options(sys.Services.Names()); err != nil {
				return err
			}
			// Progress and log lines carry submissions' names, messages and
			// manifests: escaped for the terminal (and a CI log).
			safe := report.NewSafeWriter(ios.ErrOut)
			defer safe.Flush()
			o.Progress, o.Log = safe, safe
			if quiet {
				o.Log = nil
			}
			return grading.Batch(cmd.Context(), o, sys)
		},
	}
	registerRunFlags(cmd, &run)
	svc.register(cmd)
	svc.registerTrustFlag(cmd)
	fl := cmd.Flags()
	fl.Lookup("stage").Usage = "the stage to grade every submission at (required); earlier stages run too"
	fl.Lookup("seed").Usage = "one seed for every submission (default: a random one each, printed in its report)"
	fl.IntVarP(&o.Parallel, "parallel", "j", grading.DefaultParallel(), "how many submissions to grade at the same time")
	fl.StringVar(&o.Out, "out", "grader-out", "directory for the reports, grades.csv and summary.md")
	fl.BoolVar(&o.Force, "force", false, "grade again the submissions that already have a report.json in --out")
	fl.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "wall-clock limit per submission (copy, build, start and checks)")
	fl.StringVar(&o.List, "list", "", "file listing submission directories, one a line (# comments; relative to the file; - for stdin)")
	fl.StringArrayVar(&o.Formats, "format", nil, "also write this report format per submission: junit, markdown, classroom or gradescope (repeatable)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "only the line per finished submission on stderr")
	box.register(cmd)
	fl.StringVar(&shard, "shard", "", "grade only slice I of N (I/N, 1 <= I <= N): the submissions sorted by name, dealt round-robin; combine the outputs with 'grader merge'")
	return cmd
}

// batchKey loads the key that signs batch reports, and takes
// $GRADER_BATCH_KEY out of the environment so that no submission's process
// inherits it.
func batchKey() (grading.BatchKey, error) {
	key, err := grading.LoadBatchKey()
	_ = os.Unsetenv(grading.BatchKeyEnv)
	return key, err
}

// sandboxFlags are batch's sandbox options.
type sandboxFlags struct {
	off    bool
	images []string
	memory string
	pids   int64
	cpus   float64
}

func (f *sandboxFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.off, "no-sandbox", false, "run the submissions as processes of your user, not each in a container (trusted code only)")
	fl.StringArrayVar(&f.images, "runner-image", nil, "the sandbox's image for a toolchain, LANG=IMAGE with LANG go, node or python (repeatable; default: the official image, else grader/runner-LANG:local)")
	fl.StringVar(&f.memory, "memory", "2g", "the sandbox's memory for each whole submission (no swap; its /tmp counts)")
	fl.Int64Var(&f.pids, "pids", 512, "how many processes and threads each submission may have at once in the sandbox")
	fl.Float64Var(&f.cpus, "cpus", 1, "how many CPUs' worth of time each submission gets in the sandbox")
}

// sandbox is the batch's sandbox (nil with --no-sandbox).
func (f *sandboxFlags) sandbox() (*grading.Sandbox, error) {
	if f.off {
		return nil, nil
	}
	s := &grading.Sandbox{Images: map[string]string{}, Pids: f.pids, CPUs: f.cpus}
	mem, err := units.RAMInBytes(f.memory)
	if err != nil || mem < 64<<20 {
		return nil, grading.Usagef("--memory %q: give a size of at least 64m, such as 512m or 2g", f.memory)
	}
	s.Memory = mem
	if f.pids < 16 {
		return nil, grading.Usagef("--pids %d: give at least 16 (a runtime and its build need several threads)", f.pids)
	}
	if f.cpus <= 0 || f.cpus > 64 {
		return nil, grading.Usagef("--cpus %g: give a number of CPUs above 0, such as 0.5 or 2", f.cpus)
	}
	for _, kv := range f.images {
		lang, ref, ok := strings.Cut(kv, "=")
		if !ok || ref == "" || !slices.Contains(grading.Toolchains, lang) {
			return nil, grading.Usagef("--runner-image %q: give LANG=IMAGE with LANG one of %s", kv, strings.Join(grading.Toolchains, ", "))
		}
		s.Images[lang] = ref
	}
	return s, nil
}
