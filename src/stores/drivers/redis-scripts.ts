/** The Lua scripts of the Redis driver. Each runs atomically on the server; `ATOMIC`'s keys must share a hash slot on a cluster. */
import { createHash } from 'node:crypto'

export const RENEW = `local v = redis.call('GET', KEYS[1])
if v and redis.call('PTTL', KEYS[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v`

// The expected value travels as '=' + bytes, so that '' can mean "expect absent" and the empty
// value can still be expected.
export const COMPARE_AND_SET = `local v = redis.call('GET', KEYS[1])
if ARGV[3] == '' then
  if v then return 0 end
elseif not v or '=' .. v ~= ARGV[3] then
  return 0
end
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('SET', KEYS[1], ARGV[1]) end
return 1`

/**
 * KEYS: the checked keys (ARGV[1] of them), then the written ones. ARGV: the number of checks, one
 * expected value per check (as in COMPARE_AND_SET), then three per write: op (s, d, i), value or
 * step, ttl or ''. Every check, then every counter, is verified before the first write, so a miss
 * or a counter that is no integer changes nothing (the error names the write's index).
 */
export const ATOMIC = `local nc = tonumber(ARGV[1])
for i = 1, nc do
  local v = redis.call('GET', KEYS[i])
  local want = ARGV[1 + i]
  if want == '' then
    if v then return 0 end
  elseif not v or '=' .. v ~= want then
    return 0
  end
end
local base = 2 + nc
local nw = #KEYS - nc
for j = 1, nw do
  local a = base + 3 * (j - 1)
  if ARGV[a] == 'i' then
    local v = redis.call('GET', KEYS[nc + j])
    if v then
      local n = tonumber(v)
      if not (v == '0' or string.match(v, '^%-?[1-9]%d*$')) or not n or math.abs(n + tonumber(ARGV[a + 1])) > 9007199254740991 then
        return redis.error_reply('FLAGSTONE_NOT_INTEGER ' .. (j - 1))
      end
    elseif math.abs(tonumber(ARGV[a + 1])) > 9007199254740991 then
      return redis.error_reply('FLAGSTONE_NOT_INTEGER ' .. (j - 1))
    end
  end
end
for j = 1, nw do
  local key = KEYS[nc + j]
  local a = base + 3 * (j - 1)
  local op, arg, ttl = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  if op == 's' then
    if ttl ~= '' then redis.call('SET', key, arg, 'PX', ttl) else redis.call('SET', key, arg) end
  elseif op == 'd' then
    redis.call('DEL', key)
  else
    local existed = redis.call('EXISTS', key)
    redis.call('INCRBY', key, arg)
    if existed == 0 and ttl ~= '' then redis.call('PEXPIRE', key, ttl) end
  end
end
return 1`

export const sha1 = (script: string): string => createHash('sha1').update(script).digest('hex')
