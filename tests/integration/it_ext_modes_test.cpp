// Extension-mode lifecycle over gRPC (BEHAVIOR.md §9 DISC-8..14, §4.8 MODE-PT-*), including
// persistence of registrations across a restart (a deliberate improvement over DISC-13).
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;

namespace {

macp::v1::ModeDescriptor ext_descriptor(const std::string& name) {
    macp::v1::ModeDescriptor d;
    d.set_mode(name);
    d.set_mode_version("2.1.0");
    d.set_title("Fraud review");
    d.set_description("test extension");
    d.set_determinism_class("structural-only");
    d.set_participant_model("peer");
    d.add_message_types("SessionStart");
    d.add_message_types("Note");
    d.add_message_types("Commitment");
    d.add_terminal_message_types("Commitment");
    return d;
}

macp::v1::RegisterExtModeResponse register_mode(Client& c, const macp::v1::ModeDescriptor& d,
                                                grpc::Status* st = nullptr) {
    macp::v1::RegisterExtModeRequest req;
    *req.mutable_mode_descriptor() = d;
    macp::v1::RegisterExtModeResponse resp;
    auto ctx = c.context();
    auto s = c.stub().RegisterExtMode(ctx.get(), req, &resp);
    if (st != nullptr) *st = s;
    return resp;
}

std::vector<std::string> ext_names(Client& c) {
    macp::v1::ListExtModesResponse resp;
    auto ctx = c.context();
    REQUIRE(c.stub().ListExtModes(ctx.get(), {}, &resp).ok());
    std::vector<std::string> out;
    for (const auto& m : resp.modes()) out.push_back(m.mode());
    return out;
}

std::vector<std::string> standard_names(Client& c) {
    macp::v1::ListModesResponse resp;
    auto ctx = c.context();
    REQUIRE(c.stub().ListModes(ctx.get(), {}, &resp).ok());
    std::vector<std::string> out;
    for (const auto& m : resp.modes()) out.push_back(m.mode());
    return out;
}

}  // namespace

