// Runtime configuration: the only code that reads the environment or the command line.
// Every setting has an environment variable (the deployment guide's name, BEHAVIOR.md §10) and a
// matching command-line flag; flags win over the environment.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace macp::config {

struct Config {
    std::string bind_addr = "127.0.0.1:50051";         // MACP_BIND_ADDR (CFG-1)
    bool allow_insecure = false;                       // MACP_ALLOW_INSECURE == "1" (AUTH-TLS-2)
    std::string tls_cert_path;                         // MACP_TLS_CERT_PATH
    std::string tls_key_path;                          // MACP_TLS_KEY_PATH
    std::string tls_client_ca_path;                    // MACP_TLS_CLIENT_CA_PATH: mTLS (issue #12)
    bool tls_client_identity = false;                  // MACP_TLS_CLIENT_IDENTITY == "1"
    int64_t tls_reload_secs = 60;                      // MACP_TLS_RELOAD_SECS (1..86400)
    std::string data_dir = ".macp-data";               // MACP_DATA_DIR (CFG-6)
    std::string storage_backend = "file";              // MACP_STORAGE_BACKEND (STO-SEL-1)
    std::string rocksdb_path;                          // MACP_ROCKSDB_PATH (default <data_dir>/rocksdb)
    std::string redis_url = "redis://127.0.0.1:6379";  // MACP_REDIS_URL
    bool memory_only = false;                          // MACP_MEMORY_ONLY == "1"
    bool strict_recovery = false;                      // MACP_STRICT_RECOVERY == "1"
    int64_t max_payload_bytes = 1048576;               // MACP_MAX_PAYLOAD_BYTES (> 0)
    int64_t max_session_state_bytes = 67108864;        // MACP_MAX_SESSION_STATE_BYTES (>= max payload)
    int64_t session_start_limit_per_minute = 60;       // MACP_SESSION_START_LIMIT_PER_MINUTE (> 0)
    int64_t message_limit_per_minute = 600;            // MACP_MESSAGE_LIMIT_PER_MINUTE (> 0)
    int64_t checkpoint_interval = 0;                   // MACP_CHECKPOINT_INTERVAL (>= 0)
    int64_t cleanup_interval_secs = 60;                // MACP_CLEANUP_INTERVAL_SECS (> 0)
    int64_t storage_health_interval_ms = 1000;         // MACP_STORAGE_HEALTH_INTERVAL_MS (1..3600000)
    int64_t session_retention_secs = 3600;             // MACP_SESSION_RETENTION_SECS (>= 0)
    int64_t shutdown_drain_secs = 10;                  // MACP_SHUTDOWN_DRAIN_SECS (>= 0)
    std::string log_level = "info";                    // RUST_LOG
    std::string log_format = "text";                   // MACP_LOG_FORMAT: text | json
    std::string auth_tokens_json;                      // MACP_AUTH_TOKENS_JSON (secret)
    std::string auth_tokens_file;                      // MACP_AUTH_TOKENS_FILE
    std::string auth_issuer;                           // MACP_AUTH_ISSUER (selects auth-jwt)
    std::string auth_plugin_list;                      // MACP_AUTH_PLUGINS, normalised: "hmac,static"
    std::string plugin_path;                           // MACP_PLUGIN_PATH (colon list of abs dirs)
    std::string metrics_addr;                          // MACP_METRICS_ADDR host:port, empty = off (CFG-15)
    int64_t max_concurrent_streams = 128;              // MACP_MAX_CONCURRENT_STREAMS (> 0) (CFG-17)
    int64_t concurrency_limit_per_connection = 64;     // MACP_CONCURRENCY_LIMIT_PER_CONNECTION (> 0) (CFG-18)
    int64_t request_timeout_secs = 30;                 // MACP_REQUEST_TIMEOUT_SECS (> 0) (CFG-19)
    int64_t max_streams_per_identity = 1000;           // MACP_MAX_STREAMS_PER_IDENTITY (> 0) (issue #13)
    int64_t max_anonymous_streams = 1000;              // MACP_MAX_ANONYMOUS_STREAMS (>= 0) (issue #13)
    int64_t session_disk_retention_secs = 0;           // MACP_SESSION_DISK_RETENTION_SECS (>= 0, 0 = keep) (CFG-20)
    std::string policies_dir;                          // MACP_POLICIES_DIR, empty = off (CFG-21)
    // Scale-out (issue #16, docs/scale-out.md).
    bool cluster = false;                   // MACP_CLUSTER == "1" (needs a backend with leases: redis)
    std::string node_id;                    // MACP_NODE_ID, default: the host name
    std::string advertise_addr;             // MACP_ADVERTISE_ADDR, default: MACP_BIND_ADDR when specific
    int64_t cluster_lease_ttl_ms = 10000;   // MACP_CLUSTER_LEASE_TTL_MS (1000..600000)
    int64_t cluster_renew_interval_ms = 0;  // MACP_CLUSTER_RENEW_INTERVAL_MS, 0 = a third of the TTL
    int64_t cluster_adopt_interval_ms = 0;  // MACP_CLUSTER_ADOPT_INTERVAL_MS, 0 = the TTL
    std::string cluster_ca_path;            // MACP_CLUSTER_CA_PATH: roots that verify peers over TLS

