// The in-memory state of one coordination session (BEHAVIOR.md §2.8 LIFE-*, STO-SNAP-1).
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "modes/mode_state.hpp"
#include "modes/session_view.hpp"
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

// An immutable text shared by every holder of equal text: the mode definition record is one per
// mode, not one per session (issue #13, memory per idle session). Reads as a const std::string&.
class SharedText {
public:
    SharedText() = default;
    SharedText(std::string text);  // NOLINT(google-explicit-constructor): assigned from strings
    SharedText(const char* text) : SharedText(std::string(text)) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] const std::string& str() const { return text_ ? *text_ : empty_text(); }
    operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)
    [[nodiscard]] bool empty() const { return str().empty(); }
    [[nodiscard]] size_t size() const { return str().size(); }
    friend bool operator==(const SharedText& a, const SharedText& b) { return a.str() == b.str(); }
    friend bool operator==(const SharedText& a, const std::string& b) { return a.str() == b; }

private:
    static const std::string& empty_text();
    std::shared_ptr<const std::string> text_;
};

// DEDUP-1: the message ids a session has accepted. Most sessions hold a handful, so the first
// kSmall live in one vector (one allocation for the lot, where a hash set pays a bucket array and a
// node per id: issue #13, memory per idle session); past that they move to a hash set, so a long
// session's lookups stay O(1) (issue #8).
class MessageIdSet {
public:
    static constexpr size_t kSmall = 16;

    [[nodiscard]] size_t count(const std::string& id) const {
        if (big_) return big_->count(id);
        return std::find(small_.begin(), small_.end(), id) != small_.end() ? 1 : 0;
    }
    [[nodiscard]] bool contains(const std::string& id) const { return count(id) != 0; }
    [[nodiscard]] size_t size() const { return big_ ? big_->size() : small_.size(); }
    [[nodiscard]] bool empty() const { return size() == 0; }
    // False when `id` was already there.
    bool insert(std::string id) {
        if (big_) return big_->insert(std::move(id)).second;
        if (count(id) != 0) return false;
        if (small_.size() < kSmall) {
            small_.push_back(std::move(id));
            return true;
        }
        big_ = std::make_unique<std::unordered_set<std::string>>(std::make_move_iterator(small_.begin()),
                                                                 std::make_move_iterator(small_.end()));
        small_ = {};
        return big_->insert(std::move(id)).second;
    }
    bool emplace(const char* data, size_t size) { return insert(std::string(data, size)); }
    // Visits every id once, in no particular order.
    template <class F>
    void for_each(F&& f) const {
        if (big_) {
            for (const auto& id : *big_) f(id);
        } else {
            for (const auto& id : small_) f(id);
        }
    }

    MessageIdSet() = default;
    MessageIdSet(const MessageIdSet& o)
        : small_(o.small_), big_(o.big_ ? std::make_unique<std::unordered_set<std::string>>(*o.big_) : nullptr) {}
    MessageIdSet& operator=(const MessageIdSet& o) {
        if (this != &o) *this = MessageIdSet(o);
        return *this;
    }
    MessageIdSet(MessageIdSet&&) noexcept = default;
    MessageIdSet& operator=(MessageIdSet&&) noexcept = default;
    ~MessageIdSet() = default;

private:
    std::vector<std::string> small_;
    std::unique_ptr<std::unordered_set<std::string>> big_;
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
    SharedText definition_record;    // ModeRegistry::definition_record(*definition), as logged
    modes::ModeStateBox mode_state;  // typed, owned by the mode; encoded only for snapshots
    std::vector<std::string> participants;
    MessageIdSet seen_message_ids;  // DEDUP-1
    std::string intent;
    std::string mode_version;
    std::string configuration_version;
    std::string policy_version;
    std::string context_id;
    std::map<std::string, std::string> extensions;
    std::vector<RootRef> roots;
    std::string initiator;
    // Shared with every session bound to the same policy, its rules parsed once (issue #13).
    policy::BoundPolicy policy;
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
    [[nodiscard]] const policy::PolicyDefinition* bound_policy() const { return policy.get(); }
    // What the session's mode may read of it (modes never see a Session).
    [[nodiscard]] modes::SessionView view() const {
        return {session_id,     initiator,    participants, mode_version, configuration_version,
                policy_version, policy.get(), mode_state};
    }
};

}  // namespace macp::kernel
