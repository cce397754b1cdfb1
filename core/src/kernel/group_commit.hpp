// Group commit: every session's durable writes go through one queue to one committer thread,
// which hands everything that queued up while the previous batch was syncing to the backend as
// one batch, so concurrent sessions share syncs instead of queueing behind each other's.
//
// Nobody waits for storage: submit() returns at once and the write's continuation runs on the
// completion thread when its batch is durable (or failed). Acknowledged still means durable: the
// kernel answers a Send only from that continuation.
//
// Two stages: while the completion thread applies one batch and sends its answers (a gRPC write
// per Send), the committer already syncs the next one. With both on one thread the disk idled
// during the answers and the answers waited for the disk (docs/performance.md).
//
// THREADING: submit() from any thread; continuations run one at a time on the completion thread
// (or on the committer's, when nothing else is in flight: see run()), in queue order (so one session's writes complete
// in the order it submitted them). They must not block on storage: a continuation that waits for another write would
// wait for itself.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics/runtime_metrics.hpp"
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
        // Cluster mode: the session's fencing token when the write was queued (LogAppend).
        uint64_t fencing_token = 0;
    };

    // `metrics` (may be null) receives each batch's size and append latency.
    explicit GroupCommitter(storage::StorageBackend& backend, metrics::RuntimeMetrics* metrics = nullptr,
                            size_t max_batch = 512);
    // Completes every queued write, then stops.
    ~GroupCommitter();
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    // Queues the write; `done` runs exactly once, on the completion thread (on the caller's when
    // the committer is stopping, then with an error and nothing written).
    void submit(Write write);

private:
    struct Stored {
        std::deque<Write> batch;
        std::vector<storage::Status> statuses;
    };
    void serve();
    void run();
    void complete();
    // Creates and appends the batch's writes; one status per write, in order.
    std::vector<storage::Status> store(std::deque<Write>& batch);

    storage::StorageBackend& backend_;
    metrics::RuntimeMetrics* metrics_;
    size_t max_batch_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Write> queue_;
    bool stopping_ = false;
    // Stored batches waiting for their continuations. Bounded by the sessions in flight: a
    // session submits its next write only from its previous write's continuation.
    std::mutex done_mu_;
    std::condition_variable done_cv_;
    std::deque<Stored> done_;
    bool committer_done_ = false;  // no batch will be added any more
    bool completing_ = false;      // the completer is running a batch's continuations
    // Last: they start once every other member is ready.
    std::thread completer_;
    std::thread thread_;
};

}  // namespace macp::kernel
