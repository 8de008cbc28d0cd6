package submission

// ProjectError is a problem with the learner's project (it cannot be read,
// built or started): the learner's to fix, reported as such (exit code 1),
// never the grader's environment.
type ProjectError struct {
	// Kind is manifest, build, start or crash.
	Kind string
	// Message is one lower-case line naming the cause.
	Message string
	// Hint says what to do about it.
	Hint string
	// Log holds the last lines of the project's output, when there are any.
	Log string
}

// Error returns the message.
func (e *ProjectError) Error() string { return e.Message }
