package caching

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestHasDirective(t *testing.T) {
	if !hasDirective([]string{"no-cache", "Private, max-age=0"}, "private") {
		t.Error("private in a second value")
	}
	if hasDirective([]string{"public, max-age=60"}, "private") {
		t.Error("public is not private")
	}
	if hasDirective([]string{`no-cache="private-field"`}, "private") {
		t.Error("a quoted argument is not a directive")
	}
}

func TestGlobEscape(t *testing.T) {
	if got := globEscape(`a*b?c[d]\e`); got != `a\*b\?c\[d\]\\e` {
		t.Errorf("globEscape = %q", got)
	}
}

func TestTTLRange(t *testing.T) {
	for seed := range uint64(200) {
		n, err := strconv.Atoi(Stage.Env(rand.New(rand.NewPCG(seed, 1)))[TTLVar])
		if err != nil || n < 30 || n > 300 {
			t.Fatalf("%s=%d (%v)", TTLVar, n, err)
		}
	}
}
