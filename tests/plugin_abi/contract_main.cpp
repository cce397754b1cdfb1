// macp-plugin-contract-test: the storage contract suite (storage_contract_test.cpp) as a program
// for plugin authors, shipped in macp-runtime-dev. It turns its command line into the environment
// the harness reads (storage_harness.hpp: MACP_CONTRACT_PLUGIN, MACP_CONTRACT_PERSISTENT,
// MACP_CONTRACT_LAYOUT, MACP_CONTRACT_CONFIG), loads the plugin once to report a bad path or a
// non-storage plugin clearly, then runs a Catch2 session with the options after "--".
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "storage_harness.hpp"

#ifndef MACP_RUNTIME_VERSION
#define MACP_RUNTIME_VERSION "unknown"
#endif

namespace {

namespace fs = std::filesystem;

// Exit codes: 0 every check passed, 1 a check failed (or no test case matched the Catch2 filter),
// 2 bad command line, plugin not loadable or not a storage plugin.
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    R"(Usage: macp-plugin-contract-test [OPTIONS] <plugin.so> [KEY=VALUE ...] [-- CATCH2-OPTIONS ...]

Runs the storage contract suite of macp-runtime against one storage plugin, through the C ABI
only: every storage plugin must pass it before the runtime can rely on it.

  <plugin.so>      path of the plugin, storage-<name>.so ("memory": the runtime's built-in
                   in-memory backend, the reference)
  KEY=VALUE        configuration passed to the plugin's create(), e.g. MACP_REDIS_URL=redis://h:6379/0;
                   MACP_DATA_DIR is always a fresh temporary directory per test and cannot be set
                   (values cannot contain ';')

Options:
  --persistent     data must survive destroy + create on the same configuration (the default:
                   the runtime acknowledges a message only once its storage holds it durably)
  --no-persistent  the backend keeps nothing across instances: skip the persistence checks
  --file-layout    also run the checks that know storage-file's on-disk layout
  -h, --help       this text; "-- --help" lists the Catch2 options
  --version        the macp-runtime version the suite comes from

After "--", Catch2 options: a test name or tag filter ("[persistent]", "~[threads]"), -s (show
passing checks), -r junit -o report.xml, --list-tests, ...

Exit status: 0 every check passed, 1 a check failed, 2 bad arguments or the plugin could not be
loaded as a storage plugin.
)";

int usage_error(const std::string& message) {
    std::cerr << "macp-plugin-contract-test: " << message << "\n\n" << kUsage;
    return kExitUsage;
}

void set_env(const char* name, const std::string& value) {
    if (::setenv(name, value.c_str(), 1) != 0) {
        std::perror("setenv");
        std::exit(kExitUsage);
    }
}

struct Options {
    std::string plugin;
    bool persistent = true;
    bool file_layout = false;
    std::vector<std::string> config;           // KEY=VALUE
    std::vector<std::string> catch_arguments;  // after "--"
};

bool valid_key(std::string_view key) {
    if (key.empty()) return false;
    for (const char c : key) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) return false;
    }
    return true;
}

