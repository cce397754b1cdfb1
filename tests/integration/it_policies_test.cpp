// Governance policies over gRPC (BEHAVIOR.md §5, RPC-REGP/UNREGP/GETP/LISTP rows, RPC-GEN-5;
// DELTA-0.6 CFG-21, CFG-25, RPC-POLRO-1, POL-REG-12): the registry RPCs and their privilege rules,
// persistence across a crash (our deliberate improvement over POL-REG-1), MACP_POLICIES_DIR, and
// for every standard mode one commitment a registered policy allows and one it denies with
// POLICY_DENIED and {"reasons":[...]} in error.details.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "harness.hpp"
#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/modes/handoff/v1/handoff.pb.h"
#include "macp/modes/proposal/v1/proposal.pb.h"
#include "macp/modes/quorum/v1/quorum.pb.h"
#include "macp/modes/task/v1/task.pb.h"

using namespace macp::test;
namespace fs = std::filesystem;

namespace {

const char* kDecision = "macp.mode.decision.v1";
const char* kProposal = "macp.mode.proposal.v1";
const char* kTask = "macp.mode.task.v1";
const char* kHandoff = "macp.mode.handoff.v1";
const char* kQuorum = "macp.mode.quorum.v1";
const char* kReadOnly = "policy registry is read-only: policies are file-loaded via MACP_POLICIES_DIR";

macp::v1::PolicyDescriptor descriptor(const std::string& id, const std::string& mode, const std::string& rules,
                                      uint32_t schema_version = 1) {
    macp::v1::PolicyDescriptor d;
    d.set_policy_id(id);
    d.set_mode(mode);
    d.set_description("integration test policy " + id);
    d.set_rules(rules);
    d.set_schema_version(schema_version);
    d.set_registered_at_unix_ms(42);  // RPC-REGP-2: ignored
    return d;
}

macp::v1::RegisterPolicyResponse register_policy(Client& c, const macp::v1::PolicyDescriptor& d,
                                                 grpc::Status* st = nullptr) {
    macp::v1::RegisterPolicyRequest req;
    *req.mutable_policy_descriptor() = d;
    macp::v1::RegisterPolicyResponse resp;
    auto ctx = c.context();
    auto s = c.stub().RegisterPolicy(ctx.get(), req, &resp);
    if (st != nullptr) {
        *st = s;
    } else {
        INFO("RegisterPolicy " << d.policy_id() << ": " << s.error_message());
        REQUIRE(s.ok());
    }
    return resp;
}

void register_ok(Client& c, const macp::v1::PolicyDescriptor& d) {
    auto r = register_policy(c, d);
    INFO("RegisterPolicy " << d.policy_id() << ": " << r.error());
    REQUIRE(r.ok());
    CHECK(r.error().empty());
}

macp::v1::UnregisterPolicyResponse unregister_policy(Client& c, const std::string& id, grpc::Status* st = nullptr) {
    macp::v1::UnregisterPolicyRequest req;
    req.set_policy_id(id);
    macp::v1::UnregisterPolicyResponse resp;
    auto ctx = c.context();
    auto s = c.stub().UnregisterPolicy(ctx.get(), req, &resp);
    if (st != nullptr) {
        *st = s;
    } else {
        INFO("UnregisterPolicy " << id << ": " << s.error_message());
        REQUIRE(s.ok());
    }
    return resp;
}

grpc::Status get_policy(Client& c, const std::string& id, macp::v1::PolicyDescriptor* out) {
    macp::v1::GetPolicyRequest req;
    req.set_policy_id(id);
    macp::v1::GetPolicyResponse resp;
    auto ctx = c.context();
    auto s = c.stub().GetPolicy(ctx.get(), req, &resp);
    if (s.ok() && out != nullptr) *out = resp.policy_descriptor();
    return s;
}

std::vector<std::string> list_ids(Client& c, const std::string& mode = {}) {
    macp::v1::ListPoliciesRequest req;
    req.set_mode(mode);
    macp::v1::ListPoliciesResponse resp;
    auto ctx = c.context();
    auto s = c.stub().ListPolicies(ctx.get(), req, &resp);
    INFO("ListPolicies: " << s.error_message());
    REQUIRE(s.ok());
    std::vector<std::string> out;
    for (const auto& d : resp.descriptors()) out.push_back(d.policy_id());
    return out;
}

// RPC-SEND-5: error.details of a POLICY_DENIED ack is {"reasons":[...]}.
std::vector<std::string> denial_reasons(const macp::v1::Ack& ack) {
    REQUIRE_FALSE(ack.ok());
    REQUIRE(ack.error().code() == "POLICY_DENIED");
    rapidjson::Document d;
    d.Parse(ack.error().details().data(), ack.error().details().size());
    INFO("details: " << ack.error().details());
    REQUIRE_FALSE(d.HasParseError());
    REQUIRE(d.IsObject());
    REQUIRE(d.MemberCount() == 1);
    REQUIRE(d.HasMember("reasons"));
    REQUIRE(d["reasons"].IsArray());
    std::vector<std::string> out;
    for (const auto& r : d["reasons"].GetArray()) {
        REQUIRE(r.IsString());
        out.emplace_back(r.GetString(), r.GetStringLength());
    }
    return out;
}

void expect_ok(const macp::v1::Ack& ack, const std::string& what) {
    INFO(what << ": " << ack.error().code() << " " << ack.error().details());
    REQUIRE(ack.ok());
}

macp::v1::SessionState state_of(Client& c, const std::string& sid) {
    macp::v1::SessionMetadata md;
    auto st = c.get_session(sid, &md);
    INFO("GetSession: " << st.error_message());
    REQUIRE(st.ok());
    return md.state();
}

std::string start(const std::vector<std::string>& participants, const std::string& policy) {
    return session_start_payload(participants, 60'000, "1.0.0", "cfg-1", policy);
}

std::string commit(const std::string& action, bool positive) {
    return commitment_payload(action, positive, "1.0.0", "cfg-1", "");  // empty matches the bound policy
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

std::string file_policy(const std::string& id, const std::string& mode, const std::string& rules) {
    return R"({"policy_id":")" + id + R"(","mode":")" + mode + R"(","description":"file policy","rules":)" + rules +
           R"(,"schema_version":1})";
}

}  // namespace

TEST_CASE("policy registry RPCs, restart persistence and MACP_POLICIES_DIR", "[integration][policy]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    macp::v1::PolicyDescriptor before;
    {
        ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, data);
        REQUIRE(server.start());
        Client admin(server.address(), "admin");

        // RPC-LISTP-1 / POL-REG-2: only the built-in default at first.
        CHECK(list_ids(admin) == std::vector<std::string>{"policy.default"});

        register_ok(admin, descriptor("policy.b.task", kTask, R"({"completion":{"require_output":true}})"));
        register_ok(admin,
                    descriptor("policy.a.any", "*", R"({ "voting" : {"threshold":0.6, "algorithm":"majority"}})", 2));
        register_ok(admin, descriptor("policy.c.decision", kDecision, ""));
        register_ok(admin, descriptor("policy.d.temp", kQuorum, "{}"));

        // RPC-LISTP-1: sorted by id; a mode filter keeps matching and "*" policies.
        CHECK(list_ids(admin) == std::vector<std::string>{"policy.a.any", "policy.b.task", "policy.c.decision",
                                                          "policy.d.temp", "policy.default"});
        CHECK(list_ids(admin, kTask) == std::vector<std::string>{"policy.a.any", "policy.b.task", "policy.default"});
        CHECK(list_ids(admin, kDecision) ==
              std::vector<std::string>{"policy.a.any", "policy.c.decision", "policy.default"});
        CHECK(list_ids(admin, "ext.none.v1") == std::vector<std::string>{"policy.a.any", "policy.default"});

        // RPC-GETP-1, RPC-POLDESC-1: rules compact with sorted keys, registration time set by the runtime.
        REQUIRE(get_policy(admin, "policy.a.any", &before).ok());
        CHECK(before.mode() == "*");
        CHECK(before.rules() == R"({"voting":{"algorithm":"majority","threshold":0.6}})");
        CHECK(before.schema_version() == 2);
        CHECK(before.description() == "integration test policy policy.a.any");
        CHECK(before.registered_at_unix_ms() > 42);
        macp::v1::PolicyDescriptor d;
        REQUIRE(get_policy(admin, "policy.c.decision", &d).ok());
        CHECK(d.rules() == "{}");  // RPC-REGP-2: empty rules are {}
        auto st = get_policy(admin, "policy.nope", nullptr);
        CHECK(st.error_code() == grpc::StatusCode::NOT_FOUND);
        CHECK(st.error_message() == "Policy 'policy.nope' not found");

        // POL-REG-3..8 over the wire: {ok:false, error} with INVALID_POLICY_DEFINITION in the text.
        auto r = register_policy(admin, descriptor("policy.bad", kQuorum, R"({"threshold":{"value":"2"}})"));
        CHECK_FALSE(r.ok());
        CHECK(r.error() ==
              "INVALID_POLICY_DEFINITION: rules do not match schema for mode 'macp.mode.quorum.v1': invalid type: "
              "string \"2\", expected f64");
        r = register_policy(admin, descriptor("policy.default", "*", "{}"));
        CHECK(r.error() == "INVALID_POLICY_DEFINITION: cannot register with reserved policy_id 'policy.default'");
        r = register_policy(admin, descriptor("policy.bad", kDecision, R"({"voting":{"algorithm":"supermajority"}})"));
        CHECK(r.error() ==
              "INVALID_POLICY_DEFINITION: voting.algorithm 'supermajority' requires voting.threshold > 0.5");
        r = register_policy(admin, descriptor("policy.bad", "*", "{}", 0));
        CHECK(r.error() == "INVALID_POLICY_DEFINITION: schema_version must be > 0");
        // POL-REG-11: a duplicate is a conflict, not a bad definition: no prefix.
        r = register_policy(admin, descriptor("policy.b.task", kTask, "{}"));
        CHECK_FALSE(r.ok());
        CHECK(r.error() == "policy 'policy.b.task' is already registered");
        // RPC-REGP-1: a missing descriptor is a status.
        {
            macp::v1::RegisterPolicyRequest empty;
            macp::v1::RegisterPolicyResponse resp;
            auto ctx = admin.context();
            auto s = admin.stub().RegisterPolicy(ctx.get(), empty, &resp);
            CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
            CHECK(s.error_message() == "descriptor required");
        }

        // RPC-UNREGP-1.
        auto u = unregister_policy(admin, "policy.default");
        CHECK_FALSE(u.ok());
        CHECK(u.error() == "cannot unregister the built-in default policy");
        u = unregister_policy(admin, "policy.nope");
        CHECK_FALSE(u.ok());
        CHECK(u.error() == "policy 'policy.nope' not found");
        u = unregister_policy(admin, "policy.d.temp");
        CHECK(u.ok());
        CHECK(u.error().empty());
        CHECK(get_policy(admin, "policy.d.temp", nullptr).error_code() == grpc::StatusCode::NOT_FOUND);
        server.kill9();
    }
    {
        // Registered policies survive a crash (STO-REC-9 improvement), unchanged; the unregistered one stays gone.
        ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, data);
        REQUIRE(server.start());
        Client admin(server.address(), "admin");
        macp::v1::PolicyDescriptor after;
        REQUIRE(get_policy(admin, "policy.a.any", &after).ok());
        CHECK(after.SerializeAsString() == before.SerializeAsString());
        CHECK(list_ids(admin) ==
              std::vector<std::string>{"policy.a.any", "policy.b.task", "policy.c.decision", "policy.default"});
        server.kill9();
    }
    const auto policies = dir.path() / "policies";
    fs::create_directory(policies);
    write_file(policies / "20-task.json",
               file_policy("policy.file.task", kTask, R"({"completion":{"require_output":true}})"));
    write_file(policies / "10-any.json", file_policy("policy.file.any", "*", R"({"voting":{"algorithm":"none"}})"));
    write_file(policies / "notes.txt", "ignored");
    {
        // CFG-21 / POL-REG-12: the directory is the only source of policies; RPC-POLRO-1: read-only.
        ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_POLICIES_DIR", policies.string()}}, data);
        REQUIRE(server.start());
        CHECK(server.log().find("loaded 2 governance policies from " + policies.string()) != std::string::npos);
        Client admin(server.address(), "admin");
        CHECK(list_ids(admin) == std::vector<std::string>{"policy.default", "policy.file.any", "policy.file.task"});
        CHECK(list_ids(admin, kTask) ==
              std::vector<std::string>{"policy.default", "policy.file.any", "policy.file.task"});
        macp::v1::PolicyDescriptor d;
        REQUIRE(get_policy(admin, "policy.file.task", &d).ok());
        CHECK(d.rules() == R"({"completion":{"require_output":true}})");
        CHECK(d.description() == "file policy");
        CHECK(get_policy(admin, "policy.a.any", nullptr).error_code() == grpc::StatusCode::NOT_FOUND);

        grpc::Status st;
        register_policy(admin, descriptor("policy.new", kTask, "{}"), &st);
        CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
        CHECK(st.error_message() == kReadOnly);
        unregister_policy(admin, "policy.file.task", &st);
        CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
        CHECK(st.error_message() == kReadOnly);
        // Before authentication: even a caller without credentials gets the read-only status.
        Client nobody(server.address(), "");
        register_policy(nobody, descriptor("policy.new", kTask, "{}"), &st);
        CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
        unregister_policy(nobody, "policy.file.task", &st);
        CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);

