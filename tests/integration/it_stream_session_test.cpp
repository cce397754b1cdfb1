// StreamSession over gRPC (BEHAVIOR.md §8.1-8.2 with the 0.6 sequencing; issue #5).
#include <thread>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;
using namespace std::chrono_literals;
using Stream = grpc::ClientReaderWriter<macp::v1::StreamSessionRequest, macp::v1::StreamSessionResponse>;

namespace {

std::map<std::string, std::string> env() {
    return {{"MACP_ALLOW_INSECURE", "1"},
            {"MACP_MESSAGE_LIMIT_PER_MINUTE", "1000000"},
            {"MACP_MAX_PAYLOAD_BYTES", "1048576"}};
}

struct Open {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<Stream> stream;
};

Open open(Client& c) {
    Open o;
    o.ctx = c.context();
    o.ctx->set_deadline(std::chrono::system_clock::now() + 60s);
    o.stream = c.stub().StreamSession(o.ctx.get());
    return o;
}

bool send_frame(Open& o, const macp::v1::Envelope& e) {
    macp::v1::StreamSessionRequest r;
    *r.mutable_envelope() = e;
    return o.stream->Write(r);
}

bool subscribe(Open& o, const std::string& sid, uint64_t after = 0) {
    macp::v1::StreamSessionRequest r;
    r.set_subscribe_session_id(sid);
    r.set_after_sequence(after);
    return o.stream->Write(r);
}

// Reads the next envelope's message id ("" for an error frame, "<eof>" when the stream ended).
std::string next_id(Open& o, macp::v1::StreamSessionResponse* out = nullptr) {
    macp::v1::StreamSessionResponse r;
    if (!o.stream->Read(&r)) return "<eof>";
    if (out != nullptr) *out = r;
    return r.has_envelope() ? r.envelope().message_id() : "";
}

}  // namespace

TEST_CASE("two agents and an observer follow one session live, in acceptance order", "[integration][stream]") {
    TempDir dir;
    auto e = env();
    e["MACP_AUTH_TOKENS_JSON"] = R"([{"token":"coord","sender":"coord"},{"token":"alice","sender":"alice"},
        {"token":"bob","sender":"bob"},{"token":"obs","sender":"auditor","is_observer":true},{"token":"eve","sender":"eve"}])";
    ServerProcess server(e, dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    Client alice(server.address(), "alice");
    Client bob(server.address(), "bob");
    Client observer(server.address(), "obs");
    Client eve(server.address(), "eve");
    const auto sid = new_session_id();

    auto cs = open(coord);  // the initiator starts the session on its stream and sees its own envelope
    REQUIRE(send_frame(cs, envelope("SessionStart", sid, kMultiRound, "m0", session_start_payload({"alice", "bob"}))));
    CHECK(next_id(cs) == "m0");

    auto as = open(alice);
    REQUIRE(subscribe(as, sid));  // passive subscribe replays from the start (STR-SUB-4)
    CHECK(next_id(as) == "m0");
    auto os = open(observer);
    REQUIRE(subscribe(os, sid));
    CHECK(next_id(os) == "m0");

    REQUIRE(send_frame(as, envelope("Contribute", sid, kMultiRound, "m1", contribute_json("x"))));
    REQUIRE(bob.send(envelope("Contribute", sid, kMultiRound, "m2", contribute_json("y"))).ok());
    for (auto* s : {&cs, &as, &os}) {
        CHECK(next_id(*s) == "m1");
        CHECK(next_id(*s) == "m2");
    }
    // Inline application error keeps the stream open (RFC-0001 §9).
    macp::v1::StreamSessionResponse frame;
    REQUIRE(send_frame(
        as, envelope("Commitment", sid, kMultiRound, "m3", commitment_payload("multi_round.converged", true))));
    CHECK(next_id(as, &frame).empty());
    CHECK(frame.error().code() == "FORBIDDEN");
    REQUIRE(send_frame(as, envelope("Contribute", sid, kMultiRound, "m4", contribute_json("y"))));
    CHECK(next_id(as) == "m4");
    CHECK(next_id(cs) == "m4");

    // A non-member cannot follow (inline FORBIDDEN, stream stays open); unknown session: NOT_FOUND.
    auto es = open(eve);
    REQUIRE(subscribe(es, sid));
    CHECK(next_id(es, &frame).empty());
    CHECK(frame.error().code() == "FORBIDDEN");
    REQUIRE(subscribe(es, new_session_id()));
    CHECK(next_id(es) == "<eof>");
    CHECK(es.stream->Finish().error_code() == grpc::StatusCode::NOT_FOUND);

    // Mixing sessions on one stream ends it (STR-SUB-1); both fields at once too (STR-SS-3).
    REQUIRE(send_frame(as, envelope("Contribute", new_session_id(), kMultiRound, "zz", contribute_json("y"))));
    CHECK(next_id(as) == "<eof>");
    CHECK(as.stream->Finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    auto bs = open(bob);
    macp::v1::StreamSessionRequest both;
    *both.mutable_envelope() = envelope("Contribute", sid, kMultiRound, "b", contribute_json("y"));
    both.set_subscribe_session_id(sid);
    REQUIRE(bs.stream->Write(both));
    CHECK(next_id(bs) == "<eof>");
    CHECK(bs.stream->Finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);

    for (auto* s : {&cs, &os}) {
        s->stream->WritesDone();
        while (next_id(*s) != "<eof>") {
        }
        CHECK(s->stream->Finish().ok());  // half-close ends the stream with OK (STR-SS-11)
    }
}

TEST_CASE("late joiners and resumed subscribers see every envelope exactly once, across a restart",
          "[integration][stream]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const auto sid = new_session_id();
    {
        ServerProcess server(env(), data);
        REQUIRE(server.start());
        Client coord(server.address(), "coord");
        Client alice(server.address(), "alice");
        REQUIRE(
            coord.send(envelope("SessionStart", sid, kMultiRound, "m0", session_start_payload({"alice", "bob"}))).ok());
        for (int i = 1; i <= 5; ++i) {
            REQUIRE(alice
                        .send(envelope("Contribute", sid, kMultiRound, "m" + std::to_string(i),
                                       contribute_json(std::to_string(i))))
                        .ok());
        }
        server.kill9();
    }
    ServerProcess server(env(), data);
    REQUIRE(server.start());
    Client alice(server.address(), "alice");
    auto late = open(alice);
    REQUIRE(subscribe(late, sid, 0));
    for (int i = 0; i <= 5; ++i) CHECK(next_id(late) == "m" + std::to_string(i));
    // Resume after the 3rd envelope (sequence 3 = m2): m3.. only, then live, no gap, no duplicate.
    auto resumed = open(alice);
    REQUIRE(subscribe(resumed, sid, 3));
    CHECK(next_id(resumed) == "m3");
    CHECK(next_id(resumed) == "m4");
    CHECK(next_id(resumed) == "m5");
    REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "m6", contribute_json("six"))).ok());
    CHECK(next_id(resumed) == "m6");
    CHECK(next_id(late) == "m6");
}

