#include "plugin_host/discovery.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include "plugin_host/plugin_host.hpp"

namespace macp::plugin_host {
namespace fs = std::filesystem;
namespace {

// The installed plugin dir relative to the installation prefix, for relocatable installs found
// next to the executable (<exe_dir>/../lib/<multiarch>/macp-runtime/plugins).
#if defined(__x86_64__)
constexpr const char* kDefaultRelativePluginDir = "lib/x86_64-linux-gnu/macp-runtime/plugins";
#elif defined(__aarch64__)
constexpr const char* kDefaultRelativePluginDir = "lib/aarch64-linux-gnu/macp-runtime/plugins";
#else
constexpr const char* kDefaultRelativePluginDir = "lib/macp-runtime/plugins";
#endif

// MACP_INSTALL_PLUGIN_DIR (set by the build from GNUInstallDirs) may be absolute
// (CMAKE_INSTALL_FULL_LIBDIR/...) or relative to MACP_INSTALL_PREFIX.
#if defined(MACP_INSTALL_PLUGIN_DIR)
constexpr const char* kInstallPluginDir = MACP_INSTALL_PLUGIN_DIR;
#else
constexpr const char* kInstallPluginDir = kDefaultRelativePluginDir;
#endif

#if defined(MACP_INSTALL_PREFIX)
constexpr const char* kInstallPrefix = MACP_INSTALL_PREFIX;
#else
constexpr const char* kInstallPrefix = "/usr";
#endif

constexpr const char* kKinds[] = {"storage", "auth"};

// The build tree's plugin dir named by the marker next to `exe`, if there is one.
std::optional<fs::path> build_tree_plugin_dir(const fs::path& exe_dir) {
    const fs::path marker = exe_dir / kBuildTreeMarker;
    std::error_code ec;
    if (!fs::is_regular_file(marker, ec)) return std::nullopt;
    std::ifstream in(marker);
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) return std::nullopt;
    const fs::path dir(line);
    return dir.is_absolute() ? dir : exe_dir / dir;
}

}  // namespace

std::optional<std::string> plugin_file_kind(const std::string& file_name) {
    constexpr std::string_view suffix = ".so";
    if (file_name.size() <= suffix.size() || !file_name.ends_with(suffix)) return std::nullopt;
    for (const char* kind : kKinds) {
        if (file_name.starts_with(std::string(kind) + "-")) return std::string(kind);
    }
    return std::nullopt;
}

std::optional<PluginFileName> parse_plugin_file_name(const std::string& file_name) {
    auto kind = plugin_file_kind(file_name);
    if (!kind) return std::nullopt;
    std::string name = file_name.substr(kind->size() + 1, file_name.size() - kind->size() - 1 - 3);
    if (!is_valid_plugin_name(name)) return std::nullopt;
    return PluginFileName{std::move(*kind), std::move(name)};
}

std::optional<std::string> check_plugin_id(const std::string& plugin_id, const std::string& kind) {
    const auto parsed = parse_plugin_file_name(plugin_id + ".so");
    if (!parsed || parsed->kind != kind) {
        return "\"" + plugin_id + "\" is not a valid " + kind + " plugin name: expected " + kind + "-<name>, e.g. " +
               kind + (kind == "storage" ? "-file" : "-static") + "; " + std::string(kPluginNameSyntax);
    }
    return std::nullopt;
}

std::optional<fs::path> locate_plugin(const std::vector<fs::path>& dirs, const std::string& file_name) {
    for (const auto& dir : dirs) {
        const fs::path candidate = dir / file_name;
        std::error_code ec;
        if (fs::is_regular_file(candidate, ec)) return candidate;
    }
    return std::nullopt;
}

std::string plugin_not_found_message(const std::string& plugin_id, const std::vector<fs::path>& dirs) {
    std::string searched;
    for (const auto& dir : dirs) {
        if (!searched.empty()) searched += ", ";
        searched += dir.string();
    }
    if (searched.empty()) searched = "(no directories)";
    return "plugin " + plugin_id + " not found: no " + plugin_id + ".so in " + searched +
           "; install the Debian package macp-runtime-" + plugin_id +
           " or set MACP_PLUGIN_PATH to the directory that contains " + plugin_id + ".so";
}

std::vector<fs::path> scan_plugin_dirs(const std::vector<fs::path>& dirs) {
    std::map<std::string, fs::path> by_file_name;  // sorted, first dir wins
    for (const auto& dir : dirs) {
        std::error_code ec;
        fs::directory_iterator it(dir, ec);
        if (ec) continue;
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            if (ec) break;
            const std::string file_name = it->path().filename().string();
            if (!plugin_file_kind(file_name)) continue;
            std::error_code type_ec;
            if (!fs::is_regular_file(it->path(), type_ec)) continue;  // follows symlinks
            by_file_name.emplace(file_name, it->path());
        }
    }
    std::vector<fs::path> out;
    out.reserve(by_file_name.size());
    for (auto& [name, path] : by_file_name) out.push_back(std::move(path));
    return out;
}

std::vector<SearchDir> plugin_search_path(const std::string& macp_plugin_path, const fs::path& exe) {
    std::vector<SearchDir> dirs;
    std::set<std::string> seen;
    const auto add = [&](const fs::path& dir, const char* origin) {
        fs::path normal = dir.lexically_normal();
        // "/opt/a/" and "/opt/a" are the same dir: drop the trailing separator before comparing.
        if (!normal.has_filename() && normal.has_relative_path()) normal = normal.parent_path();
        if (seen.insert(normal.string()).second) dirs.push_back({normal, origin});
    };

    // 1. MACP_PLUGIN_PATH: a colon list of absolute dirs. Relative entries would depend on the
    //    working directory of whoever starts the server, so they are ignored (config validates).
    std::size_t start = 0;
    while (start <= macp_plugin_path.size()) {
        const std::size_t end = std::min(macp_plugin_path.find(':', start), macp_plugin_path.size());
        const fs::path entry = macp_plugin_path.substr(start, end - start);
        if (!entry.empty() && entry.is_absolute()) add(entry, "MACP_PLUGIN_PATH");
        start = end + 1;
    }

    const fs::path exe_dir = exe.empty() ? fs::path() : exe.parent_path();
    // 2. A build tree: the build writes the marker next to its server binary (and never installs
    //    it), so an installed server never searches anything beside itself.
    if (!exe_dir.empty()) {
        if (auto build_dir = build_tree_plugin_dir(exe_dir)) add(*build_dir, "build tree");
    }

    // 3. The installed plugin dir: first relative to the executable's prefix (a relocated
    //    install under /opt/...), then the configured one (/usr/lib/<multiarch>/...).
    const fs::path install_dir = kInstallPluginDir;
    const fs::path relative_dir = install_dir.is_absolute() ? fs::path(kDefaultRelativePluginDir) : install_dir;
    if (!exe_dir.empty()) add(exe_dir / ".." / relative_dir, "installed, relative to the executable");
    add(install_dir.is_absolute() ? install_dir : fs::path(kInstallPrefix) / install_dir, "installed");
    return dirs;
}

std::vector<SearchDir> default_search_path(const std::string& macp_plugin_path) {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return plugin_search_path(macp_plugin_path, ec ? fs::path() : exe);
}

std::vector<fs::path> default_search_dirs(const std::string& macp_plugin_path) {
    std::vector<fs::path> dirs;
    for (auto& entry : default_search_path(macp_plugin_path)) dirs.push_back(std::move(entry.dir));
    return dirs;
}

}  // namespace macp::plugin_host
