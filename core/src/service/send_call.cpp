// Send on gRPC's callback API (RPC-SEND-*): the handler hands the envelope to the kernel and
// returns; the kernel answers from the thread that made the message durable, so no gRPC thread
// waits for storage however many Sends are in flight.
#include <atomic>
#include <exception>
#include <memory>

#include <spdlog/spdlog.h>

#include "service/convert.hpp"
#include "service/runtime_service.hpp"

namespace macp::service {

grpc::ServerUnaryReactor* RuntimeService::Send(grpc::CallbackServerContext* ctx, const macp::v1::SendRequest* req,
                                               macp::v1::SendResponse* resp) {
    auto* reactor = ctx->DefaultReactor();
    // Finish exactly once, whichever of the kernel's answer or a failure here comes first.
    auto finished = std::make_shared<std::atomic<bool>>(false);
    auto finish = [reactor, finished](const grpc::Status& status) {
        if (!finished->exchange(true)) reactor->Finish(status);
    };
    try {
        if (!req->has_envelope()) {  // RPC-SEND-1
            finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "SendRequest must contain an envelope"));
            return reactor;
        }
        kernel_.submit(metadata_of(*ctx, kernel_.needs_peer_identity()), req->envelope(),
                       [resp, finish](kernel::Ack ack) {
                           to_proto(ack, resp->mutable_ack());  // RPC-SEND-2: everything else is an ack
                           finish(grpc::Status::OK);
                       });
    } catch (const std::exception& e) {
        spdlog::error("Send failed: {}", e.what());
        finish(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
    } catch (...) {
        spdlog::error("Send failed with an unknown exception");
        finish(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
    }
    return reactor;
}

}  // namespace macp::service
