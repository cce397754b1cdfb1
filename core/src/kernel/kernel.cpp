// SessionStart and in-session message processing (BEHAVIOR.md §2.3-2.6).
#include "kernel/kernel.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "kernel/session_id.hpp"
#include "kernel/transitions.hpp"

namespace macp::kernel {

Kernel::Kernel(KernelOptions options, storage::StorageBackend& storage, modes::ModeRegistry& modes,
               policy::PolicyRegistry& policies, auth::Authenticator& authenticator, auth::RateLimiter& limiter,
               EventSink& events)
    : options_(std::move(options)),
      storage_(storage),
      modes_(modes),
      policies_(policies),
      auth_(authenticator),
      limiter_(limiter),
      events_(events),
      committer_(storage) {}

Kernel::~Kernel() {
    {
        std::lock_guard lock(sweeper_mu_);
        sweeper_stop_ = true;
    }
    sweeper_cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
}

namespace {

Ack ok_ack(const macp::v1::Envelope& env, SessionState state, int64_t now, bool duplicate = false) {
    Ack a;  // RPC-SEND-3
    a.ok = true;
    a.duplicate = duplicate;
    a.message_id = env.message_id();
    a.session_id = env.session_id();
    a.accepted_at_ms = now;
    a.session_state = static_cast<int>(state);
    return a;
}

Ack err(const macp::v1::Envelope& env, Error e, int64_t now) {
    Ack a;
    a.message_id = env.message_id();
    a.session_id = env.session_id();
    a.accepted_at_ms = now;
    a.error = std::move(e);
    return a;
}

// A same-id SessionStart meeting an existing session: duplicate if this message id was accepted
// in it (SS-7), otherwise SESSION_ALREADY_EXISTS.
Ack existing_session_answer(SessionSlot& slot, const macp::v1::Envelope& env, int64_t now) {
    std::lock_guard lock(slot.mu);
    if (slot.live && slot.session.seen_message_ids.count(env.message_id()) != 0) {
        return ok_ack(env, slot.session.state, now, true);
    }
    return err(env, Error(ErrorKind::SessionAlreadyExists), now);
}

}  // namespace

Ack Kernel::start_session(const auth::Identity& id, const macp::v1::Envelope& env, int64_t now) {
    // SS-1 order: id format, mode, payload, strict rules, versions, TTL, existence, policy, hook, reservation.
    if (!valid_session_id(env.session_id())) return err(env, Error(ErrorKind::InvalidSessionId), now);
    auto mode = modes_.find(env.mode());
    if (!mode) return err(env, Error(ErrorKind::UnknownMode), now);
    auto payload = parse_session_start(env.payload(), *mode);
    if (!payload) return err(env, payload.error(), now);
    if (auto existing = table_.find(env.session_id())) return existing_session_answer(*existing, env, now);
    if (table_.is_evicted(env.session_id())) return err(env, Error(ErrorKind::SessionAlreadyExists), now);

    StartBinding binding;  // SS-9, POL-BIND-1
    binding.policy_version = payload->policy_version().empty() ? policy::kDefaultPolicyId : payload->policy_version();
    binding.policy = policies_.find(binding.policy_version);
    if (!binding.policy) return err(env, Error(ErrorKind::UnknownPolicyVersion), now);
    if (binding.policy->mode != "*" && binding.policy->mode != env.mode()) {
        return err(env, Error(ErrorKind::InvalidPolicyDefinition), now);
    }
    // SS-18: an empty mode_version binds the descriptor's.
    binding.mode_version = payload->mode_version().empty() ? mode->descriptor().mode_version : payload->mode_version();
    binding.max_suspend_ms = payload->max_suspend_ms() > 0 ? payload->max_suspend_ms() : kDefaultMaxSuspendMs;  // SS-17
    // The deadline runs on the server clock, not the client's timestamp (docs/compatibility.md, Q-3 / SS-10).
    binding.ttl_expiry_ms = now + payload->ttl_ms();

    LogEntry entry;  // STO-LOG-3
    entry.message_id = env.message_id();
    entry.received_at_ms = now;
    entry.sender = env.sender();
    entry.message_type = env.message_type();
    entry.payload = env.payload();
    entry.session_id = env.session_id();
    entry.mode = env.mode();
    entry.macp_version = env.macp_version();
    entry.timestamp_unix_ms = env.timestamp_unix_ms();
    entry.bound_mode_version = binding.mode_version;
    entry.bound_max_suspend_ms = binding.max_suspend_ms;
    entry.semantics_rev = binding.semantics_rev;
    entry.bound_policy = binding.policy;
    entry.bound_ttl_expiry_ms = binding.ttl_expiry_ms;
    entry.bound_definition = modes::ModeRegistry::definition_record(*mode);

    auto built = build_session(entry, *payload, binding, mode, *entry.bound_definition);
    if (!built) return err(env, built.error(), now);

    auto slot = std::make_shared<SessionSlot>(env.session_id(), env.sender());
    std::unique_lock slot_lock(slot->mu);
    const auto limit = id.max_open_sessions;
    auto reserved = table_.reserve(slot, [&](const auto& map) {
        if (!limit) return true;
        int64_t open = 0;  // SS-8: OPEN, not overdue, same initiator; busy slots count conservatively
        for (const auto& [sid, other] : map) {
            if (other->initiator != id.sender) continue;
            std::unique_lock other_lock(other->mu, std::try_to_lock);
            const bool busy = !other_lock.owns_lock();
            if (busy ||
                (other->live && other->session.state == SessionState::Open && now <= other->session.ttl_expiry_ms)) {
                ++open;
            }
        }
        return open < *limit;
    });
    if (reserved == SessionTable::Reserve::Exists) {
        slot_lock.unlock();
        if (auto existing = table_.find(env.session_id())) return existing_session_answer(*existing, env, now);
        return err(env, Error(ErrorKind::SessionAlreadyExists), now);
    }
    if (reserved == SessionTable::Reserve::Refused) return err(env, Error(ErrorKind::RateLimited), now);

    // SS-12: commit point. A failure rolls the reservation back; nothing is acknowledged.
    if (auto st = storage_.create_session_storage(env.session_id()); !st) {
        spdlog::error("session {}: cannot create storage: {}", env.session_id(), st.error().message);
        table_.remove(env.session_id());
        return err(env, Error(ErrorKind::StorageFailed), now);
    }
    if (auto st = append(entry); !st) {
        log_storage_failure("session " + env.session_id() + ": SessionStart append failed", st.error().message);
        // The failed write may have landed (storage.h: unknown outcome); remove whatever did, so
        // that storage agrees with the refusal and a restart does not resurrect the session.
        if (auto removed = storage_.delete_session(env.session_id()); !removed) {
            log_storage_failure("session " + env.session_id() + ": cannot remove the failed start",
                                removed.error().message);
        }
        table_.remove(env.session_id());
        return err(env, Error(ErrorKind::StorageFailed), now);
    }
    slot->session = std::move(built.value());
    slot->live = true;
    save_snapshot(slot->session);  // SS-13 (0.6): best effort, the log is the source of truth
    events_.on_envelope(env, 1);   // SS-14: published under the session lock, in acceptance order
    events_.on_lifecycle(Lifecycle::Created, slot->session, now);
    return ok_ack(env, SessionState::Open, now);
}

Ack Kernel::session_message(const macp::v1::Envelope& env, int64_t now) {
    auto slot = table_.find(env.session_id());
    if (!slot) return err(env, Error(ErrorKind::UnknownSession), now);  // MSG-1
    std::lock_guard lock(slot->mu);
    if (!slot->live) return err(env, Error(ErrorKind::UnknownSession), now);
    if (!settle(*slot)) return err(env, Error(ErrorKind::StorageFailed), now);
    Session& s = slot->session;
    // MSG-2 precondition order: dedup, mode, expiry, state.
    if (s.seen_message_ids.count(env.message_id()) != 0) return ok_ack(env, s.state, now, true);
    if (env.mode() != s.mode)
        return err(env, Error(ErrorKind::InvalidEnvelope, "mode differs from the session's"), now);
    if (s.state == SessionState::Open && now > s.ttl_expiry_ms) {
        if (!expire_if_due(*slot, now)) return err(env, Error(ErrorKind::StorageFailed), now);  // TTL-4
        return err(env, Error(ErrorKind::TtlExpired), now);
    }
    if (s.state != SessionState::Open) return err(env, Error(ErrorKind::SessionNotOpen), now);  // LIFE-5, TTL-7
    // MSG-3, against the definition the session started under: registry changes since then do
    // not reach it (issue #8.3).
    if (!s.definition) return err(env, Error(ErrorKind::UnknownMode), now);
    auto outcome = evaluate_message(s, *s.definition, env.sender(), env.message_type(), env.payload(), now);
    if (!outcome) return err(env, outcome.error(), now);
    // Issue #8.4: a session's state may grow only so far, so that it always stays writable as a
    // checkpoint and readable again. The message that would pass the bound is refused; one that
    // resolves the session never is, so a full session can still be committed or cancelled.
    if (!outcome->resolution && s.state_bytes + env.payload().size() > options_.max_session_state_bytes) {
        return err(env,
                   Error(ErrorKind::SessionStateTooLarge, "session state would exceed MACP_MAX_SESSION_STATE_BYTES (" +
                                                              std::to_string(options_.max_session_state_bytes) + ")"),
                   now);
    }

    LogEntry entry;
    entry.message_id = env.message_id();
    entry.received_at_ms = now;
    entry.sender = env.sender();
    entry.message_type = env.message_type();
    entry.payload = env.payload();
    entry.session_id = s.session_id;
    entry.mode = s.mode;
    entry.macp_version = env.macp_version();
    entry.timestamp_unix_ms = env.timestamp_unix_ms();
    if (auto st = append(entry); !st) {  // MSG-4: nothing applied, dedup slot not consumed
        log_storage_failure("session " + s.session_id + ": append of " + env.message_id() + " failed",
                            st.error().message);
        slot->in_doubt = true;
        return err(env, Error(ErrorKind::StorageFailed), now);
    }
    commit_message(s, env.message_id(), env.sender(), now, env.payload().size(), std::move(outcome.value()));
    if (s.state == SessionState::Resolved) {  // MSG-7
        save_snapshot(s);
        events_.on_lifecycle(Lifecycle::Resolved, s, now);
    } else {
        maybe_checkpoint(s, now);
    }
    events_.on_envelope(env, s.envelope_seq);
    return ok_ack(env, s.state, now);
}

void Kernel::log_storage_failure(const std::string& what, const std::string& why, bool error) {
    uint64_t suppressed = 0;
    if (!storage_log_.allow(suppressed)) return;
    const auto level = error ? spdlog::level::err : spdlog::level::warn;
    if (suppressed == 0) {
        spdlog::log(level, "{}: {}", what, why);
    } else {
        spdlog::log(level, "{}: {} ({} more storage failures in the last second not logged)", what, why, suppressed);
    }
}

void Kernel::save_snapshot(const Session& s) {
    // MSG-8: snapshot failures are logged only. Recovery trusts only a terminal snapshot (written
    // after the terminal entry is durable); a missing or stale one just means a replay of the log.
    if (auto st = storage_.save_session(s.session_id, encode_snapshot(s, s.definition_record)); !st) {
        log_storage_failure("session " + s.session_id + ": snapshot save failed", st.error().message, false);
    }
}

void Kernel::maybe_checkpoint(Session& s, int64_t now) {
    const auto n = options_.checkpoint_interval;  // STO-CKPT-4, without Q-42's drift
    if (n <= 0 || (s.log_entries + 1) % static_cast<uint64_t>(n) != 0) return;
    ++s.log_entries;  // the checkpoint counts itself, so a restore resumes the same cadence
    LogEntry e;       // STO-LOG-5
    e.received_at_ms = now;
    e.timestamp_unix_ms = now;
    e.sender = "_runtime";
    e.message_type = "Checkpoint";
    e.kind = EntryKind::Checkpoint;
    e.session_id = s.session_id;
    e.mode = s.mode;
    e.payload = encode_snapshot(s, s.definition_record);
    if (auto st = append(e); !st) {
        --s.log_entries;
        // STO-CKPT-5
        log_storage_failure("session " + s.session_id + ": checkpoint append failed", st.error().message, false);
    }
}

bool Kernel::settle(SessionSlot& slot) {
    if (!slot.in_doubt) return true;
    // The failed write may have landed. Rebuilding from the log makes memory agree with storage:
    // a message refused with STORAGE_FAILED that did land counts (its retry is a duplicate), one
    // that did not never does, and the next write goes after what storage really holds.
    auto fresh = rebuild_from_log(slot.session_id);
    if (!fresh) {
        log_storage_failure("session " + slot.session_id, "cannot reload it from storage after a failed write");
        return false;
    }
    slot.session = std::move(*fresh);
    slot.in_doubt = false;
    spdlog::info("session {}: reloaded from storage after a failed write", slot.session_id);
    return true;
}

bool Kernel::expire_if_due(SessionSlot& slot, int64_t now) {
    if (!settle(slot)) return false;
    Session& s = slot.session;
    bool due = false;
    if (s.state == SessionState::Open) {
        due = now > s.ttl_expiry_ms;  // TTL-1: strictly greater
    } else if (s.state == SessionState::Suspended && s.suspended_at_ms) {
        due = s.accumulated_suspended_ms + (now - *s.suspended_at_ms) > s.max_suspend_ms;  // TTL-2
    }
    if (!due) return true;
    auto entry = make_internal_entry(s, "TtlExpired", {}, now);  // TTL-3
    if (auto st = append(entry); !st) {
        log_storage_failure("session " + s.session_id + ": TtlExpired append failed", st.error().message);
        slot.in_doubt = true;
        return false;
    }
    apply_internal(s, entry);
    save_snapshot(s);
    events_.on_lifecycle(Lifecycle::Expired, s, now);
    return true;
}

}  // namespace macp::kernel
