-- gapwatch positions: where each partition's consumption resumes, and the
-- partition's stream time there. Only moves forward, so an instance that
-- lost a partition in a rebalance cannot move it back.
--
-- The deployment epoch (field "epoch", a random id) is checked here, once
-- per batch and atomically with the positions: a caller that already knows
-- the epoch and finds it missing or different is writing to a Redis that
-- lost gapwatch's data (restarted without persistence, flushed), and gets
-- the error "GWLOST ..." instead of a write. A caller that knows no epoch
-- yet creates it (first write of a deployment) or adopts the recorded one.
--
-- KEYS[1] positions hash  "<p>" -> next offset, "wm:<p>" -> stream time (ms),
--                         "epoch" -> deployment epoch
-- ARGV: expected epoch ("" unknown), new epoch (used when none is recorded
--       and none is expected), n, {partition, next_offset, stream_ms} * n
-- Returns {partitions moved, epoch}.
local expected, fresh = ARGV[1], ARGV[2]
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if expected ~= '' and epoch ~= expected then
  return redis.error_reply('GWLOST epoch ' .. expected .. ' of ' .. KEYS[1] .. ' is ' ..
                           (epoch and ('replaced by ' .. epoch) or 'missing'))
end
if not epoch then
  epoch = fresh
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local n = tonumber(ARGV[3])
local moved = 0
for i = 0, n - 1 do
  local p, nxt, wm = ARGV[4 + 3 * i], tonumber(ARGV[5 + 3 * i]), ARGV[6 + 3 * i]
  local cur = tonumber(redis.call('HGET', KEYS[1], p) or '-1')
  if nxt > cur then
    redis.call('HSET', KEYS[1], p, string.format('%.0f', nxt), 'wm:' .. p, wm)
    moved = moved + 1
  end
end
return {moved, epoch}
