package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/report"
	"github.com/backend-grader/grader/internal/services"
	"github.com/backend-grader/grader/internal/submission"
)

// serviceFlags choose where Postgres, Redis and RabbitMQ come from.
type serviceFlags struct {
	mode        string
	postgresURL string
	redisURL    string
	amqpURL     string
	amqpMgmtURL string
	images      []string
}

func (f *serviceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "services", "auto", "where backing services come from: docker, external or auto (URLs given: external; else Docker if it answers)")
	fl.StringVar(&f.postgresURL, "postgres-url", "", "external Postgres (env GRADER_POSTGRES_URL); the grader creates a database per run")
	fl.StringVar(&f.redisURL, "redis-url", "", "external Redis (env GRADER_REDIS_URL); the grader uses a logical database per run")
	fl.StringVar(&f.amqpURL, "amqp-url", "", "external RabbitMQ (env GRADER_AMQP_URL)")
	fl.StringVar(&f.amqpMgmtURL, "amqp-management-url", "", "RabbitMQ management API, to give each run its own vhost in external mode")
	fl.StringArrayVar(&f.images, "image", nil, "container image for a service: postgres=REF, redis=REF or rabbitmq=REF (repeatable; env GRADER_*_IMAGE)")
}

func (f *serviceFlags) options(runID string, logf func(string, ...any)) (services.Options, error) {
	o := services.Options{
		PostgresURL: f.postgresURL, RedisURL: f.redisURL, AMQPURL: f.amqpURL, AMQPManagementURL: f.amqpMgmtURL,
		RunID: runID, Logf: logf, Images: map[grader.Service]string{},
	}
	switch services.Mode(f.mode) {
	case services.ModeDocker, services.ModeExternal, services.ModeAuto:
		o.Mode = services.Mode(f.mode)
	default:
		return o, usagef("--services %q: use docker, external or auto", f.mode)
	}
	for _, kv := range f.images {
		k, v, ok := strings.Cut(kv, "=")
		svc := grader.Service(k)
		if !ok || v == "" || !slices.Contains([]grader.Service{grader.Postgres, grader.Redis, grader.RabbitMQ}, svc) {
			return o, usagef("--image %q: expected postgres=REF, redis=REF or rabbitmq=REF", kv)
		}
		o.Images[svc] = v
	}
	return o, nil
}

// outputFlags choose the report formats.
type outputFlags struct {
	format  string
	outputs []string
	quiet   bool
	verbose bool
}

func (f *outputFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "text", "report format on stdout: "+strings.Join(report.Formats, ", "))
	fl.StringArrayVar(&f.outputs, "output", nil, "also write a report to a file: FORMAT=FILE (repeatable), e.g. --output junit=report.xml")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines on stderr")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show the service's output live on stderr")
}

type fileOutput struct{ format, path string }

func (f *outputFlags) parse() ([]fileOutput, error) {
	if !slices.Contains(report.Formats, f.format) {
		return nil, usagef("unknown --format %q: use one of %s", f.format, strings.Join(report.Formats, ", "))
	}
	var out []fileOutput
	for _, o := range f.outputs {
		format, path, ok := strings.Cut(o, "=")
		if !ok || path == "" || !slices.Contains(report.Formats, format) {
			return nil, usagef("--output %q: expected FORMAT=FILE with FORMAT one of %s", o, strings.Join(report.Formats, ", "))
		}
		out = append(out, fileOutput{format, path})
	}
	return out, nil
}

type checkOptions struct {
	ios     *IOStreams
	dir     string
	run     runFlags
	seedSet bool
	svc     serviceFlags
	out     outputFlags
}

