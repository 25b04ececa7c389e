"""The Lua scripts ``RedisCluster`` runs: each decision is one atomic step in Redis.

Keys, under the deployment's prefix ``P`` (``chat:<db>:``):

* ``P instances`` — sorted set: each live process (its instance id) scored
  by the Redis time of its last heartbeat. A process that stopped
  heartbeating for ``ttl`` seconds is dead: its counts no longer count, and
  the next heartbeat of any process withdraws them.
* ``P sockets:<instance>`` — hash: user id -> sockets that process holds.
* ``P presence:<instance>`` — hash: ``room:user`` -> username, one field per
  user with a socket in that room on that process.
* ``P rate:<name>:<key>`` — hash: a token bucket (``tokens``, ``ts``).
* ``P ticket:<ticket>`` — string: the identity a ticket stands for.

Per-process hashes expire (``2 × ttl``) unless their process heartbeats, so
a crashed process leaves nothing behind for long. Times come from Redis's
``TIME``, never from the processes' clocks, which may disagree across hosts.

The scripts read keys they compute from the prefix (the live instances are
only known inside the script): they run on a single Redis (or one shard),
not on a Redis Cluster.
"""

from __future__ import annotations

# Shared prologue: `now` (seconds) and `live`, the live instances.
# KEYS[1] = instances; ARGV[1] = prefix, ARGV[2] = this instance, ARGV[3] = ttl.
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[2])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now - ttl, '+inf')
local function held_elsewhere(kind, field)
  for _, instance in ipairs(live) do
    if instance ~= ARGV[2] and redis.call('HEXISTS', ARGV[1] .. kind .. instance, field) == 1 then
      return true
    end
  end
  return false
end
"""

# ARGV[4] = user id, ARGV[5] = limit. Returns 1 if counted, 0 if at the limit.
SOCKET_RESERVE = (
    _LIVE
    + """
local total = 0
for _, instance in ipairs(live) do
  total = total + tonumber(redis.call('HGET', ARGV[1] .. 'sockets:' .. instance, ARGV[4]) or '0')
end
if total >= tonumber(ARGV[5]) then return 0 end
local own = ARGV[1] .. 'sockets:' .. ARGV[2]
redis.call('HINCRBY', own, ARGV[4], 1)
redis.call('EXPIRE', own, 2 * ttl)
return 1
"""
)

# ARGV[4] = user id. Uncounts one socket of this instance.
SOCKET_RELEASE = """
local own = ARGV[1] .. 'sockets:' .. ARGV[2]
if redis.call('HINCRBY', own, ARGV[4], -1) <= 0 then redis.call('HDEL', own, ARGV[4]) end
return 1
"""

# ARGV[4..] = user ids. Returns those with a socket on any live instance.
ONLINE = (
    _LIVE
    + """
local online = {}
for i = 4, #ARGV do
  for _, instance in ipairs(live) do
    if redis.call('HEXISTS', ARGV[1] .. 'sockets:' .. instance, ARGV[i]) == 1 then
      table.insert(online, ARGV[i])
      break
    end
  end
end
return online
"""
)

# ARGV[4] = 'room:user', ARGV[5] = username. 1 if no other live instance has it.
PRESENCE_ARRIVE = (
    _LIVE
    + """
local own = ARGV[1] .. 'presence:' .. ARGV[2]
redis.call('HSET', own, ARGV[4], ARGV[5])
redis.call('EXPIRE', own, 2 * ttl)
if held_elsewhere('presence:', ARGV[4]) then return 0 end
return 1
"""
)

# ARGV[4] = 'room:user'. 1 if no other live instance still has it.
PRESENCE_DEPART = (
    _LIVE
    + """
redis.call('HDEL', ARGV[1] .. 'presence:' .. ARGV[2], ARGV[4])
if held_elsewhere('presence:', ARGV[4]) then return 0 end
return 1
"""
)

# Keeps this instance alive and withdraws the dead ones. Returns a flat list
# [field, username, ...] of the presences that ended with them (no live
# instance holds the field): someone must announce those users offline.
HEARTBEAT = (
    _LIVE
    + """
redis.call('EXPIRE', ARGV[1] .. 'sockets:' .. ARGV[2], 2 * ttl)
redis.call('EXPIRE', ARGV[1] .. 'presence:' .. ARGV[2], 2 * ttl)
local ended = {}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl))
for _, instance in ipairs(dead) do
  redis.call('ZREM', KEYS[1], instance)
  local fields = redis.call('HGETALL', ARGV[1] .. 'presence:' .. instance)
  redis.call('DEL', ARGV[1] .. 'presence:' .. instance, ARGV[1] .. 'sockets:' .. instance)
  for i = 1, #fields, 2 do
    if not held_elsewhere('presence:', fields[i]) and
       redis.call('HEXISTS', ARGV[1] .. 'presence:' .. ARGV[2], fields[i]) == 0 then
      table.insert(ended, fields[i])
      table.insert(ended, fields[i + 1])
    end
  end
end
return ended
"""
)

# Rebuilds this instance's mirror from its local truth after an outage.
# ARGV[4] = number of socket pairs n; then n (user, count) pairs, then
# (field, username) pairs for presence.
RESYNC = (
    _LIVE
    + """
local sockets = ARGV[1] .. 'sockets:' .. ARGV[2]
local presence = ARGV[1] .. 'presence:' .. ARGV[2]
redis.call('DEL', sockets, presence)
local n = tonumber(ARGV[4])
local i = 5
for _ = 1, n do
  redis.call('HSET', sockets, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HSET', presence, ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('EXPIRE', sockets, 2 * ttl)
redis.call('EXPIRE', presence, 2 * ttl)
return 1
"""
)

# A clean stop: this instance's counts stop counting at once.
WITHDRAW = """
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('DEL', ARGV[1] .. 'sockets:' .. ARGV[2], ARGV[1] .. 'presence:' .. ARGV[2])
return 1
"""

# Token buckets, one per key, each taken once, in order (a key may repeat).
# ARGV holds (burst, per_second) for each key. Returns {allowed (0/1),
# tokens left as a string, ...} per key (Lua numbers would be truncated to
# integers on the way out).
RATE_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local answers = {}
for i, key in ipairs(KEYS) do
  local burst = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local bucket = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(bucket[1])
  if tokens == nil then
    tokens = burst
  else
    tokens = math.min(burst, tokens + math.max(0, now - tonumber(bucket[2])) * rate)
  end
  local allowed = 0
  if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
  end
  if tokens >= burst then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
    redis.call('PEXPIRE', key, math.ceil((burst - tokens) / rate * 1000) + 1000)
  end
  table.insert(answers, allowed)
  table.insert(answers, tostring(tokens))
end
return answers
"""
