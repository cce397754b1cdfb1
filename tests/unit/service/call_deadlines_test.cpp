// The request-timeout sweeper (service/call_deadlines.hpp, issue #14).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "service/call_deadlines.hpp"

using macp::service::CallDeadlines;
using namespace std::chrono_literals;

namespace {
bool eventually(const std::atomic<int>& v, int want) {
    for (auto until = std::chrono::steady_clock::now() + 3s; std::chrono::steady_clock::now() < until;) {
        if (v.load() == want) return true;
        std::this_thread::sleep_for(10ms);
    }
    return v.load() == want;
}
}  // namespace

TEST_CASE("an expired watch runs its callback once; a released one never") {
    CallDeadlines deadlines;
    std::atomic<int> fired{0};
    std::atomic<int> withdrawn{0};
    auto soon = deadlines.watch(std::chrono::steady_clock::now() + 150ms, [&] { ++fired; });
    auto later = deadlines.watch(std::chrono::steady_clock::now() + 200ms, [&] { ++withdrawn; });
    later.release();
    CHECK(fired.load() == 0);  // not before its deadline
    CHECK(eventually(fired, 1));
    std::this_thread::sleep_for(300ms);
    CHECK(fired.load() == 1);
    CHECK(withdrawn.load() == 0);
    soon.release();  // already fired: nothing left to withdraw
}

TEST_CASE("pending callbacks are dropped, not run, when the sweeper stops; watches may outlive it") {
    std::atomic<int> fired{0};
    CallDeadlines::Watch survivor;
    {
        CallDeadlines deadlines;
        survivor = deadlines.watch(std::chrono::steady_clock::now() + 1h, [&] { ++fired; });
    }
    survivor.release();
    CHECK(fired.load() == 0);
}
