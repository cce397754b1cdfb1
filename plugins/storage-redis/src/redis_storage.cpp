// RedisStorage: see redis_storage.hpp for the layout and README.md for the contract it keeps.
#include "redis_storage.hpp"

#include "redis_events.hpp"

#include "redis_scripts.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace macp::storage_redis {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kFirstBackoff = 100ms;
constexpr std::chrono::milliseconds kMaxBackoff = 2000ms;
constexpr long long kLogPage = 4096;  // LRANGE page size of load_log
// scan_sessions: sessions per pipelined round trip, and the log records fetched with each one's
// snapshot (most logs are short, and checkpoint compaction keeps finished ones short).
constexpr std::size_t kScanBatch = 256;
constexpr long long kScanInlineRecords = 64;

int int_key(const sdk::Config& config, const char* key, const char* fallback, int lo, int hi) {
    const std::string v = config.get_or(key, fallback);
    if (v.empty() || v.size() > 9 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(key) + " must be a number (" + std::to_string(lo) +
                                                           ".." + std::to_string(hi) + "), got '" + v + "'");
    }
    const long n = std::stol(v);
    if (n < lo || n > hi) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(key) + " must be in " + std::to_string(lo) + ".." +
                                                           std::to_string(hi) + ", got " + v);
    }
    return static_cast<int>(n);
}

bool bool_key(const sdk::Config& config, const char* key) {
    std::string v = config.get_or(key, "0");
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
    if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) return false;
    throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string(key) + " must be 0 or 1, got '" + v + "'");
}

std::string text(const redisReply& r) {
    return r.str != nullptr ? std::string(r.str, r.len) : std::string();
}

bool is_error(const ReplyPtr& r) {
    return r && r->type == REDIS_REPLY_ERROR;
}

// The value of a `CONFIG GET name` reply, nullopt if CONFIG is refused or unknown.
std::optional<std::string> config_value(const ReplyPtr& r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return std::nullopt;
    const redisReply* v = r->element[1];
    if (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_STATUS) return std::nullopt;
    return text(*v);
}

// Status of an error reply: UNAVAILABLE for "not now" states, IO_ERROR otherwise.
macp_status error_status(const redisReply& r) {
    const std::string t = text(r);
    for (const char* transient : {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "NOAUTH"}) {
        if (t.rfind(transient, 0) == 0) return MACP_STATUS_UNAVAILABLE;
    }
    return MACP_STATUS_IO_ERROR;
}

std::string random_epoch() {
    std::random_device rd;
    std::string out;
    char buf[9];
    for (int i = 0; i < 4; ++i) {
        std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(rd()));
        out += buf;
    }
    return out;
}

std::string session_base(std::string_view prefix, std::string_view session_id) {
    std::string k;
    k.reserve(prefix.size() + session_id.size() + 10);
    k.append(prefix);
    k.append("s:{");
    k.append(session_id);
    k.append("}");
    return k;
}

}  // namespace

timeval to_timeval(int ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
    return tv;
}

std::string snapshot_key(std::string_view prefix, std::string_view session_id) {
    return session_base(prefix, session_id) + ":snap";
}

std::string log_key(std::string_view prefix, std::string_view session_id) {
    return session_base(prefix, session_id) + ":log";
}

std::string token_key(std::string_view prefix, std::string_view session_id) {
    return session_base(prefix, session_id) + ":token";
}

std::string lease_key(std::string_view prefix, std::string_view session_id) {
    return session_base(prefix, session_id) + ":lease";
}

std::string sessions_key(std::string_view prefix) {
    return std::string(prefix) + "sessions";
}

std::string records_key(std::string_view prefix, std::string_view ns) {
    return std::string(prefix) + "r:" + std::string(ns);
}

std::string epoch_key(std::string_view prefix) {
    return std::string(prefix) + "meta:epoch";
}

std::string counter_key(std::string_view prefix) {
    return std::string(prefix) + "meta:writes";
}

Settings parse_settings(const sdk::Config& config) {
    Settings s;
    s.endpoint = parse_url(config.get_or(RedisStorage::kUrlKey, RedisStorage::kDefaultUrl));
    const std::string password = config.get_or(RedisStorage::kPasswordKey, "");
    if (!password.empty()) {
        s.endpoint.password = password;
        s.endpoint.has_password = true;
    }
    s.prefix = config.get_or(RedisStorage::kPrefixKey, RedisStorage::kDefaultPrefix);
    if (s.prefix.find_first_of("{}") != std::string::npos) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         std::string(RedisStorage::kPrefixKey) + " '" + s.prefix +
                             "' must not contain '{' or '}': the braces of a key are its session's hash tag");
    }
    if (s.prefix.size() > 256) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         std::string(RedisStorage::kPrefixKey) + " is longer than 256 bytes");
    }
    s.require_fsync = bool_key(config, RedisStorage::kRequireFsyncKey);
    s.wait_replicas = int_key(config, RedisStorage::kWaitReplicasKey, "0", 0, 100);
    s.wait_timeout_ms = int_key(config, RedisStorage::kWaitTimeoutKey, RedisStorage::kDefaultWaitTimeoutMs, 1, 600000);
    s.connect_timeout_ms =
        int_key(config, RedisStorage::kConnectTimeoutKey, RedisStorage::kDefaultConnectTimeoutMs, 1, 600000);
    s.command_timeout_ms =
        int_key(config, RedisStorage::kCommandTimeoutKey, RedisStorage::kDefaultCommandTimeoutMs, 1, 600000);
    return s;
}

