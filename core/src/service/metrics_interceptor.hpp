// Records the standard grpc_server_* families (metrics/grpc_metrics.hpp) for every call, sync or
// callback API alike, from one server interceptor instead of code in each handler. A call counts
// as started when it arrives and as handled, with its status code and duration, when its status
// is sent; a call that ends without sending one (the client went away) counts as Canceled.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "metrics/grpc_metrics.hpp"

namespace macp::service {

class MetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
public:
    explicit MetricsInterceptorFactory(metrics::GrpcMetrics& metrics) : metrics_(metrics) {}
    grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

private:
    metrics::GrpcMetrics& metrics_;
};

// Adds every method of the named services (as the generated descriptors describe them) to
// `metrics`, so each shows at 0 before its first call; names not linked in are skipped.
void register_grpc_methods(metrics::GrpcMetrics& metrics, const std::vector<std::string>& services);

}  // namespace macp::service
