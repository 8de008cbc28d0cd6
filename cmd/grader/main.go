// Command grader grades a backend learner's project stage by stage.
package main

import (
	"os"

	"github.com/backend-grader/grader/internal/cli"
	"github.com/backend-grader/grader/internal/grading/system"
)

// main wires the real services and projects into the CLI; nothing else.
func main() { os.Exit(cli.Main(cli.System(), system.New(), os.Args[1:])) }