std::string durability_note(const Durability& d, int wait_replicas, int wait_timeout_ms) {
    std::string s;
    if (!d.appendonly || !d.appendfsync) {
        s = "durability unknown: Redis refuses CONFIG GET (CONFIG renamed or forbidden), so appendonly/appendfsync "
            "cannot be read; an acknowledgement may mean memory only";
    } else if (*d.appendonly != "yes") {
        s = "memory only: Redis runs without an append-only file (appendonly no): acknowledged writes live in its "
            "memory";
        if (d.save && !d.save->empty()) {
            s += " and in periodic RDB snapshots (save " + *d.save +
                 "): a restart of Redis goes back to the last snapshot";
        } else {
            s += " only: a restart of Redis loses all of them";
        }
    } else if (*d.appendfsync == "always") {
        s = "fsynced by Redis: every acknowledged write is in Redis' append-only file, fsynced before Redis replied "
            "(appendonly yes, appendfsync always)";
    } else if (*d.appendfsync == "everysec") {
        s = "up to 1 s loss if Redis crashes: acknowledged writes are in Redis' append-only file, fsynced about once "
            "a second (appendfsync everysec): a power failure or kernel crash of the Redis host can lose up to ~1 s "
            "of them (a crash of redis-server alone loses nothing)";
    } else if (*d.appendfsync == "no") {
        s = "OS-buffered: acknowledged writes are in Redis' append-only file, written to disk when the OS decides "
            "(appendfsync no, typically within 30 s): a power failure or kernel crash of the Redis host can lose "
            "them";
    } else {
        s = "durability unknown: appendonly yes with an unrecognised appendfsync '" + *d.appendfsync + "'";
    }
    if (wait_replicas > 0) {
        s += "; every write is also acknowledged only once " + std::to_string(wait_replicas) +
             " replica(s) received it (WAIT " + std::to_string(wait_replicas) + " " + std::to_string(wait_timeout_ms) +
             "; replicas confirm receipt, not their own fsync)";
    }
    return s;
}

// ---- instance --------------------------------------------------------------------------------

RedisStorage::RedisStorage(const sdk::Config& config)
    : settings_(parse_settings(config)),
      log_(config.logger()),
      sessions_key_(sessions_key(settings_.prefix)),
      epoch_key_(epoch_key(settings_.prefix)),
      counter_key_(counter_key(settings_.prefix)),
      wait_replicas_arg_(std::to_string(settings_.wait_replicas)),
      wait_timeout_arg_(std::to_string(settings_.wait_timeout_ms)) {
    const std::lock_guard<std::mutex> lock(mutex_);
    connect_and_verify("start-up");
    if (not_durable_) throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, *not_durable_ + "; refusing to start");
    const std::string line = where() + ": connected, key prefix '" + settings_.prefix + "', write counter " +
                             std::to_string(last_counter_) + "; durability: " + durability_;
    if (durability_.rfind("fsynced by Redis", 0) == 0) {
        log_.info(line);
    } else {
        log_.warn(line);
    }
}

void RedisStorage::check_config(const sdk::Config& config) {
    (void)parse_settings(config);  // no connection: check_config has no side effects
}

std::string RedisStorage::where() const {
    return "storage-redis " + settings_.endpoint.display;
}

std::string RedisStorage::durability() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return durability_;
}

sdk::Error RedisStorage::unavailable(const char* what, const std::string& cause) {
    last_error_ = cause;
    return sdk::Error(MACP_STATUS_UNAVAILABLE, where() + ": " + what + ": " + cause);
}

void RedisStorage::drop(const std::string& why) {
    if (ctx_ && !epoch_.empty()) log_.warn(where() + ": connection dropped: " + why + "; reconnecting on demand");
    ctx_.reset();
    last_error_ = why;
    next_attempt_ = Clock::now();  // the first reconnect may happen right away; failures back off
}

redisContext* RedisStorage::connection(const char* what) {
    if (ctx_) {
        // An idle connection has nothing to read: if it is readable, Redis closed it (restart,
        // timeout, CLIENT KILL). Find out now, before a write is sent into a dead socket.
        pollfd p{ctx_->fd, POLLIN, 0};
        if (::poll(&p, 1, 0) == 0) return ctx_.get();
        drop("Redis closed the connection");
    }
    const bool reconnect = !epoch_.empty();
    const auto now = Clock::now();
    if (now < next_attempt_) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now).count();
        throw sdk::Error(MACP_STATUS_UNAVAILABLE, where() + ": " + what + ": Redis is unreachable (" + last_error_ +
                                                      "); next reconnect attempt in " + std::to_string(wait) + " ms");
    }
    try {
        connect_and_verify(what);
    } catch (const sdk::Error& e) {
        ctx_.reset();
        backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
        next_attempt_ = Clock::now() + backoff_;
        if (last_error_.empty()) last_error_ = e.what();
        throw;
    }
    if (reconnect) log_.info(where() + ": reconnected (write counter " + std::to_string(last_counter_) + ")");
    backoff_ = std::chrono::milliseconds(0);
    return ctx_.get();
}

