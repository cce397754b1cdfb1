// StreamSession in a cluster (issue #16, docs/scale-out.md): the stream is relayed, message by
// message in both directions, to the process that owns its session, where the ordinary
// StreamSession serves it (marked as forwarded). The first request names the session (its
// envelope's session_id, or subscribe_session_id); a session nobody serves is taken over here
// first, and then relayed to this process's own advertised address like any other.
//
// Flow control: one message in flight per direction, so a slow client slows the owner's stream
// (whose bounded buffers then apply as they do for a direct client) and a slow owner stops reading
// from the client. The client sees the owner's answers and status as they are; if the owner dies,
// the stream ends UNAVAILABLE and the client reconnects (its session continues elsewhere).
#pragma once

#include <grpcpp/grpcpp.h>

#include "kernel/kernel.hpp"
#include "macp/v1/core.grpc.pb.h"
#include "service/blocking_work.hpp"
#include "service/cluster_peers.hpp"

namespace macp::service {

// OWNERSHIP: gRPC holds the reactor until OnDone(); it deletes itself once its relay has ended too.
grpc::ServerBidiReactor<macp::v1::StreamSessionRequest, macp::v1::StreamSessionResponse>* make_cluster_stream(
    grpc::CallbackServerContext* ctx, kernel::Kernel& kernel, ClusterLink& cluster, BlockingWork& route_work,
    std::chrono::seconds route_limit);

}  // namespace macp::service
