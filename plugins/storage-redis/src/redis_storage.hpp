// RedisStorage: the storage-redis backend (issue #11), written against the plugin SDK and hiredis.
//
// Layout (README.md "Key layout"), P = MACP_REDIS_KEY_PREFIX (default "macp:"):
//   P s:{<id>}:snap   STRING  the session's snapshot
//   P s:{<id>}:log    LIST    the session's log, one element per record, in append order
//   P sessions        SET     every stored session id
//   P r:<ns>          HASH    the keyed records of namespace <ns>: field = key, value = blob
//   P meta:epoch      STRING  random marker written once per key space
//   P meta:writes     STRING  write counter, INCR'd inside every write transaction
//   P s:{<id>}:token  STRING  the session's fencing token (ABI 1.2), raised by each new lease holder
//   P s:{<id>}:lease  STRING  the lease holder's name, expiring after the lease's TTL (PX)
// Every key of one session carries the hash tag {<id>}. Every write is one MULTI ... EXEC sent as
// one pipeline (one round trip), followed in the same pipeline by WAIT when
// MACP_REDIS_WAIT_REPLICAS > 0. A write carrying a fencing token runs its session's part as one
// Lua script inside that transaction (redis_scripts.hpp): the token check and the write are one
// atomic step on the server, and a refused session stores nothing while the others commit.
//
// One connection, guarded by one mutex (the instance is MACP_PLUGIN_FLAG_THREAD_SAFE). A broken
// connection is dropped; the next call (or health poll) reconnects, at most once per backoff
// interval (100 ms doubling to 2 s), and first checks that Redis still holds every write this
// instance saw acknowledged (epoch + write counter). If it does not, the instance refuses writes
// for good and health says why.
#ifndef MACP_STORAGE_REDIS_REDIS_STORAGE_HPP
#define MACP_STORAGE_REDIS_REDIS_STORAGE_HPP

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <macp/plugin/sdk/storage.hpp>

#include "redis_url.hpp"

namespace macp::storage_redis {
class RedisPublisher;
}

namespace macp::storage_redis {

struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// Key names (exposed for the tests).
std::string snapshot_key(std::string_view prefix, std::string_view session_id);  // P s:{id}:snap
std::string log_key(std::string_view prefix, std::string_view session_id);       // P s:{id}:log
std::string sessions_key(std::string_view prefix);                               // P sessions
std::string records_key(std::string_view prefix, std::string_view ns);           // P r:<ns>
std::string epoch_key(std::string_view prefix);                                  // P meta:epoch
std::string counter_key(std::string_view prefix);                                // P meta:writes
std::string token_key(std::string_view prefix, std::string_view session_id);     // P s:{id}:token
std::string lease_key(std::string_view prefix, std::string_view session_id);     // P s:{id}:lease

// The validated configuration.
// A millisecond timeout as hiredis takes it (connect and command timeouts).
timeval to_timeval(int ms);

struct Settings {
    Endpoint endpoint;
    std::string prefix;
    bool require_fsync = false;
    int wait_replicas = 0;
    int wait_timeout_ms = 1000;
    int connect_timeout_ms = 2000;
    int command_timeout_ms = 5000;
};
Settings parse_settings(const sdk::Config& config);  // throws INVALID_ARGUMENT

// What Redis says about persistence (CONFIG GET), nullopt where CONFIG is unavailable.
struct Durability {
    std::optional<std::string> appendonly;
    std::optional<std::string> appendfsync;
    std::optional<std::string> save;
    [[nodiscard]] bool fsync_confirmed() const { return appendonly == "yes" && appendfsync == "always"; }
};
// The sentence that says what an acknowledgement means under `d` (and WAIT, if any).
std::string durability_note(const Durability& d, int wait_replicas, int wait_timeout_ms);

class RedisStorage {
public:
    static constexpr const char* kUrlKey = "MACP_REDIS_URL";
    static constexpr const char* kDefaultUrl = "redis://127.0.0.1:6379";
    static constexpr const char* kPasswordKey = "MACP_REDIS_PASSWORD";
    static constexpr const char* kPrefixKey = "MACP_REDIS_KEY_PREFIX";
    static constexpr const char* kDefaultPrefix = "macp:";
    static constexpr const char* kRequireFsyncKey = "MACP_REDIS_REQUIRE_FSYNC";
    static constexpr const char* kWaitReplicasKey = "MACP_REDIS_WAIT_REPLICAS";
    static constexpr const char* kWaitTimeoutKey = "MACP_REDIS_WAIT_TIMEOUT_MS";
    static constexpr const char* kDefaultWaitTimeoutMs = "1000";
    static constexpr const char* kConnectTimeoutKey = "MACP_REDIS_CONNECT_TIMEOUT_MS";
    static constexpr const char* kDefaultConnectTimeoutMs = "2000";
    static constexpr const char* kCommandTimeoutKey = "MACP_REDIS_COMMAND_TIMEOUT_MS";
    static constexpr const char* kDefaultCommandTimeoutMs = "5000";