void RedisStorage::connect_and_verify(const char* what) {
    const Endpoint& e = settings_.endpoint;
    const timeval connect_timeout = to_timeval(settings_.connect_timeout_ms);
    ContextPtr c(e.kind == Endpoint::Kind::tcp ? redisConnectWithTimeout(e.host.c_str(), e.port, connect_timeout)
                                               : redisConnectUnixWithTimeout(e.path.c_str(), connect_timeout));
    if (!c) throw sdk::Error(MACP_STATUS_INTERNAL, where() + ": cannot allocate a hiredis context");
    if (c->err != 0) throw unavailable(what, std::string("cannot connect: ") + c->errstr);
    // A WAIT may block for its timeout on top of the command's own time.
    redisSetTimeout(c.get(), to_timeval(settings_.command_timeout_ms +
                                        (settings_.wait_replicas > 0 ? settings_.wait_timeout_ms : 0)));
    ctx_ = std::move(c);
    try {
        std::vector<Argv> setup;
        if (e.has_password) {
            setup.push_back(e.user.empty() ? Argv{"AUTH", e.password} : Argv{"AUTH", e.user, e.password});
        }
        const std::string db = std::to_string(e.db);
        if (e.db != 0) setup.push_back({"SELECT", db});
        if (!setup.empty()) {
            const auto replies = pipeline(setup, what);
            for (std::size_t i = 0; i < replies.size(); ++i) {
                if (!is_error(replies[i])) continue;
                const bool auth = e.has_password && i == 0;
                throw unavailable(what, std::string(auth ? "authentication failed: " : "SELECT " + db + " failed: ") +
                                            text(*replies[i]));
            }
        }
        verify(what);
    } catch (...) {
        ctx_.reset();
        throw;
    }
}

std::vector<ReplyPtr> RedisStorage::pipeline(const std::vector<Argv>& commands, const char* what) {
    redisContext* c = ctx_.get();
    if (c == nullptr) throw unavailable(what, "not connected");
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& cmd : commands) {
        argv.clear();
        lens.clear();
        for (const auto& a : cmd) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
            const std::string cause = c->errstr;
            drop(cause);
            throw sdk::Error(MACP_STATUS_INTERNAL, where() + ": " + what + ": " + cause);
        }
    }
    std::vector<ReplyPtr> replies;
    replies.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void* raw = nullptr;
        errno = 0;
        const int rc = redisGetReply(c, &raw);
        const int saved_errno = errno;
        if (rc != REDIS_OK || raw == nullptr) {
            const bool timed_out = c->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK);
            std::string cause = c->err != 0 ? std::string(c->errstr) : std::string("no reply");
            if (timed_out) {
                cause = "no answer within " + std::to_string(settings_.command_timeout_ms) + " ms";
            }
            drop(cause);
            throw sdk::Error(timed_out ? MACP_STATUS_TIMEOUT : MACP_STATUS_UNAVAILABLE,
                             where() + ": " + what + ": connection to Redis lost (" + cause +
                                 "); the outcome is unknown, nothing of this call is acknowledged; it reconnects on "
                                 "the next call");
        }
        replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return replies;
}

void RedisStorage::lost(const std::string& why) {
    if (!lost_) {
        lost_ = where() + " (key prefix '" + settings_.prefix + "'): Redis lost acknowledged writes (" + why +
                "): it restarted empty or from an older snapshot, or was flushed; writes are refused from now on; "
                "restart macp-runtime to recover from what Redis holds";
        log_.error(*lost_);
    }
    throw sdk::Error(MACP_STATUS_CORRUPT, *lost_);
}

void RedisStorage::note_counter(long long counter, const char* what) {
    // The transaction's INCR returned `counter`: before it, Redis held counter - 1, which must not
    // be below the highest value this instance has seen.
    const long long before = counter - 1;
    if (!lost_ && before < last_counter_) {
        const long long expected = last_counter_;
        last_counter_ = counter;
        lost("write counter " + std::to_string(before) + " < " + std::to_string(expected) + ", seen by " + what);
    }
    last_counter_ = std::max(last_counter_, counter);
}