func newCmdCheck(ios *IOStreams) *cobra.Command {
	o := &checkOptions{ios: ios}
	cmd := &cobra.Command{
		Use:   "check [DIR]",
		Short: "Grade the project in DIR (default .) up to a stage",
		Long: `Build and start the project in DIR, provision the services its stage needs,
run the checks of the stage and every stage before it, and print the report.

Exit codes: 0 passed, 1 not passed (a check failed, or the project did not
build or start), 2 usage error, 3 the grader's environment failed (e.g. no
Docker), 130 interrupted.`,
		Example: `  grader check ./myproject --stage caching
  grader check . --stage rest --only --check rest.put-replaces
  grader check . --format json --output junit=report.xml > report.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = "."
			if len(args) == 1 {
				o.dir = args[0]
			}
			o.seedSet = cmd.Flags().Changed("seed")
			return runCheck(cmd.Context(), o)
		},
	}
	registerRunFlags(cmd, &o.run)
	o.svc.register(cmd)
	o.out.register(cmd)
	return cmd
}

func registerRunFlags(cmd *cobra.Command, f *runFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.stage, "stage", "", "the stage to grade (default: the stage in grader.yaml); earlier stages run too")
	fl.BoolVar(&f.only, "only", false, "run the given stage's checks alone, not the stages before it")
	fl.StringArrayVar(&f.checks, "check", nil, "run only this check id (repeatable), e.g. --check caching.ttl")
	fl.Int64Var(&f.seed, "seed", 0, "seed for the random data and configuration (default: random; printed in the report)")
	fl.StringArrayVar(&f.env, "env", nil, "add or override a variable of the service's environment: KEY=VALUE (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("stage", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return stageIDs(), cobra.ShellCompDirectiveNoFileComp
	})
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func logger(w io.Writer) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "[grader] "+format+"\n", args...)
	}
}

func runCheck(ctx context.Context, o *checkOptions) error {
	files, err := o.out.parse()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return usagef("project directory %q: %v", o.dir, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("project directory %q does not exist or is not a directory", o.dir)
	}
	// The caller's mistakes first (exit 2), before the project's (exit 1).
	if err := o.run.validate(); err != nil {
		return err
	}
	ios := o.ios
	logf := logger(ios.ErrOut)
	if o.out.quiet {
		logf = func(string, ...any) {}
	}
	runID := newRunID()
	sopts, err := o.svc.options(runID, logf)
	if err != nil {
		return err
	}
	m, err := submission.Load(dir)
	if err != nil {
		return err
	}
	p, err := makePlan(o.run, m, o.seedSet)
	if err != nil {
		return err
	}
	logf("grading %s: %s", dir, p.describe())

	var servers *services.Servers
	var provisionMs int64
	if len(p.need) > 0 {
		t := time.Now()
		var stop func()
		servers, stop, err = startServers(ctx, sopts, p.need, logf)
		defer stop()
		if err != nil {
			return err
		}
		provisionMs = time.Since(t).Milliseconds()
	}

	in := gradeInput{
		dir: dir, manifest: m, plan: p, servers: servers, scopeID: runID,
		logf: logf, provisionMs: provisionMs,
	}
	if o.out.verbose {
		in.echo = ios.ErrOut
	}
	if !o.out.quiet {
		in.onStart, in.onResult = report.Progress(ios.ErrOut, ios.ColorErr())
	}
	rep, err := grade(ctx, in)
	if rep != nil {
		if werr := writeReports(ios, o.out.format, files, rep); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if !rep.Passed {
		return errNotPassed
	}
	return nil
}

// writeReports prints the report on stdout in format and to each file. On
// GitHub Actions a text run also writes annotations and the job summary.
func writeReports(ios *IOStreams, format string, files []fileOutput, rep *grader.Report) error {
	summary := ios.Getenv("GITHUB_STEP_SUMMARY")
	ropts := report.Options{Color: ios.ColorOut(), SummaryPath: summary}
	if err := report.Write(ios.Out, format, rep, ropts); err != nil {
		return err
	}
	if format == "text" && ios.Getenv("GITHUB_ACTIONS") == "true" {
		gh := ropts
		gh.AnnotationsOnly = true
		if err := report.Write(ios.Out, "github", rep, gh); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeReportFile(f, rep, summary); err != nil {
			return err
		}
	}
	return nil
}

func writeReportFile(f fileOutput, rep *grader.Report, summary string) error {
	if dir := filepath.Dir(f.path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return usagef("--output %s=%s: %v", f.format, f.path, err)
		}
	}
	fh, err := os.Create(f.path)
	if err != nil {
		return usagef("--output %s=%s: %v", f.format, f.path, err)
	}
	werr := report.Write(fh, f.format, rep, report.Options{SummaryPath: summary})
	if cerr := fh.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

func stageIDs() []string { return checks.Tasks.StageIDs() }
