#include "settings.hpp"

#include <filesystem>
#include <system_error>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>

#include <curl/curl.h>

namespace macp::auth_jwt {
namespace {

[[noreturn]] void fail(const std::string& key, const std::string& why) {
    throw macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT, "auth-jwt: " + key + ": " + why);
}

std::string trim(const std::string& s) {
    const auto begin = s.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) return {};
    return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

std::chrono::seconds parse_ttl(const std::string& value) {
    const std::string v = trim(value);
    if (v.empty() || !std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c) != 0; }) ||
        v.size() > 9) {
        fail(kJwksTtlKey, "'" + value + "' is not a number of seconds (1.." + std::to_string(kMaxTtlSecs) + ")");
    }
    const long long secs = std::strtoll(v.c_str(), nullptr, 10);
    if (secs < 1 || secs > kMaxTtlSecs) {
        fail(kJwksTtlKey, "'" + value + "' is out of range (1.." + std::to_string(kMaxTtlSecs) + " seconds)");
    }
    return std::chrono::seconds(secs);
}

struct CurlUrlDeleter {
    void operator()(CURLU* u) const noexcept { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
    void operator()(char* s) const noexcept { curl_free(s); }
};

}  // namespace

bool Settings::allows(Alg alg) const {
    return std::find(algs.begin(), algs.end(), alg) != algs.end();
}

std::vector<Alg> parse_algs(const std::string& value) {
    std::vector<Alg> algs;
    std::size_t start = 0;
    while (start <= value.size()) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        std::string item = trim(value.substr(start, comma - start));
        std::transform(item.begin(), item.end(), item.begin(), [](unsigned char c) { return std::toupper(c); });
        start = comma + 1;
        if (item.empty()) continue;
        const auto alg = alg_from_name(item);
        if (!alg) {
            fail(kAlgsKey, "unknown algorithm '" + item + "' (supported: RS256, ES256, HS256; 'none' never is)");
        }
        if (std::find(algs.begin(), algs.end(), *alg) == algs.end()) algs.push_back(*alg);
    }
    if (algs.empty()) return parse_algs(kDefaultAlgs);  // AUTH-JWT-10: an empty list is the default
    return algs;
}

void check_jwks_url(const std::string& url) {
    std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
    if (!u) throw macp::sdk::Error(MACP_STATUS_INTERNAL, "auth-jwt: out of memory");
    if (url.find_first_of(" \t\r\n") != std::string::npos ||
        curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
        fail(kJwksUrlKey, "'" + url + "' is not a URL");
    }
    char* raw = nullptr;
    if (curl_url_get(u.get(), CURLUPART_SCHEME, &raw, 0) != CURLUE_OK) fail(kJwksUrlKey, "'" + url + "' has no scheme");
    std::unique_ptr<char, CurlStringDeleter> scheme(raw);
    const std::string s(scheme.get());
    if (s != "http" && s != "https") fail(kJwksUrlKey, "'" + url + "': only http:// and https:// are supported");
    raw = nullptr;
    if (curl_url_get(u.get(), CURLUPART_HOST, &raw, 0) != CURLUE_OK) fail(kJwksUrlKey, "'" + url + "' has no host");
    std::unique_ptr<char, CurlStringDeleter> host(raw);
    if (host == nullptr || *host == '\0') fail(kJwksUrlKey, "'" + url + "' has no host");
}

Settings parse_settings(const macp::sdk::Config& config) {
    Settings s;
    s.issuer = config.get_or(kIssuerKey, "");
    if (s.issuer.empty()) fail(kIssuerKey, "required (the expected \"iss\" claim)");
    s.audience = config.get_or(kAudienceKey, kDefaultAudience);
    if (s.audience.empty()) s.audience = kDefaultAudience;
    s.algs = parse_algs(config.get_or(kAlgsKey, kDefaultAlgs));
    if (auto ttl = config.get(kJwksTtlKey); ttl && !trim(*ttl).empty()) s.ttl = parse_ttl(*ttl);
    if (auto json = config.get(kJwksJsonKey); json && !trim(*json).empty()) s.jwks_json = *json;
    if (auto url = config.get(kJwksUrlKey); url && !trim(*url).empty()) {
        check_jwks_url(trim(*url));
        s.jwks_url = trim(*url);
    }
    if (auto ca = config.get(kJwksCaPathKey); ca && !trim(*ca).empty()) {
        s.jwks_ca_path = trim(*ca);
        std::error_code ec;
        if (!std::filesystem::is_regular_file(s.jwks_ca_path, ec)) {
            fail(kJwksCaPathKey, "'" + s.jwks_ca_path + "' is not a readable regular file");
        }
    }
    if (!s.jwks_json && !s.jwks_url) {
        fail(kIssuerKey, "is set but there is no key source: set MACP_AUTH_JWKS_JSON (inline) or MACP_AUTH_JWKS_URL");
    }
    if (s.jwks_json && s.jwks_url) {
        s.warnings.push_back("both MACP_AUTH_JWKS_JSON and MACP_AUTH_JWKS_URL are set: the inline JWKS is used and " +
                             std::string("the URL is ignored"));
        s.jwks_url.reset();
    }
    return s;
}

}  // namespace macp::auth_jwt
