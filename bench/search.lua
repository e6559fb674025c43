-- wrk script: SearchBooks over Connect JSON, cycling through a fixed list of
-- queries (words the demo catalog uses, phrases and typos).
local queries = {"dragon", "garden history", "lost kingdom", "\\\"silent river\\\"", "dragn", "histroy", "lighthouse", "empire of", "secret", "winter garden", "lisbon", "clockmaker", "mystery -garden", "astronomer", "alchemist"}
local i = 0
request = function()
  i = i + 1
  local q = queries[(i % #queries) + 1]
  return wrk.format("POST", "/bookworm.catalog.v1.CatalogService/SearchBooks",
    {["Content-Type"] = "application/json"}, '{"query":"' .. q .. '","pageSize":20}')
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.1f rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
