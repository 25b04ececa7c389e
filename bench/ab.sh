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
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BASE="${1:?base commit}"
SC="${2:-S1,S2}"
REPS="${3:-3}"
STORES="${4:-sqlite,memory}"
shift $(( $# < 4 ? $# : 4 ))
SHARED="${CHAT_BENCH_HARNESS:-$ROOT/../shared/bench}"
[ -f "$SHARED/run.py" ] || { echo "no harness at $SHARED (set CHAT_BENCH_HARNESS)" >&2; exit 1; }
[ -x "$ROOT/.venv/bin/twistd" ] || (cd "$ROOT" && python3 dev.py venv)
TWISTD="$ROOT/.venv/bin/twistd"
WORK="$(mktemp -d -t chatab-XXXXXX)"
git -C "$ROOT" worktree add -q --detach "$WORK/base" "$BASE"
trap 'git -C "$ROOT" worktree remove --force "$WORK/base"' EXIT
cp -r "$SHARED" "$WORK/bench"
cd "$WORK/bench"
export BENCH_VENV="$WORK/.venv-bench"
./setup.sh > /dev/null
LIMITS="MESSAGE_RATE=100000 MESSAGE_BURST=1000000 REGISTER_LIMIT=1000000 LOGIN_FAILURE_LIMIT=1000000 BCRYPT_ROUNDS=4 LOG_LEVEL=warn JWT_SECRET=bench-secret-bench-secret-bench-secret"
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
