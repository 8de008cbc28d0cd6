#!/usr/bin/env bash
# Times `grader batch` over six copies of fixtures/tasks-api (one reference,
# five with a defect each, set through their grader.yaml env), in one run:
#   1. --no-sandbox --parallel 1 and --no-sandbox --parallel 3: the ratio
#      says what parallel grading gains;
#   2. the sandbox (the default: a container per submission) at
#      --parallel 3: its ratio to the --no-sandbox run at --parallel 3 is
#      the cost of the sandbox. The sandbox's shared Go cache is warmed
#      first (a batch of the reference alone at stage http), as it is after
#      a class's first batch; that warm-up's time is printed too.
#
#   scripts/bench-batch.sh                     # the whole track, the machine's own services
#   scripts/bench-batch.sh --services docker   # the same on the grader's containers
#   STAGE=rest scripts/bench-batch.sh          # no services needed
#
# Grading the whole track is mostly checks waiting on the service, where
# parallel grading pays (measured on our 2-core machine: 0.56). At stage
# rest a submission is mostly its own Go build (2.5-3.5 s of CPU from a
# fresh copy), so there the ratio only shows how many cores are free.
#
# Environment: STAGE (default rate-limiting), PARALLEL (default 3), MAX_RATIO
# (default 0.6: exit 1 when the parallel run takes longer than that share
# of the serial one), SANDBOX (default 1; 0 skips the sandboxed run, e.g.
# without Docker), GRADER (a grader binary; default: built from this
# checkout). Extra arguments go to every batch run. The sandboxed run needs
# Docker and the runner image (scripts/build-images.sh runner-go).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stage=${STAGE:-rate-limiting}
parallel=${PARALLEL:-3}
max_ratio=${MAX_RATIO:-0.6}

work=$(mktemp -d "${TMPDIR:-/tmp}/grader-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

grader=${GRADER:-}
if [ -z "$grader" ]; then
	grader=$work/grader
	echo "[bench] building the grader"
	go build -o "$grader" ./cmd/grader
fi

# Five defects of the stages up to $stage, spread over defects.json (fewer
# when it lists fewer: those copies get none).
mapfile -t defects < <(python3 - "$root/fixtures/tasks-api/defects.json" "$stage" "$("$grader" stages --format json)" <<'EOF'
import json, sys
defects = json.load(open(sys.argv[1]))
stage = sys.argv[2]
order = [s["id"] for s in json.loads(sys.argv[3])["stages"]]
upto = set(order[: order.index(stage) + 1]) if stage in order else {stage}
names = sorted(n for n, d in defects.items() if d.get("stage") in upto)
for i in range(min(5, len(names))):
    print(names[i * len(names) // min(5, len(names))])
EOF
)

class=$work/class
mkdir -p "$class"
for i in 0 1 2 3 4 5; do
	if [ "$i" -eq 0 ]; then name=ref; defect=""; else defect=${defects[$((i - 1))]:-}; name=copy$i${defect:+-$defect}; fi
	mkdir -p "$class/$name"
	tar -C fixtures/tasks-api --exclude .grader-bin -cf - . | tar -C "$class/$name" -xf -
	{
		echo "stage: http"
		echo "build: go build -o .grader-bin/server ."
		echo "run: ./.grader-bin/server"
		[ -n "$defect" ] && printf 'env:\n  TASKS_API_DEFECTS: "%s"\n' "$defect"
	} >"$class/$name/grader.yaml"
done
echo "[bench] submissions: $(cd "$class" && echo *)"

# Warm the module and build caches so that neither run pays for downloads.
(cd "$class/ref" && go build -o /dev/null .)

run() { # run PARALLEL OUT -> prints seconds
	local start end
	start=$(date +%s.%N)
	"$grader" batch "$class" --stage "$stage" --parallel "$1" --out "$2" --force --seed 1 -q "${@:3}" >&2 || {
		echo "[bench] grader batch --parallel $1 exited $?" >&2
		exit 1
	}
	end=$(date +%s.%N)
	echo "$end - $start" | bc
}

# Without arguments: the machine's own services (external mode; they trust
# loopback, which a batch refuses unless told that the code is trusted).
[ $# -gt 0 ] || set -- --services external --allow-trusting-servers # our own fixture: trusted code
echo "[bench] --no-sandbox --parallel 1" >&2
t1=$(run 1 "$work/p1" --no-sandbox "$@")
echo "[bench] --no-sandbox --parallel $parallel" >&2
tn=$(run "$parallel" "$work/p$parallel" --no-sandbox "$@")

same() { # same grades (passed and score per submission) in two outputs
	diff <(cut -d, -f1-4 "$1/grades.csv") <(cut -d, -f1-4 "$2/grades.csv") >&2 || {
		echo "[bench] $1 and $2 graded differently (above)" >&2
		exit 1
	}
}
same "$work/p1" "$work/p$parallel"

ratio=$(printf "%.2f" "$(echo "scale=4; $tn / $t1" | bc)")
printf -- '--no-sandbox, parallel 1: %.1fs\n--no-sandbox, parallel %s: %.1fs\nparallel ratio: %s (target: at most %s)\n' "$t1" "$parallel" "$tn" "$ratio" "$max_ratio"

if [ "${SANDBOX:-1}" != 0 ]; then
	warm=$work/warm
	mkdir -p "$warm" && cp -r "$class/ref" "$warm/ref"
	start=$(date +%s.%N)
	"$grader" batch "$warm" --stage http --out "$work/warm-out" --force --seed 1 -q "$@" >&2 ||
		{ echo "[bench] warming the sandbox's cache failed" >&2; exit 1; }
	tw=$(echo "$(date +%s.%N) - $start" | bc)
	echo "[bench] sandbox, --parallel $parallel" >&2
	ts=$(run "$parallel" "$work/sandbox" "$@")
	same "$work/p$parallel" "$work/sandbox"
	cost=$(printf "%.2f" "$(echo "scale=4; $ts / $tn" | bc)")
	printf 'sandbox warm-up (one submission at stage http): %.1fs\nsandbox, parallel %s: %.1fs\nsandbox cost: %sx the --no-sandbox run\n' "$tw" "$parallel" "$ts" "$cost"
fi

if [ "$(echo "$ratio > $max_ratio" | bc)" -eq 1 ]; then
	echo "[bench] parallel grading is slower than the target"
	exit 1
fi
