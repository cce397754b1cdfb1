// Watch* server streams (BEHAVIOR.md §8.3 with the 0.6 changes): initial sync, live events,
// authentication, and prompt termination at server shutdown.
#include <thread>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;
using namespace std::chrono_literals;

namespace {
std::map<std::string, std::string> dev() {
    return {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_SHUTDOWN_DRAIN_SECS", "10"}};
}
}  // namespace

TEST_CASE("WatchSessions: initial CREATED sync once, then live lifecycle events (STR-WS-1/2)", "[integration][watch]") {
    TempDir dir;
    ServerProcess server(dev(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    const auto existing = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", existing, kMultiRound, "s", session_start_payload({"alice"}))).ok());

    auto ctx = coord.context();
    auto reader = coord.stub().WatchSessions(ctx.get(), macp::v1::WatchSessionsRequest{});
    macp::v1::WatchSessionsResponse r;
    REQUIRE(reader->Read(&r));
    CHECK(r.event().event_type() == macp::v1::SessionLifecycleEvent::EVENT_TYPE_CREATED);
    CHECK(r.event().session().session_id() == existing);

    const auto live = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", live, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    REQUIRE(reader->Read(&r));
    CHECK(r.event().event_type() == macp::v1::SessionLifecycleEvent::EVENT_TYPE_CREATED);
    CHECK(r.event().session().session_id() == live);
    REQUIRE(coord.cancel(live, "done", nullptr).ok());
    REQUIRE(reader->Read(&r));
    CHECK(r.event().event_type() == macp::v1::SessionLifecycleEvent::EVENT_TYPE_CANCELLED);
    CHECK(r.event().session().state() == macp::v1::SESSION_STATE_CANCELLED);
    Client alice(server.address(), "alice");
    REQUIRE(alice.send(envelope("Contribute", existing, kMultiRound, "a", contribute_json("v"))).ok());
    REQUIRE(
        coord
            .send(envelope("Commitment", existing, kMultiRound, "c", commitment_payload("multi_round.converged", true)))
            .ok());
    REQUIRE(reader->Read(&r));
    CHECK(r.event().event_type() == macp::v1::SessionLifecycleEvent::EVENT_TYPE_RESOLVED);
    CHECK(r.event().session().session_id() == existing);
    ctx->TryCancel();
    reader->Finish();

    Client anon(server.address());
    auto actx = anon.context();
    auto denied = anon.stub().WatchSessions(actx.get(), macp::v1::WatchSessionsRequest{});
    CHECK_FALSE(denied->Read(&r));
    CHECK(denied->Finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("WatchSignals delivers ambient signals with the bound sender and needs auth (STR-SIG-1)",
          "[integration][watch]") {
    TempDir dir;
    ServerProcess server(dev(), dir.path() / "data");
    REQUIRE(server.start());
    Client watcher(server.address(), "watcher");
    auto ctx = watcher.context();
    auto reader = watcher.stub().WatchSignals(ctx.get(), macp::v1::WatchSignalsRequest{});
    // The subscription is registered asynchronously; send until it is seen (bounded).
    Client agent(server.address(), "agent-7");
    macp::v1::SignalPayload sp;
    sp.set_signal_type("heartbeat");
    std::atomic<bool> got{false};
    std::thread sender([&] {
        for (int i = 0; i < 50 && !got; ++i) {
            agent.send(envelope("Signal", "", "", "sig" + std::to_string(i), sp.SerializeAsString()));
            std::this_thread::sleep_for(100ms);
        }
    });
    macp::v1::WatchSignalsResponse r;
    bool read = reader->Read(&r);
    got = true;
    sender.join();
    REQUIRE(read);
    CHECK(r.envelope().sender() == "agent-7");
    CHECK(r.envelope().message_type() == "Signal");
    ctx->TryCancel();
    reader->Finish();

    Client anon(server.address());
    auto actx = anon.context();
    auto denied = anon.stub().WatchSignals(actx.get(), macp::v1::WatchSignalsRequest{});
    CHECK_FALSE(denied->Read(&r));
    CHECK(denied->Finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);  // RPC-SIG-AUTH-1
}

TEST_CASE("a WatchSignals subscriber that stops reading ends with RESOURCE_EXHAUSTED (STR-SIG-1 as of 0.6)",
          "[integration][watch]") {
    TempDir dir;
    auto env = dev();
    env["MACP_MESSAGE_LIMIT_PER_MINUTE"] = "100000000";
    ServerProcess server(env, dir.path() / "data");
    REQUIRE(server.start());
    Client watcher(server.address(), "watcher");
    auto ctx = watcher.context();
    ctx->set_deadline(std::chrono::system_clock::now() + 120s);
    auto reader = watcher.stub().WatchSignals(ctx.get(), macp::v1::WatchSignalsRequest{});
    Client agent(server.address(), "agent-7");
    macp::v1::SignalPayload sp;
    sp.set_signal_type("heartbeat");
    std::atomic<bool> subscribed{false};
    std::thread first([&] {  // until the subscription is seen (bounded)
        for (int i = 0; i < 50 && !subscribed; ++i) {
            agent.send(envelope("Signal", "", "", "hello" + std::to_string(i), sp.SerializeAsString()));
            std::this_thread::sleep_for(100ms);
        }
    });
    macp::v1::WatchSignalsResponse r;
    const bool read = reader->Read(&r);
    subscribed = true;
    first.join();
    REQUIRE(read);

    // The watcher reads no more. Far more than HTTP/2's windows plus the 256-signal buffer
    // (CFG-13) can hold: the server ends this stream instead of buffering without bound.
    sp.set_data(std::string(16 * 1024, 'x'));
    constexpr int kSignals = 3000;
    const auto t0 = std::chrono::steady_clock::now();
    int sent = 0;
    for (; sent < kSignals && std::chrono::steady_clock::now() - t0 < 60s; ++sent) {
        REQUIRE(agent.send(envelope("Signal", "", "", "flood" + std::to_string(sent), sp.SerializeAsString())).ok());
    }
    int received = 0;
    while (reader->Read(&r) && received < kSignals + 100) ++received;
    const auto st = reader->Finish();
    INFO("sent " << sent << ", received " << received << " before the end");
    CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(received < sent);

    // Other subscribers, and new ones, are unaffected.
    auto ctx2 = watcher.context();
    auto again = watcher.stub().WatchSignals(ctx2.get(), macp::v1::WatchSignalsRequest{});
    subscribed = false;
    std::thread next([&] {
        for (int i = 0; i < 50 && !subscribed; ++i) {
            agent.send(envelope("Signal", "", "", "again" + std::to_string(i), sp.SerializeAsString()));
            std::this_thread::sleep_for(100ms);
        }
    });
    const bool read_again = again->Read(&r);
    subscribed = true;
    next.join();
    CHECK(read_again);
    ctx2->TryCancel();
    again->Finish();
}

TEST_CASE("WatchModeRegistry, WatchPolicies and WatchRoots: initial message, then one per change",
          "[integration][watch]") {
    TempDir dir;
    ServerProcess server(dev(), dir.path() / "data");
    REQUIRE(server.start());
    Client admin(server.address(), "admin");
    Client anon(server.address());  // RPC-GEN-3: no credentials needed

    auto mctx = anon.context();
    auto modes = anon.stub().WatchModeRegistry(mctx.get(), macp::v1::WatchModeRegistryRequest{});
    macp::v1::WatchModeRegistryResponse m;
    REQUIRE(modes->Read(&m));
    CHECK(m.change().registry() == "modes");
    auto pctx = anon.context();
    auto policies = anon.stub().WatchPolicies(pctx.get(), macp::v1::WatchPoliciesRequest{});
    macp::v1::WatchPoliciesResponse p;
    REQUIRE(policies->Read(&p));
    REQUIRE(p.descriptors_size() == 1);
    CHECK(p.descriptors(0).policy_id() == "policy.default");
    auto rctx = anon.context();
    auto roots = anon.stub().WatchRoots(rctx.get(), macp::v1::WatchRootsRequest{});
    macp::v1::WatchRootsResponse root;
    REQUIRE(roots->Read(&root));
    CHECK(root.change().observed_at_unix_ms() > 0);

    macp::v1::RegisterExtModeRequest mreq;
    auto* d = mreq.mutable_mode_descriptor();
    d->set_mode("ext.watch.v1");
    d->set_mode_version("1.0.0");
    d->add_message_types("Commitment");
    d->add_terminal_message_types("Commitment");
    macp::v1::RegisterExtModeResponse mresp;
    {
        auto c = admin.context();
        REQUIRE(admin.stub().RegisterExtMode(c.get(), mreq, &mresp).ok());
        REQUIRE(mresp.ok());
    }
    REQUIRE(modes->Read(&m));
    CHECK(m.change().registry() == "modes");

    macp::v1::RegisterPolicyRequest preq;
    preq.mutable_policy_descriptor()->set_policy_id("policy.watch");
    preq.mutable_policy_descriptor()->set_mode("*");
    preq.mutable_policy_descriptor()->set_rules("{}");
    preq.mutable_policy_descriptor()->set_schema_version(1);
    macp::v1::RegisterPolicyResponse presp;
    {
        auto c = admin.context();
        REQUIRE(admin.stub().RegisterPolicy(c.get(), preq, &presp).ok());
        REQUIRE(presp.ok());
    }
    REQUIRE(policies->Read(&p));
    REQUIRE(p.descriptors_size() == 2);
    CHECK(p.descriptors(0).policy_id() == "policy.default");
    CHECK(p.descriptors(1).policy_id() == "policy.watch");

    // Open streams end at shutdown instead of holding the server until the 10 s drain deadline
    // (connected clients still get gRPC's graceful GOAWAY handshake, a few seconds at most).
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(server.stop(15) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 9s);
    CHECK_FALSE(modes->Read(&m));
    CHECK_FALSE(roots->Read(&root));
}
