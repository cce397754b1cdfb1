// Parsers for single configuration values. Pure functions over strings, kept apart from the
// option plumbing so every rule is easy to read and to test. An error is a short phrase about the
// value; the caller prefixes the variable name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace macp::config::values {

// Whole-string base-10 integer: no sign other than '-', no blanks, no trailing garbage, no overflow.
Result<int64_t, std::string> parse_int64(std::string_view text);

// "a.b.c.d:port" or "[v6]:port" with a literal address and a port in 1..65535 (CFG-1).
Result<std::string, std::string> literal_socket_address(std::string_view text);

// "host:port" where host may also be a DNS name (MACP_METRICS_ADDR, CFG-15).
Result<std::string, std::string> host_port(std::string_view text);

// RUST_LOG: a bare level or an env-filter-like list ("macp=debug,info"). Returns the level of the
// targets no directive names: the last bare level, else the level of the first target=level
// directive (the per-target levels come from the raw setting: util/log_setup.hpp).
Result<std::string, std::string> log_level(std::string_view filter);

Result<std::string, std::string> log_format(std::string_view text);  // text | json
// A plugin <name> (the rule is in plugin_host/discovery.hpp: kPluginNameRule); the error states it.
Result<std::string, std::string> plugin_name(std::string_view text);
Result<std::string, std::string> backend_name(std::string_view text);  // MACP_STORAGE_BACKEND: a plugin name
// MACP_AUTH_PLUGINS: comma-separated plugin names, each optionally written auth-<name>; blanks
// around entries are ignored. Returns the names without "auth-", joined by ',' ("" for none).
// Empty entries, invalid names and a name given twice are errors.
Result<std::string, std::string> auth_plugin_list(std::string_view text);
Result<std::string, std::string> plugin_path(std::string_view text);  // colon list of absolute dirs
Result<std::string, std::string> non_empty(std::string_view text);
// MACP_NODE_ID: 1..64 of [A-Za-z0-9._-] (it names the process in lease holders and logs).
Result<std::string, std::string> node_id(std::string_view text);

// The command-line flag for an environment variable: MACP_BIND_ADDR -> bind-addr, RUST_LOG -> log-level.
std::string flag_name(std::string_view env_name);

// Names whose values never appear in --print-config.
bool is_secret_name(std::string_view env_name);

// "redis://user:pw@host" -> "redis://user:***@host"; other values unchanged.
std::string mask_url_password(std::string_view value);

}  // namespace macp::config::values
