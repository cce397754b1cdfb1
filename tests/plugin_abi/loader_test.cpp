// Loader tests of the plugin ABI: every broken fixture plugin yields its one precise message,
// discovery and listing work, and the adapters behave (threading, optional ops, error mapping).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "macp/plugin/abi.h"
#include "plugin_host/executor.hpp"
#include "plugin_host/plugin_host.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using macp::plugin_host::PluginHost;
using macp::plugin_host::PluginInfo;

namespace {

const fs::path kFixtureDir = MACP_FIXTURE_PLUGIN_DIR;

std::string fixture(const std::string& plugin) {
    return (kFixtureDir / (plugin + ".so")).string();
}

// A scratch directory removed at scope exit.
class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = fs::temp_directory_path() /
                ("macp-loader-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path_);
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

// The load error for `plugin` (which must fail to open).
std::string storage_error(const std::string& plugin, const std::map<std::string, std::string>& settings = {}) {
    PluginHost host({kFixtureDir});
    auto result = host.open_storage(plugin, settings);
    REQUIRE_FALSE(result.ok());
    return result.error();
}

const std::map<std::string, std::string> kNeedsKeySettings = {
    {"MACP_TEST_REQUIRED_A", "a"}, {"MACP_TEST_REQUIRED_B", "b"}, {"MACP_TEST_SECRET", "s3cret"}};

std::unique_ptr<macp::storage::StorageBackend> open_storage_ok(
    const std::string& plugin, const std::map<std::string, std::string>& settings = {}) {
    PluginHost host({kFixtureDir});
    auto result = host.open_storage(plugin, settings);
    if (!result.ok()) FAIL(result.error());
    return std::move(result.value());
}

std::unique_ptr<macp::auth::Resolver> open_auth_ok(const std::string& plugin) {
    PluginHost host({kFixtureDir});
    auto result = host.open_auth(plugin, {});
    if (!result.ok()) FAIL(result.error());
    return std::move(result.value());
}

const PluginInfo& find_info(const std::vector<PluginInfo>& infos, const std::string& file_name) {
    auto it = std::find_if(infos.begin(), infos.end(), [&](const PluginInfo& i) { return i.file_name == file_name; });
    if (it == infos.end()) FAIL("plugin " << file_name << " not listed");
    return *it;
}

macp::auth::Metadata bearer(const std::string& token) {
    return {{"authorization", "Bearer " + token}};
}

}  // namespace

// ---- load-time checks: one precise message per broken fixture ---------------------------------

TEST_CASE("a missing plugin names the searched dirs and the Debian package", "[plugin_abi][loader]") {
    PluginHost host({kFixtureDir, "/nonexistent/plugins"});
    auto result = host.open_storage("storage-nosuch", {});
    REQUIRE_FALSE(result.ok());
    REQUIRE_THAT(result.error(), Contains("plugin storage-nosuch not found"));
    REQUIRE_THAT(result.error(), Contains(kFixtureDir.string() + ", /nonexistent/plugins"));
    REQUIRE_THAT(result.error(), Contains("install the Debian package macp-runtime-storage-nosuch"));
    REQUIRE_THAT(result.error(), Contains("MACP_PLUGIN_PATH"));
}

TEST_CASE("a plugin id of the wrong kind or shape is refused before searching", "[plugin_abi][loader]") {
    PluginHost host({kFixtureDir});
    auto as_storage = host.open_storage("auth-good", {});
    REQUIRE_FALSE(as_storage.ok());
    REQUIRE_THAT(as_storage.error(), Contains("\"auth-good\" is not a valid storage plugin name"));
    auto traversal = host.open_auth("auth-../../etc/evil", {});
    REQUIRE_FALSE(traversal.ok());
    REQUIRE_THAT(traversal.error(), Contains("is not a valid auth plugin name"));
}

TEST_CASE("dlopen failures carry the dlerror text", "[plugin_abi][loader]") {
    TempDir dir;
    const fs::path garbage = dir.path() / "storage-garbage.so";
    {
        std::ofstream out(garbage, std::ios::binary);
        out << std::string(1024, 'x');  // long enough for the loader to look for an ELF header
    }
    PluginHost host({dir.path()});
    auto result = host.open_storage("storage-garbage", {});
    REQUIRE_FALSE(result.ok());
    REQUIRE_THAT(result.error(), Contains("cannot load plugin " + garbage.string() + ": "));
    REQUIRE_THAT(result.error(), Contains("invalid ELF header"));
    REQUIRE_THAT(result.error(), !Contains("Bad file descriptor"));  // Boost's errno noise is gone
}

TEST_CASE("wrong ABI major", "[plugin_abi][loader]") {
    REQUIRE_THAT(
        storage_error("storage-wrongmajor"),
        Contains("plugin " + fixture("storage-wrongmajor") + " was built for plugin ABI 2.x, this runtime speaks 1.x"));
}

TEST_CASE("ABI minor newer than the host", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-minortoonew"),
                 Contains("plugin " + fixture("storage-minortoonew") + " needs ABI 1.99, this runtime provides 1." +
                          std::to_string(MACP_PLUGIN_ABI_MINOR) + "; upgrade macp-runtime"));
}

