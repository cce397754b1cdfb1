// Fuzz target (issue #15): the auth-static token table (MACP_AUTH_TOKENS_JSON / _FILE), operator
// input that other people may write. Input: the JSON text.
// Properties: the parser either refuses with INVALID_ARGUMENT or returns at least one entry,
// every token non-empty and every sender non-empty; the constant-time table built from the
// distinct tokens finds each of them at its own position and no other string; nothing crashes or
// allocates without bound (the parser's size and depth limits).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "token_config.hpp"
#include "token_table.hpp"

namespace {

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "static_tokens_fuzz: %s\n", what.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string json(reinterpret_cast<const char*>(data), size);
    std::vector<macp::auth_static::TokenEntry> entries;
    try {
        entries = macp::auth_static::parse_token_config(json, "fuzz input");
    } catch (const macp::sdk::Error& e) {
        if (e.status() != MACP_STATUS_INVALID_ARGUMENT)
            finding(std::string("refused with another status: ") + e.what());
        return 0;
    }
    if (entries.empty()) finding("an empty token table was accepted");
    std::vector<std::string> tokens;
    std::set<std::string> seen;
    for (const auto& e : entries) {
        if (e.token.empty()) finding("an empty token was accepted");
        if (e.identity.sender.empty()) finding("a token without a sender was accepted");
        if (seen.insert(e.token).second) tokens.push_back(e.token);
    }
    const macp::auth_static::TokenTable table(tokens);
    for (size_t i = 0; i < tokens.size(); ++i) {
        const auto at = table.find(tokens[i]);
        if (!at || *at != i) finding("a configured token is not found at its own position");
        const auto longer = table.find(tokens[i] + "x");
        if (longer && seen.count(tokens[i] + "x") == 0) finding("a token plus one byte matched");
    }
    return 0;
}