    static constexpr std::uint32_t macp_optional_ops =
        sdk::op::append_log_batch | sdk::op::replace_log | sdk::op::flush | sdk::op::health | sdk::op::recover |
        sdk::op::check_config | sdk::op::scan_sessions | sdk::op::leases | sdk::op::renew_leases | sdk::op::events;

    explicit RedisStorage(const sdk::Config& config);
    ~RedisStorage();  // in redis_events.cpp, where RedisPublisher is complete
    RedisStorage(const RedisStorage&) = delete;
    RedisStorage& operator=(const RedisStorage&) = delete;

    static void check_config(const sdk::Config& config);

    void create_session_storage(const std::string& session_id, const sdk::CallContext& call);
    void save_session(const std::string& session_id, std::string_view snapshot, const sdk::CallContext& call);
    std::optional<std::string> load_session(const std::string& session_id, const sdk::CallContext& call);
    void delete_session(const std::string& session_id, const sdk::CallContext& call);
    void list_session_ids(const sdk::Emitter& out, const sdk::CallContext& call);
    void append_log_entry(const std::string& session_id, std::string_view record, const sdk::CallContext& call);
    void load_log(const std::string& session_id, const sdk::Emitter& out, const sdk::CallContext& call);
    void put_record(const std::string& ns, const std::string& key, std::string_view blob, const sdk::CallContext& call);
    void delete_record(const std::string& ns, const std::string& key, const sdk::CallContext& call);
    void list_records(const std::string& ns, const sdk::Emitter& out, const sdk::CallContext& call);

    void append_log_batch(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& status,
                          const sdk::CallContext& call);
    void replace_log(const std::string& session_id, const std::vector<std::string_view>& records,
                     const sdk::CallContext& call);
    void flush();
    std::string health();
    void recover(const sdk::Emitter& repairs);
    // Start-up recovery (ABI 1.1): one round trip per batch of sessions instead of two per session.
    void scan_sessions(const sdk::ScanSink& out, const sdk::CallContext& call);
    // Session leases and fencing (ABI 1.2, storage.h "FENCING"; redis_leases.cpp).
    sdk::Lease acquire_lease(const std::string& session_id, const std::string& holder, uint32_t ttl_ms,
                             uint64_t held_token, const sdk::CallContext& call);
    void release_lease(const std::string& session_id, const std::string& holder, uint64_t token,
                       const sdk::CallContext& call);
    void renew_leases(const std::string& holder, uint32_t ttl_ms, const std::vector<sdk::LeaseRef>& leases,
                      std::vector<macp_status>& status, const sdk::CallContext& call);

    // Events between processes (redis_events.hpp).
    void publish_events(const std::string& channel, const std::vector<std::string_view>& messages);
    std::unique_ptr<sdk::EventSubscription> subscribe_events(const std::string& channel, const sdk::EventSink& sink);

    [[nodiscard]] const Settings& settings() const { return settings_; }
    // The durability note as of the last start-up / reconnect / health poll.
    [[nodiscard]] std::string durability() const;

private:
    using Argv = std::vector<std::string_view>;
    using Clock = std::chrono::steady_clock;

