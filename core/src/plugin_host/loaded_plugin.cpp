#include "plugin_host/loaded_plugin.hpp"

#include <algorithm>
#include <initializer_list>
#include <string_view>
#include <system_error>
#include <utility>

#include "macp/plugin/auth.h"
#include "macp/plugin/storage.h"
#include "plugin_host/discovery.hpp"

namespace macp::plugin_host {
namespace {

// Smallest vtables accepted: everything up to the last REQUIRED operation. Optional operations
// beyond a plugin's struct_size are treated as absent (see copy_vtable).
constexpr std::size_t kStorageVTableMinSize = offsetof(macp_storage_vtable, list_records) + sizeof(void*);
constexpr std::size_t kAuthVTableMinSize = offsetof(macp_auth_vtable, resolve) + sizeof(void*);
// Far more keys than any real plugin declares; guards against reading a garbage count.
constexpr std::size_t kMaxConfigKeys = 1024;

// Boost.DLL reports "...load() failed (dlerror system message: <text>): Bad file descriptor";
// users need only <text>, which already names the file and the reason.
std::string dlerror_text(const std::string& what) {
    static const std::string marker = "(dlerror system message: ";
    const auto begin = what.find(marker);
    if (begin == std::string::npos) return what;
    const auto start = begin + marker.size();
    const auto end = what.rfind("):");
    if (end == std::string::npos || end < start) return what.substr(start);
    return what.substr(start, end - start);
}

std::string safe_string(const char* s) {
    return s != nullptr ? std::string(s) : std::string();
}

std::optional<std::string> check_required(const std::string& label,
                                          std::initializer_list<std::pair<const char*, bool>> ops) {
    for (const auto& [op, present] : ops) {
        if (!present) {
            return label + " does not implement the required operation " + op + " (its vtable entry is NULL)";
        }
    }
    return std::nullopt;
}

std::optional<std::string> check_storage_vtable(const std::string& label, const void* vtable) {
    const auto* raw = static_cast<const macp_storage_vtable*>(vtable);
    if (raw->struct_size < kStorageVTableMinSize) {
        return label + " has a storage vtable of " + std::to_string(raw->struct_size) +
               " bytes, smaller than the plugin ABI 1.0 minimum of " + std::to_string(kStorageVTableMinSize) + " bytes";
    }
    const auto vt = copy_vtable<macp_storage_vtable>(vtable);
    // Leases (ABI 1.2) come as a pair: a holder that can acquire but never release (or the reverse)
    // would leave the host unable to keep storage.h's promise, so such a plugin is refused here.
    if ((vt.acquire_lease == nullptr) != (vt.release_lease == nullptr)) {
        return label + " implements only one of acquire_lease and release_lease (plugin ABI 1.2 needs both or neither)";
    }
    if (vt.renew_leases != nullptr && vt.acquire_lease == nullptr) {
        return label + " implements renew_leases without acquire_lease and release_lease (plugin ABI 1.2)";
    }
    const int event_ops =
        (vt.publish_events != nullptr) + (vt.subscribe_events != nullptr) + (vt.unsubscribe_events != nullptr);
    if (event_ops != 0 && event_ops != 3) {
        return label +
               " implements only some of publish_events, subscribe_events and unsubscribe_events (plugin ABI 1.2 "
               "needs all three or none)";
    }
    return check_required(label, {{"create", vt.create != nullptr},
                                  {"destroy", vt.destroy != nullptr},
                                  {"create_session_storage", vt.create_session_storage != nullptr},
                                  {"save_session", vt.save_session != nullptr},
                                  {"load_session", vt.load_session != nullptr},
                                  {"delete_session", vt.delete_session != nullptr},
                                  {"list_session_ids", vt.list_session_ids != nullptr},
                                  {"append_log_entry", vt.append_log_entry != nullptr},
                                  {"load_log", vt.load_log != nullptr},
                                  {"put_record", vt.put_record != nullptr},
                                  {"delete_record", vt.delete_record != nullptr},
                                  {"list_records", vt.list_records != nullptr}});
}

std::optional<std::string> check_auth_vtable(const std::string& label, const void* vtable) {
    const auto* raw = static_cast<const macp_auth_vtable*>(vtable);
    if (raw->struct_size < kAuthVTableMinSize) {
        return label + " has an auth vtable of " + std::to_string(raw->struct_size) +
               " bytes, smaller than the plugin ABI 1.0 minimum of " + std::to_string(kAuthVTableMinSize) + " bytes";
    }
    const auto vt = copy_vtable<macp_auth_vtable>(vtable);
    return check_required(
        label,
        {{"create", vt.create != nullptr}, {"destroy", vt.destroy != nullptr}, {"resolve", vt.resolve != nullptr}});
}

std::optional<std::string> check_config_keys(const std::string& label, const macp_plugin_descriptor& d) {
    if (d.config_key_count == 0) return std::nullopt;
    if (d.config_keys == nullptr) {
        return label + " declares " + std::to_string(d.config_key_count) +
               " configuration keys but its config_keys table is NULL";
    }
    if (d.config_key_count > kMaxConfigKeys) {
        return label + " declares an implausible number of configuration keys (" + std::to_string(d.config_key_count) +
               ")";
    }
    const uint32_t stride = d.config_keys[0].struct_size;
    for (std::size_t i = 0; i < d.config_key_count; ++i) {
        const macp_config_key& k = config_key_at(d, i);
        if (k.struct_size < kConfigKeyV1Size) {
            return label + ": configuration key #" + std::to_string(i) + " has struct_size " +
                   std::to_string(k.struct_size) + ", smaller than the plugin ABI 1.0 size of " +
                   std::to_string(kConfigKeyV1Size) + " bytes";
        }
        if (k.struct_size != stride) {
            return label + ": configuration key #" + std::to_string(i) + " has struct_size " +
                   std::to_string(k.struct_size) + " but key #0 has " + std::to_string(stride) +
                   "; every key of the table must have the same struct_size";
        }
        if (k.env_name == nullptr || !valid_env_name(k.env_name)) {
            return label + ": configuration key #" + std::to_string(i) + " has the env_name \"" +
                   safe_string(k.env_name) +
                   "\"; it must be MACP_ followed by upper-case letters, digits and '_' (e.g. MACP_SQLITE_PATH)";
        }
    }
    return std::nullopt;
}

}  // namespace

bool valid_env_name(std::string_view name) {
    constexpr std::string_view prefix = "MACP_";
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

LoadedPlugin::LoadedPlugin(boost::dll::shared_library library, const macp_plugin_descriptor* descriptor,
                           std::filesystem::path path)
    : library_(std::move(library)),
      descriptor_(descriptor),
      path_(std::move(path)),
      label_("plugin " + path_.string()) {}

LoadedPlugin::LoadedPlugin(const macp_plugin_descriptor* descriptor, std::string builtin_label)
    : descriptor_(descriptor), label_(std::move(builtin_label)) {}

std::string LoadedPlugin::name() const {
    return safe_string(descriptor_->name);
}

std::string kind_name(uint32_t kind) {
    switch (kind) {
        case MACP_PLUGIN_KIND_STORAGE: return "storage";
        case MACP_PLUGIN_KIND_AUTH: return "auth";
        default: return "unknown kind " + std::to_string(kind);
    }
}

Result<std::shared_ptr<LoadedPlugin>, std::string> open_plugin_file(const std::filesystem::path& path) {
    namespace dll = boost::dll;
    dll::shared_library library;
    try {
        // The throwing constructor is the one that keeps dlerror()'s text (see DESIGN.md traps).
        // rtld_now: unresolved symbols fail here, not at the first call mid-request;
        // rtld_local: plugins cannot interpose on each other's symbols.
        library = dll::shared_library(path, dll::load_mode::rtld_now | dll::load_mode::rtld_local);
    } catch (const std::system_error& e) {
        return fail("cannot load plugin " + path.string() + ": " + dlerror_text(e.what()));
    } catch (const std::exception& e) {
        return fail("cannot load plugin " + path.string() + ": " + std::string(e.what()));
    }
    if (!library.has(MACP_PLUGIN_ENTRY_SYMBOL)) {
        return fail(path.string() + " is not a macp-runtime plugin for ABI 1.x: it does not export " +
                    MACP_PLUGIN_ENTRY_SYMBOL);
    }
    // The entry is a plain C function; we call it directly (no Boost.DLL import/alias: those move
    // C++ types across the boundary and changed after 1.74).
    auto& entry = library.get<const macp_plugin_descriptor*()>(MACP_PLUGIN_ENTRY_SYMBOL);
    const macp_plugin_descriptor* descriptor = entry();
    if (descriptor == nullptr) {
        return fail("plugin " + path.string() + ": " + MACP_PLUGIN_ENTRY_SYMBOL +
                    "() returned NULL instead of a descriptor");
    }
    return std::make_shared<LoadedPlugin>(std::move(library), descriptor, path);
}

std::optional<std::string> check_descriptor(const LoadedPlugin& plugin, uint32_t expected_kind,
                                            const std::optional<std::string>& expected_name) {
    const macp_plugin_descriptor& d = plugin.descriptor();
    const std::string& label = plugin.label();
    const std::string host_major = std::to_string(MACP_PLUGIN_ABI_MAJOR);
    const std::string host_minor = std::to_string(MACP_PLUGIN_ABI_MINOR);

    // struct_size, abi_major and abi_minor are the first 8 bytes of every major's descriptor;
    // check the major before the size so a 2.x plugin gets the helpful message.
    constexpr std::size_t kVersionPrefix = offsetof(macp_plugin_descriptor, abi_minor) + sizeof(uint16_t);
    if (d.struct_size >= kVersionPrefix) {
        if (d.abi_major != MACP_PLUGIN_ABI_MAJOR) {
            return label + " was built for plugin ABI " + std::to_string(d.abi_major) + ".x, this runtime speaks " +
                   host_major + ".x; install a version of the plugin " + "built for plugin ABI " + host_major + ".x";
        }
        if (d.abi_minor > MACP_PLUGIN_ABI_MINOR) {
            return label + " needs ABI " + host_major + "." + std::to_string(d.abi_minor) + ", this runtime provides " +
                   host_major + "." + host_minor + "; upgrade macp-runtime";
        }
    }
    if (d.struct_size < kDescriptorV1Size) {
        return label + " has a descriptor of " + std::to_string(d.struct_size) +
               " bytes, smaller than the plugin ABI 1.0 descriptor (" + std::to_string(kDescriptorV1Size) + " bytes)";
    }
    if (d.kind != expected_kind) {
        const std::string article = d.kind == MACP_PLUGIN_KIND_AUTH ? "an " : "a ";
        const std::string expected_article = expected_kind == MACP_PLUGIN_KIND_AUTH ? "an " : "a ";
        if (d.kind == MACP_PLUGIN_KIND_STORAGE || d.kind == MACP_PLUGIN_KIND_AUTH) {
            return label + " is " + article + kind_name(d.kind) + " plugin, expected " + expected_article +
                   kind_name(expected_kind) + " plugin";
        }
        return label + " has " + kind_name(d.kind) + ", expected " + expected_article + kind_name(expected_kind) +
               " plugin";
    }
    if (d.vtable == nullptr) return label + " has no vtable (its descriptor's vtable is NULL)";
    if (auto err = expected_kind == MACP_PLUGIN_KIND_STORAGE ? check_storage_vtable(label, d.vtable)
                                                             : check_auth_vtable(label, d.vtable)) {
        return err;
    }
    if (auto err = check_config_keys(label, d)) return err;
    if (d.name == nullptr || *d.name == '\0') return label + " has no name in its descriptor";
    if (!is_valid_plugin_name(d.name)) {  // abi.h: the descriptor's name follows the file-name rule
        return label + " has the name \"" + std::string(d.name) + "\"; " + std::string(kPluginNameSyntax);
    }
    if (expected_name && *expected_name != d.name) {
        return label + " calls itself \"" + d.name + "\" but the file name says \"" + *expected_name +
               "\"; rename it to " + kind_name(expected_kind) + "-" + d.name + ".so";
    }
    return std::nullopt;
}

void describe(const macp_plugin_descriptor& d, PluginInfo& info) {
    constexpr std::size_t kVersionPrefix = offsetof(macp_plugin_descriptor, abi_minor) + sizeof(uint16_t);
    if (d.struct_size < kVersionPrefix) return;
    info.abi_major = d.abi_major;
    info.abi_minor = d.abi_minor;
    // Another major may lay out the rest differently; a too-small 1.x descriptor ends early.
    if (d.abi_major != MACP_PLUGIN_ABI_MAJOR || d.struct_size < kDescriptorV1Size) return;
    info.name = safe_string(d.name);
    info.version = safe_string(d.version);
    info.description = safe_string(d.description);
    info.thread_safe = (d.flags & MACP_PLUGIN_FLAG_THREAD_SAFE) != 0;
    if (d.config_keys == nullptr || d.config_key_count == 0 || d.config_key_count > kMaxConfigKeys) return;
    if (d.config_keys[0].struct_size < kConfigKeyV1Size) return;
    for (std::size_t i = 0; i < d.config_key_count; ++i) {
        const macp_config_key& k = config_key_at(d, i);
        if (k.struct_size < kConfigKeyV1Size || k.env_name == nullptr) continue;
        ConfigKeyInfo key;
        key.env_name = k.env_name;
        key.has_default = k.default_value != nullptr;
        key.default_value = safe_string(k.default_value);
        key.help = safe_string(k.help);
        key.required = (k.flags & MACP_CONFIG_REQUIRED) != 0;
        key.secret = (k.flags & MACP_CONFIG_SECRET) != 0;
        key.path = (k.flags & MACP_CONFIG_PATH) != 0;
        info.config_keys.push_back(std::move(key));
    }
}

}  // namespace macp::plugin_host
