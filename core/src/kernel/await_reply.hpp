// Blocking on the kernel's callback-style operations, for callers outside the kernel's own
// threads (synchronous unary RPCs, the sweeper, tests). Never call it from a write's
// continuation: that thread is the one that would have to deliver the reply.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <utility>

namespace macp::kernel {

// Calls start(reply) and waits until `reply` has been called with the result.
template <class T, class Start>
T await_reply(Start&& start) {
    std::promise<T> promise;
    auto result = promise.get_future();
    start([&promise](T value) { promise.set_value(std::move(value)); });
    return result.get();
}

// The same, giving up after `limit` (zero: never): nullopt then. The operation goes on and its
// reply lands in a promise nobody reads any more, so `start` must not hand the operation
// anything that lives in the caller's frame.
template <class T, class Start>
std::optional<T> await_reply_for(Start&& start, std::chrono::milliseconds limit) {
    if (limit.count() <= 0) return await_reply<T>(std::forward<Start>(start));
    auto promise = std::make_shared<std::promise<T>>();
    auto result = promise->get_future();
    start([promise](T value) { promise->set_value(std::move(value)); });
    if (result.wait_for(limit) != std::future_status::ready) return std::nullopt;
    return result.get();
}

}  // namespace macp::kernel
