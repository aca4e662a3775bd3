-- gapwatch apply: the increments of one batch for one or more entities
-- (reps or teams), each applied together with the offsets it covers.
-- Effectively once: a part (topic/partition range) whose offsets are
-- already recorded is skipped.
--
-- Keys of entity e (W windows, K = 1 + 2W keys each, in KEYS order):
--   state                  hash: "o:<topic>/<partition>" -> last applied
--                          offset, "wm:<window>" -> the window's watermark,
--                          first_ms, team, exp (when the keys' TTL runs out)
--   totals_w, buckets_w    hashes of window w (w = 1..W); bucket fields are
--                          "<bucket start ms>|<field>"
-- All keys of one entity share its hash tag. On Redis Cluster the client
-- sends one entity per call; on a standalone Redis, many.
--
-- ARGV[1] ttl_ms, ARGV[2] now_ms (wall clock), ARGV[3] mode, ARGV[4] W,
-- then the window parameters once: {name, bucket_ms, nbuckets, grace_ms} * W.
--
-- mode "apply": then the number of entities, and per entity:
--       nparts, {"o:<topic>/<partition>", min_offset, max_offset} * nparts,
--       team ('' for a team entity), first_ms, wm_ms,
--       then per window: late, nsums, {metric, sum} * nsums,
--                        ncells, lowest bucket of the cells,
--                        {"<bucket start ms>|<metric>", value} * ncells
--   Returns one reply per entity, flattened: 0 already applied, 1 applied,
--   or -n followed by n pairs {"o:<topic>/<partition>", stored} when some
--   offsets of the delta were applied before and others not (batch
--   boundaries differ after a crash): nothing of that entity is written and
--   the caller re-sends only the events after each part's stored offset.
--
-- mode "read": then wm_ms. One entity (its K keys). Slides every window of
--   an existing entity to wm_ms (the evaluation watermark; never backwards)
--   and returns {state, totals_1, ..., totals_W}, each a flat field/value
--   list. A missing entity is not created.
--
-- Window rule (mirrors gw_window.h): at watermark wm the window holds every
-- bucket >= floor((wm - grace) / bucket_ms) - nbuckets + 1. Buckets below
-- leave the totals when wm moves; increments for them are not applied.
--
-- Cost: every redis.call costs about a microsecond, and converting numbers
-- to or from text in Lua costs about as much (Lua numbers are doubles,
-- printed with printf). So the common path reads and writes the state once
-- per entity and passes the client's text straight into HINCRBY, which
-- Redis parses in C: the client names every bucket field, sums each metric
-- per window and sends the lowest bucket, so the script only compares
-- numbers when a cell may lie outside the window. Sliding (rare: when a
-- watermark crosses a bucket boundary) reads the totals and leaving buckets.
local a = 4
local function arg()
  local v = ARGV[a]
  a = a + 1
  return v
end
local function num()
  return tonumber(arg())
end
local function int(x)
  return string.format('%d', x)
end

local ttl, now, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local W = num()
local wname, wB, wN, wG = {}, {}, {}, {}
for w = 1, W do
  wname[w], wB[w], wN[w], wG[w] = arg(), num(), num(), num()
end
local K = 1 + 2 * W

local function start_of(w, wm)
  return math.floor((wm - wG[w]) / wB[w]) - wN[w] + 1
end

-- Moves window w of an entity (totals tot, buckets bkt) from watermark
-- `old` to `new` (> old): buckets that leave are subtracted from the totals
-- and deleted; totals that reach zero are removed. Returns true when the
-- buckets hash was deleted whole.
local function slide(w, tot, bkt, old, new)
  local ostart, start = start_of(w, old), start_of(w, new)
  if start <= ostart then
    return false
  end
  local kv = redis.call('HGETALL', tot)
  local metrics, values = {}, {}
  for i = 1, #kv, 2 do
    if kv[i] ~= 'late' then
      metrics[#metrics + 1] = kv[i]
      values[#values + 1] = tonumber(kv[i + 1])
    end
  end
  if #metrics == 0 then
    return false
  end
  if start > math.floor(old / wB[w]) then
    -- every bucket that can hold data has left
    redis.call('DEL', bkt)
    redis.call('HDEL', tot, unpack(metrics))
    return true
  end
  local fields = {}
  for b = ostart, start - 1 do
    local pfx = int(b * wB[w]) .. '|'
    for _, f in ipairs(metrics) do
      fields[#fields + 1] = pfx .. f
    end
  end
  local vals = redis.call('HMGET', bkt, unpack(fields))
  local nm, present, changed = #metrics, {}, {}
  for i = 1, #fields do
    local v = vals[i]
    if v then
      local m = (i - 1) % nm + 1
      values[m] = values[m] - tonumber(v)
      changed[m] = true
      present[#present + 1] = fields[i]
    end
  end
  if #present > 0 then
    redis.call('HDEL', bkt, unpack(present))
  end
  local set, del = {}, {}
  for m, _ in pairs(changed) do
    if values[m] == 0 then
      del[#del + 1] = metrics[m]
    else
      set[#set + 1] = metrics[m]
      set[#set + 1] = int(values[m])
    end
  end
  if #set > 0 then
    redis.call('HSET', tot, unpack(set))
  end
  if #del > 0 then
    redis.call('HDEL', tot, unpack(del))
  end
  return false
end

if mode == 'read' then
  local wm = num()
  local want = {}
  for w = 1, W do
    want[w] = 'wm:' .. wname[w]
  end
  local wms = redis.call('HMGET', KEYS[1], unpack(want))
  local set = {}
  for w = 1, W do
    local old = tonumber(wms[w])
    if old and wm > old then
      slide(w, KEYS[2 * w], KEYS[2 * w + 1], old, wm)
      set[#set + 1] = want[w]
      set[#set + 1] = int(wm)
    end
  end
  if #set > 0 then
    redis.call('HSET', KEYS[1], unpack(set))
  end
  local out = {redis.call('HGETALL', KEYS[1])}
  for w = 1, W do
    out[#out + 1] = redis.call('HGETALL', KEYS[2 * w])
  end
  return out
end

-- The state fields every apply reads, before the entity's offsets.
local wmf = {}
for w = 1, W do
  wmf[w] = 'wm:' .. wname[w]
end

-- Applies the next entity of ARGV whose keys start at KEYS[base + 1].
local function apply_entity(base, out)
  local state = KEYS[base + 1]
  local nparts = num()
  local names, lows, highs, htext = {}, {}, {}, {}
  local want = {'first_ms', 'exp'}
  for w = 1, W do
    want[2 + w] = wmf[w]
  end
  for i = 1, nparts do
    names[i], lows[i], htext[i] = arg(), num(), arg()
    highs[i] = tonumber(htext[i])
    want[2 + W + i] = names[i]
  end
  local team, ftext, wtext = arg(), arg(), arg()
  local first_ms, wm = tonumber(ftext), tonumber(wtext)
  local st = redis.call('HMGET', state, unpack(want))
  local fresh, done, stored = 0, 0, {}
  for i = 1, nparts do
    local s = tonumber(st[2 + W + i] or '-1')
    if s >= highs[i] then
      done = done + 1
    elseif s < lows[i] then
      fresh = fresh + 1
    end
    stored[i] = s
  end
  if fresh < nparts then
    -- skip this entity's windows in ARGV
    for _ = 1, W do
      a = a + 1
      local nsums = num()
      a = a + 2 * nsums
      local ncells = num()
      a = a + 1 + 2 * ncells
    end
    if done == nparts then
      out[#out + 1] = 0
    else
      out[#out + 1] = -nparts
      for i = 1, nparts do
        out[#out + 1] = names[i]
        out[#out + 1] = int(stored[i])
      end
    end
    return
  end

  local f0, exp = tonumber(st[1]), tonumber(st[2])
  -- TTL: every key of the entity expires `ttl` after it was last refreshed;
  -- refreshing at half-life keeps the calls off the common path.
  local refresh = (not exp) or (exp - now < ttl / 2)
  local set = {}
  for i = 1, nparts do
    set[#set + 1] = names[i]
    set[#set + 1] = htext[i]
  end
  if team ~= '' then
    set[#set + 1] = 'team'
    set[#set + 1] = team
  end
  if not f0 or first_ms < f0 then
    set[#set + 1] = 'first_ms'
    set[#set + 1] = ftext
  end
  for w = 1, W do
    local tot, bkt = KEYS[base + 2 * w], KEYS[base + 2 * w + 1]
    local old = tonumber(st[2 + w])
    local new = wm
    if old and old > new then
      new = old
    end
    local emptied = false
    if old and new > old then
      emptied = slide(w, tot, bkt, old, new)
    end
    if new ~= old then
      set[#set + 1] = wmf[w]
      set[#set + 1] = wtext
    end
    local start = start_of(w, new)
    local late, nsums = num(), num()
    local sums_at = a
    a = a + 2 * nsums
    local ncells, lowest = num(), num()
    if ncells > 0 and lowest >= start then
      -- every cell is inside the window: pass the text through
      for _ = 1, ncells do
        redis.call('HINCRBY', bkt, ARGV[a], ARGV[a + 1])
        a = a + 2
      end
      for i = 0, nsums - 1 do
        redis.call('HINCRBY', tot, ARGV[sums_at + 2 * i], ARGV[sums_at + 2 * i + 1])
      end
    elseif ncells > 0 then
      -- some cells' buckets left the window already: those are not
      -- counted (rare: only right after a watermark crossed a boundary)
      local excluded = {}
      for _ = 1, ncells do
        local f, v = arg(), arg()
        local bar = string.find(f, '|', 1, true)
        if tonumber(string.sub(f, 1, bar - 1)) / wB[w] >= start then
          redis.call('HINCRBY', bkt, f, v)
        else
          local m = string.sub(f, bar + 1)
          excluded[m] = (excluded[m] or 0) + tonumber(v)
        end
      end
      for i = 0, nsums - 1 do
        local m, v = ARGV[sums_at + 2 * i], ARGV[sums_at + 2 * i + 1]
        if excluded[m] then
          v = int(tonumber(v) - excluded[m])
        end
        if v ~= '0' then
          redis.call('HINCRBY', tot, m, v)
        end
      end
    end
    if late > 0 then
      redis.call('HINCRBY', tot, 'late', late)
    end
    if refresh or not old or emptied then
      -- the totals and buckets hashes may be new: give them their TTL
      redis.call('PEXPIRE', tot, ttl)
      redis.call('PEXPIRE', bkt, ttl)
    end
  end
  if refresh then
    set[#set + 1] = 'exp'
    set[#set + 1] = int(now + ttl)
  end
  redis.call('HSET', state, unpack(set))
  if refresh then
    redis.call('PEXPIRE', state, ttl)
  end
  out[#out + 1] = 1
end

local n = num()
local out = {}
for e = 0, n - 1 do
  apply_entity(e * K, out)
end
return out
