#!/usr/bin/env bash
# build-images.sh — build the grader's images from Debian packages, for
# machines that cannot pull from a container registry (air-gapped classrooms,
# our own CI):
#   service images  postgres, redis, rabbitmq: the servers a run needs
#                   (--services docker);
#   runner images   runner-go, runner-node, runner-python: the toolchains in
#                   which `grader batch` builds and runs each (untrusted)
#                   submission, one container per submission.
#
#   1. debootstrap --variant=minbase bookworm into a temporary directory and
#      `docker import` it as the base image (default grader/debian:bookworm);
#   2. build scripts/images/NAME/Dockerfile on that base, the images in
#      parallel (--jobs N: at most N at a time), each logging to its own file
#      (its end is shown if it fails):
#        postgres       apt-get install postgresql-15
#        redis          apt-get install redis-server
#        rabbitmq       apt-get install rabbitmq-server
#        runner-go      ca-certificates, git, and this machine's own Go
#                       toolchain (`go env GOROOT`, or that of $GO; Debian's
#                       1.19 is too old) copied without tests, testdata and
#                       docs to /usr/local/go; CGO_ENABLED=0, GOTOOLCHAIN=local
#        runner-node    nodejs (18) and npm from Debian, ca-certificates
#        runner-python  python3 (3.11), python3-venv, python3-pip, ca-certificates
#   3. print the lines to use, on stdout (those of the images asked for):
#        GRADER_POSTGRES_IMAGE=grader/postgres:local
#        GRADER_REDIS_IMAGE=grader/redis:local
#        GRADER_RABBITMQ_IMAGE=grader/rabbitmq:local
#        GRADER_RUNNER_GO_IMAGE=grader/runner-go:local
#        GRADER_RUNNER_NODE_IMAGE=grader/runner-node:local
#        GRADER_RUNNER_PYTHON_IMAGE=grader/runner-python:local
#      e.g. `scripts/build-images.sh >> "$GITHUB_ENV"` or
#           `export $(scripts/build-images.sh)`. Progress goes to stderr.
#
# Idempotent: an image that already exists is kept (and still printed) unless
# --force is given (which also rebuilds the base). Needs a running Docker
# engine (scripts/docker-up.sh), root for debootstrap (installed with apt-get
# when missing), a reachable Debian mirror (the machine's, or --mirror URL for
# a local one) and, for runner-go, a Go toolchain on this machine.
#
# The service images honour the contract the grader relies on, like the
# official ones:
#   postgres  POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, listens on all
#             interfaces, password auth over TCP (trust when no password),
#             `postgres -c name=value` arguments, STOPSIGNAL SIGINT.
#   redis     `redis-server [args]` listening on all interfaces, protected mode off.
#   rabbitmq  the default user (RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS,
#             else guest/guest) usable from outside the container, management
#             plugin on 15672, `rabbitmqctl` through docker exec.
# The runner images only provide a toolchain and /bin/sh: no ENTRYPOINT, no
# user, no home directory, no secrets, LABEL io.grader.runner=go|node|python.
# The grader supplies the rest at `docker run` time: the submission's private
# copy mounted at /app as the working directory, an arbitrary non-root uid, a
# read-only root filesystem with a tmpfs /tmp and HOME=/tmp, the environment
# (e.g. GOCACHE/GOMODCACHE under /app, GOPROXY) and the limits. Everything a
# toolchain writes must therefore go to /app, /tmp or $HOME.
#
# Usage: scripts/build-images.sh [--force] [--tag TAG] [--mirror URL] [--jobs N]
#          [postgres] [redis] [rabbitmq] [runner-go] [runner-node] [runner-python]
#        (no names: all six)
# Time on a 2-core machine, all six the first time: ~2 min (base 35-45 s, then
# the images in parallel, runner-node the longest at 50-90 s); one at a time
# (--jobs 1) ~3.3 min. Under a second when all exist.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
force=0
tag=${GRADER_IMAGE_TAG:-local}
repo=${GRADER_IMAGE_REPO:-grader}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR-http://deb.debian.org/debian-security}
suite=bookworm
jobs=0 # 0: all at once
all=(postgres redis rabbitmq runner-go runner-node runner-python)
want=()

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1 ;;
	--tag) tag=${2:?--tag needs a value}; shift ;;
	--tag=*) tag=${1#--tag=} ;;
	--mirror) mirror=${2:?--mirror needs a value}; shift ;;
	--mirror=*) mirror=${1#--mirror=} ;;
	--jobs) jobs=${2:?--jobs needs a value}; shift ;;
	--jobs=*) jobs=${1#--jobs=} ;;
	-h|--help) usage; exit 0 ;;
	postgres|redis|rabbitmq|runner-go|runner-node|runner-python)
		case " ${want[*]-} " in *" $1 "*) ;; *) want+=("$1") ;; esac ;;
	*) echo "build-images: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ ${#want[@]} -gt 0 ] || want=("${all[@]}")
