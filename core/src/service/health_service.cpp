#include "service/health_service.hpp"

#include <chrono>

namespace macp::service {

using grpc::health::v1::HealthCheckResponse;

namespace {

// The sync API is not woken by a client cancelling, so a Watch re-checks that this often even
// when nothing changes. Changes themselves wake it at once.
constexpr auto kCancelPoll = std::chrono::milliseconds(200);

}  // namespace

HealthService::HealthService(storage::StorageHealthMonitor* storage) : storage_(storage) {
    if (storage_ != nullptr) subscription_ = storage_->subscribe([this] { changed(); });
}

HealthService::~HealthService() {
    subscription_.reset();  // explicit: no listener may run while the members below are destroyed
}

bool HealthService::known(const std::string& service) const {
    return service.empty() || service == "macp.v1.MACPRuntimeService" ||
           service == "grpc.health.v1.Health";  // RPC-GEN-2
}

HealthCheckResponse::ServingStatus HealthService::status() const {
    if (draining_) return HealthCheckResponse::NOT_SERVING;
    if (storage_ != nullptr && !storage_->healthy()) return HealthCheckResponse::NOT_SERVING;  // issue #8.7
    return HealthCheckResponse::SERVING;
}

void HealthService::changed() {
    {
        std::lock_guard lock(mu_);
        ++generation_;
    }
    cv_.notify_all();
}

void HealthService::begin_drain() {
    draining_ = true;
    changed();
}

grpc::Status HealthService::Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* req,
                                  HealthCheckResponse* resp) {
    if (!known(req->service())) return {grpc::StatusCode::NOT_FOUND, "unknown service"};
    resp->set_status(status());
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
    uint64_t seen = 0;
    {
        std::lock_guard lock(mu_);
        seen = generation_;  // read before the status, so a change racing with it is not missed
    }
    auto last = status();
    r.set_status(last);
    if (!writer->Write(r)) return grpc::Status::OK;
    while (!draining_ && !ctx->IsCancelled()) {
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, kCancelPoll, [&] { return generation_ != seen; });
            seen = generation_;
        }
        const auto now = status();
        if (now == last) continue;
        r.set_status(now);
        if (!writer->Write(r)) break;
        last = now;
    }
    // Draining: NOT_SERVING is the last word (sent here if the drain began between the first
    // Write and the loop's check); the stream ends so that Shutdown() is not held up by it.
    if (!ctx->IsCancelled() && status() != last) {
        r.set_status(status());
        writer->Write(r);
    }
    return grpc::Status::OK;
}

}  // namespace macp::service
