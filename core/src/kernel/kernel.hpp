// The runtime kernel: admission pipeline, session lifecycle, durability, recovery.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "auth/authenticator.hpp"
#include "auth/rate_limiter.hpp"
#include "protocol/errors.hpp"
#include "kernel/events.hpp"
#include "kernel/group_commit.hpp"
#include "kernel/records.hpp"
#include "kernel/session_table.hpp"
#include "kernel/snapshot_writer.hpp"
#include "metrics/runtime_metrics.hpp"
#include "macp/v1/envelope.pb.h"
#include "modes/registry.hpp"
#include "policy/registry.hpp"
#include "storage/storage_backend.hpp"
#include "util/log_throttle.hpp"

namespace macp::kernel {

// The kernel answers with the protocol's errors (protocol/errors.hpp, below kernel and modes).
using protocol::Error;
using protocol::ErrorKind;

struct KernelOptions {
    int64_t max_payload_bytes = 1'048'576;
    // Issue #8.4: bound on the payload bytes one session's state may accumulate
    // (MACP_MAX_SESSION_STATE_BYTES); never below max_payload_bytes.
    uint64_t max_session_state_bytes = 64ull * 1024 * 1024;
    int64_t checkpoint_interval = 0;
    int64_t session_retention_ms = 3'600'000;
    int64_t session_disk_retention_ms = 0;  // 0 = keep finished sessions on disk forever (CFG-20)
    bool strict_recovery = false;
    // Where the kernel records its metrics (issue #14); null: a private set nobody reads (tests).
    metrics::RuntimeMetrics* metrics = nullptr;
};

// The outcome of one Send (RPC-SEND-3/4).
struct Ack {
    bool ok = false;
    bool duplicate = false;
    std::string message_id;
    std::string session_id;
    int64_t accepted_at_ms = 0;
    int session_state = 0;  // macp.v1.SessionState wire value; 0 on error
    std::optional<Error> error;
};

// RPC-level failures of the unary lookups (GetSession, Cancel, ...), mapped to gRPC statuses.
struct RpcError {
    // DeadlineExceeded: the caller's wait limit passed first (MACP_REQUEST_TIMEOUT_SECS); the
    // operation itself may still complete.
    enum Code { NotFound, PermissionDenied, Unauthenticated, DeadlineExceeded };
    Code code;
    std::string message;
};

struct RecoveryReport {
    size_t recovered = 0;
    size_t skipped = 0;
    std::vector<std::string> repairs;
    std::vector<std::string> problems;
};

class Kernel {
public:
    Kernel(KernelOptions options, storage::StorageBackend& storage, modes::ModeRegistry& modes,
           policy::PolicyRegistry& policies, auth::Authenticator& authenticator, auth::RateLimiter& limiter,
           EventSink& events);
    ~Kernel();
    Kernel(const Kernel&) = delete;
    Kernel& operator=(const Kernel&) = delete;

    [[nodiscard]] std::optional<auth::Identity> authenticate(const auth::Metadata& metadata) const;
    // Whether callers' metadata must carry the peer certificate's identity (AUTH-TLS-1).
    [[nodiscard]] bool needs_peer_identity() const { return auth_.needs_peer_identity(); }

    // Receives the outcome of one Send, exactly once: on the calling thread when it is decided
    // without a write (rejections, duplicates, ambient messages), otherwise on the thread that
    // completes the durable write. It must not block.
    using AckFn = std::function<void(Ack)>;

    // The whole Send admission pipeline (BEHAVIOR.md §2.1 ENV-1..13). Never waits for storage:
    // an accepted message is answered once it is durable.
    void submit(const auth::Metadata& metadata, macp::v1::Envelope envelope, AckFn done);
    // The same pipeline for a caller authenticated once (StreamSession, RPC-STREAM-1).
    void submit_as(const auth::Identity& identity, macp::v1::Envelope envelope, AckFn done);
    // Blocking forms of the two (tests, tools); never call them from a write's continuation.
    Ack send(const auth::Metadata& metadata, const macp::v1::Envelope& envelope);
    Ack send_as(const auth::Identity& identity, const macp::v1::Envelope& envelope);

    // Passive subscribe (STR-SUB-*): checks that `caller` may follow the session, then runs
    // `attach` under the session's lock, so that every envelope accepted afterwards reaches the
    // feed `attach` registered, and returns the sequence of the last envelope accepted before.
    Result<uint64_t, RpcError> follow(const auth::Identity& caller, const std::string& session_id,
                                      const std::function<void()>& attach);
    // Accepted envelopes with sequence in (after, upto], rebuilt from the durable log (STR-SUB-5).
    Result<std::vector<macp::v1::Envelope>, std::string> history(const std::string& session_id, uint64_t after,
                                                                 uint64_t upto);

