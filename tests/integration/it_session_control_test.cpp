// Session control and discovery RPCs over gRPC: Cancel/Suspend/Resume, ListSessions (with proto
// 0.1.6 pagination), Initialize, GetManifest, ListModes/ListExtModes/ListRoots, unimplemented RPCs
// and grpc.health.v1 (BEHAVIOR.md §1, §2.7, §2.8; DELTA-0.6).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>

#include <grpcpp/generic/generic_stub.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "harness.hpp"

using namespace macp::test;
using macp::v1::Ack;
using namespace std::chrono_literals;

namespace {

std::map<std::string, std::string> dev_env(std::map<std::string, std::string> extra = {}) {
    extra["MACP_ALLOW_INSECURE"] = "1";
    return extra;
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string start_payload(const std::vector<std::string>& participants, int64_t ttl_ms = 60'000,
                          int64_t max_suspend_ms = 0) {
    macp::v1::SessionStartPayload p;
    p.ParseFromString(session_start_payload(participants, ttl_ms));
    p.set_max_suspend_ms(max_suspend_ms);
    return p.SerializeAsString();
}

std::string start(Client& c, const std::vector<std::string>& participants, int64_t ttl_ms = 60'000,
                  int64_t max_suspend_ms = 0) {
    const auto sid = new_session_id();
    auto ack = c.send(
        envelope("SessionStart", sid, kMultiRound, "start", start_payload(participants, ttl_ms, max_suspend_ms)));
    INFO("SessionStart: " << ack.error().code() << " " << ack.error().message());
    REQUIRE(ack.ok());
    return sid;
}

// RPC-CANCEL-6: control acks have message_id "", duplicate=false, session_id = request id.
void check_control_ok(const grpc::Status& st, const Ack& ack, const std::string& sid, macp::v1::SessionState state) {
    INFO("status " << st.error_code() << " '" << st.error_message() << "', ack error " << ack.error().code() << " '"
                   << ack.error().message() << "'");
    REQUIRE(st.ok());
    CHECK(ack.ok());
    CHECK_FALSE(ack.has_error());
    CHECK_FALSE(ack.duplicate());
    CHECK(ack.message_id().empty());
    CHECK(ack.session_id() == sid);
    CHECK(ack.session_state() == state);
    CHECK(ack.accepted_at_unix_ms() > 0);
}

void check_control_error(const grpc::Status& st, const Ack& ack, const std::string& sid, const std::string& code,
                         const std::string& message) {
    INFO("status " << st.error_code() << " '" << st.error_message() << "'");
    REQUIRE(st.ok());
    CHECK_FALSE(ack.ok());
    CHECK_FALSE(ack.duplicate());
    CHECK(ack.message_id().empty());
    CHECK(ack.session_id() == sid);
    CHECK(ack.error().code() == code);
    CHECK(ack.error().message() == message);
    CHECK(ack.session_state() == macp::v1::SESSION_STATE_UNSPECIFIED);
}

void check_status(const grpc::Status& st, grpc::StatusCode code, const std::string& message) {
    CHECK(st.error_code() == code);
    CHECK(st.error_message() == message);
}

macp::v1::SessionMetadata get(Client& c, const std::string& sid) {
    macp::v1::SessionMetadata md;
    auto st = c.get_session(sid, &md);
    INFO("GetSession " << sid << ": " << st.error_message());
    REQUIRE(st.ok());
    return md;
}

macp::v1::SessionState listed_state(Client& c, const std::string& sid) {
    macp::v1::ListSessionsRequest req;
    macp::v1::ListSessionsResponse resp;
    REQUIRE(c.list_sessions(req, &resp).ok());
    for (const auto& m : resp.sessions()) {
        if (m.session_id() == sid) return m.state();
    }
    FAIL("session " << sid << " is not listed");
    return macp::v1::SESSION_STATE_UNSPECIFIED;
}

const std::string kCancelDenied = "FORBIDDEN: only the session initiator or policy-delegated roles can cancel";
const std::string kSuspendDenied = "FORBIDDEN: only the session initiator or policy-delegated roles can suspend";
const std::string kResumeDenied = "FORBIDDEN: only the session initiator or policy-delegated roles can resume";

}  // namespace

TEST_CASE("RPC-CANCEL-1..7, RPC-SUSP-1, RPC-RESUME-1, RPC-GEN-6: CancelSession", "[integration][control]") {
    TempDir dir;
    ServerProcess server(dev_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client alice(server.address(), "alice");
    Client bob(server.address(), "bob");
    const auto sid = start(coord, {"alice", "bob"});
    Ack ack;

    {
        INFO("RPC-CANCEL-1: unknown session → NOT_FOUND");
        const auto unknown = new_session_id();
        check_status(coord.cancel(unknown, "r", &ack), grpc::StatusCode::NOT_FOUND,
                     "Session '" + unknown + "' not found");
        check_status(coord.suspend(unknown, "r", &ack), grpc::StatusCode::NOT_FOUND,
                     "Session '" + unknown + "' not found");
        check_status(coord.resume(unknown, "r", &ack), grpc::StatusCode::NOT_FOUND,
                     "Session '" + unknown + "' not found");
        check_status(coord.cancel("", "r", &ack), grpc::StatusCode::NOT_FOUND, "Session '' not found");
    }
    {
        INFO("RPC-GEN-6: unauthenticated control RPCs");
        Client anon(server.address());
        check_status(anon.cancel(sid, "r", &ack), grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated");
        check_status(anon.suspend(sid, "r", &ack), grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated");
        check_status(anon.resume(sid, "r", &ack), grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated");
    }
    {
        INFO("RPC-CANCEL-2 / RPC-SUSP-1 / RPC-RESUME-1: a participant who is not the initiator is denied");
        check_status(alice.cancel(sid, "r", &ack), grpc::StatusCode::PERMISSION_DENIED, kCancelDenied);
        check_status(alice.suspend(sid, "r", &ack), grpc::StatusCode::PERMISSION_DENIED, kSuspendDenied);
        check_status(alice.resume(sid, "r", &ack), grpc::StatusCode::PERMISSION_DENIED, kResumeDenied);
        Client stranger(server.address(), "stranger");
        check_status(stranger.cancel(sid, "r", &ack), grpc::StatusCode::PERMISSION_DENIED, kCancelDenied);
        CHECK(get(coord, sid).state() == macp::v1::SESSION_STATE_OPEN);
    }
    {
        INFO("RPC-CANCEL-4/6: the initiator cancels; RPC-CANCEL-3: again is ok and idempotent");
        check_control_ok(coord.cancel(sid, "done", &ack), ack, sid, macp::v1::SESSION_STATE_CANCELLED);
        check_control_ok(coord.cancel(sid, "again", &ack), ack, sid, macp::v1::SESSION_STATE_CANCELLED);
        CHECK(get(coord, sid).state() == macp::v1::SESSION_STATE_CANCELLED);
        grpc::Status st;
        auto after = alice.send(envelope("Contribute", sid, kMultiRound, "m1", contribute_json("x")), &st);
        REQUIRE(st.ok());
        CHECK(after.error().code() == "SESSION_NOT_OPEN");
        CHECK(after.error().message() == "SessionNotOpen");
        // RPC-SUSP-2 / RPC-RESUME-2 on a terminal session.
        check_control_error(coord.suspend(sid, "r", &ack), ack, sid, "SESSION_NOT_OPEN", "SessionNotOpen");
        check_control_error(coord.resume(sid, "r", &ack), ack, sid, "SESSION_NOT_OPEN", "SessionNotOpen");
        // Denial is still checked on a terminal session.
        check_status(alice.cancel(sid, "r", &ack), grpc::StatusCode::PERMISSION_DENIED, kCancelDenied);
    }
    {
        INFO("RPC-CANCEL-3: cancelling a RESOLVED session returns ok with RESOLVED");
        const auto resolved = start(coord, {"alice", "bob"});
        REQUIRE(alice.send(envelope("Contribute", resolved, kMultiRound, "c1", contribute_json("v"))).ok());
        REQUIRE(bob.send(envelope("Contribute", resolved, kMultiRound, "c2", contribute_json("v"))).ok());
        auto commit = coord.send(
            envelope("Commitment", resolved, kMultiRound, "c3", commitment_payload("multi_round.converged", true)));
        INFO("commit: " << commit.error().code() << " " << commit.error().message());
        REQUIRE(commit.ok());
        REQUIRE(commit.session_state() == macp::v1::SESSION_STATE_RESOLVED);
        check_control_ok(coord.cancel(resolved, "late", &ack), ack, resolved, macp::v1::SESSION_STATE_RESOLVED);
        CHECK(get(coord, resolved).state() == macp::v1::SESSION_STATE_RESOLVED);
    }
    {
        INFO("RPC-CANCEL-4: a SUSPENDED session can be cancelled");
        const auto suspended = start(coord, {"alice"});
        check_control_ok(coord.suspend(suspended, "pause", &ack), ack, suspended, macp::v1::SESSION_STATE_SUSPENDED);
        check_control_ok(coord.cancel(suspended, "stop", &ack), ack, suspended, macp::v1::SESSION_STATE_CANCELLED);
    }
    {
        INFO("RPC-CANCEL-7: an overdue session is expired by the lookup first");
        const auto overdue = start(coord, {"alice"}, 300);
        std::this_thread::sleep_for(600ms);
        check_control_ok(coord.cancel(overdue, "late", &ack), ack, overdue, macp::v1::SESSION_STATE_EXPIRED);
        CHECK(get(coord, overdue).state() == macp::v1::SESSION_STATE_EXPIRED);
    }
}

TEST_CASE("RPC-SUSP-2/3, RPC-RESUME-2..5, LIFE-5, RPC-GET-5, TTL-2: SuspendSession and ResumeSession",
          "[integration][control]") {
    TempDir dir;
    ServerProcess server(dev_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client alice(server.address(), "alice");
    Ack ack;

    {
        INFO("suspend → SUSPENDED, again → SESSION_NOT_OPEN, Send → SESSION_NOT_OPEN, resume moves the deadline");
        const auto sid = start(coord, {"alice", "bob"});
        const auto before = get(coord, sid);
        REQUIRE(before.state() == macp::v1::SESSION_STATE_OPEN);

        const int64_t t_suspend_sent = now_ms();
        auto st = coord.suspend(sid, "pause", &ack);
        const int64_t t_suspend_done = now_ms();
        check_control_ok(st, ack, sid, macp::v1::SESSION_STATE_SUSPENDED);

        check_control_error(coord.suspend(sid, "again", &ack), ack, sid, "SESSION_NOT_OPEN", "SessionNotOpen");
        grpc::Status sst;
        auto blocked = alice.send(envelope("Contribute", sid, kMultiRound, "m1", contribute_json("x")), &sst);
        REQUIRE(sst.ok());
        CHECK_FALSE(blocked.ok());
        CHECK(blocked.error().code() == "SESSION_NOT_OPEN");
        CHECK(blocked.error().message() == "SessionNotOpen");
        auto commit = coord.send(
            envelope("Commitment", sid, kMultiRound, "m2", commitment_payload("multi_round.converged", true)));
        CHECK(commit.error().code() == "SESSION_NOT_OPEN");

        const auto during = get(coord, sid);
        CHECK(during.state() == macp::v1::SESSION_STATE_SUSPENDED);
        CHECK(during.expires_at_unix_ms() == before.expires_at_unix_ms());  // RPC-GET-5

        std::this_thread::sleep_for(700ms);
        const int64_t t_resume_sent = now_ms();
        st = coord.resume(sid, "go", &ack);
        const int64_t t_resume_done = now_ms();
        check_control_ok(st, ack, sid, macp::v1::SESSION_STATE_OPEN);

        const auto after = get(coord, sid);
        CHECK(after.state() == macp::v1::SESSION_STATE_OPEN);
        const int64_t moved = after.expires_at_unix_ms() - before.expires_at_unix_ms();
        INFO("deadline moved by " << moved << " ms");
        CHECK(moved >= t_resume_sent - t_suspend_done - 2);
        CHECK(moved <= t_resume_done - t_suspend_sent + 2);
        CHECK(moved >= 690);

        // RPC-RESUME-2: resuming an OPEN session.
        check_control_error(coord.resume(sid, "again", &ack), ack, sid, "SESSION_NOT_OPEN", "SessionNotOpen");
        // The rejected m1 can now be accepted (MSG-6).
        auto m1 = alice.send(envelope("Contribute", sid, kMultiRound, "m1", contribute_json("x")));
        CHECK(m1.ok());
        CHECK(m1.session_state() == macp::v1::SESSION_STATE_OPEN);
    }
    {
        INFO("TTL-2: a SUSPENDED session does not expire by its deadline; resume restores the remaining time");
        const auto sid = start(coord, {"alice"}, 800);
        check_control_ok(coord.suspend(sid, "pause", &ack), ack, sid, macp::v1::SESSION_STATE_SUSPENDED);
        std::this_thread::sleep_for(1200ms);
        CHECK(get(coord, sid).state() == macp::v1::SESSION_STATE_SUSPENDED);
        check_control_ok(coord.resume(sid, "go", &ack), ack, sid, macp::v1::SESSION_STATE_OPEN);
        auto m = alice.send(envelope("Contribute", sid, kMultiRound, "m1", contribute_json("x")));
        INFO(m.error().code() << " " << m.error().message());
        CHECK(m.ok());
        const auto md = get(coord, sid);
        CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
        CHECK(md.expires_at_unix_ms() > now_ms());
    }
    {
        INFO("SS-17 / RPC-RESUME-4: max_suspend_ms=200 exceeded → resume fails with TtlExpired, session EXPIRED");
        const auto sid = start(coord, {"alice"}, 60'000, 200);
        check_control_ok(coord.suspend(sid, "pause", &ack), ack, sid, macp::v1::SESSION_STATE_SUSPENDED);
        std::this_thread::sleep_for(500ms);
        check_control_error(coord.resume(sid, "go", &ack), ack, sid, "SESSION_NOT_OPEN", "TtlExpired");
        CHECK(get(coord, sid).state() == macp::v1::SESSION_STATE_EXPIRED);
        // After that it is an ordinary terminal session.
        check_control_error(coord.resume(sid, "go", &ack), ack, sid, "SESSION_NOT_OPEN", "SessionNotOpen");
        check_control_ok(coord.cancel(sid, "x", &ack), ack, sid, macp::v1::SESSION_STATE_EXPIRED);
    }
    {
        INFO("SS-17: a suspension within max_suspend_ms resumes fine");
        const auto sid = start(coord, {"alice"}, 60'000, 5'000);
        check_control_ok(coord.suspend(sid, "pause", &ack), ack, sid, macp::v1::SESSION_STATE_SUSPENDED);
        std::this_thread::sleep_for(200ms);
        check_control_ok(coord.resume(sid, "go", &ack), ack, sid, macp::v1::SESSION_STATE_OPEN);
    }
}

TEST_CASE("TTL-2 (our difference to Q-5): the background sweeper expires suspended sessions past their cap",
          "[integration][control]") {
    TempDir dir;
    ServerProcess server(dev_env({{"MACP_CLEANUP_INTERVAL_SECS", "1"}}), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Ack ack;
    const auto capped = start(coord, {"alice"}, 60'000, 200);
    const auto uncapped = start(coord, {"alice"}, 60'000);
    check_control_ok(coord.suspend(capped, "pause", &ack), ack, capped, macp::v1::SESSION_STATE_SUSPENDED);
    check_control_ok(coord.suspend(uncapped, "pause", &ack), ack, uncapped, macp::v1::SESSION_STATE_SUSPENDED);
    std::this_thread::sleep_for(2500ms);
    // ListSessions applies no lazy expiry (RPC-LS-1): EXPIRED here comes from the sweeper.
    CHECK(listed_state(coord, capped) == macp::v1::SESSION_STATE_EXPIRED);
    CHECK(listed_state(coord, uncapped) == macp::v1::SESSION_STATE_SUSPENDED);
}

TEST_CASE("RPC-LS-1, RPC-GEN-4, proto 0.1.6 pagination: ListSessions", "[integration][control][list]") {
    TempDir dir;
    ServerProcess server(dev_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client other(server.address(), "other-initiator");
    Client stranger(server.address(), "stranger");
    std::set<std::string> created;
    for (int i = 0; i < 3; ++i) created.insert(start(coord, {"alice"}));
    created.insert(start(other, {"bob"}));
    const auto cancelled = start(coord, {"alice"});
    created.insert(cancelled);
    Ack ack;
    REQUIRE(coord.cancel(cancelled, "terminal sessions are listed too", &ack).ok());

    {
        INFO("page_size 0 returns everything, unfiltered by caller");
        macp::v1::ListSessionsRequest req;
        macp::v1::ListSessionsResponse resp;
        REQUIRE(stranger.list_sessions(req, &resp).ok());
        std::set<std::string> seen;
        for (const auto& m : resp.sessions()) seen.insert(m.session_id());
        CHECK(seen == created);
        CHECK(resp.sessions_size() == 5);
        CHECK(resp.next_page_token().empty());
        bool found_cancelled = false;
        for (const auto& m : resp.sessions()) {
            if (m.session_id() == cancelled) found_cancelled = m.state() == macp::v1::SESSION_STATE_CANCELLED;
            CHECK(m.mode() == kMultiRound);
        }
        CHECK(found_cancelled);
    }
    {
        INFO("page_size 2 over 5 sessions → pages of 2, 2, 1");
        std::vector<std::string> seen;
        std::vector<int> sizes;
        std::vector<bool> has_token;
        macp::v1::ListSessionsRequest req;
        req.set_page_size(2);
        for (int page = 0; page < 10; ++page) {
            macp::v1::ListSessionsResponse resp;
            auto st = coord.list_sessions(req, &resp);
            INFO("page " << page << ": " << st.error_message());
            REQUIRE(st.ok());
            sizes.push_back(resp.sessions_size());
            has_token.push_back(!resp.next_page_token().empty());
            for (const auto& m : resp.sessions()) seen.push_back(m.session_id());
            if (resp.next_page_token().empty()) break;
            req.set_page_token(resp.next_page_token());
        }
        CHECK(sizes == std::vector<int>{2, 2, 1});
        CHECK(has_token == std::vector<bool>{true, true, false});
        CHECK(seen.size() == 5);
        CHECK(std::set<std::string>(seen.begin(), seen.end()) == created);
    }
    {
        INFO("page_size larger than the total");
        macp::v1::ListSessionsRequest req;
        req.set_page_size(50);
        macp::v1::ListSessionsResponse resp;
        REQUIRE(coord.list_sessions(req, &resp).ok());
        CHECK(resp.sessions_size() == 5);
        CHECK(resp.next_page_token().empty());
    }
    {
        INFO("a malformed page_token → INVALID_ARGUMENT");
        macp::v1::ListSessionsRequest req;
        req.set_page_size(2);
        req.set_page_token("this is not a token!");
        macp::v1::ListSessionsResponse resp;
        CHECK(coord.list_sessions(req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
    {
        INFO("RPC-GEN-4: ListSessions requires authentication");
        Client anon(server.address());
        macp::v1::ListSessionsRequest req;
        macp::v1::ListSessionsResponse resp;
        check_status(anon.list_sessions(req, &resp), grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated");
    }
}

TEST_CASE("RPC-INIT-1..6, RPC-MAN-1/2, RPC-LM-1, RPC-LEM-1, RPC-LR-1, RPC-GEN-2/3: discovery without credentials",
          "[integration][discovery]") {
    TempDir dir;
    ServerProcess server(dev_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client anon(server.address());  // RPC-GEN-3: none of these need credentials
    auto& stub = anon.stub();
    const std::vector<std::string> expected_modes{"ext.multi_round.v1",   "macp.mode.decision.v1",
                                                  "macp.mode.handoff.v1", "macp.mode.proposal.v1",
                                                  "macp.mode.quorum.v1",  "macp.mode.task.v1"};
    std::vector<std::string> init_modes;

    {
        INFO("RPC-INIT-1: empty supported_protocol_versions");
        macp::v1::InitializeRequest req;
        macp::v1::InitializeResponse resp;
        auto ctx = anon.context();
        check_status(stub.Initialize(ctx.get(), req, &resp), grpc::StatusCode::INVALID_ARGUMENT,
                     "INVALID_REQUEST: supported_protocol_versions must not be empty");
    }
    {
        INFO("RPC-INIT-2: no mutually supported version");
        macp::v1::InitializeRequest req;
        req.add_supported_protocol_versions("2.0");
        req.add_supported_protocol_versions("1.0.0");
        macp::v1::InitializeResponse resp;
        auto ctx = anon.context();
        check_status(stub.Initialize(ctx.get(), req, &resp), grpc::StatusCode::FAILED_PRECONDITION,
                     "UNSUPPORTED_PROTOCOL_VERSION: no mutually supported protocol version");
    }
    {
        INFO("RPC-INIT-3..6: success");
        macp::v1::InitializeRequest req;
        req.add_supported_protocol_versions("2.0");
        req.add_supported_protocol_versions("1.0");
        macp::v1::InitializeResponse resp;
        auto ctx = anon.context();
        REQUIRE(stub.Initialize(ctx.get(), req, &resp).ok());
        CHECK(resp.selected_protocol_version() == "1.0");
        CHECK(resp.runtime_info().name() == "macp-runtime");
        CHECK_FALSE(resp.runtime_info().version().empty());
        const auto& caps = resp.capabilities();  // RPC-INIT-5 as of 0.6
        CHECK(caps.sessions().stream());
        CHECK(caps.sessions().list_sessions());
        CHECK(caps.sessions().watch_sessions());
        CHECK(caps.cancellation().cancel_session());
        CHECK(caps.progress().progress());
        CHECK(caps.manifest().get_manifest());
        CHECK(caps.mode_registry().list_modes());
        CHECK(caps.mode_registry().list_changed());
        CHECK(caps.roots().list_roots());
        CHECK_FALSE(caps.roots().list_changed());
        CHECK(caps.policy_registry().register_policy());
        CHECK(caps.policy_registry().list_policies());
        CHECK(caps.policy_registry().list_changed());
        REQUIRE(caps.experimental().features().count("ext_mode_lifecycle") == 1);
        CHECK(caps.experimental().features().at("ext_mode_lifecycle") == "true");
        init_modes.assign(resp.supported_modes().begin(), resp.supported_modes().end());
        CHECK(std::is_sorted(init_modes.begin(), init_modes.end()));
        for (const auto& m : expected_modes) {
            INFO("mode " << m);
            CHECK(std::count(init_modes.begin(), init_modes.end(), m) == 1);
        }
    }
    {
        INFO("RPC-MAN-1/2: GetManifest");
        for (const char* agent : {"", "macp-runtime"}) {
            INFO("agent_id '" << agent << "'");
            macp::v1::GetManifestRequest req;
            req.set_agent_id(agent);
            macp::v1::GetManifestResponse resp;
            auto ctx = anon.context();
            REQUIRE(stub.GetManifest(ctx.get(), req, &resp).ok());
            const auto& m = resp.manifest();
            CHECK(m.agent_id() == "macp-runtime");
            CHECK(std::vector<std::string>(m.supported_modes().begin(), m.supported_modes().end()) == init_modes);
            CHECK(std::vector<std::string>(m.input_content_types().begin(), m.input_content_types().end()) ==
                  std::vector<std::string>{"application/macp-envelope+proto"});
            CHECK(std::vector<std::string>(m.output_content_types().begin(), m.output_content_types().end()) ==
                  std::vector<std::string>{"application/macp-envelope+proto"});
            CHECK(m.metadata().empty());
            CHECK(m.transport_endpoints().empty());
        }
        macp::v1::GetManifestRequest req;
        req.set_agent_id("someone-else");
        macp::v1::GetManifestResponse resp;
        auto ctx = anon.context();
        check_status(stub.GetManifest(ctx.get(), req, &resp), grpc::StatusCode::NOT_FOUND,
                     "Agent 'someone-else' not found");
    }
    {
        INFO("RPC-LM-1: ListModes, standards-track in fixed order");
        macp::v1::ListModesRequest req;
        macp::v1::ListModesResponse resp;
        auto ctx = anon.context();
        REQUIRE(stub.ListModes(ctx.get(), req, &resp).ok());
        std::vector<std::string> names;
        for (const auto& d : resp.modes()) {
            names.push_back(d.mode());
            CHECK(d.mode_version() == "1.0.0");
        }
        CHECK(names == std::vector<std::string>{"macp.mode.decision.v1", "macp.mode.proposal.v1", "macp.mode.task.v1",
                                                "macp.mode.handoff.v1", "macp.mode.quorum.v1"});
    }
    {
        INFO("RPC-LEM-1: ListExtModes");
        macp::v1::ListExtModesRequest req;
        macp::v1::ListExtModesResponse resp;
        auto ctx = anon.context();
        REQUIRE(stub.ListExtModes(ctx.get(), req, &resp).ok());
        REQUIRE(resp.modes_size() == 1);
        CHECK(resp.modes(0).mode() == kMultiRound);
        CHECK(resp.modes(0).mode_version() == "1.0.0");
    }
    {
        INFO("RPC-LR-1: ListRoots is empty");
        macp::v1::ListRootsRequest req;
        macp::v1::ListRootsResponse resp;
        auto ctx = anon.context();
        REQUIRE(stub.ListRoots(ctx.get(), req, &resp).ok());
        CHECK(resp.roots().empty());
    }
    {
        // All 24 RPCs are implemented (RPC-GEN-1); an unknown method is UNIMPLEMENTED.
        INFO("a method the service does not have answers UNIMPLEMENTED");
        // A method the service does not have at all is UNIMPLEMENTED too, and the server stays up.
        grpc::GenericStub generic(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
        grpc::ClientContext gctx;
        gctx.set_deadline(std::chrono::system_clock::now() + 10s);
        grpc::Slice empty("");
        grpc::ByteBuffer request(&empty, 1);
        grpc::ByteBuffer response;
        std::promise<grpc::Status> done;
        generic.UnaryCall(&gctx, "/macp.v1.MACPRuntimeService/NoSuchMethod", grpc::StubOptions(), &request, &response,
                          [&done](const grpc::Status& st) { done.set_value(st); });
        CHECK(done.get_future().get().error_code() == grpc::StatusCode::UNIMPLEMENTED);
        macp::v1::ListRootsRequest lr;
        macp::v1::ListRootsResponse lr_resp;
        auto lctx = anon.context();
        CHECK(stub.ListRoots(lctx.get(), lr, &lr_resp).ok());
    }
    {
        INFO("RPC-GEN-2: grpc.health.v1.Health");
        auto health = grpc::health::v1::Health::NewStub(
            grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
        for (const char* service : {"", "macp.v1.MACPRuntimeService"}) {
            INFO("service '" << service << "'");
            grpc::health::v1::HealthCheckRequest req;
            req.set_service(service);
            grpc::health::v1::HealthCheckResponse resp;
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + 10s);
            REQUIRE(health->Check(&ctx, req, &resp).ok());
            CHECK(resp.status() == grpc::health::v1::HealthCheckResponse::SERVING);
        }
        grpc::health::v1::HealthCheckRequest req;
        req.set_service("no.such.Service");
        grpc::health::v1::HealthCheckResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 10s);
        CHECK(health->Check(&ctx, req, &resp).error_code() == grpc::StatusCode::NOT_FOUND);
    }
}

TEST_CASE("Issue #15: an error never echoes a huge client input into its status trailer", "[integration][control]") {
    TempDir dir;
    ServerProcess server(dev_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    // 1,000,000 bytes fits the request limit; echoed whole it would exceed every client's metadata
    // limit and arrive as a transport error instead of NOT_FOUND.
    const std::string huge(1'000'000, 's');
    const std::string expected = "Session '" + std::string(128, 's') + "... (1000000 bytes)' not found";
    macp::v1::SessionMetadata md;
    check_status(coord.get_session(huge, &md), grpc::StatusCode::NOT_FOUND, expected);
    Ack ack;
    check_status(coord.cancel(huge, "r", &ack), grpc::StatusCode::NOT_FOUND, expected);
    // The server is unharmed: a normal call still works.
    const auto sid = start(coord, {"alice"});
    CHECK(get(coord, sid).session_id() == sid);
}

TEST_CASE("Issue #15, RPC-LS-1: an unpaged ListSessions never fails for size; it pages at the send limit",
          "[integration][control][list]") {
    TempDir dir;
    // A 1 KiB payload limit makes the send limit 65 KiB: a few hundred sessions fill one answer.
    ServerProcess server(dev_env({{"MACP_MEMORY_ONLY", "1"},
                                  {"MACP_MAX_PAYLOAD_BYTES", "1024"},
                                  {"MACP_SESSION_START_LIMIT_PER_MINUTE", "100000"}}),
                         dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    std::set<std::string> created;
    for (int i = 0; i < 1200; ++i) created.insert(start(coord, {"alice", "bob"}));

    std::set<std::string> seen;
    std::string token;
    int pages = 0;
    for (; pages < 100; ++pages) {          // bounded: 1,200 sessions need a handful of pages
        macp::v1::ListSessionsRequest req;  // page_size 0: "everything", as far as one answer carries
        req.set_page_token(token);
        macp::v1::ListSessionsResponse resp;
        auto st = coord.list_sessions(req, &resp);
        INFO("page " << pages << ": " << st.error_message());
        REQUIRE(st.ok());
        REQUIRE(resp.sessions_size() > 0);
        CHECK(resp.ByteSizeLong() <= 1024 + 64 * 1024);
        for (const auto& m : resp.sessions()) CHECK(seen.insert(m.session_id()).second);  // no repeats
        token = resp.next_page_token();
        if (token.empty()) break;
    }
    CHECK(pages >= 1);  // more than one answer was needed
    CHECK(seen == created);
}
