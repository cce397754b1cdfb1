#include "service/metrics_interceptor.hpp"

#include <chrono>

#include <google/protobuf/descriptor.h>

namespace macp::service {

namespace {

using grpc::experimental::InterceptionHookPoints;

class MetricsInterceptor final : public grpc::experimental::Interceptor {
public:
    explicit MetricsInterceptor(metrics::MethodStats& stats)
        : stats_(stats), started_(std::chrono::steady_clock::now()) {
        stats_.started.inc();
    }
    ~MetricsInterceptor() override {
        if (!finished_) stats_.finish(grpc::StatusCode::CANCELLED, elapsed_ns());
    }
    MetricsInterceptor(const MetricsInterceptor&) = delete;
    MetricsInterceptor& operator=(const MetricsInterceptor&) = delete;

    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
        if (!finished_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
            finished_ = true;
            stats_.finish(methods->GetSendStatus().error_code(), elapsed_ns());
        }
        methods->Proceed();
    }

private:
    [[nodiscard]] uint64_t elapsed_ns() const {
        return static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_).count());
    }

    metrics::MethodStats& stats_;
    const std::chrono::steady_clock::time_point started_;
    bool finished_ = false;  // one call's hooks run one at a time
};

const char* type_of(const google::protobuf::MethodDescriptor& m) {
    if (m.client_streaming()) return m.server_streaming() ? "bidi_stream" : "client_stream";
    return m.server_streaming() ? "server_stream" : "unary";
}

}  // namespace

grpc::experimental::Interceptor* MetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
    return new MetricsInterceptor(metrics_.find(info->method() != nullptr ? info->method() : ""));
}

void register_grpc_methods(metrics::GrpcMetrics& metrics, const std::vector<std::string>& services) {
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const auto& name : services) {
        const auto* service = pool->FindServiceByName(name);
        if (service == nullptr) continue;
        for (int i = 0; i < service->method_count(); ++i) {
            const auto* m = service->method(i);
            metrics.add_method("/" + service->full_name() + "/" + m->name(), type_of(*m));
        }
    }
}

}  // namespace macp::service
