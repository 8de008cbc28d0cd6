package submission

import "syscall"

// sysProcAttr puts the child in its own process group (so that the whole
// group can be signalled) and kills it if the grader dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
