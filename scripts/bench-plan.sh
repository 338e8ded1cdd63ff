#!/usr/bin/env bash
# Measures `tyk-dr plan` against a converged two-region environment on the AWS emulator.
#
#   scripts/bench-plan.sh [RUNS]      (default 10 runs; not part of the test suite)
#
# Starts a private moto_server on a free loopback port, applies a two-region topology
# (2 AZs per region, gateways, MongoDB members, ElastiCache, Route 53), then times RUNS
# `plan` runs and prints the median/max wall time and the API calls each plan made.
# Target (DESIGN.md): ≤ 2 s per plan.
set -euo pipefail
RUNS=${1:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tyk-dr-target-plan}
MOTO=/var/tmp/tyk-dr-venv/bin/moto_server
[ -x "$MOTO" ] || MOTO=$(command -v moto_server || true)
[ -n "$MOTO" ] || { echo "moto_server not found: run scripts/dev setup" >&2; exit 1; }

# Debug build: plan is I/O-bound, and a cold release build of the AWS SDK takes ~11 min.
(cd "$ROOT" && cargo build -q -p tyk-dr)
BIN=$CARGO_TARGET_DIR/debug/tyk-dr

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$MOTO" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

# The demo's emulator topology (no Global Datastore: moto has no such calls).
cp "$ROOT/examples/emulator.toml" "$WORK/tyk-dr.toml"

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_REGION
"$BIN" -q -c "$WORK/tyk-dr.toml" apply --yes >/dev/null
"$BIN" -q -c "$WORK/tyk-dr.toml" plan --detailed-exitcode >/dev/null || { echo "not converged" >&2; exit 1; }

times=()
for _ in $(seq 1 "$RUNS"); do
  start=$(date +%s%N)
  calls=$("$BIN" -q -c "$WORK/tyk-dr.toml" -o json plan | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_calls"])')
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
max=$(echo "$sorted" | tail -1)
echo "plan against a converged two-region environment (moto): runs=$RUNS median=${median}ms max=${max}ms api_calls=$calls"
