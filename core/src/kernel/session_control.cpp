// GetSession, ListSessions, Cancel, Suspend and Resume (BEHAVIOR.md §1 RPC-GET/CANCEL/SUSP/RESUME).
#include <memory>

#include <spdlog/spdlog.h>

#include "kernel/await_reply.hpp"
#include "kernel/kernel.hpp"
#include "kernel/transitions.hpp"
#include "macp/v1/core.pb.h"
#include "util/echo.hpp"

namespace macp::kernel {

namespace {

RpcError not_found(const std::string& id) {
    return {RpcError::NotFound, "Session '" + util::echo(id) + "' not found"};
}

RpcError deadline_exceeded(std::chrono::milliseconds limit) {
    return {RpcError::DeadlineExceeded, "no answer within " + std::to_string(limit.count() / 1000) +
                                            " s (MACP_REQUEST_TIMEOUT_SECS); the operation may still complete"};
}

RpcError forbidden(const char* verb) {
    return {RpcError::PermissionDenied,
            std::string("FORBIDDEN: only the session initiator or policy-delegated roles can ") + verb};
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

namespace {

void post(Outbox& out, const Kernel::ControlReply& reply, Result<Ack, RpcError> answer) {
    out.push_back([reply, a = std::make_shared<Result<Ack, RpcError>>(std::move(answer))] { reply(std::move(*a)); });
}

}  // namespace

Result<Session, RpcError> Kernel::get_session(const auth::Identity& caller, const std::string& session_id,
                                              std::chrono::milliseconds wait_limit) {
    const int64_t now = now_ms();
    auto slot = table_.find(session_id);
    std::optional<Session> copy;
    if (slot) {
        using Reply = std::function<void(std::optional<Session>)>;
        // The work owns what it uses (slot, now, reply): the wait may end before it runs.
        auto waited = await_reply_for<std::optional<Session>>(
            [this, slot, now](Reply reply) {
                exclusive(slot, [this, now, reply = std::move(reply)](SessionSlot& sl, Outbox& out) {
                    if (!sl.live) {
                        out.push_back([reply] { reply(std::nullopt); });
                        return;
                    }
                    // RPC-GET-1; a failed append leaves it OPEN (TTL-4)
                    expire_if_due(sl, now, out, [reply](SessionSlot& s2, Outbox& o, bool) {
                        o.push_back(
                            [reply, m = std::make_shared<Session>(s2.session.metadata())] { reply(std::move(*m)); });
                    });
                });
            },
            wait_limit);
        if (!waited) return fail(deadline_exceeded(wait_limit));
        copy = std::move(*waited);
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

std::map<SessionState, size_t> Kernel::sessions_by_state() {
    std::map<SessionState, size_t> out;
    for (const auto& slot : table_.all()) {
        std::lock_guard lock(slot->mu);
        if (slot->live) ++out[slot->session.state];
    }
    return out;
}

template <class Op>
Result<Ack, RpcError> Kernel::control(const auth::Identity& caller, const std::string& session_id, const char* verb,
                                      bool expire_first, std::chrono::milliseconds wait_limit, Op op) {
    const int64_t now = now_ms();
    auto slot = table_.find(session_id);
    if (!slot) {
        if (table_.is_evicted(session_id)) {
            // Evicted sessions are terminal: answer like RPC-CANCEL-3 / RPC-SUSP-2 would.
            if (auto s = load_from_storage(session_id)) {
                if (!may_control(caller, *s)) return fail(forbidden(verb));
                if (std::string(verb) == "cancel") return control_ack(session_id, s->state, now);
                return control_error(session_id, Error(ErrorKind::SessionNotOpen), now);
            }
        }
        return fail(not_found(session_id));
    }
    using Answer = Result<Ack, RpcError>;
    // Everything the work uses is copied into it (issue #14): with a wait limit the caller may
    // stop waiting before the work has even run, so nothing may point into this frame.
    auto answer = await_reply_for<Answer>(
        [this, slot, caller, session_id, verb, expire_first, now, op = std::move(op)](ControlReply reply) {
            exclusive(slot, [this, caller, session_id, verb, expire_first, now, op, reply = std::move(reply)](
                                SessionSlot& sl, Outbox& out) {
                if (!sl.live) return post(out, reply, fail(not_found(session_id)));
                if (!settle(sl))
                    return post(out, reply, control_error(session_id, Error(ErrorKind::StorageFailed), now));
                auto proceed = [caller, verb, now, op, reply](SessionSlot& s2, Outbox& o, bool) {
                    if (!may_control(caller, s2.session)) return post(o, reply, fail(forbidden(verb)));
                    op(s2, o, now, reply);
                };
                if (expire_first) {
                    expire_if_due(sl, now, out, proceed);  // RPC-CANCEL-7; resume has no pre-check (RPC-RESUME-2)
                } else {
                    proceed(sl, out, true);
                }
            });
        },
        wait_limit);
    if (!answer) return fail(deadline_exceeded(wait_limit));
    return std::move(*answer);
}

Result<Ack, RpcError> Kernel::cancel(const auth::Identity& caller, const std::string& session_id,
                                     const std::string& reason, std::chrono::milliseconds wait_limit) {
    return control(
        caller, session_id, "cancel", true, wait_limit,
        [this, caller, session_id, reason](SessionSlot& slot, Outbox& out, int64_t now, const ControlReply& reply) {
            Session& s = slot.session;
            if (is_terminal(s.state)) return post(out, reply, control_ack(session_id, s.state, now));  // RPC-CANCEL-3
            macp::v1::SessionCancelPayload p;
            p.set_reason(reason);
            p.set_cancelled_by(caller.sender);
            auto entry = make_internal_entry(s, "SessionCancel", p.SerializeAsString(), now);  // RPC-CANCEL-4
            write_control(slot, std::move(entry), now, reply, [now](Session& done) {  // RPC-CANCEL-5 on failure
                return std::make_pair(Lifecycle::Cancelled, control_ack(done.session_id, done.state, now));
            });
        });
}

Result<Ack, RpcError> Kernel::suspend(const auth::Identity& caller, const std::string& session_id,
                                      const std::string& reason, std::chrono::milliseconds wait_limit) {
    return control(
        caller, session_id, "suspend", true, wait_limit,
        [this, caller, session_id, reason](SessionSlot& slot, Outbox& out, int64_t now, const ControlReply& reply) {
            Session& s = slot.session;
            if (s.state != SessionState::Open)  // RPC-SUSP-2
                return post(out, reply, control_error(session_id, Error(ErrorKind::SessionNotOpen), now));
            macp::v1::SessionSuspendPayload p;
            p.set_reason(reason);
            p.set_suspended_by(caller.sender);
            auto entry = make_internal_entry(s, "SessionSuspend", p.SerializeAsString(), now);  // RPC-SUSP-3
            write_control(slot, std::move(entry), now, reply, [now](Session& done) {
                return std::make_pair(Lifecycle::Suspended, control_ack(done.session_id, done.state, now));
            });
        });
}

Result<Ack, RpcError> Kernel::resume(const auth::Identity& caller, const std::string& session_id,
                                     const std::string& reason, std::chrono::milliseconds wait_limit) {
    return control(
        caller, session_id, "resume", false, wait_limit,
        [this, caller, session_id, reason](SessionSlot& slot, Outbox& out, int64_t now, const ControlReply& reply) {
            Session& s = slot.session;
            if (s.state != SessionState::Suspended)  // RPC-RESUME-2
                return post(out, reply, control_error(session_id, Error(ErrorKind::SessionNotOpen), now));
            // SS-8 (issue #15): a resumed session is open again, so it takes one of its
            // initiator's max_open_sessions; otherwise suspend, start, resume bypasses the
            // quota (the reference has the same hole: docs/compatibility.md). The limit is
            // the initiator's own, known when the initiator resumes.
            if (caller.max_open_sessions && caller.sender == slot.initiator) {
                int64_t open = 0;
                table_.for_each_of(slot.initiator, [&](SessionSlot& other) {
                    if (&other != &slot && counts_toward_quota(other, now)) ++open;
                });
                if (open >= *caller.max_open_sessions) {
                    return post(out, reply, control_error(session_id, Error(ErrorKind::RateLimited), now));
                }
            }
            const int64_t banked = std::max<int64_t>(0, now - s.suspended_at_ms.value_or(now));  // RPC-RESUME-3
            macp::v1::SessionResumePayload p;
            p.set_reason(reason);
            p.set_resumed_by(caller.sender);
            p.set_banked_ms(banked);
            auto entry = make_internal_entry(s, "SessionResume", p.SerializeAsString(), now);
            write_control(slot, std::move(entry), now, reply, [now](Session& done) {
                if (done.state == SessionState::Expired) {  // RPC-RESUME-4
                    return std::make_pair(Lifecycle::Expired,
                                          control_error(done.session_id, Error(ErrorKind::TtlExpired), now));
                }
                return std::make_pair(Lifecycle::Resumed,
                                      control_ack(done.session_id, done.state, now));  // RPC-RESUME-5
            });
        });
}

void Kernel::write_control(SessionSlot& slot, LogEntry entry, int64_t now, const ControlReply& reply,
                           const std::function<std::pair<Lifecycle, Ack>(Session&)>& outcome) {
    std::string record = encode_entry(entry);
    write(slot, std::move(record),
          [this, entry = std::move(entry), now, reply, outcome](SessionSlot& sl, Outbox& o, const storage::Status& st) {
              if (!st) {
                  log_storage_failure("session " + sl.session_id + ": " + entry.message_type + " append failed",
                                      st.error().message);
                  sl.in_doubt = true;
                  return post(o, reply, control_error(sl.session_id, Error(ErrorKind::StorageFailed), now));
              }
              apply_internal(sl.session, entry);
              auto [event, ack] = outcome(sl.session);
              lifecycle(event, sl.session, now);
              // The answer leaves once the new state's snapshot was attempted (MSG-8).
              save_snapshot(sl.session, [reply, a = std::move(ack)] { reply(a); });
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
    Outbox out;
    Result<uint64_t, RpcError> result = fail(not_found(session_id));
    {
        std::lock_guard lock(slot->mu);
        if (!slot->live) return result;
        // Lazy expiry, without waiting for it: a subscriber sees the TtlExpired transition live.
        // While a write is in flight the check is left to that write's session (it runs next).
        if (!slot->busy) {
            expire_if_due(*slot, now, out, [](SessionSlot&, Outbox&, bool) {});
            run_completed(*slot, out);
        }
        if (!may_read(caller, slot->session)) {  // STR-SUB-3
            result = fail(RpcError{RpcError::PermissionDenied,
                                   "FORBIDDEN: caller is not a declared participant or observer for this session"});
        } else {
            attach();
            result = slot->session.envelope_seq;
        }
    }
    deliver(out);
    return result;
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
