// An authenticated caller and what it may do (BEHAVIOR.md §7.5 AUTH-Z-*).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace macp::auth {

struct Identity {
    std::string sender;
    bool can_start_sessions = true;
    bool can_manage_mode_registry = false;
    bool is_observer = false;
    std::optional<std::set<std::string>> allowed_modes;  // nullopt = unrestricted
    std::optional<int64_t> max_open_sessions;            // nullopt = unlimited
};

// gRPC call metadata as (lower-case key, value) pairs.
using Metadata = std::vector<std::pair<std::string, std::string>>;

enum class ResolveOutcome { Authenticated, NotMine, Rejected };

struct Resolution {
    ResolveOutcome outcome = ResolveOutcome::NotMine;
    Identity identity;
    std::string detail;  // why it was rejected (logged, never sent to the caller)
};

// One link of the resolver chain (AUTH-CHAIN-1). Implementations must be thread-safe.
class Resolver {
public:
    virtual ~Resolver() = default;
    [[nodiscard]] virtual std::string name() const = 0;
    virtual Resolution resolve(const Metadata& metadata) = 0;
    // True when resolve() reads the peer's certificate identity, which the service then adds to
    // the metadata (asking gRPC for it costs an allocation on every call, so only then).
    [[nodiscard]] virtual bool needs_peer_identity() const { return false; }
};

}  // namespace macp::auth
