#include "metrics/grpc_metrics.hpp"

namespace macp::metrics {

void MethodStats::finish(int code, uint64_t elapsed_ns) noexcept {
    const auto index = code >= 0 && static_cast<size_t>(code) < kGrpcCodes ? static_cast<size_t>(code) : 2;  // UNKNOWN
    handled[index].inc();
    handling_ns.observe(elapsed_ns);
}

GrpcMetrics::GrpcMetrics() {
    methods_.push_back(std::make_unique<MethodStats>("unknown", "unknown", "unknown"));
    unknown_ = methods_.back().get();
}

void GrpcMetrics::add_method(std::string_view path, std::string type) {
    if (by_path_.count(path) != 0) return;
    // "/pkg.Service/Method": the service is what lies between the slashes.
    std::string_view rest = path;
    if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    const auto slash = rest.find('/');
    const auto service = slash == std::string_view::npos ? std::string_view{} : rest.substr(0, slash);
    const auto method = slash == std::string_view::npos ? rest : rest.substr(slash + 1);
    methods_.push_back(std::make_unique<MethodStats>(std::string(service), std::string(method), std::move(type)));
    by_path_.emplace(std::string(path), methods_.back().get());
}

MethodStats& GrpcMetrics::find(std::string_view path) const {
    const auto it = by_path_.find(path);
    return it == by_path_.end() ? *unknown_ : *it->second;
}

const char* GrpcMetrics::code_name(int code) {
    static constexpr std::array<const char*, kGrpcCodes> kNames = {
        "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated"};
    return code >= 0 && static_cast<size_t>(code) < kGrpcCodes ? kNames[static_cast<size_t>(code)] : "Unknown";
}

void GrpcMetrics::render(Exposition& out) const {
    out.family("grpc_server_started_total", "counter", "RPCs started on the server.");
    for (const auto& m : methods_) {
        out.sample("grpc_server_started_total",
                   {{"grpc_method", m->method}, {"grpc_service", m->service}, {"grpc_type", m->type}},
                   m->started.value());
    }
    out.family("grpc_server_handled_total", "counter", "RPCs completed on the server, whatever their status.");
    for (const auto& m : methods_) {
        for (size_t code = 0; code < kGrpcCodes; ++code) {
            const auto n = m->handled[code].value();
            if (n == 0 && code != 0) continue;  // OK always, other codes once seen: keeps the page short
            out.sample("grpc_server_handled_total",
                       {{"grpc_code", code_name(static_cast<int>(code))},
                        {"grpc_method", m->method},
                        {"grpc_service", m->service},
                        {"grpc_type", m->type}},
                       n);
        }
    }
    out.family("grpc_server_handling_seconds", "histogram",
               "Time from the start of an RPC to its status being sent (streams: their whole life).");
    for (const auto& m : methods_) {
        out.histogram("grpc_server_handling_seconds",
                      {{"grpc_method", m->method}, {"grpc_service", m->service}, {"grpc_type", m->type}},
                      m->handling_ns, 1e9);
    }
}

}  // namespace macp::metrics