TEST_CASE("a subscriber that stops reading is cut off; the session and other subscribers continue",
          "[integration][stream]") {
    TempDir dir;
    ServerProcess server(env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    Client alice(server.address(), "alice");
    const auto sid = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", sid, kMultiRound, "m0", session_start_payload({"alice", "bob"}))).ok());
    auto slow = open(alice);
    REQUIRE(subscribe(slow, sid));
    REQUIRE(next_id(slow) == "m0");  // bound; from now on it never reads
    auto fast = open(alice);
    REQUIRE(subscribe(fast, sid));
    std::atomic<int> fast_seen{0};
    std::thread reader([&] {
        while (next_id(fast) != "<eof>" && fast_seen < 100000) ++fast_seen;
    });
    const std::string big(32 * 1024, 'v');
    int sent = 0;
    for (int i = 1; i <= 3000; ++i) {  // bounded: ~96 MiB at most, far beyond any flow-control window
        auto ack = alice.send(envelope("Contribute", sid, kMultiRound, "m" + std::to_string(i),
                                       contribute_json(big + std::to_string(i))));
        REQUIRE(ack.ok());
        sent = i;
        if (i % 500 == 0 && fast_seen >= i) break;
    }
    // The slow stream ends with RESOURCE_EXHAUSTED once its buffer overflows (after what was in flight).
    int drained = 0;
    while (next_id(slow) != "<eof>" && drained < 100000) ++drained;
    auto st = slow.stream->Finish();
    CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(drained < sent);
    // The session and the other subscriber kept going.
    REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "last", contribute_json("z"))).ok());
    // m0 from the history, the `sent` contributions, and "last".
    for (int i = 0; i < 200 && fast_seen < sent + 2; ++i) std::this_thread::sleep_for(50ms);
    CHECK(fast_seen == sent + 2);
    fast.ctx->TryCancel();
    reader.join();
}

TEST_CASE("a cut-off subscriber resumes without loss; finished sessions replay; shutdown ends open streams",
          "[integration][stream]") {
    TempDir dir;
    auto e = env();
    e["MACP_SHUTDOWN_DRAIN_SECS"] = "10";
    ServerProcess server(e, dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    Client alice(server.address(), "alice");
    const auto sid = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", sid, kMultiRound, "m0", session_start_payload({"alice"}))).ok());
    REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "m1", contribute_json("v"))).ok());
    REQUIRE(
        coord.send(envelope("Commitment", sid, kMultiRound, "m2", commitment_payload("multi_round.converged", true)))
            .ok());
    // A resolved session's whole history is still served (STR-SUB-8; no compaction).
    auto s1 = open(alice);
    REQUIRE(subscribe(s1, sid, 0));
    CHECK(next_id(s1) == "m0");
    CHECK(next_id(s1) == "m1");
    CHECK(next_id(s1) == "m2");
    // Resuming from the last sequence seen (2) yields exactly what follows (m2 only).
    auto s2 = open(alice);
    REQUIRE(subscribe(s2, sid, 2));
    CHECK(next_id(s2) == "m2");
    // Open streams end promptly at shutdown with UNAVAILABLE instead of holding the drain.
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(server.stop(15) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 9s);
    CHECK(next_id(s1) == "<eof>");
    CHECK(s1.stream->Finish().error_code() == grpc::StatusCode::UNAVAILABLE);
}
