// Cluster mode (docs/scale-out.md): a session changes hands between processes through its lease in
// the store; these are the kernel's two sides of a hand-over. The ownership manager
// (core/src/cluster) calls them; a single process never does.
#include <spdlog/spdlog.h>

#include "kernel/kernel.hpp"

namespace macp::kernel {

Result<bool, std::string> Kernel::adopt(const std::string& session_id) {
    auto records = storage_.load_log(session_id);
    if (!records) return fail("cannot read session " + session_id + ": " + records.error().message);
    if (records->empty()) {
        // Nothing stored: a new session, or one its last owner deleted. A copy kept from an
        // earlier lease must not answer for it.
        drop(session_id);
        return false;
    }
    auto rebuilt = replay(session_id, *records);
    if (!rebuilt) return fail("session " + session_id + " cannot be rebuilt from storage: " + rebuilt.error());
    // The previous slot (if any) is retired first, so that work still queued on it answers
    // UNKNOWN_SESSION instead of writing on top of a history it did not see.
    drop(session_id);
    install(std::move(rebuilt.value()));
    return true;
}

void Kernel::drop(const std::string& session_id) {
    auto slot = table_.find(session_id);
    if (!slot) return;
    {
        std::lock_guard lock(slot->mu);
        slot->live = false;
    }
    table_.remove(session_id);
}

bool Kernel::holds(const std::string& session_id) const {
    if (table_.find(session_id) != nullptr) return true;
    // An evicted session is written once more only by the disk retention's deletion (CFG-20);
    // without one, nothing of it is written again and its lease can go.
    return options_.session_disk_retention_ms > 0 && table_.is_evicted(session_id);
}

std::vector<Session> Kernel::stored_sessions_except(const std::unordered_set<std::string>& known) {
    std::vector<Session> out;
    auto ids = storage_.list_session_ids();
    if (!ids) {
        spdlog::warn("ListSessions: cannot list the stored sessions: {}", ids.error().message);
        return out;
    }
    std::vector<std::string> others;
    for (auto& id : *ids) {
        if (known.count(id) == 0) others.push_back(std::move(id));
    }
    constexpr size_t kBatch = 256;  // one storage round trip per batch
    const int64_t now = now_ms();
    for (size_t at = 0; at < others.size(); at += kBatch) {
        std::vector<std::string> batch(
            others.begin() + static_cast<std::ptrdiff_t>(at),
            others.begin() + static_cast<std::ptrdiff_t>(std::min(others.size(), at + kBatch)));
        auto snapshots = storage_.load_sessions(batch);
        for (size_t i = 0; i < batch.size() && i < snapshots.size(); ++i) {
            if (!snapshots[i] || !snapshots[i]->has_value()) continue;
            auto snap = decode_snapshot(**snapshots[i], false);
            if (!snap) continue;
            if (snap->session.session_id.empty()) snap->session.session_id = batch[i];
            // As on the process that served it (STO-RET-1): a finished session past its retention
            // has left memory and is no longer listed.
            if (is_terminal(snap->session.state) && snap->session.started_at_ms < now - options_.session_retention_ms) {
                continue;
            }
            out.push_back(snap->session.metadata());
        }
    }
    return out;
}

}  // namespace macp::kernel
