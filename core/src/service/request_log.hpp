// At debug level on the macp_runtime::request target, one log line per RPC when it ends: the
// method, the peer, the session and sender the request names, the outcome (the gRPC status, and
// for Send the MACP error code of a negative ack) and the duration (issue #14). A server
// interceptor, so every RPC is covered by one piece of code; when debug is off for the target it
// is not even created for a call.
#pragma once

#include <grpcpp/support/server_interceptor.h>

namespace macp::service {

class RequestLogFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
public:
    grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace macp::service