TEST_CASE("no entry symbol", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-noentry"),
                 Contains(fixture("storage-noentry") +
                          " is not a macp-runtime plugin for ABI 1.x: it does not export macp_plugin_entry_v1"));
}

TEST_CASE("entry returns NULL", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-nullentry"),
                 Contains("plugin " + fixture("storage-nullentry") +
                          ": macp_plugin_entry_v1() returned NULL instead of a descriptor"));
}

TEST_CASE("descriptor smaller than the 1.0 descriptor", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-smalldesc"),
                 Contains("plugin " + fixture("storage-smalldesc") +
                          " has a descriptor of 16 bytes, smaller than the plugin ABI 1.0 descriptor (" +
                          std::to_string(sizeof(macp_plugin_descriptor)) + " bytes)"));
}

TEST_CASE("required operation missing", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-missingop"),
                 Contains("plugin " + fixture("storage-missingop") +
                          " does not implement the required operation append_log_entry"));
}

TEST_CASE("half a lease pair (ABI 1.2) is refused", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-halflease"),
                 Contains("plugin " + fixture("storage-halflease") +
                          " implements only one of acquire_lease and release_lease (plugin ABI 1.2 needs both or "
                          "neither)"));
}

TEST_CASE("renew_leases without the lease pair (ABI 1.2) is refused", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-renewonly"),
                 Contains("plugin " + fixture("storage-renewonly") +
                          " implements renew_leases without acquire_lease and release_lease (plugin ABI 1.2)"));
}

TEST_CASE("some but not all of the event operations (ABI 1.2) are refused", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-halfevents"),
                 Contains("plugin " + fixture("storage-halfevents") +
                          " implements only some of publish_events, subscribe_events and unsubscribe_events (plugin "
                          "ABI 1.2 needs all three or none)"));
}

TEST_CASE("vtable smaller than the required operations", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-smallvtable"),
                 Contains("plugin " + fixture("storage-smallvtable") +
                          " has a storage vtable of 24 bytes, smaller than the plugin ABI 1.0 minimum"));
}

TEST_CASE("NULL vtable", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-nullvtable"),
                 Contains("plugin " + fixture("storage-nullvtable") + " has no vtable"));
}

TEST_CASE("wrong kind", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-wrongkind"),
                 Contains("plugin " + fixture("storage-wrongkind") + " is an auth plugin, expected a storage plugin"));
}

TEST_CASE("descriptor name differs from the file name", "[plugin_abi][loader]") {
    REQUIRE_THAT(storage_error("storage-misnamed"),
                 Contains("plugin " + fixture("storage-misnamed") +
                          " calls itself \"othername\" but the file name says \"misnamed\"; rename it to "
                          "storage-othername.so"));
}

// ---- configuration ---------------------------------------------------------------------------

