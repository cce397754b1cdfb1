#include "service/request_log.hpp"

#include <chrono>
#include <string>

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>
#include <google/protobuf/message.h>
#include <spdlog/spdlog.h>

#include "metrics/grpc_metrics.hpp"
#include "util/log_context.hpp"
#include "util/log_setup.hpp"

namespace macp::service {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using grpc::experimental::InterceptionHookPoints;

// A top-level string field of `m`, "" when it has none.
std::string string_field(const Message& m, const char* name) {
    const auto* f = m.GetDescriptor()->FindFieldByName(name);
    if (f == nullptr || f->type() != FieldDescriptor::TYPE_STRING || f->is_repeated()) return {};
    return m.GetReflection()->GetString(m, f);
}

// A set singular message field of `m`, or null.
const Message* message_field(const Message& m, const char* name) {
    const auto* f = m.GetDescriptor()->FindFieldByName(name);
    if (f == nullptr || f->type() != FieldDescriptor::TYPE_MESSAGE || f->is_repeated()) return nullptr;
    if (!m.GetReflection()->HasField(m, f)) return nullptr;
    return &m.GetReflection()->GetMessage(m, f);
}

class RequestLog final : public grpc::experimental::Interceptor {
public:
    explicit RequestLog(grpc::experimental::ServerRpcInfo* info)
        : method_(info->method() != nullptr ? info->method() : "?"),
          peer_(info->server_context() != nullptr ? info->server_context()->peer() : std::string()),
          started_(std::chrono::steady_clock::now()) {}
    ~RequestLog() override {
        if (!logged_) write("CANCELLED", grpc::StatusCode::CANCELLED);
    }
    RequestLog(const RequestLog&) = delete;
    RequestLog& operator=(const RequestLog&) = delete;

    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
        // Generated services hand over their protobuf messages; only the first request of a
        // stream names the session.
        if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) && session_.empty()) {
            if (const auto* req = static_cast<const Message*>(methods->GetRecvMessage())) read_request(*req);
        }
        if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE) && ack_code_.empty()) {
            if (const auto* resp = static_cast<const Message*>(methods->GetSendMessage())) read_response(*resp);
        }
        if (!logged_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
            const auto status = methods->GetSendStatus();
            write(metrics::GrpcMetrics::code_name(status.error_code()), status.error_code());
        }
        methods->Proceed();
    }

private:
    void read_request(const Message& req) {
        session_ = string_field(req, "session_id");
        if (const auto* env = message_field(req, "envelope")) {
            session_ = string_field(*env, "session_id");
            sender_ = string_field(*env, "sender");
            message_id_ = string_field(*env, "message_id");
        }
    }

    void read_response(const Message& resp) {
        if (const auto* ack = message_field(resp, "ack")) {
            if (const auto* error = message_field(*ack, "error")) ack_code_ = string_field(*error, "code");
        }
    }

    void write(const char* outcome, int grpc_code) {
        logged_ = true;
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
        const util::LogContext fields{{"rpc", method_},
                                      {"peer", peer_},
                                      {"session_id", session_},
                                      {"sender", sender_},
                                      {"message_id", message_id_},
                                      {"grpc_code", std::to_string(grpc_code)},
                                      {"code", ack_code_.empty() ? outcome : ack_code_}};
        util::log_target(util::kRequestTarget)
            .debug("{} from {}{}{} -> {}{} in {:.3f} ms", method_, peer_, session_.empty() ? "" : " session ", session_,
                   outcome, ack_code_.empty() ? "" : " (ack " + ack_code_ + ")", ms);
    }

    const std::string method_;
    const std::string peer_;
    const std::chrono::steady_clock::time_point started_;
    std::string session_;
    std::string sender_;
    std::string message_id_;
    std::string ack_code_;
    bool logged_ = false;
};

}  // namespace

grpc::experimental::Interceptor* RequestLogFactory::CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) {
    if (!util::log_target(util::kRequestTarget).should_log(spdlog::level::debug)) return nullptr;
    return new RequestLog(info);
}

}  // namespace macp::service
