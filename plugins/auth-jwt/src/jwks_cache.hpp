// The key set fetched from MACP_AUTH_JWKS_URL: cached for the TTL, refreshed by one fetch at a
// time however many calls wait (single flight), refetched early for an unknown `kid` (at most once
// per kMinRefetchInterval), and served stale for a bounded grace period while the endpoint is down.
#ifndef MACP_AUTH_JWT_JWKS_CACHE_HPP
#define MACP_AUTH_JWT_JWKS_CACHE_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "keys.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::auth_jwt {

inline constexpr std::chrono::seconds kStaleGrace{3600};
inline constexpr std::chrono::seconds kMinRefetchInterval{10};

class JwksCache {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    // Fetches the document within `timeout`; throws macp::sdk::Error on failure.
    using Fetcher = std::function<std::string(std::chrono::milliseconds timeout)>;

    struct Options {
        std::string source;  // the URL, for messages
        std::chrono::seconds ttl{300};
        std::chrono::seconds grace = kStaleGrace;
        std::chrono::seconds min_refetch = kMinRefetchInterval;  // capped at the TTL
        std::chrono::milliseconds fetch_timeout{5000};
        Clock clock;  // default: steady_clock::now
        macp::sdk::Logger logger;
    };

    JwksCache(Options options, Fetcher fetcher);

    // The first fetch (create): throws macp::sdk::Error(UNAVAILABLE/TIMEOUT/INVALID_ARGUMENT)
    // with the reason when it fails.
    void prime();

    // The keys to verify a token with. `kid`: the token's key id, when it has one; an id missing
    // from the cached set triggers a refetch (rate-limited). `deadline_unix_ms` (0 = none) bounds
    // the wait. Throws UNAVAILABLE when no key set within TTL + grace exists, TIMEOUT when the
    // deadline passed first.
    std::shared_ptr<const KeySet> keys(const std::optional<std::string>& kid, int64_t deadline_unix_ms);

    struct Status {
        std::shared_ptr<const KeySet> keys;
        std::chrono::seconds age{0};  // since the last successful fetch
        bool stale = false;           // older than the TTL
        bool expired = false;         // older than TTL + grace (or never fetched)
        std::string last_error;       // of the last failed attempt since the last success
        uint64_t fetches = 0;         // attempts so far
    };
    Status status() const;

private:
    using TimePoint = std::chrono::steady_clock::time_point;
    struct State {
        std::shared_ptr<const KeySet> keys;
        TimePoint fetched_at{};
        std::optional<TimePoint> last_attempt;
        std::string last_error;
        macp_status last_status = MACP_STATUS_OK;
        uint64_t attempts = 0;
    };

    State snapshot() const;
    TimePoint now() const { return options_.clock(); }
    bool can_attempt(const State& s, TimePoint now) const;
    // Keys usable without fetching (fresh, or stale within grace), else throws.
    std::shared_ptr<const KeySet> usable(const State& s, TimePoint now) const;
    // Fetches and installs a new set; returns false (after logging) when it failed.
    bool fetch(TimePoint now, std::chrono::milliseconds timeout);

    Options options_;
    Fetcher fetcher_;
    mutable std::mutex mu_;  // guards state_
    State state_;
    std::timed_mutex fetch_mu_;  // held for the duration of one fetch: single flight
};

}  // namespace macp::auth_jwt

#endif  // MACP_AUTH_JWT_JWKS_CACHE_HPP
