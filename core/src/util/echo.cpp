#include "util/echo.hpp"

namespace macp::util {

namespace {

// The longest prefix of `s` of at most `max` bytes that does not end inside a UTF-8 sequence.
std::size_t cut_point(std::string_view s, std::size_t max) {
    std::size_t cut = max;
    // Step back over continuation bytes (10xxxxxx) to the start of the character cut in two.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0U) == 0x80U) --cut;
    return cut;
}

std::string shortened(std::string_view s, std::size_t max) {
    std::string out(s.substr(0, cut_point(s, max)));
    out += "... (";
    out += std::to_string(s.size());
    out += " bytes)";
    return out;
}

}  // namespace

std::string echo(std::string_view input, std::size_t max) {
    if (input.size() <= max) return std::string(input);
    return shortened(input, max);
}

std::string bounded_message(std::string message) {
    if (message.size() <= kMaxStatusMessage) return message;
    return shortened(message, kMaxStatusMessage);
}

}  // namespace macp::util
