// MACP_REQUEST_TIMEOUT_SECS and MACP_CONCURRENCY_LIMIT_PER_CONNECTION acting on the real server
// (issue #14). A fixture store (tests/plugin_abi/fixtures/storage-slow.cpp) takes 3 s over any
// batch holding a record marked SLOW_WRITE, so a Send can be held in flight on demand.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <string>
#include <thread>

#include "harness.hpp"

using namespace macp::test;
using namespace std::chrono_literals;

namespace {

std::string fixture_dir() {
    const char* d = std::getenv("MACP_TEST_FIXTURE_PLUGIN_DIR");
    return d == nullptr ? std::string() : std::string(d);
}

std::map<std::string, std::string> slow_store(std::map<std::string, std::string> extra) {
    extra["MACP_ALLOW_INSECURE"] = "1";
    extra["MACP_STORAGE_BACKEND"] = "slow";
    extra["MACP_PLUGIN_PATH"] = fixture_dir() + ":" + ServerProcess::plugin_dir();
    return extra;
}

// A channel with a connection of its own: gRPC otherwise shares one connection between channels
// to the same address, and the limit under test is per connection.
std::shared_ptr<grpc::Channel> own_connection(const std::string& address) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

grpc::Status send_on(macp::v1::MACPRuntimeService::Stub& stub, const macp::v1::Envelope& env, macp::v1::Ack* ack,
                     const std::string& bearer = "agent-a") {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + bearer);
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    macp::v1::SendRequest req;
    *req.mutable_envelope() = env;
    macp::v1::SendResponse resp;
    auto st = stub.Send(&ctx, req, &resp);
    if (ack != nullptr) *ack = resp.ack();
    return st;
}

}  // namespace

TEST_CASE("a Send the store does not finish within MACP_REQUEST_TIMEOUT_SECS is answered DEADLINE_EXCEEDED",
          "[limits]") {
    REQUIRE_FALSE(fixture_dir().empty());
    TempDir dir;
    ServerProcess server(slow_store({{"MACP_REQUEST_TIMEOUT_SECS", "1"}}), dir.path() / "data");
    REQUIRE(server.start());
    INFO(server.log());
    Client client(server.address(), "agent-a");
    const auto sid = new_session_id();
    REQUIRE(client.send(envelope("SessionStart", sid, kMultiRound, "s1", session_start_payload({"agent-a", "agent-b"})))
                .ok());

    const auto slow = envelope("Contribute", sid, kMultiRound, "SLOW_WRITE-c1", contribute_json("x"));
    grpc::Status st;
    const auto started = std::chrono::steady_clock::now();
    client.send(slow, &st);
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK(st.error_message().find("MACP_REQUEST_TIMEOUT_SECS") != std::string::npos);
    CHECK(took >= 900ms);
    CHECK(took < 2500ms);  // the store takes 3 s: the answer did not wait for it

    // The write went on and became durable: the same message again is a duplicate.
    std::this_thread::sleep_for(2500ms);
    auto again = client.send(slow, &st);
    CHECK(st.ok());
    CHECK(again.ok());
    CHECK(again.duplicate());

    // Fast writes are unaffected.
    auto fast = client.send(envelope("Contribute", sid, kMultiRound, "c2", contribute_json("y")), &st);
    CHECK(st.ok());
    CHECK(fast.ok());
    CHECK(server.stop(15) == 0);
}

TEST_CASE("CancelSession and GetSession give up waiting for a slow write after MACP_REQUEST_TIMEOUT_SECS", "[limits]") {
    REQUIRE_FALSE(fixture_dir().empty());
    TempDir dir;
    ServerProcess server(slow_store({{"MACP_REQUEST_TIMEOUT_SECS", "1"}}), dir.path() / "data");
    REQUIRE(server.start());
    INFO(server.log());
    Client client(server.address(), "agent-a");
    Client reader(server.address(), "agent-a");
    const auto sid = new_session_id();
    REQUIRE(client.send(envelope("SessionStart", sid, kMultiRound, "s1", session_start_payload({"agent-a", "agent-b"})))
                .ok());

    // The store takes 3 s over the SessionCancel entry.
    const auto started = std::chrono::steady_clock::now();
    auto cancel = std::async(std::launch::async, [&] {
        macp::v1::Ack ack;
        return client.cancel(sid, "done", &ack);
    });
    std::this_thread::sleep_for(300ms);
    // The session is busy with that write: a read waits for it, and gives up too.
    macp::v1::SessionMetadata meta;
    const auto read = reader.get_session(sid, &meta);
    CHECK(read.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    const auto st = cancel.get();
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK(st.error_message().find("MACP_REQUEST_TIMEOUT_SECS") != std::string::npos);
    CHECK(took < 2500ms);

    // The cancel went on and landed.
    std::this_thread::sleep_for(3s);
    REQUIRE(reader.get_session(sid, &meta).ok());
    CHECK(meta.state() == macp::v1::SESSION_STATE_CANCELLED);
    CHECK(server.stop(15) == 0);
}

TEST_CASE("MACP_CONCURRENCY_LIMIT_PER_CONNECTION refuses one call too many on a connection, not on others",
          "[limits]") {
    REQUIRE_FALSE(fixture_dir().empty());
    TempDir dir;
    ServerProcess server(slow_store({{"MACP_CONCURRENCY_LIMIT_PER_CONNECTION", "1"}}), dir.path() / "data");
    REQUIRE(server.start());
    INFO(server.log());
    auto busy_channel = own_connection(server.address());
    auto busy = macp::v1::MACPRuntimeService::NewStub(busy_channel);
    auto other = macp::v1::MACPRuntimeService::NewStub(own_connection(server.address()));
    const auto sid = new_session_id();
    macp::v1::Ack ack;
    REQUIRE(send_on(*busy,
                    envelope("SessionStart", sid, kMultiRound, "s1", session_start_payload({"agent-a", "agent-b"})),
                    &ack)
                .ok());
    REQUIRE(ack.ok());

    // One slow Send holds the connection's only slot for 3 s.
    auto held = std::async(std::launch::async, [&] {
        macp::v1::Ack a;
        auto st = send_on(*busy, envelope("Contribute", sid, kMultiRound, "SLOW_WRITE-c1", contribute_json("x")), &a);
        return std::make_pair(st, a);
    });
    std::this_thread::sleep_for(500ms);  // it is in the store by now

    // A second call on the same connection: refused at once, whatever the RPC.
    const auto t0 = std::chrono::steady_clock::now();
    auto st = send_on(*busy, envelope("Contribute", sid, kMultiRound, "c2", contribute_json("y")), nullptr);
    CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(st.error_message().find("MACP_CONCURRENCY_LIMIT_PER_CONNECTION") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    {
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer agent-a");
        macp::v1::GetSessionRequest req;
        req.set_session_id(sid);
        macp::v1::GetSessionResponse resp;
        CHECK(busy->GetSession(&ctx, req, &resp).error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    }
    // Another connection is not affected.
    {
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer agent-a");
        macp::v1::GetSessionRequest req;
        req.set_session_id(sid);
        macp::v1::GetSessionResponse resp;
        CHECK(other->GetSession(&ctx, req, &resp).ok());
    }

    const auto [held_status, held_ack] = held.get();
    CHECK(held_status.ok());
    CHECK(held_ack.ok());
    // The slot is free again once the slow call was answered.
    st = send_on(*busy, envelope("Contribute", sid, kMultiRound, "c2", contribute_json("y")), &ack);
    CHECK(st.ok());
    CHECK(ack.ok());
    CHECK(server.stop(15) == 0);
}
