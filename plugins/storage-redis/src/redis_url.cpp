// MACP_REDIS_URL parsing: see redis_url.hpp.
#include "redis_url.hpp"

#include <macp/plugin/sdk/common.hpp>

namespace macp::storage_redis {
namespace {

constexpr std::string_view kForms =
    "expected redis://[[user]:password@]host[:port][/db] or unix://[[user]:password@]/path/to/redis.sock[?db=N]";

[[noreturn]] void fail(std::string_view url, const std::string& why) {
    throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, "MACP_REDIS_URL '" + mask_url(url) + "': " + why);
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view url, std::string_view s, const char* what) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
        const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) fail(url, std::string("bad percent-encoding in the ") + what + " (use %XX)");
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

// Digits only, within [lo, hi].
int number(std::string_view url, std::string_view s, int lo, int hi, const char* what) {
    if (s.empty() || s.size() > 9) fail(url, std::string("bad ") + what + " '" + std::string(s) + "'");
    long v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') fail(url, std::string("bad ") + what + " '" + std::string(s) + "' (digits only)");
        v = v * 10 + (c - '0');
    }
    if (v < lo || v > hi) {
        fail(url, std::string(what) + " " + std::string(s) + " out of range " + std::to_string(lo) + ".." +
                      std::to_string(hi));
    }
    return static_cast<int>(v);
}

// "[user]:password" (the part before the last '@' of the authority).
void parse_userinfo(std::string_view url, std::string_view userinfo, Endpoint& e) {
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
        fail(url,
             "credentials need a password: write redis://:password@host for a password alone, "
             "redis://user:password@host for an ACL user");
    }
    e.user = percent_decode(url, userinfo.substr(0, colon), "user name");
    e.password = percent_decode(url, userinfo.substr(colon + 1), "password");
    if (e.password.empty()) fail(url, "empty password after ':' (leave out the credentials for none)");
    e.has_password = true;
}

}  // namespace

std::string mask_url(std::string_view url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::string(url);
    const auto start = scheme_end + 3;
    const auto end = url.find_first_of("/?#", start);
    const std::string_view authority = url.substr(start, end == std::string_view::npos ? url.npos : end - start);
    const auto at = authority.rfind('@');
    if (at == std::string_view::npos) return std::string(url);
    const std::string_view userinfo = authority.substr(0, at);
    const auto colon = userinfo.find(':');
    std::string out(url.substr(0, start));
    if (colon != std::string_view::npos) out.append(userinfo.substr(0, colon + 1));
    out += "***";
    out.append(url.substr(start + at));
    return out;
}

Endpoint parse_url(std::string_view url) {
    Endpoint e;
    e.display = mask_url(url);
    const auto scheme_end = url.find("://");
    if (url.empty()) fail(url, std::string("empty; ") + std::string(kForms));
    if (scheme_end == std::string_view::npos) fail(url, std::string("not a URL; ") + std::string(kForms));
    const std::string_view scheme = url.substr(0, scheme_end);
    std::string_view rest = url.substr(scheme_end + 3);
    if (scheme == "rediss") {
        fail(url,
             "TLS (rediss://) is not supported: storage-redis is built on hiredis 0.14, which has no TLS; "
             "use redis:// on a trusted network or through a TLS tunnel (e.g. stunnel), or a Unix socket");
    }
    if (scheme == "unix") {
        e.kind = Endpoint::Kind::unix_socket;
        const auto slash = rest.find('/');
        if (slash == std::string_view::npos) fail(url, "no socket path: write unix:///absolute/path/redis.sock");
        const std::string_view authority = rest.substr(0, slash);
        if (!authority.empty()) {
            if (authority.back() != '@') {
                fail(url, "unix:// takes no host ('" + std::string(authority) +
                              "'): write unix:///absolute/path/redis.sock (three slashes)");
            }
            parse_userinfo(url, authority.substr(0, authority.size() - 1), e);
        }
        rest = rest.substr(slash);
        if (rest.find('#') != std::string_view::npos) fail(url, "a fragment ('#') is not allowed");
        const auto q = rest.find('?');
        e.path = percent_decode(url, rest.substr(0, q), "socket path");
        if (e.path.size() < 2) fail(url, "empty socket path: write unix:///absolute/path/redis.sock");
        if (q != std::string_view::npos) {
            const std::string_view query = rest.substr(q + 1);
            if (query.rfind("db=", 0) != 0 || query.find('&') != std::string_view::npos) {
                fail(url, "unknown query '" + std::string(query) + "' (only ?db=N is accepted)");
            }
            e.db = number(url, query.substr(3), 0, 1000000, "database number");
        }
        return e;
    }
    if (scheme != "redis") fail(url, "unsupported scheme '" + std::string(scheme) + "://'; " + std::string(kForms));

    const auto end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    const std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        parse_userinfo(url, authority.substr(0, at), e);
        authority = authority.substr(at + 1);
    }
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) fail(url, "unterminated IPv6 address ('[' without ']')");
        e.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') fail(url, "unexpected '" + std::string(after) + "' after the IPv6 address");
            port = after.substr(1);
            if (port.empty()) fail(url, "empty port after ':'");
        }
    } else {
        const auto colon = authority.find(':');
        e.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) fail(url, "empty port after ':'");
        }
    }
    if (e.host.empty()) fail(url, "no host; " + std::string(kForms));
    if (!port.empty()) e.port = number(url, port, 1, 65535, "port");
    if (!tail.empty()) {
        if (tail.front() != '/') {
            fail(url,
                 "a query or fragment is not accepted in redis:// URLs (put the database number in the path: "
                 "redis://host:6379/2)");
        }
        const std::string_view db = tail.substr(1);
        if (!db.empty()) e.db = number(url, db, 0, 1000000, "database number");
    }
    return e;
}

}  // namespace macp::storage_redis
