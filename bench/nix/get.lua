-- wrk script for bench/nix/run: GET over a list of URL paths, one picked at random per
-- request (the narinfo test passes the 500 narinfo paths, the nar test a single path).
--
--   wrk ... URL -- PATHS
--
-- PATHS    file with one absolute URL path per line (e.g. /nix/<hash32>.narinfo)
--
-- No Authorization header: both caches are read anonymously, as a substituter would.
-- Every request is formatted once at start-up, so the client's time goes to the network.
-- done() prints the same RESULT line as bench/http/load.lua:
--   RESULT requests=N duration_us=N bytes_read=N p50_us=N p99_us=N connect=N read=N
--          write=N status=N timeout=N

local threads_made = 0

function setup(thread)
  thread:set("tid", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  reqs = {}
  for line in io.lines(args[1]) do
    if line:sub(1, 1) == "/" then
      reqs[#reqs + 1] = wrk.format("GET", line)
    end
  end
  nreqs = #reqs
  assert(nreqs > 0, "no paths in " .. tostring(args[1]))
  math.randomseed(os.time() * 16 + (tid or 0))
end

function request()
  return reqs[math.random(nreqs)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes_read=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