case "$jobs" in ''|*[!0-9]*) echo "build-images: --jobs needs a number" >&2; exit 2 ;; esac

say() { printf '[build-images] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Temporary paths (rootfs, build contexts, logs of builds in progress) and
# background builds, cleaned up however the script ends.
tmp_paths=()
bg_pids=()
cleanup() {
	local p
	trap '' INT TERM # a second signal must not cut the cleanup short
	for p in "${bg_pids[@]-}"; do [ -z "$p" ] || kill "$p" 2>/dev/null || true; done
	for p in "${tmp_paths[@]-}"; do [ -z "$p" ] || rm -rf "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

docker info >/dev/null 2>&1 || die "docker does not answer: start it (scripts/docker-up.sh) and try again"

base="$repo/debian:$suite"
start_all=$(date +%s)

# What has to be built.
todo=()
for s in "${want[@]}"; do
	if [ "$force" = 1 ] || ! exists "$repo/$s:$tag"; then
		todo+=("$s")
	else
		say "$repo/$s:$tag exists (use --force to rebuild)"
		if [ "$s" = runner-go ] && command -v go >/dev/null 2>&1; then
			have=$(docker image inspect --format '{{index .Config.Labels "io.grader.go-version"}}' "$repo/$s:$tag" 2>/dev/null || true)
			host=$(go env GOVERSION 2>/dev/null || true)
			[ -z "$have" ] || [ -z "$host" ] || [ "$have" = "$host" ] ||
				say "note: $repo/$s:$tag has $have, this machine $host (--force runner-go to update it)"
		fi
	fi
done

# runner-go carries this machine's Go toolchain: find it before anything else
# so that a missing one fails at once.
go_ctx=""
if [[ " ${todo[*]-} " == *" runner-go "* ]]; then
	gobin=${GO:-$(command -v go || true)}
	[ -n "$gobin" ] || { [ ! -x /usr/local/go/bin/go ] || gobin=/usr/local/go/bin/go; }
	{ [ -n "$gobin" ] && goroot=$("$gobin" env GOROOT 2>/dev/null) && [ -n "$goroot" ]; } ||
		die "runner-go needs a Go toolchain on this machine (go on PATH, or GO=/path/to/bin/go)${GO:+; GO=$GO does not run}"
	go_version=$("$gobin" env GOVERSION)
	go_arch=$("$gobin" env GOHOSTOS)/$("$gobin" env GOHOSTARCH)
	case "$(docker info --format '{{.OSType}}/{{.Architecture}}' 2>/dev/null)" in
	linux/x86_64|linux/amd64) engine_arch=linux/amd64 ;;
	linux/aarch64|linux/arm64) engine_arch=linux/arm64 ;;
	*) engine_arch=$go_arch ;; # unknown: let the build's `go version` decide
	esac
	[ "$go_arch" = "$engine_arch" ] ||
		die "runner-go: the Go toolchain at $goroot is $go_arch but the Docker engine runs $engine_arch"
	go_ctx=$(mktemp -d /tmp/grader-runner-go.XXXXXX)
	tmp_paths+=("$go_ctx")
fi

