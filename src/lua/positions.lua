-- gapwatch positions: where each partition's consumption resumes, and the
-- partition's stream time there. Only moves forward, so an instance that
-- lost a partition in a rebalance cannot move it back.
--
-- KEYS[1] positions hash  "<p>" -> next offset, "wm:<p>" -> stream time (ms)
-- ARGV: n, {partition, next_offset, stream_ms} * n
-- Returns the number of partitions moved.
local n = tonumber(ARGV[1])
local moved = 0
for i = 0, n - 1 do
  local p, nxt, wm = ARGV[2 + 3 * i], tonumber(ARGV[3 + 3 * i]), ARGV[4 + 3 * i]
  local cur = tonumber(redis.call('HGET', KEYS[1], p) or '-1')
  if nxt > cur then
    redis.call('HSET', KEYS[1], p, string.format('%.0f', nxt), 'wm:' .. p, wm)
    moved = moved + 1
  end
end
return moved
