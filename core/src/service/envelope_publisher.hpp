// Hands accepted envelopes to their session's StreamSession subscribers from a thread of its own.
//
// Why: the kernel reports an accepted envelope from the group committer's thread while it holds
// the session's lock. Writing to 100 subscribers there (a gRPC write each, which usually sends on
// the calling thread) kept the next batch's sync and the session's next message waiting behind
// the sends (docs/performance.md, fan-out). Here the committer only queues the envelope.
//
// ORDER: one thread, FIFO: every feed sees envelopes in acceptance order. A subscriber that
// attaches while an envelope is queued may still receive it; the stream drops anything at or
// below the sequence it attached at (session_stream.cpp), so nothing is delivered twice or early.
// BOUND: at most `capacity` envelopes wait; a full queue makes publish() wait (backpressure on
// the committer) rather than grow without limit.
// THREADING: publish() and drain() from any thread; the destructor delivers what is queued, then
// joins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "macp/v1/core.pb.h"
#include "service/broadcast.hpp"

namespace macp::service {

struct SequencedEnvelope {
    uint64_t sequence = 0;
    macp::v1::Envelope envelope;
};

class EnvelopePublisher {
public:
    using Feed = Broadcast<SequencedEnvelope>;

    explicit EnvelopePublisher(size_t capacity = 65536);
    ~EnvelopePublisher();
    EnvelopePublisher(const EnvelopePublisher&) = delete;
    EnvelopePublisher& operator=(const EnvelopePublisher&) = delete;

    void publish(std::shared_ptr<Feed> feed, SequencedEnvelope item);
    // Returns once everything queued before the call is delivered to its feed (shutdown, tests).
    void drain();

private:
    struct Job {
        std::shared_ptr<Feed> feed;
        SequencedEnvelope item;
    };
    void run();

    const size_t capacity_;
    std::mutex mu_;
    std::condition_variable work_;   // the thread waits for jobs
    std::condition_variable space_;  // publishers wait for room; drain() waits for idle
    std::deque<Job> queue_;
    bool busy_ = false;  // the thread is delivering a job taken off the queue
    bool stopping_ = false;
    std::thread thread_;  // last: starts after the state above exists
};

}  // namespace macp::service
