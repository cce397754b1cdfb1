// Scale-out (issue #16, docs/scale-out.md): three macp-runtime processes serve one deployment
// through one real redis-server, each session owned by one process at a time under a fenced lease.
//  - any process answers any call: Sends, GetSession, ListSessions and the control RPCs through
//    processes that do not own the session are forwarded to the owner, with the same answers;
//  - SIGKILL of an owner under load: its sessions continue elsewhere after the lease; every
//    acknowledged message is present exactly once, nothing else is;
//  - fencing: an owner stopped (SIGSTOP) past its lease loses the session to another process and,
//    continued (SIGCONT), never writes it again: its next write is refused and re-routed;
//  - max_open_sessions and the rate limits are per process (documented choice).
// Runs with MACP_TEST_STORAGE_BACKEND=redis only (tests/integration/CMakeLists.txt).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "metrics_page.hpp"

using namespace macp::test;
using namespace std::chrono_literals;

namespace {

constexpr int kLeaseTtlMs = 2000;

class Cluster {
public:
    explicit Cluster(int size = 3, std::map<std::string, std::string> extra = {}) {
        RedisServer& redis = test_redis();
        if (!redis.running()) redis.start();
        // One key space for the whole cluster, apart from other tests sharing this redis-server.
        const std::string prefix = "cluster-" + new_session_id().substr(0, 8) + ":";
        for (int i = 0; i < size; ++i) {
            std::map<std::string, std::string> env{{"MACP_ALLOW_INSECURE", "1"},
                                                   {"MACP_CLUSTER", "1"},
                                                   {"MACP_NODE_ID", "node" + std::to_string(i)},
                                                   {"MACP_REDIS_KEY_PREFIX", prefix},
                                                   {"MACP_CLUSTER_LEASE_TTL_MS", std::to_string(kLeaseTtlMs)},
                                                   {"MACP_CLUSTER_ADOPT_INTERVAL_MS", "1000"},
                                                   {"MACP_MESSAGE_LIMIT_PER_MINUTE", "1000000"},
                                                   {"MACP_SESSION_START_LIMIT_PER_MINUTE", "1000000"}};
            for (const auto& [k, v] : extra) env[k] = v;
            metrics_ports.push_back(free_port());
            env["MACP_METRICS_ADDR"] = "127.0.0.1:" + std::to_string(metrics_ports.back());
            nodes.push_back(std::make_unique<ServerProcess>(env, dir.path() / ("node" + std::to_string(i))));
        }
        for (auto& n : nodes) {
            const bool started = n->start();
            INFO(n->log());
            REQUIRE(started);
        }
    }
    ServerProcess& operator[](size_t i) { return *nodes[i]; }
    // One sample of node i's metrics page (-1 when absent or the scrape failed).
    [[nodiscard]] double metric(size_t i, const std::string& series) const {
        const auto reply = http_request(metrics_ports[i], "GET", "/metrics");
        if (reply.status != 200) return -1;
        return parse(reply.body).value(series);
    }
    [[nodiscard]] std::string logs() const {
        std::string all;
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (nodes[i]->running()) all += "---- node" + std::to_string(i) + "\n" + nodes[i]->log();
        }
        return all;
    }

    TempDir dir;
    std::vector<int> metrics_ports;
    std::vector<std::unique_ptr<ServerProcess>> nodes;
};

uint32_t contributions(const macp::v1::SessionMetadata& md) {
    uint32_t n = 0;
    for (const auto& a : md.participant_activity()) n += a.message_count();
    return n;
}

// Sends until an answer comes back from the cluster (transport errors while a process dies are
// retried with the same message id, so a message counts once however often it is sent).
macp::v1::Ack send_settled(Client& c, const macp::v1::Envelope& env, std::chrono::seconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    grpc::Status st;
    macp::v1::Ack ack;
    while (std::chrono::steady_clock::now() < deadline) {
        ack = c.send(env, &st);
        if (st.ok()) return ack;
        std::this_thread::sleep_for(50ms);
    }
    FAIL("no answer for " << env.message_id() << " within the limit: " << st.error_message());
    return ack;
}

}  // namespace

