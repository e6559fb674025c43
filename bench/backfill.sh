#!/usr/bin/env bash
# Backfill rate of the book embeddings against the REAL Ollama server
# (scripts/build-ollama.sh) serving the tests' tiny random-weight model
# (bench/tinymodel): seeds N books into a fresh database, starts the server
# with Ollama, and times its embedding loop (catalog.Indexer: batches of 32
# books, each one /api/embed call) from the server being ready until every
# book has its vector; then the gRPC health check with wrk for the ceiling
# of the same run. Its own database, exchange and queues on the local
# Postgres (with pgvector) and RabbitMQ (BOOKWORM_BENCH_AMQP to use another).
# Usage: bash bench/backfill.sh [books, default 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
books=${1:-1000}
db=bookworm_bench_backfill
pgurl=${BOOKWORM_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
port=${BOOKWORM_BENCH_PORT:-18095}
oport=${BOOKWORM_BENCH_OLLAMA_PORT:-18434}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
ollama=${BOOKWORM_OLLAMA_BIN:-$(bash scripts/build-ollama.sh)}
work=$(mktemp -d)
pids=()
# Ollama runs in a session of its own (setsid), so that killing its group
# takes the model runner it starts too; the others are killed alone.
trap 'for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
go build -o "$work/bookworm" ./cmd/server
go run ./bench/tinymodel "$work"

# The real Ollama with the tiny model as "tiny".
export OLLAMA_HOST="127.0.0.1:$oport"
OLLAMA_MODELS="$work/models" HOME="$work" OLLAMA_NUM_PARALLEL=1 OLLAMA_KEEP_ALIVE=30m \
  setsid "$ollama" serve >"$work/ollama.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://$OLLAMA_HOST/api/version" >/dev/null && break; sleep 0.2; done
(cd "$work" && HOME="$work" "$ollama" create tiny -f Modelfile >/dev/null 2>&1)
curl -sf "http://$OLLAMA_HOST/api/embed" -d '{"model":"tiny","input":["load the model"]}' >/dev/null

psql "$pgurl/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
export BOOKWORM_DATABASE_URL="$pgurl/$db?sslmode=disable" BOOKWORM_ADDR="127.0.0.1:$port" \
  BOOKWORM_DEV_KEY_FILE="$work/dev-signing-key.pem" BOOKWORM_RATE_LIMIT=false BOOKWORM_METRICS_ADDR=off \
  BOOKWORM_AMQP_URL="${BOOKWORM_BENCH_AMQP:-amqp://guest:guest@127.0.0.1:5672/}" BOOKWORM_AMQP_EXCHANGE="bench.backfill.$$.events" BOOKWORM_AMQP_QUEUE_PREFIX="bench.backfill.$$"
# First the books alone (Ollama off), so that seeding is not timed.
BOOKWORM_OLLAMA_URL=off "$work/bookworm" --seed --seed-books "$books" --log-level warn 2>"$work/seed.log" &
spid=$!
pids+=($spid)
# (/healthz, not /readyz: the embedding loop needs Postgres and Ollama only,
# so a slow RabbitMQ on a loaded machine does not hold the run up.)
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/seed.log"; exit 1; }
kill "$spid"; wait "$spid" 2>/dev/null || true
n=$(psql "$pgurl/$db" -Atc "SELECT count(*) FROM catalog.books WHERE delete_time IS NULL")
echo "books: $n"

# Then the server with Ollama: its embedding loop backfills every book.
start=$(date +%s.%N)
# The embedding deadline is raised from 10 s: on a loaded machine a batch of
# 32 can take longer, and a rate is wanted here, not timeouts.
BOOKWORM_OLLAMA_URL="http://$OLLAMA_HOST" BOOKWORM_EMBED_MODEL=tiny BOOKWORM_CHAT_MODEL=tiny BOOKWORM_EMBED_TIMEOUT=2m \
  "$work/bookworm" --log-level info 2>"$work/server.log" &
pid=$!
pids+=($pid)
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.25; done
ready=$(date +%s.%N)
while :; do
  done_n=$(psql "$pgurl/$db" -Atc "SELECT count(*) FROM catalog.book_embeddings WHERE model = 'tiny'")
  [ "$done_n" -ge "$n" ] && break
  kill -0 "$pid" 2>/dev/null || { tail -20 "$work/server.log"; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
span=$(psql "$pgurl/$db" -Atc "SELECT extract(epoch FROM max(update_time) - min(update_time)) FROM catalog.book_embeddings")
rate=$(echo "$n / ($end - $ready)" | bc -l)
steady=$(echo "($n - 32) / $span" | bc -l)
printf 'backfill: %d books in %.1f s from ready (server start to ready %.1f s): %.1f books/s; batch 32; first to last batch stored %.1f s: %.1f books/s\n' \
  "$n" "$(echo "$end - $ready" | bc -l)" "$(echo "$ready - $start" | bc -l)" "$rate" "$span" "$steady"

# The ceiling of the same run: the gRPC health check, as bench/run.sh.
health=$(wrk -t2 -c32 -d10s -s bench/health.lua "http://127.0.0.1:$port" | awk '/Requests\/sec/{print $2}')
printf 'health check (ceiling): %.0f req/s; backfill books/s per 1,000 health req/s: %.2f\n' "$health" "$(echo "1000 * $rate / $health" | bc -l)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
