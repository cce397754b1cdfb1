#include "service/health_service.hpp"

#include <chrono>
#include <thread>

namespace macp::service {

using grpc::health::v1::HealthCheckResponse;

bool HealthService::known(const std::string& service) const {
    return service.empty() || service == "macp.v1.MACPRuntimeService" ||
           service == "grpc.health.v1.Health";  // RPC-GEN-2
}

grpc::Status HealthService::Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* req,
                                  HealthCheckResponse* resp) {
    if (!known(req->service())) return {grpc::StatusCode::NOT_FOUND, "unknown service"};
    resp->set_status(draining_ ? HealthCheckResponse::NOT_SERVING : HealthCheckResponse::SERVING);
    return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest* req,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
    HealthCheckResponse r;
    if (!known(req->service())) {
        r.set_status(HealthCheckResponse::SERVICE_UNKNOWN);
        writer->Write(r);
        return grpc::Status::OK;
    }
    // The sync API cannot be woken by Shutdown(), so poll the drain flag and cancellation.
    bool sent_draining = false;
    r.set_status(draining_ ? HealthCheckResponse::NOT_SERVING : HealthCheckResponse::SERVING);
    if (!writer->Write(r)) return grpc::Status::OK;
    sent_draining = draining_;
    while (!ctx->IsCancelled() && !sent_draining) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (draining_) {
            r.set_status(HealthCheckResponse::NOT_SERVING);
            writer->Write(r);
            sent_draining = true;
        }
    }
    return grpc::Status::OK;
}

}  // namespace macp::service
