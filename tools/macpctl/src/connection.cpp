#include "connection.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "output.hpp"

namespace macpctl {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

Connection::Connection(const GlobalOptions& options) : headers_(options.headers) {
    target_ = options.addr;
    bool tls = !options.plaintext;
    // etcdctl-style schemes: http:// is plaintext, https:// is TLS; anything else is a gRPC target
    // (host:port, dns:///host:port, unix:/path, ipv4:..., ipv6:...).
    if (starts_with(target_, "http://")) {
        if (!options.cacert.empty() || !options.cert.empty() || !options.key.empty()) {
            throw UsageError("--addr " + target_ + " is plaintext (http://) but TLS files were given");
        }
        tls = false;
        target_ = target_.substr(7);
    } else if (starts_with(target_, "https://")) {
        if (options.plaintext)
            throw UsageError("--addr " + target_ + " asks for TLS (https://) but --plaintext is set");
        tls = true;
        target_ = target_.substr(8);
    }
    while (!target_.empty() && target_.back() == '/') target_.pop_back();
    if (target_.empty()) throw UsageError("--addr is empty");
    tls_ = tls;

    if (!tls && (!options.cacert.empty() || !options.cert.empty() || !options.key.empty())) {
        throw UsageError("--plaintext conflicts with --cacert/--cert/--key (MACP_PLAINTEXT with MACP_CA_FILE, ...)");
    }
    if (options.cert.empty() != options.key.empty()) {
        throw UsageError("--cert and --key go together (MACP_CLIENT_CERT, MACP_CLIENT_KEY)");
    }
    token_ = options.token;

    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);  // the server bounds what it sends (lists can be large)
    args.SetMaxSendMessageSize(-1);     // and what it accepts (MACP_MAX_PAYLOAD_BYTES)
    args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "macpctl/" MACPCTL_VERSION);
    // A server that is not up yet is tried again soon (health --wait), not after gRPC's default
    // backoff of up to two minutes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (tls) {
        grpc::SslCredentialsOptions ssl;
        if (!options.cacert.empty()) ssl.pem_root_certs = read_file(options.cacert, "--cacert");
        if (!options.cert.empty()) {
            ssl.pem_cert_chain = read_file(options.cert, "--cert");
            ssl.pem_private_key = read_file(options.key, "--key");
        }
        creds = grpc::SslCredentials(ssl);
        if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
    } else {
        if (!options.server_name.empty()) throw UsageError("--server-name needs TLS (drop --plaintext)");
        creds = grpc::InsecureChannelCredentials();
    }
    channel_ = grpc::CreateCustomChannel(target_, creds, args);
    runtime_ = macp::v1::MACPRuntimeService::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Connection::context(std::optional<std::chrono::milliseconds> deadline) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (deadline) ctx->set_deadline(std::chrono::system_clock::now() + *deadline);
    if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
    for (const auto& [k, v] : headers_) ctx->AddMetadata(k, v);
    return ctx;
}

const char* status_code_name(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::OK: return "OK";
        case grpc::StatusCode::CANCELLED: return "CANCELLED";
        case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
        case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
        case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
        case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
        case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
        case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
        case grpc::StatusCode::ABORTED: return "ABORTED";
        case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
        case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
        case grpc::StatusCode::INTERNAL: return "INTERNAL";
        case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
        case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
        case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
        default: return "UNKNOWN";
    }
}

int exit_code_for(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::OK: return kOk;
        case grpc::StatusCode::INVALID_ARGUMENT:
        case grpc::StatusCode::ALREADY_EXISTS:
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
        case grpc::StatusCode::FAILED_PRECONDITION:
        case grpc::StatusCode::ABORTED:
        case grpc::StatusCode::OUT_OF_RANGE: return kRejected;
        case grpc::StatusCode::NOT_FOUND: return kNotFound;
        case grpc::StatusCode::CANCELLED:
        case grpc::StatusCode::UNAVAILABLE: return kUnavailable;
        case grpc::StatusCode::UNAUTHENTICATED:
        case grpc::StatusCode::PERMISSION_DENIED: return kAuth;
        case grpc::StatusCode::DEADLINE_EXCEEDED: return kTimeout;
        default: return kServerError;  // UNKNOWN, UNIMPLEMENTED, INTERNAL, DATA_LOSS
    }
}

int exit_code_for_macp(const std::string& code) {
    if (code == "SESSION_NOT_FOUND") return kNotFound;
    if (code == "UNAUTHENTICATED" || code == "FORBIDDEN") return kAuth;
    if (code == "INTERNAL_ERROR") return kServerError;
    return kRejected;
}

int report(const Invocation& inv, int code, const std::string& text) {
    std::cout.flush();
    std::cerr << "macpctl: " << (inv.command != nullptr ? inv.command->name + ": " : std::string()) << text << '\n';
    return code;
}

int report_status(const Invocation& inv, const Connection& conn, const grpc::Status& status) {
    const int code = exit_code_for(status.error_code());
    std::string text = std::string(status_code_name(status.error_code())) + ": " + status.error_message();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        text += "\n  (server " + conn.target() + " over " + (conn.tls() ? "TLS" : "plaintext") + "; ";
        text += conn.tls() ? "a plaintext server needs --plaintext (MACP_PLAINTEXT=1), a private CA --cacert)"
                           : "a TLS server needs TLS: drop --plaintext / MACP_PLAINTEXT)";
    } else if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        text += "\n  (give a token with --token, --token-file or MACP_TOKEN)";
    }
    return report(inv, code, text);
}

int report_ack(const Invocation& inv, const macp::v1::Ack& ack) {
    if (inv.global.output == OutputFormat::Json) {
        print_json(ack);
    } else {
        print_ack_fields(ack);
    }
    if (ack.ok()) return kOk;
    const auto& e = ack.error();
    return report(inv, exit_code_for_macp(e.code()),
                  "rejected: " + (e.code().empty() ? std::string("(no error code)") : e.code()) +
                      (e.message().empty() ? "" : " (" + e.message() + ")"));
}

int stream_outcome(const Invocation& inv, const Connection& conn, const grpc::Status& status, uint64_t received,
                   std::optional<uint64_t> count, bool stopped_by_us) {
    if (count && received >= *count) return kOk;
    const bool interrupted =
        status.error_code() == grpc::StatusCode::CANCELLED && (stopped_by_us || interrupts::requested());
    const bool timed_out = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && inv.global.timeout;
    if (status.ok() || interrupted || timed_out) {
        if (!count) return kOk;
        const std::string why = timed_out ? "timed out" : interrupted ? "interrupted" : "the server ended the stream";
        return report(inv, kTimeout, why + " after " + std::to_string(received) + " of " + std::to_string(*count));
    }
    return report_status(inv, conn, status);
}

namespace interrupts {

namespace {
std::mutex g_mu;
grpc::ClientContext* g_stream = nullptr;
std::atomic<bool> g_requested{false};
}  // namespace

void install() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread gRPC starts later
    std::thread([set] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            std::lock_guard lock(g_mu);
            if (g_stream != nullptr && !g_requested.exchange(true)) {
                g_stream->TryCancel();  // the stream's Read returns false; the command ends normally
                continue;
            }
            std::_Exit(128 + sig);
        }
    }).detach();
}

bool requested() {
    return g_requested.load();
}

StreamGuard::StreamGuard(grpc::ClientContext* ctx) {
    std::lock_guard lock(g_mu);
    g_stream = ctx;
}

StreamGuard::~StreamGuard() {
    std::lock_guard lock(g_mu);
    g_stream = nullptr;
}

}  // namespace interrupts

}  // namespace macpctl
