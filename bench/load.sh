#!/usr/bin/env bash
# Load benchmark: authenticated GET /v1/organizations/{org}/notifications/{id} and
# GET /v1/environments/{org}/notificationsSettings on herald-local
# (release, embedded store) side by side with a bare axum hello-world, same wrk settings, same run.
# Usage: bench/load.sh [seconds] [connections]   (bench/run builds the release binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
target=${CARGO_TARGET_DIR:-target}/release
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
herald_port=$(free_port)
hello_port=$(free_port)
out=$(mktemp)
HERALD_PORT=$herald_port RUST_LOG=warn "$target/herald-local" > "$out" 2>/dev/null &
herald_pid=$!
PORT=$hello_port "$target/examples/hello-axum" &
hello_pid=$!
trap 'kill $herald_pid $hello_pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q HERALD_ADMIN_TOKEN "$out" && break; sleep 0.1; done
org=$(sed -n 's/^HERALD_ORGANIZATION_ID=//p' "$out")
token=$(sed -n 's/^HERALD_ADMIN_TOKEN=//p' "$out")
id=$(curl -sf -X POST "http://127.0.0.1:$herald_port/v1/organizations/$org/notifications" \
  -H "Authorization: Bearer $token" \
  -d '{"type":"webhook","description":"bench","events":{"buildCreated":true},"setup":{"webhook":{"url":"http://127.0.0.1:9/hook"}}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["id"])')
url="http://127.0.0.1:$herald_port/v1/organizations/$org/notifications/$id"
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url")" = 200

run() { # run NAME URL [HEADER]
  local res
  if [ $# -eq 3 ]; then res=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "$3" "$2"); else res=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$2"); fi
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$res")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$res")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$res")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$res")
  printf '%-46s %12s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}"
  echo "$rps" > "$out.$1.rps"
}
echo "wrk -t2 -c$conns -d${secs}s, server and load generator on the same 2 cores"
run hello-axum "http://127.0.0.1:$hello_port/"
run herald-get-notification "$url" "Authorization: Bearer $token"
run herald-get-settings "http://127.0.0.1:$herald_port/v1/environments/$org/notificationsSettings" "Authorization: Bearer $token"
for name in herald-get-notification herald-get-settings; do
  python3 -c "print(f'$name / hello-world: {float(open(\"$out.$name.rps\").read()) / float(open(\"$out.hello-axum.rps\").read()) * 100:.0f} %')"
done
rm -f "$out".*.rps
