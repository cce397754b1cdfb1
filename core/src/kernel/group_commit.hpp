// Group commit: callers from many sessions hand their log records to one committer thread, which
// writes everything that queued up while the previous sync ran and makes it durable with one
// batch call, so concurrent sessions share fsyncs instead of queueing behind each other's.
// Acknowledged still means durable: append() returns only after the batch holding the record is.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "storage/storage_backend.hpp"

namespace macp::kernel {

class GroupCommitter {
public:
    explicit GroupCommitter(storage::StorageBackend& backend, size_t max_batch = 512);
    ~GroupCommitter();
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    // Blocks until the record is durable or failed.
    storage::Status append(const std::string& session_id, std::string record);

private:
    struct Pending {
        storage::LogAppend item;
        std::promise<storage::Status> done;
    };
    void run();

    storage::StorageBackend& backend_;
    size_t max_batch_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Pending*> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace macp::kernel
