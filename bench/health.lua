-- wrk script: the gRPC health check over Connect JSON, the ceiling every
-- other RPC is compared with.
wrk.method = "POST"
wrk.path = "/grpc.health.v1.Health/Check"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{}"

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.1f rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
