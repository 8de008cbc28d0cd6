package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"
)

// The sandbox fixtures (fixtures/adversarial/sandbox): each is the
// reference with an attack program started before the server, graded in
// one batch with two correct copies of the reference. What the attacks
// leave is named with these markers.
const (
	attackMarker = "grader-e2e-attack"   // starts the command line of every attack process and the name of every file it leaves in /tmp
	pwnedName    = "grader-e2e-pwned"    // a Redis key, a RabbitMQ queue
	pwnedTable   = "grader_e2e_pwned"    // a Postgres table
	sandboxDir   = "adversarial/sandbox" // under fixtures/
)

// The batch's submissions, by name (the order of grading): the attacks
// are spread around the two correct ones, so that both are graded next to
// attacks with --parallel 2. The connection hog comes late: on the host
// it takes every connection of the batch's Postgres for good, and nothing
// after it could be graded.
// ran is what an attack prints once it has tried (in grader.log), or for
// the fork-bomb, which the sandbox's limits may stop before it can say
// more, once it starts: the proof that it did run in the sandbox, so that
// the test cannot pass because the attacks never started.
var adversarialClass = []struct{ name, overlay, ran string }{
	{"01-fork-bomb", "fork-bomb", "fork-bomb: forking"},
	{"02-memory-hog", "memory-hog", "memory: children hold"},
	{"03-correct-a", "", ""},
	{"04-snoop", "snoop", "snoop: grader variables seen"},
	{"05-daemon", "daemon", "daemon: daemon started"},
	{"06-redis-escape", "redis-escape", "redis-escape: "},
	{"07-postgres-escape", "postgres-escape", "postgres-escape: its own server lists"},
	{"08-vhost-escape", "vhost-escape", "vhost-escape: "},
	{"09-disk-fill", "disk-fill", "disk-fill: wrote"},
	{"10-pg-connections", "pg-connections", "pg-connections: holder"},
	{"11-correct-b", "", ""},
}

// adversarialChecks are the checks the batch runs: one that needs each
// service (the service gets all three URLs at stage events), so that a
// correct submission's full marks show that the attacks left it its
// Postgres, Redis and RabbitMQ.
var adversarialChecks = []string{"persistence.create-is-row", "caching.miss", "events.created"}

// Bounds the sandbox must keep a whole submission within (DESIGN.md §6:
// pids, memory and CPU limits for the whole submission).
const (
	maxAttackRSS      = 4 << 30 // the memory-hog's processes together (its three children try 9 GiB)
	maxSleepers       = 2048    // the fork-bomb's processes (it tries 10,000)
	maxTmpGrowth      = 3 << 30 // the host file system of /tmp (disk-fill writes 5 GB there)
	gradebookQuietFor = 10 * time.Second
)

// hostAttacksEnv, set to 1, runs the attacks even when the probe finds
// that submissions run on the host (with --no-sandbox when the grader has
// it). That harms the machine: it is how the fixtures were proven by hand
// on a disposable machine, never part of the suite.
const hostAttacksEnv = "GRADER_E2E_ATTACKS_ON_HOST"

