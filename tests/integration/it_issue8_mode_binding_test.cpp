// Issue #8 case 3: "Promoting an extension mode, or registering/unregistering/re-registering
// modes, makes existing sessions fail replay after a restart ('SessionStart no longer
// validates', 'mode … is not registered'): the session is gone. A session must replay against
// the mode definition it was started under."
//
// Our deliberate difference to DISC-10/DISC-12 (existing sessions of a removed or renamed mode
// fail with MODE_NOT_SUPPORTED) and STO-REC-4/9: a session is bound to the definition it started
// under, live and on replay (MODE-PT-1..6 of that definition keep applying).
#include <catch2/catch.hpp>

#include "issue8_support.hpp"

using namespace macp::test;
using namespace macp::test::issue8;

namespace {

std::map<std::string, std::string> env() {
    return {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000"}};
}

macp::v1::ModeDescriptor descriptor(const std::string& name, const std::vector<std::string>& types) {
    macp::v1::ModeDescriptor d;
    d.set_mode(name);
    d.set_mode_version("2.1.0");
    d.set_title("issue 8 extension");
    d.set_description("bound-definition test extension");
    d.set_determinism_class("structural-only");
    d.set_participant_model("peer");
    d.add_message_types("SessionStart");
    for (const auto& t : types) d.add_message_types(t);
    d.add_message_types("Commitment");
    d.add_terminal_message_types("Commitment");
    return d;
}

void register_mode(BigClient& admin, const macp::v1::ModeDescriptor& d) {
    macp::v1::RegisterExtModeRequest req;
    *req.mutable_mode_descriptor() = d;
    macp::v1::RegisterExtModeResponse resp;
    auto ctx = admin.context();
    auto st = admin.stub().RegisterExtMode(ctx.get(), req, &resp);
    INFO("RegisterExtMode " << d.mode() << ": " << st.error_message() << " / " << resp.error());
    REQUIRE(st.ok());
    REQUIRE(resp.ok());
}

void unregister_mode(BigClient& admin, const std::string& name) {
    macp::v1::UnregisterExtModeRequest req;
    req.set_mode(name);
    macp::v1::UnregisterExtModeResponse resp;
    auto ctx = admin.context();
    auto st = admin.stub().UnregisterExtMode(ctx.get(), req, &resp);
    INFO("UnregisterExtMode " << name << ": " << st.error_message() << " / " << resp.error());
    REQUIRE(st.ok());
    REQUIRE(resp.ok());
}

void promote(BigClient& admin, const std::string& name, const std::string& new_name) {
    macp::v1::PromoteModeRequest req;
    req.set_mode(name);
    req.set_promoted_mode_name(new_name);
    macp::v1::PromoteModeResponse resp;
    auto ctx = admin.context();
    auto st = admin.stub().PromoteMode(ctx.get(), req, &resp);
    INFO("PromoteMode " << name << " -> '" << new_name << "': " << st.error_message() << " / " << resp.error());
    REQUIRE(st.ok());
    REQUIRE(resp.ok());
}

// A SessionStart only a non-strict (passthrough) mode admits (MODE-PT-2): no participants, no
// configuration_version, no mode_version. A promoted, strict mode would reject it (SS-3).
std::string loose_start() {
    macp::v1::SessionStartPayload p;
    p.set_intent("issue 8 case 3");
    p.set_ttl_ms(3'600'000);
    return p.SerializeAsString();
}

// The Commitment of a passthrough session echoes the bound mode_version and the (empty)
// configuration_version (MODE-CMT-3) and must come from the initiator (MODE-PT-4).
std::string ext_commitment() {
    return commitment_payload("fraud.cleared", true, "2.1.0", "", "");
}

// GetSession as the initiator: these sessions declare no participants (RPC-GET-3).
void expect_present(BigClient& c, const std::string& sid, const std::string& mode, macp::v1::SessionState state) {
    macp::v1::SessionMetadata md;
    auto st = c.get_session(sid, &md);
    INFO("GetSession " << sid << ": " << st.error_code() << " " << st.error_message());
    REQUIRE(st.ok());
    CHECK(md.mode() == mode);
    CHECK(md.state() == state);
    CHECK(md.mode_version() == "2.1.0");
}

}  // namespace

TEST_CASE("issue #8 case 3a: sessions of a promoted extension keep working, live and after a restart",
          "[integration][issue8]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const std::string renamed = "ext.i8.renamed.v1";  // promoted under a new name
    const std::string kept = "ext.i8.kept.v1";        // promoted keeping its name
    const auto s_renamed = new_session_id();
    const auto s_kept = new_session_id();
    {
        ServerProcess server(env(), data);
        REQUIRE(server.start());
        BigClient admin(server.address(), "admin");
        BigClient anyone(server.address(), "anyone");
        register_mode(admin, descriptor(renamed, {"Note"}));
        register_mode(admin, descriptor(kept, {"Note"}));
        expect_ok(admin.send(envelope("SessionStart", s_renamed, renamed, "s", loose_start())), "start (renamed)");
        expect_ok(admin.send(envelope("SessionStart", s_kept, kept, "s", loose_start())), "start (kept)");
        expect_ok(anyone.send(envelope("Note", s_renamed, renamed, "n1", "before")), "Note before promotion");
        expect_ok(anyone.send(envelope("Note", s_kept, kept, "n1", "before")), "Note before promotion");

        promote(admin, renamed, "com.example.i8.promoted.v1");
        promote(admin, kept, "");
        // The old runtime answered MODE_NOT_SUPPORTED for the renamed one from here on (DISC-12).
        expect_ok(anyone.send(envelope("Note", s_renamed, renamed, "n2", "after")), "Note after promotion (renamed)");
        expect_ok(anyone.send(envelope("Note", s_kept, kept, "n2", "after")), "Note after promotion (kept)");
        // New sessions use the promoted, strict definition: the loose start is refused now (SS-3).
        auto strict = admin.send(envelope("SessionStart", new_session_id(), kept, "s", loose_start()));
        CHECK(strict.error().code() == "INVALID_ENVELOPE");
        server.kill9();
    }
    ServerProcess server(env(), data);
    REQUIRE(server.start());
    INFO(server.log());
    CHECK(server.log().find("(0 skipped)") != std::string::npos);
    BigClient admin(server.address(), "admin");
    BigClient anyone(server.address(), "anyone");
    // The old runtime skipped both: 'mode … is not registered' and 'SessionStart no longer validates'.
    expect_present(admin, s_renamed, renamed, macp::v1::SESSION_STATE_OPEN);
    expect_present(admin, s_kept, kept, macp::v1::SESSION_STATE_OPEN);
    CHECK(anyone.send(envelope("Note", s_renamed, renamed, "n2", "after")).duplicate());
    expect_ok(anyone.send(envelope("Note", s_renamed, renamed, "n3", "after restart")), "Note after restart (renamed)");
    expect_ok(anyone.send(envelope("Note", s_kept, kept, "n3", "after restart")), "Note after restart (kept)");
    // Only the initiator may commit (MODE-PT-4), and it resolves both sessions.
    auto forbidden = anyone.send(envelope("Commitment", s_renamed, renamed, "c0", ext_commitment()));
    CHECK(forbidden.error().code() == "FORBIDDEN");
    auto c1 = admin.send(envelope("Commitment", s_renamed, renamed, "c1", ext_commitment()));
    expect_ok(c1, "Commitment after restart (renamed)");
    CHECK(c1.session_state() == macp::v1::SESSION_STATE_RESOLVED);
    auto c2 = admin.send(envelope("Commitment", s_kept, kept, "c1", ext_commitment()));
    expect_ok(c2, "Commitment after restart (kept)");
    CHECK(c2.session_state() == macp::v1::SESSION_STATE_RESOLVED);
}

TEST_CASE("issue #8 case 3b: a session outlives unregistering and re-registering its mode, live and after a restart",
          "[integration][issue8]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const std::string mode = "ext.i8.rereg.v1";
    const auto old_sid = new_session_id();
    std::string new_sid;
    {
        ServerProcess server(env(), data);
        REQUIRE(server.start());
        BigClient admin(server.address(), "admin");
        BigClient anyone(server.address(), "anyone");
        register_mode(admin, descriptor(mode, {"Note"}));
        expect_ok(admin.send(envelope("SessionStart", old_sid, mode, "s", loose_start())), "start");
        expect_ok(anyone.send(envelope("Note", old_sid, mode, "n1", "first")), "Note");

        unregister_mode(admin, mode);
        // Unregistered: no new sessions (SS-1), but the existing one keeps its definition.
        auto refused = admin.send(envelope("SessionStart", new_session_id(), mode, "s", loose_start()));
        CHECK(refused.error().code() == "MODE_NOT_SUPPORTED");
        expect_ok(anyone.send(envelope("Note", old_sid, mode, "n2", "while unregistered")),
                  "Note while the mode is unregistered");

        // Re-registered under the same name with different message types.
        register_mode(admin, descriptor(mode, {"Memo"}));
        expect_ok(anyone.send(envelope("Note", old_sid, mode, "n3", "after re-registration")),
                  "Note after re-registration");
        // The old session's definition does not know Memo (MODE-PT-3); a new session's does.
        CHECK(anyone.send(envelope("Memo", old_sid, mode, "m1", "x")).error().code() == "INVALID_ENVELOPE");
        new_sid = new_session_id();
        expect_ok(admin.send(envelope("SessionStart", new_sid, mode, "s", loose_start())),
                  "start under re-registration");
        expect_ok(anyone.send(envelope("Memo", new_sid, mode, "m1", "x")), "Memo in the new session");
        CHECK(anyone.send(envelope("Note", new_sid, mode, "n1", "x")).error().code() == "INVALID_ENVELOPE");
        server.kill9();
    }
    ServerProcess server(env(), data);
    REQUIRE(server.start());
    INFO(server.log());
    CHECK(server.log().find("recovered 2 sessions (0 skipped)") != std::string::npos);
    BigClient admin(server.address(), "admin");
    BigClient anyone(server.address(), "anyone");
    expect_present(admin, old_sid, mode, macp::v1::SESSION_STATE_OPEN);
    expect_present(admin, new_sid, mode, macp::v1::SESSION_STATE_OPEN);
    // Each replays against its own definition.
    expect_ok(anyone.send(envelope("Note", old_sid, mode, "n4", "after restart")), "Note after restart");
    CHECK(anyone.send(envelope("Memo", old_sid, mode, "m2", "x")).error().code() == "INVALID_ENVELOPE");
    expect_ok(anyone.send(envelope("Memo", new_sid, mode, "m2", "after restart")), "Memo after restart");
    CHECK(anyone.send(envelope("Note", new_sid, mode, "n2", "x")).error().code() == "INVALID_ENVELOPE");
    auto c = admin.send(envelope("Commitment", old_sid, mode, "c1", ext_commitment()));
    expect_ok(c, "Commitment after restart");
    CHECK(c.session_state() == macp::v1::SESSION_STATE_RESOLVED);
    macp::v1::SessionMetadata md;
    REQUIRE(admin.get_session(old_sid, &md).ok());  // the initiator: the session has no participants
    CHECK(activity(md) == std::map<std::string, uint32_t>{{"admin", 1}, {"anyone", 4}});
}
