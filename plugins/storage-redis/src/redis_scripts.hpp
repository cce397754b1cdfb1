// The Lua scripts of storage-redis's session leases and fencing (ABI 1.2, storage.h "FENCING").
//
// Why scripts: the token check and the write it guards must be one atomic step on the Redis server.
// A MULTI transaction cannot make a write conditional (every queued command runs), and WATCH would
// turn every fenced write into two round trips and retries. Each script touches only the keys of
// one session, which share its hash tag {<id>} (delete_session's also the set of all sessions, as
// its unfenced transaction does).
//
// Tokens are compared as the decimal strings INCR stores, never as Lua numbers (doubles that lose
// precision above 2^53 and print in exponent form above 10^14).
#ifndef MACP_STORAGE_REDIS_REDIS_SCRIPTS_HPP
#define MACP_STORAGE_REDIS_REDIS_SCRIPTS_HPP

namespace macp::storage_redis::scripts {

// KEYS[1] the session's token key, KEYS[2] the set of every session, KEYS[3..] the keys written.
// ARGV[1] the writer's token; ARGV[2] the operation; ARGV[3] the session id; ARGV[4..] its values.
//   set      sets KEYS[3] to ARGV[4]
//   replace  replaces the list KEYS[3] with ARGV[4..]
//   touch    writes no data (a fenced create_session_storage)
//   forget   deletes KEYS[3..] and removes the session from the set (delete_session)
//   trim     drops the last ARGV[4] elements of the list KEYS[3] (taking back an append whose
//            answer was lost, redis_storage.hpp PendingAppend)
// set, replace and touch also add the session to the set. Nothing happens, the set included, when
// the session's token is not ARGV[1]: a refused writer must not bring back the id of a session its
// new holder deleted. Returns -1 then, 0 otherwise. Values are pushed 1000 at a time: Lua's
// unpack() refuses a few thousand results at once. The set lies outside the session's hash slot,
// as in the unfenced transactions (standalone Redis only, README "Key layout").
inline constexpr const char* kFencedWrite = R"lua(
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return -1 end
local op = ARGV[2]
if op == 'set' then redis.call('SET', KEYS[3], ARGV[4])
elseif op == 'replace' then
  redis.call('DEL', KEYS[3])
  for i = 4, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
elseif op == 'trim' then
  redis.call('LTRIM', KEYS[3], 0, -(tonumber(ARGV[4]) + 1))
  return 0
elseif op == 'forget' then
  redis.call('DEL', unpack(KEYS, 3))
  redis.call('SREM', KEYS[2], ARGV[3])
  return 0
elseif op ~= 'touch' then return redis.error_reply('macp fenced write: unknown operation ' .. op)
end
redis.call('SADD', KEYS[2], ARGV[3])
return 0
)lua";

// A group-commit batch's fenced appends in one script run (one Lua call instead of one per
// session: 64 sessions per batch cost about a third of the Sends/s as separate calls).
// KEYS: each session's token key and log key, in pairs, then the set of every session. ARGV: per
// session, in the same order, its token, its record count n (>= 1), its id and its n records.
// Returns one character per session: '1' appended (and the id added to the set), '0' fenced
// (nothing of that session stored).
inline constexpr const char* kFencedAppendBatch = R"lua(
local out = {}
local a = 1
local sessions = KEYS[#KEYS]
for k = 1, #KEYS - 1, 2 do
  local last = a + 2 + tonumber(ARGV[a + 1])
  if (redis.call('GET', KEYS[k]) or '0') == ARGV[a] then
    for i = a + 3, last, 1000 do
      redis.call('RPUSH', KEYS[k + 1], unpack(ARGV, i, math.min(i + 999, last)))
    end
    redis.call('SADD', sessions, ARGV[a + 2])
    out[#out + 1] = '1'
  else
    out[#out + 1] = '0'
  end
  a = last + 1
end
return table.concat(out)
)lua";

// KEYS[1] the session's lease key, KEYS[2] its token key.
// ARGV[1] the caller (holder name); ARGV[2] the lease's TTL in ms; ARGV[3] the token the caller
// holds, '0' to acquire.
// Returns 1 granted (acquired, raising the token, or renewed), 0 another holder's lease is live
// (acquire), 2 fenced (renew: the token moved on, or another holder's lease is live).
inline constexpr const char* kAcquireLease = R"lua(
local holder = redis.call('GET', KEYS[1])
local token = redis.call('GET', KEYS[2]) or '0'
local other = holder and holder ~= ARGV[1]
if ARGV[3] ~= '0' then
  if token ~= ARGV[3] or other then return 2 end
elseif other then
  return 0
elseif not holder then
  redis.call('INCR', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
)lua";

// renew_leases: kAcquireLease's renewal for many sessions in one run.
// KEYS: each session's lease key and token key, in pairs. ARGV[1] the holder, ARGV[2] the TTL in
// ms, ARGV[3..] each session's held token, in the same order. Returns one character per session:
// '1' renewed, '0' fenced.
inline constexpr const char* kRenewLeases = R"lua(
local out = {}
for k = 1, #KEYS, 2 do
  local holder = redis.call('GET', KEYS[k])
  local token = redis.call('GET', KEYS[k + 1]) or '0'
  if token == ARGV[2 + (k + 1) / 2] and (not holder or holder == ARGV[1]) then
    redis.call('SET', KEYS[k], ARGV[1], 'PX', ARGV[2])
    out[#out + 1] = '1'
  else
    out[#out + 1] = '0'
  end
end
return table.concat(out)
)lua";

// KEYS[1] the session's lease key, KEYS[2] its token key; ARGV[1] the holder, ARGV[2] its token.
// Deletes the lease when the caller still holds it under that token; returns 1 if it did.
inline constexpr const char* kReleaseLease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] and (redis.call('GET', KEYS[2]) or '0') == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

}  // namespace macp::storage_redis::scripts

#endif  // MACP_STORAGE_REDIS_REDIS_SCRIPTS_HPP
