#!/bin/sh
# Entry point of grader/redis: run redis-server in the foreground as user
# redis, reachable from outside the container. Arguments given after
# redis-server (or after a config file given first) come later on the
# command line and so take precedence over the defaults set here.
set -eu

if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" != redis-server ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	chown -R redis:redis /data 2>/dev/null || true
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

shift
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	conf=$1
	shift
	exec redis-server "$conf" --bind '*' '-::*' --protected-mode no --dir /data "$@"
fi
exec redis-server --bind '*' '-::*' --protected-mode no --dir /data "$@"
