// storage/migration (issue #10): side resolution, copy, refusal of a non-empty target,
// unconvertible sessions, verification, and the reference's legacy sessions.json/logs.json layout.
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): mkdtemp

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "kernel/records.hpp"
#include "plugin_host/plugin_host.hpp"
#include "storage/migration.hpp"

namespace fs = std::filesystem;
using namespace macp;
using storage::MigrationOptions;

namespace {

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "macp-migration-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
    }

private:
    fs::path path_;
};

std::unique_ptr<storage::StorageBackend> memory() {
    auto s = plugin_host::PluginHost({}).open_memory_storage();
    REQUIRE(s.ok());
    return std::move(s.value());
}

std::string entry(const std::string& id, const std::string& type, const std::string& payload = "p") {
    kernel::LogEntry e;
    e.message_id = id;
    e.received_at_ms = 1000;
    e.sender = "alice";
    e.message_type = type;
    e.payload = payload;
    e.session_id = "s";
    e.mode = "ext.multi_round.v1";
    e.macp_version = "1.0";
    return kernel::encode_entry(e);
}

void put_session(storage::StorageBackend& b, const std::string& id, const std::vector<std::string>& log,
                 const std::optional<std::string>& snapshot = std::nullopt) {
    REQUIRE(b.create_session_storage(id).ok());
    for (const auto& r : log) REQUIRE(b.append_log_entry(id, r).ok());
    if (snapshot) REQUIRE(b.save_session(id, *snapshot).ok());
}

// A populated source: two sessions, one with a snapshot, and records in both namespaces.
std::unique_ptr<storage::StorageBackend> populated() {
    auto b = memory();
    put_session(*b, "s1", {entry("m0", "SessionStart"), entry("m1", "Contribute", std::string("\0\xff\n", 3))},
                std::string("{\"snapshot\":1}"));
    put_session(*b, "s2", {entry("m0", "SessionStart"), entry("m1", "Contribute"), entry("m2", "Contribute")});
    REQUIRE(b->put_record("modes", "ext.x.v1", "{\"mode\":\"x\"}").ok());
    REQUIRE(b->put_record("policies", "policy.a", "{\"policy_id\":\"policy.a\"}").ok());
    return b;
}

}  // namespace

TEST_CASE("a side is BACKEND[:LOCATION] over the shared settings", "[migration]") {
    const std::map<std::string, std::string> shared{
        {"MACP_DATA_DIR", "/shared"}, {"MACP_ROCKSDB_PATH", "/shared/rocksdb"}, {"MACP_MEMORY_ONLY", "1"}};
    const std::set<std::string> defaulted{"MACP_ROCKSDB_PATH"};
    auto file = storage::resolve_side({"file:/a", {}}, shared, defaulted);
    REQUIRE(file.ok());
    CHECK(file->plugin == "storage-file");
    CHECK(file->settings.at("MACP_DATA_DIR") == "/a");
    CHECK(file->settings.at("MACP_STORAGE_BACKEND") == "file");
    CHECK(file->settings.count("MACP_MEMORY_ONLY") == 0);
    CHECK(file->describe() == "file (MACP_DATA_DIR=/a)");

    auto plain = storage::resolve_side({"file", {}}, shared, defaulted);
    REQUIRE(plain.ok());
    CHECK(plain->location == "/shared");

    auto rocks = storage::resolve_side({"rocksdb:/db", {{"MACP_ROCKSDB_BLOCK_CACHE_MB", "8"}}}, shared, defaulted);
    REQUIRE(rocks.ok());
    CHECK(rocks->settings.at("MACP_ROCKSDB_PATH") == "/db");
    CHECK(rocks->settings.at("MACP_ROCKSDB_BLOCK_CACHE_MB") == "8");
    // A side's own data dir moves a defaulted RocksDB path along.
    auto moved = storage::resolve_side({"rocksdb", {{"MACP_DATA_DIR", "/other"}}}, shared, defaulted);
    REQUIRE(moved.ok());
    CHECK(moved->location == "/other/rocksdb");

    CHECK_FALSE(storage::resolve_side({"", {}}, shared, defaulted).ok());
    CHECK_FALSE(storage::resolve_side({"memory", {}}, shared, defaulted).ok());
    CHECK_FALSE(storage::resolve_side({"file:", {}}, shared, defaulted).ok());
    CHECK_FALSE(storage::resolve_side({"custom:/x", {}}, shared, defaulted).ok());
    CHECK(storage::resolve_side({"custom", {{"MACP_CUSTOM_URL", "x"}}}, shared, defaulted).ok());
    CHECK_FALSE(storage::resolve_side({"file", {{"PATH", "/x"}}}, shared, defaulted).ok());

    auto other = storage::resolve_side({"file:/b", {}}, shared, defaulted);
    auto same = storage::resolve_side({"file:/a/../a", {}}, shared, defaulted);
    CHECK_FALSE(storage::same_store(*file, *other));
    CHECK(storage::same_store(*file, *same));
    CHECK_FALSE(storage::same_store(*file, *rocks));
}

