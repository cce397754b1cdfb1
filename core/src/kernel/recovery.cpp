// Start-up recovery: every session is rebuilt by replaying its log through the same transitions
// and mode code that accepted it (BEHAVIOR.md §6.6 STO-REC-*).
#include <algorithm>
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <unordered_set>

#include <spdlog/spdlog.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "kernel/kernel.hpp"
#include "kernel/transitions.hpp"

namespace macp::kernel {

std::shared_ptr<const modes::Mode> Kernel::bound_mode(const std::optional<std::string>& record,
                                                      const std::string& mode_name, std::string& error) const {
    if (record && !record->empty()) return modes_.from_definition_record(*record, error);
    // Logs written before definitions were recorded: the registry is all there is.
    auto mode = modes_.find(mode_name);
    if (!mode) error = "mode '" + mode_name + "' is not registered";
    return mode;
}

namespace {

// Whether a record can be a checkpoint at all: its entry_kind must spell "Checkpoint", literally or
// through an escape. Lets the search for the last checkpoint skip decoding every other record.
bool may_be_checkpoint(const std::string& record) {
    return record.find('\\') != std::string::npos || record.find("Checkpoint") != std::string::npos;
}

}  // namespace

Result<Session, std::string> Kernel::replay(const std::string& session_id, const std::vector<std::string>& records) {
    if (records.empty()) return fail(std::string("the log is empty"));
    // Each record is decoded once, into one reused entry, and each message costs what it costs
    // live: replay is linear in the log (issue #8.5) and allocates little per record (issue #13).
    // A corrupt record fails the log whatever else is wrong with it, and the first one is named,
    // so every record is read before any other failure is reported.
    const auto corrupt = [](size_t i, const std::string& why) {
        return "record " + std::to_string(i + 1) + " is corrupt: " + why;
    };
    LogEntry first;
    if (auto d = decode_entry_into(records.front(), first); !d) return fail(corrupt(0, d.error()));
    LogEntry e;
    // `why`, unless a record from `from` on is corrupt.
    const auto refuse = [&](std::string why, size_t from) -> Result<Session, std::string> {
        for (size_t i = from; i < records.size(); ++i) {
            if (auto d = decode_entry_into(records[i], e); !d) return fail(corrupt(i, d.error()));
        }
        return fail(std::move(why));
    };
    const bool starts = first.kind == EntryKind::Incoming && first.message_type == "SessionStart";
    size_t next = 0;
    std::optional<Session> session;
    std::optional<size_t> last_checkpoint;  // STO-REC-3: the last checkpoint is the fast path
    for (size_t i = records.size(); i-- > 1;) {
        if (!may_be_checkpoint(records[i])) continue;
        if (auto d = decode_entry_into(records[i], e); !d) return refuse(corrupt(i, d.error()), 1);
        if (e.kind == EntryKind::Checkpoint) {
            last_checkpoint = i;
            break;
        }
    }
    if (!last_checkpoint && first.kind == EntryKind::Checkpoint) last_checkpoint = 0;
    if (last_checkpoint) {
        const size_t i = *last_checkpoint;
        // The records before it are not replayed, but a corrupt one still fails the log.
        for (size_t k = 1; k < i; ++k) {
            if (auto d = decode_entry_into(records[k], e); !d) return fail(corrupt(k, d.error()));
        }
        const LogEntry* checkpoint = &first;
        if (i != 0) {
            if (auto d = decode_entry_into(records[i], e); !d) return fail(corrupt(i, d.error()));
            checkpoint = &e;
        }
        const auto at = "checkpoint at record " + std::to_string(i + 1) + ": ";
        auto snap = decode_snapshot(checkpoint->payload);
        if (!snap) return refuse(at + snap.error(), i + 1);
        std::string why;
        auto record = snap->definition ? snap->definition : (starts ? first.bound_definition : std::nullopt);
        auto mode = bound_mode(record, snap->session.mode, why);
        if (!mode) return refuse(at + why, i + 1);
        auto state = mode->decode_state(snap->mode_state);
        if (!state) return refuse(at + "mode state does not decode: " + state.error().detail, i + 1);
        session = std::move(snap->session);
        session->mode_state = modes::ModeStateBox(std::move(state.value()));
        session->definition_record = record ? *record : modes::ModeRegistry::definition_record(*mode);
        session->definition = std::move(mode);
        next = i + 1;
    } else {  // STO-REC-4: full replay from the SessionStart
        if (!starts || first.mode.empty()) return refuse("log does not begin with a SessionStart", 1);
        std::string why;
        auto mode = bound_mode(first.bound_definition, first.mode, why);
        if (!mode) return refuse(why, 1);
        auto payload = parse_session_start(first.payload, *mode);
        if (!payload) return refuse(std::string("SessionStart no longer validates: ") + payload.error().display(), 1);
        StartBinding b;
        b.mode_version = first.bound_mode_version.value_or(
            payload->mode_version().empty() ? mode->descriptor().mode_version : payload->mode_version());
        b.max_suspend_ms = first.bound_max_suspend_ms.value_or(payload->max_suspend_ms() > 0 ? payload->max_suspend_ms()
                                                                                             : kDefaultMaxSuspendMs);
        b.semantics_rev = first.semantics_rev.value_or(0);
        b.policy_version = payload->policy_version().empty() ? policy::kDefaultPolicyId : payload->policy_version();
        // The recorded definition wins (RFC-0012 §8); only logs without one re-resolve.
        b.policy = first.bound_policy ? first.bound_policy : policies_.find(b.policy_version);
        b.ttl_expiry_ms = first.bound_ttl_expiry_ms.value_or(first.received_at_ms + payload->ttl_ms());
        auto record = first.bound_definition ? *first.bound_definition : modes::ModeRegistry::definition_record(*mode);
        auto built = build_session(first, *payload, b, std::move(mode), std::move(record));
        if (!built) return refuse(std::string("SessionStart rejected on replay: ") + built.error().display(), 1);
        session = std::move(built.value());
        next = 1;
    }
    Session& s = *session;
    for (size_t i = next; i < records.size(); ++i) {  // STO-REC-7
        if (auto d = decode_entry_into(records[i], e); !d) return fail(corrupt(i, d.error()));
        if (e.kind == EntryKind::Checkpoint) {
            ++s.log_entries;
            continue;
        }
        if (e.kind == EntryKind::Internal) {
            if (!apply_internal(s, e)) return refuse("unknown internal entry '" + e.message_type + "'", i + 1);
            continue;
        }
        if (s.state != SessionState::Open) {
            s.seen_message_ids.insert(e.message_id);
            ++s.log_entries;
            ++s.envelope_seq;
            continue;
        }
        const int64_t at = e.received_at_ms != 0 ? e.received_at_ms : e.timestamp_unix_ms;
        auto outcome = evaluate_message(s, *s.definition, e.sender, e.message_type, e.payload, at);
        if (!outcome) {
            return refuse("record " + std::to_string(i + 1) + " (" + e.message_type +
                              ") rejected on replay: " + outcome.error().display(),
                          i + 1);
        }
        commit_message(s, e.message_id, e.sender, at, e.payload.size(), std::move(outcome.value()));
    }
    if (s.session_id.empty()) s.session_id = session_id;
    return std::move(s);
}

namespace {

// A snapshot is written only after the entry that made the session terminal is durable, and
// nothing leaves a terminal state, so a terminal snapshot is the session's final word.
std::optional<Session> finished_in(const std::string& session_id, const std::string& snapshot) {
    auto snap = decode_snapshot(snapshot, false);
    if (!snap || !is_terminal(snap->session.state)) return std::nullopt;
    if (snap->session.session_id.empty()) snap->session.session_id = session_id;
    return std::move(snap->session);
}

// Sessions handed to one recovery worker at a time: two storage round trips per batch.
constexpr size_t kRecoveryBatch = 64;

}  // namespace

std::optional<Session> Kernel::finished_from_snapshot(const std::string& session_id) {
    auto stored = storage_.load_session(session_id);
    if (!stored || !stored->has_value()) return std::nullopt;
    return finished_in(session_id, **stored);
}

void Kernel::install(Session s) {
    auto slot = std::make_shared<SessionSlot>(s.session_id, s.initiator);
    slot->fence = storage_.fence_token(slot->session_id);
    slot->session = std::move(s);
    slot->live = true;
    table_.insert(slot);
}

std::vector<std::string> Kernel::recover_batch(const std::vector<std::string>& ids) {
    // Issue #8.5: what must be live is rebuilt now; a finished session is served from its final
    // snapshot and rebuilt from its log only if something needs its mode state. Strict recovery
    // replays everything, so that every log is verified before serving.
    std::vector<std::string> need_log;
    std::unordered_set<std::string> unsnapshotted;  // stored without a snapshot: one is written now
    if (options_.strict_recovery) {
        need_log = ids;
    } else {
        auto snapshots = storage_.load_sessions(ids);
        for (size_t i = 0; i < ids.size(); ++i) {
            if (i < snapshots.size() && snapshots[i] && snapshots[i]->has_value()) {
                if (auto done = finished_in(ids[i], **snapshots[i])) {
                    install(std::move(*done));
                    continue;
                }
            } else if (i < snapshots.size() && snapshots[i]) {
                unsnapshotted.insert(ids[i]);
            }
            need_log.push_back(ids[i]);
        }
    }
    std::vector<std::string> problems;
    if (need_log.empty()) return problems;
    auto logs = storage_.load_logs(need_log);
    for (size_t i = 0; i < need_log.size(); ++i) {
        std::string problem = i < logs.size()
                                  ? recover_from_log(need_log[i], logs[i], unsnapshotted.count(need_log[i]) != 0)
                                  : "session " + need_log[i] + ": cannot load log: the backend returned no result";
        if (problem.empty()) continue;
        problems.push_back(std::move(problem));
        if (options_.strict_recovery) break;  // STO-REC-2: the first problem ends it
    }
    return problems;
}

std::string Kernel::recover_from_log(const std::string& id, const storage::StorageResult<std::vector<std::string>>& log,
                                     bool write_snapshot) {
    std::string problem;
    if (!log) {
        problem = "cannot load log: " + log.error().message;
    } else if (log->empty()) {
        return {};  // STO-REC-1: a start that never became durable
    } else if (auto s = replay(id, *log); s) {
        // A start acknowledged before its snapshot (SS-13: written off the ack path) was written
        // and then a crash: the snapshot is written now, so the store is whole again.
        if (write_snapshot) save_snapshot(*s);
        install(std::move(s.value()));
        return {};
    } else {
        problem = s.error();
    }
    return "session " + id + ": " + problem;
}

namespace {

// Sessions read by one scan, waiting for a replay worker. Bounded, so a store much larger than
// memory streams through instead of being read whole first.
class ScanQueue {
public:
    explicit ScanQueue(size_t capacity) : capacity_(capacity) {}
    // False once closed (the workers stopped early: strict recovery found a problem).
    bool push(std::pair<std::string, std::vector<std::string>> item) {
        std::unique_lock lock(mu_);
        not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
        if (closed_) return false;
        items_.push_back(std::move(item));
        not_empty_.notify_one();
        return true;
    }
    std::optional<std::pair<std::string, std::vector<std::string>>> pop() {
        std::unique_lock lock(mu_);
        not_empty_.wait(lock, [&] { return !items_.empty() || closed_ || done_; });
        if (items_.empty() || closed_) return std::nullopt;
        auto item = std::move(items_.front());
        items_.pop_front();
        not_full_.notify_one();
        return item;
    }
    // No more items will come; workers drain what is queued.
    void finish() {
        std::lock_guard lock(mu_);
        done_ = true;
        not_empty_.notify_all();
    }
    // Stop now: pending items are dropped, pushes fail.
    void close() {
        std::lock_guard lock(mu_);
        closed_ = true;
        items_.clear();
        not_empty_.notify_all();
        not_full_.notify_all();
    }
    [[nodiscard]] bool closed() const {
        std::lock_guard lock(mu_);
        return closed_;
    }

private:
    mutable std::mutex mu_;
    std::condition_variable not_full_;
    std::condition_variable not_empty_;
    std::deque<std::pair<std::string, std::vector<std::string>>> items_;
    size_t capacity_;
    bool done_ = false;
    bool closed_ = false;
};

}  // namespace

std::vector<std::string> Kernel::recover_by_scan(std::string& fatal) {
    // Plugin ABI 1.1 scan_sessions (issue #10): the backend reads its sessions in one ordered
    // pass on its own thread while workers replay what it has read. A finished session is
    // installed from its terminal snapshot and its log is never read (issue #8.5), except under
    // strict recovery, which verifies every log.
    const size_t workers = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
    ScanQueue queue(4 * workers);
    std::mutex mu;
    std::vector<std::string> problems;
    std::unordered_set<std::string> missing;  // sessions stored without a snapshot (guarded by mu)
    auto work = [&] {
        while (auto item = queue.pop()) {
            bool unsnapshotted = false;
            {
                std::lock_guard lock(mu);
                unsnapshotted = missing.erase(item->first) != 0;
            }
            std::string problem = recover_from_log(
                item->first, storage::StorageResult<std::vector<std::string>>(std::move(item->second)), unsnapshotted);
            if (problem.empty()) continue;
            std::lock_guard lock(mu);
            problems.push_back(std::move(problem));
            if (options_.strict_recovery) queue.close();  // STO-REC-2: the first problem ends it
        }
    };

    class Visitor final : public storage::SessionScanVisitor {
    public:
        Visitor(Kernel& k, ScanQueue& q, std::mutex& mu, std::unordered_set<std::string>& missing)
            : kernel_(k), queue_(q), mu_(mu), missing_(missing) {}
        bool begin_session(const std::string& id, std::optional<std::string> snapshot) override {
            if (queue_.closed()) return false;
            if (!snapshot) {
                std::lock_guard lock(mu_);
                missing_.insert(id);
            }
            if (!kernel_.options_.strict_recovery && snapshot) {
                if (auto done = finished_in(id, *snapshot)) {
                    kernel_.install(std::move(*done));
                    return false;
                }
            }
            current_.first = id;
            current_.second.clear();
            return true;
        }
        void log_record(std::string record) override { current_.second.push_back(std::move(record)); }
        void end_session() override { queue_.push(std::move(current_)); }

    private:
        Kernel& kernel_;
        ScanQueue& queue_;
        std::mutex& mu_;
        std::unordered_set<std::string>& missing_;
        std::pair<std::string, std::vector<std::string>> current_;
    } visitor(*this, queue, mu, missing);

    std::vector<std::thread> pool;
    pool.reserve(workers);
    for (size_t w = 0; w < workers; ++w) pool.emplace_back(work);
    auto scanned = storage_.scan_sessions(visitor);
    if (!scanned) {
        queue.close();
        fatal = "cannot scan stored sessions: " + scanned.error().message;
    } else {
        queue.finish();
    }
    for (auto& t : pool) t.join();
    return problems;
}

Result<std::vector<std::string>, std::string> Kernel::recover_by_listing() {
    auto ids = storage_.list_session_ids();
    if (!ids) return fail("cannot list stored sessions: " + ids.error().message);

    // Sessions are independent, so several workers rebuild them at once, each reading a batch
    // per storage round trip: every plugin call is a hand-off to the plugin's executor, and one
    // call per read made recovery mostly a wait for those hand-offs (issue #8.5).
    const size_t batches = (ids->size() + kRecoveryBatch - 1) / kRecoveryBatch;
    const size_t workers = std::min<size_t>(batches, std::clamp<size_t>(2 * std::thread::hardware_concurrency(), 2, 8));
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<std::string> problems;
    auto work = [&] {
        for (size_t b = next++; b < batches && !stop; b = next++) {
            const auto first = ids->begin() + static_cast<std::ptrdiff_t>(b * kRecoveryBatch);
            const auto last =
                ids->begin() + static_cast<std::ptrdiff_t>(std::min(ids->size(), (b + 1) * kRecoveryBatch));
            auto found = recover_batch(std::vector<std::string>(first, last));
            if (found.empty()) continue;
            if (options_.strict_recovery) stop = true;
            std::lock_guard lock(mu);
            for (auto& p : found) problems.push_back(std::move(p));
        }
    };
    {
        std::vector<std::thread> pool;
        if (workers > 1) pool.reserve(workers - 1);
        for (size_t w = 1; w < workers; ++w) pool.emplace_back(work);
        work();
        for (auto& t : pool) t.join();
    }
    return problems;
}

namespace {

// Recovery reads every stored log once: each batch's records are allocated, replayed and freed
// while the next batch is read. glibc hands freed heap back to the kernel as soon as the top of an
// arena passes its trim threshold, so every batch page-faulted the same memory in afresh, which
// cost more than replaying it (issue #13). The threshold is raised for the duration; at the end
// the default is restored and what recovery left free is handed back once.
class KeepFreedHeap {
public:
    KeepFreedHeap() {
#ifdef __GLIBC__
        mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
#endif
    }
    ~KeepFreedHeap() {
#ifdef __GLIBC__
        mallopt(M_TRIM_THRESHOLD, 128 * 1024);  // glibc's default (DEFAULT_TRIM_THRESHOLD)
        malloc_trim(0);
#endif
    }
    KeepFreedHeap(const KeepFreedHeap&) = delete;
    KeepFreedHeap& operator=(const KeepFreedHeap&) = delete;
};

}  // namespace

Result<RecoveryReport, std::string> Kernel::recover() {
    const KeepFreedHeap keep_heap;
    const auto started = std::chrono::steady_clock::now();
    RecoveryReport report;
    auto repairs = storage_.recover();
    if (!repairs) return fail("storage recovery failed: " + repairs.error().message);
    report.repairs = std::move(repairs.value());
    for (const auto& r : report.repairs) spdlog::warn("storage repair: {}", r);
    std::vector<std::string> problems;
    if (storage_.supports_scan()) {
        spdlog::info("recovering sessions in one scan of storage backend {}", storage_.name());
        std::string fatal;
        problems = recover_by_scan(fatal);
        if (!fatal.empty()) return fail(fatal);
    } else {
        auto listed = recover_by_listing();
        if (!listed) return fail(listed.error());
        problems = std::move(listed.value());
    }
    std::sort(problems.begin(), problems.end());  // stable output whatever the workers' order
    if (options_.strict_recovery && !problems.empty()) return fail(problems.front());
    for (auto& problem : problems) {
        spdlog::warn("skipping unrecoverable {}", problem);
        report.problems.push_back(std::move(problem));
    }
    // Sessions whose start never became durable (STO-REC-1) are neither recovered nor skipped.
    report.recovered = table_.size();
    report.skipped = report.problems.size();
    spdlog::info("recovered {} sessions ({} skipped)", report.recovered, report.skipped);
    metrics_.recovery_ns.set(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
    metrics_.recovered_sessions.set(static_cast<int64_t>(report.recovered));
    metrics_.recovery_skipped_sessions.set(static_cast<int64_t>(report.skipped));
    return report;
}

std::optional<Session> Kernel::load_from_storage(const std::string& session_id) {
    // Evicted sessions are finished: their final snapshot answers without a replay (its mode
    // state left undecoded), and the caller's permission is checked on what it holds.
    if (auto done = finished_from_snapshot(session_id)) return done;
    return rebuild_from_log(session_id);
}

std::optional<Session> Kernel::rebuild_from_log(const std::string& session_id) {
    auto records = storage_.load_log(session_id);
    if (!records || records->empty()) return std::nullopt;
    auto s = replay(session_id, *records);
    if (!s) {
        spdlog::warn("session {}: cannot be rebuilt from storage: {}", session_id, s.error());
        return std::nullopt;
    }
    return std::move(s.value());
}

std::optional<std::string> Kernel::snapshot_bytes(const std::string& session_id) {
    auto slot = table_.find(session_id);
    if (!slot) return std::nullopt;
    {
        std::lock_guard lock(slot->mu);
        if (!slot->live) return std::nullopt;
        const Session& s = slot->session;
        if (s.mode_state) return encode_snapshot(s, s.definition_record);
    }
    // A finished session recovered from its snapshot holds no mode state: rebuild it lazily,
    // outside the session's lock (a finished session's log no longer changes).
    auto full = rebuild_from_log(session_id);
    if (!full) return std::nullopt;
    return encode_snapshot(*full, full->definition_record);
}

}  // namespace macp::kernel
