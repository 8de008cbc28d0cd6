#!/usr/bin/env bash
# Times `grader check fixtures/tasks-api --stage STAGE` (all earlier stages
# included) and prints where the time goes, from the JSON report's timings.
#
#   scripts/bench-stage.sh [STAGE] [RUNS] [-- extra grader flags]
#   scripts/bench-stage.sh caching 5 -- --services docker
#
# Defaults: caching, 3 runs, --services external (the machine's own Postgres
# and Redis). The fixture is built once before the first timed run, as the
# issue's target ("with images present and the fixture built once") says.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-caching}; runs=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
[ "${1:-}" = "--" ] && shift
extra=("$@"); [ ${#extra[@]} -gt 0 ] || extra=(--services external)

bin=$(mktemp -d)/grader
go build -o "$bin" ./cmd/grader
work=$(mktemp -d); trap 'rm -rf "$work" "$(dirname "$bin")"' EXIT
cp -r fixtures/tasks-api "$work/"
(cd "$work/tasks-api" && go build -o .grader-bin/server .)

printf '%-4s %8s %10s %8s %8s %9s %9s  %s\n' run wall provision build start checks total result
for i in $(seq 1 "$runs"); do
  t0=$(date +%s%N)
  set +e
  "$bin" check "$work/tasks-api" --stage "$stage" --format json -q "${extra[@]}" > "$work/r.json" 2> "$work/err.txt"
  code=$?
  set -e
  wall=$(( ($(date +%s%N) - t0) / 1000000 ))
  python3 - "$work/r.json" "$i" "$wall" "$code" <<'PY'
import json, sys
path, i, wall, code = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
try:
    r = json.load(open(path))
except Exception:
    print(f"{i:<4} {wall/1000:7.2f}s  (no report, exit {code})"); sys.exit(0)
t = r["timings"]
s = lambda k: f'{t[k]/1000:8.2f}s'
print(f'{i:<4} {wall/1000:7.2f}s {s("provisionMs")} {s("buildMs")} {s("startMs")} {s("checksMs")} {s("totalMs")}  '
      f'{r["score"]}/{r["maxScore"]} {"passed" if r["passed"] else "NOT PASSED"} (exit {code})')
slow = sorted(((c["durationMs"], c["id"]) for st in r["stages"] for c in st["checks"]), reverse=True)[:3]
print("     slowest checks: " + ", ".join(f"{cid} {ms/1000:.2f}s" for ms, cid in slow))
PY
  [ "$code" = 0 ] || { echo "grader exited $code:"; tail -5 "$work/err.txt"; }
done
