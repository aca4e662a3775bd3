-- gapwatch alerts: the lifecycle state of one rep's alerts in one window,
-- changed only by compare-and-set, so two instances (or a restarted one)
-- never both decide to send the same message.
--
-- KEYS[1] alert state hash "<prefix>:{tenant:rep}:alerts:<window>":
--   version, and per alert kind k: k.phase, k.since, k.clear, k.last_sent,
--   k.starts_at, k.seq, k.msgno, k.delivered, k.payload (the last decided
--   GapAlert protobuf)
--
-- ARGV[1] mode.
-- "cas": expected_version, ttl_ms, then field, value pairs. Writes them and
--   bumps version only if version is still expected_version (missing = 0).
--   Returns 1 when written, 0 when another writer got there first.
-- "ack": kind, msgno. Records that the broker took message msgno of kind k,
--   unless a newer message was decided since. Returns 1 or 0.
local mode = ARGV[1]
if mode == 'cas' then
  local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
  if current ~= tonumber(ARGV[2]) then
    return 0
  end
  local args = {}
  for i = 4, #ARGV do
    args[#args + 1] = ARGV[i]
  end
  if #args > 0 then
    redis.call('HSET', KEYS[1], unpack(args))
  end
  redis.call('HSET', KEYS[1], 'version', current + 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
elseif mode == 'ack' then
  local k, msgno = ARGV[2], ARGV[3]
  if redis.call('HGET', KEYS[1], k .. '.msgno') ~= msgno then
    return 0
  end
  local delivered = tonumber(redis.call('HGET', KEYS[1], k .. '.delivered') or '0')
  if delivered < tonumber(msgno) then
    redis.call('HSET', KEYS[1], k .. '.delivered', msgno)
  end
  return 1
end
return redis.error_reply('alerts.lua: unknown mode ' .. tostring(mode))