build_base() {
	if exists "$base" && [ "$force" = 0 ]; then
		say "base $base exists (use --force to rebuild)"
		return
	fi
	[ "$(id -u)" -eq 0 ] || die "debootstrap needs root: run this script as root"
	if ! command -v debootstrap >/dev/null 2>&1; then
		say "installing debootstrap (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	fi
	local t0 root
	t0=$(date +%s)
	root=$(mktemp -d /tmp/grader-rootfs.XXXXXX)
	tmp_paths+=("$root" "$root.log")
	say "debootstrap --variant=minbase $suite from $mirror (about 30 s)"
	debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
		{ tail -n 20 "$root.log" >&2; die "debootstrap failed (log above); check the mirror with --mirror URL"; }
	rm -f "$root.log"

	# What the official debian image does for containers: no daemons started
	# by package scripts, no docs/man pages, no recommends, no apt caches,
	# and no fsync per unpacked file (a failed build is thrown away anyway;
	# runner-node's ~400 packages install in 37 s instead of 51).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod +x "$root/usr/sbin/policy-rc.d"
	echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/locale/*
	EOF
	cat >"$root/etc/apt/apt.conf.d/docker" <<-'EOF'
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
		Acquire::Languages "none";
		DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
	EOF
	{
		echo "deb $mirror $suite main"
		echo "deb $mirror $suite-updates main"
		[ -z "$security" ] || echo "deb $security $suite-security main"
	} >"$root/etc/apt/sources.list"
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/*

	say "docker import -> $base"
	tar -C "$root" -c . | docker import \
		--change 'ENV LANG=C.UTF-8' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' \
		- "$base" >/dev/null
	rm -rf "$root"
	say "base built in $(($(date +%s) - t0)) s"
}

# The runner-go build context: its Dockerfile and ./go, a copy of $goroot
# without what building and running Go programs does not need (the Go
# distribution's own tests, testdata, API lists, docs, misc). src/ stays whole
# otherwise: the standard library is compiled from it, and the go command
# builds tools it does not ship precompiled (test2json, covdata, ...) from
# src/cmd on demand. pkg/tool stays whole.
prep_go_context() {
	local t0
	t0=$(date +%s)
	mkdir -p "$go_ctx/go"
	cp "$here/images/runner-go/Dockerfile" "$go_ctx/Dockerfile"
	tar -C "$goroot" -cf - \
		--anchored --exclude=./test --exclude=./api --exclude=./doc --exclude=./misc \
		--exclude=./codereview.cfg \
		--no-anchored --exclude=testdata --exclude='*_test.go' \
		. | tar -C "$go_ctx/go" -xf -
	[ -x "$go_ctx/go/bin/go" ] && [ -f "$go_ctx/go/VERSION" ] || die "runner-go: copying $goroot failed"
	say "runner-go: $go_version from $goroot copied ($(du -sh "$go_ctx" | cut -f1) context) in $(($(date +%s) - t0)) s"
}

# Build one image in the background; its result (exit status) goes to
# $status_dir/NAME, its output to a log of its own, shown when it fails.
status_dir=""
start_build() {
	local s=$1 ref="$repo/$1:$tag" ctx="$here/images/$1" log
	# --force-rm: a failed RUN leaves no container behind.
	local args=(--force-rm --build-arg "BASE=$base" --label "io.grader.image=$s" -t "$ref")
	if [ "$s" = runner-go ]; then
		ctx=$go_ctx
		args+=(--build-arg "GO_VERSION=$go_version")
	fi
	log=$(mktemp "/tmp/grader-build-$s.XXXXXX.log")
	tmp_paths+=("$log") # kept only when the build fails
	(
		t0=$(date +%s)
		say "building $ref"
		docker build "${args[@]}" "$ctx" >"$log" 2>&1 &
		dpid=$!
		trap 'kill "$dpid" 2>/dev/null; exit 143' TERM
		rc=0
		wait "$dpid" || rc=$?
		if [ "$rc" = 0 ]; then
			rm -f "$log"
			say "$ref built in $(($(date +%s) - t0)) s"
		fi
		echo "$rc $log" >"$status_dir/$s"
		exit "$rc"
	) &
	bg_pids+=($!)
}

if [ ${#todo[@]} -gt 0 ]; then
	status_dir=$(mktemp -d /tmp/grader-build-status.XXXXXX)
	tmp_paths+=("$status_dir")
	# Copying the Go toolchain (a few seconds) overlaps debootstrap.
	if [ -n "$go_ctx" ]; then
		prep_go_context &
		prep_pid=$!
		bg_pids+=("$prep_pid")
	fi
	build_base
	if [ -n "$go_ctx" ]; then
		wait "$prep_pid" || die "runner-go: preparing the build context failed"
	fi
	# The images in parallel, at most --jobs at a time when given, the
	# longest first (runner-node unpacks ~400 packages) so that it does not
	# finish alone at the end.
	order=()
	for s in runner-node rabbitmq runner-go postgres runner-python redis; do
		[[ " ${todo[*]} " != *" $s "* ]] || order+=("$s")
	done
	for s in "${order[@]}"; do
		if [ "$jobs" -gt 0 ]; then
			while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
		fi
		start_build "$s"
	done
	wait || true
	bg_pids=()
	failed=()
	for s in "${todo[@]}"; do
		read -r rc log 2>/dev/null <"$status_dir/$s" || { rc=1; log=""; }
		[ "$rc" = 0 ] && continue
		failed+=("$s")
		keep=()
		for p in "${tmp_paths[@]}"; do [ "$p" = "$log" ] || keep+=("$p"); done
		tmp_paths=("${keep[@]}")
		if [ -n "$log" ] && [ -f "$log" ]; then
			say "building $repo/$s:$tag failed; the end of its log ($log):"
			tail -n 30 "$log" >&2
		fi
	done
	[ ${#failed[@]} -eq 0 ] || die "failed: ${failed[*]} (the end of each log is above; the whole log stays where it says)"
fi

say "done in $(($(date +%s) - start_all)) s; use these (a service image also as --image SERVICE=REF):"
for s in "${want[@]}"; do
	echo "GRADER_$(echo "$s" | tr '[:lower:]-' '[:upper:]_')_IMAGE=$repo/$s:$tag"
done
