// WatchSessions' initial sync (STR-WS-1) off the gRPC threads (issue #13). Listing the sessions
// waits for each session's lock in turn (RPC-LS-1), which can take long on a busy or stalled store;
// on a callback thread that would stall every other stream served by it. One worker thread takes
// the snapshots instead, and requests that queue up while it is busy share the next snapshot:
// each requester subscribed to the lifecycle feed before asking, so any snapshot taken after the
// request is a valid starting point (nothing between sync and live events is lost).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "kernel/kernel.hpp"

namespace macp::service {

struct SessionSnapshot {
    std::shared_ptr<const std::vector<kernel::Session>> sessions;
    std::shared_ptr<const std::unordered_set<std::string>> ids;  // of `sessions`
};

class SessionSnapshots {
public:
    // Called on the worker thread; nullopt when the snapshot could not be taken.
    using Done = std::function<void(std::optional<SessionSnapshot>)>;

    // `whole_cluster`: the other processes' sessions too, as of their last snapshot (MACP_CLUSTER).
    SessionSnapshots(kernel::Kernel& kernel, bool whole_cluster) : kernel_(kernel), whole_cluster_(whole_cluster) {}
    ~SessionSnapshots();  // joins the worker; requests still queued are dropped unanswered
    SessionSnapshots(const SessionSnapshots&) = delete;
    SessionSnapshots& operator=(const SessionSnapshots&) = delete;

    // Queues a request; the worker starts with the first one. Throws std::system_error when the
    // worker thread cannot be started.
    void request(Done done);

private:
    void run();

    kernel::Kernel& kernel_;
    const bool whole_cluster_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Done> pending_;
    bool stop_ = false;
    std::thread worker_;
};

}  // namespace macp::service
