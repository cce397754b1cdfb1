// Send on gRPC's callback API (RPC-SEND-*): the handler hands the envelope to the kernel and
// returns; the kernel answers from the thread that made the message durable, so no gRPC thread
// waits for storage however many Sends are in flight.
//
// Issue #14: the call holds one of its connection's in-flight slots until it is answered
// (MACP_CONCURRENCY_LIMIT_PER_CONNECTION), and is answered DEADLINE_EXCEEDED when the kernel has
// not answered within MACP_REQUEST_TIMEOUT_SECS (a store that hangs). Such a message may still
// become durable afterwards: the client learns its outcome by sending it again with the same
// message_id (an accepted one is answered as a duplicate).
//
// Cluster mode (issue #16, docs/scale-out.md): a Send for a session this process does not serve
// is routed first: taken over when nobody holds the session, else forwarded to its owner, whose
// answer (ack or error) is the caller's. A message the store refused because this process lost
// the session meanwhile was not stored, so it is routed again to the new owner. Either way the
// client sees one answer, as from a single process.
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "kernel/session_id.hpp"
#include "service/convert.hpp"
#include "service/runtime_service.hpp"

namespace macp::service {

// One Send in flight. Whoever claims it first answers: the kernel's ack, the owner's answer, the
// deadline, or a failure in the handler; the others leave the response (owned by gRPC, gone once
// answered) alone.
struct RuntimeService::SendCall {
    SendCall(grpc::ServerUnaryReactor* r, macp::v1::SendResponse* p) : reactor(r), resp(p) {}
    grpc::ServerUnaryReactor* const reactor;
    macp::v1::SendResponse* const resp;
    ConnectionLimits::Permit permit;
    CallDeadlines::Watch deadline;
    std::atomic<bool> answered{false};

    // Cluster mode only: what routing it (again) needs.
    auth::Metadata metadata;
    macp::v1::Envelope envelope;
    std::vector<std::pair<std::string, std::string>> forward_md;
    bool from_peer = false;  // forwarded here by another process: never forwarded again
    int routes = 0;
    std::chrono::system_clock::time_point expires;
    std::unique_ptr<grpc::ClientContext> client_ctx;  // the forward in flight
    macp::v1::SendRequest forward_req;
    macp::v1::SendResponse forward_resp;