TEST_CASE("every missing REQUIRED key is reported at once", "[plugin_abi][loader][config]") {
    SECTION("both missing") {
        REQUIRE_THAT(storage_error("storage-needskey"),
                     Contains("plugin " + fixture("storage-needskey") +
                              " is missing required configuration: MACP_TEST_REQUIRED_A (first required key), "
                              "MACP_TEST_REQUIRED_B (second required key)"));
    }
    SECTION("one missing, one empty") {
        const auto err =
            storage_error("storage-needskey", {{"MACP_TEST_REQUIRED_A", "x"}, {"MACP_TEST_REQUIRED_B", ""}});
        REQUIRE_THAT(err, Contains("is missing required configuration: MACP_TEST_REQUIRED_B (second required key)"));
        REQUIRE_THAT(err, !Contains("MACP_TEST_REQUIRED_A"));
    }
}

TEST_CASE("create() receives exactly the keys that have a value", "[plugin_abi][loader][config]") {
    auto settings = kNeedsKeySettings;
    settings["MACP_UNRELATED"] = "not declared, never passed";
    SECTION("default used") {
        auto store = open_storage_ok("storage-needskey", settings);
        auto config = store->list_records("config");
        REQUIRE(config.ok());
        const std::vector<std::pair<std::string, std::string>> expected = {
            {"MACP_TEST_OPTIONAL", "/var/lib/default"},
            {"MACP_TEST_REQUIRED_A", "a"},
            {"MACP_TEST_REQUIRED_B", "b"},
            {"MACP_TEST_SECRET", "s3cret"}};  // MACP_TEST_UNSET: no value, no default -> absent
        REQUIRE(*config == expected);
    }
    SECTION("setting overrides default") {
        settings["MACP_TEST_OPTIONAL"] = "/srv/data";
        auto store = open_storage_ok("storage-needskey", settings);
        auto config = store->list_records("config");
        REQUIRE(config.ok());
        REQUIRE(config->front() == std::pair<std::string, std::string>{"MACP_TEST_OPTIONAL", "/srv/data"});
    }
}

TEST_CASE("a failing create() reports the plugin's message", "[plugin_abi][loader][config]") {
    REQUIRE_THAT(storage_error("storage-needskey", {{"MACP_TEST_REQUIRED_A", "fail"}, {"MACP_TEST_REQUIRED_B", "b"}}),
                 Contains("plugin " + fixture("storage-needskey") +
                          " failed to start: MACP_TEST_REQUIRED_A=fail is not acceptable (INVALID_ARGUMENT)"));
}

// ---- listing ---------------------------------------------------------------------------------

// Every fixture plugin the build made (each is a <kind>-<name>.so file in kFixtureDir).
size_t fixture_count() {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(kFixtureDir)) n += e.path().extension() == ".so" ? 1 : 0;
    return n;
}

