// SessionStart and in-session message processing (BEHAVIOR.md §2.3-2.6).
#include "kernel/kernel.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "kernel/session_id.hpp"
#include "kernel/transitions.hpp"
#include "util/log_setup.hpp"

namespace macp::kernel {

Kernel::Kernel(KernelOptions options, storage::StorageBackend& storage, modes::ModeRegistry& modes,
               policy::PolicyRegistry& policies, auth::Authenticator& authenticator, auth::RateLimiter& limiter,
               EventSink& events)
    : options_(options),
      storage_(storage),
      modes_(modes),
      policies_(policies),
      auth_(authenticator),
      limiter_(limiter),
      events_(events),
      own_metrics_(options_.metrics != nullptr ? nullptr : std::make_unique<metrics::RuntimeMetrics>()),
      metrics_(options_.metrics != nullptr ? *options_.metrics : *own_metrics_),
      inline_storage_(storage.completes_inline()),
      snapshots_(storage,
                 [this](const std::string& id, const std::string& why) {
                     log_storage_failure("session " + id + ": snapshot save failed", why, false);
                 }),
      committer_(storage, &metrics_) {
    for (size_t kind = 0; kind < protocol::kErrorKindCount; ++kind) {
        rejected_[kind] = &metrics_.rejected_counter(Error(static_cast<ErrorKind>(kind)).code());
    }
}

void Kernel::lifecycle(Lifecycle event, const Session& s, int64_t now) {
    switch (event) {
        case Lifecycle::Created: metrics_.sessions_started.inc(); break;
        case Lifecycle::Resolved: metrics_.sessions_resolved.inc(); break;
        case Lifecycle::Expired: metrics_.sessions_expired.inc(); break;
        case Lifecycle::Suspended: metrics_.sessions_suspended.inc(); break;
        case Lifecycle::Resumed: metrics_.sessions_resumed.inc(); break;
        case Lifecycle::Cancelled: metrics_.sessions_cancelled.inc(); break;
    }
    events_.on_lifecycle(event, s, now);
}

Kernel::AckFn Kernel::counted(AckFn done) {
    return [this, done = std::move(done)](Ack ack) {
        if (ack.ok) {
            (ack.duplicate ? metrics_.messages_duplicate : metrics_.messages_accepted).inc();
        } else if (ack.error) {
            rejected_[static_cast<size_t>(ack.error->kind)]->inc();
        }
        done(std::move(ack));
    };
}

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

// A same-id SessionStart meeting an existing session (caller holds the slot's lock): duplicate if
// this message id was accepted in it (SS-7), otherwise SESSION_ALREADY_EXISTS.
Ack existing_session_answer(const SessionSlot& slot, const macp::v1::Envelope& env, int64_t now) {
    if (slot.live && slot.session.seen_message_ids.count(env.message_id()) != 0) {
        return ok_ack(env, slot.session.state, now, true);
    }
    return err(env, Error(ErrorKind::SessionAlreadyExists), now);
}

}  // namespace

