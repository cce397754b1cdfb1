// Helpers every standards-track mode uses the same way: the error for a rule violation, payload
// decoding (MODE-GEN-4) and the commitment-authority check (POL-AUTH-*).
#pragma once

#include <string>

#include "protocol/errors.hpp"
#include "modes/mode.hpp"
#include "policy/policy_definition.hpp"
#include "util/result.hpp"

namespace macp::modes {

// A payload, phase or structure violation: INVALID_ENVELOPE with Display "InvalidPayload".
inline protocol::Error invalid(const char* detail) {
    return protocol::Error(protocol::ErrorKind::InvalidPayload, detail);
}

// MODE-GEN-4: a payload that does not decode as its message is INVALID_ENVELOPE.
template <class P>
Result<P, protocol::Error> decode_payload(const std::string& bytes, const char* what) {
    P p;
    if (!p.ParseFromString(bytes)) return fail(invalid(what));
    return p;
}

// The session's state as the mode's concrete type. InvalidModeState if the session holds some
// other mode's state (a programming error, never a client's).
template <class T>
Result<const T*, protocol::Error> state_of(const MessageContext& ctx) {
    const T* s = ctx.session.mode_state.template as<T>();
    if (s == nullptr)
        return fail(protocol::Error(protocol::ErrorKind::InvalidModeState, "session holds no state of this mode"));
    return s;
}

// POL-AUTH-1..3: whether the sender may commit under the session's bound policy.
inline ModeResult<bool> authorize_commitment(const MessageContext& ctx) {
    const auto& s = ctx.session;
    if (!policy::may_commit(s.bound_policy(), ctx.sender, s.initiator, s.participants)) {
        return fail(protocol::Error(protocol::ErrorKind::Forbidden, "sender lacks commitment authority"));
    }
    return true;
}

}  // namespace macp::modes
