// StreamLimits (issue #13): per-sender and anonymous stream caps, released with the lease.
#include <catch2/catch.hpp>

#include "service/stream_limits.hpp"

using macp::service::StreamLimits;

TEST_CASE("a sender gets at most its cap of streams; a released lease frees a slot", "[stream-limits]") {
    StreamLimits limits;
    limits.configure(2, 1);
    auto a1 = limits.acquire("alice");
    auto a2 = limits.acquire("alice");
    REQUIRE(a1);
    REQUIRE(a2);
    CHECK(limits.held("alice") == 2);
    auto a3 = limits.acquire("alice");
    REQUIRE_FALSE(a3);
    CHECK(a3.error().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(a3.error().error_message().find("MACP_MAX_STREAMS_PER_IDENTITY") != std::string::npos);
    CHECK(limits.acquire("bob"));  // other senders are counted apart (and this lease ends at once)
    CHECK(limits.held("bob") == 0);

    a1->reset();
    CHECK(limits.held("alice") == 1);
    auto a4 = limits.acquire("alice");
    CHECK(a4);
    {
        StreamLimits::Lease moved = std::move(*a4);  // a moved-from lease releases nothing
        CHECK(limits.held("alice") == 2);
    }
    CHECK(limits.held("alice") == 1);
}

TEST_CASE("callers without credentials share one pool; 0 refuses them all", "[stream-limits]") {
    StreamLimits limits;
    limits.configure(5, 1);
    auto first = limits.acquire(std::nullopt);
    REQUIRE(first);
    auto second = limits.acquire(std::nullopt);
    REQUIRE_FALSE(second);
    CHECK(second.error().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(second.error().error_message().find("MACP_MAX_ANONYMOUS_STREAMS") != std::string::npos);
    CHECK(limits.acquire("alice"));  // senders do not use the anonymous pool
    first->reset();
    CHECK(limits.held(std::nullopt) == 0);

    limits.configure(5, 0);
    CHECK_FALSE(limits.acquire(std::nullopt));
}
