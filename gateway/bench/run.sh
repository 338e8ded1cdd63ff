#!/usr/bin/env bash
# Benchmark: direct upstream vs nginx (plain reverse proxy) vs tyk-dr-gateway (key auth + rate limit + quota).
# Needs: redis-server, redis-cli, nginx, wrk (apt: redis-server nginx-light wrk). Not part of the test suite.
# Usage: gateway/bench/run.sh [duration_seconds]   (env: CONNS=32 THREADS=2 LIGHT_CONNS=4 ROUNDS=3)
# BASELINE_BIN=/path/to/an/older/tyk-dr-gateway adds that binary to every round (same config, side by side),
# so a change is compared with its baseline in the same run: `ratio gateway/baseline`.
# The gateway runs twice side by side: on its fast HTTP/1.1 path (the default) and on hyper alone
# (`http1_fast_path = false`). Peak figures are the median of ROUNDS interleaved rounds, so a noisy
# neighbour moment does not decide a ratio.
set -euo pipefail
DUR="${1:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"
LIGHT_CONNS="${LIGHT_CONNS:-4}"
ROUNDS="${ROUNDS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tyk-dr-target-gw}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
for b in redis-server redis-cli nginx wrk; do
  command -v "$b" >/dev/null || { echo "missing $b (apt-get install -y redis-server nginx-light wrk)" >&2; exit 2; }
done

echo "== building release binaries"
(cd "$ROOT" && cargo build --release -q -p tyk-dr-gateway --bins)
BIN="$CARGO_TARGET_DIR/release"

TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

UP=$(free_port); NG=$(free_port); GW=$(free_port); GH=$(free_port); GB=$(free_port); RP=$(free_port)
BASELINE_BIN="${BASELINE_BIN:-}"

redis-server --bind 127.0.0.1 --port "$RP" --save "" --appendonly no >/dev/null & PIDS+=($!)
"$BIN/echo-upstream" "127.0.0.1:$UP" & UPPID=$!; PIDS+=($UPPID)
wait_port "$RP"; wait_port "$UP"

