#!/usr/bin/env bash
# docker-up.sh — make sure a Docker engine answers on this machine.
#
# Idempotent: when `docker info` already works it does nothing. Otherwise it
#   1. installs the engine from Debian (apt-get update; apt-get install -y docker.io)
#      when no dockerd binary is present,
#   2. starts dockerd in the background, logging to $DOCKERD_LOG
#      (default /tmp/dockerd.log); its pid goes to $DOCKERD_PIDFILE
#      (default /tmp/grader-dockerd.pid),
#   3. waits up to $DOCKER_UP_TIMEOUT seconds (default 30) for `docker info`.
#
# It never stops or restarts an engine that is already running. It needs root
# (or sudo) for apt-get and dockerd. Exit status: 0 when the engine answers,
# 1 otherwise (the last lines of the dockerd log are printed).
#
# Usage: scripts/docker-up.sh            # typical: 1–3 s when installed, ~40 s with apt
set -euo pipefail

log=${DOCKERD_LOG:-/tmp/dockerd.log}
pidfile=${DOCKERD_PIDFILE:-/tmp/grader-dockerd.pid}
timeout=${DOCKER_UP_TIMEOUT:-30}

say() { printf '[docker-up] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
	say "docker engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		say "docker does not answer and this script needs root to start it: run it as root, or start Docker yourself"
		exit 1
	fi
fi

if ! command -v dockerd >/dev/null 2>&1; then
	say "no dockerd: installing docker.io from Debian (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends docker.io >/dev/null
	# docker.io ships its own client as /usr/bin/docker; an existing newer client
	# earlier in PATH is kept (it negotiates the API version).
fi

# Another dockerd may be starting (ours from an earlier call, or someone else's):
# never start a second one on the same socket.
if pgrep -x dockerd >/dev/null 2>&1; then
	say "dockerd is already running; waiting for it to answer"
else
	say "starting dockerd in the background (log: $log)"
	# containerd is started by dockerd itself when not running.
	$sudo sh -c "nohup dockerd >>'$log' 2>&1 & echo \$! >'$pidfile'"
fi

for _ in $(seq 1 "$((timeout * 2))"); do
	if docker info >/dev/null 2>&1; then
		say "docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
		exit 0
	fi
	sleep 0.5
done

say "docker did not answer within ${timeout}s; last lines of $log:"
tail -n 20 "$log" >&2 || true
exit 1
