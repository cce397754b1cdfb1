// GetSession, ListSessions, Cancel, Suspend and Resume (BEHAVIOR.md §1 RPC-GET/CANCEL/SUSP/RESUME).
#include <spdlog/spdlog.h>

#include "kernel/kernel.hpp"
#include "kernel/transitions.hpp"
#include "macp/v1/core.pb.h"

namespace macp::kernel {

namespace {

RpcError not_found(const std::string& id) {
    return {RpcError::NotFound, "Session '" + id + "' not found"};
}

bool may_read(const auth::Identity& caller, const Session& s) {
    return caller.is_observer || caller.sender == s.initiator || s.is_participant(caller.sender);  // RPC-GET-3
}

// RPC-CANCEL-2 / Q-37: the initiator, or whoever the bound policy lets commit.
bool may_control(const auth::Identity& caller, const Session& s) {
    return caller.sender == s.initiator ||
           policy::may_commit(s.bound_policy(), caller.sender, s.initiator, s.participants);
}

Ack control_ack(const std::string& session_id, SessionState state, int64_t now) {
    Ack a;  // RPC-CANCEL-6
    a.ok = true;
    a.session_id = session_id;
    a.accepted_at_ms = now;
    a.session_state = static_cast<int>(state);
    return a;
}

Ack control_error(const std::string& session_id, Error e, int64_t now) {
    Ack a;
    a.session_id = session_id;
    a.accepted_at_ms = now;
    a.error = std::move(e);
    return a;
}

}  // namespace

Result<Session, RpcError> Kernel::get_session(const auth::Identity& caller, const std::string& session_id) {
    const int64_t now = now_ms();
    auto slot = table_.find(session_id);
    std::optional<Session> copy;
    if (slot) {
        std::lock_guard lock(slot->mu);
        if (slot->live) {
            expire_if_due(*slot, now);  // RPC-GET-1; a failed append leaves it OPEN (TTL-4)
            copy = slot->session.metadata();
        }
    } else if (table_.is_evicted(session_id)) {
        copy = load_from_storage(session_id);  // evicted sessions stay readable (fixes STO-RET-2)
    }
    if (!copy) return fail(not_found(session_id));  // RPC-GET-2: existence before permission
    if (!may_read(caller, *copy)) return fail(RpcError{RpcError::PermissionDenied, "FORBIDDEN: session access denied"});
    return std::move(*copy);
}

std::vector<Session> Kernel::list_sessions() {
    std::vector<Session> out;
    for (const auto& slot : table_.all()) {
        std::lock_guard lock(slot->mu);
        if (slot->live) out.push_back(slot->session.metadata());
    }
    return out;
}

template <class Op>
Result<Ack, RpcError> Kernel::control(const auth::Identity& caller, const std::string& session_id, const char* verb,
                                      bool expire_first, Op&& op) {
    const int64_t now = now_ms();
    auto slot = table_.find(session_id);
    if (!slot) {
        if (table_.is_evicted(session_id)) {
            // Evicted sessions are terminal: answer like RPC-CANCEL-3 / RPC-SUSP-2 would.
            if (auto s = load_from_storage(session_id)) {
                if (!may_control(caller, *s)) {
                    return fail(RpcError{
                        RpcError::PermissionDenied,
                        std::string("FORBIDDEN: only the session initiator or policy-delegated roles can ") + verb});
                }
                if (std::string(verb) == "cancel") return control_ack(session_id, s->state, now);
                return control_error(session_id, Error(ErrorKind::SessionNotOpen), now);
            }
        }
        return fail(not_found(session_id));
    }
    std::lock_guard lock(slot->mu);
    if (!slot->live) return fail(not_found(session_id));
    if (!settle(*slot)) return control_error(session_id, Error(ErrorKind::StorageFailed), now);
    if (expire_first) expire_if_due(*slot, now);  // RPC-CANCEL-7; resume has no pre-check (RPC-RESUME-2)
    if (!may_control(caller, slot->session)) {
        return fail(
            RpcError{RpcError::PermissionDenied,
                     std::string("FORBIDDEN: only the session initiator or policy-delegated roles can ") + verb});
    }
    return op(*slot, now);
}

Result<Ack, RpcError> Kernel::cancel(const auth::Identity& caller, const std::string& session_id,
                                     const std::string& reason) {
    return control(caller, session_id, "cancel", true, [&](SessionSlot& slot, int64_t now) -> Ack {
        Session& s = slot.session;
        if (is_terminal(s.state)) return control_ack(session_id, s.state, now);  // RPC-CANCEL-3
        macp::v1::SessionCancelPayload p;
        p.set_reason(reason);
        p.set_cancelled_by(caller.sender);
        auto entry = make_internal_entry(s, "SessionCancel", p.SerializeAsString(), now);  // RPC-CANCEL-4
        if (auto st = append(entry); !st) {
            log_storage_failure("session " + session_id + ": SessionCancel append failed", st.error().message);
            slot.in_doubt = true;
            return control_error(session_id, Error(ErrorKind::StorageFailed), now);  // RPC-CANCEL-5
        }
        apply_internal(s, entry);
        save_snapshot(s);
        events_.on_lifecycle(Lifecycle::Cancelled, s, now);
        return control_ack(session_id, s.state, now);
    });
}

Result<Ack, RpcError> Kernel::suspend(const auth::Identity& caller, const std::string& session_id,
                                      const std::string& reason) {
    return control(caller, session_id, "suspend", true, [&](SessionSlot& slot, int64_t now) -> Ack {
        Session& s = slot.session;
        if (s.state != SessionState::Open)
            return control_error(session_id, Error(ErrorKind::SessionNotOpen), now);  // RPC-SUSP-2
        macp::v1::SessionSuspendPayload p;
        p.set_reason(reason);
        p.set_suspended_by(caller.sender);
        auto entry = make_internal_entry(s, "SessionSuspend", p.SerializeAsString(), now);  // RPC-SUSP-3
        if (auto st = append(entry); !st) {
            slot.in_doubt = true;
            return control_error(session_id, Error(ErrorKind::StorageFailed), now);
        }
        apply_internal(s, entry);
        save_snapshot(s);
        events_.on_lifecycle(Lifecycle::Suspended, s, now);
        return control_ack(session_id, s.state, now);
    });
}

Result<Ack, RpcError> Kernel::resume(const auth::Identity& caller, const std::string& session_id,
                                     const std::string& reason) {
    return control(caller, session_id, "resume", false, [&](SessionSlot& slot, int64_t now) -> Ack {
        Session& s = slot.session;
        if (s.state != SessionState::Suspended)
            return control_error(session_id, Error(ErrorKind::SessionNotOpen), now);         // RPC-RESUME-2
        const int64_t banked = std::max<int64_t>(0, now - s.suspended_at_ms.value_or(now));  // RPC-RESUME-3
        macp::v1::SessionResumePayload p;
        p.set_reason(reason);
        p.set_resumed_by(caller.sender);
        p.set_banked_ms(banked);
        auto entry = make_internal_entry(s, "SessionResume", p.SerializeAsString(), now);
        if (auto st = append(entry); !st) {
            slot.in_doubt = true;
            return control_error(session_id, Error(ErrorKind::StorageFailed), now);
        }
        apply_internal(s, entry);
        save_snapshot(s);
        if (s.state == SessionState::Expired) {  // RPC-RESUME-4
            events_.on_lifecycle(Lifecycle::Expired, s, now);
            return control_error(session_id, Error(ErrorKind::TtlExpired), now);
        }
        events_.on_lifecycle(Lifecycle::Resumed, s, now);  // RPC-RESUME-5
        return control_ack(session_id, s.state, now);
    });
}

}  // namespace macp::kernel

