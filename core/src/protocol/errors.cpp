#include "protocol/errors.hpp"

namespace macp::protocol {

const char* Error::code() const {
    switch (kind) {
        case ErrorKind::InvalidMacpVersion: return "UNSUPPORTED_PROTOCOL_VERSION";
        case ErrorKind::InvalidEnvelope:
        case ErrorKind::InvalidPayload:
        case ErrorKind::InvalidTtl:
        case ErrorKind::InvalidModeState: return "INVALID_ENVELOPE";
        case ErrorKind::SessionAlreadyExists: return "SESSION_ALREADY_EXISTS";
        case ErrorKind::UnknownSession: return "SESSION_NOT_FOUND";
        case ErrorKind::SessionNotOpen:
        case ErrorKind::TtlExpired: return "SESSION_NOT_OPEN";
        case ErrorKind::UnknownMode: return "MODE_NOT_SUPPORTED";
        case ErrorKind::Forbidden: return "FORBIDDEN";
        case ErrorKind::Unauthenticated: return "UNAUTHENTICATED";
        case ErrorKind::PayloadTooLarge: return "PAYLOAD_TOO_LARGE";
        case ErrorKind::RateLimited: return "RATE_LIMITED";
        case ErrorKind::StorageFailed: return "INTERNAL_ERROR";
        case ErrorKind::InvalidSessionId: return "INVALID_SESSION_ID";
        case ErrorKind::UnknownPolicyVersion: return "UNKNOWN_POLICY_VERSION";
        case ErrorKind::PolicyDenied: return "POLICY_DENIED";
        case ErrorKind::InvalidPolicyDefinition: return "INVALID_POLICY_DEFINITION";
        // RESOURCE_EXHAUSTED like ERR-13: the session cannot take more, the message itself is fine.
        case ErrorKind::SessionStateTooLarge: return "PAYLOAD_TOO_LARGE";
    }
    return "INTERNAL_ERROR";
}

const char* Error::display() const {
    switch (kind) {
        case ErrorKind::InvalidMacpVersion: return "InvalidMacpVersion";
        case ErrorKind::InvalidEnvelope: return "InvalidEnvelope";
        case ErrorKind::InvalidPayload: return "InvalidPayload";
        case ErrorKind::InvalidTtl: return "InvalidTtl";
        case ErrorKind::InvalidModeState: return "InvalidModeState";
        case ErrorKind::SessionAlreadyExists: return "SessionAlreadyExists";
        case ErrorKind::UnknownSession: return "UnknownSession";
        case ErrorKind::SessionNotOpen: return "SessionNotOpen";
        case ErrorKind::TtlExpired: return "TtlExpired";
        case ErrorKind::UnknownMode: return "UnknownMode";
        case ErrorKind::Forbidden: return "Forbidden";
        case ErrorKind::Unauthenticated: return "Unauthenticated";
        case ErrorKind::PayloadTooLarge: return "PayloadTooLarge";
        case ErrorKind::RateLimited: return "RateLimited";
        case ErrorKind::StorageFailed: return "StorageFailed";
        case ErrorKind::InvalidSessionId: return "InvalidSessionId";
        case ErrorKind::UnknownPolicyVersion: return "UnknownPolicyVersion";
        case ErrorKind::PolicyDenied: return "PolicyDenied";
        case ErrorKind::InvalidPolicyDefinition: return "InvalidPolicyDefinition";
        case ErrorKind::SessionStateTooLarge: return "SessionStateTooLarge";
    }
    return "Internal";
}

}  // namespace macp::protocol
