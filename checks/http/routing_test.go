package http

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAllowsGet(t *testing.T) {
	for allow, want := range map[string]bool{
		"GET": true, "GET, HEAD": true, "HEAD,get": true, " POST , GET ": true,
		"": false, "POST": false, "GETX, HEAD": false,
	} {
		if got := allowsGet(allow); got != want {
			t.Errorf("allowsGet(%q) = %v, want %v", allow, got, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	all := []outcome{{status: 200, took: time.Millisecond}, {status: 200, took: 3 * time.Millisecond}}
	if s, ok := summarize(all); !ok || s != "2 x 200; slowest 3ms" {
		t.Errorf("all 200: %q %v", s, ok)
	}
	mixed := append(all, outcome{status: 503}, outcome{err: errors.New("context deadline exceeded"), took: 5 * time.Second})
	s, ok := summarize(mixed)
	if ok || !strings.Contains(s, "1 x 503") || !strings.Contains(s, "1 x no answer (timed out)") || !strings.Contains(s, "slowest 5s") {
		t.Errorf("mixed: %q %v", s, ok)
	}
}
