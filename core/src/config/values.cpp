#include "config/values.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <set>

#include "plugin_host/discovery.hpp"

namespace macp::config::values {
namespace {

// Appends rather than `"'" + std::string(text)`: g++ 12 -O2 raises a false -Wrestrict (PR 105329) on that.
std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out.append(1, '\'').append(text).append(1, '\'');
    return out;
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// Digits only: "+80", " 80" and "80x" are typos we want to surface, not guess at.
std::optional<std::string> port_problem(std::string_view port) {
    if (!all_digits(port)) return "port " + quoted(port) + " is not a number";
    const auto value = parse_int64(port);
    if (!value.ok() || *value < 1 || *value > 65535) return "port " + quoted(port) + " is not in 1..65535";
    return std::nullopt;
}

struct HostAndPort {
    std::string_view host;  // without brackets
    std::string_view port;
    bool bracketed = false;
};

std::optional<HostAndPort> split_host_port(std::string_view text) {
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        return HostAndPort{text.substr(1, close - 1), text.substr(close + 2), true};
    }
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    return HostAndPort{text.substr(0, colon), text.substr(colon + 1), false};
}

bool is_ip(int family, std::string_view host) {
    std::array<unsigned char, 16> buffer{};
    const std::string text(host);
    return inet_pton(family, text.c_str(), buffer.data()) == 1;
}

bool is_dns_name(std::string_view host) {
    return !host.empty() && std::all_of(host.begin(), host.end(),
                                        [](unsigned char c) { return std::isalnum(c) != 0 || c == '-' || c == '.'; });
}

constexpr std::array<std::string_view, 6> kLevels = {"trace", "debug", "info", "warn", "error", "off"};

bool is_level(std::string_view text) {
    return std::find(kLevels.begin(), kLevels.end(), text) != kLevels.end();
}

std::string not_a_level(std::string_view text) {
    return quoted(text) + " is not a log level (trace, debug, info, warn, error, off)";
}

}  // namespace

Result<int64_t, std::string> parse_int64(std::string_view text) {
    int64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec == std::errc::result_out_of_range) return fail(quoted(text) + " is out of range");
    if (ec != std::errc() || ptr != end) return fail(quoted(text) + " is not an integer");
    return value;
}

Result<std::string, std::string> literal_socket_address(std::string_view text) {
    const auto bad = quoted(text) + " is not a literal IP socket address (a.b.c.d:port or [v6]:port)";
    const auto parts = split_host_port(text);
    if (!parts) return fail(bad);
    const bool ip = parts->bracketed ? is_ip(AF_INET6, parts->host) : is_ip(AF_INET, parts->host);
    if (!ip) return fail(bad);
    if (auto problem = port_problem(parts->port)) return fail(quoted(text) + ": " + *problem);
    return std::string(text);
}

Result<std::string, std::string> node_id(std::string_view text) {
    const bool ok = !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
    });
    if (!ok) return fail(quoted(text) + " is not a node id (1 to 64 letters, digits, '.', '_' or '-')");
    return std::string(text);
}

Result<std::string, std::string> host_port(std::string_view text) {
    const auto parts = split_host_port(text);
    const bool host_ok = parts && (parts->bracketed ? is_ip(AF_INET6, parts->host) : is_dns_name(parts->host));
    if (!host_ok) return fail(quoted(text) + " is not host:port");
    if (auto problem = port_problem(parts->port)) return fail(quoted(text) + ": " + *problem);
    return std::string(text);
}

