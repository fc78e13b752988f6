-- The system benchmark's load generator inside wrk (one wrk process per target; bench/system/load.ts runs it).
-- Each wrk thread has one connection (so its answers come back in order and it can time each one) and posts
-- every C-th of the target's prepared requests (C threads), each when it is due: an open load that falls behind
-- only while a thread's previous request is unanswered.
--
-- Environment: WRK_REQUESTS (file: one request a line, "<due: ms after WRK_T0>\t<header value>\t<body>"),
-- WRK_HEADER (that header's name), WRK_T0 (ms since the epoch), WRK_THREADS (wrk's -t and -c), WRK_OUT (JSON
-- written by done()).
-- Output: { sent: [k, ms since the epoch, …], acks: [ms, …], statuses: { "200": n }, errors, timeouts }.
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

-- Main state: number the threads, collect their records when the run ends.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

-- Thread state.
local t0, mine, next, started, due
sent, acks, statuses = {}, {}, {}

function init()
  t0 = tonumber(os.getenv("WRK_T0"))
  local every = tonumber(os.getenv("WRK_THREADS"))
  local header = os.getenv("WRK_HEADER")
  mine, next = {}, 1
  local k = 0
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    if k % every == id then
      local a = line:find("\t", 1, true)
      local b = line:find("\t", a + 1, true)
      local headers = { ["Content-Type"] = "application/json", [header] = line:sub(a + 1, b - 1) }
      mine[#mine + 1] = { k = k, at = t0 + tonumber(line:sub(1, a - 1)), request = wrk.format("POST", nil, headers, line:sub(b + 1)) }
    end
    k = k + 1
  end
end

function delay()
  local r = mine[next]
  if r == nil then
    wrk.thread:stop()
    return 60000
  end
  due = true
  return math.max(0, math.floor(r.at - now()))
end

-- wrk asks each thread for one request before the run to check it (no delay() before that call): it is not sent.
function request()
  local r = mine[next]
  if not due then return r.request end
  due = false
  next = next + 1
  started = now()
  sent[#sent + 1] = r.k
  sent[#sent + 1] = started
  return r.request
end

function response(status)
  acks[#acks + 1] = now() - started
  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
end

function done(summary)
  local out = io.open(os.getenv("WRK_OUT"), "w")
  local e = summary.errors
  out:write('{"errors":', e.connect + e.read + e.write, ',"timeouts":', e.timeout, ',"sent":[')
  local first = true
  local function list(values)
    for _, v in ipairs(values) do
      out:write(first and "" or ",", string.format("%.3f", v))
      first = false
    end
  end
  for _, t in ipairs(threads) do list(t:get("sent")) end
  out:write('],"acks":[')
  first = true
  for _, t in ipairs(threads) do list(t:get("acks")) end
  out:write('],"statuses":{')
  local total = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("statuses")) do total[s] = (total[s] or 0) + n end
  end
  first = true
  for s, n in pairs(total) do
    out:write(first and "" or ",", '"', s, '":', n)
    first = false
  end
  out:write("}}")
  out:close()
end
