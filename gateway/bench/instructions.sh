#!/usr/bin/env bash
# User-space instructions per proxied request (key auth + rate limit + quota), counted by callgrind: a
# figure that does not move with what else the machine is doing, unlike req/s on 2 shared cores.
# Usage: gateway/bench/instructions.sh [BASELINE_BIN]   (env: SECS=4 for each measured window)
# With BASELINE_BIN the older binary is measured in the same run and the ratio printed.
# Needs: valgrind (callgrind_control), redis-server, wrk. Not part of the test suite.
set -euo pipefail
SECS="${SECS:-4}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tyk-dr-target-gw}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
for b in valgrind callgrind_control redis-server wrk curl; do
  command -v "$b" >/dev/null || { echo "missing $b (apt-get install -y valgrind redis-server wrk curl)" >&2; exit 2; }
done
(cd "$ROOT" && cargo build --release -q -p tyk-dr-gateway --bins)
BIN="$CARGO_TARGET_DIR/release"
TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

UP=$(free_port); RP=$(free_port)
redis-server --bind 127.0.0.1 --port "$RP" --save "" --appendonly no >/dev/null & PIDS+=($!)
"$BIN/echo-upstream" "127.0.0.1:$UP" & PIDS+=($!)
wait_port "$RP"; wait_port "$UP"
mkdir -p "$TMP/apps"
cat > "$TMP/apps/bench.json" <<JSON
{"name":"bench","api_id":"bench","org_id":"default","use_keyless":false,
 "auth":{"auth_header_name":"Authorization"},
 "proxy":{"listen_path":"/bench/","target_url":"http://127.0.0.1:$UP/","strip_listen_path":true}}
JSON
SESSION='{"org_id":"default","rate":100000000,"per":1,"quota_max":1000000000000,"quota_renewal_rate":3600,"access_rights":{"bench":{"api_id":"bench","versions":["Default"]}}}'

# Instructions per request of binary $1 (one worker thread, under callgrind).
measure() {
  local bin="$1" port out pid key before after
  port=$(free_port)
  cat > "$TMP/gw.toml" <<TOML
listen = "127.0.0.1:$port"
workers = 1
region = "bench"
app_path = "$TMP/apps"
secret = "bench-secret"
node_secret = "bench-node"
[redis]
host = "127.0.0.1"
port = $RP
TOML
  out="$TMP/cg.$port"
  valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$bin" --config "$TMP/gw.toml" 2>"$TMP/vg.log" & pid=$!
  PIDS+=($pid)
  wait_port "$port"
  key=$(curl -sf -X POST -H "X-Tyk-Authorization: bench-secret" -d "$SESSION" "http://127.0.0.1:$port/tyk/keys" | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
  wrk -t1 -c4 -d2s -H "Authorization: $key" "http://127.0.0.1:$port/bench/" >/dev/null   # warm: caches, pools
  # The background work (Redis health checks, limiter sync) costs instructions per second, not per
  # request: an idle window of the same length measures it, and it is subtracted.
  callgrind_control --zero "$pid" >/dev/null 2>&1
  sleep "$SECS"
  callgrind_control --dump "$pid" >/dev/null 2>&1
  callgrind_control --zero "$pid" >/dev/null 2>&1
  wrk -t1 -c4 -d"${SECS}s" -H "Authorization: $key" "http://127.0.0.1:$port/bench/" > "$TMP/wrk.out"
  callgrind_control --dump "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$TMP/wrk.out" "$out.$pid" <<'PY'
import glob, re, sys
n = int(re.search(r'(\d+) requests in', open(sys.argv[1]).read()).group(1))
# Dumps are numbered in order: .1 the idle window, .2 the loaded one (the exit dump comes last).
def ir(i):
    return int(re.search(r'^summary: (\d+)', open(f"{sys.argv[2]}.{i}").read(), re.M).group(1))
print(f"{(ir(2) - ir(1)) / n:.0f} {n}")
PY
}

read -r NEW N_NEW < <(measure "$BIN/tyk-dr-gateway")
echo "gateway: $NEW instructions per request (user space, $N_NEW requests under callgrind)"
if [ -n "${1:-}" ]; then
  read -r OLD N_OLD < <(measure "$1")
  echo "baseline $1: $OLD instructions per request ($N_OLD requests)"
  python3 -c "print(f'ratio gateway/baseline = {$NEW/$OLD:.3f}')"
fi
