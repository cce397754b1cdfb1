// macp-runtime entry point: configuration -> plugins -> kernel -> recovery -> gRPC service.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "auth/authenticator.hpp"
#include "auth/rate_limiter.hpp"
#include "config/config.hpp"
#include "kernel/events.hpp"
#include "kernel/kernel.hpp"
#include "modes/registry.hpp"
#include "plugin_host/plugin_host.hpp"
#include "policy/policy_files.hpp"
#include "policy/registry.hpp"
#include "service/server.hpp"
#include "service/service_events.hpp"
#include "storage/storage_health.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace {

constexpr const char* kVersion = MACP_RUNTIME_VERSION;

std::map<std::string, std::string> read_environment() {
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string kv(*e);
        auto eq = kv.find('=');
        if (eq != std::string::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
    return env;
}

void setup_logging(const macp::config::Config& c) {
    auto logger = spdlog::stderr_color_mt("macp");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(c.log_level == "warn" ? "warning" : c.log_level));
    if (c.log_format == "json") {
        spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})",
                            spdlog::pattern_time_type::utc);
    } else {
        spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
    }
}

void print_plugins(macp::plugin_host::PluginHost& host) {
    auto plugins = host.list();
    if (plugins.empty()) {
        std::cout << "no plugins found\n";
        return;
    }
    for (const auto& p : plugins) {
        std::cout << p.file_name << "  (" << p.path.string() << ")\n";
        if (!p.load_error.empty()) {
            std::cout << "    NOT LOADABLE: " << p.load_error << "\n";
            continue;
        }
        std::cout << "    " << p.kind << " plugin '" << p.name << "' version " << p.version << ", ABI " << p.abi_major
                  << "." << p.abi_minor << (p.thread_safe ? ", thread-safe" : "") << "\n    " << p.description << "\n";
        for (const auto& k : p.config_keys) {
            std::cout << "    " << k.env_name << (k.required ? " (required)" : "") << (k.secret ? " (secret)" : "")
                      << (k.has_default ? " [default: " + k.default_value + "]" : "") << "  " << k.help << "\n";
        }
    }
}

struct Plugins {
    std::unique_ptr<macp::storage::StorageBackend> storage;
    std::vector<std::unique_ptr<macp::auth::Resolver>> resolvers;
};

// Opens every configured plugin, collecting all problems so that one start-up reports them all.
Plugins open_plugins(macp::plugin_host::PluginHost& host, const macp::config::Config& c,
                     std::vector<std::string>& problems) {
    Plugins out;
    auto storage_name = c.storage_plugin();
    auto storage = storage_name ? host.open_storage(*storage_name, c.settings) : host.open_memory_storage();
    if (storage) {
        out.storage = std::move(storage.value());
    } else {
        problems.push_back(storage.error());
    }
    for (const auto& name : c.auth_plugins()) {
        auto r = host.open_auth(name, c.settings);
        if (r) {
            out.resolvers.push_back(std::move(r.value()));
        } else {
            problems.push_back(r.error());
        }
    }
    return out;
}

int wait_for_signal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

