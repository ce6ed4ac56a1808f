-- wrk PUTs of a 100-byte body on /v1/cache/{key} over KEYS keys, DEPTH requests pipelined per
-- write. Args: wrk ... -s wrk-put.lua URL -- DEPTH KEYS
local batches = {}
local n = 0
init = function(args)
  local depth = tonumber(args[1] or "1")
  local keys = tonumber(args[2] or "1000")
  local body = string.rep("v", 100)
  local headers = { ["Content-Type"] = "application/octet-stream" }
  for b = 1, 64 do
    local r = {}
    for i = 1, depth do r[i] = wrk.format("PUT", "/v1/cache/bk:" .. math.random(0, keys - 1), headers, body) end
    batches[b] = table.concat(r)
  end
end
request = function()
  n = n % 64 + 1
  return batches[n]
end