// Validates the filter and reduces it to one level: the level of the targets no directive names
// when the filter has no bare level. The directives themselves are applied by util/log_setup from
// the raw setting.
Result<std::string, std::string> log_level(std::string_view filter) {
    std::optional<std::string> last_bare;
    std::optional<std::string> first_targeted;
    std::string_view rest = filter;
    while (true) {
        const auto comma = rest.find(',');
        const auto directive = trim(rest.substr(0, comma));
        if (!directive.empty()) {
            const auto equals = directive.rfind('=');
            const auto level = lower(equals == std::string_view::npos ? directive : directive.substr(equals + 1));
            if (!is_level(level)) return fail(not_a_level(directive));
            if (equals == std::string_view::npos) {
                last_bare = level;
            } else if (!first_targeted) {
                first_targeted = level;
            }
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    if (last_bare) return *last_bare;
    if (first_targeted) return *first_targeted;
    return fail(not_a_level(filter));
}

Result<std::string, std::string> log_format(std::string_view text) {
    auto format = lower(text);
    if (format != "text" && format != "json") return fail(quoted(text) + " is not a log format (text, json)");
    return format;
}

// Plugin names become file names (storage-<name>.so) and Debian package names.
Result<std::string, std::string> plugin_name(std::string_view text) {
    if (!plugin_host::is_valid_plugin_name(text)) {
        return fail(quoted(text) + " is not a valid plugin name: " + std::string(plugin_host::kPluginNameSyntax));
    }
    return std::string(text);
}

Result<std::string, std::string> backend_name(std::string_view text) {
    return plugin_name(text);
}

Result<std::string, std::string> auth_plugin_list(std::string_view text) {
    constexpr std::string_view kPrefix = "auth-";
    std::string out;
    std::set<std::string, std::less<>> seen;
    if (trim(text).empty()) return out;
    std::string_view rest = text;
    for (int position = 1;; ++position) {
        const auto comma = rest.find(',');
        auto entry = trim(rest.substr(0, comma));
        if (entry.empty()) return fail(quoted(text) + ": entry " + std::to_string(position) + " is empty");
        const std::string_view written = entry;
        if (entry.starts_with(kPrefix)) entry.remove_prefix(kPrefix.size());
        auto name = plugin_name(entry);
        if (!name.ok()) return fail(quoted(text) + ": " + name.error());
        if (!seen.insert(*name).second) {
            return fail(quoted(text) + ": " + quoted(written) + " names auth-" + *name + ".so, which is listed twice");
        }
        if (!out.empty()) out += ',';
        out += *name;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return out;
}

// Relative entries would make the plugins loaded depend on the working directory.
Result<std::string, std::string> plugin_path(std::string_view text) {
    std::string_view rest = text;
    while (!rest.empty()) {
        const auto colon = rest.find(':');
        const auto entry = rest.substr(0, colon);
        if (entry.empty() || entry.front() != '/') {
            return fail(quoted(text) + ": entry " + quoted(entry) + " is not an absolute directory");
        }
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
        if (rest.empty()) return fail(quoted(text) + " ends with an empty entry");
    }
    return std::string(text);
}

Result<std::string, std::string> non_empty(std::string_view text) {
    if (text.empty()) return fail(std::string("must not be empty"));
    return std::string(text);
}

std::string flag_name(std::string_view env_name) {
    if (env_name == "RUST_LOG") return "log-level";
    constexpr std::string_view kPrefix = "MACP_";
    if (env_name.substr(0, kPrefix.size()) == kPrefix) env_name.remove_prefix(kPrefix.size());
    auto flag = lower(env_name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    return flag;
}

bool is_secret_name(std::string_view env_name) {
    const auto has = [&](std::string_view part) { return env_name.find(part) != std::string_view::npos; };
    if (env_name == "MACP_AUTH_TOKENS_JSON") return true;
    if (has("SECRET") || has("PASSWORD")) return true;
    // A tokens *file* is a path, and the path is useful when debugging a deployment.
    return has("TOKEN") && !has("TOKENS_FILE");
}

std::string mask_url_password(std::string_view value) {
    const auto scheme_end = value.find("://");
    if (scheme_end == std::string_view::npos) return std::string(value);
    const auto authority_start = scheme_end + 3;
    const auto authority_end = value.find_first_of("/?#", authority_start);
    const auto authority =
        value.substr(authority_start, authority_end == std::string_view::npos ? std::string_view::npos
                                                                              : authority_end - authority_start);
    const auto at = authority.rfind('@');
    if (at == std::string_view::npos) return std::string(value);
    const auto colon = authority.substr(0, at).find(':');
    if (colon == std::string_view::npos) return std::string(value);
    std::string masked(value.substr(0, authority_start + colon + 1));
    masked += "***";
    masked += value.substr(authority_start + at);
    return masked;
}

}  // namespace macp::config::values