// TestBatchSandboxAdversarial grades, in one batch in docker mode, nine
// hostile submissions next to two correct ones, and asserts that the
// sandbox (each submission in its own container, DESIGN.md §6) contains
// every attack: the correct ones get full marks, every submission is
// graded, the gradebook stays as the grader wrote it (10 s later and on a
// re-run), nothing the attacks tried to reach (the grader's environment,
// another submission's files, the machine's Postgres, Redis and RabbitMQ,
// /tmp, the host's memory and process table) shows a trace, and nothing of
// the batch remains.
func TestBatchSandboxAdversarial(t *testing.T) {
	needDocker(t)
	start := time.Now()
	server := referenceBinary(t)
	attack := buildAttack(t)
	onHost := os.Getenv(hostAttacksEnv) == "1"

	canary := "secret-" + randomHex(8)
	fileCanary := "canary-file-" + randomHex(8)
	graderTmp := t.TempDir() // the grader's TMPDIR: its copies go there, and it must be empty afterwards
	runs := t.TempDir()      // the graders' run locks, named after their run ids
	env := []string{
		"NO_COLOR=1",
		"GRADER_E2E_CANARY=" + canary,
		"TMPDIR=" + graderTmp,
		"GRADER_RUNS_DIR=" + runs,
	}
	secrets := map[string]string{"the canary variable": canary, "a correct submission's canary.txt": fileCanary}
	if k := os.Getenv("GRADER_BATCH_KEY"); k != "" {
		secrets["the batch key"] = k
	}
	var extra []string
	if onHost && graderHas(t, "batch", "--no-sandbox") {
		extra = append(extra, "--no-sandbox")
	}

	labelsBefore := labelledAll(t)
	tmpBefore := tmpFree(t)
	t.Cleanup(func() { removeAttackTraces(t) })
	sampler := startSampler(runs)
	defer sampler.stop()

	// The probe: a harmless submission that says what it can see. The
	// attacks run only where it sees nothing of the host.
	probeClass := t.TempDir()
	hostFile := filepath.Join(t.TempDir(), "host-file-"+randomHex(4))
	if err := os.WriteFile(hostFile, []byte("on the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	makeSubmission(t, filepath.Join(probeClass, "probe"), server, attack, map[string]any{
		"stage": "http", "run": "./bin/attack probe " + hostFile + "; exec ./bin/server", "startupTimeout": "60s"})
	probeOut := filepath.Join(t.TempDir(), "probe-out")
	pr := runBatch(t, 3*time.Minute, env, append([]string{"batch", probeClass, "--stage", "http", "--services", "docker",
		"--parallel", "1", "--timeout", "2m", "--out", probeOut}, extra...)...)
	probeLog, _ := os.ReadFile(filepath.Join(probeOut, "probe", "grader.log"))
	probeLine := lineWith(string(probeLog), attackMarker+" probe:")
	if pr.code != 0 || probeLine == "" {
		t.Fatalf("the probe batch: exit %d, probe said %q; a sandboxed batch must grade the reference and let it print\nstderr:\n%s\ngrader.log:\n%s",
			pr.code, probeLine, tail(pr.stderr, 20), tail(string(probeLog), 30))
	}
	if strings.Contains(probeLine, "=visible") {
		msg := fmt.Sprintf("a submission in a batch sees what a sandbox must hide (%s): the batch runs it on the host or its sandbox leaks", probeLine)
		if !onHost {
			t.Fatalf("%s; the attacks are not run (%s=1 runs them anyway, harming this machine)", msg, hostAttacksEnv)
		}
		t.Logf("%s; running the attacks anyway (%s=1)", msg, hostAttacksEnv)
	} else {
		t.Logf("probe: %s", probeLine)
	}

	// The class.
	class := t.TempDir()
	for _, s := range adversarialClass {
		dir := filepath.Join(class, s.name)
		if s.overlay == "" {
			makeSubmission(t, dir, server, attack, map[string]any{"stage": "events", "run": "./bin/server", "startupTimeout": "60s"})
			if err := os.WriteFile(filepath.Join(dir, "canary.txt"), []byte(fileCanary+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		makeSubmission(t, dir, server, attack, overlayManifest(t, s.overlay))
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"batch", class, "--stage", "events", "--services", "docker", "--parallel", "2", "--seed", "1",
		"--timeout", "3m", "--out", out}
	for _, c := range adversarialChecks {
		args = append(args, "--check", c)
	}
	args = append(args, extra...)
	r := runBatch(t, 4*time.Minute, env, args...)
	exited := time.Now()
	atExit := readGradebook(t, out)
	samples := sampler.snapshot()
	t.Logf("batch: exit %d in %s, runs %v:\n%s", r.code, r.dur.Round(time.Second), sampler.runIDs(), progressLines(r.stderr))
	// The attacks ran, and none of them says it got anywhere it must not.
	for _, s := range adversarialClass {
		said := attackLines(out, s.name)
		switch {
		case s.overlay != "" && len(said) == 0:
			t.Logf("%s said nothing; its grader.log ends:\n%s", s.name, tail(readLog(out, s.name), 15))
		case s.overlay != "":
			t.Logf("%s said:\n    %s", s.name, strings.Join(said, "\n    "))
		}
		if s.ran != "" && lineWith(strings.Join(said, "\n"), s.ran) == "" {
			t.Errorf("%s did not say %q in its grader.log: the attack did not run, so the test proves nothing about it\n%s", s.name, s.ran, tail(readLog(out, s.name), 20))
		}
		for _, l := range said {
			if strings.Contains(l, "ESCAPED:") {
				t.Errorf("%s: %s", s.name, l)
			}
		}
	}
	if r.code != 0 {
		t.Errorf("the batch exited %d, want 0 (every submission graded, whatever the grades)\n%s", r.code, tail(r.stderr, 40))
	}

	// Every submission is graded; the correct ones get full marks.
	rows, raw := gradesCSV(t, filepath.Join(out, "grades.csv"))
	for _, s := range adversarialClass {
		row := rows[s.name]
		switch {
		case row == nil:
			t.Errorf("%s: no row in grades.csv\n%s", s.name, raw)
		case row["error"] != "":
			t.Errorf("%s was not graded: %s", s.name, row["error"])
		case s.overlay == "" && (row["passed"] != "true" || row["score"] != row["maxScore"] || row["problem"] != ""):
			t.Errorf("%s (correct) got %s/%s passed=%s problem %q next to the attacks; want full marks\n%s",
				s.name, row["score"], row["maxScore"], row["passed"], row["problem"], explainRow(out, s.name))
		case s.overlay == "daemon" && (row["passed"] != "false" || row["score"] == row["maxScore"]):
			t.Errorf("%s: its service has a defect (event-wrong-key), yet grades.csv says %s/%s passed=%s: the daemon's rewrite was kept",
				s.name, row["score"], row["maxScore"], row["passed"])
		}
	}

	// Nothing secret reached the batch's output.
	texts := map[string]string{"the batch's stdout": r.stdout, "the batch's stderr": r.stderr}
	_ = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				texts[p] = string(b)
			}
		}
		return nil
	})
	for what, secret := range secrets {
		for where, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("%s (%s) appears in %s: a submission read it", what, secret, where)
			}
		}
	}

	// Nothing reached the machine's own servers.
	assertNoHostTraces(t, sampler.runIDs())

	// The machine held.
	t.Logf("during the batch: the memory-hog's processes held at most %d MiB, the fork-bomb had at most %d processes, %d attack processes in all; /tmp's file system had %d MiB free at least (%d before); MemAvailable at least %d MiB (%d before)",
		samples.maxHogRSS>>20, samples.maxSleepers, samples.maxAttackProcs, samples.minTmpFree>>20, tmpBefore>>20, samples.minMemAvail>>20, samples.memAvailBefore>>20)
	if samples.maxHogRSS > maxAttackRSS {
		t.Errorf("the memory-hog's processes held %d MiB together: the sandbox must limit a submission's memory (to at most %d MiB)", samples.maxHogRSS>>20, maxAttackRSS>>20)
	}
	if samples.maxSleepers > maxSleepers {
		t.Errorf("the fork-bomb ran %d processes at once: the sandbox must limit a submission's processes (to at most %d)", samples.maxSleepers, maxSleepers)
	}
	if tmpBefore > samples.minTmpFree && tmpBefore-samples.minTmpFree > maxTmpGrowth {
		t.Errorf("the file system of /tmp lost %d MiB of free space during the batch: a submission's /tmp must not be the host's", (tmpBefore-samples.minTmpFree)>>20)
	}
	if after := tmpFree(t); tmpBefore > after && tmpBefore-after > maxTmpGrowth {
		t.Errorf("the file system of /tmp has %d MiB less free space after the batch", (tmpBefore-after)>>20)
	}
	if l := lineWith(readLog(out, nameOf("disk-fill")), "disk-fill: wrote 5000 MiB"); l != "" {
		t.Errorf("disk-fill wrote all of its 5 GB: %s", l)
	}
	if left, _ := filepath.Glob(filepath.Join("/tmp", attackMarker+"-*")); len(left) > 0 {
		t.Errorf("files the attacks wrote are in the host's /tmp: %s", strings.Join(left, ", "))
	}
	defer logDaemon(t) // what the daemon did, if it got out

	// The gradebook does not change after the grader wrote it.
	time.Sleep(time.Until(exited.Add(gradebookQuietFor)))
	if d := atExit.diff(readGradebook(t, out)); d != "" {
		t.Errorf("the gradebook changed within %s after the batch exited: %s", gradebookQuietFor, d)
	}
	if left := waitNoAttackProcs(5 * time.Second); len(left) > 0 {
		t.Errorf("%d attack processes are still running %s after the batch, e.g.:\n%s", len(left), time.Since(exited).Round(time.Second), strings.Join(left[:min(10, len(left))], "\n"))
	}
	for _, dir := range []string{class, graderTmp} {
		if left := leftovers(dir); len(left) > 0 {
			t.Errorf("%d processes run in or on %s after the batch, e.g.:\n%s", len(left), dir, strings.Join(left[:min(10, len(left))], "\n"))
		}
	}
	if entries, _ := os.ReadDir(graderTmp); len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the grader left files in its temporary directory: %s", strings.Join(names, ", "))
	}
	if left := labelledSince(t, labelsBefore, sampler.runIDs()); len(left) > 0 {
		t.Errorf("left behind with the grader's label:\n%s", strings.Join(left, "\n"))
	}

	// A re-run keeps the grader's own reports, as the grader wrote them.
	again := runBatch(t, 3*time.Minute, env, args...)
	if again.code != 0 || !strings.Contains(again.stderr, fmt.Sprintf("kept %d submissions", len(adversarialClass))) {
		t.Errorf("the re-run: exit %d; want every report kept:\n%s", again.code, tail(again.stderr, 20))
	}
	if d := atExit.diff(readGradebook(t, out)); d != "" {
		t.Errorf("after the re-run the gradebook differs from the one the batch wrote: %s", d)
	}
	if rows, _ := gradesCSV(t, filepath.Join(out, "grades.csv")); rows[nameOf("daemon")]["passed"] != "false" {
		row := rows[nameOf("daemon")]
		t.Errorf("after the re-run grades.csv says %s passed with %s/%s: the re-run kept a report the daemon forged", nameOf("daemon"), row["score"], row["maxScore"])
	}
	if left := labelledSince(t, labelsBefore, sampler.runIDs()); len(left) > 0 {
		t.Errorf("left behind by the re-run with the grader's label:\n%s", strings.Join(left, "\n"))
	}
	t.Logf("took %s", time.Since(start).Round(time.Second))
}

