#!/usr/bin/env bash
# make bench: start Arca (dev mode, temp data dir) and a bare net/http
# baseline server, drive each with `arca bench`, and print one table.
# BENCH_DURATION (default 10s) and BENCH_WORKERS (default 8,64) tune it.
set -euo pipefail
bin=${1:-bin/arca}
duration=${BENCH_DURATION:-10s}
workers=${BENCH_WORKERS:-8,64}
port=${BENCH_PORT:-4697}
bport=$((port + 1))
nport=$((port + 2))
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

export ARCA_ROOT_ACCESS_KEY_ID=AKIABENCHBENCHBENCH0
export ARCA_ROOT_SECRET_ACCESS_KEY=benchbenchbenchbenchbenchbenchbenchbench
export ARCA_BENCH_SECRET_ACCESS_KEY=$ARCA_ROOT_SECRET_ACCESS_KEY

wait_up() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2; exit 1
}

"$bin" server --dev --listen 127.0.0.1:$port --data-dir "$tmp/data" --log-level warn >"$tmp/arca.out" 2>"$tmp/arca.err" &
arca_pid=$!; pids+=("$arca_pid")
# The same server with the audit log switched off: the cost of audit is the
# difference between the "(audit off)" rows and the plain ones.
"$bin" server --dev --audit=false --listen 127.0.0.1:$nport --data-dir "$tmp/data-noaudit" --log-level error >"$tmp/noaudit.out" 2>"$tmp/noaudit.err" &
noaudit_pid=$!; pids+=("$noaudit_pid")
"$bin" bench baseline-server --listen 127.0.0.1:$bport >"$tmp/base.out" 2>&1 &
base_pid=$!; pids+=("$base_pid")
wait_up "http://127.0.0.1:$port/healthz"
wait_up "http://127.0.0.1:$nport/healthz"
sleep 0.5

echo "# arca bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, duration $duration per row"
common=(--access-key-id "$ARCA_ROOT_ACCESS_KEY_ID" --duration "$duration" --workers "$workers")
"$bin" bench "${common[@]}" --header --endpoint "http://127.0.0.1:$bport" --pid "$base_pid" --op baseline
"$bin" bench "${common[@]}" --endpoint "http://127.0.0.1:$port" --pid "$arca_pid" --op encrypt,decrypt,get-secret-value,generate-data-key,sign-p256,verify-p256,sign-rsa2048,verify-rsa2048,generate-mac
"$bin" bench "${common[@]}" --endpoint "http://127.0.0.1:$nport" --pid "$noaudit_pid" --op encrypt --label "(audit off)"
