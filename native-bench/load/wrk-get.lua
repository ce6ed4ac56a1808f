-- wrk GET hits on /v1/cache/{key}: keys bk:0 .. bk:(KEYS-1) (preloaded by bench.mjs), DEPTH
-- requests pipelined per write (wrk counts each response). Args: wrk ... -s wrk-get.lua URL -- DEPTH KEYS
local batches = {}
local n = 0
init = function(args)
  local depth = tonumber(args[1] or "1")
  local keys = tonumber(args[2] or "1000")
  for b = 1, 64 do
    local r = {}
    for i = 1, depth do r[i] = wrk.format("GET", "/v1/cache/bk:" .. math.random(0, keys - 1)) end
    batches[b] = table.concat(r)
  end
end
request = function()
  n = n % 64 + 1
  return batches[n]
end
