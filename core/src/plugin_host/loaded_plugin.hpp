// Opening a plugin shared object and checking its descriptor against the ABI this host speaks.
// Every failure is one complete, user-facing sentence naming the file.
#pragma once

#ifndef BOOST_DLL_USE_STD_FS
#define BOOST_DLL_USE_STD_FS  // std::filesystem paths; no Boost.Filesystem to link
#endif
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "macp/plugin/abi.h"
#include "plugin_host/plugin_host.hpp"
#include "util/result.hpp"

namespace macp::plugin_host {

// A plugin's descriptor plus the library that owns it. Shared (shared_ptr) by everything created
// from the plugin, so the library is unloaded only after the last instance has been destroyed:
// the descriptor, vtable and code all live inside the library.
class LoadedPlugin {
public:
    // A plugin read from a shared object.
    LoadedPlugin(boost::dll::shared_library library, const macp_plugin_descriptor* descriptor,
                 std::filesystem::path path);
    // A plugin compiled into the runtime (the memory backend): same checks, no library.
    LoadedPlugin(const macp_plugin_descriptor* descriptor, std::string builtin_label);
    LoadedPlugin(const LoadedPlugin&) = delete;
    LoadedPlugin& operator=(const LoadedPlugin&) = delete;

    [[nodiscard]] const macp_plugin_descriptor& descriptor() const { return *descriptor_; }
    // Empty for a built-in plugin.
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    // How messages refer to it: "plugin /usr/lib/.../storage-file.so" or "built-in memory storage".
    [[nodiscard]] const std::string& label() const { return label_; }
    // The descriptor's name (valid after check_descriptor succeeded).
    [[nodiscard]] std::string name() const;
    [[nodiscard]] bool thread_safe() const { return (descriptor_->flags & MACP_PLUGIN_FLAG_THREAD_SAFE) != 0; }

private:
    boost::dll::shared_library library_;  // empty (not loaded) for built-in plugins
    const macp_plugin_descriptor* descriptor_;
    std::filesystem::path path_;
    std::string label_;
};

// "MACP_" followed by upper-case letters, digits and '_'.
bool valid_env_name(std::string_view name);

// Smallest struct sizes this host accepts. They are fixed at ABI 1.0 and must never follow later
// header growth: a plugin built against 1.0 headers stays loadable by every 1.x host.
inline constexpr std::size_t kDescriptorV1Size = offsetof(macp_plugin_descriptor, vtable) + sizeof(const void*);
inline constexpr std::size_t kConfigKeyV1Size = offsetof(macp_config_key, flags) + sizeof(uint32_t);

// The i-th declared configuration key. The table is walked with the stride of its first
// element's struct_size (abi.h STRUCT SIZES), so a plugin built against a later minor whose
// macp_config_key grew is still read correctly. Call only after check_descriptor succeeded.
inline const macp_config_key& config_key_at(const macp_plugin_descriptor& d, std::size_t i) {
    const auto* base = reinterpret_cast<const unsigned char*>(d.config_keys);
    return *reinterpret_cast<const macp_config_key*>(base + i * d.config_keys[0].struct_size);
}

// dlopen()s `path` (rtld_now | rtld_local), looks up macp_plugin_entry_v1 and calls it.
// Fails on dlopen errors (with the dlerror text), a missing entry symbol or a NULL descriptor.
Result<std::shared_ptr<LoadedPlugin>, std::string> open_plugin_file(const std::filesystem::path& path);

// Checks the descriptor: struct size, ABI major/minor, kind, vtable and required operations,
// config-key table, and (when `expected_name` is set) that the descriptor's name matches the
// file name. Returns the first problem as one sentence, or nullopt when the plugin is usable.
std::optional<std::string> check_descriptor(const LoadedPlugin& plugin, uint32_t expected_kind,
                                            const std::optional<std::string>& expected_name);

// Fills the descriptor fields of `info` that can be read safely (also for a descriptor that
// failed check_descriptor: nothing beyond what its struct_size and ABI major vouch for is read).
void describe(const macp_plugin_descriptor& descriptor, PluginInfo& info);

// "storage", "auth" or "unknown kind N".
std::string kind_name(uint32_t kind);

// Copies a plugin vtable into a zero-initialised host struct, only as far as the plugin's
// struct_size covers: members the plugin does not have (an older minor) read as NULL, which the
// ABI defines as "optional, not implemented". Call only after check_descriptor succeeded.
template <class VTable>
VTable copy_vtable(const void* plugin_vtable) {
    VTable out{};
    const auto* src = static_cast<const VTable*>(plugin_vtable);
    const std::size_t n = std::min<std::size_t>(src->struct_size, sizeof(VTable));
    std::memcpy(&out, src, n);
    out.struct_size = static_cast<uint32_t>(sizeof(VTable));
    return out;
}

}  // namespace macp::plugin_host
