#include "kernel/snapshot_writer.hpp"

#include <exception>
#include <future>

#include <spdlog/spdlog.h>

#include "util/log_setup.hpp"

namespace macp::kernel {

SnapshotWriter::SnapshotWriter(storage::StorageBackend& backend, Failed on_failure)
    : backend_(backend), on_failure_(std::move(on_failure)), thread_([this] { run(); }) {}

SnapshotWriter::~SnapshotWriter() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void SnapshotWriter::save(std::string session_id, std::string snapshot, std::function<void()> then) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            queue_.push_back({std::move(session_id), std::move(snapshot), std::move(then)});
            if (queue_.size() == 1) cv_.notify_one();
            return;
        }
    }
    // Stopping: write inline rather than drop it (the destructor joins after the queue drains).
    if (auto st = backend_.save_session(session_id, snapshot); !st) on_failure_(session_id, st.error().message);
    if (then) then();
}

void SnapshotWriter::flush() {
    std::promise<void> done;
    auto f = done.get_future();
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        // An empty id is a marker: nothing is written, only `then` runs, after everything before it.
        queue_.push_back({std::string(), std::string(), [&done] { done.set_value(); }});
        if (queue_.size() == 1) cv_.notify_one();
    }
    f.wait();
}

void SnapshotWriter::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            if (!job.session_id.empty()) {
                if (auto st = backend_.save_session(job.session_id, job.snapshot); !st) {
                    on_failure_(job.session_id, st.error().message);
                }
            }
            if (job.then) job.then();
        } catch (const std::exception& e) {
            util::log_target(util::kStorageTarget)
                .error("session {}: snapshot job failed: {}", job.session_id, e.what());
        } catch (...) {
            util::log_target(util::kStorageTarget)
                .error("session {}: snapshot job failed with an unknown exception", job.session_id);
        }
    }
}

}  // namespace macp::kernel
