-- wrk script of scripts/bench-gateway.sh: POST /v1/chat/completions with a small chat request.
-- Read from the environment (one script for every case):
--   BENCH_MODEL   the request's `model` ("bench", the gateway's route; "m" direct)
--   BENCH_STREAM  "1": a streamed request (with stream_options.include_usage, as the gateway
--                 itself asks its upstream for, so the provider does the same work either way)
--   BENCH_TOKEN   sent as `Authorization: Bearer` when set (the gateway's token)
-- At the end it prints one machine-readable line, `BENCH key=value ...` (latencies in µs).
local model = os.getenv("BENCH_MODEL") or "bench"
local stream = os.getenv("BENCH_STREAM") == "1"
local token = os.getenv("BENCH_TOKEN")

local body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"hello there"}]'
if stream then
  body = body .. ',"stream":true,"stream_options":{"include_usage":true}'
end
body = body .. '}'

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%.0f duration_us=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f non2xx=%.0f sockerr=%.0f\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
