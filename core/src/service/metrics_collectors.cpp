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

void wire_cluster_metrics(metrics::Metrics& metrics, ClusterLink& cluster, ClusterEvents& relay) {
    metrics.add_collector([&cluster, &relay](metrics::Exposition& out) {
        const auto& own = cluster.ownership;
        out.family("macp_cluster_sessions_owned", "gauge", "Sessions whose lease this process holds.");
        out.sample("macp_cluster_sessions_owned", {}, static_cast<uint64_t>(own.owned_count()));
        out.family("macp_cluster_takeovers_total", "counter",
                   "Sessions with a stored history this process took over (their owner crashed, stopped or left).");
        out.sample("macp_cluster_takeovers_total", {}, own.takeovers());
        out.family("macp_cluster_sessions_lost_total", "counter",
                   "Sessions this process lost to another (a renewal or a write answered FENCED).");
        out.sample("macp_cluster_sessions_lost_total", {}, own.losses());
        out.family("macp_cluster_forwarded_total", "counter",
                   "Calls passed on to the process that owns their session, by kind.");
        out.sample("macp_cluster_forwarded_total", {{"call", "send"}}, cluster.forwarded_sends.load());
        out.sample("macp_cluster_forwarded_total", {{"call", "unary"}}, cluster.forwarded_unary.load());
        out.sample("macp_cluster_forwarded_total", {{"call", "stream"}}, cluster.relayed_streams.load());
        out.family("macp_cluster_events_total", "counter",
                   "Events between processes: published by this one, received from the others, dropped.");
        out.sample("macp_cluster_events_total", {{"direction", "published"}}, relay.published());
        out.sample("macp_cluster_events_total", {{"direction", "received"}}, relay.received());
        out.sample("macp_cluster_events_total", {{"direction", "dropped"}}, relay.dropped());
    });
}

}  // namespace macp::service
