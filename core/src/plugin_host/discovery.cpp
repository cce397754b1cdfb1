#include "plugin_host/discovery.hpp"

#include <algorithm>
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

bool valid_name_part(const std::string& name) {
    if (name.empty()) return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.';
        if (!ok) return false;
    }
    return name.front() != '.' && name.front() != '-';
}

}  // namespace

std::optional<PluginFileName> parse_plugin_file_name(const std::string& file_name) {
    constexpr std::string_view suffix = ".so";
    if (file_name.size() <= suffix.size() || !file_name.ends_with(suffix)) return std::nullopt;
    const std::string stem = file_name.substr(0, file_name.size() - suffix.size());
    for (const char* kind : kKinds) {
        const std::string prefix = std::string(kind) + "-";
        if (stem.starts_with(prefix)) {
            std::string name = stem.substr(prefix.size());
            if (!valid_name_part(name)) return std::nullopt;
            return PluginFileName{kind, std::move(name)};
        }
    }
    return std::nullopt;
}

std::optional<std::string> check_plugin_id(const std::string& plugin_id, const std::string& kind) {
    const auto parsed = parse_plugin_file_name(plugin_id + ".so");
    if (!parsed || parsed->kind != kind) {
        return "\"" + plugin_id + "\" is not a valid " + kind + " plugin name: expected " + kind +
               "-<name> (letters, digits, '-', '_', '.'), e.g. " + kind + (kind == "storage" ? "-file" : "-static");
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
            if (!parse_plugin_file_name(file_name)) continue;
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

std::vector<fs::path> default_search_dirs(const std::string& macp_plugin_path) {
    std::vector<fs::path> dirs;
    std::set<std::string> seen;
    const auto add = [&](const fs::path& dir) {
        fs::path normal = dir.lexically_normal();
        // "/opt/a/" and "/opt/a" are the same dir: drop the trailing separator before comparing.
        if (!normal.has_filename() && normal.has_relative_path()) normal = normal.parent_path();
        if (seen.insert(normal.string()).second) dirs.push_back(normal);
    };

    // 1. MACP_PLUGIN_PATH: a colon list of absolute dirs. Relative entries would depend on the
    //    working directory of whoever starts the server, so they are ignored (config validates).
    std::size_t start = 0;
    while (start <= macp_plugin_path.size()) {
        const std::size_t end = std::min(macp_plugin_path.find(':', start), macp_plugin_path.size());
        const fs::path entry = macp_plugin_path.substr(start, end - start);
        if (!entry.empty() && entry.is_absolute()) add(entry);
        start = end + 1;
    }

    // 2. Next to the executable, so a build tree runs without installing: the server lives in
    //    <build>/bin/ (or deeper, e.g. <build>/core/src/) and the plugins in <build>/plugins/.
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    const fs::path exe_dir = ec ? fs::path() : exe.parent_path();
    if (!exe_dir.empty()) {
        add(exe_dir / "plugins");
        add(exe_dir / ".." / "plugins");
        add(exe_dir / ".." / ".." / "plugins");
    }

    // 3. The installed plugin dir: first relative to the executable's prefix (a relocated
    //    install under /opt/...), then the configured one (/usr/lib/<multiarch>/...).
    const fs::path install_dir = kInstallPluginDir;
    const fs::path relative_dir = install_dir.is_absolute() ? fs::path(kDefaultRelativePluginDir) : install_dir;
    if (!exe_dir.empty()) add(exe_dir / ".." / relative_dir);
    add(install_dir.is_absolute() ? install_dir : fs::path(kInstallPrefix) / install_dir);
    return dirs;
}

}  // namespace macp::plugin_host
