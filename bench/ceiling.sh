#!/usr/bin/env bash
# The product beside the bare Twisted + Autobahn ceiling, in one command from a fresh clone.
#
#   bench/ceiling.sh                 # ceiling, SQLite, memory: S1-S4, 3 reps (bench/RESULTS.md)
#   bench/ceiling.sh S1,S2 1         # a quick look
#   bench/ceiling.sh knee            # S2 at rising open-loop rates, ceiling and SQLite (the knee)
#
# Uses the shared harness (../shared/bench next to the project root, or
# CHAT_BENCH_HARNESS), copied to a temporary folder because the shared one
# is read-only; its own venv and node modules go there too. The product is
# this checkout's .venv (made with `python3 dev.py venv` if missing).
set -euo pipefail
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"
enter_harness chatbench
./setup.sh
if [ "${1:-}" = knee ]; then
  # product.sh's limits and store settings; S2 at each rate on the ceiling and
  # on SQLite (KNEE_SERVERS=product-sqlite for the product alone).
  DATA="$WORK/data"
  mkdir -p "$DATA"
  for rate in ${KNEE_RATES:-2000 3000 4000 5000 6000 8000}; do
    python3 run.py --servers "${KNEE_SERVERS:-ceiling,product-sqlite}" --scenarios S2 --reps 1 --tag "knee-$rate" \
      --set "S2.rate=$rate" \
      --server "product-sqlite=env $LIMITS DATABASE_URL=sqlite:///$DATA/chat.sqlite3 $TWISTD -n --pidfile= chat --port 18081" \
      --auth product-sqlite --ready-url product-sqlite=http://127.0.0.1:18081/health \
      | grep -E "S2 rep" || true
  done
else
  ./product.sh "$TWISTD" "${1:-S1,S2,S3,S4}" "${2:-3}"
fi
echo "raw results: $WORK/bench/results"
