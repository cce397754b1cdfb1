#include "plugin_host/plugin_host.hpp"

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

// The load sequence shared by both kinds: locate, dlopen, check, resolve config.
struct Prepared {
    std::shared_ptr<LoadedPlugin> plugin;
    ConfigPairs config;
};

Result<Prepared, std::string> prepare(const std::vector<std::filesystem::path>& dirs, const std::string& plugin_id,
                                      const std::string& kind, uint32_t kind_code,
                                      const std::map<std::string, std::string>& settings) {
    if (auto err = check_plugin_id(plugin_id, kind)) return fail(std::move(*err));
    const std::string file_name = plugin_id + ".so";
    const auto path = locate_plugin(dirs, file_name);
    if (!path) return fail(plugin_not_found_message(plugin_id, dirs));
    auto plugin = open_plugin_file(*path);
    if (!plugin) return fail(std::move(plugin.error()));
    const auto parsed = parse_plugin_file_name(file_name);  // valid: check_plugin_id passed
    if (auto err = check_descriptor(**plugin, kind_code, parsed->name)) return fail(std::move(*err));
    auto config = resolve_config(**plugin, settings);
    if (!config) return fail(std::move(config.error()));
    return Prepared{std::move(plugin.value()), std::move(config.value())};
}

PluginInfo inspect(const std::filesystem::path& path) {
    PluginInfo info;
    info.file_name = path.filename().string();
    info.path = path;
    try {
        const auto parsed = parse_plugin_file_name(info.file_name);
        info.kind = parsed ? parsed->kind : std::string();
        auto plugin = open_plugin_file(path);
        if (!plugin) {
            info.load_error = std::move(plugin.error());
            return info;
        }
        describe((*plugin)->descriptor(), info);
        const uint32_t kind_code = info.kind == "auth" ? MACP_PLUGIN_KIND_AUTH : MACP_PLUGIN_KIND_STORAGE;
        const std::optional<std::string> name = parsed ? std::optional<std::string>(parsed->name) : std::nullopt;
        if (auto err = check_descriptor(**plugin, kind_code, name)) info.load_error = std::move(*err);
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

std::vector<PluginInfo> PluginHost::list() {
    std::vector<PluginInfo> out;
    try {
        for (const auto& path : scan_plugin_dirs(search_dirs_)) out.push_back(inspect(path));
    } catch (...) {
        // Listing is diagnostic output; a failure (out of memory) yields what was gathered.
    }
    return out;
}

Result<std::unique_ptr<storage::StorageBackend>, std::string> PluginHost::open_storage(
    const std::string& plugin, const std::map<std::string, std::string>& settings) {
    try {
        auto prepared = prepare(search_dirs_, plugin, "storage", MACP_PLUGIN_KIND_STORAGE, settings);
        if (!prepared) return fail(std::move(prepared.error()));
        auto adapter = StorageAdapter::create(std::move(prepared->plugin), prepared->config);
        if (!adapter) return fail(std::move(adapter.error()));
        return std::unique_ptr<storage::StorageBackend>(std::move(adapter.value()));
    } catch (const std::exception& e) {
        return fail("cannot open storage plugin " + plugin + ": " + e.what());
    }
}

Result<std::unique_ptr<auth::Resolver>, std::string> PluginHost::open_auth(
    const std::string& plugin, const std::map<std::string, std::string>& settings) {
    try {
        auto prepared = prepare(search_dirs_, plugin, "auth", MACP_PLUGIN_KIND_AUTH, settings);
        if (!prepared) return fail(std::move(prepared.error()));
        auto adapter = AuthAdapter::create(std::move(prepared->plugin), prepared->config);
        if (!adapter) return fail(std::move(adapter.error()));
        return std::unique_ptr<auth::Resolver>(std::move(adapter.value()));
    } catch (const std::exception& e) {
        return fail("cannot open auth plugin " + plugin + ": " + e.what());
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
        auto adapter = StorageAdapter::create(std::move(plugin), config.value());
        if (!adapter) return fail(std::move(adapter.error()));
        return std::unique_ptr<storage::StorageBackend>(std::move(adapter.value()));
    } catch (const std::exception& e) {
        return fail("cannot open the built-in memory storage: " + std::string(e.what()));
    }
}

}  // namespace macp::plugin_host
