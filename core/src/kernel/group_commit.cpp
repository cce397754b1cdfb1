#include "kernel/group_commit.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <vector>

#include <spdlog/spdlog.h>

#include "util/log_setup.hpp"

namespace macp::kernel {

namespace {

constexpr int kShuttingDown = 8;  // storage.h MACP_STATUS_UNAVAILABLE-style "try later" code

// A continuation that throws must not take the committer (and every later ack) down with it.
void run_done(const GroupCommitter::Done& done, const storage::Status& status) noexcept {
    try {
        done(status);
    } catch (const std::exception& e) {
        util::log_target(util::kStorageTarget).error("a storage write continuation failed: {}", e.what());
    } catch (...) {
        util::log_target(util::kStorageTarget).error("a storage write continuation failed with an unknown exception");
    }
}

}  // namespace

GroupCommitter::GroupCommitter(storage::StorageBackend& backend, metrics::RuntimeMetrics* metrics, size_t max_batch)
    : backend_(backend), metrics_(metrics), max_batch_(max_batch), completer_([this] { complete(); }), thread_([this] {
          serve();
      }) {}

void GroupCommitter::serve() {
    // The committer loop runs on the storage plugin's own thread when it has one (it keeps one of
    // the plugin's workers for the runtime's life), so storing a batch is a direct call instead of
    // a hand-off to another thread and back: one wake-up less per batch, which is most of the
    // latency of a lone session's Send besides the sync itself (docs/performance.md).
    try {
        backend_.run_on_storage_thread([this] { run(); });
        return;
    } catch (const std::exception& e) {
        util::log_target(util::kStorageTarget).warn("group commit: runs beside the storage thread ({})", e.what());
    }
    run();  // the storage thread could not take the loop: hop per batch instead
}

GroupCommitter::~GroupCommitter() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();  // stores what is queued, hands it to the completer
    {
        std::lock_guard lock(done_mu_);
        committer_done_ = true;
    }
    done_cv_.notify_all();
    completer_.join();  // runs the last continuations
}

void GroupCommitter::submit(Write write) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            queue_.push_back(std::move(write));
            if (queue_.size() == 1) cv_.notify_one();
            return;
        }
    }
    run_done(write.done, fail(storage::StorageError{kShuttingDown, "runtime is shutting down"}));
}

void GroupCommitter::run() {
    std::deque<Write> batch;
    for (;;) {
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and drained
            if (queue_.size() <= max_batch_) {
                batch.swap(queue_);
            } else {
                for (size_t i = 0; i < max_batch_; ++i) {
                    batch.push_back(std::move(queue_.front()));
                    queue_.pop_front();
                }
            }
        }
        std::vector<storage::Status> statuses;
        try {
            // One hop to the storage thread for the whole batch (its creates and the append).
            backend_.run_on_storage_thread([&] { statuses = store(batch); });
        } catch (const std::exception& e) {
            util::log_target(util::kStorageTarget).error("group commit: the batch could not be stored: {}", e.what());
            statuses.clear();
        }
        statuses.resize(batch.size(), fail(storage::StorageError{kShuttingDown, "the batch could not be stored"}));
        // Nothing waiting to be synced and the completer idle: no overlap to gain, so the
        // continuations run here and a lone session's Send saves the hand-off.
        bool here = false;
        {
            std::lock_guard lock(mu_);
            here = queue_.empty();
        }
        {
            std::lock_guard lock(done_mu_);
            here = here && done_.empty() && !completing_;
            if (!here) {
                done_.push_back(Stored{std::move(batch), std::move(statuses)});
                if (done_.size() == 1) done_cv_.notify_one();
            }
        }
        if (here) {
            // NOLINTBEGIN(bugprone-use-after-move): moved above only when !here
            for (size_t i = 0; i < batch.size(); ++i) run_done(batch[i].done, statuses[i]);
            // NOLINTEND(bugprone-use-after-move)
        }
        batch.clear();
    }
}

void GroupCommitter::complete() {
    pthread_setname_np(pthread_self(), "macp-complete");
    for (;;) {
        Stored stored;
        {
            std::unique_lock lock(done_mu_);
            done_cv_.wait(lock, [this] { return committer_done_ || !done_.empty(); });
            if (done_.empty()) return;  // the committer stopped and everything ran
            stored = std::move(done_.front());
            done_.pop_front();
            completing_ = true;
        }
        for (size_t i = 0; i < stored.batch.size(); ++i) run_done(stored.batch[i].done, stored.statuses[i]);
        std::lock_guard lock(done_mu_);
        completing_ = false;
    }
}

std::vector<storage::Status> GroupCommitter::store(std::deque<Write>& batch) {
    std::vector<storage::Status> statuses(batch.size());
    std::vector<storage::LogAppend> items;
    std::vector<size_t> index;  // items[k] is batch[index[k]]
    items.reserve(batch.size());
    index.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& w = batch[i];
        if (w.create_session) {
            if (auto st = backend_.create_session_storage(w.session_id); !st) {
                statuses[i] = fail(st.error());
                continue;
            }
        }
        items.push_back({w.session_id, std::move(w.record), w.fencing_token});
        index.push_back(i);
    }
    if (!items.empty()) {
        const auto started = std::chrono::steady_clock::now();
        auto results = backend_.append_log_batch(items);
        if (metrics_ != nullptr) {
            metrics_->commit_batch_size.observe(items.size());
            metrics_->storage_append_ns.observe(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started)
                    .count()));
            const bool failed = std::any_of(results.begin(), results.end(), [](const auto& r) { return !r; });
            if (failed || results.size() < items.size()) metrics_->storage_append_failures.inc();
        }
        for (size_t k = 0; k < index.size(); ++k) {
            statuses[index[k]] = k < results.size()
                                     ? std::move(results[k])
                                     : fail(storage::StorageError{kShuttingDown, "storage returned too few statuses"});
        }
    }
    return statuses;
}

}  // namespace macp::kernel