void RedisStorage::verify(const char* what) {
    const bool first = epoch_.empty();
    const std::string fresh_epoch = first ? random_epoch() : std::string();
    std::vector<Argv> cmds;
    if (first) cmds.push_back({"SET", epoch_key_, fresh_epoch, "NX"});
    cmds.push_back({"GET", epoch_key_});
    cmds.push_back({"GET", counter_key_});
    cmds.push_back({"CONFIG", "GET", "appendonly"});
    cmds.push_back({"CONFIG", "GET", "appendfsync"});
    cmds.push_back({"CONFIG", "GET", "save"});
    const auto r = pipeline(cmds, what);
    const std::size_t base = first ? 1 : 0;
    for (std::size_t i = 0; i < base + 2; ++i) {
        if (is_error(r[i])) {
            const std::string t = text(*r[i]);
            const std::string hint =
                t.rfind("NOAUTH", 0) == 0
                    ? " (Redis wants a password: redis://:password@host:port or MACP_REDIS_PASSWORD)"
                    : std::string();
            drop(t);
            std::string message = where();
            message.append(": ").append(what).append(": ").append(t).append(hint);
            throw sdk::Error(error_status(*r[i]), message);
        }
    }
    const ReplyPtr& epoch = r[base];
    const ReplyPtr& counter = r[base + 1];
    long long count = 0;
    if (counter->type == REDIS_REPLY_STRING) {
        try {
            count = std::stoll(text(*counter));
        } catch (const std::exception&) {
            throw sdk::Error(MACP_STATUS_CORRUPT, where() + ": " + counter_key_ + " is not a number");
        }
    }
    Durability d{config_value(r[base + 2]), config_value(r[base + 3]), config_value(r[base + 4])};
    const std::string note = durability_note(d, settings_.wait_replicas, settings_.wait_timeout_ms);
    if (!durability_.empty() && note != durability_) log_.warn(where() + ": durability changed: " + note);
    durability_ = note;
    if (settings_.require_fsync && !d.fsync_confirmed()) {
        not_durable_ = where() + ": MACP_REDIS_REQUIRE_FSYNC=1 but Redis " +
                       (d.appendonly && d.appendfsync
                            ? "has appendonly " + *d.appendonly + ", appendfsync " + *d.appendfsync
                            : std::string("does not let its persistence settings be read (CONFIG renamed or "
                                          "forbidden)")) +
                       "; an acknowledgement needs appendonly yes and appendfsync always (redis.conf or CONFIG SET)";
    } else {
        not_durable_.reset();
    }

    if (first) {
        if (epoch->type != REDIS_REPLY_STRING) {
            throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": " + epoch_key_ + " could not be created");
        }
        epoch_ = text(*epoch);
        last_counter_ = count;
        return;
    }
    if (lost_) return;
    if (epoch->type != REDIS_REPLY_STRING) {
        lost("the key space marker " + epoch_key_ + " is gone, write counter " + std::to_string(count) + " < " +
             std::to_string(last_counter_));
    }
    if (text(*epoch) != epoch_) {
        lost("the key space marker " + epoch_key_ + " changed from " + epoch_ + " to " + text(*epoch));
    }
    if (count < last_counter_) {
        lost("write counter " + std::to_string(count) + " < " + std::to_string(last_counter_));
    }
    last_counter_ = count;
    if (pending_) resolve_pending(count, what);
}

void RedisStorage::resolve_pending(long long counter, const char* what) {
    const PendingAppend& p = *pending_;
    const bool never_arrived = p.undone_at == 0 && counter == p.applied_at - 1;
    const bool taken_back = p.undone_at != 0 && counter == p.undone_at;
    if (never_arrived || taken_back) {
        pending_.reset();  // nothing (left) to take back
    } else if (counter == p.applied_at) {
        log_.warn(where() + ": an append that was not acknowledged had reached Redis (write counter " +
                  std::to_string(counter) + "); removing its records again");
        undo_pending(what);
    } else {
        log_.warn(where() + ": cannot tell whether an append that was not acknowledged reached Redis (write counter " +
                  std::to_string(counter) + ", expected " + std::to_string(p.applied_at - 1) + " or " +
                  std::to_string(p.applied_at) +
                  "; another writer uses this key prefix): its records may be found by the next recovery");
        pending_.reset();
    }
}

void RedisStorage::undo_pending(const char* what) {
    std::vector<std::string> ends;
    ends.reserve(pending_->pushed.size());  // no reallocation: the Argv views stay valid
    std::vector<FenceArgs> fences;
    fences.reserve(pending_->pushed.size());
    std::vector<std::vector<std::string_view>> keys;
    keys.reserve(pending_->pushed.size());
    std::vector<Argv> undo;
    for (const auto& p : pending_->pushed) {
        if (p.token == 0) {
            ends.push_back(std::to_string(-(p.count + 1)));
            undo.push_back({"LTRIM", p.key, "0", ends.back()});  // drops the last count elements
        } else {
            ends.push_back(std::to_string(p.count));
            keys.push_back({p.key});
            fences.emplace_back();
            undo.push_back(fenced_write(p.session_id, p.token, "trim", keys.back(), {ends.back()}, fences.back()));
        }
    }
    pending_->undone_at = last_counter_ + 1;
    try {
        transaction(undo, what, Wait::skip);
    } catch (...) {
        if (ctx_) pending_.reset();  // Redis answered (with an error): nothing more to learn
        throw;
    }
    pending_.reset();
}

void RedisStorage::check_writable(const char* what, const sdk::CallContext& call) {
    if (call.deadline_passed()) {
        throw sdk::Error(MACP_STATUS_TIMEOUT, where() + ": " + what + ": the call's deadline passed before it started");
    }
    if (lost_) throw sdk::Error(MACP_STATUS_CORRUPT, *lost_);
    (void)connection(what);  // a reconnect verifies first, and may find the data lost
    if (lost_) throw sdk::Error(MACP_STATUS_CORRUPT, *lost_);
    if (not_durable_) throw sdk::Error(MACP_STATUS_UNAVAILABLE, *not_durable_ + "; writes are refused until then");
}

void RedisStorage::check_readable(const char* what, const sdk::CallContext& call) {
    if (call.deadline_passed()) {
        throw sdk::Error(MACP_STATUS_TIMEOUT, where() + ": " + what + ": the call's deadline passed before it started");
    }
    (void)connection(what);
}

