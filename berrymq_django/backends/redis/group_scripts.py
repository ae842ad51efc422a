"""The Lua scripts that acknowledge, dead-letter and tidy follower-group streams.

Each runs atomically in Redis, so that what a member did is recorded
together with its acknowledgement: a crash leaves either both or neither.
Keys and fields are described in ``wire``'s module docstring; every script
takes the consumer group name (``wire.CONSUMER_GROUP``) as ARGV[1].
"""

from __future__ import annotations

from .lua import LUA_MATCHING, LUA_TRIM_ACKED

__all__ = [
    "ACKNOWLEDGE",
    "DEAD_LETTER",
    "LEAVE_STREAM",
    "PRUNE_CONSUMERS",
    "REDELIVER",
    "TRIM_ACKED",
]

# Acknowledge entries handled by this consumer, held long enough that another
# member may have claimed some (they looked stuck): such a member still runs
# them unless it checks the window first, so their uids go into the group's uid
# window. (Entries read recently are acknowledged with a plain XACK.)
#
# KEYS[1] the group stream
# ARGV[1] consumer group, ARGV[2] this consumer, ARGV[3] window key prefix,
# ARGV[4] window milliseconds, then (entry id, uid) pairs
# Returns the number of entries another member held.
ACKNOWLEDGE = r"""
local n = (#ARGV - 4) / 2
local ids = {}
for i = 1, n do ids[i] = ARGV[3 + 2 * i] end
local mine = {}
for _, row in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', n + 100, ARGV[2])) do
  mine[row[1]] = true
end
local taken = 0
for i = 1, n do
  if not mine[ids[i]] then
    redis.call('SET', ARGV[3] .. ARGV[4 + 2 * i], '1', 'PX', ARGV[4])
    taken = taken + 1
  end
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return taken
"""

# Keep a message that failed its last attempt as a dead letter, and
# acknowledge it, at once.
#
# KEYS[1] the group stream, KEYS[2] the group's dead letters, KEYS[3] dead-groups,
# KEYS[4] dead-dropped counters
# ARGV[1] consumer group, ARGV[2] entry id, ARGV[3] group, ARGV[4] message JSON,
# ARGV[5] identifier, ARGV[6] last error, ARGV[7] attempts, ARGV[8] now,
# ARGV[9] this consumer, ARGV[10] GROUP_DEAD_LETTERS
# Returns how many old dead letters the bound dropped.
DEAD_LETTER = r"""
redis.call('XADD', KEYS[2], '*', 'm', ARGV[4], 'i', ARGV[5], 'e', ARGV[6], 'n', ARGV[7],
           't', ARGV[8], 'w', ARGV[9], 's', KEYS[1])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
local len, max = redis.call('XLEN', KEYS[2]), tonumber(ARGV[10])
if len > max then
  redis.call('XTRIM', KEYS[2], 'MAXLEN', max)
  redis.call('HINCRBY', KEYS[4], ARGV[3], len - max)
  return len - max
end
return 0
"""

# A consumer that stops: make the entries it holds and will not handle
# claimable at once (as if idle for the claim time), then leave the consumer
# group if it holds nothing any more.
#
# KEYS[1] the group stream
# ARGV[1] consumer group, ARGV[2] this consumer, ARGV[3] claim milliseconds,
# then the entry ids to give back
# Returns 1 when the consumer left.
LEAVE_STREAM = r"""
if #ARGV > 3 then
  local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
  for i = 4, #ARGV do table.insert(args, ARGV[i]) end
  for _, word in ipairs({'IDLE', ARGV[3], 'JUSTID'}) do table.insert(args, word) end
  redis.call(unpack(args))
  return 0
end
local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #held > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# Remove the consumers that hold nothing and have not read for a while
# (processes that ended); a live one that is removed is made again by its next read.
#
# KEYS[1] the group stream
# ARGV[1] consumer group, ARGV[2] idle milliseconds, ARGV[3] this consumer
# Returns the number removed.
PRUNE_CONSUMERS = r"""
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['name'] ~= ARGV[3] and tonumber(info['pending']) == 0
     and tonumber(info['idle']) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
"""

# Hand dead letters back to their group: each goes to the stream of the
# group's lowest live pattern matching it (as the publishing script chooses),
# with a fresh count of attempts. One that no live member follows stays.
#
# KEYS[1] the group's dead letters, KEYS[2] group routes, KEYS[3] dead-groups
# ARGV[1] group, ARGV[2] now (epoch seconds), ARGV[3] key prefix with ":",
# then the dead-letter entry ids
# Returns {re-delivered, left}.
REDELIVER = (
    LUA_MATCHING
    + r"""
local patterns = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], '+inf')) do
  local group, pattern = string.match(member, '^([^\n]*)\n([^\n]*)\n')
  if group == ARGV[1] then
    local name, ns, action = parse(pattern)
    table.insert(patterns, {name, ns, action, pattern})
  end
end
local sent, left = 0, 0
for i = 4, #ARGV do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])[1]
  if entry then
    local fields = {}
    for f = 1, #entry[2], 2 do fields[entry[2][f]] = entry[2][f + 1] end
    local name, ns, action = parse(fields['i'] or '')
    local best = nil
    for _, p in ipairs(patterns) do
      if matches(p[1], p[2], p[3], name, ns, action) and (best == nil or p[4] < best) then
        best = p[4]
      end
    end
    if best then
      redis.call('XADD', ARGV[3] .. 'g:' .. ARGV[1] .. ':' .. best, '*', 'm', fields['m'])
      redis.call('XDEL', KEYS[1], ARGV[i])
      sent = sent + 1
    else
      left = left + 1
    end
  end
end
if redis.call('XLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return {sent, left}
"""
)

# Trim what the consumer group acknowledged (see lua.LUA_TRIM_ACKED).
#
# KEYS[1] the group stream
# ARGV[1] consumer group
# Returns the number of entries trimmed.
TRIM_ACKED = LUA_TRIM_ACKED + "return trim_acked(KEYS[1], ARGV[1])\n"
