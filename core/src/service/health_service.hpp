// grpc.health.v1.Health implemented from the proto (the built-in health service registers no
// descriptors, so reflection-driven clients could not call it). NOT_SERVING while draining or while
// the storage backend cannot write (issue #8.7); SERVING otherwise.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "grpc/health/v1/health.grpc.pb.h"
#include "storage/storage_health.hpp"

namespace macp::service {

class HealthService final : public grpc::health::v1::Health::Service {
public:
    // `storage` may be null (storage not monitored); otherwise it must outlive this service.
    explicit HealthService(storage::StorageHealthMonitor* storage = nullptr);
    ~HealthService() override;
    HealthService(const HealthService&) = delete;
    HealthService& operator=(const HealthService&) = delete;

    grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                       grpc::health::v1::HealthCheckResponse*) override;
    // Sends the current status, then a new message on every change; ends after the drain's
    // NOT_SERVING (or when the client cancels).
    grpc::Status Watch(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                       grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>*) override;
    // Flips every service to NOT_SERVING and ends open Watch streams.
    void begin_drain();

private:
    [[nodiscard]] bool known(const std::string& service) const;
    [[nodiscard]] grpc::health::v1::HealthCheckResponse::ServingStatus status() const;
    void changed();

    std::atomic<bool> draining_{false};
    storage::StorageHealthMonitor* storage_;
    std::mutex mu_;
    std::condition_variable cv_;
    uint64_t generation_ = 0;  // bumped on every drain/storage change; Watch waits for it
    // Last: dropped first, so no storage notification reaches a half-destroyed service.
    storage::StorageHealthMonitor::Subscription subscription_;
};

}  // namespace macp::service