        // A file-loaded policy binds and is enforced like any other.
        const auto sid = new_session_id();
        expect_ok(admin.send(envelope("SessionStart", sid, kTask, "s", start({"admin", "worker"}, "policy.file.task"))),
                  "SessionStart");
        macp::modes::task::v1::TaskRequestPayload req;
        req.set_task_id("t1");
        req.set_title("work");
        req.set_requested_assignee("worker");
        expect_ok(admin.send(envelope("TaskRequest", sid, kTask, "m1", req.SerializeAsString())), "TaskRequest");
        Client worker(server.address(), "worker");
        macp::modes::task::v1::TaskAcceptPayload acc;
        acc.set_task_id("t1");
        expect_ok(worker.send(envelope("TaskAccept", sid, kTask, "m2", acc.SerializeAsString())), "TaskAccept");
        macp::modes::task::v1::TaskCompletePayload done;
        done.set_task_id("t1");
        done.set_summary("no output");
        expect_ok(worker.send(envelope("TaskComplete", sid, kTask, "m3", done.SerializeAsString())), "TaskComplete");
        auto ack = admin.send(envelope("Commitment", sid, kTask, "c1", commit("task.completed", true)));
        CHECK(denial_reasons(ack) == std::vector<std::string>{"policy requires task output before commitment"});
        server.stop(15);
    }
    {
        // Without the directory the registry is writable again and the gRPC registrations are back.
        ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, data);
        REQUIRE(server.start());
        Client admin(server.address(), "admin");
        CHECK(list_ids(admin) ==
              std::vector<std::string>{"policy.a.any", "policy.b.task", "policy.c.decision", "policy.default"});
        CHECK(unregister_policy(admin, "policy.b.task").ok());
        server.stop(15);
    }
}

