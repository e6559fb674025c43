#!/usr/bin/env bash
# Load benchmark of the real server on the local Postgres, from a second
# process (wrk) over loopback: the gRPC health check (the ceiling), GetBook
# and SearchBooks over 10,000 seeded books, and the server's peak RSS.
# Usage: bash bench/run.sh [seconds per run, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
db=bookworm_bench
pgurl=${BOOKWORM_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
port=${BOOKWORM_BENCH_PORT:-18080}
work=$(mktemp -d)
go build -o "$work/bookworm" ./cmd/server
psql "$pgurl/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
# Rate limits off: wrk is one anonymous caller far over any per-caller budget.
export BOOKWORM_DATABASE_URL="$pgurl/$db?sslmode=disable" BOOKWORM_ADDR="127.0.0.1:$port" \
  BOOKWORM_DEV_KEY_FILE="$work/dev-signing-key.pem" BOOKWORM_RATE_LIMIT=false
"$work/bookworm" --seed --seed-books 10000 --log-level warn 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }
psql "$pgurl/$db" -Atc "SELECT id FROM catalog.books WHERE delete_time IS NULL ORDER BY id" >"$work/ids"
echo "books: $(wc -l <"$work/ids")"
url="http://127.0.0.1:$port"
run() { # name threads conns script
  echo "== $1 (wrk -t$2 -c$3 -d${secs}s)"
  IDS="$work/ids" wrk -t"$2" -c"$3" -d"${secs}s" -s "bench/$4" "$url" | grep -E '^RESULT|Requests/sec|Non-2xx'
  echo "server VmRSS now: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
}
# Warm up: fill the cache and the connection pool.
IDS="$work/ids" wrk -t2 -c32 -d5s -s bench/getbook.lua "$url" >/dev/null
run "health check (ceiling)" 2 32 health.lua
run "GetBook" 2 32 getbook.lua
TOKEN=$("$work/bookworm" dev-token --sub bench-user --role user) run "GetBook with a bearer token" 2 32 getbook.lua
run "SearchBooks, 15 repeated queries (result cache hits)" 2 8 search.lua
run "SearchBooks, distinct queries (cache misses: Postgres)" 2 8 search_distinct.lua
echo "server peak RSS (VmHWM): $(awk '/VmHWM/{print $2, $3}' /proc/$pid/status)"
