// MACP_REDIS_URL: the two accepted forms (README.md "URL forms").
//   redis://[[user]:password@]host[:port][/db]        TCP; host may be [IPv6]; port 6379; db 0
//   unix://[[user]:password@]/absolute/path.sock[?db=N]  Unix domain socket
// Reserved characters in user, password or path are percent-encoded (%40 for '@', %2F for '/',
// %3A for ':'). Anything else, including rediss:// (hiredis 0.14 has no TLS), is refused with a
// message that says why.
#ifndef MACP_STORAGE_REDIS_REDIS_URL_HPP
#define MACP_STORAGE_REDIS_REDIS_URL_HPP

#include <string>
#include <string_view>

namespace macp::storage_redis {

struct Endpoint {
    enum class Kind { tcp, unix_socket };
    Kind kind = Kind::tcp;
    std::string host;  // tcp: name or address (IPv6 without brackets)
    int port = 6379;   // tcp
    std::string path;  // unix_socket: absolute path
    int db = 0;
    std::string user;  // empty: the default user
    std::string password;
    bool has_password = false;
    std::string display;  // the URL with the password masked ("***"), for messages and logs
};

// Parses MACP_REDIS_URL; throws macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT, why) naming the
// (masked) URL.
Endpoint parse_url(std::string_view url);

// The URL with any password replaced by "***" (works on malformed URLs too).
std::string mask_url(std::string_view url);

}  // namespace macp::storage_redis

#endif  // MACP_STORAGE_REDIS_REDIS_URL_HPP