TEST_CASE("list() describes good plugins and explains broken ones", "[plugin_abi][list]") {
    PluginHost host({kFixtureDir});
    const auto infos = host.list();
    REQUIRE(fixture_count() >= 19);
    REQUIRE(infos.size() == fixture_count());
    REQUIRE(std::is_sorted(infos.begin(), infos.end(),
                           [](const PluginInfo& a, const PluginInfo& b) { return a.file_name < b.file_name; }));

    const auto& good = find_info(infos, "auth-good.so");
    CHECK(good.load_error.empty());
    CHECK(good.path == kFixtureDir / "auth-good.so");
    CHECK(good.kind == "auth");
    CHECK(good.name == "good");
    CHECK(good.version == "2.0.0");
    CHECK(good.description == "fixture resolver");
    CHECK(good.abi_major == 1);
    CHECK(good.abi_minor == MACP_PLUGIN_ABI_MINOR_BASELINE);  // the minor it needs, not the header's
    CHECK(good.thread_safe);
    REQUIRE(good.config_keys.size() == 1);
    CHECK(good.config_keys[0].env_name == "MACP_TEST_AUTH_REALM");
    CHECK(good.config_keys[0].has_default);
    CHECK(good.config_keys[0].default_value == "test");

    const auto& needskey = find_info(infos, "storage-needskey.so");
    CHECK(needskey.load_error.empty());  // listing never resolves configuration
    CHECK(needskey.kind == "storage");
    CHECK(needskey.version == "1.2.3");
    CHECK_FALSE(needskey.thread_safe);
    REQUIRE(needskey.config_keys.size() == 5);
    CHECK(needskey.config_keys[0].env_name == "MACP_TEST_REQUIRED_A");
    CHECK(needskey.config_keys[0].required);
    CHECK_FALSE(needskey.config_keys[0].has_default);
    CHECK(needskey.config_keys[2].path);
    CHECK(needskey.config_keys[2].default_value == "/var/lib/default");
    CHECK(needskey.config_keys[4].secret);
    CHECK_FALSE(needskey.config_keys[4].required);

    const auto& wrongmajor = find_info(infos, "storage-wrongmajor.so");
    CHECK(wrongmajor.abi_major == 2);
    CHECK(wrongmajor.name.empty());  // a 2.x descriptor is not read beyond its version
    CHECK_THAT(wrongmajor.load_error, Contains("was built for plugin ABI 2.x, this runtime speaks 1.x"));

    CHECK_THAT(find_info(infos, "storage-noentry.so").load_error, Contains("does not export macp_plugin_entry_v1"));
    CHECK_THAT(find_info(infos, "storage-minortoonew.so").load_error, Contains("needs ABI 1.99"));
    CHECK_THAT(find_info(infos, "storage-missingop.so").load_error, Contains("append_log_entry"));
    CHECK_THAT(find_info(infos, "storage-wrongkind.so").load_error,
               Contains("is an auth plugin, expected a storage plugin"));
    CHECK_THAT(find_info(infos, "storage-nullentry.so").load_error, Contains("returned NULL"));
    CHECK_THAT(find_info(infos, "storage-misnamed.so").load_error, Contains("calls itself \"othername\""));
    CHECK(find_info(infos, "storage-throws.so").load_error.empty());
}

TEST_CASE("list(): first dir wins, unrelated and missing entries are skipped", "[plugin_abi][list]") {
    TempDir dir;
    fs::copy_file(kFixtureDir / "auth-good.so", dir.path() / "auth-good.so");
    { std::ofstream(dir.path() / "libsomething.so") << "not a plugin name"; }
    { std::ofstream(dir.path() / "notes-storage-x.txt") << "ignored"; }
    fs::create_directory(dir.path() / "storage-dir.so");  // a directory, not a plugin
    PluginHost host({dir.path(), "/nonexistent", kFixtureDir});
    const auto infos = host.list();
    REQUIRE(infos.size() == fixture_count());  // auth-good.so once, from the first dir
    CHECK(find_info(infos, "auth-good.so").path == dir.path() / "auth-good.so");
}

TEST_CASE("default_search_dirs", "[plugin_abi][discovery]") {
    // The exact list is unit.discovery_test's; here: MACP_PLUGIN_PATH first (absolute, once),
    // the installed dir last, and no guessed dirs next to a binary that has no build-tree marker.
    const auto dirs = macp::plugin_host::default_search_dirs("/opt/a:/opt/b::relative/dir:/opt/a/");
    REQUIRE(dirs.size() >= 3);
    CHECK(dirs[0] == fs::path("/opt/a"));
    CHECK(dirs[1] == fs::path("/opt/b"));
    CHECK(std::none_of(dirs.begin(), dirs.end(), [](const fs::path& p) { return p.is_relative(); }));
    CHECK(std::count(dirs.begin(), dirs.end(), fs::path("/opt/a")) == 1);
    CHECK(dirs.back().string().find("macp-runtime/plugins") != std::string::npos);
    const fs::path exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
    CHECK(std::count(dirs.begin(), dirs.end(), (exe_dir / "plugins").lexically_normal()) == 0);
    CHECK(std::count(dirs.begin(), dirs.end(), (exe_dir / ".." / "plugins").lexically_normal()) == 0);
}

// ---- storage adapter -------------------------------------------------------------------------

