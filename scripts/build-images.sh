#!/usr/bin/env bash
# build-images.sh — build the grader's Postgres, Redis and RabbitMQ images from
# Debian packages, for machines that cannot pull from a container registry
# (air-gapped classrooms, our own CI).
#
#   1. debootstrap --variant=minbase bookworm into a temporary directory and
#      `docker import` it as the base image (default grader/debian:bookworm);
#   2. build scripts/images/{postgres,redis,rabbitmq}/Dockerfile on that base
#      (apt-get install postgresql-15 / redis-server / rabbitmq-server);
#   3. print the lines to use, on stdout:
#        GRADER_POSTGRES_IMAGE=grader/postgres:local
#        GRADER_REDIS_IMAGE=grader/redis:local
#        GRADER_RABBITMQ_IMAGE=grader/rabbitmq:local
#      e.g. `scripts/build-images.sh >> "$GITHUB_ENV"` or
#           `export $(scripts/build-images.sh)`. Progress goes to stderr.
#
# Idempotent: an image that already exists is kept (and still printed) unless
# --force is given. Needs a running Docker engine (scripts/docker-up.sh), root
# for debootstrap (installed with apt-get when missing) and a reachable Debian
# mirror (the machine's, or --mirror URL for a local one).
#
# The images honour the contract the grader relies on, like the official ones:
#   postgres  POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, listens on all
#             interfaces, password auth over TCP (trust when no password),
#             `postgres -c name=value` arguments, STOPSIGNAL SIGINT.
#   redis     `redis-server [args]` listening on all interfaces, protected mode off.
#   rabbitmq  guest/guest usable from outside the container, management plugin
#             on 15672, `rabbitmqctl` through docker exec.
#
# Usage: scripts/build-images.sh [--force] [--tag TAG] [--mirror URL] [postgres] [redis] [rabbitmq]
# Time on a 2-core machine: ~30 s base + ~30-60 s per image the first time; ~1 s when all exist.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
force=0
tag=${GRADER_IMAGE_TAG:-local}
repo=${GRADER_IMAGE_REPO:-grader}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR-http://deb.debian.org/debian-security}
suite=bookworm
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
	-h|--help) usage; exit 0 ;;
	postgres|redis|rabbitmq) want+=("$1") ;;
	*) echo "build-images: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ ${#want[@]} -gt 0 ] || want=(postgres redis rabbitmq)

say() { printf '[build-images] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || die "docker does not answer: start it (scripts/docker-up.sh) and try again"

base="$repo/debian:$suite"
start_all=$(date +%s)

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
	trap 'rm -rf "$root"' EXIT
	say "debootstrap --variant=minbase $suite from $mirror (about 30 s)"
	debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
		{ tail -n 20 "$root.log" >&2; die "debootstrap failed (log above); check the mirror with --mirror URL"; }
	rm -f "$root.log"

	# What the official debian image does for containers: no daemons started
	# by package scripts, no docs/man pages, no recommends, no apt caches.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod +x "$root/usr/sbin/policy-rc.d"
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
	trap - EXIT
	say "base built in $(($(date +%s) - t0)) s"
}

need_build=0
for s in "${want[@]}"; do
	if [ "$force" = 1 ] || ! exists "$repo/$s:$tag"; then need_build=1; fi
done
[ "$need_build" = 0 ] || build_base

for s in "${want[@]}"; do
	ref="$repo/$s:$tag"
	if exists "$ref" && [ "$force" = 0 ]; then
		say "$ref exists (use --force to rebuild)"
		continue
	fi
	t0=$(date +%s)
	say "building $ref from $here/images/$s"
	log=$(mktemp "/tmp/grader-build-$s.XXXXXX.log")
	if ! docker build --build-arg "BASE=$base" --label "io.grader.image=$s" -t "$ref" "$here/images/$s" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "building $ref failed (full log: $log)"
	fi
	rm -f "$log"
	say "$ref built in $(($(date +%s) - t0)) s"
done

say "done in $(($(date +%s) - start_all)) s; use these (also as --image SERVICE=REF):"
for s in "${want[@]}"; do
	echo "GRADER_$(echo "$s" | tr '[:lower:]' '[:upper:]')_IMAGE=$repo/$s:$tag"
done
