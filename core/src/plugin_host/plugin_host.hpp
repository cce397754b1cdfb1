// Finds, loads and checks plugin shared objects, and adapts their C vtables to the kernel's
// internal interfaces (storage::StorageBackend, auth::Resolver).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/identity.hpp"
#include "plugin_host/discovery.hpp"
#include "storage/storage_backend.hpp"
#include "util/result.hpp"

struct macp_plugin_descriptor;

namespace macp::plugin_host {

struct ConfigKeyInfo {
    std::string env_name;
    std::string default_value;  // empty when none
    bool has_default = false;
    std::string help;
    bool required = false;
    bool secret = false;
    bool path = false;
};

// What --list-plugins shows; read from the descriptor without creating an instance.
struct PluginInfo {
    std::string file_name;       // "storage-file.so"
    std::filesystem::path path;  // empty for the built-in memory backend
    std::string kind;            // "storage" | "auth"
    std::string name;
    std::string version;
    std::string description;
    uint16_t abi_major = 0;
    uint16_t abi_minor = 0;
    bool thread_safe = false;
    std::vector<ConfigKeyInfo> config_keys;
    std::string load_error;  // non-empty when the file is not loadable; the fields above may be empty
};

class LoadedPlugin;  // a library kept open for as long as anything it created is alive

class PluginHost {
public:
    // search_dirs: in order, the first dir holding a plugin's file wins (see plugin_search_path).
    explicit PluginHost(std::vector<std::filesystem::path> search_dirs);
    ~PluginHost();
    PluginHost(const PluginHost&) = delete;
    PluginHost& operator=(const PluginHost&) = delete;

    [[nodiscard]] const std::vector<std::filesystem::path>& search_dirs() const { return search_dirs_; }

    // Every <kind>-*.so in the search dirs (first dir wins per file name); read once, then kept.
    const std::vector<PluginInfo>& list();

    // Locates, loads and checks "<kind>-<name>" (e.g. "auth-good") without creating an instance,
    // for its declared keys. The library stays loaded for a later open_*; errors as for open_*.
    Result<PluginInfo, std::string> describe(const std::string& plugin);

    // Loads "<kind>-<name>" (e.g. "storage-file") and creates one instance configured from
    // `settings` (env-name -> value). Errors are complete, user-facing sentences: the plugin file
    // missing (naming the Debian package macp-runtime-<kind>-<name> to install and the searched
    // dirs), dlopen failure (with dlerror text), missing entry symbol, ABI major mismatch, minor
    // too new, wrong kind, NULL required op, struct too small, missing REQUIRED keys (all listed),
    // create() failure (with the plugin's message).
    Result<std::unique_ptr<storage::StorageBackend>, std::string> open_storage(
        const std::string& plugin, const std::map<std::string, std::string>& settings);
    Result<std::unique_ptr<auth::Resolver>, std::string> open_auth(const std::string& plugin,
                                                                   const std::map<std::string, std::string>& settings);

    // --check-config: loads and checks "<kind>-<name>", resolves its keys from `settings` and asks
    // the plugin to validate them (check_config) without creating an instance, so nothing is
    // created on disk or elsewhere. Ok(note) says what was checked; errors as for open_*.
    Result<std::string, std::string> check_config(const std::string& plugin, const std::string& kind,
                                                  const std::map<std::string, std::string>& settings);

    // The built-in memory backend, through the very same adapter path as a plugin.
    Result<std::unique_ptr<storage::StorageBackend>, std::string> open_memory_storage();

    // Every plugin an open_* call instantiated, in order (kind, name, version, path).
    [[nodiscard]] const std::vector<PluginInfo>& opened() const { return opened_; }

private:
    Result<std::shared_ptr<LoadedPlugin>, std::string> load(const std::string& plugin_id);

    std::vector<std::filesystem::path> search_dirs_;
    std::map<std::string, std::shared_ptr<LoadedPlugin>> loaded_;  // by plugin id, checked
    std::optional<std::vector<PluginInfo>> listed_;
    std::vector<PluginInfo> opened_;
};

// The search path of the running executable (plugin_search_path for /proc/self/exe), with the
// reason each dir is there, and the same as plain paths.
std::vector<SearchDir> default_search_path(const std::string& macp_plugin_path);
std::vector<std::filesystem::path> default_search_dirs(const std::string& macp_plugin_path);

}  // namespace macp::plugin_host
