-- wrk script: SearchBooks over Connect JSON where almost every request is a
-- query the server has not seen (word pairs from the demo vocabulary, with
-- and without typos, and varying page sizes), so the server's result cache
-- cannot answer it: this measures Postgres full-text and typo search.
local adjectives = {"silent", "hidden", "last", "crimson", "forgotten", "golden", "broken", "secret", "midnight", "distant",
  "burning", "frozen", "wandering", "lost", "quiet", "shattered", "endless", "wild", "ancient", "electric"}
local nouns = {"dragon", "garden", "empire", "river", "clockmaker", "lighthouse", "orchard", "library", "kingdom", "voyage",
  "mountain", "cartographer", "station", "harbor", "forest", "machine", "island", "crown", "letter", "detective"}
local function typo(w)
  if #w < 5 then return w end
  local i = math.random(2, #w - 2)
  return w:sub(1, i - 1) .. w:sub(i + 1, i + 1) .. w:sub(i, i) .. w:sub(i + 2)
end
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
init = function()
  -- A different stream per thread, so threads do not repeat each other.
  math.randomseed(42 + 7919 * (tonumber(wrk.thread:get("tid")) or 0))
end
request = function()
  local a = adjectives[math.random(#adjectives)]
  local n = nouns[math.random(#nouns)]
  if math.random() < 0.3 then n = typo(n) end
  local q = a .. " " .. n
  if math.random() < 0.3 then q = n end
  return wrk.format("POST", "/bookworm.catalog.v1.CatalogService/SearchBooks",
    {["Content-Type"] = "application/json"}, '{"query":"' .. q .. '","pageSize":' .. math.random(5, 100) .. '}')
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.1f rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
