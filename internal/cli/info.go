package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/grading"
	"github.com/backend-grader/grader/internal/skills"
)

type stagesOptions struct {
	ios    *IOStreams
	format string
}

func newCmdStages(ios *IOStreams) *cobra.Command {
	o := &stagesOptions{ios: ios}
	cmd := &cobra.Command{
		Use:   "stages",
		Short: "List the track's stages and their checks",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return runStages(o) },
	}
	cmd.Flags().StringVar(&o.format, "format", "text", "output format: text or json")
	return cmd
}

type stagesJSON struct {
	Track  string           `json:"track"`
	Stages []stageEntryJSON `json:"stages"`
}

type stageEntryJSON struct {
	ID       string           `json:"id"`
	Title    string           `json:"title"`
	Services []grader.Service `json:"services"`
	Checks   []checkEntryJSON `json:"checks"`
}

type checkEntryJSON struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Points int      `json:"points"`
	Skills []string `json:"skills"`
}

func runStages(o *stagesOptions) error {
	t := checks.Tasks
	switch o.format {
	case "json":
		out := stagesJSON{Track: t.ID, Stages: []stageEntryJSON{}}
		for _, s := range t.Stages {
			e := stageEntryJSON{ID: s.ID, Title: s.Title, Services: append([]grader.Service{}, s.Services...), Checks: []checkEntryJSON{}}
			for _, c := range s.Checks {
				e.Checks = append(e.Checks, checkEntryJSON{ID: c.ID, Title: c.Title, Points: c.Points, Skills: nonEmpty(c.Skills)})
			}
			out.Stages = append(out.Stages, e)
		}
		enc := json.NewEncoder(o.ios.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "text":
		w := o.ios.Out
		fmt.Fprintf(w, "track %q: %d stages; `grader check DIR --stage S` runs S and every stage before it\n", t.ID, len(t.Stages))
		for i, s := range t.Stages {
			pts := 0
			for _, c := range s.Checks {
				pts += c.Points
			}
			svc := ""
			if len(s.Services) > 0 {
				names := make([]string, len(s.Services))
				for j, x := range s.Services {
					names[j] = string(x)
				}
				svc = " (needs " + strings.Join(names, ", ") + ")"
			}
			fmt.Fprintf(w, "\n%d. %s — %s, %d checks, %d points%s\n", i+1, s.ID, s.Title, len(s.Checks), pts, svc)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, c := range s.Checks {
				fmt.Fprintf(tw, "   %s\t%d pt\t%s\n", c.ID, c.Points, c.Title)
			}
			tw.Flush()
		}
		return nil
	default:
		return usagef("unknown format %q for stages: use text or json", o.format)
	}
}

func nonEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newCmdExplain(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:       "explain STAGE",
		Short:     "Print what a stage asks you to build and how it is tested",
		Args:      cobra.ExactArgs(1),
		ValidArgs: checks.Tasks.StageIDs(),
		RunE: func(_ *cobra.Command, args []string) error {
			s, _, ok := checks.Tasks.Stage(args[0])
			if !ok {
				return unknownStage(args[0])
			}
			fmt.Fprint(ios.Out, s.Spec)
			if !strings.HasSuffix(s.Spec, "\n") {
				fmt.Fprintln(ios.Out)
			}
			return nil
		},
	}
}

func unknownStage(id string) error { return grading.UnknownStage(id) }

func newCmdSkills(ios *IOStreams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "skills",
		Short: "List the roadmap skills that checks are scored against",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if format == "json" {
				type skillJSON struct{ ID, Title, URL string }
				var out []skillJSON
				for _, s := range skills.Catalogue {
					out = append(out, skillJSON{s.ID, s.Title, s.URL})
				}
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if format != "text" {
				return usagef("unknown format %q for skills: use text or json", format)
			}
			tw := tabwriter.NewWriter(ios.Out, 0, 0, 2, ' ', 0)
			for _, s := range skills.Catalogue {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, s.Title, s.URL)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func newCmdVersion(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the grader's version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(ios.Out, "grader %s (report schema v%d)\n", version(), grader.SchemaVersion)
		},
	}
}
