package submission

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// limitsProject is a project whose grader.yaml is yaml, loaded.
func limitsProject(t *testing.T, yaml string) *Manifest {
	t.Helper()
	m, err := Load(project(t, map[string]string{"grader.yaml": yaml}))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLimitsShellUnits runs the prefix in this machine's /bin/sh and reads
// the limits back in the shell's units: -f in 512-byte blocks, -d in KiB.
func TestLimitsShellUnits(t *testing.T) {
	if got := (Limits{}).shellPrefix(); got != "" {
		t.Errorf("no limits: prefix = %q, want none", got)
	}
	l := Limits{CPUSeconds: 2, FileBytes: 1 << 30, OpenFiles: 256, DataBytes: 4 << 30}
	out, err := exec.Command("/bin/sh", "-c", l.shellPrefix()+"ulimit -S -t; ulimit -H -t; ulimit -f; ulimit -n; ulimit -d").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := strings.Fields(string(out)), []string{"2", "3", "2097152", "256", "4194304"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("limits read back = %v, want %v (soft/hard CPU s, 512-byte blocks, files, KiB)", got, want)
	}
	if got := l.String(); got != "CPU time 2s, file size 1 GiB, open files 256, data 4 GiB" {
		t.Errorf("String() = %q", got)
	}
	// A limit the shell cannot set stops the script before the command.
	broken := strings.Replace(l.shellPrefix(), "ulimit -n 256", "ulimit -n many", 1)
	cmd := exec.Command("/bin/sh", "-c", broken+"echo ran")
	if out, err := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 125 || strings.Contains(string(out), "ran") {
		t.Errorf("a limit not set: %v, output %q; want exit 125 before the command", err, out)
	}
}

func TestBuildCPULimit(t *testing.T) {
	t.Parallel()
	m := limitsProject(t, "build: 'while :; do :; done'\nrun: ./x\n")
	start := time.Now()
	err := Build(context.Background(), Config{Manifest: m, Limits: Limits{CPUSeconds: 1}})
	pe := projectError(t, err, "build")
	want := "the project did not build: `while :; do :; done` was killed: it exceeded the CPU time limit of 1s (SIGXCPU)"
	if pe.Message != want {
		t.Errorf("message = %q\nwant      %q", pe.Message, want)
	}
	if !strings.Contains(pe.Hint, "CPU time") {
		t.Errorf("hint = %q, want one about the CPU time limit", pe.Hint)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the build ran %s under a 1s CPU limit", d)
	}
	assertNothingLeft(t, m.Dir)
}

// A command of the build killed by SIGXFSZ makes the shell exit with
// 128+SIGXFSZ: the message still names the limit.
func TestBuildFileLimit(t *testing.T) {
	t.Parallel()
	m := limitsProject(t, "build: head -c 100000 /dev/zero > big || exit $?\nrun: ./x\n")
	err := Build(context.Background(), Config{Manifest: m, Limits: Limits{FileBytes: 64 << 10}})
	pe := projectError(t, err, "build")
	want := "the project did not build: `head -c 100000 /dev/zero > big || exit $?` exited with code 153: a command it ran exceeded the file size limit of 64 KiB (SIGXFSZ)"
	if pe.Message != want {
		t.Errorf("message = %q\nwant      %q", pe.Message, want)
	}
	if st, err := os.Stat(filepath.Join(m.Dir, "big")); err != nil || st.Size() != 64<<10 {
		t.Errorf("big: %v, want exactly 64 KiB written", err)
	}
}

func TestStartFileLimit(t *testing.T) {
	t.Parallel()
	m := limitsProject(t, "run: head -c 100000 /dev/zero > big\n")
	p, err := Start(context.Background(), Config{Manifest: m, Limits: Limits{FileBytes: 64 << 10}})
	if p != nil {
		t.Error("Start returned a process with its error")
	}
	pe := projectError(t, err, "start")
	if !regexp.MustCompile(`^your service was killed: it exceeded the file size limit of 64 KiB \(SIGXFSZ\) before it listened on \$PORT \(PORT=\d+\)$`).MatchString(pe.Message) {
		t.Errorf("message = %q", pe.Message)
	}
	if !strings.Contains(pe.Hint, "size of the files") {
		t.Errorf("hint = %q, want one about the file size limit", pe.Hint)
	}
	assertNothingLeft(t, m.Dir)
}

// A service that listens, then spins while ignoring SIGXCPU (as Go programs
// do) is killed one CPU second later, and Exited says why.
func TestServiceCPULimitExited(t *testing.T) {
	t.Parallel()
	good := fixture(t, "testdata/good", true)
	server := filepath.Join(good.Dir, goBinary)
	m := limitsProject(t, "run: "+server+` & until [ -e go ]; do sleep 0.05; done; trap "" XCPU; while :; do :; done`+"\n")
	p, err := Start(context.Background(), Config{Manifest: m, Limits: Limits{CPUSeconds: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	if err := p.Exited(); err != nil {
		t.Fatalf("Exited() = %v before it spins", err)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for p.Exited() == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	want := "was killed: it exceeded the CPU time limit of 1s (SIGKILL, as it went on after SIGXCPU)"
	if err := p.Exited(); err == nil || err.Error() != want {
		t.Fatalf("Exited() = %v, want %s", err, want)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	assertNothingLeft(t, m.Dir)
}
