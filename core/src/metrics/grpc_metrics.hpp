// The standard per-method gRPC server families (the names and labels of go-grpc-prometheus, which
// the usual gRPC dashboards and alerts query): grpc_server_started_total,
// grpc_server_handled_total and grpc_server_handling_seconds. Recorded by the server interceptor
// in service/metrics_interceptor.hpp.
//
// THREADING: add_method() only while wiring, before the server takes calls; afterwards the method
// table is read-only, so find() takes no lock and recording is a few relaxed atomic adds.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/exposition.hpp"
#include "metrics/instruments.hpp"

namespace macp::metrics {

// grpc::StatusCode values 0..16.
inline constexpr size_t kGrpcCodes = 17;

struct MethodStats {
    MethodStats(std::string service_, std::string method_, std::string type_)
        : service(std::move(service_)), method(std::move(method_)), type(std::move(type_)) {}
    const std::string service;
    const std::string method;
    const std::string type;  // unary | client_stream | server_stream | bidi_stream
    Counter started;
    std::array<Counter, kGrpcCodes> handled;
    Histogram handling_ns{Histogram::latency_bounds_ns()};

    void finish(int code, uint64_t elapsed_ns) noexcept;
};

class GrpcMetrics {
public:
    GrpcMetrics();
    // `path` as gRPC names a call: "/macp.v1.MACPRuntimeService/Send".
    void add_method(std::string_view path, std::string type);
    // The stats of `path`; calls to a method nobody registered share one "unknown" entry, so a
    // client probing random paths cannot grow the table.
    [[nodiscard]] MethodStats& find(std::string_view path) const;

    void render(Exposition& out) const;

    // The name go-grpc-prometheus prints for a status code ("OK", "DeadlineExceeded", ...).
    static const char* code_name(int code);

private:
    std::vector<std::unique_ptr<MethodStats>> methods_;
    std::map<std::string, MethodStats*, std::less<>> by_path_;
    MethodStats* unknown_;
};

}  // namespace macp::metrics
