// Session leases of storage-redis (ABI 1.2, storage.h "FENCING"): who may write a session, and
// the fencing token every write of that holder carries. The scripts are in redis_scripts.hpp.
#include <charconv>
#include <string>
#include <vector>

#include "redis_scripts.hpp"
#include "redis_storage.hpp"

namespace macp::storage_redis {
namespace {

constexpr uint32_t kMaxTtlMs = 3'600'000;

void check_lease_arguments(const std::string& holder, uint32_t ttl_ms) {
    if (holder.empty() || holder.size() > MACP_LEASE_HOLDER_MAX) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         "lease holder must be 1 to " + std::to_string(MACP_LEASE_HOLDER_MAX) + " bytes");
    }
    for (const char c : holder) {
        if (c < 0x21 || c > 0x7e) {
            throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, "lease holder must be printable ASCII without spaces");
        }
    }
    if (ttl_ms == 0 || ttl_ms > kMaxTtlMs) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         "lease TTL must be 1 to " + std::to_string(kMaxTtlMs) + " ms, not " + std::to_string(ttl_ms));
    }
}

uint64_t parse_token(const std::string& s) {
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return 0;
    return v;
}

}  // namespace

sdk::Lease RedisStorage::acquire_lease(const std::string& session_id, const std::string& holder, uint32_t ttl_ms,
                                       uint64_t held_token, const sdk::CallContext& call) {
    check_lease_arguments(holder, ttl_ms);
    const std::string lease = lease_key(settings_.prefix, session_id);
    const std::string token = token_key(settings_.prefix, session_id);
    const std::string ttl = std::to_string(ttl_ms);
    const std::string held = std::to_string(held_token);
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("acquire_lease", call);
    // The answer describes the lease as the script left it, read in the same transaction.
    std::vector<std::string> texts;
    const std::vector<long long> r =
        transaction({{"EVAL", scripts::kAcquireLease, "2", lease, token, holder, ttl, held},
                     {"GET", token},
                     {"GET", lease},
                     {"PTTL", lease}},
                    "acquire_lease", Wait::check, nullptr, &texts);
    sdk::Lease out;
    out.granted = r[0] == 1;
    out.fenced = r[0] == 2;
    out.token = parse_token(texts[1]);
    out.holder = texts[2];
    out.remaining_ms = r[3] >= 0 ? r[3] : -1;
    if (r[0] < 0 || r[0] > 2) {
        throw sdk::Error(MACP_STATUS_IO_ERROR, where() + ": acquire_lease: unexpected script answer " +
                                                   std::to_string(r[0]) + " for session " + session_id);
    }
    if (out.fenced) {
        call.note("session " + session_id + ": lease lost (token " + held + ", now " + std::to_string(out.token) +
                  (out.holder.empty() ? std::string(", no holder") : ", held by " + out.holder) + ")");
    }
    return out;
}

void RedisStorage::renew_leases(const std::string& holder, uint32_t ttl_ms, const std::vector<sdk::LeaseRef>& leases,
                                std::vector<macp_status>& status, const sdk::CallContext& call) {
    check_lease_arguments(holder, ttl_ms);
    if (leases.empty()) return;
    const std::string ttl = std::to_string(ttl_ms);
    std::vector<std::string> strings;  // keys and tokens: no reallocation, the Argv views stay valid
    strings.reserve(3 * leases.size() + 1);
    strings.push_back(std::to_string(2 * leases.size()));
    Argv eval{"EVAL", scripts::kRenewLeases, strings.back()};
    for (const auto& l : leases) {
        strings.push_back(lease_key(settings_.prefix, l.session_id));
        eval.push_back(strings.back());
        strings.push_back(token_key(settings_.prefix, l.session_id));
        eval.push_back(strings.back());
    }
    eval.push_back(holder);
    eval.push_back(ttl);
    for (const auto& l : leases) {
        strings.push_back(std::to_string(l.token));
        eval.push_back(strings.back());
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("renew_leases", call);
    std::vector<std::string> texts;
    transaction({eval}, "renew_leases", Wait::check, nullptr, &texts);
    const std::string& verdicts = texts[0];
    for (std::size_t i = 0; i < leases.size(); ++i) {
        // A missing verdict cannot happen with this script; it counts as lost, never as renewed.
        status[i] = i < verdicts.size() && verdicts[i] == '1' ? MACP_STATUS_OK : MACP_STATUS_FENCED;
    }
}

void RedisStorage::release_lease(const std::string& session_id, const std::string& holder, uint64_t token,
                                 const sdk::CallContext& call) {
    check_lease_arguments(holder, 1);
    const std::string lease = lease_key(settings_.prefix, session_id);
    const std::string tokens = token_key(settings_.prefix, session_id);
    const std::string held = std::to_string(token);
    const std::lock_guard<std::mutex> lock(mutex_);
    check_writable("release_lease", call);
    transaction({{"EVAL", scripts::kReleaseLease, "2", lease, tokens, holder, held}}, "release_lease", Wait::check);
}

}  // namespace macp::storage_redis
