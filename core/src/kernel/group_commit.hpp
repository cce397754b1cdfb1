// Group commit: every session's durable writes go through one queue to one committer thread,
// which hands everything that queued up while the previous batch was syncing to the backend as
// one batch, so concurrent sessions share syncs instead of queueing behind each other's.
//
// Nobody waits for storage: submit() returns at once and the write's continuation runs on the
// committer thread when its batch is durable (or failed). Acknowledged still means durable: the
// kernel answers a Send only from that continuation.
//
// THREADING: submit() from any thread; continuations run on the committer thread, one at a time,
// in queue order (so one session's writes complete in the order it submitted them). They must not
// block on storage: a continuation that waits for another write would wait for itself.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/storage_backend.hpp"

namespace macp::kernel {

class GroupCommitter {
public:
    using Done = std::function<void(const storage::Status&)>;
    struct Write {
        std::string session_id;
        std::string record;
        // A session's first write: its storage is created first, in the same trip to the
        // committer, so a SessionStart costs no extra round trip before its ack (SS-12).
        bool create_session = false;
        Done done;
    };

    explicit GroupCommitter(storage::StorageBackend& backend, size_t max_batch = 512);
    // Completes every queued write, then stops.
    ~GroupCommitter();
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    // Queues the write; `done` runs exactly once, on the committer thread, even when the
    // committer is stopping (then with an error and nothing written).
    void submit(Write write);

private:
    void serve();
    void run();
    // Creates and appends the batch's writes; one status per write, in order.
    std::vector<storage::Status> store(std::deque<Write>& batch);

    storage::StorageBackend& backend_;
    size_t max_batch_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Write> queue_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once every other member is ready
};

}  // namespace macp::kernel
