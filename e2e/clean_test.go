package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// labelledRuns lists the io.grader.run labels of the containers there are.
func labelledRuns(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=io.grader.run", "--format", `{{.Label "io.grader.run"}}`).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	runs := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		runs[l] = true
	}
	return runs
}

// startCheck starts `grader check` of a service that never listens, in
// docker mode at a stage that needs Postgres and Redis, and returns it and
// its run id once its containers are up.
func startCheck(t *testing.T, dir string, before map[string]bool) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(graderBin, "check", dir, "--stage", "caching", "--services", "docker", "-q")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for id := range labelledRuns(t) {
			if !before[id] {
				return cmd, id
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatal("the check started no container within 2 minutes")
	return nil, ""
}

// grader clean removes what a killed run left and keeps a live run's
// containers, without --all.
func TestCleanKeepsLiveRuns(t *testing.T) {
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("docker is not reachable: this test needs an engine")
	}
	t.Setenv("GRADER_RUNS_DIR", t.TempDir())
	dir := t.TempDir()
	for name, body := range map[string]string{
		"grader.yaml": "stage: http\nrun: sh ./server.sh\nstartupTimeout: 90s\n",
		"server.sh":   "#!/bin/sh\nexec sleep 600\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := labelledRuns(t)
	killed, killedID := startCheck(t, dir, before)
	before[killedID] = true
	live, liveID := startCheck(t, dir, before)
	_ = killed.Process.Signal(syscall.SIGKILL)
	_ = killed.Wait()
	if !labelledRuns(t)[killedID] {
		t.Fatal("the killed run's containers went by themselves: nothing to clean")
	}

	r := runGrader(t, time.Minute, "clean", "--services", "docker", "--run", killedID, "--run", liveID)
	if r.code != 0 {
		t.Fatalf("clean exited %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	runs := labelledRuns(t)
	if runs[killedID] {
		t.Errorf("the killed run %s's containers remain after clean:\n%s", killedID, r.stdout)
	}
	if !runs[liveID] {
		t.Errorf("clean removed the live run %s's containers:\n%s", liveID, r.stdout)
	}
	if !strings.Contains(r.stdout, "run "+liveID+" is live") {
		t.Errorf("clean does not say it kept the live run:\n%s", r.stdout)
	}

	// --all takes the live run's too; the live grader then fails as its
	// environment, not as the learner's fault.
	r = runGrader(t, time.Minute, "clean", "--services", "docker", "--all", "--run", liveID)
	if r.code != 0 || labelledRuns(t)[liveID] {
		t.Errorf("clean --all: exit %d, the live run's containers remain: %v\n%s%s", r.code, labelledRuns(t)[liveID], r.stdout, r.stderr)
	}
	_ = live.Process.Signal(syscall.SIGINT)
	_ = live.Wait()
}