TEST_CASE("an exception inside an SDK op becomes INTERNAL and the plugin keeps working", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-throws");
    CHECK(store->name() == "throws");
    for (int round = 0; round < 2; ++round) {
        auto appended = store->append_log_entry("session-1", "{\"n\":1}");
        REQUIRE_FALSE(appended.ok());
        CHECK(appended.error().status == MACP_STATUS_INTERNAL);
        CHECK_THAT(appended.error().message, Contains("append_log_entry failed (INTERNAL): disk on fire"));

        REQUIRE(store->save_session("session-1", "snapshot-bytes").ok());
        auto loaded = store->load_session("session-1");
        REQUIRE(loaded.ok());
        REQUIRE(loaded->has_value());
        CHECK(**loaded == "snapshot-bytes");
        auto ids = store->list_session_ids();
        REQUIRE(ids.ok());
        CHECK(*ids == std::vector<std::string>{"session-1"});
    }
    // Throws after a partial write: the plugin stored and marked item 0, then threw. The SDK
    // resets the statuses and the host trusts none of them: nothing of the batch is acknowledged.
    const auto batch = store->append_log_batch({{"s1", "a"}, {"s2", "b"}});
    REQUIRE(batch.size() == 2);
    for (const auto& item : batch) {
        REQUIRE_FALSE(item.ok());
        CHECK(item.error().status == MACP_STATUS_INTERNAL);
        CHECK_THAT(item.error().message, Contains("disk on fire after a partial write"));
    }
    auto written = store->load_log("s1");
    REQUIRE(written.ok());
    CHECK(*written == std::vector<std::string>{"a"});  // it was written, yet not acknowledged
}

TEST_CASE("a batch that marks items OK and then fails the call acknowledges nothing", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-lyingbatch");
    const auto batch = store->append_log_batch({{"s1", "a"}, {"s2", "b"}, {"s1", "c"}});
    REQUIRE(batch.size() == 3);
    for (const auto& item : batch) {
        REQUIRE_FALSE(item.ok());
        CHECK(item.error().status == MACP_STATUS_IO_ERROR);
        CHECK_THAT(item.error().message, Contains("write failed after marking the items"));
        CHECK_THAT(item.error().message, Contains("not trusted"));
    }
}

TEST_CASE("a batch that returns OK with fewer statuses than items fails the missing ones", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-shortbatch");
    const auto batch = store->append_log_batch({{"s1", "a"}, {"s2", "b"}, {"s3", "c"}});
    REQUIRE(batch.size() == 3);
    CHECK(batch[0].ok());
    for (size_t i = 1; i < batch.size(); ++i) {
        REQUIRE_FALSE(batch[i].ok());
        CHECK(batch[i].error().status == MACP_STATUS_INTERNAL);
        CHECK_THAT(batch[i].error().message, Contains("returned OK but reported INTERNAL"));
    }
}

namespace {

// Records what a scan_sessions call reports, as the kernel's recovery would receive it.
class RecordingScan final : public macp::storage::SessionScanVisitor {
public:
    explicit RecordingScan(bool skip_snapshotted) : skip_snapshotted_(skip_snapshotted) {}
    bool begin_session(const std::string& id, std::optional<std::string> snapshot) override {
        events.push_back("begin " + id + (snapshot ? " snapshot=" + *snapshot : ""));
        return !(skip_snapshotted_ && snapshot);
    }
    void log_record(std::string record) override { events.push_back("record " + record); }
    void end_session() override { events.emplace_back("end"); }
    std::vector<std::string> events;

private:
    bool skip_snapshotted_;
};

}  // namespace

TEST_CASE("scan_sessions hands each session's records to the visitor between begin and end", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-badscan");
    REQUIRE(store->supports_scan());
    RecordingScan visitor(false);
    const auto st = store->scan_sessions(visitor);
    INFO((st.ok() ? std::string("ok") : st.error().message));
    REQUIRE(st.ok());
    CHECK(visitor.events == std::vector<std::string>{"begin s1", "record r1", "record r2", "end",
                                                     "begin s2 snapshot=done", "record x", "end"});
}

TEST_CASE("a scan that emits a record the host asked to skip is refused as a whole", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-badscan");
    RecordingScan visitor(true);
    const auto st = store->scan_sessions(visitor);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().status == MACP_STATUS_INTERNAL);
    CHECK_THAT(st.error().message, Contains("scan_sessions") && Contains("a log record outside a requested session"));
}

