#include "service/session_snapshots.hpp"

#include <spdlog/spdlog.h>

namespace macp::service {

SessionSnapshots::~SessionSnapshots() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
}

void SessionSnapshots::request(Done done) {
    {
        std::lock_guard lock(mu_);
        if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
        pending_.push_back(std::move(done));
    }
    cv_.notify_one();
}

void SessionSnapshots::run() {
    for (;;) {
        std::vector<Done> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
            if (stop_) return;
            batch.swap(pending_);
        }
        std::optional<SessionSnapshot> snapshot;
        try {
            auto listed = kernel_.list_sessions();
            auto ids = std::make_shared<std::unordered_set<std::string>>();
            ids->reserve(listed.size());
            for (const auto& s : listed) ids->insert(s.session_id);
            if (whole_cluster_) {
                for (auto& s : kernel_.stored_sessions_except(*ids)) {
                    ids->insert(s.session_id);
                    listed.push_back(std::move(s));
                }
            }
            auto sessions = std::make_shared<const std::vector<kernel::Session>>(std::move(listed));
            snapshot = SessionSnapshot{std::move(sessions), std::move(ids)};
        } catch (const std::exception& e) {
            spdlog::error("WatchSessions: cannot list the sessions: {}", e.what());
        }
        for (auto& done : batch) {
            try {
                done(snapshot);
            } catch (const std::exception& e) {  // a requester's failure is its own
                spdlog::error("WatchSessions: initial sync failed: {}", e.what());
            }
        }
    }
}

}  // namespace macp::service
