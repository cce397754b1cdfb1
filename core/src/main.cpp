// macp-runtime entry point: configuration -> plugins -> kernel -> recovery -> gRPC service.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "auth/authenticator.hpp"
#include "auth/certificate_resolver.hpp"
#include "auth/rate_limiter.hpp"
#include "config/config.hpp"
#include "kernel/events.hpp"
#include "kernel/kernel.hpp"
#include "modes/registry.hpp"
#include "plugin_host/plugin_host.hpp"
#include "policy/policy_files.hpp"
#include "policy/registry.hpp"
#include "metrics/registry.hpp"
#include "service/metrics_collectors.hpp"
#include "service/metrics_endpoint.hpp"
#include "service/server.hpp"
#include "service/service_events.hpp"
#include "service/tls_credentials.hpp"
#include "cluster/ownership.hpp"
#include "service/cluster_events.hpp"
#include "service/cluster_peers.hpp"
#include "storage/migration.hpp"
#include "storage/storage_health.hpp"
#include "util/log_setup.hpp"
#include "util/sd_notify.hpp"

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

// RUST_LOG keeps its per-target directives (util/log_setup.hpp); config validated it and reduced
// it to one level, which stays the level of targets no directive names.
void setup_logging(const macp::config::Config& c) {
    const auto fallback = spdlog::level::from_str(c.log_level == "warn" ? "warning" : c.log_level);
    const auto raw = c.settings.find("RUST_LOG");
    auto filter = macp::util::parse_log_filter(raw == c.settings.end() ? c.log_level : raw->second, fallback);
    macp::util::LogFilter plain;
    plain.fallback = fallback;
    macp::util::configure_logging(filter ? filter.value() : plain, c.log_format == "json");
}

// The keys a plugin declares, in the configuration code's terms.
macp::config::PluginDeclaration declaration(const macp::plugin_host::PluginInfo& info) {
    macp::config::PluginDeclaration out;
    out.id = info.kind + "-" + info.name;
    out.version = info.version;
    out.path = info.path.string();
    for (const auto& k : info.config_keys) {
        out.keys.push_back({k.env_name, k.has_default ? std::optional<std::string>(k.default_value) : std::nullopt,
                            k.help, k.required, k.secret, k.path});
    }
    return out;
}

// The one plugin host of the process, created on first use: it needs MACP_PLUGIN_PATH. It is kept
// so that a plugin described while parsing the command line is not loaded again to be opened.
macp::plugin_host::PluginHost& ensure_host(std::unique_ptr<macp::plugin_host::PluginHost>& host,
                                           const std::string& plugin_path) {
    if (!host) {
        host = std::make_unique<macp::plugin_host::PluginHost>(macp::plugin_host::default_search_dirs(plugin_path));
    }
    return *host;
}

// For config::parse: the plugins whose declared keys are flags.
macp::config::PluginCatalogSource catalog_source(std::unique_ptr<macp::plugin_host::PluginHost>& host) {
    return [&host](const macp::config::Config& c, macp::config::PluginScope scope) {
        auto& plugins = ensure_host(host, c.plugin_path);
        macp::config::PluginCatalog catalog;
        if (scope == macp::config::PluginScope::Installed) {
            for (const auto& info : plugins.list()) {
                if (info.load_error.empty()) catalog.plugins.push_back(declaration(info));
            }
            return catalog;
        }
        for (const auto& id : c.plugins()) {
            auto info = plugins.describe(id);
            if (info) {
                catalog.plugins.push_back(declaration(*info));
            } else {
                catalog.problems.push_back(info.error());
            }
        }
        return catalog;
    };
}

std::string key_flags(const macp::plugin_host::ConfigKeyInfo& k) {
    std::string out;
    for (const auto& [on, name] : {std::pair{k.required, "REQUIRED"}, {k.secret, "SECRET"}, {k.path, "PATH"}}) {
        if (on) out += out.empty() ? name : std::string(" ") + name;
    }
    return out.empty() ? "-" : out;
}