TEST_CASE("a plugin without scan_sessions says so instead of scanning", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-shortbatch");
    CHECK_FALSE(store->supports_scan());
    RecordingScan visitor(false);
    const auto st = store->scan_sessions(visitor);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().status == MACP_STATUS_UNSUPPORTED);
    CHECK(visitor.events.empty());
}

TEST_CASE("a missing snapshot is nullopt, not an error", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-needskey", kNeedsKeySettings);
    auto loaded = store->load_session("never-saved");
    REQUIRE(loaded.ok());
    CHECK_FALSE(loaded->has_value());
}

TEST_CASE("append_log_batch falls back to append_log_entry, stopping a failed session", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-needskey", kNeedsKeySettings);
    const auto results =
        store->append_log_batch({{"s1", "r1"}, {"bad1", "x"}, {"s1", "r2"}, {"bad1", "y"}, {"s2", "r3"}});
    REQUIRE(results.size() == 5);
    CHECK(results[0].ok());
    REQUIRE_FALSE(results[1].ok());
    CHECK(results[1].error().status == MACP_STATUS_IO_ERROR);
    CHECK_THAT(results[1].error().message, Contains("cannot append to bad1"));
    CHECK(results[2].ok());
    REQUIRE_FALSE(results[3].ok());
    CHECK_THAT(results[3].error().message, Contains("not attempted"));
    CHECK(results[4].ok());
    auto log = store->load_log("s1");
    REQUIRE(log.ok());
    CHECK(*log == std::vector<std::string>{"r1", "r2"});
    CHECK(store->append_log_batch({}).empty());
}

TEST_CASE("absent optional ops have defined results", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-needskey", kNeedsKeySettings);
    CHECK_FALSE(store->supports_replace_log());
    auto replaced = store->replace_log("s1", {"a"});
    REQUIRE_FALSE(replaced.ok());
    CHECK(replaced.error().status == MACP_STATUS_UNSUPPORTED);
    CHECK(store->flush().ok());
    auto health = store->health();
    REQUIRE(health.ok());
    CHECK(*health == "health not reported");
    auto repairs = store->recover();
    REQUIRE(repairs.ok());
    CHECK(repairs->empty());
}

TEST_CASE("present optional ops are used", "[plugin_abi][storage]") {
    auto store = open_storage_ok("storage-probe");
    REQUIRE(store->supports_replace_log());
    // PARTIAL: the per-item statuses decide; the good items are acknowledged.
    const auto results = store->append_log_batch({{"s1", "a"}, {"bad", "b"}, {"s1", "c"}});
    REQUIRE(results.size() == 3);
    CHECK(results[0].ok());
    REQUIRE_FALSE(results[1].ok());
    CHECK(results[1].error().status == MACP_STATUS_IO_ERROR);
    CHECK(results[2].ok());
    REQUIRE(store->replace_log("s1", {"compacted", ""}).ok());
    auto log = store->load_log("s1");
    REQUIRE(log.ok());
    CHECK(*log == std::vector<std::string>{"compacted", ""});
    REQUIRE(store->flush().ok());
    auto health = store->health();
    REQUIRE(health.ok());
    CHECK(*health == "probe: flushed 1 times");
    auto repairs = store->recover();
    REQUIRE(repairs.ok());
    CHECK(*repairs == std::vector<std::string>{"removed 1 leftover tmp file"});
}

TEST_CASE("plugin calls run on the executor, serialized when not thread-safe", "[plugin_abi][storage][threads]") {
    auto store = open_storage_ok("storage-probe");
    auto thread = store->load_log("probe-thread");
    REQUIRE(thread.ok());
    REQUIRE(thread->size() == 1);
    CHECK(thread->front() != std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())));

    constexpr int kThreads = 8;
    constexpr int kAppends = 10;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kAppends; ++i) {
                if (!store->append_log_entry("session-" + std::to_string(t), std::to_string(i)).ok()) ++failures;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    auto overlaps = store->load_log("probe-overlaps");
    REQUIRE(overlaps.ok());
    CHECK(*overlaps == std::vector<std::string>{"0"});
    auto ids = store->list_session_ids();
    REQUIRE(ids.ok());
    CHECK(ids->size() == kThreads);
    auto log = store->load_log("session-3");
    REQUIRE(log.ok());
    CHECK(log->size() == kAppends);
}