    bool claim() { return !answered.exchange(true); }
    // Only by the claimer: frees the connection's slot, then answers.
    void finish(const grpc::Status& status) {
        permit.reset();
        reactor->Finish(status);
    }
    void answer(const grpc::Status& status) {
        if (!claim()) return;
        deadline.release();
        finish(status);
    }
    void answer(const kernel::Ack& ack) {
        if (!claim()) return;  // timed out: the response is no longer ours to write
        deadline.release();
        to_proto(ack, resp->mutable_ack());  // RPC-SEND-2: everything else is an ack
        finish(grpc::Status::OK);
    }
};

namespace {

// Routing a Send gives up after this many routes (each bounded by the store and the owner's
// answer); the call's own deadline usually ends it first.
constexpr int kMaxRoutes = 200;

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
    try {
        if (!req->has_envelope()) {  // RPC-SEND-1
            call->answer(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "SendRequest must contain an envelope"));
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
        const auto& sid = req->envelope().session_id();
        // Ambient messages belong to no session, and a malformed id names none (the kernel refuses
        // it as one process would, SS-1 / MSG-1): neither is routed, so no lease is taken for it.
        if (info_.cluster == nullptr || sid.empty() || !kernel::valid_session_id(sid)) {
            kernel_.submit(metadata_of(*ctx, kernel_.needs_peer_identity()), req->envelope(),
                           [call](const kernel::Ack& ack) { call->answer(ack); });
            return reactor;
        }
        call->metadata = metadata_of(*ctx, kernel_.needs_peer_identity());
        call->envelope = req->envelope();
        call->from_peer = is_forwarded(*ctx);
        call->expires = std::chrono::system_clock::now() + std::chrono::seconds(secs);
        if (!call->from_peer) call->forward_md = forwardable_metadata(*ctx);
        if (info_.cluster->ownership.owns(sid)) {
            submit_local(call);
        } else if (auto remote = info_.cluster->ownership.known_remote(sid); remote && !call->from_peer) {
            forward_send(call, remote->address);  // asynchronous: no store round trip, no thread hop
        } else {
            route_work_.post([this, call] { dispatch_send(call); });
        }
    } catch (const std::exception& e) {
        spdlog::error("Send failed: {}", e.what());
        call->answer(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
    } catch (...) {
        spdlog::error("Send failed with an unknown exception");
        call->answer(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
    }
    return reactor;
}

void RuntimeService::submit_local(const std::shared_ptr<SendCall>& call) {
    kernel_.submit(call->metadata, call->envelope, [this, call](const kernel::Ack& ack) {
        // Refused because the session changed hands under us (the store fenced the write, or the
        // session was dropped while the message waited): nothing was stored, so the message goes
        // to the new owner. A peer's forward is answered UNAVAILABLE instead: its origin re-routes.
        const bool moved = ack.error &&
                           (ack.error->kind == kernel::ErrorKind::StorageFailed ||
                            ack.error->kind == kernel::ErrorKind::UnknownSession) &&
                           !info_.cluster->ownership.owns(call->envelope.session_id());
        if (!moved) return call->answer(ack);
        if (call->from_peer) {
            return call->answer(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                             "session " + call->envelope.session_id() + " moved to another process"));
        }
        try {
            reroute_later(call, std::chrono::milliseconds(0));
        } catch (const std::exception&) {
            call->answer(ack);
        }
    });
}

void RuntimeService::reroute_later(const std::shared_ptr<SendCall>& call, std::chrono::milliseconds delay) {
    route_work_.post([this, call, delay] {
        if (delay.count() > 0) std::this_thread::sleep_for(delay);
        dispatch_send(call);
    });
}

void RuntimeService::dispatch_send(const std::shared_ptr<SendCall>& call) {
    if (call->answered.load()) return;  // the deadline answered it meanwhile
    try {
        const auto& sid = call->envelope.session_id();
        if (++call->routes > kMaxRoutes || std::chrono::system_clock::now() >= call->expires) {
            return call->answer(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                             "session " + sid + ": no process of the cluster could take the message"));
        }
        // An unauthenticated caller is answered here (the kernel says so) without claiming a lease.
        if (!kernel_.authenticate(call->metadata)) return submit_local(call);
        auto route = info_.cluster->ownership.route(sid);
        switch (route.kind) {
            case cluster::Route::Local: return submit_local(call);
            case cluster::Route::Remote:
                if (call->from_peer) {
                    return call->answer(
                        grpc::Status(grpc::StatusCode::UNAVAILABLE, "session " + sid + " is served by " + route.owner));
                }
                return forward_send(call, route.address);
            case cluster::Route::Unavailable:
                if (route.store_failed) {
                    // As a single process answers a write the store refused (ERR-15): at once.
                    spdlog::warn("cluster: session {}: {}", sid, route.detail);
                    kernel::Ack ack;
                    ack.message_id = call->envelope.message_id();
                    ack.session_id = sid;
                    ack.error = kernel::Error(kernel::ErrorKind::StorageFailed, route.detail);
                    return call->answer(ack);
                }
                if (call->from_peer) return call->answer(grpc::Status(grpc::StatusCode::UNAVAILABLE, route.detail));
                spdlog::debug("cluster: {}; routing again", route.detail);
                return reroute_later(
                    call, std::clamp(route.retry_after, std::chrono::milliseconds(50), std::chrono::milliseconds(500)));
        }
    } catch (const std::exception& e) {
        spdlog::error("Send routing failed: {}", e.what());
        call->answer(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
    }
}

void RuntimeService::forward_send(const std::shared_ptr<SendCall>& call, const std::string& address) {
    auto& stub = info_.cluster->peers.stub(address);
    info_.cluster->forwarded_sends.fetch_add(1, std::memory_order_relaxed);
    call->client_ctx = forwarding_context(call->forward_md, info_.cluster->ownership.options().node_id, call->expires);
    *call->forward_req.mutable_envelope() = call->envelope;
    call->forward_resp.Clear();
    stub.async()->Send(call->client_ctx.get(), &call->forward_req, &call->forward_resp,
                       [this, call, address](const grpc::Status& status) {
                           if (status.ok()) {
                               if (!call->claim()) return;
                               call->deadline.release();
                               *call->resp = call->forward_resp;
                               return call->finish(grpc::Status::OK);
                           }
                           if (!reroute_after(status)) return call->answer(status);
                           info_.cluster->ownership.forget_remote(call->envelope.session_id());
                           spdlog::debug("cluster: forward to {} failed ({}); routing again", address,
                                         status.error_message());
                           try {
                               reroute_later(call, std::chrono::milliseconds(100));
                           } catch (const std::exception&) {
                               call->answer(status);
                           }
                       });
}

}  // namespace macp::service