// nameOf is the name of the submission that runs overlay.
func nameOf(overlay string) string {
	for _, s := range adversarialClass {
		if s.overlay == overlay {
			return s.name
		}
	}
	panic("no submission runs " + overlay)
}

// buildAttack builds fixtures/adversarial/sandbox/attack (a module of its
// own) with the host's toolchain, as the reference is (referenceBinary):
// both run in the sandbox's Debian bookworm runner image.
func buildAttack(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "attack")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(repoRoot, "fixtures", sandboxDir, "attack")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the attack program: %v\n%s", err, out)
	}
	return bin
}

// makeSubmission makes dir a copy of the reference with the prebuilt
// server and attack in bin/ and manifest as its grader.yaml (no build: the
// binaries are there).
func makeSubmission(t *testing.T, dir, server, attack string, manifest map[string]any) {
	t.Helper()
	if err := os.Rename(copyFixture(t, "tasks-api"), dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"server": server, "attack": attack} {
		dst := filepath.Join(dir, "bin", name)
		// A batch never writes to a submission, only to its copy: one file
		// for all of them.
		if err := os.Link(src, dst); err != nil {
			b, rerr := os.ReadFile(src)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if err := os.WriteFile(dst, b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := yaml.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "grader.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// overlayManifest is an attack fixture's grader.yaml without its build
// (the test brings the binaries prebuilt).
func overlayManifest(t *testing.T, overlay string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "fixtures", sandboxDir, overlay, "grader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s/grader.yaml: %v", overlay, err)
	}
	delete(m, "build")
	return m
}

// runBatch runs the grader with env added to the test's environment.
func runBatch(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, graderBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), dur: time.Since(started), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("grader %s did not finish within %s\nstderr:\n%s", strings.Join(args, " "), timeout, tail(r.stderr, 40))
	}
	if err != nil && r.code < 0 {
		t.Fatalf("running grader: %v", err)
	}
	return r
}

