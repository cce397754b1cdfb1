#include "jwks_cache.hpp"

#include <algorithm>
#include <exception>
#include <utility>

namespace macp::auth_jwt {
namespace {

using macp::sdk::Error;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string secs(std::chrono::steady_clock::duration d) {
    return std::to_string(duration_cast<seconds>(d).count()) + " s";
}

// Time left until a wall-clock deadline (0 = none: nullopt).
std::optional<milliseconds> left_until(int64_t deadline_unix_ms) {
    if (deadline_unix_ms == 0) return std::nullopt;
    const auto now_ms = duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return milliseconds(deadline_unix_ms - now_ms);
}

}  // namespace

JwksCache::JwksCache(Options options, Fetcher fetcher) : options_(std::move(options)), fetcher_(std::move(fetcher)) {
    if (!options_.clock) options_.clock = [] { return std::chrono::steady_clock::now(); };
    options_.min_refetch = std::min(options_.min_refetch, options_.ttl);
}

JwksCache::State JwksCache::snapshot() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return state_;
}

bool JwksCache::can_attempt(const State& s, TimePoint t) const {
    return !s.last_attempt || t - *s.last_attempt >= options_.min_refetch;
}

std::shared_ptr<const KeySet> JwksCache::usable(const State& s, TimePoint t) const {
    if (s.keys && t - s.fetched_at < options_.ttl + options_.grace) return s.keys;
    std::string why = "JWKS from " + options_.source + " unavailable: ";
    why += s.keys ? "the last good key set is " + secs(t - s.fetched_at) + " old (TTL " +
                        std::to_string(options_.ttl.count()) + " s + grace " + std::to_string(options_.grace.count()) +
                        " s passed)"
                  : "no key set fetched yet";
    if (!s.last_error.empty()) why += "; last attempt: " + s.last_error;
    throw Error(MACP_STATUS_UNAVAILABLE, why);
}

bool JwksCache::fetch(TimePoint t, milliseconds timeout) {
    {
        const std::lock_guard<std::mutex> lock(mu_);
        state_.last_attempt = t;
        ++state_.attempts;
    }
    std::string error;
    macp_status status = MACP_STATUS_UNAVAILABLE;
    try {
        auto set = std::make_shared<const KeySet>(parse_jwks(fetcher_(timeout)));
        for (const auto& line : set->skipped) options_.logger.warn(line);
        {
            const std::lock_guard<std::mutex> lock(mu_);
            state_.keys = set;
            state_.fetched_at = now();
            state_.last_error.clear();
            state_.last_status = MACP_STATUS_OK;
        }
        options_.logger.info("JWKS fetched from " + options_.source + ": " + set->summary());
        return true;
    } catch (const Error& e) {
        error = e.what();
        status = e.status();
    } catch (const std::exception& e) {
        error = e.what();
    }
    State s;
    {
        const std::lock_guard<std::mutex> lock(mu_);
        state_.last_error = error;
        state_.last_status = status;
        s = state_;
    }
    const TimePoint n = now();
    if (s.keys && n - s.fetched_at < options_.ttl + options_.grace) {
        options_.logger.warn("JWKS refresh from " + options_.source + " failed (" + error +
                             "); serving stale cached keys within the grace window (age " + secs(n - s.fetched_at) +
                             ", served at most " + std::to_string((options_.ttl + options_.grace).count()) +
                             " s after the last good fetch)");
    } else {
        options_.logger.error("JWKS fetch from " + options_.source + " failed (" + error +
                              "); no usable keys: JWT bearer tokens are rejected until a fetch succeeds");
    }
    return false;
}

void JwksCache::prime() {
    if (fetch(now(), options_.fetch_timeout)) return;
    const State s = snapshot();
    throw Error(s.last_status == MACP_STATUS_OK ? MACP_STATUS_UNAVAILABLE : s.last_status,
                "auth-jwt: cannot load the JWKS from MACP_AUTH_JWKS_URL " + options_.source + ": " + s.last_error);
}

std::shared_ptr<const KeySet> JwksCache::keys(const std::optional<std::string>& kid, int64_t deadline_unix_ms) {
    const auto satisfied = [&](const State& s, TimePoint t) {
        return s.keys && t - s.fetched_at < options_.ttl && !(kid && !s.keys->has_kid(*kid));
    };
    State s = snapshot();
    TimePoint t = now();
    if (satisfied(s, t)) return s.keys;

    // Single flight: one thread fetches, the others wait here (even when they may not fetch
    // themselves: the fetch in flight may bring the kid they need) and then find the new set, or
    // the fresh attempt that rules out another one. Without a fetch in flight the lock is free.
    auto wait = options_.fetch_timeout + seconds(1);
    if (auto left = left_until(deadline_unix_ms)) wait = std::min(wait, std::max(*left, milliseconds(0)));
    std::unique_lock<std::timed_mutex> lock(fetch_mu_, std::defer_lock);
    if (!lock.try_lock_for(wait)) {
        s = snapshot();
        if (s.keys && now() - s.fetched_at < options_.ttl + options_.grace) return s.keys;
        throw Error(MACP_STATUS_TIMEOUT, "JWKS from " + options_.source +
                                             ": the call's deadline passed while waiting "
                                             "for the fetch in progress");
    }
    s = snapshot();
    t = now();
    if (satisfied(s, t)) return s.keys;
    if (!can_attempt(s, t)) return usable(s, t);
    milliseconds timeout = options_.fetch_timeout;
    if (auto left = left_until(deadline_unix_ms)) {
        if (left->count() <= 0) {
            if (s.keys && t - s.fetched_at < options_.ttl + options_.grace) return s.keys;
            throw Error(MACP_STATUS_TIMEOUT, "JWKS from " + options_.source + ": the call's deadline passed");
        }
        timeout = std::min(timeout, *left);
    }
    fetch(t, timeout);
    return usable(snapshot(), now());
}

JwksCache::Status JwksCache::status() const {
    const State s = snapshot();
    const TimePoint t = now();
    Status out;
    out.keys = s.keys;
    out.fetches = s.attempts;
    out.last_error = s.last_error;
    if (s.keys) {
        out.age = duration_cast<seconds>(t - s.fetched_at);
        out.stale = t - s.fetched_at >= options_.ttl;
        out.expired = t - s.fetched_at >= options_.ttl + options_.grace;
    } else {
        out.expired = true;
    }
    return out;
}

}  // namespace macp::auth_jwt
