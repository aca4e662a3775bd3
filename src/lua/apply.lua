-- gapwatch apply: one entity's (rep's or team's) increments of one batch,
-- applied together with the offsets they cover. Effectively once: a part
-- (topic/partition range) whose offsets are already recorded is skipped.
--
-- KEYS[1] offsets hash  "<topic>/<partition>" -> last applied offset
-- KEYS[2] meta hash     team, first_ms
-- KEYS[2w+1], KEYS[2w+2] totals and buckets hash of window w (w = 1..W)
--
-- ARGV[1] ttl_ms, ARGV[2] mode.
--
-- mode "apply": then nparts, {part, min_offset, max_offset} * nparts,
--       team ('' for a team entity), first_ms, wm_ms,
--       then per window: bucket_ms, nbuckets, grace_ms, late, ncells,
--                        {bucket, field, value} * ncells
--   Returns {0} already applied, {1} applied, or {2, part, stored, ...} when
--   some offsets of this delta were applied before and others not (batch
--   boundaries differ after a crash): nothing is written and the caller
--   resends only the events after each part's stored offset.
--
-- mode "read": then wm_ms, then per window: bucket_ms, nbuckets, grace_ms.
--   Slides every window of an existing entity to wm_ms (the evaluation
--   watermark; never backwards) and returns {meta, totals_1, ..., totals_W},
--   each a flat field/value list. An entity that does not exist is not
--   created.
--
-- Window rule (mirrors gw_window.h): at watermark wm the window holds every
-- bucket >= floor((wm - grace) / bucket_ms) - nbuckets + 1. Buckets below
-- leave the totals when wm moves; increments for them are not applied.
local a = 1
local function arg()
  local v = ARGV[a]
  a = a + 1
  return v
end
local function num()
  return tonumber(arg())
end
-- Lua 5.1's tostring() prints large integers in exponent form.
local function fmt(x)
  return string.format('%.0f', x)
end

-- Moves window (tot, bkt) from its stored watermark to `wm` (never back):
-- buckets that leave are subtracted from the totals and deleted. Returns the
-- watermark now in force and the first bucket inside the window.
local function slide(tot, bkt, wm, B, N, G)
  local old = tonumber(redis.call('HGET', tot, 'wm') or '')
  local new = wm
  if old and old > new then
    new = old
  end
  local start = math.floor((new - G) / B) - N + 1
  if old and new > old then
    local ostart = math.floor((old - G) / B) - N + 1
    if start > ostart then
      local metrics = {}
      for _, f in ipairs(redis.call('HKEYS', tot)) do
        if f ~= 'wm' and f ~= 'late' then
          metrics[#metrics + 1] = f
        end
      end
      if #metrics > 0 then
        if start > math.floor(old / B) then
          -- every bucket that can hold data has left: drop them all
          redis.call('DEL', bkt)
          redis.call('HDEL', tot, unpack(metrics))
        else
          for b = ostart, start - 1 do
            local pfx = fmt(b * B) .. '|'
            local fields = {}
            for i, f in ipairs(metrics) do
              fields[i] = pfx .. f
            end
            local vals = redis.call('HMGET', bkt, unpack(fields))
            local any = false
            for i = 1, #metrics do
              local v = vals[i]
              if v then
                any = true
                if redis.call('HINCRBY', tot, metrics[i], -tonumber(v)) == 0 then
                  redis.call('HDEL', tot, metrics[i])
                end
              end
            end
            if any then
              redis.call('HDEL', bkt, unpack(fields))
            end
          end
        end
      end
    end
  end
  return new, start
end

local ttl = num()
local mode = arg()
local nwin = (#KEYS - 2) / 2

if mode == 'read' then
  local wm = num()
  local out = {redis.call('HGETALL', KEYS[2])}
  for w = 1, nwin do
    local tot, bkt = KEYS[2 * w + 1], KEYS[2 * w + 2]
    local B, N, G = num(), num(), num()
    if redis.call('EXISTS', tot) == 1 then
      local new = slide(tot, bkt, wm, B, N, G)
      redis.call('HSET', tot, 'wm', fmt(new))
    end
    out[#out + 1] = redis.call('HGETALL', tot)
  end
  return out
end

local nparts = num()
local names, highs, stored = {}, {}, {}
local fresh, done = 0, 0
for i = 1, nparts do
  local name, lo, hi = arg(), num(), num()
  local s = tonumber(redis.call('HGET', KEYS[1], name) or '-1')
  if s >= hi then
    done = done + 1
  elseif s < lo then
    fresh = fresh + 1
  end
  names[i], highs[i], stored[i] = name, hi, s
end
if done == nparts then
  return {0}
end
if fresh < nparts then
  local r = {2}
  for i = 1, nparts do
    r[#r + 1] = names[i]
    r[#r + 1] = fmt(stored[i])
  end
  return r
end

local team, first_ms, wm = arg(), num(), num()
if team ~= '' then
  redis.call('HSET', KEYS[2], 'team', team)
end
local f0 = tonumber(redis.call('HGET', KEYS[2], 'first_ms') or '')
if not f0 or first_ms < f0 then
  redis.call('HSET', KEYS[2], 'first_ms', fmt(first_ms))
end
redis.call('PEXPIRE', KEYS[2], ttl)

for w = 1, nwin do
  local tot, bkt = KEYS[2 * w + 1], KEYS[2 * w + 2]
  local B, N, G, late, ncells = num(), num(), num(), num(), num()
  local new, start = slide(tot, bkt, wm, B, N, G)
  for _ = 1, ncells do
    local b, f, v = num(), arg(), arg()
    if b >= start then
      redis.call('HINCRBY', bkt, fmt(b * B) .. '|' .. f, v)
      redis.call('HINCRBY', tot, f, v)
    end
  end
  redis.call('HSET', tot, 'wm', fmt(new))
  if late > 0 then
    redis.call('HINCRBY', tot, 'late', late)
  end
  redis.call('PEXPIRE', tot, ttl)
  redis.call('PEXPIRE', bkt, ttl)
end

for i = 1, nparts do
  redis.call('HSET', KEYS[1], names[i], fmt(highs[i]))
end
redis.call('PEXPIRE', KEYS[1], ttl)
return {1}