// graderHas reports whether `grader CMD --help` lists flag.
func graderHas(t *testing.T, cmd, flag string) bool {
	t.Helper()
	out, _ := exec.Command(graderBin, cmd, "--help").CombinedOutput()
	return strings.Contains(string(out), flag)
}

// logDaemon logs what a daemon that got out of its sandbox wrote in its
// log in the host's /tmp.
func logDaemon(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join("/tmp", attackMarker+"-daemon-*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		t.Logf("%s:\n%s", l, tail(string(b), 20))
	}
}

// progressLines are the batch's lines per finished submission.
func progressLines(stderr string) string {
	var ls []string
	for _, l := range strings.Split(stderr, "\n") {
		if progressRe.MatchString(l) {
			ls = append(ls, "    "+l)
		}
	}
	return strings.Join(ls, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func lineWith(text, sub string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func readLog(out, name string) string {
	b, _ := os.ReadFile(filepath.Join(out, name, "grader.log"))
	return string(b)
}

// attackLines are the lines of a submission's grader.log in which its
// attack says what it did.
func attackLines(out, name string) []string {
	var said []string
	for _, l := range strings.Split(readLog(out, name), "\n") {
		if i := strings.Index(l, attackMarker); i >= 0 {
			said = append(said, strings.TrimSpace(l[i:]))
		}
	}
	return said
}

// explainRow shows a submission's failing checks from its report.
func explainRow(out, name string) string {
	b, err := os.ReadFile(filepath.Join(out, name, "report.json"))
	if err != nil {
		return err.Error()
	}
	var rep statusReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return err.Error()
	}
	return rep.explain() + "\n" + tail(readLog(out, name), 15)
}

// gradebook is what a batch wrote that a submission might want to change:
// grades.csv and every report.json with its signature.
type gradebook map[string]string

func readGradebook(t *testing.T, out string) gradebook {
	t.Helper()
	g := gradebook{}
	files, _ := filepath.Glob(filepath.Join(out, "*", "report.json*"))
	for _, f := range append(files, filepath.Join(out, "grades.csv")) {
		if b, err := os.ReadFile(f); err == nil {
			g[strings.TrimPrefix(f, out+"/")] = string(b)
		}
	}
	return g
}

// diff names the files that differ, "" when none.
func (g gradebook) diff(now gradebook) string {
	var d []string
	for f, b := range g {
		switch nb, ok := now[f]; {
		case !ok:
			d = append(d, f+" is gone")
		case nb != b:
			d = append(d, f+" was rewritten")
		}
	}
	for f := range now {
		if _, ok := g[f]; !ok {
			d = append(d, f+" appeared")
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}

// attackProc is a process of an attack, seen from the host.
type attackProc struct {
	pid     int
	cmdline string
	rss     int64
}

// attackProcs lists the live processes whose command line starts with the
// attacks' marker (a sandbox's processes are visible from the host too).
func attackProcs() []attackProc {
	var out []attackProc
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.HasPrefix(b, []byte(attackMarker)) {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if strings.Contains(string(st), "State:\tZ") {
			continue
		}
		p := attackProc{pid: pid, cmdline: strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))}
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				p.rss = kb << 10
			}
		}
		out = append(out, p)
	}
	return out
}

