#include "token_table.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>

namespace macp::auth_static {
namespace {

// Hides a value from the optimizer so it cannot prove anything about it and turn the
// accumulate-everything loops below back into early exits.
inline std::size_t opaque(std::size_t v) noexcept {
#if defined(__GNUC__)
    __asm__ __volatile__("" : "+r"(v));
#endif
    return v;
}

// All ones if `condition`, else zero, without a branch.
inline std::size_t mask_if(bool condition) noexcept {
    return std::size_t{0} - static_cast<std::size_t>(condition);
}

// 1 if v == 0 else 0, without a branch: (v | -v) has its top bit set exactly when v != 0.
inline std::size_t is_zero(std::size_t v) noexcept {
    return ((v | (std::size_t{0} - v)) >> (sizeof(std::size_t) * CHAR_BIT - 1)) ^ 1U;
}

}  // namespace

TokenTable::TokenTable(const std::vector<std::string>& tokens) {
    if (tokens.empty()) throw std::invalid_argument("TokenTable: no tokens");
    for (const auto& t : tokens) {
        if (t.empty()) throw std::invalid_argument("TokenTable: empty token");
        width_ = std::max(width_, t.size());
    }
    padded_.assign(tokens.size() * width_, 0);
    lengths_.reserve(tokens.size());
    for (std::size_t row = 0; row < tokens.size(); ++row) {
        std::copy(tokens[row].begin(), tokens[row].end(), padded_.begin() + static_cast<std::ptrdiff_t>(row * width_));
        lengths_.push_back(tokens[row].size());
    }
}

std::optional<std::size_t> TokenTable::find(std::string_view presented) const noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(presented.data());
    const std::size_t n = presented.size();
    std::size_t found = 0;
    std::size_t match = 0;
    for (std::size_t row = 0; row < lengths_.size(); ++row) {
        const unsigned char* t = padded_.data() + row * width_;
        // Different lengths never match; folded in instead of returning early.
        std::size_t diff = lengths_[row] ^ n;
        for (std::size_t k = 0; k < n; ++k) {
            // Bytes past the padded width are compared with the row's last byte: the length
            // difference already makes such a row unequal, and the index never leaves the row.
            const std::size_t in_row = mask_if(k < width_);
            const std::size_t j = (k & in_row) | ((width_ - 1) & ~in_row);
            diff |= static_cast<std::size_t>(t[j] ^ p[k]);
        }
        const std::size_t equal = is_zero(opaque(diff));
        const std::size_t take = mask_if(equal != 0);
        match = (row & take) | (match & ~take);
        found |= equal;
    }
    if (opaque(found) == 0) return std::nullopt;  // the outcome itself is public
    return match;
}

}  // namespace macp::auth_static