std::vector<long long> RedisStorage::transaction(const std::vector<Argv>& commands, const char* what, Wait wait,
                                                 int* confirmed, std::vector<std::string>* texts) {
    const bool waits = settings_.wait_replicas > 0 && wait != Wait::skip;
    std::vector<Argv> cmds;
    cmds.reserve(commands.size() + 4);
    cmds.push_back({"MULTI"});
    cmds.insert(cmds.end(), commands.begin(), commands.end());
    cmds.push_back({"INCR", counter_key_});
    cmds.push_back({"EXEC"});
    if (waits) cmds.push_back({"WAIT", wait_replicas_arg_, wait_timeout_arg_});
    const auto r = pipeline(cmds, what);

    const std::size_t n = commands.size();
    std::string queue_error;
    std::size_t first_queue_error = 0;
    for (std::size_t i = 0; i <= n + 1 && queue_error.empty(); ++i) {
        if (is_error(r[i])) {
            queue_error = text(*r[i]);
            first_queue_error = i;
        }
    }
    const ReplyPtr& exec = r[n + 2];
    if (is_error(exec) || exec->type != REDIS_REPLY_ARRAY || exec->elements != n + 1) {
        const redisReply& e = *exec;
        // A command refused while queueing (e.g. READONLY: the URL names a replica) says more
        // than EXECABORT.
        const macp_status status = !queue_error.empty() ? error_status(*r[first_queue_error])
                                   : is_error(exec)     ? error_status(e)
                                                        : MACP_STATUS_IO_ERROR;
        throw sdk::Error(status, where() + ": " + what + ": the transaction was not executed (" +
                                     (is_error(exec) ? text(e) : std::string("unexpected EXEC reply")) +
                                     (queue_error.empty() ? std::string() : ": " + queue_error) + ")");
    }
    const redisReply* incr = exec->element[n];
    if (incr->type != REDIS_REPLY_INTEGER) {
        throw sdk::Error(MACP_STATUS_IO_ERROR,
                         where() + ": " + what + ": INCR " + counter_key_ + " failed: " + text(*incr));
    }
    note_counter(incr->integer, what);
    std::vector<long long> results(n, 0);
    if (texts != nullptr) texts->assign(n, std::string());
    for (std::size_t i = 0; i < n; ++i) {
        const redisReply* e = exec->element[i];
        if (e->type == REDIS_REPLY_ERROR) {
            throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": " + what + ": Redis refused part of the transaction (" +
                                                       text(*e) + "): not acknowledged");
        }
        if (e->type == REDIS_REPLY_INTEGER) results[i] = e->integer;
        if (texts != nullptr && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS)) {
            (*texts)[i] = text(*e);
        }
    }
    if (waits) {
        const ReplyPtr& w = r.back();
        const int got = w->type == REDIS_REPLY_INTEGER ? static_cast<int>(w->integer) : -1;
        if (wait == Wait::report && confirmed != nullptr) {
            *confirmed = got;
        } else if (got < settings_.wait_replicas) {
            throw sdk::Error(
                MACP_STATUS_UNAVAILABLE,
                where() + ": " + what + ": " +
                    (got < 0 ? "WAIT failed (" + text(*w) + ")"
                             : "only " + std::to_string(got) + " of " + wait_replicas_arg_ +
                                   " replica(s) confirmed the write within " + wait_timeout_arg_ + " ms (WAIT)") +
                    ": not acknowledged (the write stays on the primary)");
        }
    }
    return results;
}

// ---- sessions ----------------------------------------------------------------------------------

// ---- fencing (ABI 1.2) -----------------------------------------------------------------------------

RedisStorage::Argv RedisStorage::fenced_write(std::string_view session_id, uint64_t token, std::string_view op,
                                              const std::vector<std::string_view>& keys,
                                              const std::vector<std::string_view>& values, FenceArgs& args) const {
    args.token_key = token_key(settings_.prefix, session_id);
    args.token = std::to_string(token);
    args.numkeys = std::to_string(keys.size() + 2);
    Argv cmd{"EVAL", scripts::kFencedWrite, args.numkeys, args.token_key, sessions_key_};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.push_back(args.token);
    cmd.push_back(op);
    cmd.push_back(session_id);
    cmd.insert(cmd.end(), values.begin(), values.end());
    return cmd;
}

std::string RedisStorage::fenced_message(const char* what, const std::string& session_id, uint64_t token) const {
    return where() + ": " + what + ": session " + session_id + ": fencing token " + std::to_string(token) +
           " is no longer the session's (another process holds its lease now): nothing written";
}

// ---- sessions ----------------------------------------------------------------------------------

void RedisStorage::create_session_storage(const std::string& session_id, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("create_session_storage", call);
    const uint64_t token = call.fencing_token();
    if (token == 0) {
        transaction({{"SADD", sessions_key_, session_id}}, "create_session_storage", Wait::check);
        return;
    }
    FenceArgs args;
    const auto r =
        transaction({fenced_write(session_id, token, "touch", {}, {}, args)}, "create_session_storage", Wait::check);
    if (r[0] < 0) throw sdk::Error(MACP_STATUS_FENCED, fenced_message("create_session_storage", session_id, token));
}

void RedisStorage::save_session(const std::string& session_id, std::string_view snapshot,
                                const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("save_session", call);
    const std::string key = snapshot_key(settings_.prefix, session_id);
    const uint64_t token = call.fencing_token();
    if (token == 0) {
        transaction({{"SET", key, snapshot}, {"SADD", sessions_key_, session_id}}, "save_session", Wait::check);
        return;
    }
    FenceArgs args;
    const auto r =
        transaction({fenced_write(session_id, token, "set", {key}, {snapshot}, args)}, "save_session", Wait::check);
    if (r[0] < 0) throw sdk::Error(MACP_STATUS_FENCED, fenced_message("save_session", session_id, token));
}

