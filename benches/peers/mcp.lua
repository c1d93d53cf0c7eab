-- wrk script for benches/peers/run.py: POSTs MCP `tools/call` requests to a streamable HTTP
-- endpoint, cycling through a file of JSON argument objects (one per line), and checks every
-- response.
--
--   wrk -t T -c C -d 600s -s mcp.lua URL -- ARGS_FILE TOOL QUOTA_PER_THREAD
--
-- Each request gets a unique JSON-RPC id (thread number * 1e8 + counter). A response counts as
-- "ok" when it is HTTP 200 and its body holds `"structuredContent":{"results":[{` (at least one
-- hit), "empty" when it is 200 with `"results":[]`, and "bad" otherwise. A thread stops after
-- QUOTA_PER_THREAD responses (0: run for the whole -d duration) and writes `WRK-THREAD-DONE` to
-- stderr: wrk's main thread sleeps for the whole -d duration regardless, so the caller sends it
-- SIGINT once every thread is done. `done` prints one line, `WRKJSON {...}`, with the latency
-- percentiles in microseconds and the counts.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local bodies = {}
local tool = "search"
local quota = 0
local counter = 0
-- globals, so that done() can read them from each thread with thread:get
responses, ok, empty, bad = 0, 0, 0, 0
local headers = {
   ["Content-Type"] = "application/json",
   ["Accept"] = "application/json, text/event-stream",
   ["MCP-Protocol-Version"] = "2025-06-18",
}
local HIT = '"structuredContent":{"results":[{'
local EMPTY = '"results":[]'

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then table.insert(bodies, line) end
   end
   tool = args[2]
   quota = tonumber(args[3]) or 0
   -- different threads start at different queries
   counter = (tid or 0) * 17
end

function request()
   counter = counter + 1
   local arguments = bodies[counter % #bodies + 1]
   local id = (tid or 0) * 100000000 + counter
   local body = '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"'
      .. tool .. '","arguments":' .. arguments .. '}}'
   return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
   responses = responses + 1
   if status == 200 and string.find(body, HIT, 1, true) then
      ok = ok + 1
   elseif status == 200 and string.find(body, EMPTY, 1, true) then
      empty = empty + 1
   else
      bad = bad + 1
      if bad <= 3 then
         io.stderr:write("bad response: HTTP " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
      end
   end
   if quota > 0 and responses == quota then
      io.stderr:write("WRK-THREAD-DONE\n")
      io.stderr:flush()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local r, o, e, b = 0, 0, 0, 0
   for _, t in ipairs(threads) do
      r = r + (t:get("responses") or 0)
      o = o + (t:get("ok") or 0)
      e = e + (t:get("empty") or 0)
      b = b + (t:get("bad") or 0)
   end
   local errors = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"checked":%d,"ok":%d,"empty":%d,"bad":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d}}\n',
      summary.requests, summary.duration, r, o, e, b,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(95), latency:percentile(99), latency.max))
end