    // GetSession (RPC-GET-*): lazy expiry, existence before permission.
    // `wait_limit` (zero: none) bounds how long the calling thread waits for the session's turn and
    // for a write it needs; past it the answer is RpcError::DeadlineExceeded (issue #14).
    Result<Session, RpcError> get_session(const auth::Identity& caller, const std::string& session_id,
                                          std::chrono::milliseconds wait_limit = {});
    // ListSessions (RPC-LS-1): every session in memory.
    std::vector<Session> list_sessions();
    // How many live sessions in memory are in each state (the metrics' gauge); takes each
    // session's lock in turn, like list_sessions, without copying any session.
    std::map<SessionState, size_t> sessions_by_state();
    // The full encoded snapshot (encode_snapshot) of a live session, mode state included; nullopt
    // when the session is not in memory. Replay checks compare it byte for byte.
    std::optional<std::string> snapshot_bytes(const std::string& session_id);

    Result<Ack, RpcError> cancel(const auth::Identity& caller, const std::string& session_id, const std::string& reason,
                                 std::chrono::milliseconds wait_limit = {});
    Result<Ack, RpcError> suspend(const auth::Identity& caller, const std::string& session_id,
                                  const std::string& reason, std::chrono::milliseconds wait_limit = {});
    Result<Ack, RpcError> resume(const auth::Identity& caller, const std::string& session_id, const std::string& reason,
                                 std::chrono::milliseconds wait_limit = {});

    // Rebuilds every stored session by replaying its log (STO-REC-*). Call once before serving.
    Result<RecoveryReport, std::string> recover();

    // Background TTL expiry and retention eviction (BG-1); ticks once immediately.
    void start_sweeper(std::chrono::milliseconds interval);
    // One sweep (tests and the sweeper thread).
    void sweep();
    // Stops the sweeper and saves every session snapshot (STO-REC-10).
    void shutdown();

    // ---- cluster mode (docs/scale-out.md, core/src/cluster) ----
    // Rebuilds `session_id` from its stored log into the table, replacing any copy this process
    // kept from an earlier lease: the caller has just acquired the session's lease, and what the
    // store holds now is the truth. false when nothing is stored under the id (a new session).
    Result<bool, std::string> adopt(const std::string& session_id);
    // Forgets a session this process lost (its lease went to another process): later work on it
    // answers UNKNOWN_SESSION here, and the service routes the caller to the new owner.
    void drop(const std::string& session_id);
    // Whether the session is in memory, or evicted but still due for deletion by the disk
    // retention: while it is, this process may write it and keeps its lease.
    [[nodiscard]] bool holds(const std::string& session_id) const;
    // Sessions not in this process's memory, read from their stored snapshots (ListSessions in a
    // cluster: the other processes' sessions as of their last snapshot), without the finished ones
    // past MACP_SESSION_RETENTION_SECS (as their owner lists them). Reads every stored snapshot, 256
    // per storage round trip. Unreadable ones are skipped.
    std::vector<Session> stored_sessions_except(const std::unordered_set<std::string>& known);

    [[nodiscard]] const modes::ModeRegistry& modes() const { return modes_; }
    [[nodiscard]] const policy::PolicyRegistry& policies() const { return policies_; }
    [[nodiscard]] size_t session_count() const { return table_.size(); }

private:
    // Runs under the slot's lock once an expiry check is settled: `ok` false when a due TtlExpired
    // entry could not be written (TTL-4: the session stays as it was).
    using AfterExpiry = std::function<void(SessionSlot&, Outbox&, bool ok)>;

    void admit(const auth::Identity& identity, macp::v1::Envelope request, int64_t now, AckFn done);
    void start_session(const auth::Identity& id, macp::v1::Envelope env, int64_t now, AckFn done);
    void session_message(macp::v1::Envelope env, AckFn done);
    void session_work(SessionSlot& slot, Outbox& out, macp::v1::Envelope& env, const AckFn& done);
    Ack ambient(const macp::v1::Envelope& env, int64_t now);

