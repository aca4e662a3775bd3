-- gapwatch apply: the increments of one batch for one or more entities
-- (reps or teams), each applied together with the offsets it covers.
-- Effectively once: a part (topic/partition range) whose offsets are
-- already recorded is skipped.
--
-- Keys of entity e (W windows, K = 1 + 2W keys each, in KEYS order):
--   state                  hash: "o:<topic>/<partition>" -> last applied
--                          offset, "wm:<window>" -> the window's watermark,
--                          first_ms, team, exp (when the keys' TTL runs out)
--   totals_w, buckets_w    hashes of window w (w = 1..W)
-- All keys of one entity share its hash tag. On Redis Cluster the client
-- sends one entity per call; on a standalone Redis, many.
--
-- The open bucket. Of window w, the bucket of the entity's watermark,
-- floor(wm / bucket_ms), is "open": its counts are not written to the
-- buckets hash but are implied, totals minus the closed buckets. Every
-- event of an entity is at or before its watermark (a partition's stream
-- time is the newest event time read from it), so an event in the open
-- bucket costs one HINCRBY per metric and window, on the totals only. The
-- buckets hash holds the closed buckets, "<bucket start ms>|<metric>" ->
-- count, and their sums per metric, "c|<metric>". When the watermark enters
-- a later bucket the open one closes: its counts (totals - c|) are written
-- and c| becomes the totals; buckets leaving the window are subtracted from
-- the totals and from c|.
--
-- ARGV[1] ttl_ms, ARGV[2] now_ms (wall clock), ARGV[3] mode, ARGV[4] W,
-- then the window parameters once: {name, bucket_ms, nbuckets, grace_ms} * W.
--
-- mode "apply": then the number of entities, and per entity:
--       nparts, {"o:<topic>/<partition>", min_offset, max_offset} * nparts,
--       team ('' for a team entity), first_ms, wm_ms,
--       then per window: a header, {metric, sum} * nsums (every cell),
--                        {bucket start ms, metric, value} * ncells: the
--                        cells before the bucket of wm_ms (the rest are in
--                        the open bucket and only in the sums). The header
--                        is nsums when nothing is late and ncells is 0 (the
--                        common case), else -nsums - 1, late, ncells and the
--                        lowest bucket of those cells;
--       then the calendar periods (a rep's; docs/calendars.md): nkeys,
--                        and per key: its name, nfields, {metric, sum} *
--                        nfields. Period keys are named by the client and
--                        share the entity's hash tag.
--   Returns one reply per entity, flattened: 0 already applied, 1 applied,
--   or -n followed by n pairs {"o:<topic>/<partition>", stored} when some
--   offsets of the delta were applied before and others not (batch
--   boundaries differ after a crash): nothing of that entity is written and
--   the caller re-sends only the events after each part's stored offset.
--
-- mode "read": then wm_ms, nperiods and the names of that many calendar
--   period keys of the entity (same hash tag). One entity (its K keys).
--   Slides every window of an existing entity to wm_ms (the evaluation
--   watermark; never backwards) and returns {state, totals_1, ...,
--   totals_W, period_1, ...}, each a flat field/value list. A missing
--   entity is not created.
--
-- Window rule (mirrors gw_window.h): at watermark wm the window holds every
-- bucket >= floor((wm - grace) / bucket_ms) - nbuckets + 1. Buckets below
-- leave the totals when wm moves; increments for them are not applied.
--
-- Cost: every redis.call costs about a microsecond, and converting numbers
-- to or from text in Lua costs about as much (Lua numbers are doubles,
-- printed with printf). So the common path reads and writes the state once
-- per entity and passes the client's text straight into HINCRBY, which
-- Redis parses in C: the client sums each metric per window and sends the
-- lowest bucket of the other cells, so the script only compares numbers
-- when a cell may lie outside the window. Closing a bucket or sliding
-- (when a watermark crosses a bucket boundary) reads the totals and c|.
local call, tonumber, floor, unpack = redis.call, tonumber, math.floor, unpack
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
  return floor((wm - wG[w]) / wB[w]) - wN[w] + 1
end

-- Moves window w of an entity (totals tot, buckets bkt) from watermark
-- `old` to `new` (> old): closes the open bucket if `new` is in a later
-- one, subtracts the buckets that leave from the totals and c| and deletes
-- them; totals that reach zero are removed. Returns true when it wrote
-- (hashes it emptied are gone, one it wrote may be new: the caller sets
-- their TTL).
local function advance(w, tot, bkt, old, new)
  local B = wB[w]
  local ob, nb = floor(old / B), floor(new / B)
  local ostart, start = start_of(w, old), start_of(w, new)
  if nb == ob and start <= ostart then
    return false
  end
  local kv = call('HGETALL', tot)
  local metrics, texts, values, cfields = {}, {}, {}, {}
  for i = 1, #kv, 2 do
    if kv[i] ~= 'late' then
      local m = #metrics + 1
      metrics[m], texts[m] = kv[i], kv[i + 1]
      values[m] = tonumber(texts[m])
      cfields[m] = 'c|' .. kv[i]
    end
  end
  local nm = #metrics
  if nm == 0 then
    return false
  end
  local wrote = false
  if start > ob then
    -- every bucket that can hold data has left, the open one too
    call('DEL', bkt)
    call('HDEL', tot, unpack(metrics))
    return true
  end
  if nb > ob then
    -- the open bucket closes: write its counts, totals minus the closed
    local closed = call('HMGET', bkt, unpack(cfields))
    local set, pfx = {}, int(ob * B) .. '|'
    for m = 1, nm do
      local open = values[m] - (tonumber(closed[m]) or 0)
      if open ~= 0 then
        set[#set + 1] = pfx .. metrics[m]
        set[#set + 1] = int(open)
      end
      set[#set + 1] = cfields[m]
      set[#set + 1] = texts[m]
    end
    call('HSET', bkt, unpack(set))
    wrote = true
  end
  if start <= ostart then
    return wrote
  end
  local fields = {}
  for b = ostart, start - 1 do
    local pfx = int(b * B) .. '|'
    for _, f in ipairs(metrics) do
      fields[#fields + 1] = pfx .. f
    end
  end
  local nl = #fields
  for m = 1, nm do
    fields[nl + m] = cfields[m]
  end
  local vals = call('HMGET', bkt, unpack(fields))
  local closed, present, changed = {}, {}, {}
  for m = 1, nm do
    closed[m] = tonumber(vals[nl + m]) or 0
  end
  for i = 1, nl do
    local v = vals[i]
    if v then
      local m = (i - 1) % nm + 1
      v = tonumber(v)
      values[m] = values[m] - v
      closed[m] = closed[m] - v
      changed[m] = true
      present[#present + 1] = fields[i]
    end
  end
  -- a field that reaches zero is deleted, any other is set
  local function put(field, v, set, del)
    if v == 0 then
      del[#del + 1] = field
    else
      set[#set + 1] = field
      set[#set + 1] = int(v)
    end
  end
  local set, del, bset = {}, {}, {}
  for m, _ in pairs(changed) do
    put(metrics[m], values[m], set, del)
    put(cfields[m], closed[m], bset, present)
  end
  if #present > 0 then
    call('HDEL', bkt, unpack(present))
  end
  if #bset > 0 then
    call('HSET', bkt, unpack(bset))
  end
  if #set > 0 then
    call('HSET', tot, unpack(set))
  end
  if #del > 0 then
    call('HDEL', tot, unpack(del))
  end
  return true
end

if mode == 'read' then
  local wm = num()
  local want = {}
  for w = 1, W do
    want[w] = 'wm:' .. wname[w]
  end
  local wms = call('HMGET', KEYS[1], unpack(want))
  local set = {}
  for w = 1, W do
    local old = tonumber(wms[w])
    if old and wm > old then
      if advance(w, KEYS[2 * w], KEYS[2 * w + 1], old, wm) then
        call('PEXPIRE', KEYS[2 * w], ttl)
        call('PEXPIRE', KEYS[2 * w + 1], ttl)
      end
      set[#set + 1] = want[w]
      set[#set + 1] = int(wm)
    end
  end
  if #set > 0 then
    call('HSET', KEYS[1], unpack(set))
  end
  local out = {call('HGETALL', KEYS[1])}
  for w = 1, W do
    out[#out + 1] = call('HGETALL', KEYS[2 * w])
  end
  local np = num()
  for _ = 1, np do
    out[#out + 1] = call('HGETALL', arg())
  end
  return out
end

-- The hot path reads ARGV through a local index (no helper calls) and
-- reuses two tables for every entity (lengths passed to unpack): in Lua
-- a function call or a new table per field costs about what the Redis
-- command itself does.
local A = ARGV
local wmf = {}
for w = 1, W do
  wmf[w] = 'wm:' .. wname[w]
end
local want, set = {'first_ms', 'exp'}, {}
for w = 1, W do
  want[2 + w] = wmf[w]
end
local NW = 2 + W

-- The cells of window w when the entity's open bucket is not the client's
-- (a stored watermark ahead of the batch's, in a later bucket) or some
-- cells' buckets left the window already (those are not counted): every
-- cell is placed by its bucket, the open bucket's cells being the sums
-- minus the others. Rare: only right after a watermark crossed a boundary.
local function place_cells(w, tot, bkt, new, wm, sums, nsums, cells, ncells)
  local B = wB[w]
  local start, nb, cb = start_of(w, new), floor(new / B), floor(wm / B)
  local rest, excluded = {}, {}
  for c = sums, sums + 2 * nsums - 1, 2 do
    rest[A[c]] = tonumber(A[c + 1])
  end
  local function place(b, bms, m, v, vtext)
    if b < start then
      excluded[m] = (excluded[m] or 0) + v
    elseif b < nb then
      call('HINCRBY', bkt, bms .. '|' .. m, vtext)
      call('HINCRBY', bkt, 'c|' .. m, vtext)
    end
  end
  for c = cells, cells + 3 * ncells - 1, 3 do
    local m, v = A[c + 1], tonumber(A[c + 2])
    rest[m] = rest[m] - v
    place(tonumber(A[c]) / B, A[c], m, v, A[c + 2])
  end
  for c = sums, sums + 2 * nsums - 1, 2 do
    local m = A[c]
    if rest[m] ~= 0 then
      place(cb, int(cb * B), m, rest[m], int(rest[m]))
    end
  end
  for c = sums, sums + 2 * nsums - 1, 2 do
    local m, v = A[c], A[c + 1]
    if excluded[m] then
      v = int(tonumber(v) - excluded[m])
    end
    if v ~= '0' then
      call('HINCRBY', tot, m, v)
    end
  end
end

-- Applies the entity whose keys start at KEYS[base + 1] and whose section
-- of ARGV starts at A[i]; returns where the next section starts.
local function apply_entity(base, i, out)
  local state = KEYS[base + 1]
  local nparts = tonumber(A[i])
  local p0 = i + 1 -- {offset field, min_offset, max_offset} * nparts
  for k = 0, nparts - 1 do
    want[NW + 1 + k] = A[p0 + 3 * k]
  end
  i = p0 + 3 * nparts
  local team, ftext, wtext = A[i], A[i + 1], A[i + 2]
  i = i + 3
  local st = call('HMGET', state, unpack(want, 1, NW + nparts))
  local fresh, done = 0, 0
  for k = 0, nparts - 1 do
    local s = tonumber(st[NW + 1 + k] or '-1')
    if s >= tonumber(A[p0 + 3 * k + 2]) then
      done = done + 1
    elseif s < tonumber(A[p0 + 3 * k + 1]) then
      fresh = fresh + 1
    end
  end
  if fresh < nparts then
    -- skip this entity's windows and periods in ARGV
    for _ = 1, W do
      local h = tonumber(A[i])
      if h >= 0 then
        i = i + 1 + 2 * h
      else
        i = i + 4 + 2 * (-h - 1) + 3 * tonumber(A[i + 2])
      end
    end
    local np = tonumber(A[i])
    i = i + 1
    for _ = 1, np do
      i = i + 2 + 2 * tonumber(A[i + 1])
    end
    if done == nparts then
      out[#out + 1] = 0
    else
      out[#out + 1] = -nparts
      for k = 0, nparts - 1 do
        out[#out + 1] = A[p0 + 3 * k]
        out[#out + 1] = st[NW + 1 + k] or '-1'
      end
    end
    return i
  end

  local wm, first_ms = tonumber(wtext), tonumber(ftext)
  local f0, exp = tonumber(st[1]), tonumber(st[2])
  -- TTL: every key of the entity expires `ttl` after it was last refreshed;
  -- refreshing at half-life keeps the calls off the common path.
  local refresh = (not exp) or (exp - now < ttl / 2)
  local n = 0
  for k = 0, nparts - 1 do
    set[n + 1], set[n + 2] = A[p0 + 3 * k], A[p0 + 3 * k + 2]
    n = n + 2
  end
  if team ~= '' then
    set[n + 1], set[n + 2] = 'team', team
    n = n + 2
  end
  if not f0 or first_ms < f0 then
    set[n + 1], set[n + 2] = 'first_ms', ftext
    n = n + 2
  end
  for w = 1, W do
    local tot, bkt = KEYS[base + 2 * w], KEYS[base + 2 * w + 1]
    local old = tonumber(st[2 + w])
    local new = wm
    if old and old > new then
      new = old
    end
    local moved = false
    if old and new > old then
      moved = advance(w, tot, bkt, old, new)
    end
    if new ~= old then
      set[n + 1], set[n + 2] = wmf[w], wtext
      n = n + 2
    end
    local nsums, late, ncells, lowest = tonumber(A[i]), 0, 0, 0
    if nsums >= 0 then
      i = i + 1
    else
      nsums = -nsums - 1
      late, ncells, lowest = tonumber(A[i + 1]), tonumber(A[i + 2]), tonumber(A[i + 3])
      i = i + 4
    end
    local sums = i
    local cells = sums + 2 * nsums
    i = cells + 3 * ncells
    if nsums > 0 then
      local B = wB[w]
      if (new == wm or floor(new / B) == floor(wm / B))
          and (ncells == 0 or lowest >= start_of(w, new)) then
        -- the common case: every cell is inside the window, in the open
        -- bucket (totals only) or a closed one; text passed through
        for c = sums, sums + 2 * nsums - 1, 2 do
          call('HINCRBY', tot, A[c], A[c + 1])
        end
        for c = cells, i - 1, 3 do
          call('HINCRBY', bkt, A[c] .. '|' .. A[c + 1], A[c + 2])
          call('HINCRBY', bkt, 'c|' .. A[c + 1], A[c + 2])
        end
      else
        place_cells(w, tot, bkt, new, wm, sums, nsums, cells, ncells)
      end
    end
    if late > 0 then
      call('HINCRBY', tot, 'late', late)
    end
    if refresh or not old or moved or ncells > 0 then
      -- the totals and buckets hashes may be new: give them their TTL
      call('PEXPIRE', tot, ttl)
      call('PEXPIRE', bkt, ttl)
    end
  end
  local np = tonumber(A[i])
  i = i + 1
  for _ = 1, np do
    local key, nf = A[i], tonumber(A[i + 1])
    for f = i + 2, i + 2 * nf, 2 do
      call('HINCRBY', key, A[f], A[f + 1])
    end
    call('PEXPIRE', key, ttl)
    i = i + 2 + 2 * nf
  end
  if refresh then
    set[n + 1], set[n + 2] = 'exp', int(now + ttl)
    n = n + 2
  end
  call('HSET', state, unpack(set, 1, n))
  if refresh then
    call('PEXPIRE', state, ttl)
  end
  out[#out + 1] = 1
  return i
end

local n = num()
local out = {}
local i = a
for e = 0, n - 1 do
  i = apply_entity(e * K, i, out)
end
return out
