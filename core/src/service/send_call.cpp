// Send on gRPC's callback API (RPC-SEND-*): the handler hands the envelope to the kernel and
// returns; the kernel answers from the thread that made the message durable, so no gRPC thread
// waits for storage however many Sends are in flight.
//
// Issue #14: the call holds one of its connection's in-flight slots until it is answered
// (MACP_CONCURRENCY_LIMIT_PER_CONNECTION), and is answered DEADLINE_EXCEEDED when the kernel has
// not answered within MACP_REQUEST_TIMEOUT_SECS (a store that hangs). Such a message may still
// become durable afterwards: the client learns its outcome by sending it again with the same
// message_id (an accepted one is answered as a duplicate).
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "service/convert.hpp"
#include "service/runtime_service.hpp"

namespace macp::service {

namespace {

// One Send in flight. Whoever claims it first answers: the kernel's ack, the deadline, or a
// failure in the handler; the others leave the response (owned by gRPC, gone once answered) alone.
struct SendCall {
    SendCall(grpc::ServerUnaryReactor* r, macp::v1::SendResponse* p) : reactor(r), resp(p) {}
    grpc::ServerUnaryReactor* const reactor;
    macp::v1::SendResponse* const resp;
    ConnectionLimits::Permit permit;
    CallDeadlines::Watch deadline;
    std::atomic<bool> answered{false};

    bool claim() { return !answered.exchange(true); }
    // Only by the claimer: frees the connection's slot, then answers.
    void finish(const grpc::Status& status) {
        permit.reset();
        reactor->Finish(status);
    }
};

}  // namespace

grpc::ServerUnaryReactor* RuntimeService::Send(grpc::CallbackServerContext* ctx, const macp::v1::SendRequest* req,
                                               macp::v1::SendResponse* resp) {
    auto* reactor = ctx->DefaultReactor();
    auto permit = connection_limits_.acquire(ctx->peer());
    if (!permit) {
        reactor->Finish(permit.error());
        return reactor;
    }
    auto call = std::make_shared<SendCall>(reactor, resp);
    call->permit = std::move(permit.value());
    const auto fail_now = [&call](const grpc::Status& status) {
        if (!call->claim()) return;
        call->deadline.release();
        call->finish(status);
    };
    try {
        if (!req->has_envelope()) {  // RPC-SEND-1
            fail_now(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "SendRequest must contain an envelope"));
            return reactor;
        }
        const int64_t secs = info_.request_timeout_secs;
        // The sweeper's entry owns the call until it fires or the ack withdraws it.
        call->deadline =
            send_deadlines_.watch(std::chrono::steady_clock::now() + std::chrono::seconds(secs), [call, secs] {
                if (!call->claim()) return;
                call->finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                          "no answer within " + std::to_string(secs) +
                                              " s (MACP_REQUEST_TIMEOUT_SECS); the message may still be accepted: "
                                              "send it again with the same message_id to learn its outcome"));
            });
        kernel_.submit(metadata_of(*ctx, kernel_.needs_peer_identity()), req->envelope(),
                       [call](const kernel::Ack& ack) {
                           if (!call->claim()) return;  // timed out: the response is no longer ours to write
                           call->deadline.release();
                           to_proto(ack, call->resp->mutable_ack());  // RPC-SEND-2: everything else is an ack
                           call->finish(grpc::Status::OK);
                       });
    } catch (const std::exception& e) {
        spdlog::error("Send failed: {}", e.what());
        fail_now(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
    } catch (...) {
        spdlog::error("Send failed with an unknown exception");
        fail_now(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
    }
    return reactor;
}

}  // namespace macp::service
