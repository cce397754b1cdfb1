// Bounded decoders for untrusted input: base64url (RFC 4648 §5, as JWS uses it) and JSON
// (RapidJSON, iterative, with size and nesting limits).
#ifndef MACP_AUTH_JWT_CODEC_HPP
#define MACP_AUTH_JWT_CODEC_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace macp::auth_jwt {

// Unpadded base64url as JWS writes it: only [A-Za-z0-9_-], no '=', no whitespace, and the unused
// low bits of the last character must be zero (one encoding per byte string). nullopt otherwise.
std::optional<std::string> base64url_decode(std::string_view in);

// The same alphabet check for a whole segment without decoding it.
bool is_base64url(std::string_view in);

// A JWK "k" member: base64url (RFC 7518), or standard base64 with optional '=' padding (what the
// reference runtime accepted). Anything else is nullopt (no raw-bytes fallback).
std::optional<std::string> base64_any_decode(std::string_view in);

std::string base64url_encode(std::string_view bytes);

// Parses `text` into `doc`: iterative (constant stack), UTF-8 validated, at most `max_depth`
// nested arrays/objects, no NUL byte. On failure returns false and says why in `why`.
bool parse_json(std::string_view text, std::size_t max_depth, rapidjson::Document& doc, std::string& why);

// Member `name` of object `obj`, or nullptr. A repeated member makes `duplicate` true (callers
// refuse such documents: which of the two would win differs between libraries).
const rapidjson::Value* find_member(const rapidjson::Value& obj, std::string_view name, bool& duplicate);

// True when some object in `v` (recursively) repeats a member name.
bool has_duplicate_members(const rapidjson::Value& v);

inline std::string to_string(const rapidjson::Value& s) {
    return std::string(s.GetString(), s.GetStringLength());
}

}  // namespace macp::auth_jwt

#endif  // MACP_AUTH_JWT_CODEC_HPP