TEST_CASE("RegisterExtMode validates descriptors with the reference's messages (DISC-8)", "[integration][ext]") {
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, dir.path() / "data");
    REQUIRE(server.start());
    Client admin(server.address(), "admin");
    auto d = ext_descriptor("");
    CHECK(register_mode(admin, d).error() == "mode name must not be empty");
    d = ext_descriptor("macp.mode.fraud.v1");
    CHECK(register_mode(admin, d).error() == "cannot register extension with reserved macp.mode.* namespace");
    d = ext_descriptor("ext.fraud.v1");
    d.clear_message_types();
    CHECK(register_mode(admin, d).error() == "extension descriptor must declare at least one message type");
    d = ext_descriptor("ext.fraud.v1");
    d.set_mode_version(" ");
    CHECK(register_mode(admin, d).error() == "extension descriptor must bind mode_version");
    d = ext_descriptor("ext.fraud.v1");
    d.clear_terminal_message_types();
    CHECK(register_mode(admin, d).error() == "extension descriptor must declare at least one terminal message type");
    d = ext_descriptor("ext.fraud.v1");
    d.set_terminal_message_types(0, "Note");
    CHECK(register_mode(admin, d).error().find("resolve only on 'Commitment'") != std::string::npos);
    d = ext_descriptor("ext.fraud.v1");
    d.add_message_types("SessionCancel");
    CHECK(register_mode(admin, d).error() == "message type 'SessionCancel' is reserved for the runtime");
    d = ext_descriptor("ext.multi_round.v1");
    CHECK(register_mode(admin, d).error() == "mode 'ext.multi_round.v1' is already registered");
    // RPC-REGX-1: missing descriptor is a status, not a result.
    macp::v1::RegisterExtModeRequest empty;
    macp::v1::RegisterExtModeResponse resp;
    auto ctx = admin.context();
    CHECK(admin.stub().RegisterExtMode(ctx.get(), empty, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("an extension runs through passthrough, survives a restart, and can be promoted", "[integration][ext]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const auto sid = new_session_id();
    {
        ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, data);
        REQUIRE(server.start());
        Client admin(server.address(), "admin");
        auto r = register_mode(admin, ext_descriptor("ext.fraud.v1"));
        REQUIRE(r.ok());
        CHECK(ext_names(admin) == std::vector<std::string>{"ext.fraud.v1", "ext.multi_round.v1"});  // RPC-LEM-1

        // MODE-PT-2: non-strict start, participants optional; SS-18: empty mode_version binds 2.1.0.
        macp::v1::SessionStartPayload p;
        p.set_ttl_ms(60'000);
        p.add_participants("alice");
        REQUIRE(admin.send(envelope("SessionStart", sid, "ext.fraud.v1", "s", p.SerializeAsString())).ok());
        Client alice(server.address(), "alice");
        Client eve(server.address(), "eve");
        CHECK(alice.send(envelope("Note", sid, "ext.fraud.v1", "n1", "anything")).ok());
        CHECK(eve.send(envelope("Note", sid, "ext.fraud.v1", "n2", "x")).error().code() == "FORBIDDEN");  // MODE-PT-4
        CHECK(alice.send(envelope("Other", sid, "ext.fraud.v1", "n3", "x")).error().code() ==
              "INVALID_ENVELOPE");  // MODE-PT-3
        CHECK(alice.send(envelope("SessionCancel", sid, "ext.fraud.v1", "n4", "")).error().code() ==
              "INVALID_ENVELOPE");
        macp::v1::SessionMetadata md;
        REQUIRE(admin.get_session(sid, &md).ok());
        CHECK(md.mode_version() == "2.1.0");
        server.kill9();
    }
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}}, data);
    REQUIRE(server.start());
    Client admin(server.address(), "admin");
    // The registration and the session both came back (DISC-13 improvement).
    CHECK(ext_names(admin) == std::vector<std::string>{"ext.fraud.v1", "ext.multi_round.v1"});
    Client alice(server.address(), "alice");
    CHECK(alice.send(envelope("Note", sid, "ext.fraud.v1", "n1", "anything")).duplicate());
    // Commitment must echo the bound mode_version (SS-18, MODE-CMT-3) and come from the initiator.
    auto wrong = admin.send(
        envelope("Commitment", sid, "ext.fraud.v1", "c0", commitment_payload("fraud.cleared", true, "", "")));
    CHECK(wrong.error().code() == "INVALID_ENVELOPE");
    auto commit = admin.send(
        envelope("Commitment", sid, "ext.fraud.v1", "c1", commitment_payload("fraud.cleared", true, "2.1.0", "")));
    CHECK(commit.ok());
    CHECK(commit.session_state() == macp::v1::SESSION_STATE_RESOLVED);

    // Promotion with a rename (DISC-11/12): moves to ListModes after the five built-ins.
    macp::v1::PromoteModeRequest preq;
    preq.set_mode("ext.fraud.v1");
    preq.set_promoted_mode_name("com.example.fraud.v1");
    macp::v1::PromoteModeResponse presp;
    {
        auto ctx = admin.context();
        REQUIRE(admin.stub().PromoteMode(ctx.get(), preq, &presp).ok());
    }
    CHECK(presp.ok());
    CHECK(presp.mode() == "com.example.fraud.v1");
    auto std_names = standard_names(admin);
    REQUIRE(std_names.size() == 6);
    CHECK(std_names[0] == "macp.mode.decision.v1");
    CHECK(std_names[5] == "com.example.fraud.v1");
    CHECK(ext_names(admin) == std::vector<std::string>{"ext.multi_round.v1"});
    preq.set_mode("com.example.fraud.v1");
    preq.set_promoted_mode_name("");
    {
        auto ctx = admin.context();
        REQUIRE(admin.stub().PromoteMode(ctx.get(), preq, &presp).ok());
    }
    CHECK(presp.error() == "mode 'com.example.fraud.v1' is already standards-track");
    preq.set_mode("ext.multi_round.v1");
    preq.set_promoted_mode_name("macp.mode.multi_round.v1");
    {
        auto ctx = admin.context();
        REQUIRE(admin.stub().PromoteMode(ctx.get(), preq, &presp).ok());
    }
    CHECK(presp.error() == "cannot promote 'ext.multi_round.v1' into the reserved macp.mode.* namespace");

    // Unregister rules (DISC-10).
    macp::v1::UnregisterExtModeRequest ureq;
    macp::v1::UnregisterExtModeResponse uresp;
    ureq.set_mode("com.example.fraud.v1");
    {
        auto ctx = admin.context();
        REQUIRE(admin.stub().UnregisterExtMode(ctx.get(), ureq, &uresp).ok());
    }
    CHECK(uresp.error() == "cannot unregister standards-track mode 'com.example.fraud.v1'");
    ureq.set_mode("ext.multi_round.v1");
    {
        auto ctx = admin.context();
        REQUIRE(admin.stub().UnregisterExtMode(ctx.get(), ureq, &uresp).ok());
    }
    CHECK(uresp.error() == "cannot unregister built-in mode 'ext.multi_round.v1'");
    server.stop(15);

    // The promotion is persisted too.
    ServerProcess again({{"MACP_ALLOW_INSECURE", "1"}}, data);
    REQUIRE(again.start());
    Client admin2(again.address(), "admin");
    CHECK(standard_names(admin2).back() == "com.example.fraud.v1");
}

TEST_CASE("registry mutators need can_manage_mode_registry (RPC-GEN-5, AUTH-Z-4)", "[integration][ext]") {
    TempDir dir;
    // Static tokens (so dev-mode is off) over plaintext loopback for the test.
    ServerProcess insecure(
        {{"MACP_ALLOW_INSECURE", "1"},
         {"MACP_AUTH_TOKENS_JSON",
          R"([{"token":"t-admin","sender":"admin","can_manage_mode_registry":true},{"token":"t-user","sender":"user"}])"}},
        dir.path() / "data2");
    REQUIRE(insecure.start());
    Client user(insecure.address(), "t-user");
    grpc::Status st;
    register_mode(user, ext_descriptor("ext.x.v1"), &st);
    CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(st.error_message() == "Forbidden");
    Client admin(insecure.address(), "t-admin");
    CHECK(register_mode(admin, ext_descriptor("ext.x.v1"), &st).ok());
    Client nobody(insecure.address(), "");
    register_mode(nobody, ext_descriptor("ext.y.v1"), &st);
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
}