TEST_CASE("everything is copied byte for byte and verified", "[migration]") {
    auto from = populated();
    auto to = memory();
    auto source = storage::backend_source(*from, "memory");
    MigrationOptions options;
    auto report = storage::migrate(*source, *to, options);
    CHECK(report.errors.empty());
    CHECK(report.source_sessions == 2);
    CHECK(report.sessions_copied == 2);
    CHECK(report.log_records == 5);
    CHECK(report.snapshots == 1);
    CHECK(report.records.at("modes") == 1);
    CHECK(report.records.at("policies") == 1);
    storage::verify(*source, *to, options, report);
    CHECK(report.verified);
    CHECK(storage::exit_code(report, options) == 0);
    CHECK(*to->load_log("s1") == *from->load_log("s1"));
    CHECK(*to->load_log("s2") == *from->load_log("s2"));
    CHECK(**to->load_session("s1") == "{\"snapshot\":1}");
    CHECK_FALSE(to->load_session("s2")->has_value());
    const auto text = storage::render(report);
    CHECK(text.find("sessions copied:        2") != std::string::npos);
    CHECK(text.find("verified") != std::string::npos);

    // The source is unchanged.
    CHECK(from->list_session_ids()->size() == 2);
    CHECK(from->load_log("s2")->size() == 3);
}

TEST_CASE("a non-empty target is refused unless forced, and then replaced per session", "[migration]") {
    auto from = populated();
    auto to = memory();
    put_session(*to, "s2", {entry("old", "SessionStart")});
    put_session(*to, "other", {entry("o", "SessionStart")});
    auto source = storage::backend_source(*from, "memory");
    MigrationOptions options;
    auto refused = storage::migrate(*source, *to, options);
    CHECK(refused.refused);
    CHECK(storage::exit_code(refused, options) == 1);
    CHECK(to->load_log("s2")->size() == 1);
    CHECK(to->list_session_ids()->size() == 2);

    auto records_only = memory();
    REQUIRE(records_only->put_record("policies", "p", "{}").ok());
    CHECK(storage::migrate(*source, *records_only, options).refused);

    options.force = true;
    auto forced = storage::migrate(*source, *to, options);
    CHECK(forced.errors.empty());
    CHECK(forced.target_sessions_before == 2);
    storage::verify(*source, *to, options, forced);
    CHECK(forced.verified);
    CHECK(*to->load_log("s2") == *from->load_log("s2"));
    CHECK(to->list_session_ids()->size() == 3);
}

TEST_CASE("unconvertible sessions are listed, and nothing is written unless they are skipped", "[migration]") {
    auto from = populated();
    put_session(*from, "no-start", {entry("m1", "Contribute")});
    put_session(*from, "garbage", {entry("m0", "SessionStart"), "not json"});
    put_session(*from, "empty", {});
    auto source = storage::backend_source(*from, "memory");
    auto to = memory();
    MigrationOptions options;
    auto report = storage::migrate(*source, *to, options);
    REQUIRE(report.unconvertible.size() == 2);
    CHECK(report.unconvertible[0].session_id == "garbage");
    CHECK(report.unconvertible[0].reason.find("log record 2 does not decode") != std::string::npos);
    CHECK(report.unconvertible[1].session_id == "no-start");
    CHECK(report.unconvertible[1].reason.find("SessionStart") != std::string::npos);
    CHECK(report.sessions_copied == 0);
    CHECK(to->list_session_ids()->empty());
    CHECK(storage::exit_code(report, options) == 1);
    CHECK(storage::render(report).find("no-start: its log does not begin with a SessionStart") != std::string::npos);

    bool opened = false;
    const storage::TargetOpener opener = [&]() -> Result<storage::StorageBackend*, std::string> {
        opened = true;
        return to.get();
    };
    CHECK_FALSE(storage::migrate(*source, opener, options).unconvertible.empty());
    CHECK_FALSE(opened);  // a refused migration does not even open (create) the target

    options.skip_unconvertible = true;
    auto skipped = storage::migrate(*source, *to, options);
    CHECK(skipped.errors.empty());
    CHECK(skipped.sessions_copied == 3);  // s1, s2 and the empty log
    storage::verify(*source, *to, options, skipped);
    CHECK(skipped.verified);
    CHECK(storage::exit_code(skipped, options) == 0);
    CHECK(to->list_session_ids()->size() == 3);
}