    // Every setting by environment-variable name after merging environment and flags, including
    // MACP_* variables the core does not know itself: plugins' declared keys are resolved here.
    std::map<std::string, std::string> settings;
    // The names in `settings` that hold a default filled in by the core, not a given value.
    std::set<std::string> defaulted;

    // Derived: which plugins to load.
    [[nodiscard]] std::optional<std::string> storage_plugin() const;  // "storage-file", nullopt = memory
    // The auth chain (AUTH-CHAIN-1, extended): auth-jwt when MACP_AUTH_ISSUER is set, then
    // auth-static when MACP_AUTH_TOKENS_JSON/FILE is set, then MACP_AUTH_PLUGINS in listed order.
    // A plugin both listed and enabled by its variable appears once, at its place in the list.
    [[nodiscard]] std::vector<std::string> auth_plugins() const;
    // Every configured plugin: the storage plugin (if any), then the auth chain.
    [[nodiscard]] std::vector<std::string> plugins() const;
};

enum class Action { Run, Help, Version, PrintConfig, CheckConfig, ListPlugins, MigrateStorage };

// --migrate-storage FROM TO and its companions (issue #10). FROM and TO are BACKEND[:LOCATION];
// --from-set/--to-set KEY=VALUE give one side a setting of its own (repeatable).
struct MigrationRequest {
    std::string from;
    std::string to;
    std::map<std::string, std::string> from_settings;
    std::map<std::string, std::string> to_settings;
    bool force = false;               // --force
    bool skip_unconvertible = false;  // --skip-unconvertible
};

// A configuration key a plugin declares (abi.h macp_config_key), as the plugin host read it.
struct DeclaredKey {
    std::string env_name;
    std::optional<std::string> default_value;
    std::string help;
    bool required = false;
    bool secret = false;
    bool path = false;
};

// One plugin and the keys it declares.
struct PluginDeclaration {
    std::string id;  // "storage-file"
    std::string version;
    std::string path;  // the file it was read from
    std::vector<DeclaredKey> keys;
};

// What the plugin host can tell about plugins: their declarations, and one sentence for each
// plugin it could not read (not found, not loadable).
struct PluginCatalog {
    std::vector<PluginDeclaration> plugins;
    std::vector<std::string> problems;
};

// Which plugins a catalog describes: those the configuration selects (running, --check-config,
// --print-config), or every installed one (--help, --version, --list-plugins).
enum class PluginScope { Configured, Installed };

// Asked by parse() for the plugins whose declared keys are accepted as flags. It receives the
// configuration read from the environment and the core flags: plugin keys never select plugins.
using PluginCatalogSource = std::function<PluginCatalog(const Config&, PluginScope)>;

struct Parsed {
    Action action = Action::Run;
    Config config;
    std::string help_text;
    // Action::MigrateStorage: what to migrate.
    MigrationRequest migration;
    // What the catalog source returned, when parse() needed it (a flag that is not a core flag,
    // --help, --print-config); empty otherwise.
    PluginCatalog plugins;
};

// Parses argv over the given environment (name -> value). Returns every problem found at once
// (one message per line) when the configuration is invalid (CFG-3).
// Two phases: the core flags are read first (unknown ones set aside); when a flag is left over,
// or for --help and --print-config, `plugins` is asked for the declarations in scope and their
// keys become flags (--foo-bar for MACP_FOO_BAR; see flag_for). A flag still unknown is an error
// naming it. Without `plugins`, only core flags exist.
Result<Parsed, std::vector<std::string>> parse(int argc, const char* const* argv,
                                               const std::map<std::string, std::string>& environment,
                                               const PluginCatalogSource& plugins = {});

// The command-line flag ("--data-dir") for a variable: the core flag of a core setting, else the
// one derived from the name (MACP_FOO_BAR -> --foo-bar); nullopt when the derived name is not a
// usable flag or is taken by another setting or an action.
std::optional<std::string> flag_for(std::string_view env_name);

// Renders the effective configuration, masking secrets (--print-config): every setting, sorted,
// then for each plugin its declared keys with the value it receives (a plugin default is marked
// "# default", a key without value "# unset"; keys declared SECRET masked).
std::string render(const Config& config, const std::vector<PluginDeclaration>& plugins = {});

}  // namespace macp::config
