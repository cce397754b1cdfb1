// Conformance runner (BEHAVIOR.md §12 CONF-*): every fixture of both sets in
// ../shared/conformance (the spec's canonical set and the 0.6.1 runtime's set) is replayed against
// the real server over gRPC: inline policy registered, session started, each message sent as its
// sender (dev-mode bearer = sender), accept/reject and error codes checked, then the final state,
// the resolution and the mode state (read from the latest snapshot the server encoded).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <google/protobuf/util/json_util.h>
#include <rapidjson/document.h>

#include "fixture.hpp"
#include "harness.hpp"

using namespace macp::test;
using namespace macp::conformance;
namespace fs = std::filesystem;
namespace pb = google::protobuf;

namespace {

// MACP_CONFORMANCE_CLUSTER=1 (ctest conformance.cluster, issue #16): every fixture through two
// processes of one cluster over Redis. The policy is registered on the second process and used by
// the first (registries follow each other); the session starts on the first; the messages go
// through the two in turn (every other one forwarded to the owner); GetSession asks the second.
bool cluster_mode() {
    const char* c = std::getenv("MACP_CONFORMANCE_CLUSTER");
    return c != nullptr && std::string(c) == "1";
}

void run_fixture(const fs::path& file) {
    rapidjson::Document fx;
    fx.Parse(slurp(file).c_str());
    REQUIRE_FALSE(fx.HasParseError());
    TempDir dir;
    const auto data = dir.path() / "data";
    std::vector<std::unique_ptr<ServerProcess>> servers;
    if (cluster_mode()) {
        const std::string prefix = "conformance-" + new_session_id().substr(0, 8) + ":";
        for (int i = 0; i < 2; ++i) {
            auto env = server_env();
            env["MACP_CLUSTER"] = "1";
            env["MACP_NODE_ID"] = "conformance" + std::to_string(i);
            env["MACP_STORAGE_BACKEND"] = "redis";
            env["MACP_REDIS_KEY_PREFIX"] = prefix;
            servers.push_back(std::make_unique<ServerProcess>(env, dir.path() / ("node" + std::to_string(i))));
        }
    } else {
        servers.push_back(std::make_unique<ServerProcess>(server_env(), data));
    }
    for (auto& s : servers) {
        const bool started = s->start();
        INFO(s->log());
        REQUIRE(started);
    }
    ServerProcess& server = *servers.front();  // where the session starts (its owner)
    ServerProcess& other = *servers.back();
    const std::string mode = str(fx, "mode");
    const std::string initiator = str(fx, "initiator");

    if (fx.HasMember("policy")) {  // CONF-4
        Client admin(other.address(), initiator);
        auto req = policy_request(fx);
        macp::v1::RegisterPolicyResponse resp;
        auto ctx = admin.context();
        auto st = admin.stub().RegisterPolicy(ctx.get(), req, &resp);
        REQUIRE(st.ok());
        INFO("RegisterPolicy error: " << resp.error());
        REQUIRE(resp.ok());
        if (&other != &server) {  // the owner learns of it through the cluster's events (bounded wait)
            Client owner(server.address(), initiator);
            bool known = false;
            for (int i = 0; i < 200 && !known; ++i) {
                macp::v1::GetPolicyRequest get;
                get.set_policy_id(req.policy_descriptor().policy_id());
                macp::v1::GetPolicyResponse got;
                auto c = owner.context();
                known = owner.stub().GetPolicy(c.get(), get, &got).ok();
                if (!known) std::this_thread::sleep_for(std::chrono::milliseconds(25));
            }
            REQUIRE(known);
        }
    }

    const auto sid = new_session_id();
    auto start = session_start(fx);  // CONF-5
    Client init(server.address(), initiator);
    auto ack = init.send(envelope("SessionStart", sid, mode, "m0", start.SerializeAsString()));
    INFO("SessionStart: " << ack.error().code());
    REQUIRE(ack.ok());

    int i = 0;
    for (auto& m : fx["messages"].GetArray()) {  // CONF-6, CONF-13
        ++i;
        const std::string sender = str(m, "sender");
        const std::string type = str(m, "message_type");
        const std::string payload = encode_payload(str(m, "payload_type"), m["payload"], fx.GetAllocator());
        Client c((i % 2 == 0 ? server : other).address(), sender);
        auto a = c.send(envelope(type, sid, mode, "m" + std::to_string(i), payload));
        INFO("message " << i << " " << type << " from " << sender << " -> ok=" << a.ok() << " code=" << a.error().code()
                        << " (" << a.error().message() << ")");
        if (str(m, "expect") == "accept") {
            CHECK(a.ok());
        } else {
            CHECK_FALSE(a.ok());
            if (m.HasMember("expected_error_code")) CHECK(a.error().code() == str(m, "expected_error_code"));
        }
    }

    macp::v1::SessionMetadata md;  // CONF-14
    Client reader(other.address(), initiator);
    REQUIRE(reader.get_session(sid, &md).ok());
    const std::string expected_state = str(fx, "expected_final_state");
    CHECK(md.state() == state_from_name(expected_state));

    // Resolution and mode state are read from the latest snapshot the server encoded, which only
    // a stored data directory holds: on the memory backend the answers and states above are the check.
    for (auto& s : servers) REQUIRE(s->stop(15) == 0);
    const char* backend = std::getenv("MACP_TEST_STORAGE_BACKEND");
    if (backend != nullptr && std::string(backend) != "file") return;
    rapidjson::Document snap;
    snap.Parse(final_snapshot(data, sid).c_str());
    REQUIRE_FALSE(snap.HasParseError());
    const bool has_resolution = snap.HasMember("resolution_b64") && snap["resolution_b64"].IsString();
    if (fx.HasMember("expect_resolution_present")) CHECK(has_resolution == fx["expect_resolution_present"].GetBool());
    if (fx.HasMember("expected_resolution") && has_resolution) {
        macp::v1::CommitmentPayload c;
        REQUIRE(c.ParseFromString(b64decode(snap["resolution_b64"].GetString())));
        std::string json;
        pb::util::JsonPrintOptions po;
        po.preserve_proto_field_names = true;
        po.always_print_primitive_fields = true;
        REQUIRE(pb::util::MessageToJsonString(c, &json, po).ok());
        rapidjson::Document actual;
        actual.Parse(json.c_str());
        std::string where;
        INFO("resolution " << json);
        CHECK(subset_match(fx["expected_resolution"], actual, where));
    }
    if (fx.HasMember("expected_mode_state")) {  // CONF-15
        rapidjson::Document state;
        state.Parse(b64decode(str(snap, "mode_state_b64")).c_str());
        std::string where;
        INFO("mode state " << b64decode(str(snap, "mode_state_b64")));
        CHECK(subset_match(fx["expected_mode_state"], state, where));
        INFO("first mismatch at " << where);
    }
}

}  // namespace

TEST_CASE("conformance fixtures pass against the real server", "[conformance]") {
    link_descriptors();
    auto files = fixtures();
    if (files.empty()) {
        WARN("conformance fixtures not found (MACP_CONFORMANCE_DIR="
             << (std::getenv("MACP_CONFORMANCE_DIR") ? std::getenv("MACP_CONFORMANCE_DIR") : "") << "): SKIPPED");
        return;
    }
    const char* only = std::getenv("MACP_CONFORMANCE_ONLY");  // substring filter for debugging
    for (const auto& f : files) {
        const auto name = fixture_name(f);
        if (only != nullptr && name.find(only) == std::string::npos) continue;
        SECTION(name) {
            run_fixture(f);
        }
    }
}
