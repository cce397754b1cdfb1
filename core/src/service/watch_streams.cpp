// The server-streaming Watch* RPCs (BEHAVIOR.md §8.3) as callback reactors (service/watch_reactor.hpp,
// issue #13): no thread and no polling per open stream. Every stream holds a slot of its caller's
// stream cap (service/stream_limits.hpp) until it ends.
#include <memory>
#include <optional>

#include "kernel/kernel.hpp"
#include "service/cluster_stream.hpp"
#include "service/convert.hpp"
#include "service/runtime_service.hpp"
#include "service/session_stream.hpp"
#include "service/watch_reactor.hpp"

namespace macp::service {

namespace {

const grpc::Status kUnauth(grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated");
// 0.6 ends a lagging Watch* subscriber with RESOURCE_EXHAUSTED instead of the reference's silent close.
constexpr const char* kFellBehind = "subscriber fell behind; re-subscribe";

// Runs `open` and turns an exception into a refused call: exceptions never cross a gRPC handler.
template <class Response, class Open>
grpc::ServerWriteReactor<Response>* guarded(Open&& open) {
    try {
        return open();
    } catch (const std::exception& e) {
        return refuse_watch<Response>(grpc::Status(grpc::StatusCode::INTERNAL, e.what()));
    }
}

macp::v1::WatchPoliciesResponse policies_message(const policy::PolicyRegistry& policies, int64_t at) {
    macp::v1::WatchPoliciesResponse r;  // STR-WP-1: the full sorted list every time
    for (const auto& p : policies.list()) {
        auto* d = r.add_descriptors();
        d->set_policy_id(p.policy_id);
        d->set_mode(p.mode);
        d->set_description(p.description);
        d->set_rules(p.rules);
        d->set_schema_version(p.schema_version);
        d->set_registered_at_unix_ms(p.registered_at_ms);
    }
    r.set_observed_at_unix_ms(at);
    return r;
}

macp::v1::WatchModeRegistryResponse modes_message(int64_t at) {
    macp::v1::WatchModeRegistryResponse r;  // STR-WMR-1
    r.mutable_change()->set_registry("modes");
    r.mutable_change()->set_observed_at_unix_ms(at);
    return r;
}

// The caller's stream slot for the watches that need no token (RPC-GEN-3): an authenticated
// caller counts as its sender, anyone else (no or unusable credentials, which these RPCs ignore)
// against the shared anonymous pool.
Result<StreamLimits::Lease, grpc::Status> open_slot(kernel::Kernel& kernel, ServiceEvents& events,
                                                    const grpc::CallbackServerContext& ctx) {
    auto id = kernel.authenticate(metadata_of(ctx, kernel.needs_peer_identity()));
    return events.stream_limits.acquire(id ? std::optional<std::string>(id->sender) : std::nullopt);
}

}  // namespace

grpc::ServerBidiReactor<macp::v1::StreamSessionRequest, macp::v1::StreamSessionResponse>* RuntimeService::StreamSession(
    grpc::CallbackServerContext* ctx) {
    // Cluster mode: relayed to the session's owner, where the call arrives marked as forwarded.
    if (info_.cluster != nullptr && !is_forwarded(*ctx)) {
        return make_cluster_stream(ctx, kernel_, *info_.cluster, route_work_,
                                   std::chrono::seconds(info_.request_timeout_secs));
    }
    return make_session_stream(ctx, kernel_, events_, stream_reads_);
}

grpc::ServerWriteReactor<macp::v1::WatchSessionsResponse>* RuntimeService::WatchSessions(
    grpc::CallbackServerContext* ctx, const macp::v1::WatchSessionsRequest*) {
    using Response = macp::v1::WatchSessionsResponse;
    using Event = macp::v1::SessionLifecycleEvent;
    return guarded<Response>([&]() -> grpc::ServerWriteReactor<Response>* {
        auto id = kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity()));
        if (!id) return refuse_watch<Response>(kUnauth);  // RPC-GEN-4
        auto lease = events_.stream_limits.acquire(id->sender);
        if (!lease) return refuse_watch<Response>(lease.error());
        using Reactor = WatchReactor<Response, Event>;
        // Subscribed now; the initial sync follows from the snapshot worker (session_snapshots.hpp).
        auto* reactor = new Reactor(events_.lifecycle, {.lease = std::move(*lease),  // NOLINT: freed in OnDone
                                                        .overflow_message = kFellBehind,
                                                        .deferred = true});
        auto sync = [handle = reactor->handle()](std::optional<SessionSnapshot> snapshot) {
            if (!snapshot) {
                handle.fail(grpc::Status(grpc::StatusCode::INTERNAL, "cannot list the sessions"));
                return;
            }
            // STR-WS-1: one CREATED per session in memory, stamped with its start, converted as the
            // write queue drains rather than all at once.
            auto initial = [sessions = snapshot->sessions, next = size_t{0}](Response& out) mutable {
                if (next >= sessions->size()) return false;
                const auto& s = (*sessions)[next++];
                auto* e = out.mutable_event();
                e->set_event_type(Event::EVENT_TYPE_CREATED);
                to_proto(s, e->mutable_session());
                e->set_observed_at_unix_ms(s.started_at_ms);
                return true;
            };
            auto live = [synced = snapshot->ids](Event& e, Response& out) {  // STR-WS-2
                // 0.6 (STR-WS-1): a session's CREATED is reported once, not by both the sync and the live feed.
                if (e.event_type() == Event::EVENT_TYPE_CREATED && synced->count(e.session().session_id()) != 0) {
                    return false;
                }
                *out.mutable_event() = std::move(e);
                return true;
            };
            handle.begin(std::move(initial), std::move(live));
        };
        try {
            session_snapshots_.request(std::move(sync));
        } catch (const std::exception& e) {  // no worker thread: the reactor is gRPC's already, end it
            reactor->handle().fail(grpc::Status(grpc::StatusCode::INTERNAL, e.what()));
        }
        return reactor;
    });
}

