// Package servicetest holds what the tests of the services packages share.
package servicetest

import (
	"fmt"
	"os"
	"testing"
)

// Unavailable skips the test, or fails it in CI (CI=true), where every
// service the tests need must be there (DESIGN.md §4).
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: this must run in CI)", msg)
	}
	t.Skip(msg)
}
