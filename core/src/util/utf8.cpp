#include "util/utf8.hpp"

#include <cstddef>

namespace macp::util {

namespace {

// The length of the well-formed UTF-8 sequence starting at p[i], or 0 when there is none.
std::size_t sequence_length(const unsigned char* p, std::size_t n, std::size_t i) {
    const unsigned char c = p[i];
    if (c < 0x80) return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80;  // the allowed range of the second byte (RFC 3629 table)
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;  // continuation byte first, C0/C1 (overlong) or F5..FF
    }
    if (i + len > n) return 0;
    if (p[i + 1] < lo || p[i + 1] > hi) return 0;
    for (std::size_t k = 2; k < len; ++k) {
        if ((p[i + k] & 0xC0U) != 0x80U) return 0;
    }
    return len;
}

}  // namespace

bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (std::size_t i = 0; i < s.size();) {
        const auto len = sequence_length(p, s.size(), i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (std::size_t i = 0; i < s.size();) {
        const auto len = sequence_length(p, s.size(), i);
        if (len == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD for the one byte that starts no valid sequence
            ++i;
        } else {
            out.append(s.data() + i, len);
            i += len;
        }
    }
    return out;
}

}  // namespace macp::util
