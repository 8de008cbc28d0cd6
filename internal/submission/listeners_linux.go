package submission

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// listener is a listening TCP socket.
type listener struct {
	IP   net.IP
	Port int
}

func (l listener) String() string { return net.JoinHostPort(l.IP.String(), strconv.Itoa(l.Port)) }

// groupListeners returns the TCP sockets the processes of group pgid listen
// on (read from /proc; nil when it cannot be read).
func groupListeners(pgid int) []listener {
	inodes := map[string]bool{}
	var pids []int
	for _, pid := range groupPids(pgid) {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
			}
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 || len(inodes) == 0 {
		return nil
	}
	var out []listener
	for _, l := range procListeners(pids[0]) {
		if inodes[l.inode] {
			out = append(out, l.listener)
		}
	}
	return dedupe(out)
}

// netnsListeners returns every TCP socket listening in the network
// namespace of pid (for a container: what listens inside it).
func netnsListeners(pid int) []listener {
	var out []listener
	for _, l := range procListeners(pid) {
		out = append(out, l.listener)
	}
	return dedupe(out)
}

// groupPids lists the processes whose process group is pgid.
func groupPids(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

type procListener struct {
	listener
	inode string
}

// procListeners parses /proc/PID/net/tcp and tcp6 for listening sockets.
func procListeners(pid int) []procListener {
	var out []procListener
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, name))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			ip, port, ok := parseProcAddr(fields[1])
			if ok {
				out = append(out, procListener{listener{ip, port}, fields[9]})
			}
		}
		f.Close()
	}
	return out
}

// parseProcAddr decodes "0100007F:1F90" (IPv4) or the 32-digit IPv6 form:
// the address is stored as 32-bit words in host (little-endian) order.
func parseProcAddr(s string) (net.IP, int, bool) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, false
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, 0, false
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return nil, 0, false
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 {
		ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return ip, int(port), true
}

func dedupe(ls []listener) []listener {
	seen := map[string]bool{}
	var out []listener
	for _, l := range ls {
		if k := l.String(); !seen[k] {
			seen[k] = true
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}
