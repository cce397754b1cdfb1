#include "kernel/group_commit.hpp"

#include <vector>

namespace macp::kernel {

GroupCommitter::GroupCommitter(storage::StorageBackend& backend, size_t max_batch)
    : backend_(backend), max_batch_(max_batch), thread_([this] { run(); }) {}

GroupCommitter::~GroupCommitter() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

storage::Status GroupCommitter::append(const std::string& session_id, std::string record) {
    Pending p{{session_id, std::move(record)}, {}};
    auto fut = p.done.get_future();
    {
        std::lock_guard lock(mu_);
        if (stopping_) return fail(storage::StorageError{8, "runtime is shutting down"});
        queue_.push_back(&p);
    }
    cv_.notify_one();
    // `p` lives on this stack frame until the committer has fulfilled the promise.
    return fut.get();
}

void GroupCommitter::run() {
    for (;;) {
        std::vector<Pending*> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and drained
            while (!queue_.empty() && batch.size() < max_batch_) {
                batch.push_back(queue_.front());
                queue_.pop_front();
            }
        }
        std::vector<storage::LogAppend> items;
        items.reserve(batch.size());
        for (auto* p : batch) items.push_back(std::move(p->item));
        auto statuses = backend_.append_log_batch(items);
        for (size_t i = 0; i < batch.size(); ++i) {
            if (i < statuses.size()) {
                batch[i]->done.set_value(std::move(statuses[i]));
            } else {
                batch[i]->done.set_value(fail(storage::StorageError{8, "storage returned too few statuses"}));
            }
        }
    }
}

}  // namespace macp::kernel
