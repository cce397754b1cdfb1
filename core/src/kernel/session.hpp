// The in-memory state of one coordination session (BEHAVIOR.md §2.8 LIFE-*, STO-SNAP-1).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "modes/mode_state.hpp"
#include "policy/policy_definition.hpp"

namespace macp::modes {
class Mode;
}

namespace macp::kernel {

// Wire values of macp.v1.SessionState (LIFE-1).
enum class SessionState : int { Open = 1, Resolved = 2, Expired = 3, Suspended = 4, Cancelled = 5 };

inline bool is_terminal(SessionState s) {
    return s == SessionState::Resolved || s == SessionState::Expired || s == SessionState::Cancelled;
}
const char* state_name(SessionState s);  // "Open", "Resolved", ...
std::optional<SessionState> parse_state_name(const std::string& s);

inline constexpr int64_t kMaxTtlMs = 86'400'000;              // TTL-6
inline constexpr int64_t kDefaultMaxSuspendMs = 604'800'000;  // TTL-2, SS-17
inline constexpr size_t kMaxParticipants = 1000;              // SS-3
inline constexpr int kSemanticsRev = 1;                       // SS-19

struct RootRef {
    std::string uri;
    std::string name;
};

struct Activity {
    uint32_t message_count = 0;
    int64_t last_message_at_ms = 0;
};

struct Session {
    std::string session_id;
    std::string mode;
    SessionState state = SessionState::Open;
    int64_t ttl_expiry_ms = 0;
    int64_t ttl_ms = 0;
    int64_t started_at_ms = 0;
    std::optional<std::string> resolution;
    // The mode definition the session started under: later registry changes (unregister,
    // re-register, promote) never change how an existing session behaves or replays (issue #8.3).
    std::shared_ptr<const modes::Mode> definition;
    std::string definition_record;   // ModeRegistry::definition_record(*definition), as logged
    modes::ModeStateBox mode_state;  // typed, owned by the mode; encoded only for snapshots
    std::vector<std::string> participants;
    std::unordered_set<std::string> seen_message_ids;  // DEDUP-1
    std::string intent;
    std::string mode_version;
    std::string configuration_version;
    std::string policy_version;
    std::string context_id;
    std::map<std::string, std::string> extensions;
    std::vector<RootRef> roots;
    std::string initiator;
    std::optional<policy::PolicyDefinition> policy;
    std::optional<int64_t> suspended_at_ms;
    int64_t accumulated_suspended_ms = 0;
    int64_t max_suspend_ms = kDefaultMaxSuspendMs;
    int semantics_rev = kSemanticsRev;
    // Not persisted in snapshots; rebuilt by replay (we replay every accepted message).
    std::map<std::string, Activity> activity;
    // Number of log entries written for this session (interval checkpoints, STO-CKPT-4).
    uint64_t log_entries = 0;
    // Accepted envelopes so far, SessionStart included: the 1-based sequence StreamSession
    // subscribers resume from (after_sequence).
    uint64_t envelope_seq = 0;
    // Payload bytes of the accepted messages that did not resolve the session: what its mode
    // state can have grown by. Bounded by KernelOptions::max_session_state_bytes (issue #8.4).
    uint64_t state_bytes = 0;

    [[nodiscard]] bool is_participant(const std::string& sender) const;
    // Everything GetSession, ListSessions and the watches show: a copy without the mode state and
    // the dedup set, so reading a session costs the same however long it is.
    [[nodiscard]] Session metadata() const;
    [[nodiscard]] const policy::PolicyDefinition* bound_policy() const { return policy ? &*policy : nullptr; }
};

}  // namespace macp::kernel
