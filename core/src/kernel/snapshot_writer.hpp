// Session snapshots, written off the ack path by one thread.
//
// Why: a snapshot is best effort (MSG-8, SS-13): recovery trusts only a terminal snapshot, written
// after the terminal entry is durable, and replays the log otherwise. Writing it on the thread that
// completes group commits would hold every other session's acks behind the snapshot's syncs.
//
// THREADING: save() from any thread; writes happen on the writer thread in submission order, so a
// later snapshot of a session never lands before an earlier one. `then` runs on the writer thread
// after the write (successful or not) and must not block.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "storage/storage_backend.hpp"

namespace macp::kernel {

class SnapshotWriter {
public:
    using Failed = std::function<void(const std::string& session_id, const std::string& why)>;
    SnapshotWriter(storage::StorageBackend& backend, Failed on_failure);
    // Writes everything still queued, then stops.
    ~SnapshotWriter();
    SnapshotWriter(const SnapshotWriter&) = delete;
    SnapshotWriter& operator=(const SnapshotWriter&) = delete;

    void save(std::string session_id, std::string snapshot, std::function<void()> then = {});
    // Returns once every snapshot queued before the call is written (shutdown, tests).
    void flush();

private:
    struct Job {
        std::string session_id;
        std::string snapshot;
        std::function<void()> then;
    };
    void run();

    storage::StorageBackend& backend_;
    Failed on_failure_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once every other member is ready
};

}  // namespace macp::kernel
