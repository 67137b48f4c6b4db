-- wrk script: POST AdmissionReview bodies to the URL's path, in turn, and count bad answers.
--
--   wrk -c 32 -d 8s -s bench/wrk/reviews.lua https://127.0.0.1:PORT/mutate -- pods.jsonl
--
-- The argument is a JSON-lines file, one encoded AdmissionReview per line (what
-- bench.reviews.write_bodies writes). Each thread sends them in order, starting at its own
-- offset. An answer that is not HTTP 200, or whose body does not contain "allowed", is a
-- bad answer; done() prints one line of JSON with the counts (bench/wrkload.py reads it).
-- wrk does not verify the server's certificate: the servers here are on loopback with a
-- self-signed CA, and only their throughput is measured.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
bad_status = 0
not_allowed = 0
first_bad = ""

function init(args)
  local path = args[1]
  if path == nil then
    error("reviews.lua: pass the JSON-lines file of review bodies after --")
  end
  local file = assert(io.open(path, "rb"))
  local headers = { ["Content-Type"] = "application/json" }
  for line in file:lines() do
    if #line > 0 then
      table.insert(requests, wrk.format("POST", nil, headers, line))
    end
  end
  file:close()
  if #requests == 0 then
    error("reviews.lua: no review bodies in " .. path)
  end
  counter = (id * 97) % #requests + 1
end

function request()
  local chosen = requests[counter]
  counter = counter % #requests + 1
  return chosen
end

function response(status, headers, body)
  local bad = false
  if status ~= 200 then
    bad_status = bad_status + 1
    bad = true
  elseif body == nil or not string.find(body, '"allowed"', 1, true) then
    not_allowed = not_allowed + 1
    bad = true
  end
  if bad and first_bad == "" then
    first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
  end
end

local function quoted(text)
  local escaped = string.gsub(text, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. escaped .. '"'
end

function done(summary, latency, requests)
  local bad, not_ok, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("bad_status")
    not_ok = not_ok + thread:get("not_allowed")
    if sample == "" then
      sample = thread:get("first_bad")
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "bad_status": %d, "not_allowed": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"latency_us": {"p50": %d, "p99": %d, "max": %d}, "first_bad": %s}\n',
    summary.requests, summary.duration, summary.bytes, bad, not_ok,
    errors.connect, errors.read, errors.write, errors.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99)),
    math.floor(latency.max), quoted(sample)))
end
