#include "service/cluster_stream.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "kernel/session_id.hpp"
#include "service/convert.hpp"

namespace macp::service {

namespace {

using Request = macp::v1::StreamSessionRequest;
using Response = macp::v1::StreamSessionResponse;

class Relay;

// The client side of the relay: the stream to the owner.
class Upstream final : public grpc::ClientBidiReactor<Request, Response> {
public:
    explicit Upstream(Relay& relay) : relay_(relay) {}
    void OnWriteDone(bool ok) override;
    void OnReadDone(bool ok) override;
    void OnWritesDoneDone(bool /*ok*/) override {}
    void OnDone(const grpc::Status& status) override;

    grpc::ClientContext context;
    Request outgoing;
    Response incoming;

private:
    Relay& relay_;
};

// The server side: the caller's stream. Deletes itself once both sides are done.
class Relay final : public grpc::ServerBidiReactor<Request, Response> {
public:
    Relay(grpc::CallbackServerContext* ctx, kernel::Kernel& kernel, ClusterLink& cluster, BlockingWork& work,
          std::chrono::seconds route_limit)
        : cluster_(cluster), work_(work), route_limit_(route_limit), upstream_(*this) {
        if (!kernel.authenticate(metadata_of(*ctx, kernel.needs_peer_identity()))) {  // RPC-STREAM-1
            Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated"));
            upstream_done_ = true;  // never started
            return;
        }
        metadata_ = forwardable_metadata(*ctx);
        StartRead(&request_);
    }

    void OnReadDone(bool ok) override {
        std::unique_lock lock(mu_);
        if (!ok) {  // the caller half-closed (or went away)
            if (connected_) {
                upstream_.StartWritesDone();
            } else {
                finish_locked(grpc::Status::OK);
            }
            return;
        }
        if (connected_) {
            upstream_.outgoing = request_;
            upstream_.StartWrite(&upstream_.outgoing);
            return;
        }
        // The first request names the session: route it off the gRPC thread (it may wait for the store).
        connecting_ = true;
        lock.unlock();
        try {
            work_.post([this] { connect(); });
        } catch (const std::exception& e) {
            lock.lock();
            connecting_ = false;
            finish_locked(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
        }
    }

    void OnCancel() override {
        std::lock_guard lock(mu_);
        cancelled_ = true;
        if (connected_) {
            upstream_.context.TryCancel();  // its OnDone finishes this side
        } else if (!connecting_) {
            finish_locked(grpc::Status::CANCELLED);
        }
    }

    void OnWriteDone(bool ok) override {
        std::lock_guard lock(mu_);
        if (!ok) {
            upstream_.context.TryCancel();
            return;
        }
        upstream_.StartRead(&upstream_.incoming);
    }

    void OnDone() override {
        std::unique_lock lock(mu_);
        server_done_ = true;
        if (connected_ && !upstream_done_) upstream_.context.TryCancel();
        maybe_delete(lock);
    }

    // ---- called by Upstream ----
    void upstream_wrote(bool ok) {
        std::lock_guard lock(mu_);
        if (ok && !finishing_) StartRead(&request_);
    }
    void upstream_read(bool ok) {
        std::lock_guard lock(mu_);
        if (!ok || finishing_) return;  // the owner ended its side: its status comes in OnDone
        response_ = upstream_.incoming;
        StartWrite(&response_);
    }
    void upstream_done(const grpc::Status& status) {
        std::unique_lock lock(mu_);
        upstream_done_ = true;
        if (!server_done_) finish_locked(status);
        maybe_delete(lock);
    }

private:
    void connect() {
        connect_once();
        std::unique_lock lock(mu_);
        connecting_ = false;
        if (!connected_ && !finishing_) finish_locked(grpc::Status::CANCELLED);  // the caller went away meanwhile
        maybe_delete(lock);
    }

    void connect_once() {
        const auto& first = request_;
        const std::string sid = first.has_envelope() ? first.envelope().session_id() : first.subscribe_session_id();
        auto& own = cluster_.ownership;
        std::string address = own.options().advertise_addr;  // sessionless: served here (it answers the error)
        const auto until = std::chrono::steady_clock::now() + route_limit_;
        // Without a well-formed session id the stream is answered here (the error a single process gives).
        while (kernel::valid_session_id(sid)) {
            if (cancelled()) return;
            auto route = own.route(sid);
            if (route.kind == cluster::Route::Remote) {
                address = route.address;
                break;
            }
            if (route.kind == cluster::Route::Local) break;
            if (route.store_failed || std::chrono::steady_clock::now() >= until) {
                std::lock_guard lock(mu_);
                return finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, route.detail));
            }
            std::this_thread::sleep_for(
                std::clamp(route.retry_after, std::chrono::milliseconds(50), std::chrono::milliseconds(500)));
        }
        std::lock_guard lock(mu_);
        if (finishing_ || cancelled_) return;
        for (const auto& [k, v] : metadata_) upstream_.context.AddMetadata(k, v);
        upstream_.context.AddMetadata(kForwardedHeader, own.options().node_id);
        cluster_.peers.stub(address).async()->StreamSession(&upstream_.context, &upstream_);
        cluster_.relayed_streams.fetch_add(1, std::memory_order_relaxed);
        connected_ = true;
        upstream_.outgoing = request_;
        upstream_.StartWrite(&upstream_.outgoing);
        upstream_.StartRead(&upstream_.incoming);
        upstream_.StartCall();
    }

    bool cancelled() {
        std::lock_guard lock(mu_);
        return finishing_ || cancelled_;
    }

    void finish_locked(const grpc::Status& status) {
        if (finishing_) return;
        finishing_ = true;
        Finish(status);
    }

    void maybe_delete(std::unique_lock<std::mutex>& lock) {
        if (!server_done_ || connecting_ || (connected_ && !upstream_done_)) return;
        lock.unlock();
        delete this;  // NOLINT(cppcoreguidelines-owning-memory): the callback API's self-owned reactor
    }

    ClusterLink& cluster_;
    BlockingWork& work_;
    const std::chrono::seconds route_limit_;
    std::vector<std::pair<std::string, std::string>> metadata_;
    std::mutex mu_;
    Request request_;
    Response response_;
    bool connecting_ = false;  // connect() is running on the route pool: not deleted meanwhile
    bool cancelled_ = false;
    bool connected_ = false;
    bool finishing_ = false;
    bool server_done_ = false;
    bool upstream_done_ = false;
    Upstream upstream_;
};

void Upstream::OnWriteDone(bool ok) {
    relay_.upstream_wrote(ok);
}
void Upstream::OnReadDone(bool ok) {
    relay_.upstream_read(ok);
}
void Upstream::OnDone(const grpc::Status& status) {
    relay_.upstream_done(status);
}

}  // namespace

grpc::ServerBidiReactor<Request, Response>* make_cluster_stream(grpc::CallbackServerContext* ctx,
                                                                kernel::Kernel& kernel, ClusterLink& cluster,
                                                                BlockingWork& route_work,
                                                                std::chrono::seconds route_limit) {
    return new Relay(ctx, kernel, cluster, route_work, route_limit);  // NOLINT(cppcoreguidelines-owning-memory)
}

}  // namespace macp::service
