"""The Lua scripts of `RedisStreamStore`: each is one round trip and atomic.

Keys of one run: ``KEYS[1]`` is its record hash, ``KEYS[2]`` its events stream (both carry the
``{run_id}`` hash tag: one cluster slot). Times are Redis's own clock (``TIME``, in ms), so
replicas with skewed clocks agree on when a lease lapses.

Record hash fields: ``record`` (the `RunRecord` JSON), ``status``, ``ended`` and ``cancel``
flags, ``owner`` (the store instance executing the run) and ``lease`` (when its lease lapses);
a run ended as lost also has ``failure`` (the error JSON) and ``failed_at`` (ms).
"""

from __future__ import annotations

__all__ = ["APPEND", "CANCEL", "CREATE", "END", "GET", "RENEW", "RETAIN", "STATE", "UPDATE"]

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# Ends the run as lost if its owner's lease lapsed: status ``failed``, the ``error`` event
# (ARGV[1]), the end marker, the finished-run TTL (ARGV[2] ms). Sets ``lost``.
_LAPSE = (
    _NOW
    + """
local lost = false
if redis.call('HGET', KEYS[1], 'ended') ~= '1' then
  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease') or '')
  if lease and lease <= now then
    redis.call('HSET', KEYS[1], 'ended', '1', 'status', 'failed', 'failure', ARGV[1],
      'failed_at', now)
    redis.call('XADD', KEYS[2], '0-*', 'e', 'error', 'd', ARGV[1])
    redis.call('XADD', KEYS[2], '0-*', 'end', '1')
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
    lost = true
  end
end
"""
)

CREATE = (
    """
if redis.call('HSETNX', KEYS[1], 'record', ARGV[1]) == 0 then return 0 end
"""
    + _NOW
    + """
local lease = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'owner', ARGV[3], 'lease', lease)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return lease
"""
)
"""ARGV: record JSON, status, owner, lease ms, stale ms. Returns the lease's end, 0 if the run
already exists."""

RENEW = (
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return -1 end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return -1 end
"""
    + _NOW
    + """
local lease = now + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'lease', lease)
return lease
"""
)
"""ARGV: lease ms, owner. Returns the lease's new end, -1 if the run is gone or ended (lost)."""

STATE = (
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
"""
    + _LAPSE
    + """
if lost then return 2 end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return 1 end
return 0
"""
)
"""ARGV: lost-run error JSON, ttl ms. -1: no such run; 0: live; 1: ended; 2: ended now, as lost."""

GET = (
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
"""
    + _LAPSE
    + """
return {redis.call('HGET', KEYS[1], 'record') or '', redis.call('HGET', KEYS[1], 'failure') or '',
  redis.call('HGET', KEYS[1], 'failed_at') or '', lost and 1 or 0}
"""
)
"""ARGV: as STATE. Returns nil (no such run) or [record, failure, failed_at, lost now]."""

APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTFOUND') end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return redis.error_reply('ENDED') end
local id = redis.call('XADD', KEYS[2], '0-*', 'e', ARGV[2], 'd', ARGV[3])
local n = tonumber(string.match(id, '%-(%d+)$'))
if n > tonumber(ARGV[1]) and n % tonumber(ARGV[5]) == 0 then
  redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return id
"""
"""ARGV: max events, event, data, stale ms, trim period. Returns the entry id ``0-<n>``."""

END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTFOUND') end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'ended', '1')
redis.call('XADD', KEYS[2], '0-*', 'end', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""
"""ARGV: ttl ms. Returns 1 if it ended the run, 0 if it had ended already."""

CANCEL = (
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
"""
    + _LAPSE
    + """
if lost then return -1 end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'success' or status == 'error' or status == 'cancelled' or status == 'interrupted' then
  return 0
end
redis.call('HSET', KEYS[1], 'cancel', '1')
redis.call('PUBLISH', ARGV[3], '1')
return 1
"""
)
"""ARGV: lost-run error JSON, ttl ms, cancel channel. 1: requested; 0: refused (unknown or
finished); -1: refused, the run was just ended as lost."""

UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTFOUND') end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return redis.error_reply('ENDED') end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'status', ARGV[2])
return 1
"""
"""ARGV: record JSON, status."""

RETAIN = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
local function drop(run_id)
  total = total - tonumber(redis.call('HGET', KEYS[2], run_id) or '0')
  redis.call('HDEL', KEYS[2], run_id)
end
local expired = string.format('%.0f', now - tonumber(ARGV[5]) * 1000)
for _, run_id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', expired)) do
  drop(run_id)
  redis.call('ZREM', KEYS[1], run_id)
end
-- (a number would reach Redis as "%.14g": too few digits for microseconds)
if redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[1]) == 0 then drop(ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
total = total + tonumber(ARGV[2])
local evicted = {}
while redis.call('ZCARD', KEYS[1]) > 1 and (redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[3])
    or total > tonumber(ARGV[4])) do
  local oldest = redis.call('ZPOPMIN', KEYS[1])
  drop(oldest[1])
  evicted[#evicted + 1] = oldest[1]
end
redis.call('SET', KEYS[3], total)
return evicted
"""
"""Records a finished run in the retention index and evicts the oldest finished runs while over
a cap (never the newest). KEYS: the index (sorted by end time in µs), the sizes hash, the byte total
(one slot). ARGV: run id, its bytes, max runs, max bytes, ttl ms (older entries have expired).
Returns the evicted run ids (the caller deletes their keys)."""