void Kernel::start_session(const auth::Identity& id, macp::v1::Envelope env, int64_t now, AckFn done) {
    // SS-1 order: id format, mode, payload, strict rules, versions, TTL, existence, policy, hook, reservation.
    if (!valid_session_id(env.session_id())) return done(err(env, Error(ErrorKind::InvalidSessionId), now));
    auto mode = modes_.find(env.mode());
    if (!mode) return done(err(env, Error(ErrorKind::UnknownMode), now));
    auto payload = parse_session_start(env.payload(), *mode);
    if (!payload) return done(err(env, payload.error(), now));
    // A retried start whose first attempt is still being made durable waits for it (SS-7).
    auto answer_existing = [&](const std::shared_ptr<SessionSlot>& existing) {
        exclusive(existing, [env, now, done](SessionSlot& sl, Outbox& out) {
            out.push_back([done, a = existing_session_answer(sl, env, now)] { done(a); });
        });
    };
    if (auto existing = table_.find(env.session_id())) return answer_existing(existing);
    if (table_.is_evicted(env.session_id())) return done(err(env, Error(ErrorKind::SessionAlreadyExists), now));

    StartBinding binding;  // SS-9, POL-BIND-1
    binding.policy_version = payload->policy_version().empty() ? policy::kDefaultPolicyId : payload->policy_version();
    binding.policy = policies_.find(binding.policy_version);
    if (!binding.policy) return done(err(env, Error(ErrorKind::UnknownPolicyVersion), now));
    if (binding.policy->mode != "*" && binding.policy->mode != env.mode()) {
        return done(err(env, Error(ErrorKind::InvalidPolicyDefinition), now));
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
    if (!built) return done(err(env, built.error(), now));

    auto slot = std::make_shared<SessionSlot>(env.session_id(), env.sender());
    slot->fence = storage_.fence_token(slot->session_id);  // cluster mode: the lease routing took
    std::unique_lock slot_lock(slot->mu);
    const auto limit = id.max_open_sessions;
    auto reserved = table_.reserve(slot, [&](const SessionTable::Slots& mine) {
        if (!limit) return true;
        int64_t open = 0;  // SS-8: same initiator
        for (SessionSlot* other : mine) {
            if (counts_toward_quota(*other, now)) ++open;
        }
        return open < *limit;
    });
    if (reserved == SessionTable::Reserve::Exists) {
        slot_lock.unlock();
        if (auto existing = table_.find(env.session_id())) return answer_existing(existing);
        return done(err(env, Error(ErrorKind::SessionAlreadyExists), now));
    }
    if (reserved == SessionTable::Reserve::Refused) return done(err(env, Error(ErrorKind::RateLimited), now));

    // SS-12: commit point. The slot is not live until the start is durable: messages for the
    // session wait behind it, then see it (or UNKNOWN_SESSION after a rollback).
    slot->session = std::move(built.value());
    write(
        *slot, encode_entry(entry),
        [this, env = std::move(env), now, done = std::move(done)](SessionSlot& sl, Outbox& out,
                                                                  const storage::Status& st) {
            if (!st) {
                log_storage_failure("session " + sl.session_id + ": SessionStart append failed", st.error().message);
                // The failed write may have landed (storage.h: unknown outcome); remove whatever
                // did, so that storage agrees with the refusal and a restart does not resurrect it.
                if (auto removed = storage_.delete_session(sl.session_id); !removed) {
                    log_storage_failure("session " + sl.session_id + ": cannot remove the failed start",
                                        removed.error().message);
                }
                sl.session = Session{};
                table_.remove(sl.session_id);
                out.push_back([done, a = err(env, Error(ErrorKind::StorageFailed), now)] { done(a); });
                return;
            }
            sl.live = true;
            // SS-13 (0.6): best effort and off the ack path: the log is the source of truth.
            save_snapshot(sl.session);
            events_.on_envelope(env, 1);  // SS-14: published under the session lock, in acceptance order
            lifecycle(Lifecycle::Created, sl.session, now);
            out.push_back([done, a = ok_ack(env, SessionState::Open, now)] { done(a); });
        },
        /*create_session=*/true);
    Outbox out;  // an inline backend's write completed already: its answer leaves after the unlock
    run_completed(*slot, out);
    slot_lock.unlock();
    deliver(out);
}

void Kernel::session_message(macp::v1::Envelope env, AckFn done) {
    auto slot = table_.find(env.session_id());
    if (!slot) return done(err(env, Error(ErrorKind::UnknownSession), now_ms()));  // MSG-1
    exclusive(slot, [this, env = std::move(env), done = std::move(done)](SessionSlot& sl, Outbox& out) mutable {
        session_work(sl, out, env, done);
    });
}

void Kernel::session_work(SessionSlot& slot, Outbox& out, macp::v1::Envelope& env, const AckFn& done) {
    const int64_t now = now_ms();  // acceptance time: after any wait behind the session's last write
    auto reply = [&out, &done](Ack a) { out.push_back([done, a = std::move(a)] { done(a); }); };
    if (!slot.live) return reply(err(env, Error(ErrorKind::UnknownSession), now));
    if (!settle(slot)) return reply(err(env, Error(ErrorKind::StorageFailed), now));
    Session& s = slot.session;
    // MSG-2 precondition order: dedup, mode, expiry, state.
    if (s.seen_message_ids.count(env.message_id()) != 0) return reply(ok_ack(env, s.state, now, true));
    if (env.mode() != s.mode)
        return reply(err(env, Error(ErrorKind::InvalidEnvelope, "mode differs from the session's"), now));
    if (s.state == SessionState::Open && now > s.ttl_expiry_ms) {
        return expire_if_due(slot, now, out, [env, done, now](SessionSlot&, Outbox& o, bool ok) {
            Ack a = err(env, Error(ok ? ErrorKind::TtlExpired : ErrorKind::StorageFailed), now);  // TTL-4
            o.push_back([done, a = std::move(a)] { done(a); });
        });
    }
    if (s.state != SessionState::Open) return reply(err(env, Error(ErrorKind::SessionNotOpen), now));  // LIFE-5, TTL-7
    // MSG-3, against the definition the session started under: registry changes since then do
    // not reach it (issue #8.3).
    if (!s.definition) return reply(err(env, Error(ErrorKind::UnknownMode), now));
    auto outcome = evaluate_message(s, *s.definition, env.sender(), env.message_type(), env.payload(), now);
    if (!outcome) return reply(err(env, outcome.error(), now));
    // Issue #8.4: a session's state may grow only so far, so that it always stays writable as a
    // checkpoint and readable again. The message that would pass the bound is refused; one that
    // resolves the session never is, so a full session can still be committed or cancelled.
    if (!outcome->resolution && s.state_bytes + env.payload().size() > options_.max_session_state_bytes) {
        return reply(
            err(env,
                Error(ErrorKind::SessionStateTooLarge, "session state would exceed MACP_MAX_SESSION_STATE_BYTES (" +
                                                           std::to_string(options_.max_session_state_bytes) + ")"),
                now));
    }

    LogEntry entry;
    entry.message_id = env.message_id();
    entry.received_at_ms = now;
    entry.sender = env.sender();
    entry.message_type = env.message_type();
    entry.session_id = s.session_id;
    entry.mode = s.mode;
    entry.macp_version = env.macp_version();
    entry.timestamp_unix_ms = env.timestamp_unix_ms();
    // The payload is lent to the entry for encoding instead of copied, then given back.
    entry.payload = std::move(*env.mutable_payload());
    const size_t payload_bytes = entry.payload.size();
    std::string record = encode_entry(entry);
    *env.mutable_payload() = std::move(entry.payload);
    {
        write(slot, std::move(record),
              [this, env = std::move(env), done, now, payload_bytes, outcome = std::move(outcome.value())](
                  SessionSlot& sl, Outbox& o, const storage::Status& st) mutable {
                  Session& ss = sl.session;
                  if (!st) {  // MSG-4: nothing applied, dedup slot not consumed
                      log_storage_failure("session " + ss.session_id + ": append of " + env.message_id() + " failed",
                                          st.error().message);
                      sl.in_doubt = true;
                      o.push_back([done, a = err(env, Error(ErrorKind::StorageFailed), now)] { done(a); });
                      return;
                  }
                  commit_message(ss, env.message_id(), env.sender(), now, payload_bytes, std::move(outcome));
                  events_.on_envelope(env, ss.envelope_seq);
                  Ack a = ok_ack(env, ss.state, now);
                  if (ss.state == SessionState::Resolved) {  // MSG-7: acknowledged once its snapshot was attempted
                      lifecycle(Lifecycle::Resolved, ss, now);
                      save_snapshot(ss, [done, a = std::move(a)] { done(a); });
                      return;
                  }
                  // A due checkpoint is durable before the ack, as it was before acks stopped
                  // waiting: a crash right after the ack then replays to the same log_entries.
                  if (!maybe_checkpoint(sl, now, [done, a](Outbox& o2) { o2.push_back([done, a] { done(a); }); })) {
                      o.push_back([done, a = std::move(a)] { done(a); });
                  }
              });
    }
}

void Kernel::log_storage_failure(const std::string& what, const std::string& why, bool error) {
    uint64_t suppressed = 0;
    if (!storage_log_.allow(suppressed)) return;
    const auto level = error ? spdlog::level::err : spdlog::level::warn;
    if (suppressed == 0) {
        util::log_target(util::kStorageTarget).log(level, "{}: {}", what, why);
    } else {
        util::log_target(util::kStorageTarget)
            .log(level, "{}: {} ({} more storage failures in the last second not logged)", what, why, suppressed);
    }
}

void Kernel::save_snapshot(const Session& s, std::function<void()> then) {
    // MSG-8: snapshot failures are logged only (by the writer). Recovery trusts only a terminal
    // snapshot (written after the terminal entry is durable); a missing or stale one just means a
    // replay of the log.
    snapshots_.save(s.session_id, encode_snapshot(s, s.definition_record), std::move(then));
}

bool Kernel::maybe_checkpoint(SessionSlot& slot, int64_t now, std::function<void(Outbox&)> then) {
    Session& s = slot.session;
    const auto n = options_.checkpoint_interval;  // STO-CKPT-4, without Q-42's drift
    if (n <= 0 || (s.log_entries + 1) % static_cast<uint64_t>(n) != 0) return false;
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
    // The session's next message waits behind it (the slot is busy), as the log's order requires.
    write(slot, encode_entry(e),
          [this, then = std::move(then)](SessionSlot& sl, Outbox& out, const storage::Status& st) {
              if (!st) {
                  --sl.session.log_entries;
                  // STO-CKPT-5
                  log_storage_failure("session " + sl.session_id + ": checkpoint append failed", st.error().message,
                                      false);
              }
              then(out);
          });
    return true;
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

void Kernel::expire_if_due(SessionSlot& slot, int64_t now, Outbox& out, AfterExpiry then) {
    if (!settle(slot)) return then(slot, out, false);
    Session& s = slot.session;
    bool due = false;
    if (s.state == SessionState::Open) {
        due = now > s.ttl_expiry_ms;  // TTL-1: strictly greater
    } else if (s.state == SessionState::Suspended && s.suspended_at_ms) {
        due = s.accumulated_suspended_ms + (now - *s.suspended_at_ms) > s.max_suspend_ms;  // TTL-2
    }
    if (!due) return then(slot, out, true);
    auto entry = make_internal_entry(s, "TtlExpired", {}, now);  // TTL-3
    write(slot, encode_entry(entry),
          [this, entry, now, then = std::move(then)](SessionSlot& sl, Outbox& o, const storage::Status& st) {
              if (!st) {
                  log_storage_failure("session " + sl.session_id + ": TtlExpired append failed", st.error().message);
                  sl.in_doubt = true;
                  return then(sl, o, false);
              }
              apply_internal(sl.session, entry);
              save_snapshot(sl.session);
              lifecycle(Lifecycle::Expired, sl.session, now);
              then(sl, o, true);
          });
}

}  // namespace macp::kernel
