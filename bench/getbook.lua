-- wrk script: GetBook over Connect JSON (HTTP/1.1 POST), cycling through the
-- ids in the file named by the IDS environment variable (one per line).
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local i = 0
request = function()
  i = i + 1
  local id = ids[(i % #ids) + 1]
  return wrk.format("POST", "/bookworm.catalog.v1.CatalogService/GetBook",
    {["Content-Type"] = "application/json", ["Authorization"] = os.getenv("TOKEN") and ("Bearer " .. os.getenv("TOKEN")) or nil},
    '{"id":"' .. id .. '"}')
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.1f rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
