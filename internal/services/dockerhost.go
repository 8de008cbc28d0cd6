package services

import (
	"bufio"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/moby/moby/client"
)

// dockerHost decides where the grader reaches the ports its containers
// publish (host) and where they are published (bind; zero: all interfaces):
//
//   - TESTCONTAINERS_HOST_OVERRIDE, when set, is the host;
//   - an engine reached over TCP is reached at its host name;
//   - an engine on a local socket that shares this machine's network (no
//     /.dockerenv, or a docker0 interface here) is reached on 127.0.0.1, and
//     ports are published on loopback only;
//   - from inside a container talking to the host's engine, the host is the
//     default bridge's gateway (else the default route's gateway).
//
// testcontainers' own guess is not used: it creates a network without the
// grader's label on engines whose bridge does not report its gateway.
func dockerHost(ctx context.Context, cli client.APIClient) (string, netip.Addr) {
	if h := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"); h != "" {
		return h, bindFor(h)
	}
	if u, err := url.Parse(cli.DaemonHost()); err == nil {
		switch u.Scheme {
		case "tcp", "http", "https":
			return u.Hostname(), bindFor(u.Hostname())
		}
	}
	loop := netip.MustParseAddr("127.0.0.1")
	if _, err := os.Stat("/.dockerenv"); err != nil {
		return loop.String(), loop
	}
	if _, err := net.InterfaceByName("docker0"); err == nil {
		return loop.String(), loop
	}
	if nw, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{}); err == nil {
		for _, c := range nw.Network.IPAM.Config {
			if c.Gateway.IsValid() {
				return c.Gateway.String(), netip.Addr{}
			}
		}
	}
	if gw := defaultGateway(); gw.IsValid() {
		return gw.String(), netip.Addr{}
	}
	return loop.String(), loop
}

// bindFor publishes on loopback when the host is this machine's loopback.
func bindFor(host string) netip.Addr {
	if host == "localhost" {
		return netip.MustParseAddr("127.0.0.1")
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return ip
	}
	return netip.Addr{}
}

// defaultGateway reads the IPv4 default route's gateway from /proc/net/route.
func defaultGateway() netip.Addr {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[1] != "00000000" {
			continue
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil || len(b) != 4 {
			continue
		}
		return netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]})
	}
	return netip.Addr{}
}
