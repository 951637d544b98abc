-- wrk script: teller JSON-RPC inquiries or payments, judged like iso8583d-client.
--
--   wrk -t1 -c100 -d4s -s rpc.lua http://127.0.0.1:7000/rpc -- inquiry FILE
--   wrk -t1 -c100 -d4s -s rpc.lua http://127.0.0.1:7000/rpc -- payment FILE
--
-- FILE: one invoice id per line, optionally followed by the amount due.
-- inquiry: round robin over the ids. payment: every request pays the next
-- unpaid invoice of the file with the amount of its line and an NTB of its
-- own, so no bill is paid twice; when the file is used up the requests turn
-- into inquiries of the last invoice and are counted apart (`spare`), and the
-- run says so (`exhausted`).
-- A response counts as ok when it is HTTP 200 with bit 39 "00" in its data
-- (the teller answers with json.dumps' default separators). done() prints one
-- line "JSON {...}" with the counts and latency percentiles in microseconds.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local method, ids, amounts, next_index, sent
ok, failed, spare, exhausted = 0, 0, 0, 0

function init(args)
  method = args[1]
  ids, amounts = {}, {}
  for line in io.lines(args[2]) do
    local invoice, amount = line:match("^(%d+)%s*(%d*)")
    if invoice then
      table.insert(ids, invoice)
      table.insert(amounts, amount)
    end
  end
  -- With several wrk threads each takes every n-th line, from its own offset.
  local nthreads = tonumber(args[3] or "1")
  next_index, step = id, nthreads
  sent = 0
end

local function body_of(m, params)
  sent = sent + 1
  return '{"jsonrpc":"2.0","id":' .. sent .. ',"method":"' .. m ..
         '","params":[' .. params .. ']}'
end

local headers = {["Content-Type"] = "application/json"}

function request()
  local i
  if method == "payment" then
    i = next_index
    if i > #ids then
      exhausted = 1
      return wrk.format("POST", nil, headers, body_of("inquiry",
        '{"invoice_id":"' .. ids[#ids] .. '"}'))
    end
    next_index = next_index + step
    return wrk.format("POST", nil, headers, body_of("payment",
      '{"invoice_id":"' .. ids[i] .. '","amount":' .. amounts[i] ..
      ',"ntb":"W' .. id .. '-' .. sent .. '","stan":"000000"}'))
  end
  i = (sent % #ids) + 1
  return wrk.format("POST", nil, headers, body_of("inquiry",
    '{"invoice_id":"' .. ids[i] .. '"}'))
end

function response(status, headers, body)
  if method == "payment" and body:find('"541019"', 1, true) == nil then
    spare = spare + 1
  elseif status == 200 and body:find('"39": "00"', 1, true) then
    ok = ok + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local t_ok, t_failed, t_spare, t_exhausted = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    t_ok = t_ok + thread:get("ok")
    t_failed = t_failed + thread:get("failed")
    t_spare = t_spare + thread:get("spare")
    t_exhausted = math.max(t_exhausted, thread:get("exhausted"))
  end
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"ok":%d,"failed":%d,"spare":%d,' ..
    '"exhausted":%s,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d},"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, t_ok, t_failed, t_spare,
    t_exhausted == 1 and "true" or "false", e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
