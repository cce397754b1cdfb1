// storage-redis under a failing Redis, through the real server (issue #11):
//  - Redis stopped while clients send: refusals (INTERNAL_ERROR, never an acknowledgement),
//    grpc.health NOT_SERVING; Redis back: SERVING again without a runtime restart, and what was
//    refused during the outage is absent while everything acknowledged is there;
//  - Redis back EMPTY (its AOF gone): detected and reported, writes refused, never acknowledged on
//    top of lost data; a runtime restart then serves what Redis holds.
// Runs with MACP_TEST_STORAGE_BACKEND=redis only (tests/integration/CMakeLists.txt).
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;
using namespace std::chrono_literals;
using grpc::health::v1::HealthCheckResponse;
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> server_env() {
    return {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_STORAGE_HEALTH_INTERVAL_MS", "100"}};
}

struct Running {
    TempDir dir;
    ServerProcess server{server_env(), dir.path() / "data"};
    Running() {
        const bool started = server.start();
        INFO(server.log());
        REQUIRE(started);
    }
};

bool log_shows(const ServerProcess& server, const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (server.log().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

// The server's history of `sid` has exactly the contributions in `expected` (by message id).
void check_history(Client& c, const std::string& sid, const std::vector<std::string>& expected) {
    macp::v1::SessionMetadata md;
    REQUIRE(c.get_session(sid, &md).ok());
    uint32_t contributions = 0;
    for (const auto& a : md.participant_activity()) contributions += a.message_count();
    CHECK(contributions == expected.size());
    for (const auto& id : expected) {
        auto again = c.send(envelope("Contribute", sid, kMultiRound, id, contribute_json("again")));
        INFO(id << ": " << again.error().code());
        CHECK((again.ok() && again.duplicate()));  // present exactly once: a re-send is a duplicate
    }
}

}  // namespace

TEST_CASE("Redis stopped while clients send: refusals and NOT_SERVING, then SERVING again by itself",
          "[integration][redis]") {
    RedisServer& redis = test_redis();
    if (!redis.running()) redis.start();
    Running r;
    Client alice(r.server.address(), "alice");
    const auto sid = new_session_id();
    REQUIRE(alice.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice", "bob"}))).ok());
    REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "before", contribute_json("1"))).ok());
    REQUIRE(health_becomes(r.server.address(), HealthCheckResponse::SERVING));

    redis.stop();
    std::vector<std::string> refused;
    for (int i = 0; i < 5; ++i) {
        const std::string id = "during-" + std::to_string(i);
        grpc::Status st;
        auto ack = alice.send(envelope("Contribute", sid, kMultiRound, id, contribute_json("x")), &st);
        REQUIRE(st.ok());
        INFO(id << " -> " << ack.error().code() << ": " << ack.error().message());
        CHECK_FALSE(ack.ok());
        CHECK(ack.error().code() == "INTERNAL_ERROR");
        refused.push_back(id);
    }
    {
        const bool down = health_becomes(r.server.address(), HealthCheckResponse::NOT_SERVING);
        INFO(r.server.log());
        CHECK(down);
    }
    // A new session is refused as well, and leaves nothing behind.
    const auto never = new_session_id();
    CHECK_FALSE(alice.send(envelope("SessionStart", never, kMultiRound, "s", session_start_payload({"alice"}))).ok());

    redis.start();
    {
        const bool back = health_becomes(r.server.address(), HealthCheckResponse::SERVING, 20s);
        INFO(r.server.log());
        REQUIRE(back);
    }
    REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "after", contribute_json("2"))).ok());
    check_history(alice, sid, {"before", "after"});
    macp::v1::SessionMetadata md;
    CHECK(alice.get_session(never, &md).error_code() == grpc::StatusCode::NOT_FOUND);
    // What was refused during the outage may be sent again now, and is new.
    auto retried = alice.send(envelope("Contribute", sid, kMultiRound, refused.front(), contribute_json("x")));
    CHECK((retried.ok() && !retried.duplicate()));

    // The same holds after a restart of the runtime: Redis is the truth.
    r.server.stop(15);
    REQUIRE(r.server.start());
    Client again(r.server.address(), "alice");
    check_history(again, sid, {"before", "after", refused.front()});
}

TEST_CASE("a Redis that comes back empty is detected and no write is acknowledged on top of it",
          "[integration][redis]") {
    RedisServer& redis = test_redis();
    if (!redis.running()) redis.start();
    Running r;
    Client alice(r.server.address(), "alice");
    const auto sid = new_session_id();
    REQUIRE(alice.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice", "bob"}))).ok());
    REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "c1", contribute_json("1"))).ok());

    redis.kill9();
    for (const auto& entry : fs::directory_iterator(redis.dir())) fs::remove_all(entry.path());
    redis.start();  // up again, without the acknowledged writes

    // The plugin notices at its first contact with the new Redis (a health poll or a write).
    {
        const bool flagged = log_shows(r.server, "lost acknowledged writes", 20s);
        INFO(r.server.log());
        REQUIRE(flagged);
    }
    auto ack = alice.send(envelope("Contribute", sid, kMultiRound, "c2", contribute_json("2")));
    INFO(ack.error().code() << ": " << ack.error().message());
    CHECK_FALSE(ack.ok());
    CHECK(health_becomes(r.server.address(), HealthCheckResponse::NOT_SERVING));
    // Still refused a moment later: the loss is not forgotten at the next health poll.
    std::this_thread::sleep_for(300ms);
    CHECK_FALSE(alice.send(envelope("Contribute", sid, kMultiRound, "c3", contribute_json("3"))).ok());
    CHECK(health(r.server.address()) == HealthCheckResponse::NOT_SERVING);

    // The operator's way out: restart the runtime, which serves what Redis now holds (nothing).
    r.server.stop(15);
    REQUIRE(r.server.start());
    REQUIRE(health_becomes(r.server.address(), HealthCheckResponse::SERVING));
    Client after(r.server.address(), "alice");
    macp::v1::SessionMetadata md;
    CHECK(after.get_session(sid, &md).error_code() == grpc::StatusCode::NOT_FOUND);
}
