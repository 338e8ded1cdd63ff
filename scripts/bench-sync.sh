#!/usr/bin/env bash
# Benchmark `tyk-dr sync` to an empty passive region (not part of the test suite).
#
#   scripts/bench-sync.sh [DEFINITIONS] [KEYS]      defaults: 10000 definitions, 100000 keys
#
# Starts two plain redis-server processes on free 127.0.0.1 ports (active, passive; no replication, so keys
# are copied) and two app_path directories, fills the active side, then times one `tyk-dr sync` (files
# transport for definitions, policies.json, pipelined key copy) and one `tyk-dr sync --check`, with peak
# memory from /usr/bin/time -v. Stops what it started, by PID. Binary: $TYK_DR_BIN, else release, else debug.
set -euo pipefail

DEFS=${1:-10000}
KEYS=${2:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${TYK_DR_BIN:-}
if [ -z "$BIN" ]; then
  for b in "$TARGET/release/tyk-dr" "$TARGET/debug/tyk-dr"; do [ -x "$b" ] && { BIN=$b; break; }; done
fi
[ -x "${BIN:-}" ] || { echo "tyk-dr not built: cargo build --release -p tyk-dr (or set TYK_DR_BIN)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server not found" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tyk-dr-bench-sync.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_redis() { # name port
  mkdir -p "$WORK/$1"
  redis-server --bind 127.0.0.1 --port "$2" --save "" --appendonly no --dir "$WORK/$1" >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$2" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
  echo "redis-server on port $2 did not start; see $WORK/$1.log" >&2; exit 1
}
PA=$(free_port); start_redis active "$PA"
PB=$(free_port); start_redis passive "$PB"

mkdir -p "$WORK/apps/a" "$WORK/apps/b"
python3 - "$WORK" "$DEFS" "$KEYS" <<'PY' | redis-cli -p "$PA" --pipe >/dev/null
import json, os, sys
work, defs, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(defs):
    d = {"name": f"API {i}", "api_id": f"api-{i}", "org_id": "bench", "use_keyless": False, "active": True,
         "tags": ["bench"], "auth": {"auth_header_name": "Authorization"},
         "version_data": {"not_versioned": True, "versions": {"Default": {"name": "Default"}}},
         "proxy": {"listen_path": f"/api-{i}/", "target_url": f"http://upstream-{i % 50}.internal:9000/", "strip_listen_path": True}}
    with open(f"{work}/apps/a/api-{i}.json", "w") as f:
        json.dump(d, f)
with open(f"{work}/policies-a.json", "w") as f:
    json.dump({f"pol-{i}": {"rate": 100, "per": 1, "quota_max": -1, "access_rights": {f"api-{i}": {"api_id": f"api-{i}", "versions": ["Default"]}}} for i in range(100)}, f)
out = sys.stdout.buffer
def cmd(*args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
for i in range(keys):
    s = json.dumps({"org_id": "bench", "rate": 100, "per": 1, "allowance": 100, "expires": 0, "quota_max": -1,
                    "access_rights": {f"api-{i % defs}": {"api_id": f"api-{i % defs}", "api_name": f"API {i % defs}", "versions": ["Default"]}},
                    "meta_data": {"user": f"user-{i}"}, "tags": ["bench"]})
    if i % 2:
        cmd("SET", f"apikey-{i:016x}", s, "EX", "86400")
    else:
        cmd("SET", f"apikey-{i:016x}", s)
PY
[ "$(redis-cli -p "$PA" dbsize)" = "$KEYS" ] || { echo "seeding keys failed" >&2; exit 1; }

cat >"$WORK/tyk-dr.toml" <<TOML
project = "bench"
[redis]
backend = "self-managed"
auth = false
tls = false
[redis.self_managed]
active = ["127.0.0.1:$PA"]
passive = ["127.0.0.1:$PB"]
[mongo]
enabled = false
[sync]
definitions = "files"
state_file = "sync-state.json"
[sync.app_path]
active = "$WORK/apps/a"
passive = "$WORK/apps/b"
[sync.policies_path]
active = "$WORK/policies-a.json"
passive = "$WORK/policies-b.json"
[sync.keys]
batch_size = 1000
TOML

run() { # label args...
  local label=$1; shift
  set +e
  /usr/bin/time -v "$BIN" -q -c "$WORK/tyk-dr.toml" -o json sync "$@" >"$WORK/$label.json" 2>"$WORK/$label.time"
  local code=$?
  set -e
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/$label.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$label.time")
  printf '%-6s exit %s  wall %s  peak RSS %s MiB\n' "$label" "$code" "$wall" "$((rss / 1024))"
  python3 - "$WORK/$label.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["definitions"]["targets"][0]
k = d["keys"]
print(f"       definitions: {d['definitions']['source_count']} read, missing {len(t['drift']['missing'])}, applied {t['applied']}, rejected {len(t['rejected'])}")
print(f"       policies: {d['policies']['source_count']} read, written {d['policies']['written']}")
print(f"       keys ({k['mode']}): {k['source_keys']} read, missing {k['drift']['missing']}, copied {k['copied']}, {k['seconds']:.2f}s")
print(f"       drift {d['drift']}, failures {d['failures']}")
PY
}

echo "tyk-dr sync: $DEFS definitions, $KEYS keys to an empty passive region ($BIN)"
run sync
echo "passive: $(ls "$WORK/apps/b" | wc -l) definition files, $(redis-cli -p "$PB" dbsize) keys, TTL of apikey-0000000000000001: $(redis-cli -p "$PB" ttl apikey-0000000000000001)s"
run check --check
