// Where plugins are looked for, and how a file name maps to a plugin.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace macp::plugin_host {

// The plugin name rule for the <name> of <kind>-<name>.so, MACP_STORAGE_BACKEND and
// MACP_AUTH_PLUGINS (the same rule check_descriptor applies to a descriptor's name): a lower-case
// letter or digit, then lower-case letters, digits, '-' and '_', at most 64 characters.
// Header-only so the configuration code applies it too.
inline constexpr std::size_t kPluginNameMaxLength = 64;
inline constexpr std::string_view kPluginNameSyntax =
    "a plugin name starts with a lower-case letter or digit and continues with lower-case letters, digits, "
    "'-' and '_', at most 64 characters";

inline bool is_valid_plugin_name(std::string_view name) {
    const auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (name.empty() || name.size() > kPluginNameMaxLength || !lower_or_digit(name.front())) return false;
    for (const char c : name) {
        if (!lower_or_digit(c) && c != '-' && c != '_') return false;
    }
    return true;
}

// "storage-file.so" -> {"storage", "file"}; nullopt for any other file name (other kinds,
// libraries, editor backups, names breaking the rule above...).
struct PluginFileName {
    std::string kind;
    std::string name;
};
std::optional<PluginFileName> parse_plugin_file_name(const std::string& file_name);

// The kind of a file that claims to be a plugin ("<kind>-<anything>.so"), whether or not its name
// follows the rule: --list-plugins shows such files with the reason they are never loaded.
std::optional<std::string> plugin_file_kind(const std::string& file_name);

// Checks a configured plugin id such as "storage-file" for the expected kind ("storage").
// Returns the problem as a sentence stating the name rule, or nullopt.
std::optional<std::string> check_plugin_id(const std::string& plugin_id, const std::string& kind);

// The first <dir>/<file_name> that exists (first dir wins).
std::optional<std::filesystem::path> locate_plugin(const std::vector<std::filesystem::path>& dirs,
                                                   const std::string& file_name);

// The "not found" sentence: names the searched dirs in order and the Debian package to install.
std::string plugin_not_found_message(const std::string& plugin_id, const std::vector<std::filesystem::path>& dirs);

// Every <kind>-*.so in `dirs`, first dir wins per file name, sorted by file name. Files whose name
// breaks the rule are included (inspection reports why they are never loaded). Unreadable or
// missing dirs are skipped silently (the search path names dirs that may not exist).
std::vector<std::filesystem::path> scan_plugin_dirs(const std::vector<std::filesystem::path>& dirs);

// One directory of the plugin search path and why it is there.
struct SearchDir {
    std::filesystem::path dir;
    std::string origin;  // "MACP_PLUGIN_PATH", "build tree", "installed, relative to the executable", "installed"
};

// The file a build writes next to the build-tree server binary (never installed). Its first line
// names the build tree's plugin dir, absolute or relative to the marker's directory.
inline constexpr const char* kBuildTreeMarker = "macp-runtime.build-tree";

// The plugin search path, exactly and in order (duplicates dropped, first occurrence kept):
//   1. each absolute dir of `macp_plugin_path` (colon-separated), in order;
//   2. only when <dir of `exe`>/macp-runtime.build-tree exists: the build tree's plugin dir it names;
//   3. <dir of `exe`>/../<libdir>/macp-runtime/plugins (a relocated install);
//   4. the plugin dir configured at build time (<prefix>/<libdir>/macp-runtime/plugins).
// `exe` empty: steps 2 and 3 are skipped.
std::vector<SearchDir> plugin_search_path(const std::string& macp_plugin_path, const std::filesystem::path& exe);

}  // namespace macp::plugin_host
