// Blocking on the kernel's callback-style operations, for callers outside the kernel's own
// threads (synchronous unary RPCs, the sweeper, tests). Never call it from a write's
// continuation: that thread is the one that would have to deliver the reply.
#pragma once

#include <future>
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

}  // namespace macp::kernel
