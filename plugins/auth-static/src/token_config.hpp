// Loading and validating the static token table (MACP_AUTH_TOKENS_JSON / MACP_AUTH_TOKENS_FILE).
// The JSON is operator input, but it can come from a file other people write, so it is parsed as
// untrusted: bounded size, bounded nesting, iterative parser, strict types, precise messages.
#ifndef MACP_AUTH_STATIC_TOKEN_CONFIG_HPP
#define MACP_AUTH_STATIC_TOKEN_CONFIG_HPP

#include <cstddef>
#include <string>
#include <vector>

#include "macp/plugin/sdk/auth.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::auth_static {

inline constexpr const char* kTokensJsonKey = "MACP_AUTH_TOKENS_JSON";
inline constexpr const char* kTokensFileKey = "MACP_AUTH_TOKENS_FILE";

// Larger inputs are refused before parsing: a token table is a few KiB, and RapidJSON's DOM
// needs several bytes of memory per input byte.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{16} * 1024 * 1024;
// The valid shape needs 3 levels ({"tokens":[{"allowed_modes":[...]}]}); anything much deeper is
// garbage or an attack, and refusing it keeps the parser's heap stack small.
inline constexpr unsigned kMaxNestingDepth = 64;

// One configured token and the identity it authenticates.
struct TokenEntry {
    std::string token;
    macp::sdk::Identity identity;
};

// Parses a token table. `source` names where the text came from, for messages only
// (e.g. "MACP_AUTH_TOKENS_FILE '/etc/macp/tokens.json'"). Duplicate tokens: the last entry wins
// (reference behaviour AUTH-STATIC-3). Throws macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT) on
// any problem, including an empty list.
std::vector<TokenEntry> parse_token_config(const std::string& json, const std::string& source);

// Reads a whole file of at most kMaxConfigBytes. Throws macp::sdk::Error: MACP_STATUS_IO_ERROR
// when it cannot be opened or read, MACP_STATUS_INVALID_ARGUMENT when it is too large.
std::string read_config_file(const std::string& path);

// Chooses the source (inline JSON wins over the file, AUTH-STATIC-1), reads and parses it.
std::vector<TokenEntry> load_token_config(const macp::sdk::Config& config);

}  // namespace macp::auth_static

#endif  // MACP_AUTH_STATIC_TOKEN_CONFIG_HPP
