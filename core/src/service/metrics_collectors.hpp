// Readies the registry before its page is first served: the gRPC methods (so each shows at 0, and
// the method table is complete before anything reads it), and the metrics read at scrape time
// rather than kept current: sessions in memory by state (one pass over the session table, each
// session locked briefly) and open streams.
#pragma once

#include "kernel/kernel.hpp"
#include "metrics/registry.hpp"
#include "service/cluster_events.hpp"
#include "service/cluster_peers.hpp"
#include "service/service_events.hpp"

namespace macp::service {

// OWNERSHIP: `kernel` and `events` must outlive every scrape (main stops the endpoint first).
// Call once, before the metrics endpoint and the gRPC server start.
void wire_metrics(metrics::Metrics& metrics, kernel::Kernel& kernel, ServiceEvents& events);
// MACP_CLUSTER=1 (docs/scale-out.md): sessions owned, takeovers, losses, forwarded calls, events.
// Same OWNERSHIP rule for `cluster` and `relay`.
void wire_cluster_metrics(metrics::Metrics& metrics, ClusterLink& cluster, ClusterEvents& relay);

}  // namespace macp::service
