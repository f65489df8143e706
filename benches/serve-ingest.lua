-- wrk script for benches/serve.sh: each request posts RUNS new runs (unique execution, trace
-- and span ids) to POST /api/v1/events, as a runner's outbox sends a batch.
local runs = tonumber(os.getenv("RUNS") or "1")
local key = os.getenv("KEY")
local counter = 0
-- COMMANDS > 0 draws each run's command from that many, as a team runs the same commands
-- again and again; 0 gives every run a command of its own (each run a group of its own in
-- the report's kept figures, their worst case).
local commands = tonumber(os.getenv("COMMANDS") or "0")

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

local function hex(n)
  local out = {}
  for i = 1, n do out[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(out)
end

local function command_hash()
  if commands > 0 then
    return string.format("%064x", math.random(1, commands))
  end
  return hex(64)
end

request = function()
  local events = {}
  for i = 1, runs do
    counter = counter + 1
    local id = hex(8) .. "-" .. hex(4) .. "-" .. string.format("%012x", counter)
    events[#events + 1] = string.format(
      '{"type":"execution","data":{"execution_id":"%s","timestamp":"2026-12-01T10:00:00.000Z",'
      .. '"trace_id":"%s","span_id":"%s","command_hash":"%s","executable":"cargo",'
      .. '"pattern":"error","exit_code":1,"exit_reason":"match","outcome":"failure",'
      .. '"total_runtime":12.5,"match_count":1,"lines_processed":400,"bytes_processed":32000,'
      .. '"project_type":"rust","command_category":"test"}},'
      .. '{"type":"match_event","data":{"execution_id":"%s","match_number":1,'
      .. '"timestamp_offset":3.25,"stream_source":"stderr","line_number":87}}',
      id, hex(32), hex(16), command_hash(), id)
  end
  local body = '{"api_version":"1.0","events":[' .. table.concat(events, ",")
    .. '],"client":{"version":"bench","platform":"linux","anonymized":true}}'
  return wrk.format("POST", "/api/v1/events",
    {["Content-Type"] = "application/json", ["X-API-Key"] = key}, body)
end
