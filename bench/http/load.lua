-- wrk script for bench/http/run: GET or PUT /cas/<sha256> over a pool of blobs.
--
--   wrk ... URL -- MODE DIGESTS BODIES SIZE NTHREADS TOKEN
--
-- MODE     get: each request picks a digest from the pool at random.
--          put: each thread walks its own share of the pool in order (thread i takes
--               entries i, i+N, i+2N, ...), so the first pass over the pool uploads blobs the
--               server does not have yet and later passes re-upload stored ones.
-- DIGESTS  file with one lowercase hex SHA-256 per line (the pool, in order)
-- BODIES   put: the pool's bodies concatenated in the same order, SIZE bytes each
--          (entry k is bytes [(k-1)*SIZE, k*SIZE)); get: ignored ("-")
-- SIZE     body size in bytes (put only)
-- NTHREADS the value given to wrk -t
-- TOKEN    sent as "Authorization: Bearer TOKEN" ("-": no header)
--
-- Every request is formatted once at start-up; request() only hands back a prepared string,
-- so the client spends its time on the network, not in Lua. wrk's Lua has no SHA-256: the
-- digests come from bench/http/run (sha256sum), which is why bodies and digests are files.
--
-- done() prints one line that bench/http/run parses:
--   RESULT requests=N duration_us=N bytes_read=N p50_us=N p99_us=N connect=N read=N
--          write=N status=N timeout=N

local threads_made = 0

function setup(thread)
  thread:set("tid", threads_made)
  threads_made = threads_made + 1
end

local function read_digests(path)
  local digests = {}
  for line in io.lines(path) do
    local d = line:match("^(%x+)")
    if d and #d == 64 then
      digests[#digests + 1] = d
    end
  end
  return digests
end

function init(args)
  local mode, digests_path, bodies_path = args[1], args[2], args[3]
  local size, nthreads, token = tonumber(args[4]), tonumber(args[5]), args[6]
  local headers = {}
  if token and token ~= "-" then
    headers["Authorization"] = "Bearer " .. token
  end
  local digests = read_digests(digests_path)
  assert(#digests > 0, "no digests in " .. digests_path)
  reqs = {}
  if mode == "get" then
    for i, d in ipairs(digests) do
      reqs[i] = wrk.format("GET", "/cas/" .. d, headers)
    end
    random_pick = true
    math.randomseed(os.time() * 16 + (tid or 0))
  elseif mode == "put" then
    local f = assert(io.open(bodies_path, "rb"))
    for k = (tid or 0) + 1, #digests, nthreads do
      assert(f:seek("set", (k - 1) * size))
      local body = f:read(size)
      assert(body and #body == size, "short read from " .. bodies_path)
      headers["Content-Type"] = "application/octet-stream"
      reqs[#reqs + 1] = wrk.format("PUT", "/cas/" .. digests[k], headers, body)
    end
    f:close()
    random_pick = false
  else
    error("mode must be get or put, not " .. tostring(mode))
  end
  nreqs = #reqs
  assert(nreqs > 0, "thread " .. tostring(tid) .. " has no share of the pool")
  pos = 0
end

function request()
  if random_pick then
    return reqs[math.random(nreqs)]
  end
  pos = pos % nreqs + 1
  return reqs[pos]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes_read=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
