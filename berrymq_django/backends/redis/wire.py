"""What the Redis backend keeps in Redis: key names, route entries, the wire format, Lua.

Every key starts with the configured prefix (``P`` below)::

    P:bus          stream: one entry per batch of messages from one process
                   (fields p = sender token, s = batch number, m = the messages'
                   JSON, one per line, i = their identifiers, one per line),
                   trimmed to about STREAM_MAXLEN entries
    P:seq:<token>  the last batch number a process wrote (retries are skipped)
    P:routes       sorted set of the lists that collect messages, scored by expiry
                   (see route_member): a shared queue's entry is renewed by its
                   process while it consumes, and outlives it by SHARED_LEASE
                   whether it exits, closes its queue or crashes; only
                   DELETE_SHARED removes it at once
    P:q:s:<ident>  list behind the shared Queues of <ident> (+ ":dropped" counter)
    P:q:c:<token>  list behind a JSON-RPC queue connection (+ ":dropped" counter)
    P:conn:<token> hash of a JSON-RPC connection; expires with its ttl
    P:conns        sorted set of connection tokens, scored by expiry
    P:uid:<uid>    a uid accepted by the JSON-RPC endpoint; expires with the window
    P:groups       sorted set of follower group routes, "<group>\n<pattern>\n<token>"
                   (see group_member), scored by expiry: renewed like a shared
                   queue's route while the process has members of the group
    P:g:<group>:<pattern>
                   stream of the grouped messages for the members of <group>
                   following <pattern>, read through the consumer group
                   CONSUMER_GROUP (one consumer per process, named by its token);
                   an entry (field m = the message's JSON) is trimmed away soon
                   after it is acknowledged, and what is not acknowledged is
                   trimmed to GROUP_MAXLEN
    P:group-dropped  hash: grouped messages dropped per group (GROUP_MAXLEN)
    P:gw:<group>:<uid>  a uid acknowledged while another member held it; expires
    P:dead:<group> stream of the group's dead letters (m, i = identifier,
                   e = last error, n = attempts, t = time, w = token, s = stream)
    P:dead-groups  set of the groups that have dead letters
    P:dead-dropped hash: dead letters dropped per group (GROUP_DEAD_LETTERS)

Push once: every process reads every batch from the stream, but only the
publishing script (run by Redis, once per batch) pushes messages into the
lists registered in ``P:routes`` and the group streams of ``P:groups``.
Consumers pop from those lists; group members read their streams.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .codec import decode, decode_batch, encode, from_fields
from .lua import LUA_MATCHING, LUA_TRIM_ACKED

if TYPE_CHECKING:
    from ...core.identifier import Identifier

__all__ = [
    "CONSUMER_GROUP",
    "DELETE_SHARED",
    "PUBLISH",
    "Keys",
    "decode",
    "decode_batch",
    "encode",
    "from_fields",
    "group_member",
    "milliseconds",
    "route_member",
    "window_uid",
]

#: The Redis consumer group on every group stream: each process is one consumer in it.
CONSUMER_GROUP = "members"


class Keys:
    """The key names of one prefix."""

    __slots__ = (
        "base",
        "conns",
        "dead_dropped",
        "dead_groups",
        "group_dropped",
        "groups",
        "routes",
        "stream",
    )

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}:"
        self.stream = f"{prefix}:bus"
        self.routes = f"{prefix}:routes"
        self.conns = f"{prefix}:conns"
        self.groups = f"{prefix}:groups"
        self.group_dropped = f"{prefix}:group-dropped"
        self.dead_groups = f"{prefix}:dead-groups"
        self.dead_dropped = f"{prefix}:dead-dropped"

    def seq(self, token: str) -> str:
        return f"{self.base}seq:{token}"

    def shared_suffix(self, identifier: Identifier) -> str:
        return f"q:s:{identifier.text}"

    def connection_suffix(self, token: str) -> str:
        return f"q:c:{token}"

    def connection(self, token: str) -> str:
        return f"{self.base}conn:{token}"

    def uid(self, uid: str) -> str:
        return f"{self.base}uid:{_short_uid(uid)}"

    def group_stream(self, group: str, pattern: Identifier) -> str:
        """The stream of group's members following pattern (the publishing script's name)."""
        return f"{self.base}g:{group}:{pattern.text}"

    def group_window(self, group: str) -> str:
        """The prefix of group's uid window keys (a uid follows)."""
        return f"{self.base}gw:{group}:"

    def dead(self, group: str) -> str:
        return f"{self.base}dead:{group}"