grpc::ServerWriteReactor<macp::v1::WatchSignalsResponse>* RuntimeService::WatchSignals(
    grpc::CallbackServerContext* ctx, const macp::v1::WatchSignalsRequest*) {
    using Response = macp::v1::WatchSignalsResponse;
    return guarded<Response>([&]() -> grpc::ServerWriteReactor<Response>* {
        auto id = kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity()));
        if (!id) return refuse_watch<Response>(kUnauth);  // RPC-SIG-AUTH-1 (0.6)
        auto lease = events_.stream_limits.acquire(id->sender);
        if (!lease) return refuse_watch<Response>(lease.error());
        return new WatchReactor<Response, macp::v1::Envelope>(  // NOLINT: freed in OnDone
            events_.signals, {.lease = std::move(*lease),
                              .overflow_message = kFellBehind,
                              .convert = [](macp::v1::Envelope& env, Response& out) {  // STR-SIG-1: no history
                                  *out.mutable_envelope() = std::move(env);
                                  return true;
                              }});
    });
}

grpc::ServerWriteReactor<macp::v1::WatchModeRegistryResponse>* RuntimeService::WatchModeRegistry(
    grpc::CallbackServerContext* ctx, const macp::v1::WatchModeRegistryRequest*) {
    using Response = macp::v1::WatchModeRegistryResponse;
    return guarded<Response>([&]() -> grpc::ServerWriteReactor<Response>* {
        auto lease = open_slot(kernel_, events_, *ctx);  // RPC-GEN-3: no credentials needed
        if (!lease) return refuse_watch<Response>(lease.error());
        return new WatchReactor<Response, int64_t>(  // NOLINT: freed in OnDone
            events_.mode_changes, {.lease = std::move(*lease),
                                   .overflow_message = kFellBehind,
                                   .initial = once(modes_message(kernel::now_ms())),
                                   .convert = [](int64_t& at, Response& out) {
                                       out = modes_message(at);
                                       return true;
                                   }});
    });
}

grpc::ServerWriteReactor<macp::v1::WatchRootsResponse>* RuntimeService::WatchRoots(grpc::CallbackServerContext* ctx,
                                                                                   const macp::v1::WatchRootsRequest*) {
    using Response = macp::v1::WatchRootsResponse;
    return guarded<Response>([&]() -> grpc::ServerWriteReactor<Response>* {
        auto lease = open_slot(kernel_, events_, *ctx);  // RPC-GEN-3: no credentials needed
        if (!lease) return refuse_watch<Response>(lease.error());
        Response r;  // STR-WR-1: one notice, then idle (roots never change) until shutdown
        r.mutable_change()->set_observed_at_unix_ms(kernel::now_ms());
        return new WatchReactor<Response, int64_t>(  // NOLINT: freed in OnDone
            events_.shutdown, {.lease = std::move(*lease), .overflow_message = kFellBehind, .initial = once(r)});
    });
}

grpc::ServerWriteReactor<macp::v1::WatchPoliciesResponse>* RuntimeService::WatchPolicies(
    grpc::CallbackServerContext* ctx, const macp::v1::WatchPoliciesRequest*) {
    using Response = macp::v1::WatchPoliciesResponse;
    return guarded<Response>([&]() -> grpc::ServerWriteReactor<Response>* {
        auto lease = open_slot(kernel_, events_, *ctx);  // RPC-GEN-3: no credentials needed
        if (!lease) return refuse_watch<Response>(lease.error());
        return new WatchReactor<Response, int64_t>(  // NOLINT: freed in OnDone
            events_.policy_changes, {.lease = std::move(*lease),
                                     .overflow_message = kFellBehind,
                                     .initial = once(policies_message(policies_, kernel::now_ms())),
                                     .convert = [this](int64_t& at, Response& out) {
                                         out = policies_message(policies_, at);
                                         return true;
                                     }});
    });
}

}  // namespace macp::service
