#!/usr/bin/env bash
# Runs every test: the server module (unit, adapter and e2e suites on the
# real Postgres and RabbitMQ) and the Go SDK module.
set -euo pipefail
cd "$(dirname "$0")/.."
# -p 1: packages one after another, so the e2e test that stops RabbitMQ never
# overlaps another package's broker tests.
go test -count=1 -p 1 -timeout 30m ./...
(cd sdk/go && go test -count=1 ./...)
