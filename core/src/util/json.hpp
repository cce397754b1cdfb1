// JSON helpers over RapidJSON. Untrusted input is parsed iteratively with size and depth limits:
// the recursive parser overflows the stack on deeply nested arrays that fit in a 1 MiB payload.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace macp::util {

inline constexpr size_t kMaxJsonBytes = 16u * 1024u * 1024u;
inline constexpr int kMaxJsonDepth = 128;

// Parses `text` into `doc`; false on syntax error, oversize or nesting deeper than kMaxJsonDepth.
bool parse_json_untrusted(std::string_view text, rapidjson::Document& doc);
// Document::Parse, iterative, with every number read exactly by std::from_chars instead of
// RapidJSON's strtod (json.cpp says why). On error `doc` is null. No limits: parse_json_untrusted
// and parse_json_stored apply them first.
rapidjson::ParseResult parse_numbers_exactly(std::string_view text, rapidjson::Document& doc);

// Parses what the runtime itself wrote (log records, snapshots, mode states): any size, since
// whatever was accepted must read back (issue #8 cases 1, 2), but still iterative and with a
// depth bound well above anything the writers produce, so a corrupt record cannot blow the
// stack. Full precision, so doubles survive the round trip exactly.
inline constexpr int kMaxStoredJsonDepth = 1024;
bool parse_json_stored(std::string_view text, rapidjson::Document& doc);

// Compact serialization with object keys sorted recursively (a canonical form).
std::string to_canonical_json(const rapidjson::Value& v);

// Compact serialization of any value.
std::string to_json(const rapidjson::Value& v);

std::string base64_encode(std::string_view bytes);
// false on malformed input
bool base64_decode(std::string_view text, std::string& out);

// Helpers for reading typed members with defaults; they never throw.
std::string get_string(const rapidjson::Value& obj, const char* key, std::string fallback = {});
int64_t get_int(const rapidjson::Value& obj, const char* key, int64_t fallback = 0);
bool get_bool(const rapidjson::Value& obj, const char* key, bool fallback = false);

}  // namespace macp::util
