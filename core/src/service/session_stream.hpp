// StreamSession (BEHAVIOR.md §8.1-8.2 with the 0.6 sequencing): a bidirectional stream bound to
// one session. Implemented with gRPC's callback API so that a slow or silent client costs no
// thread, and the server can end the stream with RESOURCE_EXHAUSTED the moment a subscriber
// falls behind, or promptly at shutdown.
#pragma once

#include <grpcpp/grpcpp.h>

#include "kernel/kernel.hpp"
#include "macp/v1/core.pb.h"
#include "service/blocking_work.hpp"
#include "service/service_events.hpp"

namespace macp::service {

// Creates the reactor for one call. OWNERSHIP: gRPC holds the reactor until OnDone(), where it
// deletes itself (the callback API's contract). `work` runs the subscribe's storage reads.
grpc::ServerBidiReactor<macp::v1::StreamSessionRequest, macp::v1::StreamSessionResponse>* make_session_stream(
    grpc::CallbackServerContext* ctx, kernel::Kernel& kernel, ServiceEvents& events, BlockingWork& work);

}  // namespace macp::service
