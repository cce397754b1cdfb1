#include "plugin_host/plugin_host.hpp"

#include "plugin_host/config_check.hpp"

#include <exception>
#include <utility>

#include "macp/plugin/abi.h"
#include "plugin_host/auth_adapter.hpp"
#include "plugin_host/discovery.hpp"
#include "plugin_host/loaded_plugin.hpp"
#include "plugin_host/plugin_config.hpp"
#include "plugin_host/storage_adapter.hpp"
#include "storage/memory_storage.hpp"

namespace macp::plugin_host {
namespace {

uint32_t kind_code(const std::string& kind) {
    return kind == "auth" ? MACP_PLUGIN_KIND_AUTH : MACP_PLUGIN_KIND_STORAGE;
}

// What the descriptor of a loaded (checked) plugin says, for describe() and opened().
PluginInfo info_of(const LoadedPlugin& plugin) {
    PluginInfo info;
    info.path = plugin.path();
    info.file_name = info.path.filename().string();
    info.kind = kind_name(plugin.descriptor().kind);
    describe(plugin.descriptor(), info);
    return info;
}

PluginInfo inspect(const std::filesystem::path& path) {
    PluginInfo info;
    info.file_name = path.filename().string();
    info.path = path;
    try {
        const auto parsed = parse_plugin_file_name(info.file_name);
        info.kind = plugin_file_kind(info.file_name).value_or("");
        if (!parsed) {
            // Never loaded, so never opened here either: its code does not run.
            info.load_error = "never loaded: the file name is not " + info.kind + "-<name>.so with a valid name; " +
                              std::string(kPluginNameSyntax);
            return info;
        }
        auto plugin = open_plugin_file(path);
        if (!plugin) {
            info.load_error = std::move(plugin.error());
            return info;
        }
        describe((*plugin)->descriptor(), info);
        if (auto err = check_descriptor(**plugin, kind_code(info.kind), parsed->name))
            info.load_error = std::move(*err);
    } catch (const std::exception& e) {
        info.load_error = "cannot inspect " + path.string() + ": " + e.what();
    } catch (...) {
        info.load_error = "cannot inspect " + path.string() + ": unknown error";
    }
    return info;  // the library is closed here: nothing it created is alive
}

}  // namespace

PluginHost::PluginHost(std::vector<std::filesystem::path> search_dirs) : search_dirs_(std::move(search_dirs)) {}

PluginHost::~PluginHost() = default;

const std::vector<PluginInfo>& PluginHost::list() {
    if (listed_) return *listed_;
    listed_.emplace();
    try {
        for (const auto& path : scan_plugin_dirs(search_dirs_)) listed_->push_back(inspect(path));
    } catch (...) {
        // Listing is diagnostic output; a failure (out of memory) yields what was gathered.
    }
    return *listed_;
}

// The load sequence shared by both kinds: check the id, locate, dlopen, check the descriptor.
// A plugin loaded once (by describe) is reused, so its library is opened only once.
Result<std::shared_ptr<LoadedPlugin>, std::string> PluginHost::load(const std::string& plugin_id) {
    if (auto it = loaded_.find(plugin_id); it != loaded_.end()) return it->second;
    const std::string kind = plugin_id.starts_with("auth-") ? "auth" : "storage";
    if (auto err = check_plugin_id(plugin_id, kind)) return fail(std::move(*err));
    const std::string file_name = plugin_id + ".so";
    const auto path = locate_plugin(search_dirs_, file_name);
    if (!path) return fail(plugin_not_found_message(plugin_id, search_dirs_));
    auto plugin = open_plugin_file(*path);
    if (!plugin) return fail(std::move(plugin.error()));
    const auto parsed = parse_plugin_file_name(file_name);  // valid: check_plugin_id passed
    if (auto err = check_descriptor(**plugin, kind_code(kind), parsed->name)) return fail(std::move(*err));
    loaded_.emplace(plugin_id, plugin.value());
    return std::move(plugin.value());
}

Result<PluginInfo, std::string> PluginHost::describe(const std::string& plugin) {
    try {
        auto loaded = load(plugin);
        if (!loaded) return fail(std::move(loaded.error()));
        return info_of(**loaded);
    } catch (const std::exception& e) {
        return fail("cannot load plugin " + plugin + ": " + e.what());
    }
}

Result<std::unique_ptr<storage::StorageBackend>, std::string> PluginHost::open_storage(
    const std::string& plugin, const std::map<std::string, std::string>& settings) {
    try {
        if (auto err = check_plugin_id(plugin, "storage")) return fail(std::move(*err));
        auto loaded = load(plugin);
        if (!loaded) return fail(std::move(loaded.error()));
        auto config = resolve_config(**loaded, settings);
        if (!config) return fail(std::move(config.error()));
        auto info = info_of(**loaded);
        auto adapter = StorageAdapter::create(std::move(loaded.value()), config.value());
        if (!adapter) return fail(std::move(adapter.error()));
        opened_.push_back(std::move(info));
        return std::unique_ptr<storage::StorageBackend>(std::move(adapter.value()));
    } catch (const std::exception& e) {
        return fail("cannot open storage plugin " + plugin + ": " + e.what());
    }
}

Result<std::unique_ptr<auth::Resolver>, std::string> PluginHost::open_auth(
    const std::string& plugin, const std::map<std::string, std::string>& settings) {
    try {
        if (auto err = check_plugin_id(plugin, "auth")) return fail(std::move(*err));
        auto loaded = load(plugin);
        if (!loaded) return fail(std::move(loaded.error()));
        auto config = resolve_config(**loaded, settings);
        if (!config) return fail(std::move(config.error()));
        auto info = info_of(**loaded);
        auto adapter = AuthAdapter::create(std::move(loaded.value()), config.value());
        if (!adapter) return fail(std::move(adapter.error()));
        opened_.push_back(std::move(info));
        return std::unique_ptr<auth::Resolver>(std::move(adapter.value()));
    } catch (const std::exception& e) {
        return fail("cannot open auth plugin " + plugin + ": " + e.what());
    }
}

Result<std::string, std::string> PluginHost::check_config(const std::string& plugin, const std::string& kind,
                                                          const std::map<std::string, std::string>& settings) {
    try {
        if (auto err = check_plugin_id(plugin, kind)) return fail(std::move(*err));
        auto loaded = load(plugin);
        if (!loaded) return fail(std::move(loaded.error()));
        auto config = resolve_config(**loaded, settings);
        if (!config) return fail(std::move(config.error()));
        return check_plugin_config(**loaded, kind == "storage" ? MACP_PLUGIN_KIND_STORAGE : MACP_PLUGIN_KIND_AUTH,
                                   config.value());
    } catch (const std::exception& e) {
        return fail("cannot check " + kind + " plugin " + plugin + ": " + e.what());
    }
}

Result<std::unique_ptr<storage::StorageBackend>, std::string> PluginHost::open_memory_storage() {
    try {
        const macp_plugin_descriptor* descriptor = storage::memory_plugin_descriptor();
        if (descriptor == nullptr) return fail(std::string("built-in memory storage has no descriptor"));
        // Same checks and adapter as a shared object, so the memory backend exercises (and is
        // held to) exactly the path every plugin takes.
        auto plugin = std::make_shared<LoadedPlugin>(descriptor, "built-in memory storage");
        if (auto err = check_descriptor(*plugin, MACP_PLUGIN_KIND_STORAGE, std::nullopt)) {
            return fail(std::move(*err));
        }
        auto config = resolve_config(*plugin, {});
        if (!config) return fail(std::move(config.error()));
        auto info = info_of(*plugin);
        // Its calls are a map lookup under a mutex and never block: they run on the caller's
        // thread (ExecutorOptions), and the kernel then skips the group committer (issue #13).
        auto adapter = StorageAdapter::create(std::move(plugin), config.value(), ExecutorOptions{.threads = 0});
        if (!adapter) return fail(std::move(adapter.error()));
        opened_.push_back(std::move(info));
        return std::unique_ptr<storage::StorageBackend>(std::move(adapter.value()));
    } catch (const std::exception& e) {
        return fail("cannot open the built-in memory storage: " + std::string(e.what()));
    }
}

}  // namespace macp::plugin_host
