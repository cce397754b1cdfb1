// Client input quoted back in an error message, bounded.
//
// Why: a status message travels in the grpc-message trailer, and a client rejects a trailer past
// its metadata limit (8 KiB by default), so an error that echoes a 1 MB session id reaches the
// caller as an unreadable transport error instead of the error it is (issue #15). Whatever a
// client sent is quoted back at most `max` bytes long, cut at a UTF-8 character boundary, with the
// original length noted.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace macp::util {

inline constexpr std::size_t kMaxEcho = 128;
// Room for a whole status message: a few echoed fields and their explanation.
inline constexpr std::size_t kMaxStatusMessage = 1024;

// `input` when it fits in `max` bytes, else its first bytes (never half a UTF-8 character) and
// "... (N bytes)".
std::string echo(std::string_view input, std::size_t max = kMaxEcho);

// A status message cut to kMaxStatusMessage bytes the same way: the last guard before a trailer.
std::string bounded_message(std::string message);

}  // namespace macp::util
