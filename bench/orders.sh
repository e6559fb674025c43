#!/usr/bin/env bash
# Checkout load benchmark of the real server with the simulated gateway: the
# gRPC health check ceiling (wrk, as bench/run.sh), then bench/orders placing
# orders for many buyers (AddItem, PlaceOrder, WatchOrder until CONFIRMED)
# for the given time, the CPU time each order cost the server and Postgres
# (a figure the neighbours' load disturbs less than the rates), and the
# server's peak RSS. Its own database, exchange and queues on the local
# Postgres and RabbitMQ (named per run: messages a killed run left in its
# durable queues must not reach the next run; the run deletes its queues at
# exit when rabbitmqctl is at hand, since quorum queues left behind slow the
# shared broker down).
# Usage: bash bench/orders.sh [seconds, default 60] [workers, default 48]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
workers=${2:-48}
db=bookworm_bench_orders
pgurl=${BOOKWORM_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
port=${BOOKWORM_BENCH_PORT:-18090}
work=$(mktemp -d)
go build -o "$work/bookworm" ./cmd/server
go build -o "$work/orders" ./bench/orders
psql "$pgurl/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
export BOOKWORM_DATABASE_URL="$pgurl/$db?sslmode=disable" BOOKWORM_ADDR="127.0.0.1:$port" \
  BOOKWORM_DEV_KEY_FILE="$work/dev-signing-key.pem" BOOKWORM_RATE_LIMIT=false \
  BOOKWORM_AMQP_EXCHANGE="bench.orders.$$.events" BOOKWORM_AMQP_QUEUE_PREFIX="bench.orders.$$" \
  BOOKWORM_METRICS_ADDR=off
"$work/bookworm" --seed --seed-books 1000 --log-level warn 2>"$work/server.log" &
pid=$!
cleanup() {
  kill $pid 2>/dev/null; wait $pid 2>/dev/null
  if command -v rabbitmqctl >/dev/null; then
    timeout 60 rabbitmqctl list_queues name -q --no-table-headers 2>/dev/null | grep "^bench\.orders\.$$\." |
      xargs -r -n1 timeout 30 rabbitmqctl delete_queue -q >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }
# Every book stocked far beyond the run, so that no order fails for stock.
psql "$pgurl/$db" -qc "UPDATE catalog.books SET stock = 10000000 WHERE delete_time IS NULL"
psql "$pgurl/$db" -Atc "SELECT pg_notify('bookworm_catalog', '*')" >/dev/null
psql "$pgurl/$db" -Atc "SELECT id FROM catalog.books WHERE delete_time IS NULL ORDER BY id" >"$work/ids"
if command -v wrk >/dev/null; then
  echo "== health check (ceiling; wrk -t2 -c32 -d20s)"
  wrk -t2 -c32 -d20s -s bench/health.lua "http://127.0.0.1:$port" | grep -E '^RESULT|Requests/sec'
fi
# CPU ticks: the server's, and its Postgres backends' (the pool's connections).
ticks() {
  local b=0 p
  for p in $(psql "$pgurl/postgres" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$db'"); do
    [ -r "/proc/$p/stat" ] && b=$((b + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$(awk '{print $14 + $15}' "/proc/$pid/stat") $b"
}
before=$(ticks)
echo "== orders (${workers} workers, ${secs}s)"
"$work/orders" --url "http://127.0.0.1:$port" --bin "$work/bookworm" --books "$work/ids" --duration "${secs}s" --workers "$workers"
read -r s0 p0 <<<"$before"; read -r s1 p1 <<<"$(ticks)"
n=$(psql "$pgurl/$db" -Atc "SELECT count(*) FROM ordering.orders")
awk -v n="$n" -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v hz="$(getconf CLK_TCK)" \
  'BEGIN { printf "CPU per order: server %.1f ms, Postgres %.1f ms\n", s * 1000 / hz / n, p * 1000 / hz / n }'
echo "orders in the database: $(psql "$pgurl/$db" -Atc "SELECT status, count(*) FROM ordering.orders GROUP BY 1 ORDER BY 1" | tr '\n' ' ')"
echo "server peak RSS (VmHWM): $(awk '/VmHWM/{print $2, $3}' /proc/$pid/status)"
