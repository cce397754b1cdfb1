// Send admission pipeline: shape -> authenticate -> sender binding -> identity authorization ->
// rate limit -> dispatch (BEHAVIOR.md §2.1, in the reference's order).
#include <chrono>

#include <spdlog/spdlog.h>

#include "kernel/await_reply.hpp"
#include "kernel/kernel.hpp"
#include "modes/commitment.hpp"
#include "util/log_context.hpp"

namespace macp::kernel {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

Ack error_ack(const macp::v1::Envelope& request, Error e, int64_t now) {
    Ack a;  // RPC-SEND-4: ids echoed from the request envelope, state UNSPECIFIED
    a.message_id = request.message_id();
    a.session_id = request.session_id();
    a.accepted_at_ms = now;
    a.error = std::move(e);
    return a;
}

std::optional<Error> check_shape(const macp::v1::Envelope& env, int64_t max_payload) {
    if (env.macp_version() != "1.0") return Error(ErrorKind::InvalidMacpVersion);                          // ENV-1
    if (env.message_type().empty() || env.message_id().empty()) return Error(ErrorKind::InvalidEnvelope);  // ENV-2
    const auto& type = env.message_type();
    if (type == "Signal") {  // ENV-3
        if (!env.session_id().empty() || !modes::is_blank(env.mode())) return Error(ErrorKind::InvalidEnvelope);
    } else if (type == "Progress") {  // ENV-4
        if (env.session_id().empty() && !modes::is_blank(env.mode())) return Error(ErrorKind::InvalidEnvelope);
    } else if (env.session_id().empty() || modes::is_blank(env.mode())) {  // ENV-5
        return Error(ErrorKind::InvalidEnvelope);
    }
    if (static_cast<int64_t>(env.payload().size()) > max_payload) return Error(ErrorKind::PayloadTooLarge);  // ENV-6
    return std::nullopt;
}

}  // namespace

std::optional<auth::Identity> Kernel::authenticate(const auth::Metadata& metadata) const {
    return auth_.authenticate(metadata);
}

void Kernel::submit(const auth::Metadata& metadata, macp::v1::Envelope request, AckFn done) {
    done = counted(std::move(done));
    const int64_t now = now_ms();
    if (auto e = check_shape(request, options_.max_payload_bytes)) return done(error_ack(request, *e, now));
    auto identity = auth_.authenticate(metadata);  // ENV-8
    if (!identity) return done(error_ack(request, Error(ErrorKind::Unauthenticated), now));
    admit(*identity, std::move(request), now, std::move(done));
}

void Kernel::submit_as(const auth::Identity& identity, macp::v1::Envelope request, AckFn done) {
    done = counted(std::move(done));
    const int64_t now = now_ms();
    if (auto e = check_shape(request, options_.max_payload_bytes)) return done(error_ack(request, *e, now));
    admit(identity, std::move(request), now, std::move(done));
}

Ack Kernel::send(const auth::Metadata& metadata, const macp::v1::Envelope& envelope) {
    return await_reply<Ack>([&](AckFn done) { submit(metadata, envelope, std::move(done)); });
}

Ack Kernel::send_as(const auth::Identity& identity, const macp::v1::Envelope& envelope) {
    return await_reply<Ack>([&](AckFn done) { submit_as(identity, envelope, std::move(done)); });
}

void Kernel::admit(const auth::Identity& identity, macp::v1::Envelope env, int64_t now, AckFn done) {
    // ENV-9: a claimed sender must be the authenticated one; then it is overwritten.
    if (!env.sender().empty() && env.sender() != identity.sender) {
        // Fields for the JSON log (issue #14); built only on this rare path, never per accepted message.
        const util::LogContext fields{
            {"session_id", env.session_id()}, {"sender", identity.sender}, {"code", "UNAUTHENTICATED"}};
        spdlog::warn("rejected spoofed sender '{}' from identity '{}'", env.sender(), identity.sender);
        return done(error_ack(env, Error(ErrorKind::Unauthenticated, "sender spoofing"), now));
    }
    env.set_sender(identity.sender);
    const bool is_start = env.message_type() == "SessionStart";
    if (is_start && !identity.can_start_sessions)
        return done(error_ack(env, Error(ErrorKind::Forbidden), now));  // ENV-10
    if (identity.allowed_modes && identity.allowed_modes->count(env.mode()) == 0) {
        return done(error_ack(env, Error(ErrorKind::Forbidden), now));  // ENV-10 (Q-9: Signals too)
    }
    auto bucket = is_start ? auth::RateLimiter::Bucket::SessionStart : auth::RateLimiter::Bucket::Message;
    if (!limiter_.allow(identity.sender, bucket, now)) {  // ENV-11
        const util::LogContext fields{
            {"session_id", env.session_id()}, {"sender", identity.sender}, {"code", "RATE_LIMITED"}};
        spdlog::warn("rate limit hit by '{}' ({})", identity.sender, is_start ? "session starts" : "messages");
        return done(error_ack(env, Error(ErrorKind::RateLimited), now));
    }
    // RPC-SEND-4: an error echoes the request's ids with state UNSPECIFIED, whatever path decided it.
    AckFn answer = [done = std::move(done), message_id = env.message_id(), session_id = env.session_id()](Ack ack) {
        if (ack.error) {
            ack.message_id = message_id;
            ack.session_id = session_id;
            ack.session_state = 0;
        }
        done(std::move(ack));
    };
    if (is_start) {  // ENV-12: dispatch on the exact message type
        start_session(identity, std::move(env), now, std::move(answer));
    } else if (env.message_type() == "Signal" || env.message_type() == "Progress") {
        answer(ambient(env, now));
    } else {
        session_message(std::move(env), std::move(answer));
    }
}

Ack Kernel::ambient(const macp::v1::Envelope& env, int64_t now) {
    if (!env.payload().empty()) {
        if (env.message_type() == "Signal") {  // SIG-1
            macp::v1::SignalPayload p;
            if (!p.ParseFromString(env.payload()) || modes::is_blank(p.signal_type())) {
                return error_ack(env, Error(ErrorKind::InvalidPayload), now);
            }
        } else {  // SIG-2
            macp::v1::ProgressPayload p;
            if (!p.ParseFromString(env.payload())) return error_ack(env, Error(ErrorKind::InvalidPayload), now);
        }
    }
    events_.on_signal(env);  // SIG-4: broadcast only, never persisted or deduplicated
    Ack a;                   // RPC-SEND-6
    a.ok = true;
    a.message_id = env.message_id();
    a.session_id = env.session_id();
    a.accepted_at_ms = now;
    a.session_state = static_cast<int>(SessionState::Open);
    return a;
}

}  // namespace macp::kernel