TEST_CASE("CFG-25: a bad MACP_POLICIES_DIR stops start-up, naming the file", "[integration][policy]") {
    TempDir dir;
    const auto policies = dir.path() / "policies";
    fs::create_directory(policies);
    write_file(policies / "a-good.json", file_policy("policy.good", kTask, "{}"));
    write_file(policies / "b-bad.json",
               file_policy("policy.bad", kDecision, R"({"voting":{"algorithm":"weighted","weights":{}}})"));
    std::map<std::string, std::string> env{{"MACP_ALLOW_INSECURE", "1"},
                                           {"MACP_BIND_ADDR", "127.0.0.1:" + std::to_string(free_port())},
                                           {"MACP_DATA_DIR", (dir.path() / "data").string()},
                                           {"MACP_POLICIES_DIR", policies.string()}};
    std::string out;
    CHECK(ServerProcess::run_to_exit(env, {}, out, std::chrono::seconds(10)) == 1);
    CHECK(out.find("MACP_POLICIES_DIR: " + (policies / "b-bad.json").string() +
                   ": INVALID_POLICY_DEFINITION: voting.algorithm 'weighted' requires non-empty voting.weights") !=
          std::string::npos);

    write_file(policies / "b-bad.json", R"({"policy_id":"policy.bad","mode":"*"})");
    CHECK(ServerProcess::run_to_exit(env, {}, out, std::chrono::seconds(10)) == 1);
    CHECK(out.find("MACP_POLICIES_DIR: " + (policies / "b-bad.json").string() + ": missing field 'description'") !=
          std::string::npos);

    write_file(policies / "b-bad.json", file_policy("policy.good", kTask, "{}"));  // duplicate across files
    CHECK(ServerProcess::run_to_exit(env, {}, out, std::chrono::seconds(10)) == 1);
    CHECK(out.find("MACP_POLICIES_DIR: " + (policies / "b-bad.json").string() +
                   ": policy 'policy.good' is already registered") != std::string::npos);

    env["MACP_POLICIES_DIR"] = (dir.path() / "missing").string();
    CHECK(ServerProcess::run_to_exit(env, {}, out, std::chrono::seconds(10)) == 1);
    CHECK(out.find("MACP_POLICIES_DIR: " + (dir.path() / "missing").string() +
                   ": cannot read directory: No such file or directory") != std::string::npos);
}

