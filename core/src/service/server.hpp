// Builds and runs the gRPC server: TLS or plaintext, limits, keepalive, health, reflection.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "kernel/kernel.hpp"
#include "metrics/registry.hpp"
#include "service/health_service.hpp"
#include "service/runtime_service.hpp"
#include "service/tls_credentials.hpp"
#include "util/result.hpp"

namespace macp::service {

struct ServerOptions {
    std::string bind_addr;
    std::string tls_cert_path;  // both empty = plaintext (only with MACP_ALLOW_INSECURE=1)
    std::string tls_key_path;
    std::string tls_client_ca_path;  // mTLS: client certificates required and verified against it
    int64_t tls_reload_secs = 60;    // the TLS files are re-read when they change, at this period
    int64_t max_payload_bytes = 1'048'576;
    std::string version;
    int64_t max_concurrent_streams = 128;           // CFG-17
    int64_t concurrency_limit_per_connection = 64;  // CFG-18: unary calls in flight per connection
    int64_t request_timeout_secs = 30;              // CFG-19: Send answered DEADLINE_EXCEEDED after this
    // Health reports NOT_SERVING while it says the store cannot write; null = not monitored.
    storage::StorageHealthMonitor* storage_health = nullptr;
    // Records the grpc_server_* families of every call (an interceptor); null = no metrics.
    metrics::Metrics* metrics = nullptr;
    // MACP_CLUSTER=1: session ownership and the peers (docs/scale-out.md); null = one process.
    ClusterLink* cluster = nullptr;
};

class Server {
public:
    static Result<std::unique_ptr<Server>, std::string> start(kernel::Kernel& kernel, modes::ModeRegistry& modes,
                                                              policy::PolicyRegistry& policies, ServiceEvents& events,
                                                              const ServerOptions& options);
    // Marks health NOT_SERVING, stops accepting, and waits up to `drain_secs` for in-flight calls.
    void drain(int64_t drain_secs);
    [[nodiscard]] int port() const { return port_; }

private:
    Server(kernel::Kernel& kernel, modes::ModeRegistry& modes, policy::PolicyRegistry& policies, ServiceEvents& events,
           const ServerOptions& options);
    ServiceEvents& events_;
    RuntimeService runtime_;
    HealthService health_;
    std::unique_ptr<TlsFiles> tls_;  // outlives server_: gRPC reads its staged copies
    std::unique_ptr<grpc::Server> server_;
    int port_ = 0;
};

}  // namespace macp::service
