// Plugin discovery (issue #9): the plugin name rule, file names, and the exact search path for a
// build tree, an installed and a relocated server.
#include "plugin_host/discovery.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "plugin_host/plugin_host.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using macp::plugin_host::plugin_search_path;
using macp::plugin_host::SearchDir;

namespace {

class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = fs::temp_directory_path() /
                ("macp-discovery-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path_ / "bin");
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::vector<std::string> dirs_of(const std::vector<SearchDir>& path) {
    std::vector<std::string> out;
    for (const auto& d : path) out.push_back(d.dir.string() + " (" + d.origin + ")");
    return out;
}

// The installed plugin dirs for an executable under `prefix`/bin, as this build configured them
// (MACP_INSTALL_* come with macp_plugin_host): <prefix>/<libdir>/macp-runtime/plugins, then the
// configured one unless it is the same directory.
std::vector<std::string> installed_dirs(const fs::path& prefix) {
    const fs::path configured = MACP_INSTALL_PLUGIN_DIR;
    std::vector<std::string> out;
    if (configured.is_relative()) {
        out.push_back((prefix / configured).lexically_normal().string() + " (installed, relative to the executable)");
    }
    const fs::path full = configured.is_relative() ? fs::path(MACP_INSTALL_PREFIX) / configured : configured;
    const std::string entry = full.lexically_normal().string() + " (installed)";
    if (out.empty() || !out.front().starts_with(full.lexically_normal().string() + " (")) out.push_back(entry);
    return out;
}

std::vector<std::string> concat(std::vector<std::string> first, const std::vector<std::string>& second) {
    first.insert(first.end(), second.begin(), second.end());
    return first;
}

}  // namespace

TEST_CASE("plugin names: lower-case letters, digits, '-' and '_', starting with a letter or digit, <= 64",
          "[discovery][name]") {
    using macp::plugin_host::is_valid_plugin_name;
    for (const std::string good : {"file", "static", "jwt", "rocksdb", "redis", "my_store2", "rocks-db", "9p", "a"}) {
        INFO(good);
        CHECK(is_valid_plugin_name(good));
    }
    CHECK(is_valid_plugin_name(std::string(64, 'x')));
    for (const std::string& bad : std::vector<std::string>{"", "File", "-x", "_x", "a.b", "a/b", "../evil", "a b", "é",
                                                           "rocks.db", std::string(65, 'x')}) {
        INFO(bad);
        CHECK_FALSE(is_valid_plugin_name(bad));
    }
}

TEST_CASE("plugin file names follow the same rule", "[discovery][name]") {
    using macp::plugin_host::parse_plugin_file_name;
    using macp::plugin_host::plugin_file_kind;
    const auto file = parse_plugin_file_name("storage-file.so");
    REQUIRE(file);
    CHECK(file->kind == "storage");
    CHECK(file->name == "file");
    const auto dashed = parse_plugin_file_name("auth-my-ldap.so");
    REQUIRE(dashed);
    CHECK(dashed->kind == "auth");
    CHECK(dashed->name == "my-ldap");
    for (const std::string bad : {"storage-Foo.so", "storage-.so", "storage-a.b.so", "libfoo.so", "storage-file.so.1",
                                  "metrics-x.so", "auth-x.txt"}) {
        INFO(bad);
        CHECK_FALSE(parse_plugin_file_name(bad));
    }
    // A file that claims to be a plugin keeps its kind, so --list-plugins can say why it is ignored.
    CHECK(plugin_file_kind("storage-Foo.so") == std::optional<std::string>("storage"));
    CHECK_FALSE(plugin_file_kind("libfoo.so"));
}

TEST_CASE("a configured plugin id that breaks the rule is refused with the rule", "[discovery][name]") {
    const auto err = macp::plugin_host::check_plugin_id("storage-My.Store", "storage");
    REQUIRE(err);
    CHECK(*err ==
          "\"storage-My.Store\" is not a valid storage plugin name: expected storage-<name>, e.g. storage-file; a "
          "plugin name starts with a lower-case letter or digit and continues with lower-case letters, digits, '-' "
          "and '_', at most 64 characters");
    CHECK_FALSE(macp::plugin_host::check_plugin_id("auth-my_ldap-2", "auth"));
}

TEST_CASE("search path of an installed server: MACP_PLUGIN_PATH, then the installed dirs only", "[discovery][path]") {
    const auto path = plugin_search_path("/opt/a:/opt/b::relative/dir:/opt/a/", "/usr/bin/macp-runtime");
    CHECK(dirs_of(path) == concat({"/opt/a (MACP_PLUGIN_PATH)", "/opt/b (MACP_PLUGIN_PATH)"}, installed_dirs("/usr")));
    // Nothing beside the executable: not /usr/bin/plugins, /usr/plugins or /plugins.
    for (const auto& d : path) {
        CHECK(d.dir != fs::path("/plugins"));
        CHECK(d.dir != fs::path("/usr/plugins"));
        CHECK(d.dir != fs::path("/usr/bin/plugins"));
    }
}

TEST_CASE("search path of a relocated install: its own prefix before the configured one", "[discovery][path]") {
    TempDir prefix;
    CHECK(dirs_of(plugin_search_path("", prefix.path() / "bin" / "macp-runtime")) == installed_dirs(prefix.path()));
}

TEST_CASE("search path of a build tree: the plugin dir its marker names, after MACP_PLUGIN_PATH", "[discovery][path]") {
    TempDir build;
    const fs::path exe = build.path() / "bin" / "macp-runtime";
    const fs::path marker = build.path() / "bin" / macp::plugin_host::kBuildTreeMarker;
    const auto installed = installed_dirs(build.path());

    SECTION("no marker: nothing from the build tree") {
        CHECK(dirs_of(plugin_search_path("/opt/p", exe)) == concat({"/opt/p (MACP_PLUGIN_PATH)"}, installed));
    }
    SECTION("a relative marker is resolved against the binary's directory") {
        std::ofstream(marker) << "../plugins\n";
        CHECK(dirs_of(plugin_search_path("/opt/p", exe)) ==
              concat({"/opt/p (MACP_PLUGIN_PATH)", (build.path() / "plugins").string() + " (build tree)"}, installed));
    }
    SECTION("an absolute marker") {
        std::ofstream(marker) << "/srv/build/plugins\n";
        CHECK(dirs_of(plugin_search_path("", exe)) == concat({"/srv/build/plugins (build tree)"}, installed));
    }
    SECTION("an empty marker or a directory of that name is ignored") {
        std::ofstream(marker) << "\n";
        CHECK(dirs_of(plugin_search_path("", exe)) == installed);
        fs::remove(marker);
        fs::create_directory(marker);
        CHECK(dirs_of(plugin_search_path("", exe)) == installed);
    }
}

TEST_CASE("the running server's default search path is the same computation", "[discovery][path]") {
    const auto dirs = macp::plugin_host::default_search_dirs("/opt/x");
    const auto expected = plugin_search_path("/opt/x", fs::read_symlink("/proc/self/exe"));
    REQUIRE(dirs.size() == expected.size());
    for (std::size_t i = 0; i < dirs.size(); ++i) CHECK(dirs[i] == expected[i].dir);
}

TEST_CASE("list(): a file breaking the name rule is shown with the rule and never opened", "[discovery][list]") {
    TempDir dir;
    std::ofstream(dir.path() / "storage-Bad.so") << "not an ELF file";
    std::ofstream(dir.path() / "storage-ok.so") << "not an ELF file";
    std::ofstream(dir.path() / "libother.so") << "ignored";
    macp::plugin_host::PluginHost host({dir.path()});
    const auto& infos = host.list();
    REQUIRE(infos.size() == 2);
    CHECK(infos[0].file_name == "storage-Bad.so");
    CHECK(infos[0].kind == "storage");
    CHECK_THAT(infos[0].load_error, Contains("never loaded") && Contains("a plugin name starts with a lower-case"));
    // The valid name is opened (and fails as garbage): the invalid one would have failed the same way.
    CHECK(infos[1].file_name == "storage-ok.so");
    CHECK_THAT(infos[1].load_error, Contains("cannot load plugin"));
}