def window_uid(uid: str) -> str:
    """Return uid as it appears in a window key (a long one hashed)."""
    return _short_uid(uid)


def _short_uid(uid: str) -> str:
    if len(uid) > 128:  # remote clients choose uids: keep keys short
        uid = "sha1:" + hashlib.sha1(uid.encode("utf-8", "replace")).hexdigest()
    return uid


def route_member(suffix: str, identifier: Identifier, maxsize: int, ttl_ms: int, owner: str) -> str:
    """Return the P:routes entry for a list collecting messages that match identifier.

    ``suffix`` names the list (P:<suffix>); ``ttl_ms`` is how long the list lives
    after its last push; ``owner`` tells apart the processes consuming one
    shared list, so each adds and removes only its own entry. Identifiers hold
    no whitespace, so a newline separates the fields.
    """
    return f"{suffix}\n{identifier.text}\n{maxsize}\n{ttl_ms}\n{owner}"


def group_member(group: str, pattern: Identifier, owner: str) -> str:
    """Return the P:groups entry saying that owner has members of group following pattern.

    Group names hold neither newlines nor whitespace, identifiers no whitespace.
    """
    return f"{group}\n{pattern.text}\n{owner}"


def milliseconds(seconds: float) -> int:
    """Return seconds as the whole milliseconds Redis expiries take (at least 1)."""
    return max(1, int(seconds * 1000))


# -- Lua, run by Redis --------------------------------------------------------