    // All private members below expect mutex_ to be held.
    redisContext* connection(const char* what);
    void connect_and_verify(const char* what);
    void drop(const std::string& why);
    // Sends every command in one pipeline and reads every reply; throws (and drops the connection)
    // when the connection fails. Error replies are returned, not thrown.
    std::vector<ReplyPtr> pipeline(const std::vector<Argv>& commands, const char* what);
    // How a write transaction treats MACP_REDIS_WAIT_REPLICAS.
    enum class Wait { check, report, skip };
    // MULTI, `commands`, INCR meta:writes, EXEC [, WAIT] in one pipeline. Returns the integer
    // results of `commands` (0 for other replies). Throws if anything failed; with Wait::check
    // also if too few replicas confirmed; with Wait::report stores their number in *confirmed.
    // With `texts`, also the string replies of `commands` ("" for other replies).
    std::vector<long long> transaction(const std::vector<Argv>& commands, const char* what, Wait wait,
                                       int* confirmed = nullptr, std::vector<std::string>* texts = nullptr);
    // One session's write under a fencing token: EVAL of the fenced-write script doing `op` on
    // `keys` with `values` once the session's token is `token` (redis_scripts.hpp). The returned
    // command views `keys`, `values` and `args`, which must outlive it. Its reply is -1 when the
    // token was stale (nothing written).
    struct FenceArgs {
        std::string token_key;
        std::string token;
        std::string numkeys;
    };
    Argv fenced_write(std::string_view session_id, uint64_t token, std::string_view op,
                      const std::vector<std::string_view>& keys, const std::vector<std::string_view>& values,
                      FenceArgs& args) const;
    [[nodiscard]] std::string fenced_message(const char* what, const std::string& session_id, uint64_t token) const;
    void check_writable(const char* what, const sdk::CallContext& call);
    void check_readable(const char* what, const sdk::CallContext& call);
    // Reads epoch, counter and the persistence settings; marks the data as lost if Redis no longer
    // holds what this instance saw acknowledged.
    void verify(const char* what);
    void note_counter(long long counter, const char* what);
    void lost(const std::string& why);
    [[nodiscard]] std::string where() const;  // "redis <masked url> (prefix 'P')"
    void append_records(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& status,
                        const sdk::CallContext& call, const char* what);
    [[nodiscard]] sdk::Error unavailable(const char* what, const std::string& cause);

    // A log append whose outcome is unknown (the connection broke before Redis' answer) or that
    // must be taken back (too few replicas): resolved by the write counter at the next reconnect.
    struct PendingAppend {
        long long applied_at = 0;  // the write counter once the append was applied
        long long undone_at = 0;   // the write counter once its undo was applied too (0: none sent)
        struct Pushed {
            std::string session_id;
            std::string key;      // its log key
            long long count = 0;  // records appended to it
            uint64_t token = 0;   // the append's fencing token: the undo is fenced by it too
        };
        std::vector<Pushed> pushed;
    };
    // Removes the pending append's records from the tail of each log again (nothing else can have
    // been appended to those sessions since: calls for one session are never concurrent, and every
    // call resolves the pending append first). A fenced append is undone only under its token: if
    // the token moved on, its script had stored nothing and the tail is another holder's.
    // Clears pending_ once Redis confirmed the undo.
    void undo_pending(const char* what);
    void resolve_pending(long long counter, const char* what);

    Settings settings_;
    sdk::Logger log_;
    std::once_flag publisher_once_;
    std::unique_ptr<RedisPublisher> publisher_;  // made on first publish
    std::optional<PendingAppend> pending_;

    mutable std::mutex mutex_;
    ContextPtr ctx_;
    std::string epoch_;                       // this key space's marker, as first seen
    long long last_counter_ = 0;              // the highest write counter seen
    std::optional<std::string> lost_;         // set once Redis is found to have lost acknowledged writes
    std::optional<std::string> not_durable_;  // REQUIRE_FSYNC and Redis does not confirm it
    std::string sessions_key_;
    std::string epoch_key_;
    std::string counter_key_;
    std::string wait_replicas_arg_;
    std::string wait_timeout_arg_;
    std::string last_error_;
    std::string durability_;
    Clock::time_point next_attempt_{};
    std::chrono::milliseconds backoff_{0};
};

}  // namespace macp::storage_redis

#endif  // MACP_STORAGE_REDIS_REDIS_STORAGE_HPP
