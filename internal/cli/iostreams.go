package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams is where the CLI reads and writes, and what it knows about the
// terminal: decided in one place, injected everywhere.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY / ErrTTY: the stream is a terminal.
	OutTTY, ErrTTY bool
	// NoColor: NO_COLOR is set (https://no-color.org) or TERM=dumb.
	NoColor bool
	// Getenv reads the environment (os.Getenv in production).
	Getenv func(string) string
}

// System returns the process's real streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY:  term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY:  term.IsTerminal(int(os.Stderr.Fd())),
		NoColor: os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
		Getenv:  os.Getenv,
	}
}

// ColorOut reports whether colour may be written to Out.
func (s *IOStreams) ColorOut() bool { return s.OutTTY && !s.NoColor }

// ColorErr reports whether colour may be written to ErrOut.
func (s *IOStreams) ColorErr() bool { return s.ErrTTY && !s.NoColor }