// Returns an error message, empty on success.
std::string parse(int argc, char** argv, Options& o, bool& help, bool& version) {
    bool plugin_seen = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--") {
            for (++i; i < argc; ++i) o.catch_arguments.emplace_back(argv[i]);
            break;
        }
        if (a == "-h" || a == "--help") {
            help = true;
        } else if (a == "--version") {
            version = true;
        } else if (a == "--persistent") {
            o.persistent = true;
        } else if (a == "--no-persistent") {
            o.persistent = false;
        } else if (a == "--file-layout") {
            o.file_layout = true;
        } else if (!a.empty() && a.front() == '-') {
            return "unknown option '" + std::string(a) + "' (Catch2 options go after \"--\")";
        } else if (!plugin_seen) {
            o.plugin = std::string(a);
            plugin_seen = true;
        } else {
            const auto eq = a.find('=');
            if (eq == std::string_view::npos) {
                return "'" + std::string(a) + "' is not KEY=VALUE (only one plugin per run)";
            }
            const std::string_view key = a.substr(0, eq);
            if (!valid_key(key)) return "'" + std::string(a) + "': the key must be letters, digits and '_'";
            if (key == "MACP_DATA_DIR") {
                return "MACP_DATA_DIR cannot be set: every test creates its own temporary data directory";
            }
            if (a.find(';') != std::string_view::npos) return "'" + std::string(a) + "': values cannot contain ';'";
            o.config.emplace_back(a);
        }
    }
    if (!plugin_seen && !help && !version) return "no plugin given";
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    bool help = false;
    bool version = false;
    if (const std::string error = parse(argc, argv, o, help, version); !error.empty()) {
        return usage_error(error);
    }
    if (help) {
        std::cout << kUsage;
        return 0;
    }
    if (version) {
        std::cout << "macp-plugin-contract-test " MACP_RUNTIME_VERSION " (plugin ABI " << MACP_PLUGIN_ABI_MAJOR << '.'
                  << MACP_PLUGIN_ABI_MINOR << ")\n";
        return 0;
    }

    std::string plugin = o.plugin;
    if (plugin != "memory") {
        std::error_code ec;
        if (!fs::is_regular_file(plugin, ec)) return usage_error("no such plugin file: " + plugin);
        // dlopen() searches the library path for a name without '/': always pass a path.
        plugin = fs::absolute(plugin, ec).lexically_normal().string();
    }
    std::string config;
    for (const auto& pair : o.config) config += (config.empty() ? "" : ";") + pair;
    set_env("MACP_CONTRACT_PLUGIN", plugin);
    set_env("MACP_CONTRACT_PERSISTENT", o.persistent ? "1" : "0");
    set_env("MACP_CONTRACT_LAYOUT", o.file_layout ? "file" : "");
    set_env("MACP_CONTRACT_CONFIG", config);

    // Load it now, so a bad file is one clear line instead of every test case failing.
    try {
        const macp::contract::Target& t = macp::contract::target();
        const macp_plugin_descriptor* d = t.descriptor;
        if (d->struct_size < offsetof(macp_plugin_descriptor, kind) + sizeof(d->kind)) {
            std::cerr << "macp-plugin-contract-test: " << plugin << ": descriptor too small (struct_size "
                      << d->struct_size << ")\n";
            return kExitUsage;
        }
        if (d->kind != MACP_PLUGIN_KIND_STORAGE) {
            std::cerr << "macp-plugin-contract-test: " << plugin << " is "
                      << (d->kind == MACP_PLUGIN_KIND_AUTH ? std::string("an auth plugin")
                                                           : "of unknown kind " + std::to_string(d->kind))
                      << "; the contract suite checks storage plugins\n";
            return kExitUsage;
        }
        std::cout << "storage contract suite of macp-runtime " MACP_RUNTIME_VERSION " on " << plugin;
        if (d->struct_size >= offsetof(macp_plugin_descriptor, version) + sizeof(d->version) && d->name != nullptr) {
            std::cout << " (" << d->name << ' ' << (d->version != nullptr ? d->version : "?") << ", ABI "
                      << d->abi_major << '.' << d->abi_minor << ')';
        }
        std::cout << "\n  persistent: " << (o.persistent ? "yes" : "no")
                  << ", file layout checks: " << (o.file_layout ? "yes" : "no");
        for (const auto& pair : o.config) std::cout << ", " << pair;
        std::cout << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "macp-plugin-contract-test: cannot load " << plugin << ": " << e.what() << '\n';
        return kExitUsage;
    }

    std::vector<const char*> catch_argv{argv[0]};
    for (const auto& a : o.catch_arguments) catch_argv.push_back(a.c_str());
    Catch::Session session;
    if (session.applyCommandLine(static_cast<int>(catch_argv.size()), catch_argv.data()) != 0) {
        return kExitUsage;
    }
    Catch::ConfigData& cfg = session.configData();
    if (cfg.showHelp || cfg.libIdentify) return 0;
    const bool listing = cfg.listTests || cfg.listTestNamesOnly || cfg.listTags || cfg.listReporters;
    // A filter that matches nothing is a mistake, not a pass.
    cfg.warnings = static_cast<Catch::WarnAbout::What>(cfg.warnings | Catch::WarnAbout::NoTests);
    const int result = session.run();
    if (listing) return 0;  // Catch2 2.x returns the number of items listed
    return result == 0 ? 0 : kExitFailed;
}
