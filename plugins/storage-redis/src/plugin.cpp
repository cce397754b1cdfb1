// Exports macp_plugin_entry_v1 for the storage-redis plugin.
#include "redis_storage.hpp"

namespace {

using macp::storage_redis::RedisStorage;

const macp_config_key kConfigKeys[] = {
    macp::sdk::config_key(RedisStorage::kUrlKey, RedisStorage::kDefaultUrl,
                          "Redis to use: redis://[[user]:password@]host[:port][/db] or "
                          "unix://[[user]:password@]/path/redis.sock[?db=N] (no TLS: rediss:// is refused); "
                          "the password is masked in --print-config and logs",
                          0),
    macp::sdk::config_key(RedisStorage::kPasswordKey, "",
                          "Redis password (AUTH); overrides a password in MACP_REDIS_URL", MACP_CONFIG_SECRET),
    macp::sdk::config_key(RedisStorage::kPrefixKey, RedisStorage::kDefaultPrefix,
                          "Prefix of every key, so several runtimes can share one Redis (no '{' or '}')", 0),
    macp::sdk::config_key(RedisStorage::kRequireFsyncKey, "0",
                          "1 = refuse to start (and to write) unless Redis confirms appendonly yes and "
                          "appendfsync always",
                          0),
    macp::sdk::config_key(RedisStorage::kWaitReplicasKey, "0",
                          "Acknowledge a write only once this many replicas received it (WAIT); 0 = do not wait", 0),
    macp::sdk::config_key(RedisStorage::kWaitTimeoutKey, RedisStorage::kDefaultWaitTimeoutMs,
                          "How long a write waits for MACP_REDIS_WAIT_REPLICAS replicas, in ms", 0),
    macp::sdk::config_key(RedisStorage::kConnectTimeoutKey, RedisStorage::kDefaultConnectTimeoutMs,
                          "Connect timeout, in ms", 0),
    macp::sdk::config_key(RedisStorage::kCommandTimeoutKey, RedisStorage::kDefaultCommandTimeoutMs,
                          "Time Redis has to answer one call, in ms (WAIT's timeout comes on top)", 0),
};

}  // namespace

MACP_STORAGE_PLUGIN(RedisStorage, "redis", "1.0.0",
                    "Remote Redis (standalone, hiredis): one pipelined MULTI/EXEC per batch of acknowledged writes",
                    MACP_PLUGIN_FLAG_THREAD_SAFE, kConfigKeys)