// waitNoAttackProcs waits up to d for every attack process to be gone and
// lists those left.
func waitNoAttackProcs(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		ps := attackProcs()
		if len(ps) == 0 || time.Now().After(deadline) {
			var left []string
			for _, p := range ps {
				left = append(left, fmt.Sprintf("%d: %s", p.pid, p.cmdline))
			}
			return left
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// samples is what the sampler saw while the batches ran.
type samples struct {
	maxHogRSS, minTmpFree       int64
	maxSleepers, maxAttackProcs int
	minMemAvail, memAvailBefore int64
	runs                        map[string]bool
}

// sampler watches the host once a second: the attack processes, the free
// space of /tmp's file system, the memory available, and the run ids of
// the graders (the names of their locks in runsDir, GRADER_RUNS_DIR).
type sampler struct {
	mu      sync.Mutex
	s       samples
	runsDir string
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func startSampler(runsDir string) *sampler {
	sp := &sampler{runsDir: runsDir, done: make(chan struct{})}
	sp.s = samples{minTmpFree: 1 << 62, minMemAvail: memAvailable(), runs: map[string]bool{}}
	sp.s.memAvailBefore = sp.s.minMemAvail
	sp.wg.Add(1)
	go func() {
		defer sp.wg.Done()
		// The run locks every 100 ms (a quick batch holds its lock for
		// a few seconds), the rest every second.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			sp.sampleRuns()
			if i%10 == 0 {
				sp.sample()
			}
			select {
			case <-sp.done:
				return
			case <-tick.C:
			}
		}
	}()
	return sp
}

func (sp *sampler) sample() {
	var hog int64
	sleepers := 0
	ps := attackProcs()
	for _, p := range ps {
		switch {
		case strings.HasPrefix(p.cmdline, attackMarker+" memory"):
			hog += p.rss
		case strings.HasPrefix(p.cmdline, attackMarker+" fork-bomb"):
			sleepers++
		}
	}
	var st syscall.Statfs_t
	free := int64(-1)
	if syscall.Statfs("/tmp", &st) == nil {
		free = int64(st.Bavail) * st.Bsize
	}
	avail := memAvailable()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.s.maxHogRSS = max(sp.s.maxHogRSS, hog)
	sp.s.maxSleepers = max(sp.s.maxSleepers, sleepers)
	sp.s.maxAttackProcs = max(sp.s.maxAttackProcs, len(ps))
	if free >= 0 {
		sp.s.minTmpFree = min(sp.s.minTmpFree, free)
	}
	if avail > 0 {
		sp.s.minMemAvail = min(sp.s.minMemAvail, avail)
	}
}

func (sp *sampler) sampleRuns() {
	locks, _ := os.ReadDir(sp.runsDir)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, l := range locks {
		if id, ok := strings.CutSuffix(l.Name(), ".lock"); ok {
			sp.s.runs[id] = true
		}
	}
}

// stop ends the sampling (once).
func (sp *sampler) stop() {
	sp.once.Do(func() {
		close(sp.done)
		sp.wg.Wait()
	})
}

// snapshot samples once more and returns what the sampler saw so far.
func (sp *sampler) snapshot() samples {
	sp.sample()
	sp.sampleRuns()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	s := sp.s
	s.runs = maps.Clone(sp.s.runs)
	return s
}

func (sp *sampler) runIDs() []string {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var ids []string
	for r := range sp.s.runs {
		ids = append(ids, r)
	}
	sort.Strings(ids)
	return ids
}

func memAvailable() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func tmpFree(t *testing.T) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs("/tmp", &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// labelledAll lists every container, network and volume with the grader's
// label as "<run> <kind> <name>", other packages' unit tests' (run ids
// test-…) left out.
func labelledAll(t *testing.T) map[string]bool {
	t.Helper()
	all := map[string]bool{}
	for _, args := range [][]string{
		{"ps", "-a", "--filter", "label=io.grader.run", "--format", `{{.Label "io.grader.run"}} container {{.Names}}`},
		{"network", "ls", "--filter", "label=io.grader.run", "--format", `{{.Label "io.grader.run"}} network {{.Name}}`},
		{"volume", "ls", "--filter", "label=io.grader.run", "--format", `{{.Label "io.grader.run"}} volume {{.Name}}`},
	} {
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.HasPrefix(l, "test-") {
				all[l] = true
			}
		}
	}
	return all
}

// labelledSince lists what carries the grader's label now and did not
// before, of the runs runs (a label value starting with one of them: a
// run may label per submission, "<run>s3"); of any run when runs is empty
// (on a shared engine that may include others').
func labelledSince(t *testing.T, before map[string]bool, runs []string) []string {
	t.Helper()
	var left []string
	for l := range labelledAll(t) {
		ours := len(runs) == 0
		for _, r := range runs {
			ours = ours || strings.HasPrefix(l, r)
		}
		if !before[l] && ours {
			left = append(left, l)
		}
	}
	sort.Strings(left)
	return left
}

// Where the machine's own servers answer (DOCKER.md: every machine and
// CI has them); what the attacks tried there is checked when they answer.
const (
	hostPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=3"
	hostRedis    = "127.0.0.1:6379"
)

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// assertNoHostTraces checks the machine's Postgres, Redis and RabbitMQ for
// what the attacks leave where they get in, and for
// anything of the batch's runs (databases, roles, Redis claims, vhosts,
// users named after the run ids).
func assertNoHostTraces(t *testing.T, runs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ofRun := func(name string) bool {
		for _, r := range runs {
			if strings.HasPrefix(name, "grader_"+r) {
				return true
			}
		}
		return false
	}
	if answers("127.0.0.1:5432") {
		for _, db := range hostDatabases(ctx, t) {
			c, err := pgx.Connect(ctx, strings.Replace(hostPostgres, "/postgres?", "/"+db+"?", 1))
			if err != nil {
				continue
			}
			var n int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = $1", pwnedTable).Scan(&n); err == nil && n > 0 {
				var rows string
				_ = c.QueryRow(ctx, "SELECT string_agg(attack || ': ' || left(note, 200), '; ') FROM "+pwnedTable).Scan(&rows)
				t.Errorf("the machine's Postgres: database %s has the table %s (an attack got in): %s", db, pwnedTable, rows)
			}
			if db == "postgres" {
				for _, q := range []string{"SELECT datname FROM pg_database", "SELECT rolname FROM pg_roles"} {
					rows, err := c.Query(ctx, q)
					if err != nil {
						continue
					}
					for rows.Next() {
						var name string
						if rows.Scan(&name) == nil && ofRun(name) {
							t.Errorf("the machine's Postgres: %s remains of the batch (%s)", name, q)
						}
					}
					rows.Close()
				}
			}
			c.Close(ctx)
		}
	} else {
		t.Logf("no Postgres on 127.0.0.1:5432: not checked")
	}
	if answers(hostRedis) {
		for db := 0; db < 16; db++ {
			c := redis.NewClient(&redis.Options{Addr: hostRedis, DB: db, MaxRetries: -1})
			if v, err := c.Get(ctx, pwnedName).Result(); err == nil {
				t.Errorf("the machine's Redis: db %d has the key %s (an attack got in): %.200q", db, pwnedName, v)
			}
			if db == 0 {
				keys, _ := c.Keys(ctx, "grader:*").Result()
				for _, k := range keys {
					if v, err := c.Get(ctx, k).Result(); err == nil && ofRun(v) {
						t.Errorf("the machine's Redis: %s = %s remains of the batch", k, v)
					}
				}
			}
			c.Close()
		}
	} else {
		t.Logf("no Redis on %s: not checked", hostRedis)
	}
	mgmt := mgmtURL()
	var queues []struct{ Name, Vhost string }
	if err := getJSON(mgmt+"/api/queues?columns=name,vhost", &queues); err == nil {
		for _, q := range queues {
			if q.Name == pwnedName {
				t.Errorf("the machine's RabbitMQ: vhost %q has the queue %s (an attack got in)", q.Vhost, pwnedName)
			}
		}
		for _, kind := range []string{"vhosts", "users"} {
			var list []struct{ Name string }
			if getJSON(mgmt+"/api/"+kind, &list) == nil {
				for _, v := range list {
					if ofRun(v.Name) {
						t.Errorf("the machine's RabbitMQ: %s %s remains of the batch", strings.TrimSuffix(kind, "s"), v.Name)
					}
				}
			}
		}
	} else {
		t.Logf("no RabbitMQ management API at %s: not checked (%v)", mgmt, err)
	}
}

func hostDatabases(ctx context.Context, t *testing.T) []string {
	c, err := pgx.Connect(ctx, hostPostgres)
	if err != nil {
		t.Logf("the machine's Postgres: %v: not checked", err)
		return nil
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE datallowconn")
	if err != nil {
		return nil
	}
	defer rows.Close()
	var dbs []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			dbs = append(dbs, n)
		}
	}
	return dbs
}

