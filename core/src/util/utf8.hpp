// Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
#pragma once

#include <string>
#include <string_view>

namespace macp::util {

bool valid_utf8(std::string_view s);
// `s` with every byte that starts no well-formed sequence replaced by U+FFFD (log output: text
// from clients must not make a log line invalid).
std::string to_valid_utf8(std::string_view s);

}  // namespace macp::util
