// Runtime configuration: the only code that reads the environment or the command line.
// Every setting has an environment variable (the deployment guide's name, BEHAVIOR.md §10) and a
// matching command-line flag; flags win over the environment.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace macp::config {

struct Config {
    std::string bind_addr = "127.0.0.1:50051";         // MACP_BIND_ADDR (CFG-1)
    bool allow_insecure = false;                       // MACP_ALLOW_INSECURE == "1" (AUTH-TLS-2)
    std::string tls_cert_path;                         // MACP_TLS_CERT_PATH
    std::string tls_key_path;                          // MACP_TLS_KEY_PATH
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
    std::string plugin_path;                           // MACP_PLUGIN_PATH (colon list of abs dirs)
    std::string metrics_addr;                          // MACP_METRICS_ADDR host:port, empty = off (CFG-15)
    int64_t max_concurrent_streams = 128;              // MACP_MAX_CONCURRENT_STREAMS (> 0) (CFG-17)
    int64_t concurrency_limit_per_connection = 64;     // MACP_CONCURRENCY_LIMIT_PER_CONNECTION (> 0) (CFG-18)
    int64_t request_timeout_secs = 30;                 // MACP_REQUEST_TIMEOUT_SECS (> 0) (CFG-19)
    int64_t session_disk_retention_secs = 0;           // MACP_SESSION_DISK_RETENTION_SECS (>= 0, 0 = keep) (CFG-20)
    std::string policies_dir;                          // MACP_POLICIES_DIR, empty = off (CFG-21)

    // Every setting by environment-variable name after merging environment and flags, including
    // MACP_* variables the core does not know itself: plugins' declared keys are resolved here.
    std::map<std::string, std::string> settings;

    // Derived: which plugins to load.
    [[nodiscard]] std::optional<std::string> storage_plugin() const;  // "storage-file", nullopt = memory
    [[nodiscard]] std::vector<std::string> auth_plugins() const;      // in chain order
};

enum class Action { Run, Help, Version, PrintConfig, CheckConfig, ListPlugins };

struct Parsed {
    Action action = Action::Run;
    Config config;
    std::string help_text;
};

// Parses argv over the given environment (name -> value). Returns every problem found at once
// (one message per line) when the configuration is invalid (CFG-3).
Result<Parsed, std::vector<std::string>> parse(int argc, const char* const* argv,
                                               const std::map<std::string, std::string>& environment);

// Renders the effective configuration, masking secrets (--print-config).
std::string render(const Config& config);
// Same, also masking the keys plugins declared SECRET (known only once they are loaded).
std::string render(const Config& config, const std::vector<std::string>& extra_secret_names);

}  // namespace macp::config
