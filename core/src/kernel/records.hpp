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
};

std::string encode_entry(const LogEntry& e);
// Accepts our records and the reference's (`raw_payload` as a byte array).
Result<LogEntry, std::string> decode_entry(const std::string& record);

std::string encode_snapshot(const Session& s);
Result<Session, std::string> decode_snapshot(const std::string& record);

}  // namespace macp::kernel
