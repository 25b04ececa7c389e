# Sourced by bench/ceiling.sh and bench/ab.sh: the shared harness, copied where it can be written.
#
#   . "$(dirname "$0")/harness.sh"; enter_harness chatbench
#
# Sets ROOT (this checkout), TWISTD (its .venv's twistd, the .venv made with
# `python3 dev.py venv` if missing) and LIMITS (product.sh's settings: abuse
# limits raised, bcrypt cost 4, JWT secret); enter_harness PREFIX copies the
# read-only harness (../shared/bench next to the project root, or
# CHAT_BENCH_HARNESS) to a new folder WORK and changes into its copy, with
# its own venv and node modules (BENCH_VENV) there.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${CHAT_BENCH_HARNESS:-$ROOT/../shared/bench}"
LIMITS="MESSAGE_RATE=100000 MESSAGE_BURST=1000000 REGISTER_LIMIT=1000000 LOGIN_FAILURE_LIMIT=1000000 BCRYPT_ROUNDS=4 LOG_LEVEL=warn JWT_SECRET=bench-secret-bench-secret-bench-secret"
TWISTD="$ROOT/.venv/bin/twistd"

enter_harness() {
  if [ ! -f "$SHARED/product.sh" ]; then
    echo "no harness at $SHARED (set CHAT_BENCH_HARNESS to the shared bench folder)" >&2
    exit 1
  fi
  [ -x "$TWISTD" ] || (cd "$ROOT" && python3 dev.py venv)
  WORK="$(mktemp -d -t "$1-XXXXXX")"
  cp -r "$SHARED" "$WORK/bench"
  cd "$WORK/bench"
  export BENCH_VENV="$WORK/.venv-bench"
}