mkdir -p "$TMP/nginx/logs" "$TMP/apps"
cat > "$TMP/nginx/nginx.conf" <<NGX
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fcgi; uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
  upstream up { server 127.0.0.1:$UP; keepalive 128; }
  server {
    listen 127.0.0.1:$NG;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGX
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" & NGPID=$!; PIDS+=($NGPID)
wait_port "$NG"

cat > "$TMP/apps/bench.json" <<JSON
{"name":"bench","api_id":"bench","org_id":"default","use_keyless":false,
 "auth":{"auth_header_name":"Authorization"},
 "proxy":{"listen_path":"/bench/","target_url":"http://127.0.0.1:$UP/","strip_listen_path":true}}
JSON
gw_config() { # hash_keys [port] [fast_path] [file]
cat > "$TMP/${4:-gw.toml}" <<TOML
listen = "127.0.0.1:${2:-$GW}"
http1_fast_path = ${3:-true}
region = "bench"
app_path = "$TMP/apps"
secret = "bench-secret"
node_secret = "bench-node"
hash_keys = $1
[redis]
host = "127.0.0.1"
port = $RP
TOML
}
start_gw() {
  "$BIN/tyk-dr-gateway" --config "$TMP/gw.toml" 2>"$TMP/gw.log" & GWPID=$!; PIDS+=($GWPID)
  wait_port "$GW"
}
gw_config true
start_gw
gw_config true "$GH" false gw-hyper.toml
"$BIN/tyk-dr-gateway" --config "$TMP/gw-hyper.toml" 2>"$TMP/gw-hyper.log" & GHPID=$!; PIDS+=($GHPID)
wait_port "$GH"
if [ -n "$BASELINE_BIN" ]; then
  gw_config true "$GB" true gw-base.toml
  "$BASELINE_BIN" --config "$TMP/gw-base.toml" 2>"$TMP/gw-base.log" & GBPID=$!; PIDS+=($GBPID)
  wait_port "$GB"
fi

# One key with a huge rate and quota so nothing is refused; created through the management API (hashed).
SESSION='{"org_id":"default","rate":100000000,"per":1,"quota_max":1000000000000,"quota_renewal_rate":3600,"access_rights":{"bench":{"api_id":"bench","versions":["Default"]}}}'
KEY=$(curl -sf -X POST -H "X-Tyk-Authorization: bench-secret" -d "$SESSION" "http://127.0.0.1:$GW/tyk/keys" | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
for port in "$GW" "$GH" ${BASELINE_BIN:+"$GB"}; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $KEY" "http://127.0.0.1:$port/bench/")
  [ "$code" = 200 ] || { echo "gateway smoke request on :$port failed: $code" >&2; cat "$TMP"/gw*.log >&2; exit 1; }
done

# CPU ticks (user+system) of every thread of the given pids.
cpu_ticks() { local t=0 p f; for p in $1; do for f in /proc/$p/task/*/stat; do t=$((t + $(awk '{print $14 + $15}' "$f"))); done; done; echo "$t"; }
MEASURE_PIDS=""
# wrk output → "rps p50_ms p99_ms non2xx cpu_us_per_request(of MEASURE_PIDS)"
run_wrk() { # conns url [header]
  local c="$1" url="$2"; shift 2
  local t=$THREADS; [ "$c" -lt "$t" ] && t="$c"
  local before after
  before=$(cpu_ticks "$MEASURE_PIDS")
  wrk -t"$t" -c"$c" -d"${DUR}s" --latency "$@" "$url" > "$TMP/wrk.out"
  after=$(cpu_ticks "$MEASURE_PIDS")
  python3 - "$TMP/wrk.out" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import re,sys
s=open(sys.argv[1]).read()
ticks=int(sys.argv[2]); hz=int(sys.argv[3])
def ms(v):
    m=re.match(r'([\d.]+)(us|ms|s)',v); x=float(m.group(1)); return x/1000 if m.group(2)=='us' else x*1000 if m.group(2)=='s' else x
rps=float(re.search(r'Requests/sec:\s+([\d.]+)',s).group(1))
p50=ms(re.search(r'\s50%\s+(\S+)',s).group(1)); p99=ms(re.search(r'\s99%\s+(\S+)',s).group(1))
non2xx=re.search(r'Non-2xx or 3xx responses:\s+(\d+)',s)
n=int(re.search(r'(\d+) requests in',s).group(1))
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {non2xx.group(1) if non2xx else 0} {ticks/hz*1e6/max(n,1):.1f}")
PY
}

echo "== peak: wrk -t$THREADS -c$CONNS -d${DUR}s, median of $ROUNDS interleaved rounds (loopback; all processes share this machine's $(nproc) cores)"
NGPIDS="$(pgrep -P "$NGPID" | tr '\n' ' ')"
for r in $(seq 1 "$ROUNDS"); do
  MEASURE_PIDS="$UPPID"; run_wrk "$CONNS" "http://127.0.0.1:$UP/" >> "$TMP/peak.direct"
  MEASURE_PIDS="$NGPIDS"; run_wrk "$CONNS" "http://127.0.0.1:$NG/" >> "$TMP/peak.nginx"
  MEASURE_PIDS="$GWPID"; run_wrk "$CONNS" "http://127.0.0.1:$GW/bench/" -H "Authorization: $KEY" >> "$TMP/peak.gateway"
  MEASURE_PIDS="$GHPID"; run_wrk "$CONNS" "http://127.0.0.1:$GH/bench/" -H "Authorization: $KEY" >> "$TMP/peak.hyper"
  if [ -n "$BASELINE_BIN" ]; then
    MEASURE_PIDS="$GBPID"; run_wrk "$CONNS" "http://127.0.0.1:$GB/bench/" -H "Authorization: $KEY" >> "$TMP/peak.base"
    echo "   round $r: baseline $(cut -d' ' -f1 < <(tail -1 "$TMP/peak.base")) req/s"
  fi
  echo "   round $r: direct $(cut -d' ' -f1 < <(tail -1 "$TMP/peak.direct")), nginx $(cut -d' ' -f1 < <(tail -1 "$TMP/peak.nginx")), gateway $(cut -d' ' -f1 < <(tail -1 "$TMP/peak.gateway")), gateway on hyper $(cut -d' ' -f1 < <(tail -1 "$TMP/peak.hyper")) req/s"
done
median() { sort -n -k1,1 "$1" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
read -r D_RPS D_P50 D_P99 D_ERR D_CPU < <(median "$TMP/peak.direct")
read -r N_RPS N_P50 N_P99 N_ERR N_CPU < <(median "$TMP/peak.nginx")
read -r G_RPS G_P50 G_P99 G_ERR G_CPU < <(median "$TMP/peak.gateway")
read -r H_RPS H_P50 H_P99 H_ERR H_CPU < <(median "$TMP/peak.hyper")
echo "(cpu_us/req = CPU time of the measured server itself per request: upstream for direct, nginx workers, gateway)"
printf "%-34s %10s %9s %9s %8s %12s\n" target req/s p50_ms p99_ms non2xx cpu_us/req
printf "%-34s %10s %9s %9s %8s %12s\n" direct "$D_RPS" "$D_P50" "$D_P99" "$D_ERR" "$D_CPU"
printf "%-34s %10s %9s %9s %8s %12s\n" nginx "$N_RPS" "$N_P50" "$N_P99" "$N_ERR" "$N_CPU"
printf "%-34s %10s %9s %9s %8s %12s\n" "gateway (auth+rate+quota)" "$G_RPS" "$G_P50" "$G_P99" "$G_ERR" "$G_CPU"
printf "%-34s %10s %9s %9s %8s %12s\n" "gateway on hyper (same checks)" "$H_RPS" "$H_P50" "$H_P99" "$H_ERR" "$H_CPU"
if [ -n "$BASELINE_BIN" ]; then
  read -r B_RPS B_P50 B_P99 B_ERR B_CPU < <(median "$TMP/peak.base")
  printf "%-34s %10s %9s %9s %8s %12s\n" "baseline ($BASELINE_BIN)" "$B_RPS" "$B_P50" "$B_P99" "$B_ERR" "$B_CPU"
  python3 -c "print(f'ratio gateway/baseline = {$G_RPS/$B_RPS:.2f}  (CPU per request gateway/baseline = {$G_CPU/$B_CPU:.2f}); baseline/nginx = {$B_RPS/$N_RPS:.2f}')"
fi
python3 -c "print(f'ratio gateway/nginx  = {$G_RPS/$N_RPS:.2f}  (CPU per request gateway/nginx = {$G_CPU/$N_CPU:.2f})'); print(f'ratio gateway on hyper/nginx = {$H_RPS/$N_RPS:.2f}  (CPU per request {$H_CPU/$N_CPU:.2f})'); print(f'ratio gateway/direct = {$G_RPS/$D_RPS:.2f}')"

echo "== reduced load: wrk -c$LIGHT_CONNS (wrk2 is unavailable, so load is reduced by connection count, not a fixed rate;"
echo "   the gateway's share of its peak is printed so the operating point is visible)"
MEASURE_PIDS="$UPPID"; read -r DL_RPS DL_P50 DL_P99 _ _ < <(run_wrk "$LIGHT_CONNS" "http://127.0.0.1:$UP/")
MEASURE_PIDS="$GWPID"; read -r GL_RPS GL_P50 GL_P99 _ _ < <(run_wrk "$LIGHT_CONNS" "http://127.0.0.1:$GW/bench/" -H "Authorization: $KEY")
printf "%-28s %10s %9s %9s\n" direct "$DL_RPS" "$DL_P50" "$DL_P99"
printf "%-28s %10s %9s %9s\n" gateway "$GL_RPS" "$GL_P50" "$GL_P99"
python3 -c "print(f'gateway light-load throughput = {$GL_RPS/$G_RPS*100:.0f}% of its peak'); print(f'p99 added latency vs direct = {$GL_P99-$DL_P99:.3f} ms (p50 added {$GL_P50-$DL_P50:.3f} ms)')"

echo "== RSS with 10,000 cached sessions (hash_keys = false so keys can be seeded with redis-cli)"
kill "$GWPID" "$GHPID" ${GBPID:-}; wait "$GWPID" "$GHPID" ${GBPID:-} 2>/dev/null || true
SESSION="$SESSION" python3 - "$TMP/seed.resp" <<'PY'
import os, sys
val = os.environ["SESSION"].encode()
with open(sys.argv[1], "wb") as out:
    for i in range(10000):
        key = b"apikey-benchkey-%d" % i
        out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val))
PY
redis-cli -p "$RP" --pipe < "$TMP/seed.resp" >/dev/null
gw_config false
start_gw
RSS0=$(awk '/VmRSS/{print $2}' "/proc/$GWPID/status")
cat > "$TMP/keys.lua" <<'LUA'
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/bench/", { ["Authorization"] = "benchkey-" .. (i % 10000) })
end
LUA
for _ in 1 2 3; do
  wrk -t1 -c4 -d3s -s "$TMP/keys.lua" "http://127.0.0.1:$GW" >/dev/null
  CACHED=$(curl -s "http://127.0.0.1:$GW/metrics" | awk '/^tyk_gw_sessions_cached /{print $2}')
  [ "${CACHED:-0}" -ge 10000 ] && break
done
RSS1=$(awk '/VmRSS/{print $2}' "/proc/$GWPID/status")
sleep 3
RSS2=$(awk '/VmRSS/{print $2}' "/proc/$GWPID/status")
HWM=$(awk '/VmHWM/{print $2}' "/proc/$GWPID/status")
echo "sessions cached: $CACHED; RSS at start: $((RSS0/1024)) MiB; right after caching 10k keys: $((RSS1/1024)) MiB; after 3 s idle: $((RSS2/1024)) MiB; peak (VmHWM): $((HWM/1024)) MiB"
