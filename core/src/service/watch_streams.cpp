// The server-streaming Watch* RPCs (BEHAVIOR.md §8.3). gRPC's synchronous API does not interrupt
// a running handler on Shutdown(), so every loop wakes at least every 200 ms to notice a cancelled
// call, and server shutdown closes every subscription so streams end promptly.
#include <chrono>
#include <set>

#include "kernel/kernel.hpp"
#include "service/convert.hpp"
#include "service/runtime_service.hpp"
#include "service/session_stream.hpp"

namespace macp::service {

namespace {

constexpr std::chrono::milliseconds kPoll{200};
const grpc::Status kUnauth(grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated");

// Delivers a subscription's items until the client goes away, the server shuts down, or the
// subscriber falls behind (0.6: RESOURCE_EXHAUSTED instead of the reference's silent close).
template <class T, class Deliver>
grpc::Status pump(grpc::ServerContext* ctx, Broadcast<T>& source,
                  const std::shared_ptr<typename Broadcast<T>::Subscription>& sub, Deliver&& deliver) {
    using Next = typename Broadcast<T>::Subscription::Next;
    T item;
    grpc::Status result = grpc::Status::OK;
    for (;;) {
        if (ctx->IsCancelled()) break;
        auto n = sub->next(item, kPoll);
        if (n == Next::Timeout) continue;
        if (n == Next::Closed) break;
        if (n == Next::Overflow) {
            result = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "subscriber fell behind; re-subscribe");
            break;
        }
        if (!deliver(item)) break;  // the client is gone
    }
    source.unsubscribe(sub);
    return result;
}

}  // namespace

grpc::ServerBidiReactor<macp::v1::StreamSessionRequest, macp::v1::StreamSessionResponse>* RuntimeService::StreamSession(
    grpc::CallbackServerContext* ctx) {
    return make_session_stream(ctx, kernel_, events_);
}

grpc::Status RuntimeService::WatchSessions(grpc::ServerContext* ctx, const macp::v1::WatchSessionsRequest*,
                                           grpc::ServerWriter<macp::v1::WatchSessionsResponse>* writer) {
    if (!kernel_.authenticate(metadata_of(*ctx))) return kUnauth;  // RPC-GEN-4
    // Subscribe before the initial sync so no transition between the two is missed.
    auto sub = events_.lifecycle.subscribe();
    std::set<std::string> synced;
    for (const auto& s : kernel_.list_sessions()) {  // STR-WS-1
        macp::v1::WatchSessionsResponse r;
        auto* e = r.mutable_event();
        e->set_event_type(macp::v1::SessionLifecycleEvent::EVENT_TYPE_CREATED);
        to_proto(s, e->mutable_session());
        e->set_observed_at_unix_ms(s.started_at_ms);
        if (!writer->Write(r)) {
            events_.lifecycle.unsubscribe(sub);
            return grpc::Status::OK;
        }
        synced.insert(s.session_id);
    }
    return pump(ctx, events_.lifecycle, sub, [&](const macp::v1::SessionLifecycleEvent& e) {
        // 0.6: a session's CREATED is reported once, not by both the sync and the live feed.
        if (e.event_type() == macp::v1::SessionLifecycleEvent::EVENT_TYPE_CREATED &&
            synced.count(e.session().session_id()) != 0) {
            return true;
        }
        macp::v1::WatchSessionsResponse r;
        *r.mutable_event() = e;
        return writer->Write(r);
    });
}

grpc::Status RuntimeService::WatchSignals(grpc::ServerContext* ctx, const macp::v1::WatchSignalsRequest*,
                                          grpc::ServerWriter<macp::v1::WatchSignalsResponse>* writer) {
    if (!kernel_.authenticate(metadata_of(*ctx))) return kUnauth;  // RPC-SIG-AUTH-1 (0.6)
    auto sub = events_.signals.subscribe();
    return pump(ctx, events_.signals, sub, [&](const macp::v1::Envelope& env) {  // STR-SIG-1
        macp::v1::WatchSignalsResponse r;
        *r.mutable_envelope() = env;
        return writer->Write(r);
    });
}

grpc::Status RuntimeService::WatchModeRegistry(grpc::ServerContext* ctx, const macp::v1::WatchModeRegistryRequest*,
                                               grpc::ServerWriter<macp::v1::WatchModeRegistryResponse>* writer) {
    auto sub = events_.mode_changes.subscribe();
    auto send = [&](int64_t at) {  // STR-WMR-1
        macp::v1::WatchModeRegistryResponse r;
        r.mutable_change()->set_registry("modes");
        r.mutable_change()->set_observed_at_unix_ms(at);
        return writer->Write(r);
    };
    if (!send(kernel::now_ms())) {
        events_.mode_changes.unsubscribe(sub);
        return grpc::Status::OK;
    }
    return pump(ctx, events_.mode_changes, sub, send);
}

grpc::Status RuntimeService::WatchRoots(grpc::ServerContext* ctx, const macp::v1::WatchRootsRequest*,
                                        grpc::ServerWriter<macp::v1::WatchRootsResponse>* writer) {
    auto sub = events_.shutdown.subscribe();
    macp::v1::WatchRootsResponse r;  // STR-WR-1: one notice, then idle (roots never change)
    r.mutable_change()->set_observed_at_unix_ms(kernel::now_ms());
    if (!writer->Write(r)) {
        events_.shutdown.unsubscribe(sub);
        return grpc::Status::OK;
    }
    return pump(ctx, events_.shutdown, sub, [](int64_t) { return true; });
}

grpc::Status RuntimeService::WatchPolicies(grpc::ServerContext* ctx, const macp::v1::WatchPoliciesRequest*,
                                           grpc::ServerWriter<macp::v1::WatchPoliciesResponse>* writer) {
    auto sub = events_.policy_changes.subscribe();
    auto send = [&](int64_t at) {  // STR-WP-1: the full sorted list every time
        macp::v1::WatchPoliciesResponse r;
        for (const auto& p : policies_.list()) {
            auto* d = r.add_descriptors();
            d->set_policy_id(p.policy_id);
            d->set_mode(p.mode);
            d->set_description(p.description);
            d->set_rules(p.rules);
            d->set_schema_version(p.schema_version);
            d->set_registered_at_unix_ms(p.registered_at_ms);
        }
        r.set_observed_at_unix_ms(at);
        return writer->Write(r);
    };
    if (!send(kernel::now_ms())) {
        events_.policy_changes.unsubscribe(sub);
        return grpc::Status::OK;
    }
    return pump(ctx, events_.policy_changes, sub, send);
}

}  // namespace macp::service
