package report

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// percent is score/max in percent (100 when there was nothing to score).
func percent(score, maxScore int) float64 {
	if maxScore <= 0 {
		return 100
	}
	return 100 * float64(score) / float64(maxScore)
}

// WriteSummary writes summary.md: counts, the score distribution, the
// checks that fail most (with their most common messages), per-stage pass
// rates and the submissions that did not run normally.
func (g Gradebook) WriteSummary(w io.Writer) error {
	var b strings.Builder
	rows := g.Rows
	t := g.Tally()
	fmt.Fprintf(&b, "# Batch summary: stage `%s`\n\n", g.Stage)
	fmt.Fprintf(&b, "%s · **%d passed** · **%d not passed**", plural(len(rows), "submission", "submissions"), t.Passed, t.Graded-t.Passed)
	if t.NotGraded > 0 {
		fmt.Fprintf(&b, " · **%d not graded**", t.NotGraded)
	}
	b.WriteString("\n\nEach submission's report is in `<name>/report.txt`; `grades.csv` has every score per stage and skill.\n")

	var graded []*grader.Report
	for _, r := range rows {
		if r.Report != nil {
			graded = append(graded, r.Report)
		}
	}
	if len(graded) > 0 {
		summaryScores(&b, graded)
		summaryFailures(&b, graded)
		summaryStages(&b, g.StageOrder, graded)
	}
	summaryProblems(&b, rows)
	_, err := io.WriteString(w, b.String())
	return err
}

func summaryScores(b *strings.Builder, reps []*grader.Report) {
	pcts := make([]float64, len(reps))
	sameMax := true
	for i, r := range reps {
		pcts[i] = percent(r.Score, r.MaxScore)
		sameMax = sameMax && r.MaxScore == reps[0].MaxScore
	}
	scores := make([]float64, len(reps))
	for i, r := range reps {
		scores[i] = float64(r.Score)
	}
	slices.Sort(pcts)
	slices.Sort(scores)
	b.WriteString("\n## Scores\n\n")
	if sameMax {
		mx := reps[0].MaxScore
		b.WriteString("| | score | % |\n|---|---:|---:|\n")
		fmt.Fprintf(b, "| min | %s/%d | %.0f%% |\n", num(scores[0]), mx, pcts[0])
		fmt.Fprintf(b, "| median | %s/%d | %.0f%% |\n", num(median(scores)), mx, median(pcts))
		fmt.Fprintf(b, "| max | %s/%d | %.0f%% |\n", num(scores[len(scores)-1]), mx, pcts[len(pcts)-1])
	} else {
		b.WriteString("Scores in percent of each submission's maximum (skipped checks count in neither).\n\n")
		b.WriteString("| | % |\n|---|---:|\n")
		fmt.Fprintf(b, "| min | %.0f%% |\n| median | %.0f%% |\n| max | %.0f%% |\n", pcts[0], median(pcts), pcts[len(pcts)-1])
	}
	b.WriteString("\n```\n")
	b.WriteString(histogram(pcts))
	b.WriteString("```\n")
}

