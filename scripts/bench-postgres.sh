#!/usr/bin/env bash
# make bench-postgres: Encrypt throughput and server CPU per request with 1,
# 2 and 3 Arca nodes sharing one PostgreSQL (Debian's postgresql, started
# here in a temp dir on a loopback port), the load tool taking the nodes in
# turn. BENCH_DURATION (default 10s), BENCH_WORKERS (default 64) and
# BENCH_NODES (default "1 2 3") tune it. See docs/PERFORMANCE.md.
set -euo pipefail
bin=${1:-bin/arca}
duration=${BENCH_DURATION:-10s}
workers=${BENCH_WORKERS:-64}
nodes_list=${BENCH_NODES:-1 2 3}
port=${BENCH_PORT:-4717}
pgport=$((port + 50))
pgbin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/initdb" ] || { echo "bench-postgres: $pgbin/initdb not found: install the Debian package postgresql" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
pg_pid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Fast shutdown goes to the postmaster itself (runuser does not pass SIGINT on).
  if [ -f "$tmp/pg/postmaster.pid" ]; then kill -INT "$(head -1 "$tmp/pg/postmaster.pid")" 2>/dev/null || true; fi
  [ -n "$pg_pid" ] && wait "$pg_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$tmp"; as_pg=(runuser -u postgres --); fi
"${as_pg[@]}" "$pgbin/initdb" -D "$tmp/pg" -U arca --auth=trust --no-sync --no-instructions >/dev/null
# Durable settings, as in production: fsync and synchronous_commit on.
"${as_pg[@]}" "$pgbin/postgres" -D "$tmp/pg" -p "$pgport" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$tmp" -c max_connections=300 >"$tmp/pg.log" 2>&1 &
pg_pid=$!
for _ in $(seq 1 100); do "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pgport" && break; sleep 0.1; done

export ARCA_ROOT_ACCESS_KEY_ID=AKIABENCHBENCHBENCH0
export ARCA_ROOT_SECRET_ACCESS_KEY=benchbenchbenchbenchbenchbenchbenchbench
export ARCA_BENCH_SECRET_ACCESS_KEY=$ARCA_ROOT_SECRET_ACCESS_KEY

echo "# arca bench on PostgreSQL, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, duration $duration per row"
header=--header
for n in $nodes_list; do
  db=bench$n
  "$pgbin/psql" -q -h 127.0.0.1 -p "$pgport" -U arca -d postgres -c "CREATE DATABASE $db" >/dev/null
  export ARCA_POSTGRES_DSN="postgres://arca@127.0.0.1:$pgport/$db?sslmode=disable"
  eps=(); npids=()
  for i in $(seq 1 "$n"); do
    p=$((port + i))
    "$bin" server --dev --storage postgres --listen 127.0.0.1:$p --data-dir "$tmp/data$n" --audit-dir "$tmp/audit$n-$i" --log-level warn \
      >"$tmp/arca$n-$i.out" 2>"$tmp/arca$n-$i.err" &
    npids+=($!); pids+=($!)
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$p/healthz" 2>/dev/null && break; sleep 0.1; done
    eps+=("http://127.0.0.1:$p")
  done
  sleep 0.5
  echo "## $n node(s)"
  "$bin" bench $header --access-key-id "$ARCA_ROOT_ACCESS_KEY_ID" --duration "$duration" --workers "$workers" \
    --endpoint "$(IFS=,; echo "${eps[*]}")" --pid "$(IFS=,; echo "${npids[*]}")" --op encrypt,get-secret-value,generate-data-key
  header=
  for p in "${npids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
done
