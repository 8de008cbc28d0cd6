#!/usr/bin/env bash
# Requests per second through the fault proxy (internal/faults, no fault in
# force) against the same client talking to the server directly, measured in
# ONE `go test -bench` run so both figures share the machine's load.
#
#   scripts/bench-proxy.sh [COUNT] [BENCHTIME]     # defaults: 5 runs of 1s each
#
# Needs the machine's Postgres and Redis (GRADER_POSTGRES_URL,
# GRADER_REDIS_URL, or the standard local addresses). Prints, per benchmark,
# the median of COUNT runs: the /direct and /proxy sub-benchmarks (run one
# after the other), and /alternating (one request each way per op, so a
# busy machine's drifting load hits both sides alike: the fairer ratio).
# ratio = proxy/direct of the median rates; paired = the median of each
# alternating run's own proxy/direct ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}; benchtime=${2:-1s}
out=$(mktemp); trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'RedisPing|PostgresSelect1' -benchtime "$benchtime" -count "$count" \
  ./internal/faults/ 2>&1 | grep -v ' pool.go:' | tee "$out" >&2
awk '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    if (n == 0) return 0
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i += 2) vals[name "|" $(i+1)] = vals[name "|" $(i+1)] " " $i
    split(name, parts, "/"); base[parts[1]] = 1
  }
  END {
    if (length(base) == 0) { print "no benchmark results (are Postgres and Redis up?)"; exit 1 }
    printf "\n%-28s %-12s %12s %12s %7s %8s\n", "benchmark (median)", "measured", "direct req/s", "proxy req/s", "ratio", "paired"
    n = asorti(base, names)
    for (k = 1; k <= n; k++) {
      b = names[k]
      d = median(b "/direct|req/s"); q = median(b "/proxy|req/s")
      if (d > 0) printf "%-28s %-12s %12.0f %12.0f %7.2f\n", b, "one by one", d, q, q / d
      d = median(b "/alternating|direct-req/s"); q = median(b "/alternating|proxy-req/s")
      if (d > 0) printf "%-28s %-12s %12.0f %12.0f %7.2f %8.2f\n", b, "alternating", d, q, q / d, median(b "/alternating|proxy/direct")
    }
  }' "$out"