namespace macp::kernel {

Result<uint64_t, RpcError> Kernel::follow(const auth::Identity& caller, const std::string& session_id,
                                          const std::function<void()>& attach) {
    const int64_t now = now_ms();
    auto slot = table_.find(session_id);
    if (!slot) {
        // An evicted (finished) session has no live feed: its whole history is in storage.
        if (table_.is_evicted(session_id)) {
            if (auto s = load_from_storage(session_id)) {
                if (!may_read(caller, *s)) {
                    return fail(
                        RpcError{RpcError::PermissionDenied,
                                 "FORBIDDEN: caller is not a declared participant or observer for this session"});
                }
                return s->envelope_seq;
            }
        }
        return fail(not_found(session_id));  // STR-SUB-2
    }
    std::lock_guard lock(slot->mu);
    if (!slot->live) return fail(not_found(session_id));
    expire_if_due(*slot, now);
    if (!may_read(caller, slot->session)) {  // STR-SUB-3
        return fail(RpcError{RpcError::PermissionDenied,
                             "FORBIDDEN: caller is not a declared participant or observer for this session"});
    }
    attach();
    return slot->session.envelope_seq;
}

Result<std::vector<macp::v1::Envelope>, std::string> Kernel::history(const std::string& session_id, uint64_t after,
                                                                     uint64_t upto) {
    std::vector<macp::v1::Envelope> out;
    if (upto <= after) return out;
    auto records = storage_.load_log(session_id);
    if (!records) return fail("cannot read the session log: " + records.error().message);
    uint64_t seq = 0;
    for (const auto& r : *records) {
        auto e = decode_entry(r);
        if (!e) return fail("corrupt log record: " + e.error());
        if (e->kind != EntryKind::Incoming) continue;  // internal and checkpoint entries are never streamed
        if (++seq <= after) continue;
        if (seq > upto) break;
        macp::v1::Envelope env;  // STR-SUB-5
        env.set_macp_version(e->macp_version.empty() ? "1.0" : e->macp_version);
        env.set_mode(e->mode);
        env.set_message_type(e->message_type);
        env.set_message_id(e->message_id);
        env.set_session_id(e->session_id.empty() ? session_id : e->session_id);
        env.set_sender(e->sender);
        env.set_timestamp_unix_ms(e->timestamp_unix_ms != 0 ? e->timestamp_unix_ms : e->received_at_ms);
        env.set_payload(e->payload);
        out.push_back(std::move(env));
    }
    return out;
}

}  // namespace macp::kernel