TEST_CASE("verification notices a target that does not hold what was copied", "[migration]") {
    auto from = populated();
    auto to = memory();
    auto source = storage::backend_source(*from, "memory");
    MigrationOptions options;
    auto report = storage::migrate(*source, *to, options);
    REQUIRE(report.errors.empty());
    REQUIRE(to->replace_log("s2", {entry("m0", "SessionStart")}).ok());
    REQUIRE(to->delete_record("modes", "ext.x.v1").ok());
    storage::verify(*source, *to, options, report);
    CHECK_FALSE(report.verified);
    CHECK(storage::exit_code(report, options) == 1);
    const auto text = storage::render(report);
    CHECK(text.find("session s2: the target holds 1 log records, the source 3") != std::string::npos);
    CHECK(text.find("record modes/ext.x.v1 is missing") != std::string::npos);
}

TEST_CASE("data directory layouts are told apart without touching them", "[migration]") {
    TempDir dir;
    CHECK(storage::inspect_data_dir(dir.path() / "missing") == storage::DirLayout::Missing);
    CHECK(storage::inspect_data_dir(dir.path()) == storage::DirLayout::Empty);
    dir.write("notes.txt", "x");
    CHECK(storage::inspect_data_dir(dir.path()) == storage::DirLayout::Unknown);
    dir.write("storage_version.json", "{\"version\": 3}");
    CHECK(storage::inspect_data_dir(dir.path()) == storage::DirLayout::Current);
    fs::create_directories(dir.path() / "sessions");
    dir.write("logs.json", "{}");
    CHECK(storage::inspect_data_dir(dir.path()) == storage::DirLayout::Legacy);
    fs::create_directories(dir.path() / "sessions" / "abc");
    CHECK(storage::inspect_data_dir(dir.path()) == storage::DirLayout::Mixed);
}

TEST_CASE("the reference's legacy sessions.json/logs.json layout converts", "[migration]") {
    TempDir dir;
    // Entries shaped like the reference writes them (STO-LOG-1): raw_payload is a byte array.
    const std::string start =
        R"({"message_id":"m0","received_at_ms":1700000000000,"sender":"coord","message_type":"SessionStart",)"
        R"("raw_payload":[10,1,97],"entry_kind":"Incoming","session_id":"good","mode":"macp.mode.decision.v1",)"
        R"("macp_version":"1.0","timestamp_unix_ms":1700000000000})";
    const std::string old_start =  // 0.4: no session_id/mode/macp_version/timestamp_unix_ms
        R"({"message_id":"m0","received_at_ms":1,"sender":"coord","message_type":"Contribute",)"
        R"("raw_payload":[],"entry_kind":"Incoming"})";
    dir.write("sessions.json", R"({"good":{"schema_version":2,"session_id":"good","state":"Open"},)"
                               R"("orphan":{"session_id":"orphan"}})");
    dir.write("logs.json", "{\"good\":[" + start + "],\"headless\":[" + old_start + R"(],"broken":[1,2]})");
    const auto before_sessions = fs::last_write_time(dir.path() / "sessions.json");

    auto source = storage::legacy_file_source(dir.path());
    REQUIRE(source.ok());
    auto to = memory();
    MigrationOptions options;
    options.skip_unconvertible = true;
    auto report = storage::migrate(**source, *to, options);
    CHECK(report.errors.empty());
    CHECK(report.source_sessions == 4);
    CHECK(report.sessions_copied == 1);
    REQUIRE(report.unconvertible.size() == 3);
    CHECK(report.unconvertible[0].session_id == "broken");
    CHECK(report.unconvertible[0].reason == "log entry 1 is not a JSON object");
    CHECK(report.unconvertible[1].session_id == "headless");
    CHECK(report.unconvertible[2].session_id == "orphan");
    CHECK(report.unconvertible[2].reason.find("no log") != std::string::npos);
    storage::verify(**source, *to, options, report);
    CHECK(report.verified);

    auto log = to->load_log("good");
    REQUIRE(log->size() == 1);
    CHECK(log->front() == start);  // compact, field order kept
    auto decoded = kernel::decode_entry(log->front());
    REQUIRE(decoded.ok());
    CHECK(decoded->payload == std::string("\n\x01"
                                          "a",
                                          3));
    CHECK(**to->load_session("good") == R"({"schema_version":2,"session_id":"good","state":"Open"})");
    // Only read.
    CHECK(fs::last_write_time(dir.path() / "sessions.json") == before_sessions);
    CHECK_FALSE(fs::exists(dir.path() / "sessions"));
    CHECK_FALSE(fs::exists(dir.path() / "storage_version.json"));

    dir.write("logs.json", "[1]");
    auto bad = storage::legacy_file_source(dir.path());
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().find("not a JSON object") != std::string::npos);
}
