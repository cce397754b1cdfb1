// Where plugins are looked for, and how a file name maps to a plugin.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace macp::plugin_host {

// "storage-file.so" -> {"storage", "file"}; nullopt for any other file name (other kinds,
// libraries, editor backups...).
struct PluginFileName {
    std::string kind;
    std::string name;
};
std::optional<PluginFileName> parse_plugin_file_name(const std::string& file_name);

// Checks a configured plugin id such as "storage-file" for the expected kind ("storage").
// Returns the problem as a sentence, or nullopt.
std::optional<std::string> check_plugin_id(const std::string& plugin_id, const std::string& kind);

// The first <dir>/<file_name> that exists (first dir wins).
std::optional<std::filesystem::path> locate_plugin(const std::vector<std::filesystem::path>& dirs,
                                                   const std::string& file_name);

// The "not found" sentence: names the searched dirs and the Debian package to install.
std::string plugin_not_found_message(const std::string& plugin_id, const std::vector<std::filesystem::path>& dirs);

// Every <kind>-<name>.so in `dirs`, first dir wins per file name, sorted by file name.
// Unreadable or missing dirs are skipped silently (the default list names dirs that only exist
// in a build tree or only after installation).
std::vector<std::filesystem::path> scan_plugin_dirs(const std::vector<std::filesystem::path>& dirs);

}  // namespace macp::plugin_host
