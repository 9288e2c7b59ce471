-- wrk script: POST /ai/generate to the Tzurot gateway, one unique message per
-- request (so the request dedup never answers), authenticated with the service
-- token in the TZUROT_TOKEN environment variable, personality slug in
-- TZUROT_PERSONALITY (default "bench"). The same load as the reference's
-- generate.lua (unique message, 1000 users, 10 channels); the body has our
-- shape (Discord ids are digits). Prints one SUMMARY line like the reference.
--
--   TZUROT_TOKEN=tzr_... wrk -t2 -c32 -d15s --latency -s bench/generate.lua http://127.0.0.1:8000
local threads, counter = {}, 0
tid = 0 -- global: set per thread by thread:set("tid", n) in setup()

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  wrk.method = "POST"
  wrk.path = "/ai/generate"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TZUROT_TOKEN") or "")
  personality = os.getenv("TZUROT_PERSONALITY") or "bench"
end

function request()
  counter = counter + 1
  local msg = string.format("t%d-%d-%d please summarise the latest release notes for me",
                            tid, counter, math.random(1, 1000000000))
  local body = string.format(
    '{"personality":"%s","message":"%s","context":{"user_id":"%d","channel_id":"%d","user_name":"bench%d"}}',
    personality, msg, 100000 + counter % 1000, 200000 + counter % 10, tid)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "SUMMARY rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d non2xx=%d sock_err=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout))
end
