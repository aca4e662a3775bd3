-- gapwatch on Redis Cluster: the per-rep export hashes of THIS node, for
-- redis_exporter's --script option with one target per master (or its
-- cluster discovery). Same output as gapwatch.lua: alternating names
-- "<tenant>|<team>|<rep>|<window>|<metric>" and values.
--
-- On a cluster the set "<prefix>:export:tenants" and most tenants' hashes
-- live on other nodes, and a script may only touch keys of the node it
-- runs on (docs/redis.md "Redis Cluster"). So each node reports the
-- export hashes "<prefix>:export:{<tenant>}" it holds itself, found by
-- SCAN; every tenant is reported by exactly one master. Dashboards
-- aggregate over `instance` (sum without (instance), or max by the
-- labels) instead of selecting one.
-- Edit PREFIX below if gapwatchd's key_prefix differs. A cluster has
-- database 0 only.
local PREFIX = 'gw'

local out = {}
local head = PREFIX .. ':export:{'
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', head .. '*}', 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local tenant = string.sub(key, #head + 1, #key - 1)
    local kv = redis.call('HGETALL', key)
    for i = 1, #kv, 2 do
      out[#out + 1] = tenant .. '|' .. kv[i]
      out[#out + 1] = kv[i + 1]
    end
  end
until cursor == '0'
return out
