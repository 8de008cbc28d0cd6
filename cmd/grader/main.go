// Command grader grades a backend learner's project stage by stage.
package main

import (
	"os"

	"github.com/backend-grader/grader/internal/cli"
)

func main() { os.Exit(cli.Main(cli.System(), os.Args[1:])) }
