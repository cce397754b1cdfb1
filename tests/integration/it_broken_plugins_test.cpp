// The real server with deliberately broken plugins (tests/plugin_abi/fixtures): it refuses to
// start with the loader's precise message, or stays up and answers INTERNAL_ERROR when a plugin
// operation fails at run time ("Bad input gets a clear error and loses nothing").
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;

namespace {

std::string fixture_dir() {
    const char* d = std::getenv("MACP_TEST_FIXTURE_PLUGIN_DIR");
    return d == nullptr ? std::string() : std::string(d);
}

std::map<std::string, std::string> with_fixture_backend(const std::string& backend) {
    return {{"MACP_ALLOW_INSECURE", "1"},
            {"MACP_STORAGE_BACKEND", backend},
            {"MACP_PLUGIN_PATH", fixture_dir() + ":" + ServerProcess::plugin_dir()}};
}

}  // namespace

TEST_CASE("a plugin built for another ABI major refuses start-up with one precise message", "[integration][plugin]") {
    REQUIRE_FALSE(fixture_dir().empty());
    TempDir dir;
    auto env = with_fixture_backend("wrongmajor");
    env["MACP_DATA_DIR"] = (dir.path() / "data").string();
    std::string out;
    const int rc = ServerProcess::run_to_exit(env, {}, out);
    CHECK(rc != 0);
    CHECK(out.find("was built for plugin ABI 2.x, this runtime speaks 1.x") != std::string::npos);
    CHECK(out.find("listening on") == std::string::npos);
}

TEST_CASE("missing required plugin keys are all reported at once", "[integration][plugin]") {
    TempDir dir;
    auto env = with_fixture_backend("needskey");
    env["MACP_DATA_DIR"] = (dir.path() / "data").string();
    std::string out;
    CHECK(ServerProcess::run_to_exit(env, {"--check-config"}, out) != 0);
    CHECK(out.find("MACP_TEST_REQUIRED_A") != std::string::npos);
    CHECK(out.find("MACP_TEST_REQUIRED_B") != std::string::npos);
}

TEST_CASE("a plugin operation that throws yields INTERNAL_ERROR and the server stays up", "[integration][plugin]") {
    TempDir dir;
    ServerProcess server(with_fixture_backend("throws"), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    const auto sid = new_session_id();
    auto ack = coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice"})));
    CHECK_FALSE(ack.ok());
    CHECK(ack.error().code() == "INTERNAL_ERROR");  // SS-12: nothing acknowledged, nothing created
    CHECK(server.log().find("disk on fire") != std::string::npos);
    macp::v1::SessionMetadata md;
    CHECK(coord.get_session(sid, &md).error_code() == grpc::StatusCode::NOT_FOUND);
    // Still serving.
    macp::v1::InitializeRequest init;
    init.add_supported_protocol_versions("1.0");
    macp::v1::InitializeResponse resp;
    auto ctx = coord.context();
    CHECK(coord.stub().Initialize(ctx.get(), init, &resp).ok());
    CHECK(server.stop(15) == 0);
}

TEST_CASE("a batch that marks items OK and then fails is never acknowledged", "[integration][plugin]") {
    // Issue #9: the lyingbatch fixture marks every item OK, stores nothing and fails the call.
    // Acknowledged must mean stored, so the SessionStart fails and no session exists.
    TempDir dir;
    ServerProcess server(with_fixture_backend("lyingbatch"), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    const auto sid = new_session_id();
    auto ack = coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice"})));
    CHECK_FALSE(ack.ok());
    CHECK(ack.error().code() == "INTERNAL_ERROR");
    CHECK(server.log().find("not trusted") != std::string::npos);
    macp::v1::SessionMetadata md;
    CHECK(coord.get_session(sid, &md).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(server.stop(15) == 0);
}

TEST_CASE("--check-config validates through the plugin and creates nothing", "[integration][plugin]") {
    // Issue #9: check_config (storage.h) instead of create: no data directory comes into being.
    TempDir dir;
    const auto data = dir.path() / "not-yet" / "data";
    std::map<std::string, std::string> env = {{"MACP_ALLOW_INSECURE", "1"},
                                              {"MACP_STORAGE_BACKEND", "file"},
                                              {"MACP_PLUGIN_PATH", ServerProcess::plugin_dir()},
                                              {"MACP_DATA_DIR", data.string()}};
    std::string out;
    CHECK(ServerProcess::run_to_exit(env, {"--check-config"}, out) == 0);
    CHECK(out.find("storage-file: configuration validated by the plugin") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.path() / "not-yet"));

    // A data dir that cannot be created is reported by the plugin, still without side effects.
    { std::ofstream(dir.path() / "a-file") << "x"; }
    env["MACP_DATA_DIR"] = (dir.path() / "a-file" / "data").string();
    CHECK(ServerProcess::run_to_exit(env, {"--check-config"}, out) != 0);
    CHECK(out.find("rejects its configuration") != std::string::npos);
    CHECK(out.find("Not a directory") != std::string::npos);
}

TEST_CASE("after a write with an unknown outcome the session follows what storage holds", "[integration][plugin]") {
    // Issue #9: storage-flaky stores a record marked STORE_THEN_FAIL and then fails the call, once.
    // The message is refused (never acknowledged on a failed call), and the session is reloaded
    // from storage before its next use: the record did land, so the retry is a duplicate rather
    // than a second copy, and the state includes it.
    TempDir dir;
    ServerProcess server(with_fixture_backend("flaky"), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coord");
    Client alice(server.address(), "alice");
    const auto sid = new_session_id();
    REQUIRE(coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice", "bob"}))).ok());
    // The marker goes in the message id: the record carries it verbatim.
    auto refused = alice.send(envelope("Contribute", sid, kMultiRound, "STORE_THEN_FAIL-a1", contribute_json("x")));
    CHECK_FALSE(refused.ok());
    CHECK(refused.error().code() == "INTERNAL_ERROR");
    CHECK(server.log().find("outcome unknown") != std::string::npos);

    auto retry = alice.send(envelope("Contribute", sid, kMultiRound, "STORE_THEN_FAIL-a1", contribute_json("x")));
    CHECK(retry.ok());
    CHECK(retry.duplicate());  // it had landed: storage is the truth
    CHECK(server.log().find("reloaded from storage after a failed write") != std::string::npos);

    // The first SessionStart of another session fails the same way: its record is removed again,
    // so no session exists and the id can be used (the fixture fails each marked record once).
    const auto sid2 = new_session_id();
    auto start =
        coord.send(envelope("SessionStart", sid2, kMultiRound, "STORE_THEN_FAIL-s2", session_start_payload({"alice"})));
    CHECK_FALSE(start.ok());
    macp::v1::SessionMetadata md;
    CHECK(coord.get_session(sid2, &md).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(
        coord.send(envelope("SessionStart", sid2, kMultiRound, "STORE_THEN_FAIL-s2", session_start_payload({"alice"})))
            .ok());
    CHECK(server.stop(15) == 0);
}