TEST_CASE("adapters outlive the PluginHost that opened them", "[plugin_abi][storage]") {
    std::unique_ptr<macp::storage::StorageBackend> store;
    {
        PluginHost host({kFixtureDir});
        auto opened = host.open_storage("storage-needskey", kNeedsKeySettings);
        REQUIRE(opened.ok());
        store = std::move(opened.value());
    }
    REQUIRE(store->put_record("ns", "k", "v").ok());
    auto records = store->list_records("ns");
    REQUIRE(records.ok());
    CHECK(records->size() == 1);
}

TEST_CASE("the built-in memory storage goes through the same adapter", "[plugin_abi][storage][memory]") {
    PluginHost host({});
    auto opened = host.open_memory_storage();
    if (!opened.ok()) FAIL(opened.error());
    auto& store = *opened.value();
    CHECK(store.name() == "memory");
    const std::string sid = "0123456789abcdefghijklmnop";
    REQUIRE(store.create_session_storage(sid).ok());
    REQUIRE(store.save_session(sid, "{\"state\":\"OPEN\"}").ok());
    REQUIRE(store.append_log_entry(sid, "{\"seq\":1}").ok());
    REQUIRE(store.append_log_entry(sid, "{\"seq\":2}").ok());
    auto snapshot = store.load_session(sid);
    REQUIRE(snapshot.ok());
    REQUIRE(snapshot->has_value());
    CHECK(**snapshot == "{\"state\":\"OPEN\"}");
    auto log = store.load_log(sid);
    REQUIRE(log.ok());
    CHECK(*log == std::vector<std::string>{"{\"seq\":1}", "{\"seq\":2}"});
    REQUIRE(store.put_record("policies", "p1", "{\"rules\":[]}").ok());
    auto records = store.list_records("policies");
    REQUIRE(records.ok());
    REQUIRE(records->size() == 1);
    CHECK(records->front() == std::pair<std::string, std::string>{"p1", "{\"rules\":[]}"});
    auto ids = store.list_session_ids();
    REQUIRE(ids.ok());
    CHECK(*ids == std::vector<std::string>{sid});
    REQUIRE(store.delete_session(sid).ok());
    auto gone = store.load_session(sid);
    REQUIRE(gone.ok());
    CHECK_FALSE(gone->has_value());
}

// ---- auth adapter ----------------------------------------------------------------------------

