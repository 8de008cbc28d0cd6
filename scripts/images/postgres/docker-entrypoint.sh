#!/bin/sh
# Entry point of grader/postgres: initialise $PGDATA on first start the way
# the official image does, then run postgres in the foreground as user postgres.
set -eu

# `docker run IMAGE -c x=y` means `postgres -c x=y`.
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
password=${POSTGRES_PASSWORD:-}
auth=${POSTGRES_HOST_AUTH_METHOD:-}
if [ -z "$auth" ]; then
	if [ -n "$password" ]; then auth=scram-sha-256; else auth=trust; fi
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile=$(mktemp)
	printf '%s\n' "$password" >"$pwfile"
	pwopt=""
	[ -z "$password" ] || pwopt="--pwfile=$pwfile"
	# shellcheck disable=SC2086
	initdb -D "$PGDATA" --username="$user" $pwopt --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	{
		echo
		echo "# grader/postgres: reachable from other containers and the host"
		echo "host all all all $auth"
	} >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

	need_setup=0
	[ "$db" = postgres ] || need_setup=1
	[ -z "$(ls -A /docker-entrypoint-initdb.d 2>/dev/null)" ] || need_setup=1
	if [ "$need_setup" = 1 ]; then
		# A private server on the unix socket only, so that nobody connects
		# over TCP before the database exists.
		pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
		if [ "$db" != postgres ]; then
			psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres \
				-c "CREATE DATABASE \"$db\"" >/dev/null
		fi
		for f in /docker-entrypoint-initdb.d/*; do
			# shellcheck disable=SC1090
			case "$f" in
			*.sql) psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -f "$f" >/dev/null ;;
			*.sh) . "$f" ;;
			esac
		done
		pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	fi
	echo "grader/postgres: initialised $PGDATA (user $user, database $db, host auth $auth)"
fi

exec "$@"