std::optional<std::string> RedisStorage::load_session(const std::string& session_id, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_readable("load_session", call);
    const std::string key = snapshot_key(settings_.prefix, session_id);
    const auto r = pipeline({{"GET", key}}, "load_session");
    if (is_error(r[0])) throw sdk::Error(error_status(*r[0]), where() + ": load_session: " + text(*r[0]));
    if (r[0]->type == REDIS_REPLY_NIL) return std::nullopt;
    return text(*r[0]);
}

void RedisStorage::delete_session(const std::string& session_id, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("delete_session", call);
    const std::string snap = snapshot_key(settings_.prefix, session_id);
    const std::string log = log_key(settings_.prefix, session_id);
    const std::string lease = lease_key(settings_.prefix, session_id);
    const std::string tokens = token_key(settings_.prefix, session_id);
    const uint64_t token = call.fencing_token();
    if (token == 0) {
        transaction({{"DEL", snap, log, lease, tokens}, {"SREM", sessions_key_, session_id}}, "delete_session",
                    Wait::check);
        return;
    }
    FenceArgs args;
    const auto r = transaction({fenced_write(session_id, token, "forget", {snap, log, lease, tokens}, {}, args)},
                               "delete_session", Wait::check);
    if (r[0] < 0) throw sdk::Error(MACP_STATUS_FENCED, fenced_message("delete_session", session_id, token));
}

void RedisStorage::list_session_ids(const sdk::Emitter& out, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_readable("list_session_ids", call);
    const auto r = pipeline({{"SMEMBERS", sessions_key_}}, "list_session_ids");
    if (is_error(r[0])) throw sdk::Error(error_status(*r[0]), where() + ": list_session_ids: " + text(*r[0]));
    if (r[0]->type != REDIS_REPLY_ARRAY)
        throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": list_session_ids: bad reply");
    for (std::size_t i = 0; i < r[0]->elements; ++i) out(text(*r[0]->element[i]));
}

// ---- log -------------------------------------------------------------------------------------------

// One transaction for the whole group-commit batch: MULTI, one RPUSH per unfenced session (its
// records in order), one run of the fenced-append script for the sessions whose items carry a
// fencing token (it also adds their ids to the set when their token holds), one SADD of the
// unfenced sessions, INCR, EXEC [, WAIT], all in one pipeline. A bad record fails alone (and its
// session's later items), a stale token fails its session's items with FENCED; anything else
// failing throws, which fails every item.
void RedisStorage::append_records(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& status,
                                  const sdk::CallContext& call, const char* what) {
    std::vector<std::string_view> order;  // sessions in first-appearance order
    std::unordered_map<std::string_view, std::vector<std::size_t>> good;
    const std::vector<bool> writable = sdk::screen_batch(items, status, call);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!writable[i]) continue;
        const std::string_view sid = items[i].session_id;
        auto& list = good[sid];
        if (list.empty()) order.push_back(sid);
        list.push_back(i);
    }
    if (order.empty()) return;

    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable(what, call);
    std::vector<std::string> keys;     // log keys, then token keys of fenced sessions
    keys.reserve(2 * order.size());    // no reallocation: the Argv views below stay valid
    std::vector<std::string> numbers;  // tokens and counts of fenced sessions
    numbers.reserve(2 * order.size() + 1);
    std::vector<uint64_t> tokens;  // per session: its first item's (a session's items share one holder)
    tokens.reserve(order.size());
    std::vector<Argv> cmds;
    cmds.reserve(order.size() + 2);
    // Fenced sessions all go through one script run (redis_scripts.hpp kFencedAppendBatch).
    Argv fenced_keys;
    Argv fenced_args;
    Argv sadd{"SADD", sessions_key_};
    for (const std::string_view sid : order) {
        const std::vector<std::size_t>& mine = good[sid];
        keys.push_back(log_key(settings_.prefix, sid));
        tokens.push_back(items[mine.front()].fencing_token);
        if (tokens.back() == 0) {
            Argv rpush{"RPUSH", keys.back()};
            for (const std::size_t i : mine) rpush.push_back(items[i].record);
            cmds.push_back(std::move(rpush));
        } else {
            const std::string& log = keys.back();
            keys.push_back(token_key(settings_.prefix, sid));
            fenced_keys.push_back(keys.back());
            fenced_keys.push_back(log);
            numbers.push_back(std::to_string(tokens.back()));
            fenced_args.push_back(numbers.back());
            numbers.push_back(std::to_string(mine.size()));
            fenced_args.push_back(numbers.back());
            fenced_args.push_back(sid);
            for (const std::size_t i : mine) fenced_args.push_back(items[i].record);
            continue;  // the script adds the id to the set, only if the token holds
        }
        sadd.push_back(sid);
    }
    const std::size_t fenced_at = cmds.size();  // the script's reply index, when there is one
    if (!fenced_keys.empty()) {
        fenced_keys.push_back(sessions_key_);
        numbers.push_back(std::to_string(fenced_keys.size()));
        Argv eval{"EVAL", scripts::kFencedAppendBatch, numbers.back()};
        eval.insert(eval.end(), fenced_keys.begin(), fenced_keys.end());
        eval.insert(eval.end(), fenced_args.begin(), fenced_args.end());
        cmds.push_back(std::move(eval));
    }
    if (sadd.size() > 2) cmds.push_back(std::move(sadd));

    PendingAppend pending;
    pending.applied_at = last_counter_ + 1;
    for (std::size_t k = 0; k < order.size(); ++k) {
        pending.pushed.push_back(
            {std::string(order[k]), keys[k], static_cast<long long>(good[order[k]].size()), tokens[k]});
    }
    pending_ = std::move(pending);
    int confirmed = 0;
    std::vector<std::string> texts;
    try {
        transaction(cmds, what, Wait::report, &confirmed, &texts);
    } catch (...) {
        // Connection lost before Redis' answer: the outcome is unknown, the next reconnect finds
        // out from the write counter (and takes the records back if they landed). Otherwise
        // Redis answered: nothing is pending.
        if (ctx_) pending_.reset();
        throw;
    }
    if (settings_.wait_replicas > 0 && confirmed < settings_.wait_replicas) {
        // Too few replicas: not acknowledged. Take the records off the primary again, so a
        // rejected record is not found by the next recovery.
        pending_->applied_at = last_counter_;
        std::string outcome = "the records were removed from the primary again";
        try {
            undo_pending(what);
        } catch (const sdk::Error& e) {
            outcome = std::string("removing them from the primary failed (retried at the next reconnect): ") + e.what();
        }
        throw sdk::Error(
            MACP_STATUS_UNAVAILABLE,
            where() + ": " + what + ": " +
                (confirmed < 0 ? std::string("WAIT failed")
                               : "only " + std::to_string(confirmed) + " of " + wait_replicas_arg_ +
                                     " replica(s) confirmed the write within " + wait_timeout_arg_ + " ms (WAIT)") +
                ": not acknowledged; " + outcome);
    }
    pending_.reset();
    const std::string verdicts = fenced_keys.empty() ? std::string() : texts[fenced_at];
    std::size_t next_verdict = 0;
    for (std::size_t k = 0; k < order.size(); ++k) {
        bool fenced = false;
        if (tokens[k] != 0) {
            // A missing verdict cannot happen with this script; treat it as not stored, never as OK.
            fenced = next_verdict >= verdicts.size() || verdicts[next_verdict] != '1';
            ++next_verdict;
        }
        if (fenced) call.note(fenced_message(what, std::string(order[k]), tokens[k]));
        for (const std::size_t i : good[order[k]]) status[i] = fenced ? MACP_STATUS_FENCED : MACP_STATUS_OK;
    }
}

