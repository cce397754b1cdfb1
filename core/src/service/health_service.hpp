// grpc.health.v1.Health implemented from the proto (the built-in health service registers no
// descriptors, so reflection-driven clients could not call it). NOT_SERVING while draining.
#pragma once

#include <atomic>

#include "grpc/health/v1/health.grpc.pb.h"

namespace macp::service {

class HealthService final : public grpc::health::v1::Health::Service {
public:
    grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                       grpc::health::v1::HealthCheckResponse*) override;
    grpc::Status Watch(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                       grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>*) override;
    // Flips every service to NOT_SERVING and ends open Watch streams.
    void begin_drain() { draining_ = true; }

private:
    [[nodiscard]] bool known(const std::string& service) const;
    std::atomic<bool> draining_{false};
};

}  // namespace macp::service