# Append one batch to the stream, push each message into every list whose
# route matches it (at most once per list), and add it to one stream per
# follower group with a matching route. Atomic, so a batch retried after a
# lost reply (same seq) changes nothing. A batch travels as two blobs, one line
# per message (JSON never holds a raw newline, nor does an identifier), so that
# a batch costs a handful of arguments whatever its size.
#
# Of a group's matching patterns the lowest (as text) names the stream: every
# process reading it has a member for the message, and a message matching two
# patterns of one group still reaches the group once.
#
# KEYS[1] stream, KEYS[2] routes, KEYS[3] the sender's seq key, KEYS[4] group
# routes, KEYS[5] group-dropped counters
# ARGV[1] sender token, ARGV[2] batch seq, ARGV[3] now (epoch seconds),
# ARGV[4] stream maxlen, ARGV[5] key prefix with ":",
# ARGV[6] the identifiers, ARGV[7] the messages' JSON, one per line,
# ARGV[8] GROUP_MAXLEN, ARGV[9] the group streams' consumer group
# Returns {0} for a batch applied before, else {1, group, dropped, group, dropped, ...}
# naming the groups whose streams held more than GROUP_MAXLEN messages not yet
# acknowledged (acknowledged ones are trimmed first).
PUBLISH = (
    r"""
local seq = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if seq <= last then return {0} end
redis.call('SET', KEYS[3], ARGV[2], 'PX', 3600000)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'p', ARGV[1], 's', ARGV[2], 'm', ARGV[7],
           'i', ARGV[6])

local members = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[3], '+inf')
local grouped = redis.call('ZRANGEBYSCORE', KEYS[4], ARGV[3], '+inf')
if #members == 0 and #grouped == 0 then return {1} end
"""
    + LUA_MATCHING
    + LUA_TRIM_ACKED
    + r"""
-- Targets indexed by their pattern's (namespace, name, action) as the dispatcher
-- does: a list (one target per list) or a group route (one per group and pattern).
local lists, index, scan = {}, {}, {}
local function add(pattern, target)
  local name, ns, action = parse(pattern)
  local k = ns .. '\0' .. name .. '\0' .. action
  if index[k] == nil then index[k] = {} end
  table.insert(index[k], target)
  table.insert(scan, {name, ns, action, target})
end

for i = 1, #members do
  local suffix, pattern, size, ttl =
    string.match(members[i], '^([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n')
  if suffix then
    local key = ARGV[5] .. suffix
    size, ttl = tonumber(size), tonumber(ttl)
    local t = lists[key]
    if t == nil then
      lists[key] = {size = size, ttl = ttl, items = {}}
      add(pattern, lists[key])
    else
      -- Consumers of one shared list that disagree: the most lenient wins.
      if t.size ~= 0 and (size == 0 or size > t.size) then t.size = size end
      if ttl > t.ttl then t.ttl = ttl end
    end
  end
end

local seen = {}
for i = 1, #grouped do
  local group, pattern = string.match(grouped[i], '^([^\n]*)\n([^\n]*)\n')
  if group and not seen[group .. '\n' .. pattern] then
    seen[group .. '\n' .. pattern] = true
    add(pattern, {group = group, pattern = pattern})
  end
end

-- Where a message of one identifier goes (the item lists to append it to), worked
-- out once per identifier per batch.
local streams, cache = {}, {}
local function route(text)
  local name, ns, action = parse(text)
  local found, chosen = {}, {}
  local function take(target)
    if target.group == nil then
      table.insert(found, target.items)
    else
      local best = chosen[target.group]
      if best == nil or target.pattern < best then chosen[target.group] = target.pattern end
    end
  end
  if name == '*' or action == '*' then
    for _, p in ipairs(scan) do
      if matches(p[1], p[2], p[3], name, ns, action) then take(p[4]) end
    end
  else
    local prefix = ns .. '\0'
    for _, k in ipairs({prefix .. name .. '\0' .. action, prefix .. name .. '\0*',
                        prefix .. '*\0' .. action, prefix .. '*\0*'}) do
      local bucket = index[k]
      if bucket then
        for _, target in ipairs(bucket) do take(target) end
      end
    end
  end
  for group, pattern in pairs(chosen) do
    local key = ARGV[5] .. 'g:' .. group .. ':' .. pattern
    if streams[key] == nil then streams[key] = {group = group, items = {}} end
    table.insert(found, streams[key].items)
  end
  return found
end

local payloads = string.gmatch(ARGV[7], '[^\n]+')
for text in string.gmatch(ARGV[6], '[^\n]+') do
  local payload = payloads()
  local found = cache[text]
  if found == nil then
    found = route(text)
    cache[text] = found
  end
  for i = 1, #found do
    local items = found[i]
    items[#items + 1] = payload
  end
end

for key, t in pairs(lists) do
  if #t.items > 0 then
    local len = redis.call('RPUSH', key, unpack(t.items))
    if t.size > 0 and len > t.size then
      redis.call('LTRIM', key, -t.size, -1)
      redis.call('INCRBY', key .. ':dropped', len - t.size)
      redis.call('PEXPIRE', key .. ':dropped', t.ttl)
    end
    redis.call('PEXPIRE', key, t.ttl)
  end
end

local result, maxlen = {1}, tonumber(ARGV[8])
for key, s in pairs(streams) do
  for _, payload in ipairs(s.items) do redis.call('XADD', key, '*', 'm', payload) end
  local len = redis.call('XLEN', key)
  if len > maxlen then
    trim_acked(key, ARGV[9])
    len = redis.call('XLEN', key)
  end
  if len > maxlen then
    redis.call('XTRIM', key, 'MAXLEN', maxlen)
    redis.call('HINCRBY', KEYS[5], s.group, len - maxlen)
    table.insert(result, s.group)
    table.insert(result, len - maxlen)
  end
end
return result
"""
)

# Withdraw one process's route to a shared list; when no other live route
# leads there, nobody consumes the list any more: drop it and its counter.
# Return 1 when the list was dropped.
#
# KEYS[1] routes, KEYS[2] the list
# ARGV[1] the route member, ARGV[2] now (epoch seconds), ARGV[3] the list's suffix
DELETE_SHARED = r"""
redis.call('ZREM', KEYS[1], ARGV[1])
local head = ARGV[3] .. '\n'
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf')) do
  if string.sub(member, 1, #head) == head then return 0 end
end
redis.call('DEL', KEYS[2], KEYS[2] .. ':dropped')
return 1
"""
