#!/usr/bin/env bash
# Runs every test: the server module (unit, adapter and e2e suites) and the
# Go SDK module, and ends with one line for the whole run (Go and Node tests):
#   N passed, N failed, N skipped
#
# The adapter and e2e suites start their own Postgres and RabbitMQ in
# containers (internal/testenv) when a container engine answers: here the
# podman service of scripts/container-engine.sh, whose socket this script
# points DOCKER_HOST at; elsewhere any Docker (with
# BOOKWORM_TEST_IMAGES=official to pull the official images). Nothing is
# shared between packages, so they run in parallel (go test's default -p).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DOCKER_HOST:-}" ] && [ -S /run/podman/podman.sock ]; then
  export DOCKER_HOST=unix:///run/podman/podman.sock
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  export TESTCONTAINERS_RYUK_DISABLED=true  # no reaper image here: testenv terminates its containers
  # The locally built images (seconds when their recipes did not change).
  [ "${BOOKWORM_TEST_IMAGES:-}" = official ] || ! command -v podman >/dev/null || bash scripts/build-images.sh
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/testsummary" ./internal/tools/testsummary

# go test -json for both modules into one summary; the summary prints the
# readable output (package results, failed tests' output) as it goes.
{
  go test -json -count=1 -timeout 30m ./... || echo "server module: go test failed" >"$tmp/failed"
  # The rating and basket suites (and their events) again, with the catalog
  # in one server process and rating and basket in another (e2e/split_test.go).
  BOOKWORM_E2E_TOPOLOGY=split go test -json -count=1 -timeout 15m -run 'Rating|Review|Basket' ./e2e/ || echo "e2e split topology: go test failed" >>"$tmp/failed"
  (cd sdk/go && go test -json -count=1 ./...) || echo "sdk/go: go test failed" >>"$tmp/failed"
} | "$tmp/testsummary"
if [ -s "$tmp/failed" ]; then
  cat "$tmp/failed" >&2
  exit 1
fi