int run(int argc, char** argv) {
    auto parsed = macp::config::parse(argc, argv, read_environment());
    if (!parsed) {
        std::cerr << "macp-runtime: invalid configuration:\n";
        for (const auto& p : parsed.error()) std::cerr << "  - " << p << "\n";
        return 2;
    }
    const auto& cfg = parsed->config;
    switch (parsed->action) {
        case macp::config::Action::Help: std::cout << parsed->help_text; return 0;
        case macp::config::Action::Version: std::cout << "macp-runtime " << kVersion << " (plugin ABI 1.0)\n"; return 0;
        default: break;
    }
    macp::plugin_host::PluginHost host(macp::plugin_host::default_search_dirs(cfg.plugin_path));
    if (parsed->action == macp::config::Action::ListPlugins) {
        print_plugins(host);
        return 0;
    }
    if (parsed->action == macp::config::Action::PrintConfig) {
        std::cout << macp::config::render(cfg);
        return 0;
    }
    setup_logging(cfg);
    std::vector<std::string> problems;
    auto plugins = open_plugins(host, cfg, problems);
    if (!problems.empty()) {
        std::cerr << "macp-runtime: cannot start:\n";
        for (const auto& p : problems) std::cerr << "  - " << p << "\n";
        return 1;
    }
    if (parsed->action == macp::config::Action::CheckConfig) {
        std::cout << "configuration OK\n";
        return 0;
    }

    // Issue #8.7: health follows whether the store can write. Everything else reaches the backend
    // through `storage`, which re-checks at once when a write fails.
    macp::storage::HealthMonitorOptions health_options;
    health_options.interval = std::chrono::milliseconds(cfg.storage_health_interval_ms);
    macp::storage::StorageHealthMonitor storage_health(*plugins.storage, health_options);
    macp::storage::HealthReportingStorage storage(*plugins.storage, storage_health);
    macp::modes::ModeRegistry modes(&storage);
    macp::policy::PolicyRegistry policies(&storage);
    const bool dev_mode = plugins.resolvers.empty();
    macp::auth::Authenticator authenticator(std::move(plugins.resolvers), dev_mode && cfg.allow_insecure);
    macp::auth::RateLimiter limiter(cfg.session_start_limit_per_minute, cfg.message_limit_per_minute);
    macp::service::ServiceEvents events;
    modes.on_change([&events] { events.modes_changed(); });
    policies.on_change([&events] { events.policies_changed(); });
    macp::kernel::KernelOptions ko;
    ko.max_payload_bytes = cfg.max_payload_bytes;
    ko.max_session_state_bytes = static_cast<uint64_t>(cfg.max_session_state_bytes);
    ko.checkpoint_interval = cfg.checkpoint_interval;
    ko.session_retention_ms = cfg.session_retention_secs * 1000;
    ko.session_disk_retention_ms = cfg.session_disk_retention_secs * 1000;
    ko.strict_recovery = cfg.strict_recovery;
    macp::kernel::Kernel kernel(ko, storage, modes, policies, authenticator, limiter, events);

    // An unwritable store was already reported by the monitor, as an error.
    if (const auto state = storage_health.snapshot(); state.healthy) {
        spdlog::info("storage: {} — {}", storage.name(), state.reason);
    }
    if (auto loaded = modes.load(); !loaded) {
        spdlog::critical("{}", loaded.error());
        return 1;
    } else if (loaded.value() > 0) {
        spdlog::info("loaded {} registered extension modes", loaded.value());
    }
    if (cfg.policies_dir.empty()) {
        if (auto loaded = policies.load(); !loaded) {
            spdlog::critical("{}", loaded.error());
            return 1;
        } else if (loaded.value() > 0) {
            spdlog::info("loaded {} registered policies", loaded.value());
        }
    } else {
        // CFG-21, CFG-25, POL-REG-12: the directory is the only source of policies (policies
        // registered over gRPC in earlier runs stay stored but are not loaded); loaded before
        // recovery, then the registry is read-only over the wire (RPC-POLRO-1).
        auto loaded = macp::policy::load_policy_dir(cfg.policies_dir, policies);
        if (!loaded) {
            spdlog::critical("{}", loaded.error());
            return 1;
        }
        policies.set_read_only(true);
        spdlog::info("loaded {} governance policies from {}", loaded.value(), cfg.policies_dir);
    }
    auto recovered = kernel.recover();
    if (!recovered) {
        spdlog::critical("recovery failed (MACP_STRICT_RECOVERY=1): {}", recovered.error());
        return 1;
    }
    macp::service::ServerOptions so{cfg.bind_addr,         cfg.tls_cert_path, cfg.tls_key_path,
                                    cfg.max_payload_bytes, kVersion,          cfg.max_concurrent_streams};
    so.storage_health = &storage_health;
    auto server = macp::service::Server::start(kernel, modes, policies, events, so);
    if (!server) {
        spdlog::critical("{}", server.error());
        return 1;
    }
    const bool tls = !cfg.tls_cert_path.empty() && !cfg.tls_key_path.empty();
    if (!tls) spdlog::warn("serving PLAINTEXT without TLS because MACP_ALLOW_INSECURE=1 (local development only)");
    if (authenticator.dev_mode()) {
        spdlog::warn(
            "dev-mode authentication: any bearer token becomes a fully privileged sender (MACP_ALLOW_INSECURE=1)");
    }
    std::string auth_names;
    for (const auto& n : authenticator.resolver_names()) auth_names += (auth_names.empty() ? "" : ", ") + n;
    spdlog::info("macp-runtime {} listening on {} ({}) | storage: {} | auth: {} | sessions recovered: {}", kVersion,
                 cfg.bind_addr, tls ? "TLS" : "plaintext", plugins.storage->name(), auth_names, recovered->recovered);
    kernel.start_sweeper(std::chrono::seconds(cfg.cleanup_interval_secs));

    int sig = wait_for_signal();
    spdlog::info("received {}, draining for up to {} s", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 cfg.shutdown_drain_secs);
    server.value()->drain(cfg.shutdown_drain_secs);
    kernel.shutdown();
    spdlog::info("state persisted, goodbye");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Block the shutdown signals before any thread starts, so only sigwait() sees them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "macp-runtime: fatal: " << e.what() << "\n";
    }
    return 1;
}
