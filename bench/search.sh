#!/usr/bin/env bash
# Search benchmark of the real server on the local Postgres (with pgvector:
# scripts/build-pgvector.sh --install): a fresh database with the demo
# catalogue of N books, every book embedded with the Ollama double's
# deterministic vectors (so the run measures BookWorm and Postgres, not a
# model), the server asking the double for query embeddings, then
# bench/searchload over 8 connections: the health check (ceiling), then
# SearchBooks lexical, semantic and hybrid, page size 20, every text sent
# once (cache misses), broad and narrow texts mixed.
# Usage: bash bench/search.sh [books, default 100000] [seconds per run, default 20] [codec: json (default) or proto]
# (json: Connect JSON, as a browser or curl sends; proto: Connect binary, as the Go and TypeScript SDKs send)
set -euo pipefail
cd "$(dirname "$0")/.."
books=${1:-100000}
secs=${2:-20}
codec=${3:-json}
pgurl=${BOOKWORM_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
# Free ports, picked now: other benchmarks may run on the same machine.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=${BOOKWORM_BENCH_PORT:-$(free_port)}
dport=${BOOKWORM_BENCH_DOUBLE_PORT:-$(free_port)}
db=bookworm_bench_search_$$
model=bench-double
work=$(mktemp -d)
go build -o "$work/bookworm" ./cmd/server
go test -c -o "$work/searchload" ./bench/searchload
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  psql "$pgurl/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
export BOOKWORM_DATABASE_URL="$pgurl/$db?sslmode=disable" BOOKWORM_ADDR="127.0.0.1:$port" \
  BOOKWORM_DEV_KEY_FILE="$work/dev-signing-key.pem" BOOKWORM_RATE_LIMIT=false BOOKWORM_METRICS_ADDR=off \
  BOOKWORM_AMQP_EXCHANGE="bench.search.$$.events" BOOKWORM_AMQP_QUEUE_PREFIX="bench.search.$$" \
  BOOKWORM_CONTEXTS=catalog BOOKWORM_EMBED_MODEL=$model BOOKWORM_CACHE_ENTRIES=20000
# Listening means seeded and migrated; searches need neither RabbitMQ nor
# the relay, so /readyz (which waits for the broker) is not awaited.
ready() { # pid of the server that must answer
  for _ in $(seq 1 900); do
    kill -0 "$1" 2>/dev/null || { cat "$work/server.log"; return 1; }
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 1
  done
  cat "$work/server.log"; return 1
}
# 1. Seed (model off, so that the indexer does not start embedding).
start=$(date +%s)
"$work/bookworm" --seed --seed-books "$books" --ollama-url off --log-level warn 2>"$work/server.log" &
pids+=($!)
ready "${pids[0]}"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()
echo "seeded $books books in $(( $(date +%s) - start )) s"
# 2. Embed every book with the double's vectors, straight into the store.
"$work/searchload" embed --db "$pgurl/$db?sslmode=disable" --model $model
# 3. The double, and the server using it.
"$work/searchload" double --addr "127.0.0.1:$dport" >/dev/null &
pids+=($!)
"$work/bookworm" --ollama-url "http://127.0.0.1:$dport" --log-level info 2>"$work/server.log" &
server=$!
pids+=($server)
ready "$server"
# The search index loads in the background (the words, then the graphs of
# the vectors), Postgres answering meanwhile: the run measures the server
# once both are there.
start=$(date +%s)
for _ in $(seq 1 600); do grep -q '"search index: graphs built"' "$work/server.log" && break; sleep 1; done
grep '"search index: loaded"\|"search index: graphs built"' "$work/server.log" | tail -2
echo "search index and graphs ready $(( $(date +%s) - start )) s after the server listened"
echo "pending embeddings at start: $(psql "$pgurl/$db" -Atc "SELECT count(*) FROM catalog.books b LEFT JOIN catalog.book_embeddings e ON e.book_id = b.id WHERE b.delete_time IS NULL AND e.book_id IS NULL")"
# 4. The load.
"$work/searchload" load --url "http://127.0.0.1:$port" --db "$pgurl/$db?sslmode=disable" --duration "${secs}s" --conns 8 --codec "$codec"
kill -0 "$server" || { echo "the server died during the run"; cat "$work/server.log"; exit 1; }
echo "server peak RSS (VmHWM): $(awk '/VmHWM/{print $2, $3}' /proc/$server/status)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
