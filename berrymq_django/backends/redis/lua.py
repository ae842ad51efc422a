"""Lua functions that several of the Redis backend's scripts share, pasted in front of them."""

from __future__ import annotations

__all__ = ["LUA_MATCHING", "LUA_TRIM_ACKED"]

# Lua helpers shared by the scripts that match identifiers as the dispatcher does.
# parse("name[@ns][:action]") -> name, ns ('' for none), action ('*' when left out);
# matches(p, q): whether two parsed identifiers select each other ('*' on either side).
LUA_MATCHING = r"""
local function parse(text)
  local head, action = string.match(text, '^([^:]*):(.*)$')
  if not head then head, action = text, '*' end
  local name, ns = string.match(head, '^([^@]*)@(.*)$')
  if not name then name, ns = head, '' end
  return name, ns, action
end

local function matches(pname, pns, paction, name, ns, action)
  return pns == ns and (pname == name or pname == '*' or name == '*')
    and (paction == action or paction == '*' or action == '*')
end
"""

# trim_acked(key, group): trim from a group stream what its consumer group has
# acknowledged: every entry before the oldest pending one, or up to the last
# delivered one when none is pending. Returns the number trimmed.
LUA_TRIM_ACKED = r"""
local function trim_acked(key, group)
  local pending = redis.pcall('XPENDING', key, group)
  if type(pending) ~= 'table' or pending.err then return 0 end
  local minid = pending[2]
  if pending[1] == 0 then
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
      local info = {}
      for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
      if info['name'] == group then
        local ms, seq = string.match(info['last-delivered-id'], '^(%d+)-(%d+)$')
        minid = ms .. '-' .. string.format('%d', tonumber(seq) + 1)
      end
    end
  end
  if not minid then return 0 end
  return redis.call('XTRIM', key, 'MINID', minid)
end
"""