TEST_CASE("policy mutators need can_manage_mode_registry (RPC-GEN-5)", "[integration][policy]") {
    TempDir dir;
    ServerProcess server(
        {{"MACP_ALLOW_INSECURE", "1"},
         {"MACP_AUTH_TOKENS_JSON",
          R"([{"token":"t-admin","sender":"admin","can_manage_mode_registry":true},{"token":"t-user","sender":"user"}])"}},
        dir.path() / "data");
    REQUIRE(server.start());
    Client user(server.address(), "t-user");
    Client admin(server.address(), "t-admin");
    Client nobody(server.address(), "");
    grpc::Status st;

    register_policy(user, descriptor("policy.x", kTask, "{}"), &st);
    CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(st.error_message() == "Forbidden");
    register_policy(nobody, descriptor("policy.x", kTask, "{}"), &st);
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    register_ok(admin, descriptor("policy.x", kTask, "{}"));

    unregister_policy(user, "policy.x", &st);
    CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(st.error_message() == "Forbidden");
    unregister_policy(nobody, "policy.x", &st);
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);

    // Reads need authentication only (RPC-GETP-1, RPC-LISTP-1).
    CHECK(get_policy(user, "policy.x", nullptr).ok());
    CHECK(list_ids(user) == std::vector<std::string>{"policy.default", "policy.x"});
    CHECK(get_policy(nobody, "policy.x", nullptr).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    {
        macp::v1::ListPoliciesResponse resp;
        auto ctx = nobody.context();
        CHECK(nobody.stub().ListPolicies(ctx.get(), {}, &resp).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    }
    CHECK(unregister_policy(admin, "policy.x").ok());
}

TEST_CASE("per mode: a registered policy allows one commitment and denies another", "[integration][policy]") {
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    Client alice(server.address(), "alice");
    Client bob(server.address(), "bob");
    Client carol(server.address(), "carol");

    SECTION("binding: UNKNOWN_POLICY_VERSION and INVALID_POLICY_DEFINITION (POL-BIND-1)") {
        register_ok(coord, descriptor("policy.task.only", kTask, "{}"));
        auto ack =
            coord.send(envelope("SessionStart", new_session_id(), kDecision, "s", start({"alice"}, "policy.nope")));
        CHECK(ack.error().code() == "UNKNOWN_POLICY_VERSION");
        ack = coord.send(
            envelope("SessionStart", new_session_id(), kDecision, "s", start({"alice"}, "policy.task.only")));
        CHECK(ack.error().code() == "INVALID_POLICY_DEFINITION");
    }

    SECTION("decision: majority vote (POL-DEC-5, POL-DEC-11)") {
        register_ok(coord, descriptor("policy.it.decision", kDecision, R"({"voting":{"algorithm":"majority"}})"));
        namespace dpb = macp::modes::decision::v1;
        auto run = [&](const std::vector<std::pair<Client*, std::string>>& votes) {
            const auto sid = new_session_id();
            expect_ok(coord.send(envelope("SessionStart", sid, kDecision, "s",
                                          start({"alice", "bob", "carol"}, "policy.it.decision"))),
                      "SessionStart");
            dpb::ProposalPayload p;
            p.set_proposal_id("p1");
            p.set_option("ship it");
            expect_ok(alice.send(envelope("Proposal", sid, kDecision, "p", p.SerializeAsString())), "Proposal");
            int n = 0;
            for (const auto& [client, vote] : votes) {
                dpb::VotePayload v;
                v.set_proposal_id("p1");
                v.set_vote(vote);
                expect_ok(
                    client->send(envelope("Vote", sid, kDecision, "v" + std::to_string(n++), v.SerializeAsString())),
                    "Vote");
            }
            return sid;
        };
        auto sid = run({{&alice, "APPROVE"}, {&bob, "APPROVE"}, {&carol, "REJECT"}});
        auto ack = coord.send(envelope("Commitment", sid, kDecision, "c1", commit("release.approved", true)));
        expect_ok(ack, "allowed commitment");
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_RESOLVED);

        sid = run({{&alice, "APPROVE"}, {&bob, "REJECT"}, {&carol, "REJECT"}});
        // The bound copy is used even after the policy is unregistered (POL-BIND-2).
        REQUIRE(unregister_policy(coord, "policy.it.decision").ok());
        ack = coord.send(envelope("Commitment", sid, kDecision, "c1", commit("release.approved", true)));
        CHECK(denial_reasons(ack) == std::vector<std::string>{"majority vote failed: 33.3% approve, need >= 50.0%"});
        // POL-EVAL-2: the session stays open and the message id is not consumed; a decline backed by
        // explicit rejects is allowed (POL-DEC-11).
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_OPEN);
        expect_ok(coord.send(envelope("Commitment", sid, kDecision, "c1", commit("release.rejected", false))),
                  "decline after denial");
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_RESOLVED);
    }

    SECTION("proposal: a '*' policy whose rules do not fit proposal denies (DELTA POL-SCH-8)") {
        namespace ppb = macp::modes::proposal::v1;
        register_ok(coord,
                    descriptor("policy.it.proposal", kProposal,
                               R"({"acceptance":{"criterion":"counterparty"},"counter_proposal":{"max_rounds":2}})"));
        // Registered as a Decision structure ("*"), so a scalar `acceptance` passes registration.
        register_ok(coord, descriptor("policy.it.any", "*", R"({"acceptance":5})"));
        auto run = [&](const std::string& policy, bool both_accept) {
            const auto sid = new_session_id();
            expect_ok(coord.send(envelope("SessionStart", sid, kProposal, "s", start({"alice", "bob"}, policy))),
                      "SessionStart");
            ppb::ProposalPayload p;
            p.set_proposal_id("p1");
            p.set_title("offer");
            expect_ok(alice.send(envelope("Proposal", sid, kProposal, "p", p.SerializeAsString())), "Proposal");
            ppb::AcceptPayload a;
            a.set_proposal_id("p1");
            expect_ok(bob.send(envelope("Accept", sid, kProposal, "a1", a.SerializeAsString())), "Accept bob");
            if (both_accept) {
                expect_ok(alice.send(envelope("Accept", sid, kProposal, "a2", a.SerializeAsString())), "Accept alice");
            }
            return sid;
        };
        // counterparty criterion: bob's accept alone converges (MODE-PROP-10).
        auto sid = run("policy.it.proposal", false);
        expect_ok(coord.send(envelope("Commitment", sid, kProposal, "c1", commit("offer.accepted", true))),
                  "allowed commitment");
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_RESOLVED);

        sid = run("policy.it.any", true);  // mode-side reads fall back to all_parties
        auto ack = coord.send(envelope("Commitment", sid, kProposal, "c1", commit("offer.accepted", true)));
        CHECK(denial_reasons(ack) ==
              std::vector<std::string>{"policy 'policy.it.any' rules failed to parse at evaluation time: invalid type: "
                                       "integer `5`, expected struct ProposalAcceptanceRules"});
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_OPEN);
    }

    SECTION("task: completion.require_output (POL-TASK-1)") {
        namespace tpb = macp::modes::task::v1;
        register_ok(coord, descriptor("policy.it.task", kTask, R"({"completion":{"require_output":true}})"));
        auto run = [&](const std::string& output) {
            const auto sid = new_session_id();
            expect_ok(
                coord.send(envelope("SessionStart", sid, kTask, "s", start({"coord", "alice"}, "policy.it.task"))),
                "SessionStart");
            tpb::TaskRequestPayload r;
            r.set_task_id("t1");
            r.set_title("summarize");
            r.set_requested_assignee("alice");
            expect_ok(coord.send(envelope("TaskRequest", sid, kTask, "r", r.SerializeAsString())), "TaskRequest");
            tpb::TaskAcceptPayload a;
            a.set_task_id("t1");
            expect_ok(alice.send(envelope("TaskAccept", sid, kTask, "a", a.SerializeAsString())), "TaskAccept");
            tpb::TaskCompletePayload c;
            c.set_task_id("t1");
            c.set_output(output);
            c.set_summary("done");
            expect_ok(alice.send(envelope("TaskComplete", sid, kTask, "d", c.SerializeAsString())), "TaskComplete");
            return sid;
        };
        auto sid = run("the summary");
        expect_ok(coord.send(envelope("Commitment", sid, kTask, "c1", commit("task.completed", true))),
                  "allowed commitment");
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_RESOLVED);

        sid = run("");
        auto ack = coord.send(envelope("Commitment", sid, kTask, "c1", commit("task.completed", true)));
        CHECK(denial_reasons(ack) == std::vector<std::string>{"policy requires task output before commitment"});
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_OPEN);
    }

    SECTION("handoff: allowed after the schema-version check, denied for schema_version 3 (POL-HOFF-1, POL-EVAL-1)") {
        namespace hpb = macp::modes::handoff::v1;
        register_ok(
            coord, descriptor("policy.it.handoff", kHandoff, R"({"acceptance":{"implicit_accept_timeout_ms":60000}})"));
        // POL-REG-4: any version > 0 registers; only evaluation refuses an unsupported one.
        register_ok(coord, descriptor("policy.it.handoff.v3", kHandoff, "{}", 3));
        auto run = [&](const std::string& policy) {
            const auto sid = new_session_id();
            expect_ok(coord.send(envelope("SessionStart", sid, kHandoff, "s", start({"coord", "bob"}, policy))),
                      "SessionStart");
            hpb::HandoffOfferPayload o;
            o.set_handoff_id("h1");
            o.set_target_participant("bob");
            o.set_scope("on-call");
            expect_ok(coord.send(envelope("HandoffOffer", sid, kHandoff, "o", o.SerializeAsString())), "HandoffOffer");
            hpb::HandoffAcceptPayload a;
            a.set_handoff_id("h1");
            expect_ok(bob.send(envelope("HandoffAccept", sid, kHandoff, "a", a.SerializeAsString())), "HandoffAccept");
            return sid;
        };
        auto sid = run("policy.it.handoff");
        expect_ok(coord.send(envelope("Commitment", sid, kHandoff, "c1", commit("handoff.accepted", true))),
                  "allowed commitment");
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_RESOLVED);

        sid = run("policy.it.handoff.v3");
        auto ack = coord.send(envelope("Commitment", sid, kHandoff, "c1", commit("handoff.accepted", true)));
        CHECK(denial_reasons(ack) ==
              std::vector<std::string>{"unsupported policy schema version: 3 (supported: [1, 2])"});
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_OPEN);
    }

    SECTION("quorum: threshold is an approval-count bar for positive commitments (POL-QUO-1)") {
        namespace qpb = macp::modes::quorum::v1;
        register_ok(coord, descriptor("policy.it.quorum", kQuorum, R"({"threshold":{"type":"n_of_m","value":2}})"));
        auto run = [&](const std::vector<std::pair<Client*, bool>>& ballots) {
            const auto sid = new_session_id();
            expect_ok(coord.send(envelope("SessionStart", sid, kQuorum, "s",
                                          start({"alice", "bob", "carol"}, "policy.it.quorum"))),
                      "SessionStart");
            qpb::ApprovalRequestPayload r;
            r.set_request_id("r1");
            r.set_action("deploy");
            r.set_required_approvals(1);  // replaced by the policy threshold (MODE-QUO-5)
            expect_ok(coord.send(envelope("ApprovalRequest", sid, kQuorum, "r", r.SerializeAsString())),
                      "ApprovalRequest");
            int n = 0;
            for (const auto& [client, approve] : ballots) {
                std::string payload;
                if (approve) {
                    qpb::ApprovePayload a;
                    a.set_request_id("r1");
                    payload = a.SerializeAsString();
                } else {
                    qpb::RejectPayload j;
                    j.set_request_id("r1");
                    payload = j.SerializeAsString();
                }
                expect_ok(client->send(envelope(approve ? "Approve" : "Reject", sid, kQuorum, "b" + std::to_string(n++),
                                                payload)),
                          "ballot");
            }
            return sid;
        };
        auto sid = run({{&alice, true}, {&bob, true}});
        expect_ok(coord.send(envelope("Commitment", sid, kQuorum, "c1", commit("deploy.approved", true))),
                  "allowed commitment");
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_RESOLVED);

        // 1 approval, 2 rejects: the threshold of 2 is unreachable, so a commitment is eligible.
        sid = run({{&alice, true}, {&bob, false}, {&carol, false}});
        auto ack = coord.send(envelope("Commitment", sid, kQuorum, "c1", commit("deploy.approved", true)));
        CHECK(denial_reasons(ack) ==
              std::vector<std::string>{"approval threshold not met: 1 of 2 required approvals (2 n_of_m)"});
        CHECK(state_of(coord, sid) == macp::v1::SESSION_STATE_OPEN);
        // A negative commitment is never gated by the threshold.
        expect_ok(coord.send(envelope("Commitment", sid, kQuorum, "c1", commit("deploy.rejected", false))),
                  "decline after denial");
    }
}
