// The record encoding the core owns (`json/1`): one compact JSON object per record, never a
// newline inside, identical on every storage backend (STO-LOG-1, STO-SNAP-1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kernel/session.hpp"
#include "policy/policy_definition.hpp"
#include "util/result.hpp"

namespace macp::kernel {

enum class EntryKind { Incoming, Internal, Checkpoint };

struct LogEntry {
    std::string message_id;
    int64_t received_at_ms = 0;  // server acceptance clock (MSG-4 as of 0.6)
    std::string sender;
    std::string message_type;
    std::string payload;  // raw bytes
    EntryKind kind = EntryKind::Incoming;
    std::string session_id;
    std::string mode;
    std::string macp_version;
    int64_t timestamp_unix_ms = 0;  // client clock, informational

    // Bindings recorded on the SessionStart entry so that replay reproduces the live session
    // exactly (SS-17..19; and the bound policy, which the reference re-resolves: Q-2).
    std::optional<std::string> bound_mode_version;
    std::optional<int64_t> bound_max_suspend_ms;
    std::optional<int> semantics_rev;
    std::optional<policy::PolicyDefinition> bound_policy;
    std::optional<int64_t> bound_ttl_expiry_ms;
    // The mode definition the session started under (ModeRegistry::definition_record), so replay
    // never depends on what the registry holds later (issue #8.3).
    std::optional<std::string> bound_definition;
};

std::string encode_entry(const LogEntry& e);
// Accepts our records and the reference's (`raw_payload` as a byte array).
Result<LogEntry, std::string> decode_entry(const std::string& record);
// The same into an existing entry, reusing its strings' storage: replay decodes every record of a
// log into one entry (issue #13). On failure `out` is left in an unspecified state.
Result<void, std::string> decode_entry_into(const std::string& record, LogEntry& out);
// `try_plain` false skips the one-pass reader and reads with the document reader only (tests, and
// decode_entry_into once the one-pass reader gave up).
Result<LogEntry, std::string> decode_entry(const std::string& record, bool try_plain);

// Snapshots and checkpoints. The mode state is encoded by the session's mode; decoding hands its
// bytes back separately (in `mode_state`) because only the session's mode can read them.
// `definition` is the session's ModeRegistry::definition_record, written alongside.
std::string encode_snapshot(const Session& s, const std::string& definition);
struct DecodedSnapshot {
    Session session;  // everything but the mode state
    std::string mode_state;
    std::optional<std::string> definition;
};
// `with_mode_state` false leaves mode_state empty: reading a finished session's metadata skips
// the base64 decode and the copy of its state (the JSON text is still parsed whole).
Result<DecodedSnapshot, std::string> decode_snapshot(const std::string& record, bool with_mode_state = true);

}  // namespace macp::kernel
