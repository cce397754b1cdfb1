// Constant-time token lookup.
//
// A plain hash map or std::string == returns as soon as a byte differs, so the response time
// tells an attacker how many leading bytes of a guess are right, and a token can be recovered one
// byte at a time. TokenTable::find instead always compares the presented token against EVERY
// configured token, over every byte of the presented token, and never branches on a byte value.
// Its running time depends only on the number of configured tokens and the length of the
// presented token (both known to the caller), never on the bytes or the lengths of the
// configured tokens: every configured token is stored zero-padded to the longest one.
#ifndef MACP_AUTH_STATIC_TOKEN_TABLE_HPP
#define MACP_AUTH_STATIC_TOKEN_TABLE_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace macp::auth_static {

class TokenTable {
public:
    // `tokens` must be non-empty, each token non-empty and all distinct (so at most one matches).
    explicit TokenTable(const std::vector<std::string>& tokens);

    // Position in the constructor's vector of the token equal to `presented`, if any.
    [[nodiscard]] std::optional<std::size_t> find(std::string_view presented) const noexcept;

    [[nodiscard]] std::size_t size() const noexcept { return lengths_.size(); }

private:
    std::size_t width_ = 0;              // length of the longest configured token
    std::vector<unsigned char> padded_;  // size() rows of width_ bytes, zero-padded
    std::vector<std::size_t> lengths_;   // real length of each row's token
};

}  // namespace macp::auth_static

#endif  // MACP_AUTH_STATIC_TOKEN_TABLE_HPP
