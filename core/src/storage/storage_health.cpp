#include "storage/storage_health.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "util/log_setup.hpp"

namespace macp::storage {
StorageHealthMonitor::StorageHealthMonitor(StorageBackend& backend, HealthMonitorOptions options)
    : backend_(backend), options_(options), name_(backend.name()) {
    check();
    thread_ = std::thread([this] { run(); });
}

StorageHealthMonitor::~StorageHealthMonitor() {
    stop();
}

void StorageHealthMonitor::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    std::call_once(joined_, [this] {
        if (thread_.joinable()) thread_.join();
    });
}

bool StorageHealthMonitor::healthy() const {
    std::lock_guard lock(mu_);
    return state_.healthy;
}

std::string StorageHealthMonitor::reason() const {
    std::lock_guard lock(mu_);
    return state_.reason;
}

HealthSnapshot StorageHealthMonitor::snapshot() const {
    std::lock_guard lock(mu_);
    return state_;
}

uint64_t StorageHealthMonitor::checks() const {
    std::lock_guard lock(mu_);
    return checks_;
}

void StorageHealthMonitor::poke() {
    {
        std::lock_guard lock(mu_);
        if (poked_ || stopping_) return;  // one wake-up covers any number of failures
        poked_ = true;
    }
    cv_.notify_all();
}

void StorageHealthMonitor::run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        auto due = last_check_ + options_.interval;
        if (poked_) due = std::min(due, last_check_ + options_.min_recheck);
        if (std::chrono::steady_clock::now() < due) {
            cv_.wait_until(lock, due);  // a poke or stop() wakes it; the loop re-evaluates
            continue;
        }
        poked_ = false;
        lock.unlock();
        check();
        lock.lock();
    }
}

void StorageHealthMonitor::check() {
    bool healthy = true;
    std::string reason;
    try {
        auto result = backend_.health();
        if (result) {
            reason = std::move(result.value());
        } else if (result.error().status == kStatusUnsupported) {
            reason = "health not reported";
        } else {
            healthy = false;
            reason = std::move(result.error().message);
            if (reason.empty()) reason = "health check failed (status " + std::to_string(result.error().status) + ")";
        }
    } catch (const std::exception& e) {  // the interface returns errors as values; be safe anyway
        healthy = false;
        reason = std::string("health check failed: ") + e.what();
    }

    bool changed = false;
    {
        std::lock_guard lock(mu_);
        ++checks_;
        last_check_ = std::chrono::steady_clock::now();
        changed = state_.healthy != healthy;
        state_.healthy = healthy;
        state_.reason = reason;
        if (changed) ++state_.transitions;
    }
    if (!changed) return;
    if (healthy) {
        util::log_target(util::kStorageTarget)
            .info("storage {} is writable again; health is SERVING: {}", name_, reason);
    } else {
        util::log_target(util::kStorageTarget)
            .error("storage {} cannot write; health is NOT_SERVING and writes fail until it recovers: {}", name_,
                   reason);
    }
    notify_listeners();
}

void StorageHealthMonitor::notify_listeners() {
    std::lock_guard lock(listeners_mu_);
    for (auto& listener : listeners_) {
        try {
            listener();
        } catch (const std::exception& e) {
            util::log_target(util::kStorageTarget).warn("storage health listener failed: {}", e.what());
        }
    }
}

StorageHealthMonitor::Subscription StorageHealthMonitor::subscribe(Listener listener) {
    std::lock_guard lock(listeners_mu_);
    listeners_.push_back(std::move(listener));
    return Subscription(this, std::prev(listeners_.end()));
}

StorageHealthMonitor::Subscription::Subscription(Subscription&& other) noexcept
    : monitor_(std::exchange(other.monitor_, nullptr)), it_(other.it_) {}

StorageHealthMonitor::Subscription& StorageHealthMonitor::Subscription::operator=(Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        monitor_ = std::exchange(other.monitor_, nullptr);
        it_ = other.it_;
    }
    return *this;
}

void StorageHealthMonitor::Subscription::reset() {
    if (monitor_ == nullptr) return;
    std::lock_guard lock(monitor_->listeners_mu_);
    monitor_->listeners_.erase(it_);
    monitor_ = nullptr;
}

// --- HealthReportingStorage ----------------------------------------------------------------------

Status HealthReportingStorage::create_session_storage(const std::string& session_id) {
    return watched(inner_.create_session_storage(session_id));
}

Status HealthReportingStorage::save_session(const std::string& session_id, std::string_view snapshot) {
    return watched(inner_.save_session(session_id, snapshot));
}

Status HealthReportingStorage::delete_session(const std::string& session_id) {
    return watched(inner_.delete_session(session_id));
}

Status HealthReportingStorage::append_log_entry(const std::string& session_id, std::string_view record) {
    return watched(inner_.append_log_entry(session_id, record));
}

std::vector<Status> HealthReportingStorage::append_log_batch(const std::vector<LogAppend>& items) {
    auto statuses = inner_.append_log_batch(items);
    const bool failed = statuses.size() < items.size() ||
                        std::any_of(statuses.begin(), statuses.end(),
                                    [](const Status& s) { return !s.ok() && s.error().status != kStatusFenced; });
    if (failed) monitor_.poke();
    return statuses;
}

Status HealthReportingStorage::put_record(const std::string& ns, const std::string& key, std::string_view blob) {
    return watched(inner_.put_record(ns, key, blob));
}

Status HealthReportingStorage::delete_record(const std::string& ns, const std::string& key) {
    return watched(inner_.delete_record(ns, key));
}

Status HealthReportingStorage::replace_log(const std::string& session_id, const std::vector<std::string>& records) {
    return watched(inner_.replace_log(session_id, records));
}

Status HealthReportingStorage::flush() {
    return watched(inner_.flush());
}

}  // namespace macp::storage