// histogram draws ten 10%-wide buckets (the last one includes 100%).
func histogram(pcts []float64) string {
	var counts [10]int
	for _, p := range pcts {
		i := int(math.Floor(p / 10))
		counts[min(max(i, 0), 9)]++
	}
	most := slices.Max(counts[:])
	var b strings.Builder
	for i, n := range counts {
		label := fmt.Sprintf("%d–%d%%", i*10, i*10+9)
		if i == 9 {
			label = "90–100%"
		}
		bar := n
		if most > 40 {
			bar = int(math.Ceil(float64(n) * 40 / float64(most)))
		}
		fmt.Fprintf(&b, "%-8s %s %d\n", label, strings.Repeat("█", bar), n)
	}
	return b.String()
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// num prints 41 or 40.5.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

var (
	uuidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	hostPort    = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`)
	tmpCopy     = regexp.MustCompile(`\S*/grader-batch-\d+/`)
)

// messageKey groups messages that differ only by random data: ids, ports
// and the temporary copy's path.
func messageKey(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	msg = uuidPattern.ReplaceAllString(msg, "<id>")
	msg = hostPort.ReplaceAllString(msg, "$1:PORT")
	msg = tmpCopy.ReplaceAllString(msg, "")
	return oneLineCut(msg, 140)
}

type failStat struct {
	id, title string
	count     int
	messages  map[string]int
}

func summaryFailures(b *strings.Builder, reps []*grader.Report) {
	stats := map[string]*failStat{}
	var order []string
	for _, r := range reps {
		for _, s := range r.Stages {
			for _, c := range s.Checks {
				notRun := c.NotRun
				if (c.Status != grader.StatusFail && c.Status != grader.StatusError) || notRun {
					continue
				}
				st := stats[c.ID]
				if st == nil {
					st = &failStat{id: c.ID, title: c.Title, messages: map[string]int{}}
					stats[c.ID] = st
					order = append(order, c.ID)
				}
				st.count++
				st.messages[messageKey(c.Message)]++
			}
		}
	}
	b.WriteString("\n## Checks that fail most\n\n")
	if len(stats) == 0 {
		b.WriteString("No check failed in the submissions that ran.\n")
		return
	}
	list := make([]*failStat, 0, len(stats))
	for _, id := range order {
		list = append(list, stats[id])
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].count > list[j].count })
	if len(list) > 10 {
		list = list[:10]
	}
	b.WriteString("| check | failed in | most common messages |\n|---|---:|---|\n")
	for _, st := range list {
		type mc struct {
			msg string
			n   int
		}
		var ms []mc
		for m, n := range st.messages {
			ms = append(ms, mc{m, n})
		}
		sort.Slice(ms, func(i, j int) bool {
			if ms[i].n != ms[j].n {
				return ms[i].n > ms[j].n
			}
			return ms[i].msg < ms[j].msg
		})
		var parts []string
		for i, m := range ms {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d other", len(ms)-3))
				break
			}
			parts = append(parts, fmt.Sprintf("%s (%d)", MarkdownText(m.msg), m.n))
		}
		fmt.Fprintf(b, "| `%s` %s | %d of %d | %s |\n", st.id, MarkdownText(st.title), st.count, len(reps), strings.Join(parts, "<br>"))
	}
}

func summaryStages(b *strings.Builder, order []string, reps []*grader.Report) {
	rows := make([]GradebookRow, len(reps))
	for i, r := range reps {
		rows[i] = GradebookRow{Report: r}
	}
	stageIDs, _ := batchColumns(order, rows)
	b.WriteString("\n## Stages\n\n| stage | passed | pass rate |\n|---|---:|---:|\n")
	for _, id := range stageIDs {
		n, passed := 0, 0
		for _, r := range reps {
			for _, s := range r.Stages {
				if s.ID == id {
					n++
					if s.Passed {
						passed++
					}
				}
			}
		}
		fmt.Fprintf(b, "| %s | %d of %d | %.0f%% |\n", id, passed, n, 100*float64(passed)/float64(max(n, 1)))
	}
}

func summaryProblems(b *strings.Builder, rows []GradebookRow) {
	var lines []string
	for _, r := range rows {
		switch {
		case r.Report == nil:
			lines = append(lines, fmt.Sprintf("- **%s**: not graded: %s", MarkdownText(r.Name), MarkdownText(oneLineCut(r.Err, 300))))
		case r.Report.Problem != nil:
			lines = append(lines, fmt.Sprintf("- **%s**: %s: %s", MarkdownText(r.Name), r.Report.Problem.Kind, MarkdownText(oneLineCut(r.Report.Problem.Message, 300))))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\n## Submissions that did not run normally\n\n")
	b.WriteString(strings.Join(lines, "\n"))
	b.WriteString("\n")
}
