-- wrk prints p50/p75/p90/p99 only; the budgets are stated as p95. This prints one line that
-- bench/register.py parses: the latency percentiles (wrk's histogram, in microseconds), the request
-- rate and the errors, non-2xx/3xx answers included.
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    "KP_WRK requests=%d seconds=%.3f rps=%.1f p50_us=%d p95_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d timeout=%d non2xx=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status))
end
