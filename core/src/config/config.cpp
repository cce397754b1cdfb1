#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <variant>

#include <unistd.h>

#include <boost/program_options.hpp>

#include "config/values.hpp"

namespace macp::config {
namespace {

namespace po = boost::program_options;

// --- The settings table: one row per variable, the single place a new setting is added. ------

using Member = std::variant<std::monostate, std::string Config::*, bool Config::*, int64_t Config::*>;
using StringRule = Result<std::string, std::string> (*)(std::string_view);

struct IntRange {
    int64_t min = 0;
    int64_t max = INT64_MAX;
};

// Durations become std::chrono values; ten years keeps every later conversion to nanoseconds and
// every "now + duration" far from overflow while still meaning "forever" to an operator.
constexpr int64_t kMaxSeconds = 315'360'000;
constexpr IntRange kPositive{1, INT64_MAX};
constexpr IntRange kNonNegative{0, INT64_MAX};
constexpr IntRange kPositiveSeconds{1, kMaxSeconds};
constexpr IntRange kSeconds{0, kMaxSeconds};
constexpr IntRange kPositiveInt32{1, INT32_MAX};  // gRPC takes these as int
// Storage health checks: at most an hour apart, a check that never runs is no check.
constexpr IntRange kHealthIntervalMs{1, 3'600'000};
constexpr IntRange kTlsReloadSecs{1, 86400};
// A lease shorter than a second would expire between renewals on a busy machine; ten minutes
// would leave a crashed process's sessions unserved for that long.
constexpr IntRange kLeaseTtlMs{1000, 600'000};
constexpr IntRange kClusterIntervalMs{0, 600'000};
// gRPC's receive limit is the payload limit plus 64 KiB of envelope (CFG-23) and must fit an int.
constexpr IntRange kPayloadBytes{1, INT32_MAX - 65536};

struct Spec {
    std::string_view env;
    std::string_view help;
    Member member{};                 // monostate: only a plugin reads it; passed through in settings
    IntRange range{};                // integer members
    StringRule rule = nullptr;       // string members; nullptr accepts anything
    bool empty_means_unset = false;  // string members whose rule would reject ""
    std::string_view plugin{};       // the plugin reading a monostate row, for --help
};

constexpr std::array kSpecs{
    Spec{.env = "MACP_BIND_ADDR",
         .help = "gRPC listen address, a literal IP and port",
         .member = &Config::bind_addr,
         .rule = values::literal_socket_address},
    Spec{.env = "MACP_ALLOW_INSECURE",
         .help = "1 = serve plaintext h2c and allow dev-mode auth (local development only)",
         .member = &Config::allow_insecure},
    Spec{.env = "MACP_TLS_CERT_PATH", .help = "PEM certificate chain for TLS", .member = &Config::tls_cert_path},
    Spec{.env = "MACP_TLS_KEY_PATH", .help = "PEM private key for TLS", .member = &Config::tls_key_path},
    Spec{.env = "MACP_TLS_CLIENT_CA_PATH",
         .help = "PEM CA bundle: every client must present a certificate it signed (mTLS)",
         .member = &Config::tls_client_ca_path},
    Spec{.env = "MACP_TLS_CLIENT_IDENTITY",
         .help = "1 = a call without a bearer token is its verified client certificate's identity (SAN, else CN)",
         .member = &Config::tls_client_identity},
    Spec{.env = "MACP_TLS_RELOAD_SECS",
         .help = "Seconds between checks of the certificate, key and client CA files for changes (reloaded "
                 "without restart)",
         .member = &Config::tls_reload_secs,
         .range = kTlsReloadSecs},
    Spec{.env = "MACP_DATA_DIR",
         .help = "Directory of the file storage backend",
         .member = &Config::data_dir,
         .rule = values::non_empty},
    Spec{.env = "MACP_STORAGE_BACKEND",
         .help = "Storage plugin to load: storage-<name>",
         .member = &Config::storage_backend,
         .rule = values::backend_name},
    Spec{.env = "MACP_ROCKSDB_PATH", .help = "RocksDB directory (storage-rocksdb)", .member = &Config::rocksdb_path},
    Spec{.env = "MACP_REDIS_URL", .help = "Redis server URL (storage-redis)", .member = &Config::redis_url},
    Spec{.env = "MACP_MEMORY_ONLY",
         .help = "1 = keep everything in memory; overrides the storage backend",
         .member = &Config::memory_only},
    Spec{.env = "MACP_STRICT_RECOVERY",
         .help = "1 = refuse to start when a session cannot be replayed",
         .member = &Config::strict_recovery},
    Spec{.env = "MACP_MAX_PAYLOAD_BYTES",
         .help = "Largest accepted envelope payload in bytes",
         .member = &Config::max_payload_bytes,
         .range = kPayloadBytes},
    Spec{.env = "MACP_MAX_SESSION_STATE_BYTES",
         .help = "Payload bytes one session may accumulate before further non-final messages are refused "
                 "(PAYLOAD_TOO_LARGE); at least MACP_MAX_PAYLOAD_BYTES",
         .member = &Config::max_session_state_bytes,
         .range = kPositive},
    Spec{.env = "MACP_SESSION_START_LIMIT_PER_MINUTE",
         .help = "SessionStart messages per sender per minute",
         .member = &Config::session_start_limit_per_minute,
         .range = kPositive},
    Spec{.env = "MACP_MESSAGE_LIMIT_PER_MINUTE",
         .help = "Messages per sender per minute",
         .member = &Config::message_limit_per_minute,
         .range = kPositive},
    Spec{.env = "MACP_CHECKPOINT_INTERVAL",
         .help = "Log entries between checkpoints; 0 = no checkpoints",
         .member = &Config::checkpoint_interval,
         .range = kNonNegative},
    Spec{.env = "MACP_CLEANUP_INTERVAL_SECS",
         .help = "Seconds between expiry/eviction sweeps",
         .member = &Config::cleanup_interval_secs,
         .range = kPositiveSeconds},
    Spec{.env = "MACP_STORAGE_HEALTH_INTERVAL_MS",
         .help = "Milliseconds between checks that storage can write (health is NOT_SERVING while it cannot)",
         .member = &Config::storage_health_interval_ms,
         .range = kHealthIntervalMs},
    Spec{.env = "MACP_SESSION_RETENTION_SECS",
         .help = "Seconds a finished session stays in memory",
         .member = &Config::session_retention_secs,
         .range = kSeconds},
    Spec{.env = "MACP_SESSION_DISK_RETENTION_SECS",
         .help = "Seconds a finished session stays on disk; 0 = forever",
         .member = &Config::session_disk_retention_secs,
         .range = kSeconds},
    Spec{.env = "MACP_SHUTDOWN_DRAIN_SECS",
         .help = "Seconds in-flight calls get after SIGTERM/SIGINT",
         .member = &Config::shutdown_drain_secs,
         .range = kSeconds},
    Spec{.env = "MACP_REQUEST_TIMEOUT_SECS",
         .help = "Seconds a Send may wait for its answer; then it is answered DEADLINE_EXCEEDED",
         .member = &Config::request_timeout_secs,
         .range = kPositiveSeconds},
    Spec{.env = "MACP_MAX_CONCURRENT_STREAMS",
         .help = "HTTP/2 concurrent streams per connection",
         .member = &Config::max_concurrent_streams,
         .range = kPositiveInt32},
    Spec{.env = "MACP_CONCURRENCY_LIMIT_PER_CONNECTION",
         .help = "Unary calls in flight per connection; one more is answered RESOURCE_EXHAUSTED",
         .member = &Config::concurrency_limit_per_connection,
         .range = kPositiveInt32},
    Spec{.env = "MACP_MAX_STREAMS_PER_IDENTITY",
         .help = "Open StreamSession and Watch* streams per authenticated sender; more are refused with "
                 "RESOURCE_EXHAUSTED",
         .member = &Config::max_streams_per_identity,
         .range = kPositive},
    Spec{.env = "MACP_MAX_ANONYMOUS_STREAMS",
         .help = "Open WatchModeRegistry/WatchRoots/WatchPolicies streams of callers without credentials, in "
                 "total; 0 = none",
         .member = &Config::max_anonymous_streams,
         .range = kNonNegative},
    Spec{.env = "MACP_METRICS_ADDR",
         .help = "Prometheus endpoint host:port; unset = off",
         .member = &Config::metrics_addr,
         .rule = values::host_port,
         .empty_means_unset = true},
    Spec{.env = "MACP_POLICIES_DIR",
         .help = "Directory of policy JSON files; makes the policy registry read-only",
         .member = &Config::policies_dir},
    Spec{.env = "MACP_CLUSTER",
         .help = "1 = one of several processes serving one deployment through the redis backend "
                 "(docs/scale-out.md)",
         .member = &Config::cluster},
    Spec{.env = "MACP_NODE_ID",
         .help = "This process's name in the cluster (letters, digits, . _ -); default: the host name",
         .member = &Config::node_id,
         .rule = values::node_id,
         .empty_means_unset = true},
    Spec{.env = "MACP_ADVERTISE_ADDR",
         .help = "host:port where the other cluster processes reach this one; default: MACP_BIND_ADDR unless it "
                 "is a wildcard address",
         .member = &Config::advertise_addr,
         .rule = values::host_port,
         .empty_means_unset = true},
    Spec{.env = "MACP_CLUSTER_LEASE_TTL_MS",
         .help = "Milliseconds a session's lease lasts without renewal: how soon a crashed process's sessions "
                 "are taken over",
         .member = &Config::cluster_lease_ttl_ms,
         .range = kLeaseTtlMs},
    Spec{.env = "MACP_CLUSTER_RENEW_INTERVAL_MS",
         .help = "Milliseconds between lease renewals; 0 = a third of MACP_CLUSTER_LEASE_TTL_MS",
         .member = &Config::cluster_renew_interval_ms,
         .range = kClusterIntervalMs},
    Spec{.env = "MACP_CLUSTER_ADOPT_INTERVAL_MS",
         .help = "Milliseconds between scans for open sessions nobody serves; 0 = MACP_CLUSTER_LEASE_TTL_MS",
         .member = &Config::cluster_adopt_interval_ms,
         .range = kClusterIntervalMs},
    Spec{.env = "MACP_CLUSTER_CA_PATH",
         .help = "PEM roots that verify the other processes' certificates when TLS is on; default: the system's",
         .member = &Config::cluster_ca_path},
    Spec{.env = "RUST_LOG",
         .help = "Log level (trace|debug|info|warn|error|off), or per-target directives like "
                 "macp_runtime=debug,storage=info",
         .member = &Config::log_level,
         .rule = values::log_level},
    Spec{.env = "MACP_LOG_FORMAT",
         .help = "Log format on stderr: text|json",
         .member = &Config::log_format,
         .rule = values::log_format},
    Spec{.env = "MACP_PLUGIN_PATH",
         .help = "Colon-separated absolute directories searched for plugins first",
         .member = &Config::plugin_path,
         .rule = values::plugin_path},
    Spec{.env = "MACP_AUTH_TOKENS_JSON",
         .help = "Static bearer tokens as JSON (secret)",
         .member = &Config::auth_tokens_json},
    Spec{.env = "MACP_AUTH_TOKENS_FILE",
         .help = "File holding the static bearer tokens JSON",
         .member = &Config::auth_tokens_file},
    Spec{.env = "MACP_AUTH_ISSUER", .help = "JWT issuer; enables the auth-jwt plugin", .member = &Config::auth_issuer},
    Spec{.env = "MACP_AUTH_PLUGINS",
         .help = "Further auth plugins, comma-separated <name>s of auth-<name>.so, chained in this order after "
                 "JWT and static tokens (a listed jwt or static takes its place in the list)",
         .member = &Config::auth_plugin_list,
         .rule = values::auth_plugin_list},
    Spec{.env = "MACP_AUTH_AUDIENCE", .help = "Expected JWT audience", .plugin = "auth-jwt"},
    Spec{.env = "MACP_AUTH_JWKS_JSON", .help = "Inline JWKS document", .plugin = "auth-jwt"},
    Spec{.env = "MACP_AUTH_JWKS_URL", .help = "URL of the JWKS document", .plugin = "auth-jwt"},
    Spec{.env = "MACP_AUTH_JWKS_TTL_SECS", .help = "Seconds a fetched JWKS is cached", .plugin = "auth-jwt"},
    Spec{.env = "MACP_AUTH_JWT_ALGS", .help = "Accepted JWT algorithms, comma-separated", .plugin = "auth-jwt"},
};

const Spec* find_spec_by_flag(std::string_view flag) {
    for (const auto& spec : kSpecs) {
        if (values::flag_name(spec.env) == flag) return &spec;
    }
    return nullptr;
}

const Spec* find_spec_by_env(std::string_view env) {
    for (const auto& spec : kSpecs) {
        if (spec.env == env) return &spec;
    }
    return nullptr;
}

bool is_bool(const Spec& spec) {
    return std::holds_alternative<bool Config::*>(spec.member);
}

// --- Problems -----------------------------------------------------------------------------------

struct Problem {
    std::string env;  // empty for command-line syntax problems
    std::string text;
};
using Problems = std::vector<Problem>;

std::string label(std::string_view env) {
    return std::string(env) + " (--" + values::flag_name(env) + ")";
}

void report(Problems& problems, std::string_view env, const std::string& detail) {
    problems.push_back({std::string(env), label(env) + ": " + detail});
}

// --- Values <-> Config ----------------------------------------------------------------------------

std::string format(const Spec& spec, const Config& config) {
    return std::visit(
        [&](auto member) -> std::string {
            using M = decltype(member);
            if constexpr (std::is_same_v<M, std::monostate>) {
                return {};
            } else if constexpr (std::is_same_v<M, bool Config::*>) {
                return config.*member ? "1" : "0";
            } else if constexpr (std::is_same_v<M, int64_t Config::*>) {
                return std::to_string(config.*member);
            } else {
                return config.*member;
            }
        },
        spec.member);
}

void assign_int(const Spec& spec, int64_t Config::*member, const std::string& value, Config& config,
                Problems& problems) {
    const auto parsed = values::parse_int64(value);
    if (!parsed.ok()) return report(problems, spec.env, parsed.error());
    const auto& range = spec.range;
    if (*parsed < range.min) {
        return report(problems, spec.env,
                      "'" + value + "' is not a " + (range.min > 0 ? "positive" : "non-negative") + " integer");
    }
    if (*parsed > range.max) {
        return report(problems, spec.env, "'" + value + "' is too large (at most " + std::to_string(range.max) + ")");
    }
    config.*member = *parsed;
}

void assign_string(const Spec& spec, std::string Config::*member, const std::string& value, Config& config,
                   Problems& problems) {
    if (spec.rule == nullptr || (value.empty() && spec.empty_means_unset)) {
        config.*member = value;
        return;
    }
    auto checked = spec.rule(value);
    if (!checked.ok()) return report(problems, spec.env, checked.error());
    config.*member = std::move(checked.value());
}

void assign(const Spec& spec, const std::string& value, Config& config, Problems& problems) {
    std::visit(
        [&](auto member) {
            using M = decltype(member);
            if constexpr (std::is_same_v<M, bool Config::*>) {
                config.*member = value == "1";  // reference semantics: anything but "1" is off
            } else if constexpr (std::is_same_v<M, int64_t Config::*>) {
                assign_int(spec, member, value, config, problems);
            } else if constexpr (std::is_same_v<M, std::string Config::*>) {
                assign_string(spec, member, value, config, problems);
            }
        },
        spec.member);
}

void check_tls_file(std::string_view env, const std::string& path, Problems& problems) {
    std::error_code error;
    const auto status = std::filesystem::status(path, error);
    if (!std::filesystem::exists(status)) {
        const bool missing = !error || error == std::errc::no_such_file_or_directory;
        return report(problems, env, "'" + path + "' " + (missing ? "does not exist" : error.message()));
    }
    if (!std::filesystem::is_regular_file(status)) report(problems, env, "'" + path + "' is not a regular file");
}

// AUTH-TLS-*: unlike the reference, half a TLS configuration is an error rather than silently
// "no TLS", because the operator clearly meant to enable it.
void check_tls(const Config& config, Problems& problems) {
    // AUTH-DEV-5 (0.6): without a resolver, dev-mode auth needs the explicit insecure opt-in;
    // reported before the TLS problem, as the reference does.
    if (config.auth_plugins().empty() && !config.tls_client_identity && !config.allow_insecure) {
        problems.push_back({"MACP_ALLOW_INSECURE",
                            "no authentication configured: set MACP_AUTH_TOKENS_FILE/MACP_AUTH_TOKENS_JSON, "
                            "MACP_AUTH_ISSUER (+JWKS), MACP_AUTH_PLUGINS or MACP_TLS_CLIENT_IDENTITY=1, or explicitly "
                            "opt into dev-mode auth with MACP_ALLOW_INSECURE=1 (local development only)"});
    }
    const bool has_cert = !config.tls_cert_path.empty();
    const bool has_key = !config.tls_key_path.empty();
    if (has_cert) check_tls_file("MACP_TLS_CERT_PATH", config.tls_cert_path, problems);
    if (has_key) check_tls_file("MACP_TLS_KEY_PATH", config.tls_key_path, problems);
    if (has_cert && !has_key) {
        report(problems, "MACP_TLS_KEY_PATH", "not set, but MACP_TLS_CERT_PATH is; TLS needs both");
    }
    if (has_key && !has_cert) {
        report(problems, "MACP_TLS_CERT_PATH", "not set, but MACP_TLS_KEY_PATH is; TLS needs both");
    }
    // Issue #12: client certificates only exist on a TLS listener, and an identity needs them.
    if (!config.tls_client_ca_path.empty()) {
        check_tls_file("MACP_TLS_CLIENT_CA_PATH", config.tls_client_ca_path, problems);
        if (!has_cert || !has_key) {
            report(problems, "MACP_TLS_CLIENT_CA_PATH",
                   "client certificates need TLS: set MACP_TLS_CERT_PATH and MACP_TLS_KEY_PATH too");
        }
    }
    if (config.tls_client_identity && config.tls_client_ca_path.empty()) {
        report(problems, "MACP_TLS_CLIENT_IDENTITY",
               "needs MACP_TLS_CLIENT_CA_PATH (only verified client certificates carry an identity)");
    }
    if (!has_cert && !has_key && !config.allow_insecure) {
        problems.push_back({"MACP_ALLOW_INSECURE",
                            "TLS is required unless MACP_ALLOW_INSECURE=1 is set "
                            "(set MACP_TLS_CERT_PATH and MACP_TLS_KEY_PATH)"});
    }
}

// Issue #8.4: a session must always be able to take at least one message of the largest size.
void check_state_bound(const Config& config, Problems& problems) {
    if (config.max_session_state_bytes < config.max_payload_bytes) {
        report(problems, "MACP_MAX_SESSION_STATE_BYTES",
               "must be at least MACP_MAX_PAYLOAD_BYTES (" + std::to_string(config.max_payload_bytes) + ")");
    }
}

// Issue #16: what a cluster process needs, explained (docs/scale-out.md).
void check_cluster(Config& config, Problems& problems) {
    if (!config.cluster) return;
    if (config.memory_only || config.storage_backend != "redis") {
        report(problems, "MACP_CLUSTER",
               "needs MACP_STORAGE_BACKEND=redis (the processes share sessions through Redis, with leases); "
               "got " +
                   (config.memory_only ? std::string("MACP_MEMORY_ONLY=1") : "'" + config.storage_backend + "'"));
    }
    if (config.tls_client_identity) {
        report(problems, "MACP_CLUSTER",
               "cannot be combined with MACP_TLS_CLIENT_IDENTITY=1: a call forwarded to a session's owner carries "
               "the caller's bearer token, not its client certificate");
    }
    if (config.node_id.empty()) {
        char host[256] = {};
        if (gethostname(host, sizeof host - 1) != 0 || !values::node_id(host)) {
            report(problems, "MACP_NODE_ID", "not set, and the host name is not a usable node id; set it");
        } else {
            config.node_id = host;
        }
    }
    if (config.advertise_addr.empty()) {
        const auto& bind = config.bind_addr;
        if (bind.rfind("0.0.0.0:", 0) == 0 || bind.rfind("[::]:", 0) == 0) {
            report(problems, "MACP_ADVERTISE_ADDR",
                   "not set, and MACP_BIND_ADDR (" + bind +
                       ") listens on every address: name the one the other processes reach this one at");
        } else {
            config.advertise_addr = bind;
        }
    }
    if (config.cluster_renew_interval_ms == 0) config.cluster_renew_interval_ms = config.cluster_lease_ttl_ms / 3;
    if (config.cluster_adopt_interval_ms == 0) config.cluster_adopt_interval_ms = config.cluster_lease_ttl_ms;
    if (config.cluster_renew_interval_ms * 2 > config.cluster_lease_ttl_ms) {
        report(problems, "MACP_CLUSTER_RENEW_INTERVAL_MS",
               std::to_string(config.cluster_renew_interval_ms) + " is more than half of MACP_CLUSTER_LEASE_TTL_MS (" +
                   std::to_string(config.cluster_lease_ttl_ms) + "): one late renewal would lose every session");
    }
}

// Plugins resolve their keys from `settings`, so a default the core knows must be visible there.
void fill_default(const Spec& spec, Config& config, std::map<std::string, std::string>& settings) {
    auto value = format(spec, config);
    if (value.empty()) return;
    settings.emplace(spec.env, std::move(value));
    config.defaulted.emplace(spec.env);
}

Config build_config(std::map<std::string, std::string> settings, Problems& problems) {
    Config config;
    const bool state_bound_given = settings.count("MACP_MAX_SESSION_STATE_BYTES") != 0;
    for (const auto& spec : kSpecs) {
        if (std::holds_alternative<std::monostate>(spec.member)) continue;
        const auto found = settings.find(std::string(spec.env));
        if (found != settings.end()) {
            assign(spec, found->second, config, problems);
        } else {
            fill_default(spec, config, settings);
        }
    }
    if (config.rocksdb_path.empty()) {
        config.rocksdb_path = (std::filesystem::path(config.data_dir) / "rocksdb").string();
        settings["MACP_ROCKSDB_PATH"] = config.rocksdb_path;
        config.defaulted.emplace("MACP_ROCKSDB_PATH");
    }
    if (!state_bound_given && config.max_session_state_bytes < config.max_payload_bytes) {
        // Unset: the bound follows a raised payload limit instead of contradicting it.
        config.max_session_state_bytes = config.max_payload_bytes;
        settings["MACP_MAX_SESSION_STATE_BYTES"] = std::to_string(config.max_session_state_bytes);
    }
    check_tls(config, problems);
    check_state_bound(config, problems);
    check_cluster(config, problems);
    config.settings = std::move(settings);
    return config;
}

bool is_runtime_variable(const std::string& name) {
    return name.rfind("MACP_", 0) == 0 || name == "RUST_LOG";
}

std::map<std::string, std::string> merge(const std::map<std::string, std::string>& environment,
                                         const std::map<std::string, std::string>& flags) {
    std::map<std::string, std::string> settings;
    for (const auto& [name, value] : environment) {
        if (is_runtime_variable(name)) settings.emplace(name, value);
    }
    for (const auto& [name, value] : flags) settings[name] = value;
    return settings;
}

// --- Command line -----------------------------------------------------------------------------

std::string default_for_help(const Spec& spec) {
    if (!spec.plugin.empty()) return "read by the " + std::string(spec.plugin) + " plugin";
    if (spec.env == "MACP_ROCKSDB_PATH") return "default <data-dir>/rocksdb";
    const auto value = format(spec, Config{});
    return value.empty() ? "default unset" : "default " + value;
}

std::string help_line(const Spec& spec) {
    return std::string(spec.help) + " [env " + std::string(spec.env) + "; " + default_for_help(spec) + "]";
}

const char* value_name(const Spec& spec) {
    if (is_bool(spec)) return "0|1";
    if (std::holds_alternative<int64_t Config::*>(spec.member)) return "N";
    return "VALUE";
}

// A flag taken from a plugin's declared key (only keys that are not core settings).
struct PluginFlag {
    std::string flag;  // without "--"
    std::string env;
    std::string help;
};

std::string plugin_flag_help(const PluginDeclaration& plugin, const DeclaredKey& key) {
    std::string help = key.help.empty() ? std::string("Declared by the plugin") : key.help;
    help += " [env " + key.env_name + "; plugin " + plugin.id + "; ";
    if (key.default_value) {
        help += "default " + (key.secret ? std::string("***") : *key.default_value);
    } else {
        help += key.required ? "required" : "default unset";
    }
    return help + "]";
}

std::vector<PluginFlag> plugin_flags(const std::vector<PluginDeclaration>& plugins) {
    std::vector<PluginFlag> flags;
    std::set<std::string> seen;  // a key several plugins declare is one flag
    for (const auto& plugin : plugins) {
        for (const auto& key : plugin.keys) {
            if (find_spec_by_env(key.env_name) != nullptr) continue;  // a core setting: its flag exists
            const auto flag = flag_for(key.env_name);
            if (!flag || !seen.insert(key.env_name).second) continue;
            flags.push_back({flag->substr(2), key.env_name, plugin_flag_help(plugin, key)});
        }
    }
    return flags;
}

// --- Storage migration flags (issue #10) ------------------------------------------------------
// Read before the settings: --migrate-storage takes two values, which program_options cannot say.

constexpr std::array<std::string_view, 5> kMigrationFlags{"migrate-storage", "from-set", "to-set", "force",
                                                          "skip-unconvertible"};

struct MigrationLine {
    bool given = false;       // --migrate-storage
    bool companions = false;  // any of the others
    MigrationRequest request;
    std::vector<std::string> rest;  // argv without the migration flags
    Problems problems;
};

void take_side_setting(const std::string& flag, const std::string& value, std::map<std::string, std::string>& into,
                       Problems& problems) {
    const auto eq = value.find('=');
    if (eq == std::string::npos || eq == 0) {
        problems.push_back({"", flag + ": expected KEY=VALUE (e.g. MACP_ROCKSDB_PATH=/var/lib/macp/db), got '" +
                                    value.substr(0, value.find('=')) + "'"});
        return;
    }
    if (!into.emplace(value.substr(0, eq), value.substr(eq + 1)).second) {
        problems.push_back({"", flag + ": " + value.substr(0, eq) + " is given more than once"});
    }
}

MigrationLine read_migration(int argc, const char* const* argv) {
    MigrationLine line;
    if (argc > 0) line.rest.emplace_back(argv[0]);
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto eq = arg.find('=');
        const std::string name = arg.rfind("--", 0) == 0 ? arg.substr(2, eq == std::string::npos ? eq : eq - 2) : "";
        if (std::find(kMigrationFlags.begin(), kMigrationFlags.end(), name) == kMigrationFlags.end()) {
            line.rest.push_back(arg);
            continue;
        }
        const std::string flag = "--" + name;
        if (name == "force" || name == "skip-unconvertible") {
            line.companions = true;
            if (eq != std::string::npos) line.problems.push_back({"", flag + " takes no value"});
            (name == "force" ? line.request.force : line.request.skip_unconvertible) = true;
        } else if (name == "migrate-storage") {
            if (eq != std::string::npos || i + 2 >= argc || std::string_view(argv[i + 1]).rfind("--", 0) == 0 ||
                std::string_view(argv[i + 2]).rfind("--", 0) == 0) {
                line.problems.push_back({"", "--migrate-storage takes two arguments: --migrate-storage FROM TO"});
                line.given = true;  // the action is still a migration: no listener problems
                continue;
            }
            if (line.given) line.problems.push_back({"", "--migrate-storage is given more than once"});
            line.given = true;
            line.request.from = argv[++i];
            line.request.to = argv[++i];
        } else {
            line.companions = true;
            std::string value;
            if (eq != std::string::npos) {
                value = arg.substr(eq + 1);
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                line.problems.push_back({"", flag + " needs a KEY=VALUE argument"});
                continue;
            }
            take_side_setting(flag, value, name == "from-set" ? line.request.from_settings : line.request.to_settings,
                              line.problems);
        }
    }
    if (line.companions && !line.given) {
        line.problems.push_back(
            {"", "--force, --skip-unconvertible, --from-set and --to-set only go with --migrate-storage FROM TO"});
    }
    return line;
}

po::options_description migration_options() {
    po::options_description migration("Storage migration (issue #10; see README \"Migrating storage\")", 100, 50);
    migration.add_options()  //
        ("migrate-storage", po::value<std::string>()->value_name("FROM TO"),
         "Copy every session, log, snapshot and registry record from backend FROM to backend TO, verify the copy, "
         "print a report and exit (0 = copied and verified). FROM and TO are BACKEND[:LOCATION]: file:DIR, "
         "rocksdb:DIR, redis:URL; without LOCATION a side uses the shared settings. FROM may be a data directory "
         "of the Rust reference runtime (0.4/0.6), including its legacy sessions.json/logs.json layout")  //
        ("from-set", po::value<std::string>()->value_name("KEY=VALUE"),
         "A setting of the FROM side only (repeatable), e.g. MACP_ROCKSDB_BLOCK_CACHE_MB=64")                        //
        ("to-set", po::value<std::string>()->value_name("KEY=VALUE"), "A setting of the TO side only (repeatable)")  //
        ("force",
         "Migrate into a target that already holds data (sessions and records with the same ids are replaced)")  //
        ("skip-unconvertible", "Migrate even if some source sessions cannot be converted (they are listed)");
    return migration;
}

po::options_description make_options(const std::vector<PluginFlag>& plugin_settings) {
    po::options_description actions("Actions", 100, 50);
    actions.add_options()                                                                      //
        ("help,h", "Show this help and exit")                                                  //
        ("version,V", "Show the version and exit")                                             //
        ("print-config", "Validate, then print the effective configuration (secrets masked)")  //
        ("check-config", "Validate the configuration and exit")                                //
        ("list-plugins", "List the plugin search path, the plugins found and their configuration keys");
    po::options_description settings("Settings", 100, 50);
    for (const auto& spec : kSpecs) {
        auto* semantic = po::value<std::string>()->value_name(value_name(spec));
        if (is_bool(spec)) semantic->implicit_value("1");
        const auto flag = values::flag_name(spec.env);
        const auto help = help_line(spec);
        settings.add_options()(flag.c_str(), semantic, help.c_str());
    }
    po::options_description all(100, 50);
    all.add(actions).add(migration_options()).add(settings);
    if (!plugin_settings.empty()) {
        po::options_description declared("Settings declared by plugins (accepted when the plugin is configured)", 100,
                                         50);
        for (const auto& flag : plugin_settings) {
            declared.add_options()(flag.flag.c_str(), po::value<std::string>()->value_name("VALUE"), flag.help.c_str());
        }
        all.add(declared);
    }
    return all;
}

// Where each setting flag goes: the environment-variable name, and whether it is a 0|1 switch.
struct FlagTarget {
    std::string env;
    bool is_bool = false;
};
using FlagTable = std::map<std::string, FlagTarget>;  // by flag name without "--"

FlagTable flag_table(const std::vector<PluginFlag>& plugin_settings) {
    FlagTable table;
    for (const auto& spec : kSpecs) {
        table.emplace(values::flag_name(spec.env), FlagTarget{std::string(spec.env), is_bool(spec)});
    }
    for (const auto& flag : plugin_settings) table.emplace(flag.flag, FlagTarget{flag.env, false});
    return table;
}

struct CommandLine {
    std::set<std::string> actions;
    std::map<std::string, std::string> settings;  // by environment-variable name
    std::vector<std::string> unknown;             // "--name" of each flag no option matched
    Problems problems;
};

void take_setting(const std::string& name, const FlagTarget& target, const po::option& option, CommandLine& line) {
    const auto flag = "--" + name;
    // An implicit value arrives as an empty token list; only switches have one.
    const auto value = option.value.empty() ? std::string("1") : option.value.front();
    if (target.is_bool && value != "1" && value != "0") {
        line.problems.push_back({"", flag + ": expected 1 or 0, got '" + value + "'"});
        return;
    }
    if (!line.settings.emplace(target.env, value).second) {
        line.problems.push_back({"", flag + " is given more than once"});
    }
}

void take_option(const po::option& option, const FlagTable& table, CommandLine& line) {
    if (option.unregistered) {
        // Only the name: the value of a mistyped --auth-tokens-json may be a secret.
        const auto& token = option.original_tokens.front();
        line.unknown.push_back(token.substr(0, token.find('=')));
        return;
    }
    if (option.position_key >= 0 || option.string_key.empty()) {
        const auto token = option.original_tokens.empty() ? std::string() : option.original_tokens.front();
        line.problems.push_back(
            {"", "unexpected argument '" + token + "' (settings are flags such as --bind-addr=ADDR)"});
        return;
    }
    if (const auto found = table.find(option.string_key); found != table.end()) {
        return take_setting(option.string_key, found->second, option, line);
    }
    line.actions.insert(option.string_key);
}

CommandLine read_command_line(int argc, const char* const* argv, const po::options_description& options,
                              const FlagTable& table) {
    // Prefix guessing would make adding a flag silently change what an abbreviation means.
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    CommandLine line;
    try {
        const auto parsed =
            po::command_line_parser(argc, argv).options(options).style(style).allow_unregistered().run();
        for (const auto& option : parsed.options) take_option(option, table, line);
    } catch (const po::error& error) {
        line.problems.push_back({"", std::string("command line: ") + error.what()});
    }
    return line;
}

// One action per run; the cheaper, more informative one wins when several are given.
Action pick_action(const std::set<std::string>& actions) {
    constexpr std::array<std::pair<std::string_view, Action>, 5> kOrder{{
        {"help", Action::Help},
        {"version", Action::Version},
        {"list-plugins", Action::ListPlugins},
        {"print-config", Action::PrintConfig},
        {"check-config", Action::CheckConfig},
    }};
    for (const auto& [name, action] : kOrder) {
        if (actions.count(std::string(name)) != 0) return action;
    }
    return Action::Run;
}

// --help and --version must work on a broken configuration; --list-plugins only needs the
// search path (it helps diagnose exactly the deployments that do not start yet).
bool matters_for(Action action, const Problem& problem) {
    switch (action) {
        case Action::Help:
        case Action::Version: return false;
        case Action::ListPlugins: return problem.env == "MACP_PLUGIN_PATH";
        // A migration serves nothing: listener security does not concern it.
        case Action::MigrateStorage:
            return problem.env != "MACP_ALLOW_INSECURE" && problem.env.rfind("MACP_TLS_", 0) != 0;
        default: return true;
    }
}

std::string help_text(const po::options_description& options) {
    std::ostringstream out;
    out << "macp-runtime — MACP coordination server. Every flag has an environment variable; flags win.\n"
        << options
        << "\nPlugins declare further settings, each a variable MACP_FOO_BAR with the flag --foo-bar (accepted when "
           "the plugin is configured); --list-plugins shows them.\n";
    return out.str();
}

std::vector<std::string> messages(const Problems& problems) {
    std::vector<std::string> out;
    out.reserve(problems.size());
    for (const auto& problem : problems) out.push_back(problem.text);
    return out;
}

// `declared_secret`: a plugin declared the key MACP_CONFIG_SECRET.
std::string masked(const std::string& name, const std::string& value, bool declared_secret = false) {
    if (value.empty()) return value;
    if (declared_secret || values::is_secret_name(name)) return "***";
    return values::mask_url_password(value);
}

}  // namespace

std::optional<std::string> Config::storage_plugin() const {
    if (memory_only) return std::nullopt;
    return "storage-" + storage_backend;
}

// AUTH-CHAIN-1: JWT is consulted before static tokens; MACP_AUTH_PLUGINS follow in listed order,
// and a listed jwt or static takes its place in the list instead.
std::vector<std::string> Config::auth_plugins() const {
    std::vector<std::string> listed;
    for (std::size_t start = 0; start < auth_plugin_list.size();) {
        const auto comma = std::min(auth_plugin_list.find(',', start), auth_plugin_list.size());
        listed.push_back(auth_plugin_list.substr(start, comma - start));
        start = comma + 1;
    }
    const auto is_listed = [&](std::string_view name) {
        return std::find(listed.begin(), listed.end(), name) != listed.end();
    };
    std::vector<std::string> chain;
    if (!auth_issuer.empty() && !is_listed("jwt")) chain.emplace_back("auth-jwt");
    if ((!auth_tokens_json.empty() || !auth_tokens_file.empty()) && !is_listed("static")) {
        chain.emplace_back("auth-static");
    }
    for (const auto& name : listed) chain.push_back("auth-" + name);
    return chain;
}

std::vector<std::string> Config::plugins() const {
    std::vector<std::string> ids;
    if (auto storage = storage_plugin()) ids.push_back(std::move(*storage));
    for (auto& auth : auth_plugins()) ids.push_back(std::move(auth));
    return ids;
}

std::optional<std::string> flag_for(std::string_view env_name) {
    if (find_spec_by_env(env_name) != nullptr) return "--" + values::flag_name(env_name);
    const auto flag = values::flag_name(env_name);
    const bool usable = flag.size() >= 2 && std::isalnum(static_cast<unsigned char>(flag.front())) != 0 &&
                        std::all_of(flag.begin(), flag.end(), [](unsigned char c) {
                            return (std::islower(c) != 0 || std::isdigit(c) != 0 || c == '-');
                        });
    if (!usable || find_spec_by_flag(flag) != nullptr) return std::nullopt;
    for (const char* action : {"help", "version", "print-config", "check-config", "list-plugins"}) {
        if (flag == action) return std::nullopt;
    }
    if (std::find(kMigrationFlags.begin(), kMigrationFlags.end(), flag) != kMigrationFlags.end()) return std::nullopt;
    return "--" + flag;
}

Result<Parsed, std::vector<std::string>> parse(int argc, const char* const* argv,
                                               const std::map<std::string, std::string>& environment,
                                               const PluginCatalogSource& plugins) {
    Parsed parsed;
    auto migration = read_migration(argc, argv);
    std::vector<const char*> rest;
    rest.reserve(migration.rest.size());
    for (const auto& arg : migration.rest) rest.push_back(arg.c_str());
    argc = static_cast<int>(rest.size());
    argv = rest.data();
    // Phase 1: the core flags alone, which select the plugins; anything else is set aside.
    auto line = read_command_line(argc, argv, make_options({}), flag_table({}));
    parsed.action = pick_action(line.actions);
    if (migration.given && parsed.action == Action::Run) parsed.action = Action::MigrateStorage;
    parsed.migration = std::move(migration.request);
    std::vector<PluginFlag> extra;
    const bool listing =
        parsed.action == Action::Help || parsed.action == Action::Version || parsed.action == Action::ListPlugins;
    if (plugins && (!line.unknown.empty() || parsed.action == Action::Help || parsed.action == Action::PrintConfig)) {
        // Phase 2: the declared keys of the plugins in scope become flags, then argv is read
        // again (a flag unknown in phase 1 may have taken its value from the next argument).
        Problems ignored;
        const auto selecting = build_config(merge(environment, line.settings), ignored);
        parsed.plugins = plugins(selecting, listing ? PluginScope::Installed : PluginScope::Configured);
        extra = plugin_flags(parsed.plugins.plugins);
    }
    const auto options = make_options(extra);
    if (!extra.empty()) line = read_command_line(argc, argv, options, flag_table(extra));

    Problems problems = std::move(line.problems);
    for (auto& problem : migration.problems) problems.push_back(std::move(problem));
    for (const auto& flag : line.unknown) problems.push_back({"", "unknown option '" + flag + "' (see --help)"});
    if (!line.unknown.empty()) {
        // The flags of a plugin that cannot be read are unknown: say why it cannot be read.
        for (const auto& problem : parsed.plugins.problems) problems.push_back({"", problem});
    }
    Problems setting_problems;
    parsed.config = build_config(merge(environment, line.settings), setting_problems);
    for (auto& problem : setting_problems) {
        if (matters_for(parsed.action, problem)) problems.push_back(std::move(problem));
    }
    if (!problems.empty()) return fail(messages(problems));
    if (parsed.action == Action::Help) parsed.help_text = help_text(options);
    return parsed;
}

std::string render(const Config& config, const std::vector<PluginDeclaration>& plugins) {
    std::set<std::string> declared;  // shown in their plugin's section instead
    for (const auto& plugin : plugins) {
        for (const auto& key : plugin.keys) declared.insert(key.env_name);
    }
    std::map<std::string, std::string> lines;
    for (const auto& spec : kSpecs) {
        if (!std::holds_alternative<std::monostate>(spec.member) && declared.count(std::string(spec.env)) == 0) {
            lines.emplace(spec.env, format(spec, config));
        }
    }
    for (const auto& [name, value] : config.settings) {
        if (declared.count(name) == 0) lines.emplace(name, value);  // typed values win
    }
    std::string out;
    for (const auto& [name, value] : lines) out += name + "=" + masked(name, value) + "\n";
    for (const auto& plugin : plugins) {
        out += "# plugin " + plugin.id + " " + plugin.version + " (" + plugin.path + ")\n";
        for (const auto& key : plugin.keys) {
            std::string value;
            std::string note;
            if (const auto found = config.settings.find(key.env_name); found != config.settings.end()) {
                value = found->second;
                if (config.defaulted.count(key.env_name) != 0) note = "  # default";
            } else if (key.default_value) {
                value = *key.default_value;
                note = "  # default";
            } else {
                note = key.required ? "  # unset, REQUIRED" : "  # unset";
            }
            out += key.env_name + "=" + masked(key.env_name, value, key.secret) + note + "\n";
        }
    }
    return out;
}

}  // namespace macp::config