    // Runs `work` under the slot's lock now, or, while one of the session's writes is in flight,
    // queues it to run right after that write's continuation. Runs the replies it collected
    // after releasing the lock.
    void exclusive(const std::shared_ptr<SessionSlot>& slot, SlotWork work);
    // Sends one encoded entry (encode_entry) to storage and marks the session busy (caller holds the slot's lock);
    // `then` runs under the lock when the write is durable or failed, before any queued work.
    // With a non-blocking backend the write happens right here and `then` runs from
    // run_completed once the calling step is done (no hand-off to the committer).
    void write(SessionSlot& slot, std::string record, Continuation then, bool create_session = false);
    // Ends a step under the slot's lock: runs the continuation of a write completed inline, then
    // the work that waited for it, until the session is idle or a write is in flight again.
    void run_completed(SessionSlot& slot, Outbox& out);
    static void deliver(Outbox& out) noexcept;
    // Lazy expiry under the slot lock (TTL-1/2/3): writes TtlExpired when the session is overdue
    // and runs `then` once that is settled; runs it at once when nothing is due.
    void expire_if_due(SessionSlot& slot, int64_t now, Outbox& out, AfterExpiry then);
    // Reloads an in-doubt session from its log (storage is the truth); false if that fails, in
    // which case the session stays in doubt and nothing may be written to it.
    bool settle(SessionSlot& slot);
    // Logs a failed storage write, at most one line a second (the health monitor reports the
    // store's state itself); `error` false logs a warning.
    void log_storage_failure(const std::string& what, const std::string& why, bool error = true);
    // Queues the session's snapshot (MSG-8: best effort); `then` runs once it was attempted.
    void save_snapshot(const Session& s, std::function<void()> then = {});
    // Writes a Checkpoint entry when one is due (STO-CKPT-4) and runs `then` once it is settled;
    // false (and `then` not run) when none is due.
    bool maybe_checkpoint(SessionSlot& slot, int64_t now, std::function<void(Outbox&)> then);
    // Rebuilds stored sessions into the table at start-up; one line per session it cannot.
    std::vector<std::string> recover_batch(const std::vector<std::string>& ids);
    // Recovery over list_session_ids + batched loads, or over one scan_sessions pass (ABI 1.1);
    // both return one line per session they could not rebuild.
    Result<std::vector<std::string>, std::string> recover_by_listing();
    std::vector<std::string> recover_by_scan(std::string& fatal);
    // Replays one session's loaded log into the table; "" when done (or nothing to do), else
    // the line describing why it could not.
    std::string recover_from_log(const std::string& id, const storage::StorageResult<std::vector<std::string>>& log,
                                 bool write_snapshot = false);
    void install(Session s);
    // Publishes a lifecycle transition and counts it.
    void lifecycle(Lifecycle event, const Session& s, int64_t now);
    // Wraps a Send's answer so that its outcome is counted (accepted, duplicate, rejected by code).
    AckFn counted(AckFn done);
    // Loads an evicted session from storage for read-only access (final snapshot, else replay).
    std::optional<Session> load_from_storage(const std::string& session_id);
    // A terminal session from its final snapshot, without its mode state; nullopt otherwise.
    std::optional<Session> finished_from_snapshot(const std::string& session_id);
    std::optional<Session> rebuild_from_log(const std::string& session_id);
    // The mode a session is bound to: its recorded definition, else (older logs) the registry's.
    std::shared_ptr<const modes::Mode> bound_mode(const std::optional<std::string>& record,
                                                  const std::string& mode_name, std::string& error) const;
    Result<Session, std::string> replay(const std::string& session_id, const std::vector<std::string>& records);

public:
    // Receives the answer of a control RPC (cancel, suspend, resume).
    using ControlReply = std::function<void(Result<Ack, RpcError>)>;

private:
    // Writes a control RPC's internal entry; once durable, applies it, publishes the lifecycle
    // event `outcome` names and answers its Ack after the new state's snapshot was attempted; a
    // failed write answers STORAGE_FAILED (RPC-CANCEL-5) and leaves the session in doubt.
    void write_control(SessionSlot& slot, LogEntry entry, int64_t now, const ControlReply& reply,
                       const std::function<std::pair<Lifecycle, Ack>(Session&)>& outcome);
    template <class Op>
    Result<Ack, RpcError> control(const auth::Identity& caller, const std::string& session_id, const char* verb,
                                  bool expire_first, std::chrono::milliseconds wait_limit, Op op);

    KernelOptions options_;
    storage::StorageBackend& storage_;
    modes::ModeRegistry& modes_;
    policy::PolicyRegistry& policies_;
    auth::Authenticator& auth_;
    auth::RateLimiter& limiter_;
    EventSink& events_;
    std::unique_ptr<metrics::RuntimeMetrics> own_metrics_;  // only when options_.metrics is null
    metrics::RuntimeMetrics& metrics_;
    // One counter per ErrorKind, looked up once here so that counting a rejection takes no lock.
    std::array<metrics::Counter*, protocol::kErrorKindCount> rejected_{};
    SessionTable table_;
    const bool inline_storage_;  // storage_.completes_inline(): writes bypass the committer
    util::LogThrottle storage_log_{std::chrono::seconds(1)};
    // Destroyed first (members go in reverse order): both finish what is queued, and their
    // continuations use the table and the throttle above.
    SnapshotWriter snapshots_;
    GroupCommitter committer_;

    std::mutex sweeper_mu_;
    std::condition_variable sweeper_cv_;
    bool sweeper_stop_ = false;
    std::thread sweeper_;
};

int64_t now_ms();

}  // namespace macp::kernel
