#include "service/service_events.hpp"

#include "kernel/kernel.hpp"
#include "service/convert.hpp"

namespace macp::service {

namespace {
macp::v1::SessionLifecycleEvent::EventType wire_type(kernel::Lifecycle e) {
    using E = macp::v1::SessionLifecycleEvent;
    switch (e) {
        case kernel::Lifecycle::Created: return E::EVENT_TYPE_CREATED;
        case kernel::Lifecycle::Resolved: return E::EVENT_TYPE_RESOLVED;
        case kernel::Lifecycle::Expired: return E::EVENT_TYPE_EXPIRED;
        case kernel::Lifecycle::Suspended: return E::EVENT_TYPE_SUSPENDED;
        case kernel::Lifecycle::Resumed: return E::EVENT_TYPE_RESUMED;
        case kernel::Lifecycle::Cancelled: return E::EVENT_TYPE_CANCELLED;
    }
    return E::EVENT_TYPE_UNSPECIFIED;
}
}  // namespace

void ServiceEvents::on_lifecycle(kernel::Lifecycle event, const kernel::Session& session, int64_t observed_at_ms) {
    log_.on_lifecycle(event, session, observed_at_ms);
    macp::v1::SessionLifecycleEvent e;  // STR-WS-2
    e.set_event_type(wire_type(event));
    to_proto(session, e.mutable_session());
    e.set_observed_at_unix_ms(observed_at_ms);
    lifecycle.publish(e);
    if (auto* relay = relay_.load(std::memory_order_acquire)) relay->lifecycle(e);
}

void ServiceEvents::on_envelope(const macp::v1::Envelope& envelope, uint64_t sequence) {
    std::shared_ptr<Feed> f;
    {
        std::lock_guard lock(feeds_mu_);
        auto it = feeds_.find(envelope.session_id());
        // Checked now, under the session's lock: whoever attaches later attached at or above
        // this sequence and does not need this envelope.
        if (it == feeds_.end()) return;  // nobody follows this session
        f = it->second;
    }
    publisher_.publish(std::move(f), Sequenced{sequence, envelope});
}

std::shared_ptr<ServiceEvents::Feed> ServiceEvents::feed(const std::string& session_id) {
    std::lock_guard lock(feeds_mu_);
    auto& f = feeds_[session_id];
    if (!f) {
        f = std::make_shared<Feed>(256);  // STR-SS-12: per-subscriber buffer
        if (closed_) f->close_all();
    }
    return f;
}

void ServiceEvents::release(const std::string& session_id, const std::shared_ptr<Feed::Subscription>& sub) {
    std::lock_guard lock(feeds_mu_);
    auto it = feeds_.find(session_id);
    if (it == feeds_.end()) return;
    it->second->unsubscribe(sub);
    if (it->second->empty()) feeds_.erase(it);  // no per-session state left behind (STO-RET-3)
}

void ServiceEvents::on_signal(const macp::v1::Envelope& envelope) {
    signals.publish(envelope);  // SIG-4
    if (auto* relay = relay_.load(std::memory_order_acquire)) relay->signal(envelope);
}

void ServiceEvents::policies_changed() {
    policy_changes.publish(kernel::now_ms());
    if (auto* relay = relay_.load(std::memory_order_acquire)) relay->policies_changed();
}
void ServiceEvents::modes_changed() {
    mode_changes.publish(kernel::now_ms());
    if (auto* relay = relay_.load(std::memory_order_acquire)) relay->modes_changed();
}
void ServiceEvents::remote_policies_changed() {
    policy_changes.publish(kernel::now_ms());
}
void ServiceEvents::remote_modes_changed() {
    mode_changes.publish(kernel::now_ms());
}

void ServiceEvents::close_all() {
    publisher_.drain();  // envelopes accepted before shutdown still reach their subscribers
    lifecycle.close_all();
    signals.close_all();
    policy_changes.close_all();
    mode_changes.close_all();
    shutdown.close_all();
    // Closing runs the streams' ready hooks, which take their own locks; a stream attaches to a
    // feed while holding its lock, so the feeds are closed after feeds_mu_ is released.
    std::vector<std::shared_ptr<Feed>> feeds;
    {
        std::lock_guard lock(feeds_mu_);
        closed_ = true;
        for (auto& [id, f] : feeds_) feeds.push_back(f);
    }
    for (auto& f : feeds) f->close_all();
}

}  // namespace macp::service
