package cli

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/grading"
	"github.com/backend-grader/grader/internal/report"
)

// serviceFlags choose where Postgres, Redis and RabbitMQ come from.
type serviceFlags struct {
	mode        string
	postgresURL string
	redisURL    string
	amqpURL     string
	amqpMgmtURL string
	images      []string
	allowTrust  bool
	connLimit   int
}

func (f *serviceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "services", "auto", "where backing services come from: docker, external or auto (URLs given: external; else Docker if it answers)")
	fl.StringVar(&f.postgresURL, "postgres-url", "", "external Postgres (env GRADER_POSTGRES_URL); the grader creates a database per run")
	fl.StringVar(&f.redisURL, "redis-url", "", "external Redis (env GRADER_REDIS_URL); the grader uses a logical database per run")
	fl.StringVar(&f.amqpURL, "amqp-url", "", "external RabbitMQ (env GRADER_AMQP_URL)")
	fl.StringVar(&f.amqpMgmtURL, "amqp-management-url", "", "RabbitMQ management API, to give each run its own vhost in external mode")
	fl.StringArrayVar(&f.images, "image", nil, "container image for a service: postgres=REF, redis=REF or rabbitmq=REF (repeatable; env GRADER_*_IMAGE)")
	fl.IntVar(&f.connLimit, "postgres-connection-limit", 20, "the most connections each run's own Postgres role may hold at once")
}

// registerTrustFlag adds --allow-trusting-servers (batch: untrusted code),
// and its older name --allow-trusting-postgres.
func (f *serviceFlags) registerTrustFlag(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.allowTrust, "allow-trusting-servers", false,
		"grade even when an external server lets anyone in (a Postgres that trusts host connections, a RabbitMQ where guest/guest logs in): any submission could then reach the others' data; only for code you trust")
	fl.BoolVar(&f.allowTrust, "allow-trusting-postgres", false, "the older name of --allow-trusting-servers")
	_ = fl.MarkDeprecated("allow-trusting-postgres", "use --allow-trusting-servers")
}

// options turns the flags into grading's service options (the mode is
// checked by grading, with the caller's other mistakes).
func (f *serviceFlags) options(known []grader.Service) (grading.ServiceOptions, error) {
	o := grading.ServiceOptions{
		Mode:        f.mode,
		PostgresURL: f.postgresURL, RedisURL: f.redisURL, AMQPURL: f.amqpURL, AMQPManagementURL: f.amqpMgmtURL,
		Images:                map[grader.Service]string{},
		AllowTrustingPostgres: f.allowTrust, ConnLimit: f.connLimit,
	}
	if f.connLimit < 1 {
		return o, usagef("--postgres-connection-limit %d: give a positive number (default 20)", f.connLimit)
	}
	for _, kv := range f.images {
		k, v, ok := strings.Cut(kv, "=")
		svc := grader.Service(k)
		if !ok || v == "" || !slices.Contains(known, svc) {
			forms := make([]string, len(known))
			for i, n := range known {
				forms[i] = string(n) + "=REF"
			}
			return o, usagef("--image %q: expected one of %s", kv, strings.Join(forms, ", "))
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

// destinations checks the format names and says where the report goes.
func (f *outputFlags) destinations(ios *IOStreams) (*report.Destinations, error) {
	d := &report.Destinations{
		Stdout: ios.Out, Format: f.format, Color: ios.ColorOut(),
		StepSummary:   ios.Getenv("GITHUB_STEP_SUMMARY"),
		GitHubActions: ios.Getenv("GITHUB_ACTIONS") == "true",
	}
	if !slices.Contains(report.Formats, f.format) {
		return nil, usagef("unknown --format %q: use one of %s", f.format, strings.Join(report.Formats, ", "))
	}
	for _, o := range f.outputs {
		format, path, ok := strings.Cut(o, "=")
		if !ok || path == "" || !slices.Contains(report.Formats, format) {
			return nil, usagef("--output %q: expected FORMAT=FILE with FORMAT one of %s", o, strings.Join(report.Formats, ", "))
		}
		d.Files = append(d.Files, report.FileOutput{Format: format, Path: path})
	}
	return d, nil
}

type checkOptions struct {
	ios *IOStreams
	sys grading.System
	dir string
	run runFlags
	svc serviceFlags
	out outputFlags
}

func newCmdCheck(ios *IOStreams, sys grading.System) *cobra.Command {
	o := &checkOptions{ios: ios, sys: sys}
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
			return runCheck(cmd.Context(), o, o.run.selection(cmd))
		},
	}
	registerRunFlags(cmd, &o.run)
	o.svc.register(cmd)
	o.out.register(cmd)
	return cmd
}

// runFlags are the options shared by check and batch that decide what runs.
type runFlags struct {
	stage  string
	only   bool
	checks []string
	seed   int64
	env    []string
}

func (f runFlags) selection(cmd *cobra.Command) grading.Selection {
	return grading.Selection{Stage: f.stage, Only: f.only, Checks: f.checks, Seed: f.seed,
		SeedSet: cmd.Flags().Changed("seed"), Env: f.env}
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

func runCheck(ctx context.Context, o *checkOptions, sel grading.Selection) error {
	dest, err := o.out.destinations(o.ios)
	if err != nil {
		return err
	}
	sopts, err := o.svc.options(o.sys.Services.Names())
	if err != nil {
		return err
	}
	ios := o.ios
	req := grading.CheckRequest{Dir: o.dir, Selection: sel, Services: sopts, Version: version()}
	// The log names what grader.yaml says, and the echo is what the
	// service prints: both are escaped for the terminal (and a CI log).
	safe := report.NewSafeWriter(ios.ErrOut)
	defer safe.Flush()
	if !o.out.quiet {
		req.Log = safe
		req.OnStart, req.OnResult = report.Progress(ios.ErrOut, ios.ColorErr())
	}
	if o.out.verbose {
		req.Echo = safe
	}
	rep, err := grading.Check(ctx, req, o.sys)
	if rep != nil {
		if werr := dest.Write(rep); werr != nil {
			var oe *report.OutputError
			if errors.As(werr, &oe) {
				return usagef("%v", werr)
			}
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

func stageIDs() []string { return grading.StageIDs() }
