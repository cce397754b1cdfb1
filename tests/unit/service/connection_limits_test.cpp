// Per-connection in-flight limit (service/connection_limits.hpp, issue #14).
#include <catch2/catch.hpp>

#include <string>

#include "service/connection_limits.hpp"

using macp::service::ConnectionLimits;

TEST_CASE("a connection gets `limit` permits, one more is RESOURCE_EXHAUSTED, others are unaffected") {
    ConnectionLimits limits(2);
    const std::string a = "ipv4:127.0.0.1:5000";
    const std::string b = "ipv4:127.0.0.1:5001";
    auto p1 = limits.acquire(a);
    auto p2 = limits.acquire(a);
    REQUIRE(p1);
    REQUIRE(p2);
    auto p3 = limits.acquire(a);
    REQUIRE_FALSE(p3);
    CHECK(p3.error().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(p3.error().error_message().find("MACP_CONCURRENCY_LIMIT_PER_CONNECTION") != std::string::npos);
    CHECK(limits.acquire(b));
    CHECK(limits.in_flight(a) == 2);
    p1.value().reset();
    CHECK(limits.in_flight(a) == 1);
    CHECK(limits.acquire(a));  // the slot came back (and went again with the temporary)
    CHECK(limits.in_flight(a) == 1);
}

TEST_CASE("a permit moved or outliving its limits still releases exactly once") {
    ConnectionLimits::Permit kept;
    {
        ConnectionLimits limits(1);
        auto p = limits.acquire("peer");
        REQUIRE(p);
        kept = std::move(p.value());
        CHECK(limits.in_flight("peer") == 1);
        ConnectionLimits::Permit moved(std::move(kept));
        CHECK(limits.in_flight("peer") == 1);
        kept = std::move(moved);
    }
    kept.reset();  // the table is shared: no dangling access
    kept.reset();
}
