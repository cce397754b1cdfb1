#include "cluster/ownership.hpp"

#include <algorithm>
#include <functional>
#include <random>
#include <utility>

#include <spdlog/spdlog.h>

#include "kernel/records.hpp"

namespace macp::cluster {

namespace {

uint64_t random_incarnation() {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

uint32_t ttl_ms(std::chrono::milliseconds ttl) {
    return static_cast<uint32_t>(std::clamp<int64_t>(ttl.count(), 1, 3'600'000));
}

}  // namespace

std::string holder_name(const std::string& node_id, const std::string& address, uint64_t incarnation) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(incarnation));
    return node_id + "@" + address + "#" + hex;
}

std::string holder_address(const std::string& holder) {
    const auto at = holder.find('@');
    const auto hash = holder.rfind('#');
    if (at == std::string::npos || hash == std::string::npos || hash <= at + 1) return {};
    return holder.substr(at + 1, hash - at - 1);
}

Ownership::Ownership(ClusterOptions options, storage::StorageBackend& storage, kernel::Kernel& kernel)
    : options_(std::move(options)),
      storage_(storage),
      kernel_(kernel),
      holder_(holder_name(options_.node_id, options_.advertise_addr, random_incarnation())) {}

Ownership::~Ownership() {
    storage_.on_fenced({});  // the store may still refuse a write of the kernel's after this is gone
    {
        std::lock_guard lock(thread_mu_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Ownership::start() {
    // From here on only a lease holder writes a session (storage.h FENCING): a path that reached
    // the kernel without a route would be refused by the store instead of writing unfenced.
    storage_.require_fences(true);
    storage_.on_fenced([this](const std::string& id) { lost(id); });
    adopt_orphans();
    thread_ = std::thread([this] { run(); });
}

void Ownership::release_all() {
    {
        std::lock_guard lock(thread_mu_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::unordered_map<std::string, Held> held;
    {
        std::unique_lock lock(mu_);
        held.swap(owned_);
    }
    size_t released = 0;
    for (const auto& [id, h] : held) {
        if (storage_.release_lease(id, holder_, h.token)) ++released;
        storage_.set_fence(id, 0);
    }
    spdlog::info("cluster: released {} of {} session leases", released, held.size());
}

bool Ownership::owns(const std::string& session_id) const {
    std::shared_lock lock(mu_);
    return owned_.count(session_id) != 0;
}

size_t Ownership::owned_count() const {
    std::shared_lock lock(mu_);
    return owned_.size();
}

std::mutex& Ownership::claim_lock(const std::string& session_id) {
    return claim_mu_[std::hash<std::string>{}(session_id) % claim_mu_.size()];
}

Route Ownership::route(const std::string& session_id) {
    Route r;
    if (owns(session_id)) {
        r.kind = Route::Local;
        return r;
    }
    if (auto remote = known_remote(session_id)) return *remote;
    std::lock_guard claim(claim_lock(session_id));
    if (owns(session_id)) {  // claimed by the call we waited for
        r.kind = Route::Local;
        return r;
    }
    auto lease = storage_.acquire_lease(session_id, holder_, ttl_ms(options_.lease_ttl), 0);
    if (!lease) {
        r.detail = "cannot acquire the session's lease: " + lease.error().message;
        r.store_failed = true;
        return r;
    }
    if (!lease->granted) {
        r.address = holder_address(lease->holder);
        r.owner = lease->holder;
        if (r.address.empty() || r.address == options_.advertise_addr) {
            // An earlier incarnation of this very process (restarted at the same address) or a
            // holder that names no address: wait for its lease to run out.
            r.detail = "session " + session_id + " is held by " + lease->holder + " (lease expires in " +
                       std::to_string(lease->remaining_ms) + " ms)";
            r.retry_after = std::chrono::milliseconds(std::max<int64_t>(lease->remaining_ms, 0));
            r.address.clear();
            return r;
        }
        r.kind = Route::Remote;
        {
            std::lock_guard lock(remote_mu_);
            remote_[session_id] = Remote{
                r.address, r.owner,
                std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(std::clamp<int64_t>(lease->remaining_ms, 0, options_.lease_ttl.count()))};
        }
        return r;
    }
    forget_remote(session_id);
    storage_.set_fence(session_id, lease->token);
    // Rebuilt from what the store holds now: the previous owner's last acknowledged write is in
    // its log, and nothing it writes from now on can land (its token is stale). Only then does
    // owns() say yes: a call for the session that arrives meanwhile waits on the claim lock above
    // instead of reaching a kernel that does not have the session yet (where a SessionStart would
    // start it a second time).
    auto adopted = kernel_.adopt(session_id);
    if (!adopted) {
        storage_.set_fence(session_id, 0);
        if (auto st = storage_.release_lease(session_id, holder_, lease->token); !st) {
            spdlog::warn("cluster: cannot release the lease of session {}: {}", session_id, st.error().message);
        }
        r.detail = adopted.error();
        r.store_failed = true;
        spdlog::error("cluster: {}", adopted.error());
        return r;
    }
    {
        std::unique_lock lock(mu_);
        owned_[session_id] = Held{lease->token, std::chrono::steady_clock::now()};
    }
    if (*adopted) {
        takeovers_.fetch_add(1, std::memory_order_relaxed);
        spdlog::info("cluster: took over session {} (fencing token {})", session_id, lease->token);
    }
    r.kind = Route::Local;
    return r;
}

std::optional<Route> Ownership::known_remote(const std::string& session_id) const {
    std::lock_guard lock(remote_mu_);
    const auto found = remote_.find(session_id);
    if (found == remote_.end() || found->second.until <= std::chrono::steady_clock::now()) return std::nullopt;
    Route r;
    r.kind = Route::Remote;
    r.address = found->second.address;
    r.owner = found->second.owner;
    return r;
}

void Ownership::forget_remote(const std::string& session_id) {
    std::lock_guard lock(remote_mu_);
    remote_.erase(session_id);
}

void Ownership::forget(const std::string& session_id, bool release) {
    uint64_t token = 0;
    {
        std::unique_lock lock(mu_);
        auto it = owned_.find(session_id);
        if (it == owned_.end()) return;
        token = it->second.token;
        owned_.erase(it);
    }
    storage_.set_fence(session_id, 0);
    if (release) {
        if (auto st = storage_.release_lease(session_id, holder_, token); !st) {
            spdlog::warn("cluster: cannot release the lease of session {}: {}", session_id, st.error().message);
        }
    }
}

void Ownership::lost(const std::string& session_id) {
    // Runs on the storage thread: only bookkeeping here; the kernel forgets the session on the
    // background thread (it takes the session's lock).
    {
        std::unique_lock lock(mu_);
        if (owned_.erase(session_id) == 0) return;
        lost_.push_back(session_id);
    }
    losses_.fetch_add(1, std::memory_order_relaxed);
    storage_.set_fence(session_id, 0);
    spdlog::warn("cluster: lost session {}: the store refused a write of ours (another process holds it now)",
                 session_id);
    wake_.notify_all();
}

void Ownership::run() {
    auto next_adopt = std::chrono::steady_clock::now() + options_.adopt_interval;
    std::unique_lock lock(thread_mu_);
    while (!stop_) {
        wake_.wait_for(lock, options_.renew_interval);
        if (stop_) break;
        lock.unlock();
        try {
            tick();
            if (std::chrono::steady_clock::now() >= next_adopt) {
                adopt_orphans();
                next_adopt = std::chrono::steady_clock::now() + options_.adopt_interval;
            }
        } catch (const std::exception& e) {
            spdlog::error("cluster: lease upkeep failed: {}", e.what());
        }
        lock.lock();
    }
}

void Ownership::tick() {
    std::vector<std::string> lost;
    {
        std::unique_lock lock(mu_);
        lost.swap(lost_);
    }
    for (const auto& id : lost) {
        if (!owns(id)) kernel_.drop(id);  // unless it was claimed again meanwhile
    }
    {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(remote_mu_);
        std::erase_if(remote_, [&](const auto& kv) { return kv.second.until <= now; });
    }
    renew();
}

void Ownership::renew() {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, uint64_t>> held;
    std::vector<std::string> idle;
    {
        std::shared_lock lock(mu_);
        held.reserve(owned_.size());
        for (const auto& [id, h] : owned_) {
            // A claim younger than a lease is kept even before the kernel has the session (its
            // SessionStart may still be on its way); after that, only what the kernel holds.
            if (now - h.since > options_.lease_ttl && !kernel_.holds(id)) {
                idle.push_back(id);
            } else {
                held.emplace_back(id, h.token);
            }
        }
    }
    for (const auto& id : idle) forget(id, true);
    if (held.empty()) return;
    auto renewed = storage_.renew_leases(holder_, ttl_ms(options_.lease_ttl), held);
    if (!renewed) {
        // Not fatal by itself: a write of a session another process took over is refused by the
        // store, and the next renewal that gets through says which ones are gone.
        spdlog::warn("cluster: cannot renew {} session leases: {}", held.size(), renewed.error().message);
        return;
    }
    for (size_t i = 0; i < held.size() && i < renewed->size(); ++i) {
        if ((*renewed)[i]) continue;
        const auto& id = held[i].first;
        {
            std::unique_lock lock(mu_);
            auto it = owned_.find(id);
            if (it == owned_.end() || it->second.token != held[i].second) continue;
            owned_.erase(it);
        }
        storage_.set_fence(id, 0);
        kernel_.drop(id);
        losses_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("cluster: lost session {}: its lease went to another process", id);
    }
}

void Ownership::adopt_orphans() {
    // A session whose owner is gone must not wait for a client to touch it: its TTL still has to
    // expire on time. Each pass looks at the stored sessions this process does not serve, skips
    // the finished ones (their snapshot says so) and those another process held at the last look
    // until that lease could have run out, and takes over the rest.
    auto ids = storage_.list_session_ids();
    if (!ids) {
        spdlog::warn("cluster: cannot list the stored sessions: {}", ids.error().message);
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    std::unordered_set<std::string> present;
    size_t adopted = 0;
    for (const auto& id : *ids) {
        present.insert(id);
        if (finished_.count(id) != 0 || owns(id)) continue;
        if (auto it = held_elsewhere_.find(id); it != held_elsewhere_.end() && it->second > now) continue;
        auto snapshot = storage_.load_session(id);
        if (snapshot && snapshot->has_value()) {
            auto decoded = kernel::decode_snapshot(**snapshot, false);
            if (decoded && kernel::is_terminal(decoded->session.state)) {
                finished_.insert(id);
                continue;
            }
        }
        auto r = route(id);
        if (r.kind == Route::Local) {
            ++adopted;
            held_elsewhere_.erase(id);
        } else {
            const auto wait =
                r.kind == Route::Remote ? options_.lease_ttl : std::max(r.retry_after, std::chrono::milliseconds(100));
            held_elsewhere_[id] = now + wait;
        }
    }
    // Forget what the store no longer has, so that the memory stays bounded by what it holds.
    std::erase_if(finished_, [&](const std::string& id) { return present.count(id) == 0; });
    std::erase_if(held_elsewhere_, [&](const auto& kv) { return present.count(kv.first) == 0; });
    if (adopted > 0) spdlog::info("cluster: took over {} sessions nobody served", adopted);
}

}  // namespace macp::cluster