TEST_CASE("auth plugin outcomes map onto the resolver chain", "[plugin_abi][auth]") {
    auto resolver = open_auth_ok("auth-good");
    CHECK(resolver->name() == "good");
    using macp::auth::ResolveOutcome;

    SECTION("t1 -> alice with default capabilities") {
        const auto r = resolver->resolve(bearer("t1"));
        REQUIRE(r.outcome == ResolveOutcome::Authenticated);
        CHECK(r.identity.sender == "alice");
        CHECK(r.identity.can_start_sessions);
        CHECK_FALSE(r.identity.can_manage_mode_registry);
        CHECK_FALSE(r.identity.is_observer);
        CHECK_FALSE(r.identity.allowed_modes.has_value());
        CHECK_FALSE(r.identity.max_open_sessions.has_value());
    }
    SECTION("t2 -> bob with every identity setter used") {
        const auto r = resolver->resolve({{"x-other", "1"}, {"authorization", "Bearer t2"}});
        REQUIRE(r.outcome == ResolveOutcome::Authenticated);
        CHECK(r.identity.sender == "bob");
        CHECK_FALSE(r.identity.can_start_sessions);
        CHECK(r.identity.can_manage_mode_registry);
        CHECK(r.identity.is_observer);
        REQUIRE(r.identity.allowed_modes.has_value());
        CHECK(*r.identity.allowed_modes == std::set<std::string>{"macp.mode.decision.v1"});
        CHECK(r.identity.max_open_sessions == 3);
    }
    SECTION("not mine: no credential, or someone else's") {
        CHECK(resolver->resolve({}).outcome == ResolveOutcome::NotMine);
        CHECK(resolver->resolve(bearer("a.b.c")).outcome == ResolveOutcome::NotMine);
    }
    SECTION("rejected with the plugin's message") {
        const auto invalid = resolver->resolve(bearer("nope"));
        CHECK(invalid.outcome == ResolveOutcome::Rejected);
        CHECK_THAT(invalid.detail, Contains("unknown bearer token"));
        const auto expired = resolver->resolve(bearer("expired"));
        CHECK(expired.outcome == ResolveOutcome::Rejected);
        CHECK_THAT(expired.detail, Contains("token expired at 2020-01-01"));
    }
    SECTION("an exception in the resolver is a resolver failure, and the resolver keeps working") {
        const auto boom = resolver->resolve(bearer("boom"));
        CHECK(boom.outcome == ResolveOutcome::Rejected);
        CHECK_THAT(boom.detail, Contains("resolver failure: token table unavailable (INTERNAL)"));
        CHECK(resolver->resolve(bearer("t1")).outcome == ResolveOutcome::Authenticated);
    }
    SECTION("concurrent resolution") {
        std::atomic<int> wrong{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 50; ++i) {
                    const auto r = resolver->resolve(bearer(i % 2 == 0 ? "t1" : "t2"));
                    if (r.outcome != ResolveOutcome::Authenticated ||
                        r.identity.sender != (i % 2 == 0 ? "alice" : "bob")) {
                        ++wrong;
                    }
                }
            });
        }
        for (auto& t : threads) t.join();
        CHECK(wrong == 0);
    }
}

TEST_CASE("OK without a sender is rejected", "[plugin_abi][auth]") {
    auto resolver = open_auth_ok("auth-nosender");
    const auto r = resolver->resolve(bearer("anything"));
    CHECK(r.outcome == macp::auth::ResolveOutcome::Rejected);
    CHECK_THAT(r.detail, Contains("returned OK without a sender"));
}

TEST_CASE("open_auth refuses a storage plugin file", "[plugin_abi][auth]") {
    TempDir dir;
    // A storage plugin renamed to auth-*.so: the descriptor's kind, not the file name, decides.
    fs::copy_file(kFixtureDir / "storage-throws.so", dir.path() / "auth-throws.so");
    PluginHost host({dir.path()});
    auto r = host.open_auth("auth-throws", {});
    REQUIRE_FALSE(r.ok());
    REQUIRE_THAT(r.error(), Contains("auth-throws.so is a storage plugin, expected an auth plugin"));
}

// ---- executor --------------------------------------------------------------------------------

TEST_CASE("BoundedExecutor", "[plugin_abi][executor]") {
    using macp::plugin_host::BoundedExecutor;
    SECTION("runs off the caller's thread and returns the value") {
        BoundedExecutor ex("test-exec", 2, 4);
        const auto caller = std::this_thread::get_id();
        CHECK(ex.run([&] { return std::this_thread::get_id() != caller; }));
        CHECK(ex.run([] { return std::string("value"); }) == "value");
    }
    SECTION("rethrows a job's exception to the caller") {
        BoundedExecutor ex("test-exec", 1, 1);
        CHECK_THROWS_WITH(ex.run([]() -> int { throw std::runtime_error("job failed"); }), "job failed");
        CHECK(ex.run([] { return 7; }) == 7);
    }
    SECTION("a full queue applies back-pressure without losing jobs") {
        BoundedExecutor ex("test-exec", 1, 1);
        std::atomic<int> done{0};
        std::vector<std::thread> callers;
        for (int t = 0; t < 16; ++t) {
            callers.emplace_back([&] {
                for (int i = 0; i < 20; ++i) ex.run([&] { ++done; });
            });
        }
        for (auto& t : callers) t.join();
        CHECK(done == 16 * 20);
    }
    SECTION("a call from a pool thread runs inline instead of deadlocking") {
        BoundedExecutor ex("test-exec", 1, 1);
        CHECK(ex.run([&] { return ex.run([] { return 42; }); }) == 42);
    }
}
