// Package submission is the learner's project as the grader sees it: the
// grader.yaml manifest (or what was detected without one), the build, and the
// running service — a process in its own process group or, with docker: true,
// a container — with its output, readiness, restart, a second instance and a
// clean stop.
//
// Nothing survives the grader: every process runs in its own process group
// and is killed on Stop; a process also gets SIGKILL if the grader dies.
package submission
