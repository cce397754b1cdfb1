#include "kernel/transitions.hpp"

#include <algorithm>
#include <set>

#include "modes/commitment.hpp"

namespace macp::kernel {

Result<macp::v1::SessionStartPayload, Error> parse_session_start(const std::string& payload, const modes::Mode& mode) {
    macp::v1::SessionStartPayload p;
    // SS-2: empty or undecodable payloads are invalid for every mode.
    if (payload.empty() || !p.ParseFromString(payload))
        return fail(Error(ErrorKind::InvalidPayload, "SessionStart payload does not decode"));
    if (mode.strict()) {  // SS-3
        if (p.ttl_ms() < 1 || p.ttl_ms() > kMaxTtlMs) return fail(Error(ErrorKind::InvalidTtl));
        if (modes::is_blank(p.mode_version()) || modes::is_blank(p.configuration_version())) {
            return fail(Error(ErrorKind::InvalidPayload, "mode_version and configuration_version are required"));
        }
        if (p.participants_size() < 1 || static_cast<size_t>(p.participants_size()) > kMaxParticipants) {
            return fail(Error(ErrorKind::InvalidPayload, "participants must number 1..1000"));
        }
        std::set<std::string> seen;
        for (const auto& raw : p.participants()) {
            auto b = raw.find_first_not_of(" \t\r\n\f\v");
            auto e = raw.find_last_not_of(" \t\r\n\f\v");
            if (b == std::string::npos) return fail(Error(ErrorKind::InvalidPayload, "blank participant"));
            if (!seen.insert(raw.substr(b, e - b + 1)).second) {
                return fail(Error(ErrorKind::InvalidPayload, "duplicate participant"));
            }
        }
        if (p.max_suspend_ms() < 0)
            return fail(Error(ErrorKind::InvalidPayload, "max_suspend_ms must be >= 0"));  // SS-3 (0.6)
    }
    const auto& want = mode.descriptor().mode_version;  // SS-5
    if (!want.empty() && !p.mode_version().empty() && p.mode_version() != want) {
        return fail(Error(ErrorKind::InvalidEnvelope, "mode_version does not match the mode"));
    }
    if (p.ttl_ms() < 1 || p.ttl_ms() > kMaxTtlMs) return fail(Error(ErrorKind::InvalidTtl));  // SS-6
    return p;
}

Result<Session, Error> build_session(const LogEntry& start, const macp::v1::SessionStartPayload& p,
                                     const StartBinding& b, std::shared_ptr<const modes::Mode> mode,
                                     std::string definition_record) {
    Session s;
    s.session_id = start.session_id;
    s.mode = start.mode;
    s.state = SessionState::Open;
    s.started_at_ms = start.received_at_ms;
    s.ttl_ms = p.ttl_ms();
    s.ttl_expiry_ms = b.ttl_expiry_ms;
    s.participants.assign(p.participants().begin(), p.participants().end());  // SS-4: verbatim
    s.intent = p.intent();
    s.mode_version = b.mode_version;
    s.configuration_version = p.configuration_version();
    s.policy_version = b.policy_version;
    s.policy = b.policy;
    s.context_id = p.context_id();
    for (const auto& [k, v] : p.extensions()) s.extensions.emplace(k, v);
    for (const auto& r : p.roots()) s.roots.push_back({r.uri(), r.name()});
    s.initiator = start.sender;
    s.max_suspend_ms = b.max_suspend_ms;
    s.semantics_rev = b.semantics_rev;
    auto initial = mode->on_session_start(s.view());  // SS-11
    if (!initial) return fail(initial.error());
    s.mode_state = modes::ModeStateBox(std::move(initial.value()));
    s.definition = std::move(mode);
    s.definition_record = std::move(definition_record);
    s.seen_message_ids.insert(start.message_id);
    s.log_entries = 1;
    s.envelope_seq = 1;
    return s;
}

Result<modes::Outcome, Error> evaluate_message(const Session& s, const modes::Mode& mode, const std::string& sender,
                                               const std::string& message_type, const std::string& payload,
                                               int64_t accepted_at_ms) {
    const auto view = s.view();
    modes::MessageContext ctx{view, sender, message_type, payload, accepted_at_ms};
    auto authz = mode.authorize(ctx);  // MODE-GEN-3: before validation
    if (!authz) return fail(authz.error());
    return mode.apply(ctx);
}

void commit_message(Session& s, const std::string& message_id, const std::string& sender, int64_t accepted_at_ms,
                    size_t payload_bytes, modes::Outcome outcome) {
    s.seen_message_ids.insert(message_id);
    auto& a = s.activity[sender];  // RPC-GET-7
    ++a.message_count;
    a.last_message_at_ms = accepted_at_ms;
    if (outcome.commit) outcome.commit(*s.mode_state.get());
    if (!outcome.resolution) s.state_bytes += payload_bytes;
    if (outcome.resolution) {
        s.resolution = std::move(outcome.resolution);
        s.state = SessionState::Resolved;
    }
    ++s.log_entries;
    ++s.envelope_seq;
}

bool resume(Session& s, int64_t banked_ms) {
    s.accumulated_suspended_ms += banked_ms;
    s.suspended_at_ms.reset();
    if (s.accumulated_suspended_ms > s.max_suspend_ms) {  // RPC-RESUME-4, TTL-2 (strictly greater)
        s.state = SessionState::Expired;
        return false;
    }
    s.ttl_expiry_ms += banked_ms;  // RPC-RESUME-5 (Q-4: same deadline as the RFC's formula)
    s.state = SessionState::Open;
    return true;
}

bool apply_internal(Session& s, const LogEntry& e) {
    ++s.log_entries;
    if (e.message_type == "TtlExpired") {
        s.state = SessionState::Expired;
        s.suspended_at_ms.reset();
        return true;
    }
    if (e.message_type == "SessionCancel") {
        s.state = SessionState::Cancelled;
        s.suspended_at_ms.reset();
        return true;
    }
    if (e.message_type == "SessionSuspend") {
        s.state = SessionState::Suspended;
        s.suspended_at_ms = e.received_at_ms;
        return true;
    }
    if (e.message_type == "SessionResume") {
        macp::v1::SessionResumePayload p;
        int64_t banked = 0;
        if (p.ParseFromString(e.payload)) banked = p.banked_ms();
        resume(s, banked);
        return true;
    }
    return false;
}

LogEntry make_internal_entry(const Session& s, const std::string& type, std::string payload, int64_t now_ms) {
    LogEntry e;  // STO-LOG-4
    e.received_at_ms = now_ms;
    e.timestamp_unix_ms = now_ms;
    e.sender = "_runtime";
    e.message_type = type;
    e.payload = std::move(payload);
    e.kind = EntryKind::Internal;
    e.session_id = s.session_id;
    e.mode = s.mode;
    e.macp_version = "1.0";
    return e;
}

}  // namespace macp::kernel