void RedisStorage::append_log_entry(const std::string& session_id, std::string_view record,
                                    const sdk::CallContext& call) {
    sdk::check_record(record);
    std::vector<macp_status> status(1, MACP_STATUS_INTERNAL);
    append_records({sdk::LogAppend{session_id, record, call.fencing_token()}}, status, call, "append_log_entry");
    if (status[0] == MACP_STATUS_FENCED) {
        throw sdk::Error(status[0], fenced_message("append_log_entry", session_id, call.fencing_token()));
    }
    if (status[0] != MACP_STATUS_OK) throw sdk::Error(status[0], where() + ": append_log_entry failed");
}

void RedisStorage::append_log_batch(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& status,
                                    const sdk::CallContext& call) {
    append_records(items, status, call, "append_log_batch");
}

void RedisStorage::load_log(const std::string& session_id, const sdk::Emitter& out, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_readable("load_log", call);
    const std::string key = log_key(settings_.prefix, session_id);
    for (long long start = 0;; start += kLogPage) {
        const std::string from = std::to_string(start);
        const std::string to = std::to_string(start + kLogPage - 1);
        const auto r = pipeline({{"LRANGE", key, from, to}}, "load_log");
        if (is_error(r[0])) throw sdk::Error(error_status(*r[0]), where() + ": load_log: " + text(*r[0]));
        if (r[0]->type != REDIS_REPLY_ARRAY) throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": load_log: bad reply");
        for (std::size_t i = 0; i < r[0]->elements; ++i) out(text(*r[0]->element[i]));
        if (static_cast<long long>(r[0]->elements) < kLogPage) break;
    }
}

