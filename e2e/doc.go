// Package e2e drives the real BookWorm server end to end. Its tests build
// cmd/server, start it on a fresh database of the package's own Postgres
// and on the package's own RabbitMQ (containers started through
// internal/testenv; the machine's shared servers only when no container
// engine answers) and call every RPC of the
// catalog through each protocol and client BookWorm's users have: the
// generated Go client in Connect, gRPC and gRPC-Web modes, grpc-go, plain
// JSON over HTTP, and the TypeScript SDK under Node (e2e/node).
//
// Run everything with
//
//	go test ./e2e/...
//
// The package has no non-test code besides this comment.
package e2e
