package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// JUnit XML as CI systems read it (Jenkins, GitLab, GitHub test reporters):
// one <testsuite> per stage, one <testcase> per check.
//
// JUnit has no "blocked". A blocked check is written as <skipped> (message
// "blocked by <id>: ...") when the check that grades its cause failed or
// errored in this same report: CI tools then show the cause once, in red,
// and the checks it blocked as skipped beside it instead of 27 copies of
// one failure. When the cause is not a failure in this report (it was not
// run, e.g. --check, or it passed), the blocked check is a <failure
// type="blocked">, so the tools still show why the run did not pass.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemErr  *junitText      `xml:"system-err"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitOutcome `xml:"failure"`
	Error     *junitOutcome `xml:"error"`
	Skipped   *junitOutcome `xml:"skipped"`
}

type junitOutcome struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",cdata"`
}

// junitText is element text kept readable: CDATA keeps line breaks as they
// are (clean has made every character XML-safe).
type junitText struct {
	Text string `xml:",cdata"`
}

func renderJUnit(r *grader.Report, _ Options) ([]byte, error) {
	doc := junitSuites{Name: "grader", Time: seconds(r.Timings.TotalMs)}
	for _, st := range r.Stages {
		s := junitSuite{Name: st.ID, Properties: junitProps(r, &st)}
		var ms int64
		for _, c := range st.Checks {
			ms += c.DurationMs
			tc := junitCase{Classname: st.ID, Name: clean(checkName(c)), Time: seconds(c.DurationMs)}
			switch c.Status {
			case grader.StatusFail:
				s.Failures++
				tc.Failure = &junitOutcome{Message: clean(c.Message), Type: "fail", Body: failureBody(c, cutText)}
			case grader.StatusError:
				s.Errors++
				tc.Error = &junitOutcome{Message: clean(c.Message), Type: "error", Body: failureBody(c, cutText)}
			case grader.StatusSkip:
				s.Skipped++
				tc.Skipped = &junitOutcome{Message: clean(c.Message)}
			case grader.StatusBlocked:
				if causeFailed(r, c.BlockedBy) {
					s.Skipped++
					tc.Skipped = &junitOutcome{Message: blockedText(c), Type: "blocked"}
				} else {
					s.Failures++
					tc.Failure = &junitOutcome{Message: blockedText(c), Type: "blocked", Body: failureBody(c, cutText)}
				}
			}
			s.Tests++
			s.Cases = append(s.Cases, tc)
		}
		s.Time = seconds(ms)
		doc.Suites = append(doc.Suites, s)
	}
	if r.Problem != nil {
		if len(doc.Suites) == 0 {
			// Nothing ran: one error case so CI shows the run as broken.
			s := junitSuite{Name: r.Stage, Tests: 1, Errors: 1, Time: seconds(0), Properties: junitProps(r, nil)}
			s.Cases = []junitCase{{Classname: r.Stage, Name: r.Problem.Kind + ": " + problemTitle(r.Problem), Time: seconds(0),
				Error: &junitOutcome{Message: clean(r.Problem.Message), Type: r.Problem.Kind, Body: problemText(r.Problem)}}}
			doc.Suites = append(doc.Suites, s)
		}
		doc.Suites[0].SystemErr = &junitText{problemText(r.Problem)}
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("could not encode the report as JUnit XML: %w", err)
	}
	buf.WriteString("\n")
	return buf.Bytes(), nil
}

func junitProps(r *grader.Report, st *grader.StageResult) []junitProperty {
	props := []junitProperty{
		{"track", r.Track},
		{"stage", r.Stage},
		{"seed", strconv.FormatInt(r.Seed, 10)},
		{"score", strconv.Itoa(r.Score)},
		{"maxScore", strconv.Itoa(r.MaxScore)},
		{"passed", strconv.FormatBool(r.Passed)},
	}
	if st != nil {
		props = append(props,
			junitProperty{"stageScore", strconv.Itoa(st.Score)},
			junitProperty{"stageMaxScore", strconv.Itoa(st.MaxScore)})
	}
	if r.Problem != nil {
		props = append(props, junitProperty{"problem", r.Problem.Kind})
	}
	return props
}

// causeFailed reports whether the check with id failed or errored (while
// running) in r.
func causeFailed(r *grader.Report, id string) bool {
	for _, st := range r.Stages {
		for _, c := range st.Checks {
			if c.ID == id {
				return isFailure(c)
			}
		}
	}
	return false
}

// failureBody is what a failed check says in full: message, hint, evidence.
// A blocked check's message names the check that blocked it.
func failureBody(c grader.CheckResult, cu cut) string {
	var b strings.Builder
	if c.Status == grader.StatusBlocked {
		b.WriteString(blockedText(c))
	} else {
		b.WriteString(clean(c.Message))
	}
	if c.Hint != "" {
		b.WriteString("\n\nhint: " + clean(c.Hint))
	}
	if ev := evidenceText(c.Evidence, cu); len(ev) > 0 {
		b.WriteString("\n\n" + strings.Join(ev, "\n"))
	}
	return b.String()
}

// problemText is a Problem as plain text: cause, hint, log tail.
func problemText(p *grader.Problem) string {
	var b strings.Builder
	b.WriteString(problemTitle(p) + ": " + clean(p.Message))
	if p.Hint != "" {
		b.WriteString("\nhint: " + clean(p.Hint))
	}
	if tail := logTail(clean(p.Log), problemLogLines); len(tail) > 0 {
		fmt.Fprintf(&b, "\nlast %d lines of output:", len(tail))
		for _, l := range tail {
			b.WriteString("\n" + logPrefix(p) + l)
		}
	}
	return b.String()
}