TEST_CASE("any process answers any call, with the owner's answers", "[integration][redis][cluster]") {
    Cluster c;
    std::vector<std::unique_ptr<Client>> alice, coord;
    for (int i = 0; i < 3; ++i) {
        alice.push_back(std::make_unique<Client>(c[i].address(), "alice"));
        coord.push_back(std::make_unique<Client>(c[i].address(), "coordinator"));
    }
    constexpr int kSessions = 12;
    std::vector<std::string> ids;
    for (int s = 0; s < kSessions; ++s) {
        ids.push_back(new_session_id());
        auto start = coord[s % 3]->send(
            envelope("SessionStart", ids.back(), kMultiRound, "start", session_start_payload({"alice", "bob"})));
        INFO(start.error().code() << " " << start.error().message());
        REQUIRE(start.ok());
    }
    // Every session gets one contribution through each process; the two that do not own it forward.
    for (int s = 0; s < kSessions; ++s) {
        for (int i = 0; i < 3; ++i) {
            auto ack = alice[i]->send(envelope("Contribute", ids[s], kMultiRound, "c" + std::to_string(i),
                                               contribute_json("v" + std::to_string(i))));
            INFO("session " << s << " via node" << i << ": " << ack.error().code() << " " << ack.error().message());
            REQUIRE(ack.ok());
            CHECK_FALSE(ack.duplicate());
            CHECK(ack.session_state() == macp::v1::SESSION_STATE_OPEN);
        }
        // Dedup across processes: the same message id through another process is a duplicate.
        auto dup = alice[(s + 1) % 3]->send(envelope("Contribute", ids[s], kMultiRound, "c0", contribute_json("v0")));
        CHECK((dup.ok() && dup.duplicate()));
        // The owner's errors come back as they are (MODE-MR-4: a participant may not commit).
        auto forbidden = alice[(s + 2) % 3]->send(
            envelope("Commitment", ids[s], kMultiRound, "x", commitment_payload("multi_round.converged", true)));
        CHECK(forbidden.error().code() == "FORBIDDEN");
    }
    for (int i = 0; i < 3; ++i) {
        // GetSession through every process sees the same history.
        for (int s = 0; s < kSessions; ++s) {
            macp::v1::SessionMetadata md;
            REQUIRE(alice[i]->get_session(ids[s], &md).ok());
            CHECK(contributions(md) == 3);
        }
        // ListSessions through every process sees every session.
        std::vector<macp::v1::SessionMetadata> all;
        REQUIRE(alice[i]->list_all(&all).ok());
        std::set<std::string> listed;
        for (const auto& md : all) listed.insert(md.session_id());
        for (const auto& id : ids) CHECK(listed.count(id) == 1);
    }
    // Two of every three contributions were forwarded (macp_cluster_forwarded_total, docs/metrics.md).
    double forwarded = 0;
    for (size_t i = 0; i < 3; ++i) forwarded += c.metric(i, R"(macp_cluster_forwarded_total{call="send"})");
    CHECK(forwarded >= 2 * kSessions);
    // A malformed id is refused as by one process (SS-1), without any routing.
    auto malformed = coord[1]->send(
        envelope("SessionStart", "not a session id", kMultiRound, "bad", session_start_payload({"alice"})));
    CHECK(malformed.error().code() == "INVALID_SESSION_ID");
    // An unknown session is NOT_FOUND through any process.
    macp::v1::SessionMetadata none;
    CHECK(alice[1]->get_session(new_session_id(), &none).error_code() == grpc::StatusCode::NOT_FOUND);
    // Control RPCs run at the owner: cancel through a process that does not own the session.
    macp::v1::Ack cancelled;
    REQUIRE(coord[1]->cancel(ids[0], "done", &cancelled).ok());
    CHECK(cancelled.ok());
    macp::v1::SessionMetadata md;
    REQUIRE(alice[2]->get_session(ids[0], &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_CANCELLED);
    auto closed = alice[2]->send(envelope("Contribute", ids[0], kMultiRound, "late", contribute_json("z")));
    CHECK(closed.error().code() == "SESSION_NOT_OPEN");
}

TEST_CASE("SIGKILL of a process under load: its sessions continue elsewhere, nothing acknowledged is lost",
          "[integration][redis][cluster]") {
    Cluster c;
    constexpr int kSessions = 9;
    constexpr int kPerSession = 40;
    std::vector<std::string> ids;
    {
        Client starter(c[0].address(), "coordinator");
        for (int s = 0; s < kSessions; ++s) {
            ids.push_back(new_session_id());
            // Started through each process in turn: each owns three.
            Client via(c[s % 3].address(), "coordinator");
            REQUIRE(via.send(envelope("SessionStart", ids.back(), kMultiRound, "start",
                                      session_start_payload({"alice", "bob"}, 600'000)))
                        .ok());
        }
    }
    // One sender per session, sending through the processes 1 and 2 only (process 0 dies), so
    // that a third of the sessions lose their owner mid-stream.
    std::vector<std::vector<std::string>> acked(kSessions), refused(kSessions);
    std::atomic<int> sent{0};
    std::vector<std::thread> senders;
    for (int s = 0; s < kSessions; ++s) {
        senders.emplace_back([&, s] {
            Client via(c[1 + s % 2].address(), "alice");
            for (int m = 0; m < kPerSession; ++m) {
                const std::string id = "m" + std::to_string(m);
                grpc::Status st;
                macp::v1::Ack ack;
                const auto deadline = std::chrono::steady_clock::now() + 30s;
                do {
                    ack = via.send(envelope("Contribute", ids[s], kMultiRound, id, contribute_json(id)), &st);
                } while (!st.ok() && std::chrono::steady_clock::now() < deadline);
                if (st.ok() && ack.ok()) {
                    acked[s].push_back(id);
                } else {
                    refused[s].push_back(id);
                }
                ++sent;
            }
        });
    }
    while (sent.load() < kSessions * kPerSession / 4) std::this_thread::sleep_for(5ms);
    c[0].kill9();
    for (auto& t : senders) t.join();

    Client check(c[2].address(), "alice");
    for (int s = 0; s < kSessions; ++s) {
        INFO("session " << s << ": " << refused[s].size() << " refused");
        CHECK(refused[s].empty());  // every message got through once the lease ran out
        macp::v1::SessionMetadata md;
        REQUIRE(check.get_session(ids[s], &md).ok());
        CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
        CHECK(contributions(md) == acked[s].size());  // each acknowledged once, nothing else
        for (const auto& id : acked[s]) {
            auto again = check.send(envelope("Contribute", ids[s], kMultiRound, id, contribute_json(id)));
            CHECK((again.ok() && again.duplicate()));
        }
    }
    INFO(c.logs());
    CHECK(c.logs().find("took over session") != std::string::npos);
    // The survivors took over the dead process's three sessions (macp_cluster_takeovers_total).
    CHECK(c.metric(1, "macp_cluster_takeovers_total") + c.metric(2, "macp_cluster_takeovers_total") >= 3);
}

TEST_CASE("an owner paused past its lease is fenced: its writes are refused, the session has one history",
          "[integration][redis][cluster]") {
    Cluster c;  // node2 only watches: the session moves between node0 and node1 alone
    const auto sid = new_session_id();
    Client a(c[0].address(), "alice"), b(c[1].address(), "alice");
    Client coord(c[0].address(), "coordinator");
    REQUIRE(coord.send(envelope("SessionStart", sid, kMultiRound, "start", session_start_payload({"alice", "bob"})))
                .ok());  // node0 owns it
    REQUIRE(a.send(envelope("Contribute", sid, kMultiRound, "before", contribute_json("1"))).ok());

    REQUIRE(::kill(c[0].pid(), SIGSTOP) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(kLeaseTtlMs + 500));
    // node1 takes the session over once node0's lease ran out, and accepts messages for it.
    auto during = send_settled(b, envelope("Contribute", sid, kMultiRound, "during", contribute_json("2")));
    INFO(during.error().code() << " " << during.error().message());
    REQUIRE(during.ok());
    REQUIRE(::kill(c[0].pid(), SIGCONT) == 0);

    // node0 still believes it owns the session: its first write carries the old token, the store
    // refuses it, and the message goes to node1 instead.
    auto after = send_settled(a, envelope("Contribute", sid, kMultiRound, "after", contribute_json("3")));
    INFO(after.error().code() << " " << after.error().message() << "\n" << c.logs());
    REQUIRE(after.ok());
    CHECK_FALSE(after.duplicate());
    const bool lost = [&] {
        for (int i = 0; i < 100; ++i) {
            if (c[0].log().find("lost session " + sid) != std::string::npos) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }();
    INFO(c[0].log());
    CHECK(lost);
    CHECK(c.metric(0, "macp_cluster_sessions_lost_total") >= 1);
    CHECK(c.metric(1, "macp_cluster_takeovers_total") >= 1);
    // One history, whichever process is asked; every message once.
    Client third(c[2].address(), "alice");
    for (Client* via : {&a, &b, &third}) {
        macp::v1::SessionMetadata md;
        REQUIRE(via->get_session(sid, &md).ok());
        CHECK(contributions(md) == 3);
        for (const char* id : {"before", "during", "after"}) {
            auto again = via->send(envelope("Contribute", sid, kMultiRound, id, contribute_json("x")));
            CHECK((again.ok() && again.duplicate()));
        }
    }
}

TEST_CASE("a clean shutdown hands the sessions over at once", "[integration][redis][cluster]") {
    Cluster c(2);
    const auto sid = new_session_id();
    Client coord0(c[0].address(), "coordinator"), coord1(c[1].address(), "coordinator");
    REQUIRE(
        coord0.send(envelope("SessionStart", sid, kMultiRound, "start", session_start_payload({"alice", "bob"}))).ok());
    REQUIRE(c[0].stop(SIGTERM) == 0);
    // Released at shutdown: node1 serves it without waiting for the lease to run out.
    Client b(c[1].address(), "alice");
    const auto t0 = std::chrono::steady_clock::now();
    auto ack = b.send(envelope("Contribute", sid, kMultiRound, "c1", contribute_json("1")));
    REQUIRE(ack.ok());
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(kLeaseTtlMs));
}

TEST_CASE("a watcher on one process sees sessions started and resolved on the others",
          "[integration][redis][cluster]") {
    Cluster c;
    Client watcher(c[0].address(), "watcher");
    auto ctx = watcher.context();
    ctx->set_deadline(std::chrono::system_clock::now() + 30s);
    auto reader = watcher.stub().WatchSessions(ctx.get(), macp::v1::WatchSessionsRequest{});
    auto sctx = watcher.context();
    sctx->set_deadline(std::chrono::system_clock::now() + 30s);
    auto signals = watcher.stub().WatchSignals(sctx.get(), macp::v1::WatchSignalsRequest{});
    std::this_thread::sleep_for(300ms);  // both watches subscribed before the events below

    const auto on_b = new_session_id(), on_c = new_session_id();
    Client coord_b(c[1].address(), "coordinator"), coord_c(c[2].address(), "coordinator");
    Client alice_c(c[2].address(), "alice");
    REQUIRE(coord_b.send(envelope("SessionStart", on_b, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    REQUIRE(coord_c.send(envelope("SessionStart", on_c, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    REQUIRE(alice_c.send(envelope("Contribute", on_c, kMultiRound, "a", contribute_json("v"))).ok());
    REQUIRE(
        coord_c.send(envelope("Commitment", on_c, kMultiRound, "c", commitment_payload("multi_round.converged", true)))
            .ok());
    macp::v1::SignalPayload sp;
    sp.set_signal_type("heartbeat");
    auto sig = coord_b.send(envelope("Signal", "", "", "sig-1", sp.SerializeAsString()));
    INFO(sig.error().code() << " " << sig.error().message());
    REQUIRE(sig.ok());

    std::set<std::pair<std::string, int>> seen;
    macp::v1::WatchSessionsResponse r;
    while (seen.size() < 3 && reader->Read(&r)) {
        seen.insert({r.event().session().session_id(), static_cast<int>(r.event().event_type())});
    }
    using E = macp::v1::SessionLifecycleEvent;
    CHECK(seen.count({on_b, E::EVENT_TYPE_CREATED}) == 1);
    CHECK(seen.count({on_c, E::EVENT_TYPE_CREATED}) == 1);
    CHECK(seen.count({on_c, E::EVENT_TYPE_RESOLVED}) == 1);
    // An ambient Signal accepted on B reaches the watcher on A.
    macp::v1::WatchSignalsResponse s;
    REQUIRE(signals->Read(&s));
    CHECK(s.envelope().message_id() == "sig-1");
    CHECK(s.envelope().sender() == "coordinator");
    CHECK(c.metric(0, R"(macp_cluster_events_total{direction="received"})") >= 4);
    ctx->TryCancel();
    sctx->TryCancel();
}

TEST_CASE("registries follow changes made through any process", "[integration][redis][cluster]") {
    Cluster c(2);
    Client admin(c[0].address(), "admin"), other(c[1].address(), "admin");
    auto pctx = other.context();
    pctx->set_deadline(std::chrono::system_clock::now() + 30s);
    auto policies = other.stub().WatchPolicies(pctx.get(), macp::v1::WatchPoliciesRequest{});
    macp::v1::WatchPoliciesResponse p;
    REQUIRE(policies->Read(&p));  // the initial list
    REQUIRE(p.descriptors_size() == 1);

    macp::v1::RegisterPolicyRequest preq;
    preq.mutable_policy_descriptor()->set_policy_id("policy.shared");
    preq.mutable_policy_descriptor()->set_mode("*");
    preq.mutable_policy_descriptor()->set_rules("{}");
    preq.mutable_policy_descriptor()->set_schema_version(1);
    macp::v1::RegisterPolicyResponse presp;
    {
        auto ctx = admin.context();
        REQUIRE(admin.stub().RegisterPolicy(ctx.get(), preq, &presp).ok());
        REQUIRE(presp.ok());
    }
    // The watcher on the other process hears of it, and that process binds sessions to it.
    REQUIRE(policies->Read(&p));
    REQUIRE(p.descriptors_size() == 2);
    CHECK(p.descriptors(1).policy_id() == "policy.shared");
    const auto sid = new_session_id();
    auto start = other.send(envelope("SessionStart", sid, kMultiRound, "s",
                                     session_start_payload({"alice"}, 60'000, "1.0.0", "cfg-1", "policy.shared")));
    INFO(start.error().code() << " " << start.error().message());
    CHECK(start.ok());

    macp::v1::RegisterExtModeRequest mreq;
    auto* d = mreq.mutable_mode_descriptor();
    d->set_mode("ext.shared.v1");
    d->set_mode_version("1.0.0");
    d->add_message_types("Commitment");
    d->add_terminal_message_types("Commitment");
    macp::v1::RegisterExtModeResponse mresp;
    {
        auto ctx = admin.context();
        REQUIRE(admin.stub().RegisterExtMode(ctx.get(), mreq, &mresp).ok());
        REQUIRE(mresp.ok());
    }
    bool listed = false;
    for (int i = 0; i < 100 && !listed; ++i) {
        macp::v1::ListExtModesResponse modes;
        auto ctx = other.context();
        REQUIRE(other.stub().ListExtModes(ctx.get(), macp::v1::ListExtModesRequest{}, &modes).ok());
        for (const auto& m : modes.modes()) listed = listed || m.mode() == "ext.shared.v1";
        if (!listed) std::this_thread::sleep_for(50ms);
    }
    CHECK(listed);
    pctx->TryCancel();
}

TEST_CASE("StreamSession through a process that does not own the session", "[integration][redis][cluster]") {
    Cluster c(2);
    const auto sid = new_session_id();
    Client coord(c[0].address(), "coordinator");  // node0 owns the session
    REQUIRE(coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice", "bob"}))).ok());

    Client alice(c[1].address(), "alice");
    auto ctx = alice.context();
    ctx->set_deadline(std::chrono::system_clock::now() + 30s);
    auto stream = alice.stub().StreamSession(ctx.get());
    macp::v1::StreamSessionRequest req;
    *req.mutable_envelope() = envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x"));
    REQUIRE(stream->Write(req));
    macp::v1::StreamSessionResponse resp;
    REQUIRE(stream->Read(&resp));  // the accepted envelope comes back on the stream (STR-SS-8)
    CHECK(resp.envelope().message_id() == "a1");
    // A message another participant sends directly to the owner reaches this stream too.
    Client bob(c[0].address(), "bob");
    REQUIRE(bob.send(envelope("Contribute", sid, kMultiRound, "b1", contribute_json("y"))).ok());
    REQUIRE(stream->Read(&resp));
    CHECK(resp.envelope().message_id() == "b1");
    // Errors come back inline, from the owner (MODE-MR-4).
    *req.mutable_envelope() =
        envelope("Commitment", sid, kMultiRound, "x", commitment_payload("multi_round.converged", true));
    REQUIRE(stream->Write(req));
    REQUIRE(stream->Read(&resp));
    CHECK(resp.error().code() == "FORBIDDEN");
    stream->WritesDone();
    while (stream->Read(&resp)) {
    }
    auto st = stream->Finish();
    INFO(st.error_message());
    CHECK(st.ok());
}

TEST_CASE("rate limits are per process: each process admits its own quota", "[integration][redis][cluster]") {
    // docs/scale-out.md "Limits": a process enforces MACP_SESSION_START_LIMIT_PER_MINUTE,
    // MACP_MESSAGE_LIMIT_PER_MINUTE and max_open_sessions for the calls it serves.
    Cluster c(2, {{"MACP_SESSION_START_LIMIT_PER_MINUTE", "2"}});
    for (int node = 0; node < 2; ++node) {
        Client coord(c[node].address(), "coordinator");
        for (int i = 0; i < 2; ++i) {
            auto ack = coord.send(
                envelope("SessionStart", new_session_id(), kMultiRound, "s", session_start_payload({"alice"})));
            INFO("node" << node << " start " << i << ": " << ack.error().code());
            CHECK(ack.ok());
        }
        auto third =
            coord.send(envelope("SessionStart", new_session_id(), kMultiRound, "s", session_start_payload({"alice"})));
        CHECK(third.error().code() == "RATE_LIMITED");
    }
}

TEST_CASE("with bearer tokens: forwarded calls are authenticated by the owner; max_open_sessions is per process",
          "[integration][redis][cluster]") {
    const std::string tokens = R"([
      {"token": "tok-limited", "sender": "agent://limited", "max_open_sessions": 1},
      {"token": "tok-alice", "sender": "agent://alice"}
    ])";
    Cluster c(2, {{"MACP_AUTH_TOKENS_JSON", tokens}});
    Client limited0(c[0].address(), "tok-limited"), limited1(c[1].address(), "tok-limited");
    const auto first = new_session_id();
    REQUIRE(limited0.send(envelope("SessionStart", first, kMultiRound, "s", session_start_payload({"agent://alice"})))
                .ok());
    auto second =
        limited0.send(envelope("SessionStart", new_session_id(), kMultiRound, "s", session_start_payload({"a"})));
    CHECK(second.error().code() == "RATE_LIMITED");  // node0 serves one open session of this sender
    auto elsewhere =
        limited1.send(envelope("SessionStart", new_session_id(), kMultiRound, "s", session_start_payload({"a"})));
    CHECK(elsewhere.ok());  // node1 counts its own

    // A participant's message through the process that does not own the session: its token
    // travels with the forwarded call and the owner binds the sender from it.
    Client alice1(c[1].address(), "tok-alice");
    auto contribution = alice1.send(envelope("Contribute", first, kMultiRound, "a1", contribute_json("x")));
    INFO(contribution.error().code() << " " << contribution.error().message());
    CHECK(contribution.ok());
    Client stranger(c[1].address(), "tok-nobody");
    auto refused = stranger.send(envelope("Contribute", first, kMultiRound, "z", contribute_json("x")));
    CHECK(refused.error().code() == "UNAUTHENTICATED");
    macp::v1::SessionMetadata md;
    REQUIRE(alice1.get_session(first, &md).ok());
    CHECK(contributions(md) == 1);
}

TEST_CASE("the storage adapter fences every write of a cluster process", "[integration][redis][cluster]") {
    // The host side of storage.h FENCING, through the real plugin (no server): the token of each
    // session's writes, the refusal of a session without a lease, and the lost-lease report.
    TempDir dir;
    auto store = open_store(dir.path() / "data");
    REQUIRE(store->supports_leases());
    std::vector<std::string> lost;
    store->on_fenced([&lost](const std::string& id) { lost.push_back(id); });
    const auto x = new_session_id(), y = new_session_id();
    auto mine = store->acquire_lease(x, "test@127.0.0.1:1#1", 300, 0);
    REQUIRE(mine);
    REQUIRE(mine->granted);
    store->set_fence(x, mine->token);
    store->require_fences(true);

    // A batch mixing a leased session and one without a lease: the latter never reaches the
    // plugin, the former's items commit in order around it.
    const std::vector<macp::storage::LogAppend> batch{{x, "x1"}, {y, "y1"}, {x, "x2"}};
    auto statuses = store->append_log_batch(batch);
    REQUIRE(statuses.size() == 3);
    CHECK(statuses[0].ok());
    CHECK_FALSE(statuses[1].ok());
    CHECK(statuses[1].error().status == macp::storage::kStatusFenced);
    CHECK(statuses[2].ok());
    CHECK(store->load_log(x).value() == std::vector<std::string>{"x1", "x2"});
    CHECK(store->load_log(y).value().empty());
    CHECK_FALSE(store->save_session(y, "snap").ok());  // single-session writes too
    CHECK(lost.empty());                               // refused here, not by the store: nothing was lost

    // Another holder takes the session over once the lease ran out: this process's next write
    // is refused by the store itself and reported as lost.
    std::optional<macp::storage::Lease> theirs;
    for (int i = 0; i < 200 && !(theirs && theirs->granted); ++i) {
        std::this_thread::sleep_for(25ms);
        auto l = store->acquire_lease(x, "other@127.0.0.1:2#2", 5000, 0);
        REQUIRE(l);
        theirs = *l;
    }
    REQUIRE(theirs->granted);
    CHECK(theirs->token > mine->token);
    auto stale = store->append_log_entry(x, "x3");
    CHECK(stale.error().status == macp::storage::kStatusFenced);
    CHECK(lost == std::vector<std::string>{x});
    CHECK(store->load_log(x).value() == std::vector<std::string>{"x1", "x2"});
    // Under the new token the history goes on.
    store->set_fence(x, theirs->token);
    CHECK(store->append_log_entry(x, "x3").ok());
    CHECK(store->load_log(x).value() == std::vector<std::string>{"x1", "x2", "x3"});
    // A record queued under the old token goes out under it, even once the table holds the new
    // one: refused by the store, and not reported as a loss of the lease held now.
    const std::vector<macp::storage::LogAppend> late{{x, "queued-before", mine->token}, {y, "y2", 0}};
    auto late_statuses = store->append_log_batch(late);
    REQUIRE(late_statuses.size() == 2);
    CHECK(late_statuses[0].error().status == macp::storage::kStatusFenced);
    CHECK(late_statuses[1].error().status == macp::storage::kStatusFenced);  // y: still no lease here
    CHECK(store->append_log_batch({{x, "x4", theirs->token}}).front().ok());
    CHECK(store->load_log(x).value() == std::vector<std::string>{"x1", "x2", "x3", "x4"});
    CHECK(lost == std::vector<std::string>{x});  // still only the one report above
    store->on_fenced({});
}

TEST_CASE("--check-config explains a wrong cluster configuration", "[integration][cluster]") {
    std::string out;
    const int code = ServerProcess::run_to_exit(
        {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_CLUSTER", "1"}, {"MACP_STORAGE_BACKEND", "file"}, {"MACP_NODE_ID", "a"}},
        {"--check-config"}, out);
    CHECK(code != 0);
    CHECK(out.find("MACP_CLUSTER") != std::string::npos);
    CHECK(out.find("MACP_STORAGE_BACKEND=redis") != std::string::npos);
    out.clear();
    const int wildcard = ServerProcess::run_to_exit({{"MACP_ALLOW_INSECURE", "1"},
                                                     {"MACP_CLUSTER", "1"},
                                                     {"MACP_STORAGE_BACKEND", "redis"},
                                                     {"MACP_BIND_ADDR", "0.0.0.0:50999"}},
                                                    {"--check-config"}, out);
    CHECK(wildcard != 0);
    CHECK(out.find("MACP_ADVERTISE_ADDR") != std::string::npos);
}
