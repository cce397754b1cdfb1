// GET of a JWKS document over http:// or https:// with libcurl: bounded in time and size.
#ifndef MACP_AUTH_JWT_HTTP_FETCH_HPP
#define MACP_AUTH_JWT_HTTP_FETCH_HPP

#include <chrono>
#include <cstddef>
#include <string>

namespace macp::auth_jwt {

// Holds one reference on libcurl's global state (curl_global_init / curl_global_cleanup are
// reference-counted by libcurl, and thread-safe from libcurl 7.84 on; bookworm has 7.88). Each
// resolver instance owns one, so the plugin has no global state of its own.
class CurlGlobal {
public:
    CurlGlobal();
    ~CurlGlobal();
    CurlGlobal(const CurlGlobal&) = delete;
    CurlGlobal& operator=(const CurlGlobal&) = delete;
};

inline constexpr std::chrono::milliseconds kConnectTimeout{3000};
inline constexpr std::chrono::milliseconds kTotalTimeout{5000};

// Returns the body of a 2xx answer. Throws macp::sdk::Error: TIMEOUT when `total` (or `connect`)
// elapsed, UNAVAILABLE for a connection failure or a non-2xx status, INVALID_ARGUMENT for a body
// over `max_bytes`. Redirects (at most 3) stay on http/https. An https:// server certificate is
// verified (peer and host name) against `ca_path` when not empty, else the system's CA store.
std::string http_get(const std::string& url, std::chrono::milliseconds connect, std::chrono::milliseconds total,
                     std::size_t max_bytes, const std::string& ca_path = {});

}  // namespace macp::auth_jwt

#endif  // MACP_AUTH_JWT_HTTP_FETCH_HPP
