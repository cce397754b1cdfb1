// MACP errors as values. `kind` is the reference's error variant; its Display text (the bare
// variant name) is what lands in MACPError.message (ERR-22), and code() is the RFC registry code.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace macp::protocol {

enum class ErrorKind {
    InvalidMacpVersion,       // ERR-1
    InvalidEnvelope,          // ERR-2
    InvalidPayload,           // ERR-3
    InvalidTtl,               // ERR-4
    InvalidModeState,         // ERR-5
    SessionAlreadyExists,     // ERR-6
    UnknownSession,           // ERR-7
    SessionNotOpen,           // ERR-8
    TtlExpired,               // ERR-9
    UnknownMode,              // ERR-10
    Forbidden,                // ERR-11
    Unauthenticated,          // ERR-12
    PayloadTooLarge,          // ERR-13
    RateLimited,              // ERR-14
    StorageFailed,            // ERR-15
    InvalidSessionId,         // ERR-16
    UnknownPolicyVersion,     // ERR-17
    PolicyDenied,             // ERR-18
    InvalidPolicyDefinition,  // ERR-19
    SessionStateTooLarge,     // issue #8.4 (ours): the session's state bound (docs/compatibility.md)
};

inline constexpr size_t kErrorKindCount = static_cast<size_t>(ErrorKind::SessionStateTooLarge) + 1;

struct Error {
    ErrorKind kind;
    std::vector<std::string> reasons;  // PolicyDenied only (RPC-SEND-5)
    std::string detail;                // for logs; never changes the wire message

    Error(ErrorKind k) : kind(k) {}  // NOLINT(google-explicit-constructor)
    Error(ErrorKind k, std::string d) : kind(k), detail(std::move(d)) {}
    static Error denied(std::vector<std::string> reasons) {
        Error e(ErrorKind::PolicyDenied);
        e.reasons = std::move(reasons);
        return e;
    }

    // RFC error-code registry string, e.g. "INVALID_ENVELOPE".
    [[nodiscard]] const char* code() const;
    // The bare variant name, e.g. "InvalidPayload" (ERR-22).
    [[nodiscard]] const char* display() const;
};

}  // namespace macp::protocol
