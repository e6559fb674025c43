#!/usr/bin/env bash
# Regenerates every generated file: validate.proto (printed from the pinned
# protovalidate Go package), the Go code in sdk/go/gen and the TypeScript code
# in sdk/ts/src/gen. Offline: every plugin is pinned in go.mod or
# sdk/ts/package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x sdk/ts/node_modules/.bin/protoc-gen-es ] || (cd sdk/ts && npm ci --no-audit --no-fund)
go run ./internal/tools/validateproto api/thirdparty/buf/validate/validate.proto
go tool buf generate
(cd sdk/go && go mod tidy)
