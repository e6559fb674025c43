#!/usr/bin/env bash
# Regenerates every generated file: validate.proto (printed from the pinned
# protovalidate Go package), the Go code in sdk/go/gen, the grpc-go stubs in
# sdk/go/grpc/gen (a nested module: only grpc-go users import grpc) and the
# TypeScript code in sdk/ts/src/gen (with the google.rpc error detail types,
# printed from the pinned googleapis Go package). Offline: every plugin is pinned in go.mod or
# sdk/ts/package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x sdk/ts/node_modules/.bin/protoc-gen-es ] || (cd sdk/ts && npm ci --no-audit --no-fund)
go run ./internal/tools/validateproto api/thirdparty/buf/validate/validate.proto
mkdir -p api/thirdparty/google/rpc
go run ./internal/tools/rpcproto api/thirdparty/google/rpc/error_details.proto
go tool buf generate
go tool buf generate --template buf.gen.errors.yaml
rm -rf sdk/go/grpc/gen
go run ./internal/tools/grpcpackage sdk/go/grpc/.raw sdk/go/gen sdk/go/grpc/gen
rm -rf sdk/go/grpc/.raw
(cd sdk/go && go mod tidy)
(cd sdk/go/grpc && go mod tidy)
