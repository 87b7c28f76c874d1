#!/usr/bin/env bash
# Load benchmark: authenticated GET /v1/organizations/{org}/notifications/{id} and
# GET /v1/environments/{org}/notificationsSettings and GET /api/v2/notifications/templates/system
# (16 templates, ~7 KB of JSON) on herald-local
# (release, the SQLite backend on a new data directory) side by side with a bare axum hello-world, same wrk settings, same run.
# Usage: bench/load.sh [seconds] [connections] [rounds]   (bench/run builds the release binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
conns=${2:-32}
rounds=${3:-3}
target=${CARGO_TARGET_DIR:-target}/release
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
herald_port=$(free_port)
hello_port=$(free_port)
out=$(mktemp)
data=$(mktemp -d)
HERALD_DATA_DIR=$data HERALD_PORT=$herald_port RUST_LOG=warn "$target/herald-local" > "$out" 2>/dev/null &
herald_pid=$!
PORT=$hello_port "$target/examples/hello-axum" &
hello_pid=$!
trap 'kill $herald_pid $hello_pid 2>/dev/null || true; rm -rf "$out" "$data"' EXIT
for _ in $(seq 50); do grep -q HERALD_ADMIN_TOKEN "$out" && break; sleep 0.1; done
org=$(. "$out"; echo "$HERALD_ORGANIZATION_ID")
token=$(. "$out"; echo "$HERALD_ADMIN_TOKEN")
id=$(curl -sf -X POST "http://127.0.0.1:$herald_port/v1/organizations/$org/notifications" \
  -H "Authorization: Bearer $token" \
  -d '{"type":"webhook","description":"bench","events":{"buildCreated":true},"setup":{"webhook":{"url":"http://127.0.0.1:9/hook"}}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
url="http://127.0.0.1:$herald_port/v1/organizations/$org/notifications/$id"
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url")" = 200

run() { # run NAME URL [HEADER]: one wrk run, its req/s, p50 and p99 appended to $out.NAME
  local res
  if [ $# -eq 3 ]; then res=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "$3" "$2"); else res=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$2"); fi
  if awk '/Non-2xx/ {exit 1}' <<<"$res"; then :; else echo "$1: non-2xx answers" >&2; exit 1; fi
  printf '%s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' <<<"$res")" "$(awk '$1 == "50%" {print $2}' <<<"$res")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$res")" >> "$out.$1"
}
# The machine's own noise moves a run by +-15 %: interleave the servers over several rounds and
# compare medians.
echo "wrk -t2 -c$conns -d${secs}s, $rounds interleaved rounds, server and load generator on the same 2 cores"
for _ in $(seq "$rounds"); do
  run hello-axum "http://127.0.0.1:$hello_port/"
  run herald-get-notification "$url" "Authorization: Bearer $token"
  run herald-get-settings "http://127.0.0.1:$herald_port/v1/environments/$org/notificationsSettings" "Authorization: Bearer $token"
  run herald-get-templates "http://127.0.0.1:$herald_port/api/v2/notifications/templates/system" "Coder-Session-Token: $token"
done
python3 - "$out" <<'PY'
import statistics, sys
out = sys.argv[1]
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
rows = {}
for name in ("hello-axum", "herald-get-notification", "herald-get-settings", "herald-get-templates"):
    runs = [line.split() for line in open(f"{out}.{name}")]
    rows[name] = (statistics.median(float(r[0]) for r in runs), statistics.median(ms(r[1]) for r in runs),
                  max(ms(r[2]) for r in runs), [round(float(r[0])) for r in runs])
base = rows["hello-axum"][0]
for name, (rps, p50, p99, each) in rows.items():
    print(f"{name:26} median {rps:9.0f} req/s ({rps / base * 100:3.0f} % of hello)   p50 {p50:5.2f} ms   worst p99 {p99:5.2f} ms   runs {each}")
PY
rm -f "$out".*
