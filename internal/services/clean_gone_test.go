package services

import (
	"errors"
	"testing"
)

func TestGoneIsClean(t *testing.T) {
	for msg, want := range map[string]bool{
		"Error response from daemon: network 25e6 not found":                                     true,
		"Error response from daemon: No such container: 1a2b":                                    true,
		"Error response from daemon: removal of container bda2 is already in progress":           true,
		"Error response from daemon: error while removing network: network has active endpoints": false,
		"Cannot connect to the Docker daemon":                                                    false,
	} {
		if got := gone(errors.New(msg)); got != want {
			t.Errorf("gone(%q) = %v, want %v", msg, got, want)
		}
	}
}
