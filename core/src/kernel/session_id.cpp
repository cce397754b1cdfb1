#include "kernel/session_id.hpp"

#include <cctype>

namespace macp::kernel {

namespace {

// Longest id we accept. The reference has no upper bound; ours keeps ids usable as file and
// key names on every backend (docs/compatibility.md, SID-4).
constexpr size_t kMaxIdLength = 255;

bool is_hex(char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// True when `id` has the 8-4-4-4-12 hyphenated UUID shape (any case).
bool parses_as_uuid(const std::string& id) {
    if (id.size() != 36) return false;
    for (size_t i = 0; i < id.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !is_hex(id[i])) return false;
    }
    return true;
}

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

}  // namespace

bool valid_session_id(const std::string& id) {
    if (id.empty()) return false;  // SID-1
    if (parses_as_uuid(id)) {
        // SID-2/3: canonical lower-case, version 4 or 7 (variant bits unchecked, like the reference).
        for (char c : id) {
            if (std::isupper(static_cast<unsigned char>(c)) != 0) return false;
        }
        char version = id[14];
        return version == '4' || version == '7';
    }
    // SID-4 (0.6: 36-char tokens that are not UUIDs fall through to here).
    if (id.size() < 22 || id.size() > kMaxIdLength) return false;
    for (char c : id) {
        if (!is_token_char(c)) return false;
    }
    return true;
}

}  // namespace macp::kernel
