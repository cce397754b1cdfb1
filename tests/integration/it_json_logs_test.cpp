// MACP_LOG_FORMAT=json and RUST_LOG targets on the real server (issue #14): every line the server
// writes is one valid JSON object whatever it contains (here a data directory with a quote and a
// backslash), and at debug on macp_runtime::request every RPC is logged with its outcome.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace macp::test;

namespace {

struct Line {
    std::map<std::string, std::string> fields;
};

// Every line of `log` as a flat JSON object of strings; a line that is not one fails the test.
std::vector<Line> parse_lines(const std::string& log) {
    std::vector<Line> out;
    std::istringstream in(log);
    for (std::string text; std::getline(in, text);) {
        INFO("line: " << text);
        rapidjson::Document doc;
        doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
        REQUIRE_FALSE(doc.HasParseError());
        REQUIRE(doc.IsObject());
        Line line;
        for (const auto& m : doc.GetObject()) {
            REQUIRE(m.value.IsString());
            line.fields[m.name.GetString()] = std::string(m.value.GetString(), m.value.GetStringLength());
        }
        for (const char* required : {"time", "level", "target", "message"}) CHECK(line.fields.count(required) == 1);
        out.push_back(std::move(line));
    }
    return out;
}

std::map<std::string, std::string> json_env(const std::string& rust_log) {
    return {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_LOG_FORMAT", "json"}, {"RUST_LOG", rust_log}};
}

// Starts a session, sends one message that is rejected and asks for a session that does not exist.
std::string drive(const std::string& address) {
    Client client(address, "agent-a");
    auto sid = new_session_id();
    REQUIRE(
        client.send(envelope("SessionStart", sid, kMultiRound, "m1", session_start_payload({"agent-a", "b"}))).ok());
    auto rejected = client.send(envelope("Contribute", new_session_id(), kMultiRound, "m2", contribute_json("x")));
    REQUIRE(rejected.error().code() == "SESSION_NOT_FOUND");
    macp::v1::SessionMetadata meta;
    REQUIRE(client.get_session(new_session_id(), &meta).error_code() == grpc::StatusCode::NOT_FOUND);
    return sid;
}

}  // namespace

TEST_CASE("MACP_LOG_FORMAT=json writes one valid JSON object per line, requests included at debug", "[logs]") {
    TempDir dir;
    const auto data = dir.path() / "da\"ta\\dir";
    ServerProcess server(json_env("macp_runtime=debug,storage=info"), data);
    REQUIRE(server.start());
    const auto sid = drive(server.address());
    REQUIRE(server.stop(15) == 0);

    const auto lines = parse_lines(server.log());
    REQUIRE(lines.size() > 5);
    bool data_dir_named = false;
    bool start_logged = false;
    bool rejection_logged = false;
    bool not_found_logged = false;
    for (const auto& l : lines) {
        const auto& f = l.fields;
        if (f.at("message").find(data.string()) != std::string::npos) data_dir_named = true;
        if (f.at("target") != "macp_runtime::request") continue;
        CHECK(f.at("level") == "debug");
        const auto rpc = f.count("rpc") != 0 ? f.at("rpc") : std::string();
        const auto code = f.count("code") != 0 ? f.at("code") : std::string();
        if (rpc == "/macp.v1.MACPRuntimeService/Send" && f.at("session_id") == sid && code == "OK") start_logged = true;
        if (rpc == "/macp.v1.MACPRuntimeService/Send" && code == "SESSION_NOT_FOUND") rejection_logged = true;
        if (rpc == "/macp.v1.MACPRuntimeService/GetSession" && code == "NotFound") not_found_logged = true;
    }
    CHECK(data_dir_named);  // the quote and the backslash went through the JSON writer
    CHECK(start_logged);
    CHECK(rejection_logged);
    CHECK(not_found_logged);
}

TEST_CASE("a kernel warning carries the session, sender and code as JSON fields", "[logs]") {
    TempDir dir;
    auto env = json_env("info");
    env["MACP_SESSION_START_LIMIT_PER_MINUTE"] = "1";
    ServerProcess server(env, dir.path() / "data");
    REQUIRE(server.start());
    Client client(server.address(), "agent-q");
    REQUIRE(
        client.send(envelope("SessionStart", new_session_id(), kMultiRound, "a", session_start_payload({"b"}))).ok());
    const auto limited = new_session_id();
    REQUIRE(
        client.send(envelope("SessionStart", limited, kMultiRound, "b", session_start_payload({"b"}))).error().code() ==
        "RATE_LIMITED");
    REQUIRE(server.stop(15) == 0);
    bool found = false;
    for (const auto& l : parse_lines(server.log())) {
        const auto& f = l.fields;
        if (f.count("code") != 0 && f.at("code") == "RATE_LIMITED") {
            CHECK(f.at("session_id") == limited);
            CHECK(f.at("sender") == "agent-q");
            CHECK(f.at("level") == "warn");
            found = true;
        }
    }
    CHECK(found);
}

TEST_CASE("RUST_LOG directives set levels per target", "[logs]") {
    TempDir dir;
    // Debug everywhere except the request log.
    ServerProcess server(json_env("debug,macp_runtime::request=off"), dir.path() / "data");
    REQUIRE(server.start());
    drive(server.address());
    REQUIRE(server.stop(15) == 0);
    const auto lines = parse_lines(server.log());
    REQUIRE_FALSE(lines.empty());
    for (const auto& l : lines) CHECK(l.fields.at("target") != "macp_runtime::request");

    // The request log alone at debug; its parent at warn keeps the start-up lines out.
    TempDir dir2;
    ServerProcess quiet(json_env("warn,request=debug"), dir2.path() / "data");
    REQUIRE(quiet.start());
    drive(quiet.address());
    REQUIRE(quiet.stop(15) == 0);
    size_t requests = 0;
    for (const auto& l : parse_lines(quiet.log())) {
        if (l.fields.at("target") == "macp_runtime::request") {
            ++requests;
        } else {
            CHECK((l.fields.at("level") == "warn" || l.fields.at("level") == "error"));
        }
    }
    CHECK(requests >= 3);
}
