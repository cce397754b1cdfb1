#include "service/server.hpp"

#include <chrono>

#ifdef MACP_HAVE_GRPC_REFLECTION
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#endif

#include "service/metrics_interceptor.hpp"
#include "service/request_log.hpp"
#include "service/tls_credentials.hpp"
#include "util/log_setup.hpp"

namespace macp::service {

namespace {

// The envelope limit plus room for the rest of the request (RPC-GEN-11 as of 0.6).
constexpr int64_t kEnvelopeOverhead = 64 * 1024;

}  // namespace

Server::Server(kernel::Kernel& kernel, modes::ModeRegistry& modes, policy::PolicyRegistry& policies,
               ServiceEvents& events, const ServerOptions& options)
    : events_(events),
      runtime_(kernel, modes, policies, events,
               ServiceInfo{options.version, options.max_payload_bytes + kEnvelopeOverhead,
                           options.concurrency_limit_per_connection, options.request_timeout_secs, options.cluster}),
      health_(options.storage_health) {}

Result<std::unique_ptr<Server>, std::string> Server::start(kernel::Kernel& kernel, modes::ModeRegistry& modes,
                                                           policy::PolicyRegistry& policies, ServiceEvents& events,
                                                           const ServerOptions& o) {
    std::unique_ptr<Server> s(new Server(kernel, modes, policies, events, o));
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (!o.tls_cert_path.empty() && !o.tls_key_path.empty()) {  // AUTH-TLS-1
        auto tls = TlsFiles::create({o.tls_cert_path, o.tls_key_path, o.tls_client_ca_path, o.tls_reload_secs});
        if (!tls) return fail(tls.error());
        s->tls_ = std::move(tls.value());
        creds = s->tls_->credentials();
    } else {
        creds = grpc::InsecureServerCredentials();  // AUTH-TLS-2: config already required the opt-in
    }
#ifdef MACP_HAVE_GRPC_REFLECTION
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#endif
    grpc::ServerBuilder builder;
    builder.AddListeningPort(o.bind_addr, creds, &s->port_);
    const int64_t limit = o.max_payload_bytes + kEnvelopeOverhead;
    builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(limit, INT32_MAX)));
    builder.SetMaxSendMessageSize(static_cast<int>(std::min<int64_t>(limit, INT32_MAX)));
    // Keepalive like the reference (CFG-23): ping idle connections every 30 s.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               static_cast<int>(std::min<int64_t>(o.max_concurrent_streams, INT32_MAX)));
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    if (o.metrics != nullptr) {  // its methods were registered by wire_metrics (service/metrics_collectors.hpp)
        interceptors.push_back(std::make_unique<MetricsInterceptorFactory>(o.metrics->grpc));
    }
    // Levels are set once at start-up: without debug on the request target no call pays for it.
    if (util::log_target(util::kRequestTarget).should_log(spdlog::level::debug)) {
        interceptors.push_back(std::make_unique<RequestLogFactory>());
    }
    // Only when there is one: with any interceptor gRPC runs its interceptor machinery on every call.
    if (!interceptors.empty()) builder.experimental().SetInterceptorCreators(std::move(interceptors));
    builder.RegisterService(&s->runtime_);
    builder.RegisterService(&s->health_);
    s->server_ = builder.BuildAndStart();
    if (!s->server_ || s->port_ == 0)
        return fail("cannot listen on " + o.bind_addr + " (address in use or not local?)");
    return s;
}

void Server::drain(int64_t drain_secs) {
    health_.begin_drain();
    events_.close_all();  // long-lived streams end now instead of holding the drain deadline
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(drain_secs));
    server_->Wait();
}

}  // namespace macp::service
