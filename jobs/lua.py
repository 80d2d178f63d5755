"""Lua scripts: each job state change is one atomic step in Redis."""

# Returns the job's created_at when claimed (for the queue-wait metric), else 0.
# KEYS: job, deadlines, queued. ARGV: job_id, attempt, now, deadline, worker_pid
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local attempt = redis.call('HGET', KEYS[1], 'attempt')
local status = redis.call('HGET', KEYS[1], 'status')
if attempt ~= ARGV[2] or status ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[3],
           'updated_at', ARGV[3], 'worker_pid', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('HGET', KEYS[1], 'created_at')
"""

# KEYS: job, deadlines, images, queued, totals. ARGV: job_id, attempt, now, status, field,
# value, ttl, processing_time
FINISH = """
local attempt = redis.call('HGET', KEYS[1], 'attempt')
local status = redis.call('HGET', KEYS[1], 'status')
if attempt ~= ARGV[2] or status ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[4], ARGV[5], ARGV[6], 'completed_at', ARGV[3],
           'updated_at', ARGV[3], 'processing_time', ARGV[8])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('HINCRBY', KEYS[5], ARGV[4], 1)
return 1
"""

# An attempt gave up (error): record why and make the job due for the reaper now.
# KEYS: job, deadlines. ARGV: job_id, attempt, now, error
GIVE_UP = """
local attempt = redis.call('HGET', KEYS[1], 'attempt')
if attempt ~= ARGV[2] or redis.call('HGET', KEYS[1], 'status') ~= 'processing' then
  return 0
end
redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# A job past its deadline: retry it (returns the new attempt) or fail it (returns 0).
# Returns -1 when there is nothing to do (another replica got there first).
# KEYS: job, deadlines, images, queued, totals.
# ARGV: job_id, now, max_attempts, pending_deadline, ttl
REAP = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return -1 end
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'completed' or status == 'failed' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  return -1
end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt'))
-- Attempts handed back by a replica going away are not the job's fault: they don't count.
local handed_back = tonumber(redis.call('HGET', KEYS[1], 'handed_back') or '0')
if attempt - handed_back >= tonumber(ARGV[3]) then
  local reason = redis.call('HGET', KEYS[1], 'last_error')
  if not reason then
    reason = 'the worker running this job stopped responding'
  end
  reason = reason .. ' (gave up after ' .. attempt .. ' attempt(s))'
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', reason,
             'completed_at', ARGV[2], 'updated_at', ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('DEL', KEYS[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('HINCRBY', KEYS[5], 'failed', 1)
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'pending', 'attempt', attempt + 1, 'updated_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'worker_pid')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
-- Pending again: back in the queue (claimed jobs left it).
redis.call('ZADD', KEYS[4], 'NX', ARGV[2], ARGV[1])
return attempt + 1
"""

# A replica going away hands back an attempt it launched: overdue now, so the reaper of any
# replica retries it at once. KEYS: job, deadlines. ARGV: job_id, attempt, now
HAND_BACK = """
local status = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[2] then return 0 end
if status ~= 'pending' and status ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'last_error', 'the replica running it shut down',
           'updated_at', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'handed_back', 1)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: counter. ARGV: limit, expire_at. Returns {accepted (0/1), count after}.
TAKE_QUOTA = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return {0, count} end
count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return {1, count}
"""

# KEYS: counter. Decrements only an existing, positive counter (never creates a key).
REFUND_QUOTA = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return count
"""
