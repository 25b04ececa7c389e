#!/usr/bin/env bash
# The product beside the bare Twisted + Autobahn ceiling, in one command from a fresh clone.
#
#   bench/ceiling.sh                 # ceiling, SQLite, memory: S1-S4, 3 reps (bench/RESULTS.md)
#   bench/ceiling.sh S1,S2 1         # a quick look
#   bench/ceiling.sh knee            # S2 on SQLite at rising open-loop rates (the knee)
#
# Uses the shared harness (../shared/bench next to the project root, or
# CHAT_BENCH_HARNESS), copied to a temporary folder because the shared one
# is read-only; its own venv and node modules go there too. The product is
# this checkout's .venv (made with `python3 dev.py venv` if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${CHAT_BENCH_HARNESS:-$ROOT/../shared/bench}"
if [ ! -f "$SHARED/product.sh" ]; then
  echo "no harness at $SHARED (set CHAT_BENCH_HARNESS to the shared bench folder)" >&2
  exit 1
fi
[ -x "$ROOT/.venv/bin/twistd" ] || (cd "$ROOT" && python3 dev.py venv)
TWISTD="$ROOT/.venv/bin/twistd"
WORK="$(mktemp -d -t chatbench-XXXXXX)"
cp -r "$SHARED" "$WORK/bench"
cd "$WORK/bench"
export BENCH_VENV="$WORK/.venv-bench"
./setup.sh
if [ "${1:-}" = knee ]; then
  # product.sh's limits and store settings, one server, S2 at each rate.
  DATA="$WORK/data"
  mkdir -p "$DATA"
  LIMITS="MESSAGE_RATE=100000 MESSAGE_BURST=1000000 REGISTER_LIMIT=1000000 LOGIN_FAILURE_LIMIT=1000000 BCRYPT_ROUNDS=4 LOG_LEVEL=warn JWT_SECRET=bench-secret-bench-secret-bench-secret"
  for rate in ${KNEE_RATES:-2000 3000 4000 5000 6000 8000}; do
    python3 run.py --servers product-sqlite --scenarios S2 --reps 1 --tag "knee-$rate" \
      --set "S2.rate=$rate" \
      --server "product-sqlite=env $LIMITS DATABASE_URL=sqlite:///$DATA/chat.sqlite3 $TWISTD -n --pidfile= chat --port 18081" \
      --auth product-sqlite --ready-url product-sqlite=http://127.0.0.1:18081/health \
      | grep -E "S2 rep" || true
  done
else
  ./product.sh "$TWISTD" "${1:-S1,S2,S3,S4}" "${2:-3}"
fi
echo "raw results: $WORK/bench/results"
