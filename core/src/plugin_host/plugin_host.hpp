// Finds, loads and checks plugin shared objects, and adapts their C vtables to the kernel's
// internal interfaces (storage::StorageBackend, auth::Resolver).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/identity.hpp"
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
    std::string file_name;  // "storage-file.so"
    std::filesystem::path path;
    std::string kind;  // "storage" | "auth"
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
    // search_dirs: MACP_PLUGIN_PATH entries, then the dir next to the executable
    // (<exe_dir>/../plugins and <exe_dir>/plugins for a build tree), then the installed plugin dir.
    explicit PluginHost(std::vector<std::filesystem::path> search_dirs);
    ~PluginHost();
    PluginHost(const PluginHost&) = delete;
    PluginHost& operator=(const PluginHost&) = delete;

    // Every <kind>-<name>.so in the search dirs (first dir wins per file name).
    std::vector<PluginInfo> list();

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

    // The built-in memory backend, through the very same adapter path as a plugin.
    Result<std::unique_ptr<storage::StorageBackend>, std::string> open_memory_storage();

private:
    std::vector<std::filesystem::path> search_dirs_;
};

// Directories searched by default for the running executable (see PluginHost).
std::vector<std::filesystem::path> default_search_dirs(const std::string& macp_plugin_path);

}  // namespace macp::plugin_host
