// Package runlock marks the grader runs that are alive, so that `grader
// clean` removes only what no running grader owns.
//
// A grader process holds an exclusive flock on <Dir>/<run id>.lock for as
// long as its run lives. The kernel drops the lock when the process dies,
// however it dies (SIGKILL included), so a lock that can be taken by
// someone else belongs to a dead run. The lock is taken before the run
// creates anything (containers, databases, vhosts), so whatever carries a
// run id whose lock is held is live.
//
// It is a leaf: grading takes the lock when it makes a run id, the
// services take it when they start, and clean reads it.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// DirEnv overrides where the locks live (tests; several users sharing a
// machine with no XDG_RUNTIME_DIR).
const DirEnv = "GRADER_RUNS_DIR"

// Dir is where the lock files live: $GRADER_RUNS_DIR, else
// $XDG_RUNTIME_DIR/grader-runs, else <os.TempDir()>/grader-runs.
func Dir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "grader-runs")
	}
	return filepath.Join(os.TempDir(), "grader-runs")
}

// held are this process's locks by run id, counted: the check command and
// the services it starts both hold the same run.
var (
	mu   sync.Mutex
	held = map[string]*hold{}
)

type hold struct {
	f    *os.File
	refs int
}

// Hold takes the lock of runID for this process and returns its release
// (safe to call more than once). Holding the same run twice in one process
// is counted, not a second lock.
func Hold(runID string) (release func(), err error) {
	if err := validID(runID); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	h := held[runID]
	if h == nil {
		f, err := lock(runID)
		if err != nil {
			return nil, err
		}
		h = &hold{f: f}
		held[runID] = h
	}
	h.refs++
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			h.refs--
			if h.refs == 0 {
				delete(held, runID)
				_ = os.Remove(h.f.Name())
				_ = h.f.Close() // drops the flock
			}
		})
	}, nil
}

// lock creates and locks the run's file. A clean that removed a stale file
// between our open and our flock would leave us holding an unlinked inode
// nobody can see: the file is checked to be still ours after the flock.
func lock(runID string) (*os.File, error) {
	dir := Dir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the directory of run locks %s: %w (set %s to a writable directory)", dir, err, DirEnv)
	}
	path := filepath.Join(dir, runID+".lock")
	for attempt := 0; attempt < 5; attempt++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create the run lock %s: %w (set %s to a writable directory)", path, err, DirEnv)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w (another grader process uses run id %s)", path, err, runID)
		}
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: the file keeps being removed (is 'grader clean' running in a loop?)", path)
}

func validID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\\\x00") || id == "." || id == ".." {
		return fmt.Errorf("run id %q cannot name a lock file", id)
	}
	return nil
}

// Live returns the run ids whose lock some process holds (this one
// included). The files of dead runs are removed on the way.
func Live() (map[string]bool, error) {
	live := map[string]bool{}
	entries, err := os.ReadDir(Dir())
	if errors.Is(err, os.ErrNotExist) {
		return live, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the run locks in %s: %w", Dir(), err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(Dir(), e.Name())
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			// Someone else's file we cannot open: count it as live, never
			// remove what another user's grader may own.
			live[id] = true
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			live[id] = true
		} else {
			_ = os.Remove(path)
		}
		f.Close()
	}
	return live, nil
}

// Owner returns the live run that owns something labelled or named with
// value, or "" when none: value is a run id, or starts with one (a batch
// labels each submission's container <run id>s<n>, and scope names carry
// the run id after a prefix the caller strips).
func Owner(live map[string]bool, value string) string {
	if live[value] {
		return value
	}
	best := ""
	for id := range live {
		if strings.HasPrefix(value, id) && len(id) > len(best) {
			best = id
		}
	}
	return best
}
