package submission

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits are resource limits (setrlimit) for every process of the build and
// of the service. The shell that runs the command sets them before anything
// else starts, so every process it starts inherits them and none can raise
// them. A zero field is no limit (the grader's own limit holds).
type Limits struct {
	// CPUSeconds is the CPU time of each process (RLIMIT_CPU): SIGXCPU at
	// the limit, SIGKILL one second of CPU time later.
	CPUSeconds uint64
	// FileBytes is the largest file a process may write (RLIMIT_FSIZE):
	// writing beyond it gets SIGXFSZ.
	FileBytes uint64
	// OpenFiles is how many files each process may have open (RLIMIT_NOFILE).
	OpenFiles uint64
	// DataBytes is each process's data segment and private writable
	// memory (RLIMIT_DATA): allocations beyond it fail. Unlike an address
	// space limit (ulimit -v), it leaves Go's and Node's large reservations
	// of address space alone.
	DataBytes uint64
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// String describes the limits for a progress line: "CPU time 600s, file
// size 1 GiB, open files 4096, data 4 GiB"; "" when there are none.
func (l Limits) String() string {
	var parts []string
	if l.CPUSeconds > 0 {
		parts = append(parts, fmt.Sprintf("CPU time %ds", l.CPUSeconds))
	}
	if l.FileBytes > 0 {
		parts = append(parts, "file size "+formatBytes(l.FileBytes))
	}
	if l.OpenFiles > 0 {
		parts = append(parts, fmt.Sprintf("open files %d", l.OpenFiles))
	}
	if l.DataBytes > 0 {
		parts = append(parts, "data "+formatBytes(l.DataBytes))
	}
	return strings.Join(parts, ", ")
}

// shellPrefix is the start of an `sh -c` script that sets the limits, ""
// when there are none. Each value is capped at the grader's own hard limit
// (which a process cannot raise). The CPU limit's hard value is one second
// above the soft one, so that a process gets SIGXCPU (and the report says
// why it died) before the SIGKILL that ends one that ignores it. If a limit
// cannot be set the script stops there: nothing runs without its limits.
//
// The units are POSIX sh's (dash, and bash as sh): -f in 512-byte blocks,
// -d in KiB, -t in seconds.
func (l Limits) shellPrefix() string {
	var cmds []string
	if l.CPUSeconds > 0 {
		soft := capped(unix.RLIMIT_CPU, l.CPUSeconds, 1)
		hard := capped(unix.RLIMIT_CPU, l.CPUSeconds+1, 1)
		cmds = append(cmds, "ulimit -S -t "+soft, "ulimit -H -t "+hard)
	}
	if l.FileBytes > 0 {
		cmds = append(cmds, "ulimit -f "+capped(unix.RLIMIT_FSIZE, l.FileBytes, 512))
	}
	if l.OpenFiles > 0 {
		cmds = append(cmds, "ulimit -n "+capped(unix.RLIMIT_NOFILE, l.OpenFiles, 1))
	}
	if l.DataBytes > 0 {
		cmds = append(cmds, "ulimit -d "+capped(unix.RLIMIT_DATA, l.DataBytes, 1024))
	}
	if len(cmds) == 0 {
		return ""
	}
	return strings.Join(cmds, " && ") + " || exit 125\n"
}

// capped is want (in the resource's own unit) at most the grader's hard
// limit for resource, in units of unit (rounded up, at least 1), as ulimit
// takes it.
func capped(resource int, want, unit uint64) string {
	var rl unix.Rlimit
	if err := unix.Getrlimit(resource, &rl); err == nil && rl.Max != unix.RLIM_INFINITY && uint64(rl.Max) < want {
		want = uint64(rl.Max)
	}
	n := (want + unit - 1) / unit
	return strconv.FormatUint(max(n, 1), 10)
}

// formatBytes prints 1 GiB, 64 KiB, or 1000 bytes.
func formatBytes(n uint64) string {
	for _, u := range []struct {
		size uint64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// describeExitLimits is describeExit that names a resource limit the
// process ran into: killed by SIGXCPU or SIGXFSZ, killed by SIGKILL after
// using up its CPU time (a Go program ignores SIGXCPU), or a shell that
// exits with 128+SIGXCPU or 128+SIGXFSZ because a command it ran was
// killed so.
func describeExitLimits(st *os.ProcessState, l Limits) string {
	base := describeExit(st)
	if st == nil {
		return base
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok {
		return base
	}
	if ws.Signaled() {
		switch ws.Signal() {
		case syscall.SIGXCPU:
			return "was killed: it exceeded " + cpuLimit(l) + " (SIGXCPU)"
		case syscall.SIGXFSZ:
			return "was killed: it exceeded " + fileLimit(l) + " (SIGXFSZ)"
		case syscall.SIGKILL:
			if l.CPUSeconds > 0 && st.UserTime()+st.SystemTime() >= time.Duration(l.CPUSeconds)*time.Second {
				return "was killed: it exceeded " + cpuLimit(l) + " (SIGKILL, as it went on after SIGXCPU)"
			}
		}
		return base
	}
	switch code := st.ExitCode(); {
	case l.CPUSeconds > 0 && code == 128+int(syscall.SIGXCPU):
		return base + ": a command it ran exceeded " + cpuLimit(l) + " (SIGXCPU)"
	case l.FileBytes > 0 && code == 128+int(syscall.SIGXFSZ):
		return base + ": a command it ran exceeded " + fileLimit(l) + " (SIGXFSZ)"
	}
	return base
}

func cpuLimit(l Limits) string {
	if l.CPUSeconds == 0 {
		return "a CPU time limit"
	}
	return fmt.Sprintf("the CPU time limit of %ds", l.CPUSeconds)
}

func fileLimit(l Limits) string {
	if l.FileBytes == 0 {
		return "a file size limit"
	}
	return "the file size limit of " + formatBytes(l.FileBytes)
}

// limitHint says what to do about an exit that describeExitLimits blamed
// on a limit, "" for any other exit.
func limitHint(reason string) string {
	switch {
	case strings.Contains(reason, "CPU time limit"):
		return "the grader limits the CPU time of each process: look for a busy loop or work that never ends (the last lines of output are below)"
	case strings.Contains(reason, "file size limit"):
		return "the grader limits the size of the files a process writes: look for a file (a log, an upload, a database) that grows without bound"
	}
	return ""
}
