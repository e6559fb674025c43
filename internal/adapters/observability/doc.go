// Package observability is how BookWorm is watched in production: Prometheus
// metrics (RPC counts and latencies, the Go runtime, the process, the
// Postgres pool) on a registry the server owns, OpenTelemetry traces exported
// over OTLP/HTTP when an endpoint is configured, and a slog handler that puts
// trace ids on every log record and keeps secrets out of them.
//
// Nothing here is global: the server builds a Metrics and a Tracing in main,
// hands their interceptors to the RPC adapter and serves Metrics.Handler on
// an address of its own, away from the public API.
package observability
