package runlock

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary act as another grader process that holds a
// run's lock until it is killed.
func TestMain(m *testing.M) {
	if id := os.Getenv("RUNLOCK_TEST_HOLD"); id != "" {
		if _, err := Hold(id); err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("held\n")
		select {}
	}
	os.Exit(m.Run())
}

func TestHoldLiveAndKilled(t *testing.T) {
	t.Setenv(DirEnv, t.TempDir())

	release, err := Hold("mine")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Hold("mine") // counted, not a second flock
	if err != nil {
		t.Fatalf("holding the same run twice in one process: %v", err)
	}

	// Another process holds "other"; then it is killed.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RUNLOCK_TEST_HOLD=other")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "held\n" {
		t.Fatalf("the other process said %q", line)
	}
	if _, err := Hold("other"); err == nil {
		t.Fatal("took the lock another process holds")
	}
	live, err := Live()
	if err != nil {
		t.Fatal(err)
	}
	if !live["mine"] || !live["other"] {
		t.Fatalf("Live = %v, want mine and other", live)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	live, _ = Live()
	if live["other"] || !live["mine"] {
		t.Fatalf("after the kill Live = %v, want only mine", live)
	}
	if _, err := os.Stat(filepath.Join(Dir(), "other.lock")); !os.IsNotExist(err) {
		t.Errorf("the dead run's lock file is still there (%v)", err)
	}

	release()
	if live, _ := Live(); !live["mine"] {
		t.Fatal("released once of twice, and the run is no longer live")
	}
	again()
	again()
	if live, _ := Live(); live["mine"] {
		t.Fatal("released, and the run is still live")
	}
}

func TestOwner(t *testing.T) {
	live := map[string]bool{"0a1b2c3d4e5f": true}
	for v, want := range map[string]string{
		"0a1b2c3d4e5f":    "0a1b2c3d4e5f",
		"0a1b2c3d4e5fs12": "0a1b2c3d4e5f",
		"ffffffffffff":    "",
		"":                "",
	} {
		if got := Owner(live, v); got != want {
			t.Errorf("Owner(%q) = %q, want %q", v, got, want)
		}
	}
	if _, err := Hold("../x"); err == nil {
		t.Error("a run id with a slash named a lock file")
	}
}
