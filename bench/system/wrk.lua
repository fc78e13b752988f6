-- The system benchmark's load generator inside wrk (one wrk process per target; bench/system/load.ts runs it).
-- Each wrk thread has one connection (so its answers come back in order and it can time each one) and posts
-- every C-th of the target's prepared requests (C threads), each when it is due: an open load that falls behind
-- only while a thread's previous request is unanswered (wrk never gives up on an answer: the requests queued behind
-- one that never comes are not sent, and load.ts reports them as unsent).
--
-- Environment: WRK_REQUESTS (file: one request a line, "<due: ms after WRK_T0>\t<header value>\t<body>"),
-- WRK_HEADER (that header's name), WRK_T0 (ms since the epoch), WRK_THREADS (wrk's -t and -c), WRK_OUT (prefix of
-- the output files).
-- Output: each thread appends to WRK_OUT.<thread> a line "s <k> <ms since the epoch>" per request sent and
-- "a <k> <ms> <status>" per answer (flushed when wrk exits); done() writes WRK_OUT.json with the socket errors.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } aideazz_timespec;
int clock_gettime(int clock, aideazz_timespec *tp);
]]
local ts = ffi.new("aideazz_timespec")
local function now()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME: the same clock as the fakes' and the bench's
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

-- Main state: number the threads.
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

-- Thread state.
local mine, next, current, started, out
local running = false

function init()
  local t0 = tonumber(os.getenv("WRK_T0"))
  local every = tonumber(os.getenv("WRK_THREADS"))
  local header = os.getenv("WRK_HEADER")
  mine, next = {}, 1
  local k = 0
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    if k % every == id then
      local a = line:find("\t", 1, true)
      local b = line:find("\t", a + 1, true)
      local headers = { ["Content-Type"] = "application/json", [header] = line:sub(a + 1, b - 1) }
      local at = t0 + tonumber(line:sub(1, a - 1))
      mine[#mine + 1] = { k = k, at = at, request = wrk.format("POST", nil, headers, line:sub(b + 1)) }
    end
    k = k + 1
  end
  out = io.open(os.getenv("WRK_OUT") .. "." .. id, "w")
end

function delay()
  running = true
  local r = mine[next]
  if r == nil then
    wrk.thread:stop()
    return 60000
  end
  return math.max(0, math.ceil(r.at - now()))
end

-- Before the run wrk asks thread 0 for one request to check it (no delay() before it): that one is not sent.
-- After a dropped connection wrk asks for the next request without delay(): it is sent at once, and recorded.
function request()
  local r = mine[next]
  if not running then return r.request end
  next = next + 1
  current, started = r.k, now()
  out:write("s ", r.k, " ", string.format("%.3f", started), "\n")
  return r.request
end

function response(status)
  out:write("a ", current, " ", string.format("%.3f", now() - started), " ", status, "\n")
end

function done(summary)
  local e = summary.errors
  local f = io.open(os.getenv("WRK_OUT") .. ".json", "w")
  f:write('{"errors":', e.connect + e.read + e.write, ',"timeouts":', e.timeout, "}")
  f:close()
end
