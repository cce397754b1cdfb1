#include "kernel/session.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>

namespace macp::kernel {

const char* state_name(SessionState s) {
    switch (s) {
        case SessionState::Open: return "Open";
        case SessionState::Resolved: return "Resolved";
        case SessionState::Expired: return "Expired";
        case SessionState::Suspended: return "Suspended";
        case SessionState::Cancelled: return "Cancelled";
    }
    return "Open";
}

std::optional<SessionState> parse_state_name(const std::string& s) {
    if (s == "Open") return SessionState::Open;
    if (s == "Resolved") return SessionState::Resolved;
    if (s == "Expired") return SessionState::Expired;
    if (s == "Suspended") return SessionState::Suspended;
    if (s == "Cancelled") return SessionState::Cancelled;
    return std::nullopt;
}

namespace {

// The texts SharedText hands out, weakly held: a text nobody holds any more is freed, and its
// entry dropped at the next purge.
class TextInterner {
public:
    std::shared_ptr<const std::string> share(std::string text) {
        std::lock_guard lock(mu_);
        auto it = texts_.find(text);
        if (it != texts_.end()) {
            if (auto p = it->second.lock()) return p;
        }
        auto p = std::make_shared<const std::string>(text);
        if (texts_.size() >= purge_at_) {
            std::erase_if(texts_, [](const auto& e) { return e.second.expired(); });
            purge_at_ = std::max<size_t>(64, 2 * texts_.size());
        }
        texts_[std::move(text)] = p;
        return p;
    }

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::weak_ptr<const std::string>> texts_;
    size_t purge_at_ = 64;
};

}  // namespace

SharedText::SharedText(std::string text) {
    if (text.empty()) return;
    static auto* interner = new TextInterner;  // never destroyed: sessions may outlive statics at exit
    text_ = interner->share(std::move(text));
}

const std::string& SharedText::empty_text() {
    static const std::string empty;
    return empty;
}

bool Session::is_participant(const std::string& sender) const {
    return std::find(participants.begin(), participants.end(), sender) != participants.end();
}

Session Session::metadata() const {
    Session m;
    m.session_id = session_id;
    m.mode = mode;
    m.state = state;
    m.ttl_expiry_ms = ttl_expiry_ms;
    m.ttl_ms = ttl_ms;
    m.started_at_ms = started_at_ms;
    m.resolution = resolution;
    m.participants = participants;
    m.intent = intent;
    m.mode_version = mode_version;
    m.configuration_version = configuration_version;
    m.policy_version = policy_version;
    m.context_id = context_id;
    m.extensions = extensions;
    m.roots = roots;
    m.initiator = initiator;
    m.policy = policy;
    m.suspended_at_ms = suspended_at_ms;
    m.accumulated_suspended_ms = accumulated_suspended_ms;
    m.max_suspend_ms = max_suspend_ms;
    m.semantics_rev = semantics_rev;
    m.activity = activity;
    m.log_entries = log_entries;
    m.envelope_seq = envelope_seq;
    m.state_bytes = state_bytes;
    return m;
}

}  // namespace macp::kernel
