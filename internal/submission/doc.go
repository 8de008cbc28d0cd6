// Package submission is the learner's project as the grader sees it: the
// grader.yaml manifest (or what was detected without one), the build, and the
// running service — a process in its own process group or, with docker: true,
// a container — with its output, readiness, restart, a second instance and a
// clean stop.
//
// Nothing survives the grader: every process runs in its own process group
// and is killed on Stop; a process also gets SIGKILL if the grader dies.
// Config.Limits puts every process of the build and of the service under
// resource limits (CPU time, file size, open files, data), and a process
// killed by one is reported as such.
package submission