func getJSON(rawURL string, out any) error {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(rawURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// removeAttackTraces undoes what escaped attacks leave, whatever the
// test's outcome, so that the tests after this one start clean: the
// attack processes (by pid), their files in /tmp, and their key, table and
// queue on the machine's servers.
func removeAttackTraces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range attackProcs() {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	files, _ := filepath.Glob(filepath.Join("/tmp", attackMarker+"-*"))
	for _, f := range files {
		_ = os.RemoveAll(f)
	}
	if answers("127.0.0.1:5432") {
		for _, db := range hostDatabases(ctx, t) {
			if c, err := pgx.Connect(ctx, strings.Replace(hostPostgres, "/postgres?", "/"+db+"?", 1)); err == nil {
				_, _ = c.Exec(ctx, "DROP TABLE IF EXISTS "+pwnedTable)
				c.Close(ctx)
			}
		}
	}
	if answers(hostRedis) {
		for db := 0; db < 16; db++ {
			c := redis.NewClient(&redis.Options{Addr: hostRedis, DB: db, MaxRetries: -1})
			_ = c.Del(ctx, pwnedName).Err()
			c.Close()
		}
	}
	var queues []struct{ Name, Vhost string }
	if getJSON(mgmtURL()+"/api/queues?columns=name,vhost", &queues) == nil {
		for _, q := range queues {
			if q.Name == pwnedName {
				req, _ := http.NewRequest(http.MethodDelete, mgmtURL()+"/api/queues/"+pathEscape(q.Vhost)+"/"+pwnedName, nil)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	}
	if left := attackProcs(); len(left) > 0 {
		t.Logf("removing traces: %d attack processes did not die at SIGKILL", len(left))
	}
}

func pathEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "%", "%25"), "/", "%2F")
}
