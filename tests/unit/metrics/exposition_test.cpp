// The Prometheus text the metrics registry writes (metrics/exposition.hpp, issue #14): escaping,
// histogram buckets, and the per-method gRPC families.
#include <catch2/catch.hpp>

#include <string>

#include "metrics/exposition.hpp"
#include "metrics/grpc_metrics.hpp"
#include "metrics/instruments.hpp"
#include "metrics/runtime_metrics.hpp"

using namespace macp::metrics;

TEST_CASE("label values are escaped so any text stays one valid line") {
    Exposition out;
    out.family("x_total", "counter", "help with \\ and\nnewline");
    out.sample("x_total", {{"mode", "a\"b\\c\nd"}}, uint64_t{3});
    CHECK(out.text() ==
          "# HELP x_total help with \\\\ and\\nnewline\n# TYPE x_total counter\n"
          "x_total{mode=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST_CASE("histograms render cumulative buckets, +Inf, sum and count in the exposed unit") {
    Histogram h({10, 100});
    h.observe(5);
    h.observe(10);  // bounds are inclusive
    h.observe(50);
    h.observe(1000);
    Exposition out;
    out.histogram("h", {{"k", "v"}}, h, 10);
    CHECK(out.text() ==
          "h_bucket{k=\"v\",le=\"1\"} 2\n"
          "h_bucket{k=\"v\",le=\"10\"} 3\n"
          "h_bucket{k=\"v\",le=\"+Inf\"} 4\n"
          "h_sum{k=\"v\"} 106.5\n"
          "h_count{k=\"v\"} 4\n");
}

TEST_CASE("gRPC methods are found by path; unknown paths share one entry") {
    GrpcMetrics g;
    g.add_method("/pkg.Svc/Do", "unary");
    auto& m = g.find("/pkg.Svc/Do");
    CHECK(m.service == "pkg.Svc");
    CHECK(m.method == "Do");
    CHECK(&g.find("/nope/Nope") == &g.find("/other/Other"));
    CHECK(&g.find("/nope/Nope") != &m);
    m.started.inc();
    m.finish(5, 2'000'000);  // NOT_FOUND after 2 ms
    Exposition out;
    g.render(out);
    const auto& text = out.text();
    CHECK(text.find("grpc_server_started_total{grpc_method=\"Do\",grpc_service=\"pkg.Svc\",grpc_type=\"unary\"} 1\n") !=
          std::string::npos);
    CHECK(text.find("grpc_server_handled_total{grpc_code=\"NotFound\",grpc_method=\"Do\",grpc_service=\"pkg.Svc\","
                    "grpc_type=\"unary\"} 1\n") != std::string::npos);
    CHECK(text.find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Do\",grpc_service=\"pkg.Svc\","
                    "grpc_type=\"unary\"} 0\n") != std::string::npos);
    CHECK(text.find("grpc_server_handling_seconds_sum{grpc_method=\"Do\",grpc_service=\"pkg.Svc\",grpc_type=\"unary\"} "
                    "0.002\n") != std::string::npos);
    // Codes never seen are left out, except OK.
    CHECK(text.find("grpc_code=\"Internal\"") == std::string::npos);
}

TEST_CASE("rejections are counted per MACP code, each code shown from the start") {
    RuntimeMetrics r;
    auto& a = r.rejected_counter("RATE_LIMITED");
    CHECK(&a == &r.rejected_counter("RATE_LIMITED"));
    r.rejected_counter("SESSION_NOT_FOUND");
    a.inc(2);
    Exposition out;
    r.render(out);
    CHECK(out.text().find("macp_messages_rejected_total{code=\"RATE_LIMITED\"} 2\n") != std::string::npos);
    CHECK(out.text().find("macp_messages_rejected_total{code=\"SESSION_NOT_FOUND\"} 0\n") != std::string::npos);
    CHECK(out.text().find("# TYPE macp_storage_append_seconds histogram\n") != std::string::npos);
}
