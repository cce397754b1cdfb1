// util::LogThrottle: one line per period, the rest counted (issue #8: a full disk under load must
// not write one error line per rejected Send).
#include "util/log_throttle.hpp"

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

using macp::util::LogThrottle;

TEST_CASE("the first line passes, repeats within the period are counted", "[log_throttle]") {
    LogThrottle throttle(std::chrono::hours(1));
    uint64_t suppressed = 99;
    REQUIRE(throttle.allow(suppressed));
    CHECK(suppressed == 0);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(throttle.allow(suppressed));
}

TEST_CASE("after the period the next line passes and reports how many were held back", "[log_throttle]") {
    LogThrottle throttle(std::chrono::milliseconds(20));
    uint64_t suppressed = 0;
    REQUIRE(throttle.allow(suppressed));
    CHECK_FALSE(throttle.allow(suppressed));
    CHECK_FALSE(throttle.allow(suppressed));
    CHECK_FALSE(throttle.allow(suppressed));
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    REQUIRE(throttle.allow(suppressed));
    CHECK(suppressed == 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    REQUIRE(throttle.allow(suppressed));
    CHECK(suppressed == 0);
}
