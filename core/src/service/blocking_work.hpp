// A few threads for the work a callback reactor must not do on a gRPC thread: reading a session's
// history from storage for a StreamSession subscribe (STR-SUB-4), or loading a finished session
// that is no longer in memory. On a callback thread such a read would stall every other stream
// that thread serves for as long as the store takes (issue #13: nothing blocking in OnReadDone).
//
// THREADING: post() from any thread; jobs run on the pool's threads, in no particular order
// across threads. A job must not wait for another job. The destructor runs no job that has not
// started: it drops what is queued (the server is gone; the streams they belong to are ending)
// and joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace macp::service {

class BlockingWork {
public:
    BlockingWork(std::string name, size_t threads);
    ~BlockingWork();
    BlockingWork(const BlockingWork&) = delete;
    BlockingWork& operator=(const BlockingWork&) = delete;

    // Queues a job. Threads start on first use; throws std::system_error when none can be started.
    void post(std::function<void()> job);

private:
    void run();

    const std::string name_;
    const size_t max_threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    size_t idle_ = 0;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace macp::service
