-- gapwatch: the per-rep export hashes for redis_exporter's --script option.
--
-- Returns alternating names and values (like HGETALL); redis_exporter turns
-- each pair into redis_script_values{key="<name>"} <value>, and Prometheus'
-- metric_relabel_configs (deploy/prometheus/prometheus.yml) split the name
-- "<tenant>|<team>|<rep>|<window>|<metric>" into labels of gapwatch_rep.
--
-- gapwatchd keeps one hash per tenant, "<prefix>:export:{<tenant>}", whose
-- fields are "<team>|<rep>|<window>|<metric>" and whose values are always
-- numbers, and lists the tenants in the set "<prefix>:export:tenants".
-- Edit PREFIX and DB below if gapwatchd's key_prefix or redis.db differ.
--
-- The database is selected explicitly: redis_exporter 1.45 may run the
-- script on a connection left on another database.
local PREFIX = 'gw'
local DB = 0

redis.call('SELECT', DB)
local out = {}
local tenants = redis.call('SMEMBERS', PREFIX .. ':export:tenants')
for _, tenant in ipairs(tenants) do
  local kv = redis.call('HGETALL', PREFIX .. ':export:{' .. tenant .. '}')
  for i = 1, #kv, 2 do
    out[#out + 1] = tenant .. '|' .. kv[i]
    out[#out + 1] = kv[i + 1]
  end
end
return out
