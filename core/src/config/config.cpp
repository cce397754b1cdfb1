#include "config/config.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <variant>

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
         .help = "Server-side deadline for a call to produce its response",
         .member = &Config::request_timeout_secs,
         .range = kPositiveSeconds},
    Spec{.env = "MACP_MAX_CONCURRENT_STREAMS",
         .help = "HTTP/2 concurrent streams per connection",
         .member = &Config::max_concurrent_streams,
         .range = kPositiveInt32},
    Spec{.env = "MACP_CONCURRENCY_LIMIT_PER_CONNECTION",
         .help = "Calls handled at once per connection",
         .member = &Config::concurrency_limit_per_connection,
         .range = kPositiveInt32},
    Spec{.env = "MACP_METRICS_ADDR",
         .help = "Prometheus endpoint host:port; unset = off",
         .member = &Config::metrics_addr,
         .rule = values::host_port,
         .empty_means_unset = true},
    Spec{.env = "MACP_POLICIES_DIR",
         .help = "Directory of policy JSON files; makes the policy registry read-only",
         .member = &Config::policies_dir},
    Spec{.env = "RUST_LOG",
         .help = "Log level (trace|debug|info|warn|error|off, or a filter like macp=debug,info)",
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
    if (config.auth_plugins().empty() && !config.allow_insecure) {
        problems.push_back({"MACP_ALLOW_INSECURE",
                            "no authentication configured: set MACP_AUTH_TOKENS_FILE/MACP_AUTH_TOKENS_JSON or "
                            "MACP_AUTH_ISSUER (+JWKS), or explicitly opt into dev-mode auth with "
                            "MACP_ALLOW_INSECURE=1 (local development only)"});
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

// Plugins resolve their keys from `settings`, so a default the core knows must be visible there.
void fill_default(const Spec& spec, const Config& config, std::map<std::string, std::string>& settings) {
    auto value = format(spec, config);
    if (!value.empty()) settings.emplace(spec.env, std::move(value));
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
    }
    if (!state_bound_given && config.max_session_state_bytes < config.max_payload_bytes) {
        // Unset: the bound follows a raised payload limit instead of contradicting it.
        config.max_session_state_bytes = config.max_payload_bytes;
        settings["MACP_MAX_SESSION_STATE_BYTES"] = std::to_string(config.max_session_state_bytes);
    }
    check_tls(config, problems);
    check_state_bound(config, problems);
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

po::options_description make_options() {
    po::options_description actions("Actions", 100, 50);
    actions.add_options()                                                                      //
        ("help,h", "Show this help and exit")                                                  //
        ("version,V", "Show the version and exit")                                             //
        ("print-config", "Validate, then print the effective configuration (secrets masked)")  //
        ("check-config", "Validate the configuration and exit")                                //
        ("list-plugins", "List the plugins found and their configuration keys");
    po::options_description settings("Settings", 100, 50);
    for (const auto& spec : kSpecs) {
        auto* semantic = po::value<std::string>()->value_name(value_name(spec));
        if (is_bool(spec)) semantic->implicit_value("1");
        const auto flag = values::flag_name(spec.env);
        const auto help = help_line(spec);
        settings.add_options()(flag.c_str(), semantic, help.c_str());
    }
    po::options_description all(100, 50);
    all.add(actions).add(settings);
    return all;
}

struct CommandLine {
    std::set<std::string> actions;
    std::map<std::string, std::string> settings;  // by environment-variable name
};

void take_setting(const Spec& spec, const po::option& option, CommandLine& line, Problems& problems) {
    const auto flag = "--" + values::flag_name(spec.env);
    // An implicit value arrives as an empty token list; only switches have one.
    const auto value = option.value.empty() ? std::string("1") : option.value.front();
    if (is_bool(spec) && value != "1" && value != "0") {
        problems.push_back({"", flag + ": expected 1 or 0, got '" + value + "'"});
        return;
    }
    if (!line.settings.emplace(std::string(spec.env), value).second) {
        problems.push_back({"", flag + " is given more than once"});
    }
}

void take_option(const po::option& option, CommandLine& line, Problems& problems) {
    if (option.unregistered) {
        // Only the name: the value of a mistyped --auth-tokens-json may be a secret.
        const auto& token = option.original_tokens.front();
        problems.push_back({"", "unknown option '" + token.substr(0, token.find('=')) + "' (see --help)"});
        return;
    }
    if (option.position_key >= 0 || option.string_key.empty()) {
        const auto token = option.original_tokens.empty() ? std::string() : option.original_tokens.front();
        problems.push_back({"", "unexpected argument '" + token + "' (settings are flags such as --bind-addr=ADDR)"});
        return;
    }
    if (const auto* spec = find_spec_by_flag(option.string_key)) return take_setting(*spec, option, line, problems);
    line.actions.insert(option.string_key);
}

CommandLine read_command_line(int argc, const char* const* argv, const po::options_description& options,
                              Problems& problems) {
    // Prefix guessing would make adding a flag silently change what an abbreviation means.
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    CommandLine line;
    try {
        const auto parsed =
            po::command_line_parser(argc, argv).options(options).style(style).allow_unregistered().run();
        for (const auto& option : parsed.options) take_option(option, line, problems);
    } catch (const po::error& error) {
        problems.push_back({"", std::string("command line: ") + error.what()});
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
        default: return true;
    }
}

std::string help_text(const po::options_description& options) {
    std::ostringstream out;
    out << "macp-runtime — MACP coordination server. Every flag has an environment variable; flags win.\n"
        << options << "\nPlugins may read further MACP_* variables from the environment; --list-plugins shows them.\n";
    return out.str();
}

std::vector<std::string> messages(const Problems& problems) {
    std::vector<std::string> out;
    out.reserve(problems.size());
    for (const auto& problem : problems) out.push_back(problem.text);
    return out;
}

std::string masked(const std::string& name, const std::string& value, const std::set<std::string>& secrets) {
    if (value.empty()) return value;
    if (values::is_secret_name(name) || secrets.count(name) != 0) return "***";
    return values::mask_url_password(value);
}

}  // namespace

std::optional<std::string> Config::storage_plugin() const {
    if (memory_only) return std::nullopt;
    return "storage-" + storage_backend;
}

// AUTH-CHAIN-1: JWT is consulted before static tokens.
std::vector<std::string> Config::auth_plugins() const {
    std::vector<std::string> plugins;
    if (!auth_issuer.empty()) plugins.emplace_back("auth-jwt");
    if (!auth_tokens_json.empty() || !auth_tokens_file.empty()) plugins.emplace_back("auth-static");
    return plugins;
}

Result<Parsed, std::vector<std::string>> parse(int argc, const char* const* argv,
                                               const std::map<std::string, std::string>& environment) {
    Problems problems;
    const auto options = make_options();
    const auto line = read_command_line(argc, argv, options, problems);
    Problems setting_problems;
    Parsed parsed;
    parsed.action = pick_action(line.actions);
    parsed.config = build_config(merge(environment, line.settings), setting_problems);
    for (auto& problem : setting_problems) {
        if (matters_for(parsed.action, problem)) problems.push_back(std::move(problem));
    }
    if (!problems.empty()) return fail(messages(problems));
    if (parsed.action == Action::Help) parsed.help_text = help_text(options);
    return parsed;
}

std::string render(const Config& config) {
    return render(config, {});
}

std::string render(const Config& config, const std::vector<std::string>& extra_secret_names) {
    std::map<std::string, std::string> lines;
    for (const auto& spec : kSpecs) {
        if (!std::holds_alternative<std::monostate>(spec.member)) lines.emplace(spec.env, format(spec, config));
    }
    for (const auto& [name, value] : config.settings) lines.emplace(name, value);  // typed values win
    const std::set<std::string> secrets(extra_secret_names.begin(), extra_secret_names.end());
    std::string out;
    for (const auto& [name, value] : lines) out += name + "=" + masked(name, value, secrets) + "\n";
    return out;
}

}  // namespace macp::config
