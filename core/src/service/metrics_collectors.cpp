#include "service/metrics_collectors.hpp"

#include <utility>

#include "service/metrics_interceptor.hpp"

namespace macp::service {

void wire_metrics(metrics::Metrics& metrics, kernel::Kernel& kernel, ServiceEvents& events) {
    register_grpc_methods(metrics.grpc, {"macp.v1.MACPRuntimeService", "grpc.health.v1.Health",
                                         "grpc.reflection.v1alpha.ServerReflection"});
    metrics.add_collector([&kernel](metrics::Exposition& out) {
        using kernel::SessionState;
        static constexpr std::pair<SessionState, const char*> kStates[] = {{SessionState::Open, "open"},
                                                                           {SessionState::Suspended, "suspended"},
                                                                           {SessionState::Resolved, "resolved"},
                                                                           {SessionState::Expired, "expired"},
                                                                           {SessionState::Cancelled, "cancelled"}};
        const auto counts = kernel.sessions_by_state();
        out.family("macp_sessions", "gauge",
                   "Sessions in memory, by state (finished ones leave memory after MACP_SESSION_RETENTION_SECS).");
        for (const auto& [state, name] : kStates) {
            const auto it = counts.find(state);
            out.sample("macp_sessions", {{"state", name}}, static_cast<uint64_t>(it == counts.end() ? 0 : it->second));
        }
    });
    metrics.add_collector([&events](metrics::Exposition& out) {
        out.family("macp_active_streams", "gauge", "Open StreamSession and Watch* streams.");
        out.sample("macp_active_streams", {}, events.stream_limits.total_held());
    });
}

}  // namespace macp::service
