#!/usr/bin/env bash
# Runs every test: the server module (unit, adapter and e2e suites on the
# real Postgres and RabbitMQ) and the Go SDK module.
set -euo pipefail
cd "$(dirname "$0")/.."
# -p 1: packages one after another, so the e2e test that stops RabbitMQ never
# overlaps another package's broker tests.
go test -count=1 -p 1 -timeout 30m ./...
# The rating suite (and its events) again, with catalog and rating in two
# server processes (e2e/split_test.go).
BOOKWORM_E2E_TOPOLOGY=split go test -count=1 -timeout 15m -run 'Rating|Review' ./e2e/
(cd sdk/go && go test -count=1 ./...)
