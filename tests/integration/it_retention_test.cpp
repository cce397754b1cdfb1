// Retention eviction (STO-RET-*, with our Q-25 fix) and concurrent duplicates (DEDUP-6), once per
// persistent backend (MACP_TEST_STORAGE_BACKEND, issue #10).
#include <thread>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;
using namespace std::chrono_literals;

TEST_CASE("finished sessions leave memory after retention but stay readable, and their ids stay taken",
          "[integration][retention]") {
    TempDir dir;
    ServerProcess server(
        {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_SESSION_RETENTION_SECS", "0"}, {"MACP_CLEANUP_INTERVAL_SECS", "1"}},
        dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    const auto done = new_session_id();
    const auto open = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", done, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    REQUIRE(coord.send(envelope("SessionStart", open, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    macp::v1::Ack ack;
    REQUIRE(coord.cancel(done, "finished", &ack).ok());
    REQUIRE(ack.session_state() == macp::v1::SESSION_STATE_CANCELLED);

    // Wait (bounded) until the sweeper has evicted it: ListSessions shows memory only (RPC-LS-1).
    bool evicted = false;
    for (int i = 0; i < 60 && !evicted; ++i) {
        std::this_thread::sleep_for(100ms);
        macp::v1::ListSessionsResponse list;
        REQUIRE(coord.list_sessions({}, &list).ok());
        evicted = true;
        for (const auto& s : list.sessions()) evicted = evicted && s.session_id() != done;
    }
    REQUIRE(evicted);
    // Still readable from storage; the OPEN session is not evicted (STO-RET-1).
    macp::v1::SessionMetadata md;
    REQUIRE(coord.get_session(done, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_CANCELLED);
    REQUIRE(coord.get_session(open, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    // The id cannot be reused for a new session, and cancel answers with the terminal state.
    auto again = coord.send(envelope("SessionStart", done, kMultiRound, "s2", session_start_payload({"alice"})));
    CHECK(again.error().code() == "SESSION_ALREADY_EXISTS");
    REQUIRE(coord.cancel(done, "again", &ack).ok());
    CHECK(ack.session_state() == macp::v1::SESSION_STATE_CANCELLED);
}

TEST_CASE("concurrent sends of one message id produce exactly one acceptance (DEDUP-6)", "[integration][dedup]") {
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000"}},
                         dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    const auto sid = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice", "bob"}))).ok());
    for (int round = 0; round < 5; ++round) {
        std::atomic<int> accepted{0};
        std::atomic<int> duplicates{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&] {
                Client alice(server.address(), "alice");
                auto ack = alice.send(envelope("Contribute", sid, kMultiRound, "same-" + std::to_string(round),
                                               contribute_json("v" + std::to_string(round))));
                if (ack.ok() && !ack.duplicate()) ++accepted;
                if (ack.ok() && ack.duplicate()) ++duplicates;
            });
        }
        for (auto& t : threads) t.join();
        CHECK(accepted == 1);
        CHECK(duplicates == 7);
    }
    macp::v1::SessionMetadata md;
    REQUIRE(coord.get_session(sid, &md).ok());
    for (const auto& a : md.participant_activity()) {
        if (a.participant_id() == "alice") CHECK(a.message_count() == 5);
    }
}

TEST_CASE("MACP_SESSION_DISK_RETENTION_SECS removes finished sessions from disk and frees their ids (STO-RET-4)",
          "[integration][retention]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"},
                          {"MACP_SESSION_RETENTION_SECS", "0"},
                          {"MACP_SESSION_DISK_RETENTION_SECS", "1"},
                          {"MACP_CLEANUP_INTERVAL_SECS", "1"}},
                         data);
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    const auto done = new_session_id();
    const auto open = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", done, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    REQUIRE(coord.send(envelope("SessionStart", open, kMultiRound, "s", session_start_payload({"alice"}))).ok());
    REQUIRE(coord.cancel(done, "finished", nullptr).ok());
    // On the file backend the session's directory is watched as well (the layout is file-only).
    const bool file_layout = storage_backend() == "file";
    const auto session_dir = data / "sessions" / done;
    if (file_layout) REQUIRE(std::filesystem::exists(session_dir));
    macp::v1::SessionMetadata md;
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {  // bounded: at most 10 s
        std::this_thread::sleep_for(100ms);
        gone = coord.get_session(done, &md).error_code() == grpc::StatusCode::NOT_FOUND &&
               (!file_layout || !std::filesystem::exists(session_dir));
    }
    REQUIRE(gone);
    REQUIRE(coord.get_session(open, &md).ok());  // open sessions are never collected
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    if (file_layout) CHECK(std::filesystem::exists(data / "sessions" / open));
    // The id is free again once its history is gone.
    CHECK(coord.send(envelope("SessionStart", done, kMultiRound, "s", session_start_payload({"alice"}))).ok());
}
