#!/usr/bin/env bash
# Two commits of the product under the shared harness in one run, beside the ceiling.
#
#   bench/ab.sh BASE                 # S1,S2 x 3 reps: ceiling, then BASE and this checkout
#   bench/ab.sh BASE S2,S4 2 sqlite  # scenarios, reps, stores (sqlite,memory by default)
#   bench/ab.sh BASE S1,S2 2 memory --set S2.rate=1000   # anything after: run.py's own options
#
# The box's speed drifts by 10-20 % within an hour, so a change is only told
# from the drift by measuring both sides in one run. BASE is checked out in
# a temporary worktree and served by this checkout's .venv with
# PYTHONPATH pointing at it (the venv's twistd then imports BASE's code);
# every store gets a fresh data folder per side. Rows come out as
# product-<store>-base and product-<store>-head, each a ratio to the ceiling.
set -euo pipefail
BASE="${1:?base commit}"
SC="${2:-S1,S2}"
REPS="${3:-3}"
STORES="${4:-sqlite,memory}"
shift $(( $# < 4 ? $# : 4 ))
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"
enter_harness chatab
git -C "$ROOT" worktree add -q --detach "$WORK/base" "$BASE"
trap 'git -C "$ROOT" worktree remove --force "$WORK/base"' EXIT
./setup.sh > /dev/null
servers=ceiling
args=()
port=18090
for store in ${STORES//,/ }; do
  for side in base head; do
    name="product-$store-$side"
    path="$ROOT"
    [ "$side" = base ] && path="$WORK/base"
    mkdir -p "$WORK/data-$name"
    url="memory:"
    [ "$store" = sqlite ] && url="sqlite:///$WORK/data-$name/chat.sqlite3"
    servers="$servers,$name"
    args+=(--server "$name=env $LIMITS PYTHONPATH=$path DATABASE_URL=$url $TWISTD -n --pidfile= chat --port $port"
           --auth "$name" --ready-url "$name=http://127.0.0.1:$port/health")
    port=$((port + 1))
  done
done
python3 run.py --servers "$servers" --scenarios "$SC" --reps "$REPS" --tag ab "${args[@]}" "$@"
echo "raw results: $WORK/bench/results"
