// The channel to the server (target, TLS or plaintext, bearer token, extra headers), per-call
// contexts with deadlines, the mapping of failures to exit statuses, and Ctrl-C handling for
// streams.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "cli.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "macp/v1/core.grpc.pb.h"

namespace macpctl {

class Connection {
public:
    // Reads the TLS and token files; a missing or unreadable one is a UsageError.
    explicit Connection(const GlobalOptions& options);

    macp::v1::MACPRuntimeService::Stub& runtime() { return *runtime_; }
    grpc::health::v1::Health::Stub& health() { return *health_; }
    // A context carrying the credentials and headers; `deadline` nullopt = none.
    std::unique_ptr<grpc::ClientContext> context(std::optional<std::chrono::milliseconds> deadline) const;
    [[nodiscard]] const std::string& target() const { return target_; }
    [[nodiscard]] bool tls() const { return tls_; }

private:
    std::string target_;
    bool tls_ = true;
    std::string token_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<macp::v1::MACPRuntimeService::Stub> runtime_;
    std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// Exit status for a gRPC status / a MACP error code (Ack.error.code).
int exit_code_for(grpc::StatusCode code);
int exit_code_for_macp(const std::string& code);
const char* status_code_name(grpc::StatusCode code);

// Prints "macpctl: <command>: <CODE>: <message>" (plus a hint for connection problems) on stderr
// and returns the exit status for `status`.
int report_status(const Invocation& inv, const Connection& conn, const grpc::Status& status);
// Prints "macpctl: <command>: <text>" on stderr and returns `code`.
int report(const Invocation& inv, int code, const std::string& text);
// Prints an Ack (table or JSON, on stdout); a refused one also "rejected: CODE (message)" on
// stderr. Returns 0, or the exit status for the ack's MACP error code.
int report_ack(const Invocation& inv, const macp::v1::Ack& ack);
// The end of a watch/subscribe stream after `received` items: success when --count was reached,
// or when no --count was given and the stream ended by Ctrl-C, --timeout or the server closing it
// cleanly; 6 when it ended before --count; otherwise the stream's own failure.
int stream_outcome(const Invocation& inv, const Connection& conn, const grpc::Status& status, uint64_t received,
                   std::optional<uint64_t> count, bool stopped_by_us);

// Ctrl-C / SIGTERM. install() runs first in main, before any thread exists: it blocks both signals
// and starts a thread that waits for them. While a stream is registered with StreamGuard the
// signal cancels that stream (the command then ends normally); otherwise it ends the process with
// 128 + signal.
namespace interrupts {
void install();
bool requested();
class StreamGuard {
public:
    explicit StreamGuard(grpc::ClientContext* ctx);
    ~StreamGuard();
    StreamGuard(const StreamGuard&) = delete;
    StreamGuard& operator=(const StreamGuard&) = delete;
};
}  // namespace interrupts

}  // namespace macpctl
