#!/usr/bin/env bash
# Run the reliability tier (the kill tests) N times in a row, stopping at the first failure.
#
#   tests/reliability/repeat.sh N          (from the repository root; N >= 1, default 20)
#
# Each run gets fresh random seeds for the random kills, printed before the run starts:
# CLOSEDLOOP_FAULT_SEED (promotions and rollbacks killed at random moments) and
# CLOSEDLOOP_KILL_SEED (scores killed at random moments). On a failure the script prints the run
# number and both seeds and exits 1; export the two variables to replay that run. Python is
# $PYTHON if set, else the repository's .venv, else python3; extra arguments after N go to
# pytest. Each run's output is kept in $REPEAT_LOGS (default a fresh temporary folder).
set -u

n="${1:-20}"
shift || true
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
    echo "repeat.sh: N must be a whole number >= 1, got '$n'" >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 2
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
logs="${REPEAT_LOGS:-$(mktemp -d -t closedloop-repeat-XXXXXX)}"
mkdir -p "$logs"
echo "repeat.sh: $n run(s) of tests/reliability with $python; logs in $logs"

for i in $(seq 1 "$n"); do
    fault_seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    kill_seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    echo "run $i/$n: CLOSEDLOOP_FAULT_SEED=$fault_seed CLOSEDLOOP_KILL_SEED=$kill_seed ($(date -u +%H:%M:%S) UTC)"
    start=$(date +%s)
    CLOSEDLOOP_FAULT_SEED=$fault_seed CLOSEDLOOP_KILL_SEED=$kill_seed \
        "$python" -m pytest tests/reliability -p no:cacheprovider "$@" > "$logs/run-$i.log" 2>&1
    code=$?
    tail -n 1 "$logs/run-$i.log"
    if [ "$code" -ne 0 ]; then
        echo "run $i/$n FAILED (exit $code) after $(( $(date +%s) - start )) s:" \
             "CLOSEDLOOP_FAULT_SEED=$fault_seed CLOSEDLOOP_KILL_SEED=$kill_seed; log $logs/run-$i.log"
        echo "passed in a row: $((i - 1))"
        exit 1
    fi
    echo "run $i/$n passed in $(( $(date +%s) - start )) s"
done
echo "passed in a row: $n"
