#!/usr/bin/env bash
# Starts the machine's own PostgreSQL, Redis and RabbitMQ when they are
# installed but not answering (external-mode tests use them). Uses the same
# commands our machines use at boot; does nothing for a service that is up.
set -uo pipefail
up() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_for() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done; echo "[local-services] $2 did not come up on port $1" >&2; return 1; }

if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for 5432 postgres
fi
if ! up 6379 && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for 6379 redis
fi
if ! up 5672 && command -v rabbitmq-server >/dev/null; then
  rabbitmq-server -detached || true
  wait_for 5672 rabbitmq
fi
# The management API gives each external-mode run its own vhost (DOCKER.md).
if up 5672 && ! up 15672 && command -v rabbitmq-plugins >/dev/null; then
  rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null || true
  wait_for 15672 rabbitmq-management
fi
for p in 5432 6379; do up "$p" || { echo "[local-services] nothing answers on 127.0.0.1:$p" >&2; exit 1; }; done
echo "[local-services] postgres :5432, redis :6379$(up 5672 && echo ', rabbitmq :5672')$(up 15672 && echo ', rabbitmq management :15672') answering"
