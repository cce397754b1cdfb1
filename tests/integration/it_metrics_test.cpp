// MACP_METRICS_ADDR (issue #14): the real server serves Prometheus text on GET /metrics of its
// own loopback port; the families carry # TYPE lines, and the counters move with the RPCs made.
// The HTTP client is a plain socket, so the test reads exactly the bytes a scraper would.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "harness.hpp"
#include "metrics_page.hpp"

using namespace macp::test;
using namespace std::chrono_literals;

namespace {

Page scrape(int port) {
    const auto reply = http_request(port, "GET", "/metrics");
    REQUIRE(reply.status == 200);
    CHECK(reply.headers.find("content-type: text/plain; version=0.0.4") != std::string::npos);
    return parse(reply.body);
}

// The family a sample belongs to: histogram samples end in _bucket/_sum/_count.
std::string family_of(const std::string& series, const Page& page) {
    std::string name = series.substr(0, series.find('{'));
    if (page.types.count(name) != 0) return name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s(suffix);
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
            return name.substr(0, name.size() - s.size());
        }
    }
    return name;
}

const std::string kSend = R"(grpc_method="Send",grpc_service="macp.v1.MACPRuntimeService",grpc_type="unary")";
const std::string kGet = R"(grpc_method="GetSession",grpc_service="macp.v1.MACPRuntimeService",grpc_type="unary")";

// A dev-mode server with its metrics endpoint on a free loopback port.
struct MetricsServer {
    TempDir dir;
    int metrics_port = free_port();
    ServerProcess server{
        {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_METRICS_ADDR", "127.0.0.1:" + std::to_string(metrics_port)}},
        dir.path() / "data"};
};

}  // namespace

TEST_CASE("MACP_METRICS_ADDR serves Prometheus text that follows the RPCs", "[metrics]") {
    MetricsServer m;
    const int metrics_port = m.metrics_port;
    ServerProcess& server = m.server;
    REQUIRE(server.start());
    INFO(server.log());

    const auto before = scrape(metrics_port);
    CHECK(before.bad_lines.empty());
    const std::map<std::string, std::string> expected_types = {
        {"macp_messages_accepted_total", "counter"},
        {"macp_messages_rejected_total", "counter"},
        {"macp_sessions_started_total", "counter"},
        {"macp_sessions", "gauge"},
        {"macp_storage_append_seconds", "histogram"},
        {"macp_group_commit_batch_size", "histogram"},
        {"macp_active_streams", "gauge"},
        {"macp_recovery_duration_seconds", "gauge"},
        {"grpc_server_started_total", "counter"},
        {"grpc_server_handled_total", "counter"},
        {"grpc_server_handling_seconds", "histogram"},
    };
    for (const auto& [name, type] : expected_types) {
        INFO(name);
        CHECK(before.types.count(name) == 1);
        if (before.types.count(name) != 0) CHECK(before.types.at(name) == type);
    }
    CHECK(before.value("macp_messages_accepted_total") == 0);
    CHECK(before.value(R"(macp_messages_rejected_total{code="SESSION_NOT_FOUND"})") == 0);
    CHECK(before.value(R"(macp_sessions{state="open"})") == 0);
    CHECK(before.value("macp_recovery_duration_seconds") >= 0);

    Client client(server.address(), "agent-a");
    const auto sid = new_session_id();
    grpc::Status status;
    auto started =
        client.send(envelope("SessionStart", sid, kMultiRound, "m1", session_start_payload({"agent-a"})), &status);
    INFO("Send: " << status.error_code() << " " << status.error_message() << " / " << started.error().code());
    REQUIRE(started.ok());
    // Rejected: a message for a session that does not exist (the ack says so; gRPC says OK).
    auto rejected = client.send(envelope("Contribute", new_session_id(), kMultiRound, "m2", contribute_json("x")));
    REQUIRE_FALSE(rejected.ok());
    REQUIRE(rejected.error().code() == "SESSION_NOT_FOUND");
    // A gRPC-level failure: NOT_FOUND.
    macp::v1::SessionMetadata meta;
    REQUIRE(client.get_session(new_session_id(), &meta).error_code() == grpc::StatusCode::NOT_FOUND);

    const auto after = scrape(metrics_port);
    CHECK(after.bad_lines.empty());
    CHECK(after.value("macp_messages_accepted_total") == 1);
    CHECK(after.value(R"(macp_messages_rejected_total{code="SESSION_NOT_FOUND"})") == 1);
    CHECK(after.value("macp_sessions_started_total") == 1);
    CHECK(after.value(R"(macp_sessions{state="open"})") == 1);
    CHECK(after.value("macp_storage_append_seconds_count") >= 1);
    CHECK(after.value("macp_group_commit_batch_size_count") >= 1);  // the file backend commits in groups
    CHECK(after.value("grpc_server_started_total{" + kSend + "}") -
              before.value("grpc_server_started_total{" + kSend + "}") ==
          2);
    CHECK(after.value(R"(grpc_server_handled_total{grpc_code="OK",)" + kSend + "}") -
              before.value(R"(grpc_server_handled_total{grpc_code="OK",)" + kSend + "}") ==
          2);
    CHECK(after.value(R"(grpc_server_handled_total{grpc_code="NotFound",)" + kGet + "}") == 1);
    CHECK(after.value("grpc_server_handling_seconds_count{" + kSend + "}") == 2);
    CHECK(after.value(R"(grpc_server_handling_seconds_bucket{)" + kSend + R"(,le="+Inf"})") == 2);

    // Every sample belongs to a family announced with # TYPE.
    for (const auto& [series, value] : after.samples) {
        INFO(series);
        CHECK(after.types.count(family_of(series, after)) == 1);
    }
}

