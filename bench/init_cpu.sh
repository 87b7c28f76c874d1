#!/usr/bin/env bash
# The CPU time and page faults of each Lambda function's init, two builds side by side:
#
#   bench/init_cpu.sh BEFORE_DIR AFTER_DIR [RUNS]
#
# Each DIR holds function binaries (DIR/<function> or DIR/<function>/bootstrap), built the same
# way, e.g. `cargo build --profile lambda --target x86_64-unknown-linux-gnu -p functions --bins`
# at two commits (copy target/x86_64-unknown-linux-gnu/lambda/ away between them). For every
# function of template.yaml found in both, `perf stat -r RUNS` (40) counts task-clock and page
# faults from exec to the process's exit: the Runtime API is a refused port, so the bootstrap runs
# its whole init (configuration, SDK clients, router) and stops at its first `/next`. The two
# builds alternate function by function, so both see the same machine. Needs `perf` (Debian's
# linux-perf). CPU time moves far less with the machine's load than bench/cold_start.py's
# wall-clock init, which makes this the finer of the two for "unchanged or better".
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 runs=${3:-40}
command -v perf > /dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }

find_binary() { # DIR FUNCTION
  if [ -f "$1/$2" ]; then echo "$1/$2"; elif [ -f "$1/$2/bootstrap" ]; then echo "$1/$2/bootstrap"; fi
}

init() { # BINARY -> "task-clock-ms page-faults"
  env -i PATH="$PATH" AWS_LAMBDA_RUNTIME_API=127.0.0.1:1 AWS_LAMBDA_FUNCTION_NAME=bench \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
    AWS_LAMBDA_LOG_GROUP_NAME=bench AWS_LAMBDA_LOG_STREAM_NAME=bench AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_ENDPOINT_URL=http://127.0.0.1:1 \
    AWS_MAX_ATTEMPTS=1 TABLE_NAME=herald \
    HERALD_DELIVERY_QUEUE_URL=http://127.0.0.1:1/000000000000/deliveries \
    HERALD_FANOUT_QUEUE_URL=http://127.0.0.1:1/000000000000/fanout \
    HERALD_OPERATOR_TOKEN_PARAMETER=/herald/operator-token RUST_LOG=warn \
    perf stat -r "$runs" -x, -e task-clock,page-faults "$1" 2>&1 > /dev/null |
    awk -F, '/task-clock/ {ms = $1} /page-faults/ {pf = $1} END {printf "%.2f %d", ms, pf}'
}

functions=$(sed -n 's|^ *CodeUri: target/lambda/\([a-z-]*\)/$|\1|p' template.yaml | sort)
for f in $functions; do
  b=$(find_binary "$before" "$f") a=$(find_binary "$after" "$f")
  [ -n "$b" ] && [ -n "$a" ] || continue
  echo "$f $(init "$b") $(init "$a") $(stat -c %s "$b") $(stat -c %s "$a")"
done | awk '
  BEGIN { printf "%-34s %10s %10s %6s %13s %13s\n", "function (perf stat means)", "CPU before", "CPU after", "ratio", "faults b/a", "size MB b/a" }
  { printf "%-34s %8.2fms %8.2fms %5.2fx %6d/%-6d %6.1f/%-6.1f\n", $1, $2, $4, $4 / $2, $3, $5, $6 / 1e6, $7 / 1e6
    cb += $2; ca += $4; pb += $3; pa += $5; n++ }
  END { if (n) printf "%d functions: CPU %.2f -> %.2f ms on average (%.2fx), page faults %.0f -> %.0f\n", n, cb / n, ca / n, ca / cb, pb / n, pa / n }'
