#include "service/cluster_events.hpp"

#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace macp::service {

namespace {

constexpr const char* kChannel = "events";
// Bounded: a store that cannot keep up loses events (pub/sub is at most once anyway), never memory.
constexpr size_t kMaxQueued = 65'536;
constexpr size_t kBatch = 256;

// A frame: kind (1 byte), origin length (1 byte), origin, payload.
enum Kind : char { kLifecycle = 'L', kSignal = 'S', kPolicies = 'P', kModes = 'M' };

}  // namespace

ClusterEvents::ClusterEvents(storage::StorageBackend& storage, ServiceEvents& events, modes::ModeRegistry& modes,
                             policy::PolicyRegistry& policies, std::string origin)
    : storage_(storage), events_(events), modes_(modes), policies_(policies), origin_(std::move(origin)) {}

ClusterEvents::~ClusterEvents() {
    events_.set_relay(nullptr);
    subscription_.reset();
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (publisher_.joinable()) publisher_.join();
}

Result<void, std::string> ClusterEvents::start() {
    if (!storage_.supports_events()) {
        return fail("storage backend " + storage_.name() + " has no events (plugin ABI 1.2 publish/subscribe_events)");
    }
    storage::StorageBackend::EventHandlers handlers;
    handlers.deliver = [this](std::string_view frame) { receive(frame); };
    handlers.state = [this, lost = false](bool connected, const std::string& detail) mutable {
        if (!connected) {
            lost = true;
            spdlog::warn("cluster: {}; events of the other processes are missed until it is back", detail);
        } else if (lost) {
            lost = false;
            spdlog::info("cluster: {}", detail);
            reload_registries();  // registry changes made meanwhile
        }
    };
    auto sub = storage_.subscribe_events(kChannel, handlers);
    if (!sub) return fail("cannot subscribe to the cluster's events: " + sub.error().message);
    subscription_ = std::move(sub.value());
    publisher_ = std::thread([this] { run(); });
    events_.set_relay(this);
    return {};
}

void ClusterEvents::enqueue(char kind, const std::string& payload) {
    std::string frame;
    frame.reserve(2 + origin_.size() + payload.size());
    frame.push_back(kind);
    frame.push_back(static_cast<char>(origin_.size()));
    frame += origin_;
    frame += payload;
    {
        std::lock_guard lock(mu_);
        if (queue_.size() >= kMaxQueued) {
            ++dropped_;
            return;
        }
        queue_.push_back(std::move(frame));
    }
    cv_.notify_one();
}

void ClusterEvents::lifecycle(const macp::v1::SessionLifecycleEvent& event) {
    enqueue(kLifecycle, event.SerializeAsString());
}
void ClusterEvents::signal(const macp::v1::Envelope& envelope) {
    enqueue(kSignal, envelope.SerializeAsString());
}
void ClusterEvents::policies_changed() {
    enqueue(kPolicies, {});
}
void ClusterEvents::modes_changed() {
    enqueue(kModes, {});
}

uint64_t ClusterEvents::dropped() const {
    std::lock_guard lock(mu_);
    return dropped_;
}

void ClusterEvents::run() {
    std::vector<std::string> batch;
    std::unique_lock lock(mu_);
    while (true) {
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) break;  // stopping, and everything is out
        while (!queue_.empty() && batch.size() < kBatch) {
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
        lock.unlock();
        if (auto st = storage_.publish_events(kChannel, batch); !st) {
            spdlog::warn("cluster: {} events not published to the other processes: {}", batch.size(),
                         st.error().message);
            std::lock_guard count(mu_);
            dropped_ += batch.size();
        } else {
            published_.fetch_add(batch.size(), std::memory_order_relaxed);
        }
        batch.clear();
        lock.lock();
    }
}

void ClusterEvents::receive(std::string_view frame) {
    if (frame.size() < 2) return;
    const auto origin_len = static_cast<unsigned char>(frame[1]);
    if (frame.size() < 2 + static_cast<size_t>(origin_len)) return;
    if (frame.substr(2, origin_len) == origin_) return;  // our own, already delivered here
    received_.fetch_add(1, std::memory_order_relaxed);
    const std::string_view payload = frame.substr(2 + origin_len);
    switch (frame[0]) {
        case kLifecycle: {
            macp::v1::SessionLifecycleEvent e;
            if (e.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) events_.remote_lifecycle(e);
            break;
        }
        case kSignal: {
            macp::v1::Envelope env;
            if (env.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) events_.remote_signal(env);
            break;
        }
        case kPolicies:
            if (!policies_.read_only()) {
                if (auto r = policies_.reload(); !r) spdlog::warn("cluster: {}", r.error());
            }
            events_.remote_policies_changed();
            break;
        case kModes:
            if (auto r = modes_.reload(); !r) spdlog::warn("cluster: {}", r.error());
            events_.remote_modes_changed();
            break;
        default: break;
    }
}

void ClusterEvents::reload_registries() {
    if (!policies_.read_only()) {
        if (auto r = policies_.reload(); !r) spdlog::warn("cluster: {}", r.error());
    }
    if (auto r = modes_.reload(); !r) spdlog::warn("cluster: {}", r.error());
}

}  // namespace macp::service
