// Shared pieces for reading a mode's policy rules JSON the way the reference deserializes it with
// serde (BEHAVIOR.md §5 POL-SCH-3..8). The proposal, quorum, task and handoff evaluators each parse
// their own rule struct but must report type errors in serde's exact wording, e.g.
// `invalid type: string "x", expected a boolean`, and must all validate the shared `commitment`
// group. Those texts reach clients as deny reasons, so they live in one place to stay in step.
//
// Convention: a check_* function returns an empty string when the value is acceptable and
// otherwise the serde error text.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace macp::policy::rule_reader {

// The reference deserializes from a serde_json::Value whose map is a BTreeMap (no preserve_order):
// members are visited in key order and a repeated key keeps its last value, so the first type error
// in key order is the one reported. Iterate this map to visit members in that order.
std::map<std::string, const rapidjson::Value*> members_in_key_order(const rapidjson::Value& obj);

// An f64 written with the shortest digits that read back exactly, never with an exponent
// ("2", "2.5", "60"); NaN is "NaN". Used inside serde's `floating point` wording and in the quorum
// deny text. Unlike Rust's `{}`, a large value whose shortest digits need zero padding is written
// with its exact digits (1e23 gives "99999999999999991611392", Rust "100000000000000000000000");
// kept as is because changing it changes error texts.
std::string f64_digits(double v);

// How a NUL character inside a quoted string is written. Rust's `{:?}` (and so the reference)
// writes `\0`; the task and handoff readers have always written `\u{0}`. The choice is explicit so
// that moving the readers here changed no error text.
enum class NulEscape {
    Backslash0,     // "\0", as Rust does (proposal, quorum)
    UnicodeBraces,  // "\u{0}" (task, handoff)
};

// Rust's `{:?}` for a str, approximately: quotes, backslash escapes for `"` `\` \n \r \t and NUL,
// other control characters as \u{..}; everything else (including non-ASCII) verbatim.
std::string rust_debug_str(std::string_view s, NulEscape nul = NulEscape::Backslash0);

// serde's `Unexpected` wording for a JSON value: "null", "boolean `true`", "integer `5`",
// "floating point `2.5`", "string \"x\"", "sequence" or "map".
std::string unexpected(const rapidjson::Value& v, NulEscape nul = NulEscape::Backslash0);

// serde's "invalid type: <unexpected>, expected <expected>" (the value has the wrong JSON type).
std::string invalid_type(const rapidjson::Value& v, const char* expected, NulEscape nul = NulEscape::Backslash0);

// serde's "invalid value: <unexpected>, expected <expected>" (right JSON type, out of range).
std::string invalid_value(const rapidjson::Value& v, const char* expected, NulEscape nul = NulEscape::Backslash0);

// Field checks for the Rust types the rule structs use; empty = acceptable.
std::string check_string(const rapidjson::Value& v, NulEscape nul = NulEscape::Backslash0);
std::string check_bool(const rapidjson::Value& v, NulEscape nul = NulEscape::Backslash0);
std::string check_f64(const rapidjson::Value& v, NulEscape nul = NulEscape::Backslash0);
// An unsigned 64-bit integer (`rust_type` is "u64" or "usize", which is 64 bits on the reference's
// targets): a negative integer is an invalid value, a fraction or non-number an invalid type. On
// success the value is read with GetUint64().
std::string check_unsigned(const rapidjson::Value& v, const char* rust_type, NulEscape nul = NulEscape::Backslash0);

// POL-SCH-3: the `commitment` group (authority, designated_roles, require_vote_quorum,
// allow_decline_over_approval) is part of every mode's rule struct, so a type error in it fails the
// whole rule object. Its values are only type-checked here; may_commit() reads them.
std::string check_commitment_group(const rapidjson::Value& v, NulEscape nul = NulEscape::Backslash0);

}  // namespace macp::policy::rule_reader