// --list-plugins: the search path in order, then every plugin file found, with its declared keys.
void print_plugins(macp::plugin_host::PluginHost& host, const std::string& plugin_path) {
    std::cout << "Plugin search path, in order (the first directory holding <kind>-<name>.so wins):\n";
    for (const auto& dir : macp::plugin_host::default_search_path(plugin_path)) {
        std::cout << "  " << dir.dir.string() << "  (" << dir.origin << ")\n";
    }
    const auto& plugins = host.list();
    if (plugins.empty()) {
        std::cout << "\nno plugins found\n";
        return;
    }
    for (const auto& p : plugins) {
        std::cout << "\n" << p.file_name << "\n    file: " << p.path.string() << "\n";
        if (!p.load_error.empty()) {
            std::cout << "    NOT LOADABLE: " << p.load_error << "\n";
            continue;
        }
        std::cout << "    " << p.kind << " plugin '" << p.name << "' version " << p.version << ", ABI " << p.abi_major
                  << "." << p.abi_minor << (p.thread_safe ? ", thread-safe" : "") << "\n    " << p.description << "\n";
        if (!p.config_keys.empty()) std::cout << "    keys (variable, flag, REQUIRED/SECRET/PATH, default):\n";
        for (const auto& k : p.config_keys) {
            const auto flag = macp::config::flag_for(k.env_name);
            std::cout << "      " << k.env_name << "  " << flag.value_or("(no flag)") << "  " << key_flags(k) << "  "
                      << (k.has_default ? "default: " + k.default_value : std::string("no default")) << "\n";
            if (!k.help.empty()) std::cout << "          " << k.help << "\n";
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
    for (const auto& p : host.opened()) {
        spdlog::info("loaded {} plugin '{}' version {} from {}", p.kind, p.name, p.version,
                     p.path.empty() ? std::string("(built in)") : p.path.string());
    }
    return out;
}

// Issue #15: a broken certificate, key or CA is named as such, before recovery (which can take
// long) and by --check-config, instead of surfacing later as a listening failure.
std::optional<std::string> tls_problem(const macp::config::Config& c) {
    if (c.tls_cert_path.empty() || c.tls_key_path.empty()) return std::nullopt;
    const macp::service::TlsPaths paths{c.tls_cert_path, c.tls_key_path, c.tls_client_ca_path, c.tls_reload_secs};
    auto ok = macp::service::TlsFiles::check(paths);
    if (ok) return std::nullopt;
    return ok.error();
}

// --check-config: every configured plugin is loaded, its keys resolved and its own check_config
// asked; no instance is created, so no data directory, database or connection comes into being.
int check_config(macp::plugin_host::PluginHost& host, const macp::config::Config& c) {
    std::vector<std::string> problems;
    std::vector<std::string> notes;
    const auto check = [&](const std::string& plugin, const std::string& kind) {
        auto r = host.check_config(plugin, kind, c.settings);
        if (r) {
            notes.push_back(plugin + ": " + r.value());
        } else {
            problems.push_back(r.error());
        }
    };
    if (auto storage = c.storage_plugin()) check(*storage, "storage");
    for (const auto& name : c.auth_plugins()) check(name, "auth");
    if (auto tls = tls_problem(c)) {
        problems.push_back(std::move(*tls));
    } else if (!c.tls_cert_path.empty()) {
        notes.push_back("TLS: certificate and key readable and matching");
    }
    if (!problems.empty()) {
        std::cerr << "macp-runtime: configuration problems:\n";
        for (const auto& p : problems) std::cerr << "  - " << p << "\n";
        return 1;
    }
    for (const auto& n : notes) std::cout << n << "\n";
    std::cout << "configuration OK\n";
    return 0;
}

// MACP_CLUSTER=1 (issue #16, docs/scale-out.md): the session ownership over the store's leases,
// started (it adopts the sessions nobody serves), and the peers' channels.
macp::Result<std::unique_ptr<macp::service::ClusterLink>, std::string> start_cluster(
    const macp::config::Config& c, macp::storage::StorageBackend& storage, macp::kernel::Kernel& kernel,
    std::unique_ptr<macp::cluster::Ownership>& ownership) {
    if (!storage.supports_leases()) {
        return macp::fail("MACP_CLUSTER=1: storage backend " + storage.name() +
                          " has no session leases (plugin ABI 1.2 acquire_lease/release_lease); use "
                          "MACP_STORAGE_BACKEND=redis");
    }
    macp::service::PeerOptions peers;
    peers.tls = !c.tls_cert_path.empty() && !c.tls_key_path.empty();
    peers.max_message_bytes = static_cast<int>(c.max_payload_bytes + 65536);
    auto read = [](const std::string& path, std::string& out) -> std::optional<std::string> {
        std::ifstream in(path, std::ios::binary);
        if (!in) return "cannot read " + path;
        out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        return std::nullopt;
    };
    if (peers.tls) {
        if (!c.cluster_ca_path.empty()) {
            if (auto why = read(c.cluster_ca_path, peers.ca_pem)) return macp::fail("MACP_CLUSTER_CA_PATH: " + *why);
        }
        // Peers that require client certificates get this process's own.
        if (!c.tls_client_ca_path.empty()) {
            if (auto why = read(c.tls_cert_path, peers.cert_pem)) return macp::fail("MACP_TLS_CERT_PATH: " + *why);
            if (auto why = read(c.tls_key_path, peers.key_pem)) return macp::fail("MACP_TLS_KEY_PATH: " + *why);
        }
    }
    macp::cluster::ClusterOptions co;
    co.node_id = c.node_id;
    co.advertise_addr = c.advertise_addr;
    co.lease_ttl = std::chrono::milliseconds(c.cluster_lease_ttl_ms);
    co.renew_interval = std::chrono::milliseconds(c.cluster_renew_interval_ms);
    co.adopt_interval = std::chrono::milliseconds(c.cluster_adopt_interval_ms);
    if (auto repairs = storage.recover(); !repairs) {
        return macp::fail("storage recovery failed: " + repairs.error().message);
    } else {
        for (const auto& r : repairs.value()) spdlog::warn("storage repair: {}", r);
    }
    ownership = std::make_unique<macp::cluster::Ownership>(co, storage, kernel);
    ownership->start();
    spdlog::info("cluster: node {} ({}), advertised at {}, lease {} ms, renewed every {} ms; serving {} sessions",
                 co.node_id, ownership->holder(), co.advertise_addr, co.lease_ttl.count(), co.renew_interval.count(),
                 ownership->owned_count());
    return std::make_unique<macp::service::ClusterLink>(*ownership, std::move(peers));
}

// --migrate-storage FROM TO (issue #10): opens the two sides and hands them to storage/migration.
// The source is only read: a file source must already be a data directory (nothing is created
// for a missing or empty one), a legacy reference directory is read without its plugin, and
// recover() is never called on it. The target is opened again to verify what landed.
int migrate_storage(macp::plugin_host::PluginHost& host, const macp::config::Config& c,
                    const macp::config::MigrationRequest& request) {
    namespace st = macp::storage;
    const auto fail = [](const std::string& why) {
        std::cerr << "macp-runtime: storage migration: " << why << "\n";
        return 1;
    };
    auto from = st::resolve_side({request.from, request.from_settings}, c.settings, c.defaulted);
    if (!from) return fail("FROM " + from.error());
    auto to = st::resolve_side({request.to, request.to_settings}, c.settings, c.defaulted);
    if (!to) return fail("TO " + to.error());
    if (st::same_store(*from, *to)) return fail("FROM and TO are the same store: " + from->describe());
    st::MigrationOptions options;
    options.force = request.force;
    options.skip_unconvertible = request.skip_unconvertible;

    std::unique_ptr<st::StorageBackend> source_backend;
    std::unique_ptr<st::MigrationSource> source;
    if (from->backend == "file") {
        const auto layout = st::inspect_data_dir(from->location);
        if (layout == st::DirLayout::Legacy) {
            auto legacy = st::legacy_file_source(from->location);
            if (!legacy) return fail("source " + from->location + ": " + legacy.error());
            source = std::move(legacy.value());
        } else if (layout != st::DirLayout::Current) {
            return fail("source data directory " + from->location + " " + st::describe_layout(layout));
        }
    } else if (from->backend == "rocksdb") {
        std::error_code ec;
        if (!std::filesystem::exists(from->location, ec) || std::filesystem::is_empty(from->location, ec)) {
            return fail("source RocksDB directory " + from->location + " does not exist or is empty");
        }
    }
    if (!source) {
        auto opened = host.open_storage(from->plugin, from->settings);
        if (!opened) return fail("cannot open the source: " + opened.error());
        source_backend = std::move(opened.value());
        source = st::backend_source(*source_backend, from->describe());
    }
    // Opened only once every source session was checked: a refused migration creates nothing.
    std::unique_ptr<st::StorageBackend> target;
    const auto open_target = [&]() -> macp::Result<st::StorageBackend*, std::string> {
        auto opened = host.open_storage(to->plugin, to->settings);
        if (!opened) return macp::fail(opened.error());
        target = std::move(opened.value());
        return target.get();
    };
    auto report = st::migrate(*source, open_target, options);
    report.target = to->describe();
    if (report.errors.empty()) {
        target.reset();
        auto reopened = host.open_storage(to->plugin, to->settings);
        if (reopened) {
            st::verify(*source, *reopened.value(), options, report);
        } else {
            report.errors.push_back("verify: cannot open the target again: " + reopened.error());
        }
    }
    const int code = st::exit_code(report, options);
    std::cout << st::render(report);
    return code;
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
    std::unique_ptr<macp::plugin_host::PluginHost> host;
    auto parsed = macp::config::parse(argc, argv, read_environment(), catalog_source(host));
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
    auto& loader = ensure_host(host, cfg.plugin_path);
    if (parsed->action == macp::config::Action::ListPlugins) {
        print_plugins(loader, cfg.plugin_path);
        return 0;
    }
    if (parsed->action == macp::config::Action::PrintConfig) {
        std::cout << macp::config::render(cfg, parsed->plugins.plugins);
        for (const auto& p : parsed->plugins.problems) std::cout << "# " << p << "\n";
        return 0;
    }
    setup_logging(cfg);
    if (parsed->action == macp::config::Action::CheckConfig) return check_config(loader, cfg);
    if (parsed->action == macp::config::Action::MigrateStorage) return migrate_storage(loader, cfg, parsed->migration);
    std::vector<std::string> problems;
    if (auto tls = tls_problem(cfg)) problems.push_back(std::move(*tls));
    auto plugins = open_plugins(loader, cfg, problems);
    if (!problems.empty()) {
        std::cerr << "macp-runtime: cannot start:\n";
        for (const auto& p : problems) std::cerr << "  - " << p << "\n";
        return 1;
    }

    // Issue #8.7: health follows whether the store can write. Everything else reaches the backend
    // through `storage`, which re-checks at once when a write fails.
    macp::storage::HealthMonitorOptions health_options;
    health_options.interval = std::chrono::milliseconds(cfg.storage_health_interval_ms);
    macp::storage::StorageHealthMonitor storage_health(*plugins.storage, health_options);
    macp::storage::HealthReportingStorage storage(*plugins.storage, storage_health);
    macp::modes::ModeRegistry modes(&storage);
    macp::policy::PolicyRegistry policies(&storage);
    // AUTH-DEV-5: dev-mode only when no auth plugin is configured (MACP_AUTH_ISSUER,
    // MACP_AUTH_TOKENS_*, MACP_AUTH_PLUGINS all unset) and MACP_ALLOW_INSECURE=1.
    const bool dev_mode = cfg.auth_plugins().empty() && !cfg.tls_client_identity && cfg.allow_insecure;
    // Issue #12: the verified client certificate answers for calls without a token, last in the
    // chain (auth/certificate_resolver.hpp).
    if (cfg.tls_client_identity) plugins.resolvers.push_back(std::make_unique<macp::auth::CertificateResolver>());
    macp::auth::Authenticator authenticator(std::move(plugins.resolvers), dev_mode);
    macp::auth::RateLimiter limiter(cfg.session_start_limit_per_minute, cfg.message_limit_per_minute);
    macp::service::ServiceEvents events;
    events.stream_limits.configure(cfg.max_streams_per_identity, cfg.max_anonymous_streams);  // issue #13
    modes.on_change([&events] { events.modes_changed(); });
    policies.on_change([&events] { events.policies_changed(); });
    // Recorded always (a few atomic adds), exposed only when MACP_METRICS_ADDR is set.
    macp::metrics::Metrics metrics;
    macp::kernel::KernelOptions ko;
    ko.metrics = &metrics.runtime;
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
    // Issue #16: in a cluster, sessions are not recovered wholesale but taken over one by one
    // under their leases (the orphan scan of Ownership::start(), then first use).
    std::unique_ptr<macp::cluster::Ownership> ownership;
    std::unique_ptr<macp::service::ClusterLink> cluster_link;
    std::unique_ptr<macp::service::ClusterEvents> cluster_events;
    macp::Result<macp::kernel::RecoveryReport, std::string> recovered = macp::kernel::RecoveryReport{};
    if (cfg.cluster) {
        auto link = start_cluster(cfg, storage, kernel, ownership);
        if (!link) {
            spdlog::critical("{}", link.error());
            return 1;
        }
        cluster_link = std::move(link.value());
        // Watchers here see the other processes' sessions and signals; registries follow theirs.
        cluster_events =
            std::make_unique<macp::service::ClusterEvents>(storage, events, modes, policies, ownership->holder());
        if (auto started = cluster_events->start(); !started) {
            spdlog::critical("MACP_CLUSTER=1: {}", started.error());
            return 1;
        }
        recovered->recovered = ownership->owned_count();
    } else {
        recovered = kernel.recover();
        if (!recovered) {
            spdlog::critical("recovery failed (MACP_STRICT_RECOVERY=1): {}", recovered.error());
            return 1;
        }
    }
    // Listening before the gRPC server, so that a scraper finds it as soon as calls can be made.
    // Declared after the kernel: stopped before what its scrapes read goes away.
    std::unique_ptr<macp::service::MetricsEndpoint> metrics_endpoint;
    if (!cfg.metrics_addr.empty()) {
        macp::service::wire_metrics(metrics, kernel, events);
        if (cluster_link) macp::service::wire_cluster_metrics(metrics, *cluster_link, *cluster_events);
        auto endpoint =
            macp::service::MetricsEndpoint::start(cfg.metrics_addr, [&metrics] { return metrics.render(); });
        if (!endpoint) {
            spdlog::critical("{}", endpoint.error());
            return 1;
        }
        metrics_endpoint = std::move(endpoint.value());
        spdlog::info("metrics: Prometheus endpoint on http://{}/metrics", metrics_endpoint->address());
    }
    macp::service::ServerOptions so;
    so.bind_addr = cfg.bind_addr;
    so.tls_cert_path = cfg.tls_cert_path;
    so.tls_key_path = cfg.tls_key_path;
    so.max_payload_bytes = cfg.max_payload_bytes;
    so.version = kVersion;
    so.max_concurrent_streams = cfg.max_concurrent_streams;
    so.concurrency_limit_per_connection = cfg.concurrency_limit_per_connection;
    so.request_timeout_secs = cfg.request_timeout_secs;
    so.storage_health = &storage_health;
    so.tls_client_ca_path = cfg.tls_client_ca_path;
    so.tls_reload_secs = cfg.tls_reload_secs;
    if (!cfg.metrics_addr.empty()) so.metrics = &metrics;
    so.cluster = cluster_link.get();
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
                 cfg.bind_addr,
                 !tls ? "plaintext" : (cfg.tls_client_ca_path.empty() ? "TLS" : "TLS, client certificates required"),
                 plugins.storage->name(), auth_names, recovered->recovered);
    kernel.start_sweeper(std::chrono::seconds(cfg.cleanup_interval_secs));
    // Type=notify: systemd counts the unit as started only now (listening, recovery done).
    macp::util::sd_notify("READY=1");

    int sig = wait_for_signal();
    macp::util::sd_notify("STOPPING=1");
    spdlog::info("received {}, draining for up to {} s", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 cfg.shutdown_drain_secs);
    server.value()->drain(cfg.shutdown_drain_secs);
    kernel.shutdown();
    if (ownership) ownership->release_all();  // the other processes take the sessions over at once
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