void RedisStorage::scan_sessions(const sdk::ScanSink& out, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_readable("scan_sessions", call);
    auto fail_on = [&](const ReplyPtr& r) {
        if (is_error(r)) throw sdk::Error(error_status(*r), where() + ": scan_sessions: " + text(*r));
        if (r->type != REDIS_REPLY_ARRAY && r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL) {
            throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": scan_sessions: bad reply");
        }
    };
    std::vector<std::string> ids;
    {
        const auto r = pipeline({{"SMEMBERS", sessions_key_}}, "scan_sessions");
        fail_on(r[0]);
        if (r[0]->type != REDIS_REPLY_ARRAY)
            throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": scan_sessions: bad reply");
        ids.reserve(r[0]->elements);
        for (std::size_t i = 0; i < r[0]->elements; ++i) ids.push_back(text(*r[0]->element[i]));
    }
    std::sort(ids.begin(), ids.end());  // a stable order for the host's log lines
    const std::string inline_last = std::to_string(kScanInlineRecords - 1);
    for (std::size_t first = 0; first < ids.size(); first += kScanBatch) {
        const std::size_t last = std::min(ids.size(), first + kScanBatch);
        // One round trip: every session's snapshot and the head of its log.
        std::vector<std::string> keys;
        keys.reserve(2 * (last - first));
        std::vector<Argv> cmds;
        cmds.reserve(2 * (last - first));
        for (std::size_t i = first; i < last; ++i) {
            keys.push_back(snapshot_key(settings_.prefix, ids[i]));
            keys.push_back(log_key(settings_.prefix, ids[i]));
        }
        for (std::size_t k = 0; k < keys.size(); k += 2) {
            cmds.push_back({"GET", keys[k]});
            cmds.push_back({"LRANGE", keys[k + 1], "0", inline_last});
        }
        const auto r = pipeline(cmds, "scan_sessions");
        for (std::size_t i = first; i < last; ++i) {
            const ReplyPtr& snap = r[2 * (i - first)];
            const ReplyPtr& head = r[2 * (i - first) + 1];
            fail_on(snap);
            fail_on(head);
            if (head->type != REDIS_REPLY_ARRAY)
                throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": scan_sessions: bad reply");
            std::optional<std::string_view> snapshot;
            if (snap->type == REDIS_REPLY_STRING) snapshot = std::string_view(snap->str, snap->len);
            if (!out.begin_session(ids[i], snapshot)) continue;
            for (std::size_t k = 0; k < head->elements; ++k) out.log_record(text(*head->element[k]));
            if (static_cast<long long>(head->elements) < kScanInlineRecords) continue;
            // A longer log: the rest in pages, as load_log reads it.
            const std::string& key = keys[2 * (i - first) + 1];
            for (long long start = kScanInlineRecords;; start += kLogPage) {
                const std::string from = std::to_string(start);
                const std::string to = std::to_string(start + kLogPage - 1);
                const auto page = pipeline({{"LRANGE", key, from, to}}, "scan_sessions");
                fail_on(page[0]);
                if (page[0]->type != REDIS_REPLY_ARRAY) {
                    throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": scan_sessions: bad reply");
                }
                for (std::size_t k = 0; k < page[0]->elements; ++k) out.log_record(text(*page[0]->element[k]));
                if (static_cast<long long>(page[0]->elements) < kLogPage) break;
            }
        }
    }
}

void RedisStorage::replace_log(const std::string& session_id, const std::vector<std::string_view>& records,
                               const sdk::CallContext& call) {
    for (const auto r : records) sdk::check_record(r);
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("replace_log", call);
    const std::string key = log_key(settings_.prefix, session_id);
    const uint64_t token = call.fencing_token();
    if (token != 0) {
        FenceArgs args;
        const std::vector<std::string_view> fenced_keys{key};
        const auto r = transaction({fenced_write(session_id, token, "replace", fenced_keys, records, args)},
                                   "replace_log", Wait::check);
        if (r[0] < 0) throw sdk::Error(MACP_STATUS_FENCED, fenced_message("replace_log", session_id, token));
        return;
    }
    std::vector<Argv> cmds{{"DEL", key}};
    if (!records.empty()) {
        Argv rpush{"RPUSH", key};
        rpush.insert(rpush.end(), records.begin(), records.end());
        cmds.push_back(std::move(rpush));
    }
    cmds.push_back({"SADD", sessions_key_, session_id});
    transaction(cmds, "replace_log", Wait::check);
}

// ---- keyed records ---------------------------------------------------------------------------

void RedisStorage::put_record(const std::string& ns, const std::string& key, std::string_view blob,
                              const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("put_record", call);
    const std::string hash = records_key(settings_.prefix, ns);
    transaction({{"HSET", hash, key, blob}}, "put_record", Wait::check);
}

void RedisStorage::delete_record(const std::string& ns, const std::string& key, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("delete_record", call);
    const std::string hash = records_key(settings_.prefix, ns);
    transaction({{"HDEL", hash, key}}, "delete_record", Wait::check);
}

void RedisStorage::list_records(const std::string& ns, const sdk::Emitter& out, const sdk::CallContext& call) {
    const std::lock_guard<std::mutex> lock(mutex_);
    check_readable("list_records", call);
    const std::string hash = records_key(settings_.prefix, ns);
    const auto r = pipeline({{"HGETALL", hash}}, "list_records");
    if (is_error(r[0])) throw sdk::Error(error_status(*r[0]), where() + ": list_records: " + text(*r[0]));
    if (r[0]->type != REDIS_REPLY_ARRAY || r[0]->elements % 2 != 0) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": list_records: bad reply");
    }
    for (std::size_t i = 0; i < r[0]->elements; ++i) out(text(*r[0]->element[i]));
}

// ---- maintenance -------------------------------------------------------------------------------

void RedisStorage::flush() {
    // Nothing is buffered here: every acknowledged write was already answered by Redis (and by
    // WAIT's replicas), as durable as durability() says.
}

std::string RedisStorage::health() {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (lost_) throw sdk::Error(MACP_STATUS_CORRUPT, *lost_);
    const bool was_connected = static_cast<bool>(ctx_);
    (void)connection("health");  // reconnects (with backoff) and verifies
    if (was_connected) verify("health");
    if (lost_) throw sdk::Error(MACP_STATUS_CORRUPT, *lost_);
    if (not_durable_) throw sdk::Error(MACP_STATUS_UNAVAILABLE, *not_durable_);
    return where() + ": " + durability_;
}

void RedisStorage::recover(const sdk::Emitter& /*repairs*/) {
    // Nothing to repair: every write is one Redis transaction, applied whole or not at all.
}

}  // namespace macp::storage_redis
