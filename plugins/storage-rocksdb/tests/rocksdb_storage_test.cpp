// RocksDbStorage on a real temp directory: key layout and ordering, and the start-up failures
// (locked, unwritable, corrupted database) that must be one clear message, never a crash.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "rocksdb_storage.hpp"

namespace macp::storage_rocksdb {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "macp-storage-rocksdb-XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

sdk::Config config_for(const std::string& db) {
    return sdk::Config(std::map<std::string, std::string>{{"MACP_ROCKSDB_PATH", db}});
}

// Collects what an operation emits.
struct Collector {
    std::vector<std::string> items;
    macp_emitter raw{sizeof(macp_emitter), this, &Collector::emit};
    static void emit(void* ctx, const uint8_t* p, size_t n) {
        static_cast<Collector*>(ctx)->items.emplace_back(reinterpret_cast<const char*>(p), n);
    }
    [[nodiscard]] sdk::Emitter emitter() const { return sdk::Emitter(&raw); }
};

std::vector<std::string> load_log(RocksDbStorage& s, const std::string& sid) {
    Collector c;
    s.load_log(sid, c.emitter());
    return c.items;
}

std::string rec(std::uint64_t i) {
    return "{\"n\":" + std::to_string(i) + "}";
}

// The message and status of create() on `config`, or "" when it succeeded.
std::pair<macp_status, std::string> create_failure(const sdk::Config& config) {
    try {
        RocksDbStorage s(config);
    } catch (const sdk::Error& e) {
        return {e.status(), e.what()};
    }
    return {MACP_STATUS_OK, ""};
}

const std::string kSid = "session-aaaaaaaaaaaaaaaaaa";

TEST_CASE("log keys are the session id, 0x00 and a big-endian sequence", "[layout]") {
    CHECK(log_key("s", 1) == std::string("s\0\0\0\0\0\0\0\0\x01", 10));
    CHECK(log_key("s", 0x0102030405060708ULL) == std::string("s\0\x01\x02\x03\x04\x05\x06\x07\x08", 10));
    // Byte-wise order is numeric order across the 1-, 2- and 3-byte boundaries.
    for (const std::uint64_t n : {255ULL, 256ULL, 65535ULL, 65536ULL, 16777215ULL, 0xFFFFFFFFULL}) {
        CHECK(log_key("s", n) < log_key("s", n + 1));
    }
    // One session's keys never interleave with another's, even when one id prefixes the other.
    CHECK(log_key("ab", ~0ULL) < log_key("abc", 0));
    CHECK(log_key("ab", ~0ULL) < std::string("ab\x01"));
    // Record keys: the namespace is length-prefixed, so ("a","bc") and ("ab","c") differ.
    CHECK(record_key("a", "bc") != record_key("ab", "c"));
    CHECK(record_key("ns", "k") == std::string("\0\0\0\x02nsk", 7));
}

TEST_CASE("logs keep append order past 255 and 65535 entries", "[layout]") {
    TempDir tmp;
    const std::string other = "session-bbbbbbbbbbbbbbbbbb";
    constexpr std::uint64_t kTotal = 70000;
    std::vector<std::string> expected;
    {
        RocksDbStorage s(config_for(tmp.path() + "/db"));
        // A few single appends, then big batches (one synced write each) interleaved with another
        // session.
        for (std::uint64_t i = 0; i < 300; ++i) {
            s.append_log_entry(kSid, rec(i));
            expected.push_back(rec(i));
        }
        std::uint64_t next = 300;
        while (next < kTotal) {
            std::vector<std::string> records;
            std::vector<sdk::LogAppend> items;
            for (std::uint64_t i = 0; i < 10000 && next < kTotal; ++i, ++next) records.push_back(rec(next));
            items.reserve(records.size() * 2);
            for (const auto& r : records) {
                items.push_back({kSid, r});
                items.push_back({other, r});
            }
            std::vector<macp_status> status(items.size(), MACP_STATUS_INTERNAL);
            s.append_log_batch(items, status, sdk::CallContext(nullptr));
            for (const auto st : status) REQUIRE(st == MACP_STATUS_OK);
            expected.insert(expected.end(), records.begin(), records.end());
        }
        CHECK(load_log(s, kSid) == expected);

        // The stored keys themselves: consecutive big-endian sequence numbers from 0.
        std::unique_ptr<rocksdb::Iterator> it(s.db()->NewIterator(rocksdb::ReadOptions(), s.logs_family()));
        std::uint64_t seq = 0;
        for (it->Seek(log_prefix(kSid)); it->Valid() && it->key().starts_with(log_prefix(kSid)); it->Next()) {
            if (it->key().ToString() != log_key(kSid, seq)) {
                FAIL("key #" << seq << " is not log_key(sid, " << seq << ")");
            }
            ++seq;
        }
        CHECK(seq == kTotal);
    }
    // After a restart the sequence cache is rebuilt by a reverse seek: appends continue in order.
    RocksDbStorage s(config_for(tmp.path() + "/db"));
    s.append_log_entry(kSid, rec(kTotal));
    expected.push_back(rec(kTotal));
    const auto loaded = load_log(s, kSid);
    REQUIRE(loaded.size() == kTotal + 1);
    CHECK(loaded == expected);
    CHECK(load_log(s, other).size() == kTotal - 300);
    // replace_log restarts the sequence; later appends follow the new records.
    s.replace_log(kSid, {"{\"r\":1}", "{\"r\":2}"});
    s.append_log_entry(kSid, "{\"r\":3}");
    CHECK(load_log(s, kSid) == std::vector<std::string>{"{\"r\":1}", "{\"r\":2}", "{\"r\":3}"});
}

TEST_CASE("append_log_batch: a bad record fails alone and stops its session's later items", "[layout]") {
    TempDir tmp;
    RocksDbStorage s(config_for(tmp.path() + "/db"));
    const std::string other = "session-cccccccccccccccccc";
    const std::vector<sdk::LogAppend> items = {{kSid, "a"}, {other, "x"},           {kSid, ""},
                                               {kSid, "b"}, {other, "bad\nrecord"}, {other, "y"}};
    std::vector<macp_status> status(items.size(), MACP_STATUS_INTERNAL);
    s.append_log_batch(items, status, sdk::CallContext(nullptr));
    CHECK(status[0] == MACP_STATUS_OK);
    CHECK(status[1] == MACP_STATUS_OK);
    CHECK(status[2] == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(status[3] == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(status[4] == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(status[5] == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(load_log(s, kSid) == std::vector<std::string>{"a"});
    CHECK(load_log(s, other) == std::vector<std::string>{"x"});
}

TEST_CASE("a database locked by another process fails create with the path and 'lock'", "[errors]") {
    TempDir tmp;
    const std::string db = tmp.path() + "/db";
    { RocksDbStorage first(config_for(db)); }
    // Another process holds RocksDB's lock (an fcntl write lock on <db>/LOCK, as RocksDB takes it).
    int ready[2];
    int release[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const int fd = ::open((db + "/LOCK").c_str(), O_RDWR);
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        const char ok = (fd >= 0 && ::fcntl(fd, F_SETLK, &fl) == 0) ? '1' : '0';
        (void)!::write(ready[1], &ok, 1);
        char c = 0;
        (void)!::read(release[0], &c, 1);
        ::_exit(0);
    }
    char ok = 0;
    REQUIRE(::read(ready[0], &ok, 1) == 1);
    REQUIRE(ok == '1');
    const auto [status, message] = create_failure(config_for(db));
    (void)!::write(release[1], "x", 1);
    int wstatus = 0;
    ::waitpid(child, &wstatus, 0);
    for (const int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
    INFO(message);
    CHECK(status == MACP_STATUS_IO_ERROR);
    CHECK(message.find(db) != std::string::npos);
    CHECK(message.find("lock") != std::string::npos);

    // Two instances in one process: the second create fails the same way.
    RocksDbStorage first(config_for(db));
    const auto [status2, message2] = create_failure(config_for(db));
    INFO(message2);
    CHECK(status2 == MACP_STATUS_IO_ERROR);
    CHECK(message2.find(db) != std::string::npos);
    CHECK(message2.find("lock") != std::string::npos);
}

TEST_CASE("an unusable path fails create with the path and the cause", "[errors]") {
    TempDir tmp;
    std::ofstream(tmp.path() + "/file") << "not a directory";
    const std::string db = tmp.path() + "/file/sub/db";
    const auto [status, message] = create_failure(config_for(db));
    INFO(message);
    CHECK(status == MACP_STATUS_IO_ERROR);
    CHECK(message.find(db) != std::string::npos);
    CHECK(message.find("Not a directory") != std::string::npos);
    CHECK_THROWS_AS(RocksDbStorage::check_config(config_for(db)), sdk::Error);

    const std::string file_db = tmp.path() + "/file";
    const auto [status2, message2] = create_failure(config_for(file_db));
    INFO(message2);
    CHECK(status2 == MACP_STATUS_IO_ERROR);
    CHECK(message2.find(file_db) != std::string::npos);

    if (::geteuid() != 0) {  // root ignores permissions
        const std::string ro = tmp.path() + "/ro";
        fs::create_directory(ro);
        fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
        const auto [status3, message3] = create_failure(config_for(ro + "/db"));
        INFO(message3);
        CHECK(status3 == MACP_STATUS_IO_ERROR);
        CHECK(message3.find(ro + "/db") != std::string::npos);
        CHECK_THROWS_AS(RocksDbStorage::check_config(config_for(ro + "/db")), sdk::Error);
        fs::permissions(ro, fs::perms::owner_all);
    }
}

TEST_CASE("a corrupted database fails create with CORRUPT, the path and RocksDB's text", "[errors]") {
    TempDir tmp;
    const std::string db = tmp.path() + "/db";
    {
        RocksDbStorage s(config_for(db));
        s.append_log_entry(kSid, "{}");
    }
    std::ofstream(db + "/CURRENT", std::ios::trunc) << "garbage";
    const auto [status, message] = create_failure(config_for(db));
    INFO(message);
    CHECK(status == MACP_STATUS_CORRUPT);
    CHECK(message.find(db) != std::string::npos);
    CHECK(message.find("Corruption") != std::string::npos);
}

TEST_CASE("check_config creates nothing and rejects bad tuning values", "[errors]") {
    TempDir tmp;
    const std::string db = tmp.path() + "/a/b/db";
    RocksDbStorage::check_config(config_for(db));
    CHECK_FALSE(fs::exists(tmp.path() + "/a"));
    // Default path: <MACP_DATA_DIR>/rocksdb.
    const sdk::Config by_dir(std::map<std::string, std::string>{{"MACP_DATA_DIR", tmp.path() + "/d"}});
    CHECK(db_path(by_dir) == tmp.path() + "/d/rocksdb");
    RocksDbStorage::check_config(by_dir);
    CHECK_FALSE(fs::exists(tmp.path() + "/d"));
    const sdk::Config bad(
        std::map<std::string, std::string>{{"MACP_ROCKSDB_PATH", db}, {"MACP_ROCKSDB_BLOCK_CACHE_MB", "lots"}});
    try {
        RocksDbStorage::check_config(bad);
        FAIL("check_config accepted MACP_ROCKSDB_BLOCK_CACHE_MB=lots");
    } catch (const sdk::Error& e) {
        CHECK(e.status() == MACP_STATUS_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("MACP_ROCKSDB_BLOCK_CACHE_MB") != std::string::npos);
    }
}

}  // namespace
}  // namespace macp::storage_rocksdb