TEST_CASE("the metrics endpoint counts open streams and answers only /metrics", "[metrics]") {
    MetricsServer m;
    const int metrics_port = m.metrics_port;
    ServerProcess& server = m.server;
    REQUIRE(server.start());
    INFO(server.log());

    CHECK(http_request(metrics_port, "GET", "/").status == 404);
    CHECK(http_request(metrics_port, "GET", "/metricsx").status == 404);
    CHECK(http_request(metrics_port, "POST", "/metrics").status == 405);
    const auto head = http_request(metrics_port, "HEAD", "/metrics");
    CHECK(head.status == 200);
    CHECK(head.body.empty());

    CHECK(scrape(metrics_port).value("macp_active_streams") == 0);
    Client client(server.address(), "agent-a");
    auto ctx = client.context();
    ctx->set_deadline(std::chrono::system_clock::now() + 30s);
    macp::v1::WatchSessionsRequest req;
    auto reader = client.stub().WatchSessions(ctx.get(), req);
    double open = -1;
    for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
        open = scrape(metrics_port).value("macp_active_streams");
        if (open == 1) break;
        std::this_thread::sleep_for(50ms);
    }
    CHECK(open == 1);
    ctx->TryCancel();
    reader->Finish();
    for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
        open = scrape(metrics_port).value("macp_active_streams");
        if (open == 0) break;
        std::this_thread::sleep_for(50ms);
    }
    CHECK(open == 0);
    const auto page = scrape(metrics_port);
    CHECK(
        page.value(
            R"(grpc_server_started_total{grpc_method="WatchSessions",grpc_service="macp.v1.MACPRuntimeService",grpc_type="server_stream"})") ==
        1);
}

TEST_CASE("a metrics address that cannot be bound stops the start-up with a message", "[metrics]") {
    TempDir dir;
    // A port another listener holds.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    const int port = ntohs(addr.sin_port);
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_METRICS_ADDR", "127.0.0.1:" + std::to_string(port)}},
                         dir.path() / "data");
    CHECK_FALSE(server.start(10s));
    ::close(fd);
    CHECK(server.log().find("cannot listen for metrics on 127.0.0.1:" + std::to_string(port)) != std::string::npos);
}
