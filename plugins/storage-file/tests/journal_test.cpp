// The write-ahead journal (src/journal.hpp): what a commit costs in syscalls, that a power loss
// is repaired from it, checkpoints and segment reuse, its failures, and its settings.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <map>
#include <thread>

#include "crash_fs.hpp"
#include "test_support.hpp"

namespace macp::storage_file::testing {
namespace {

// Files of the journal directory, without the recycled ones.
std::vector<std::string> live_segments(CrashFs& fs) {
    std::vector<DirEntry> entries;
    std::vector<std::string> out;
    if (fs.list_dir(kData + "/journal", entries) != 0) return out;
    for (const auto& e : entries) {
        if (e.name.rfind("free-", 0) != 0) out.push_back(e.name);
    }
    return out;
}

size_t count_free(CrashFs& fs) {
    std::vector<DirEntry> entries;
    if (fs.list_dir(kData + "/journal", entries) != 0) return 0;
    return static_cast<size_t>(
        std::count_if(entries.begin(), entries.end(), [](const DirEntry& e) { return e.name.rfind("free-", 0) == 0; }));
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

const ImageSpec kPowerLoss{ImageSpec::Meta::durable, ImageSpec::Data::durable, 0};

}  // namespace

TEST_CASE("a group commit is one journal write and one fdatasync, no syncfs, no log sync", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    auto store = open_store(fs, kData, inline_journal(64 << 10));
    store->create_session_storage(kA);
    store->create_session_storage(kB);
    append_batch(*store, {{kA, "warm"}, {kB, "warm"}});  // creates the log files and the first segment

    const long fdatasyncs = fs->calls(Call::fdatasync);
    const long syncfs = fs->calls(Call::syncfs);
    const long fsyncs = fs->calls(Call::fsync);
    const long writes = fs->calls(Call::write);
    const auto status = append_batch(*store, {{kA, "a1"}, {kB, "b1"}, {kA, "a2"}, {kB, "b2"}});
    CHECK(status == std::vector<macp_status>(4, MACP_STATUS_OK));
    CHECK(fs->calls(Call::fdatasync) == fdatasyncs + 1);
    CHECK(fs->calls(Call::syncfs) == syncfs);
    CHECK(fs->calls(Call::fsync) == fsyncs);
    CHECK(fs->calls(Call::write) == writes + 4 + 1);  // each log line, then the journal once
    CHECK(load_log(*store, kA) == std::vector<std::string>{"warm", "a1", "a2"});
    CHECK(contains(store->health(), "write-ahead journal"));
}

TEST_CASE("after a power loss the journal restores what the logs had not synced", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    {
        auto store = open_store(fs, kData, inline_journal(64 << 10));
        store->create_session_storage(kA);
        store->create_session_storage(kB);
        append_batch(*store, {{kA, "a1"}, {kB, "b1"}});
        store->append_log_entry(kA, "a2");
        append_batch(*store, {{kB, "b2"}, {kA, "a3"}});
    }
    const auto image = fs->crash_image(kPowerLoss);
    // The logs on the disk really lack the records: only the journal has them.
    CHECK(image->contents(log_path(kA)).value_or("") != "a1\na2\na3\n");

    auto store = open_store(image, kData, inline_journal(64 << 10));
    const auto repairs = recover(*store);
    CHECK(load_log(*store, kA) == std::vector<std::string>{"a1", "a2", "a3"});
    CHECK(load_log(*store, kB) == std::vector<std::string>{"b1", "b2"});
    REQUIRE_FALSE(repairs.empty());
    CHECK(contains(repairs.back(), "journal: replayed 5 records"));
    CHECK(recover(*store).empty());
    CHECK(live_segments(*image).empty());  // replayed, synced, retired

    // The repaired state is durable by itself: another power loss right now loses nothing.
    auto again = open_store(image->crash_image(kPowerLoss), kData, inline_journal(64 << 10));
    CHECK(load_log(*again, kA) == std::vector<std::string>{"a1", "a2", "a3"});
}

TEST_CASE("a record written to a log whose journal write never happened is cut at replay", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    {
        auto store = open_store(fs, kData, inline_journal(64 << 10));
        store->create_session_storage(kA);
        store->append_log_entry(kA, "a1");
        fs->inject(Call::write, EIO, "/journal/", 1);
        const Outcome o = attempt([&] { store->append_log_entry(kA, "never-acknowledged"); });
        CHECK(o.status == MACP_STATUS_IO_ERROR);
        CHECK(contains(o.message, "journal"));
        // Not fail-stop: the next commit goes through.
        store->append_log_entry(kA, "a2");
        CHECK(load_log(*store, kA) == std::vector<std::string>{"a1", "a2"});
    }
    auto store = open_store(fs->crash_image(kPowerLoss), kData, inline_journal(64 << 10));
    recover(*store);
    CHECK(load_log(*store, kA) == std::vector<std::string>{"a1", "a2"});
}

TEST_CASE("a journal write cut short is erased, so its whole frames never come back", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    auto store = open_store(fs, kData, inline_journal(256));
    store->create_session_storage(kA);
    store->create_session_storage(kB);
    store->append_log_entry(kA, "a0");
    // The batch's three frames (162 bytes each) do not fit in what is left of the 256-byte
    // segment: the commit rotates to the recycled first segment (256 bytes, no new space) and
    // writes 486 bytes over it. Room for the log lines (3 x 101) and 100 bytes of growth: the
    // first two frames land whole, then the write fails with ENOSPC.
    const std::string big(100, 'x');
    fs->set_capacity(fs->used_bytes() + 3 * 101 + 100);
    Outcome call;
    const auto status = append_batch(*store, {{kA, big}, {kB, big}, {kA, big}}, &call);
    CHECK(status == std::vector<macp_status>(3, MACP_STATUS_IO_ERROR));
    CHECK(contains(call.message, "No space left"));
    CHECK(contains(call.message, "/journal/"));
    fs->set_capacity(std::nullopt);
    CHECK(load_log(*store, kA) == std::vector<std::string>{"a0"});
    CHECK(load_log(*store, kB).empty());

    // Even with every unsynced byte on the disk, replay finds no frame of the failed batch.
    store.reset();
    const ImageSpec everything{ImageSpec::Meta::current, ImageSpec::Data::current, 0};
    auto reopened = open_store(fs->crash_image(everything), kData, inline_journal(256));
    recover(*reopened);
    CHECK(load_log(*reopened, kA) == std::vector<std::string>{"a0"});
    CHECK(load_log(*reopened, kB).empty());
}

TEST_CASE("a failed journal fdatasync stops the store and the batch is rolled back", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    auto store = open_store(fs, kData, inline_journal(64 << 10));
    store->create_session_storage(kA);
    store->create_session_storage(kB);
    store->append_log_entry(kA, "a1");
    fs->inject(Call::fdatasync, EIO, "/journal/", 1);
    Outcome call;
    const auto status = append_batch(*store, {{kA, "a2"}, {kB, "b1"}}, &call);
    CHECK(status == std::vector<macp_status>(2, MACP_STATUS_IO_ERROR));
    CHECK(contains(call.message, "storage stopped after a failed fdatasync of /data/journal/"));
    CHECK(load_log(*store, kA) == std::vector<std::string>{"a1"});
    CHECK(attempt([&] { store->append_log_entry(kA, "later"); }).status == MACP_STATUS_IO_ERROR);
    CHECK(attempt([&] { store->flush(); }).status == MACP_STATUS_IO_ERROR);
    CHECK(attempt([&] { store->health(); }).status == MACP_STATUS_IO_ERROR);
}

TEST_CASE("full segments are checkpointed, recycled and at most two kept", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    auto store = open_store(fs, kData, inline_journal(256));
    store->create_session_storage(kA);
    const long syncfs_before = fs->calls(Call::syncfs);
    const long writes_before = fs->calls(Call::write);
    std::vector<std::string> expected;
    for (int i = 0; i < 60; ++i) {
        expected.push_back("record-" + std::to_string(i) + "-" + std::string(40, 'p'));
        store->append_log_entry(kA, expected.back());
        CHECK(live_segments(*fs).size() == 1);
        CHECK(count_free(*fs) <= 2);
    }
    // About one checkpoint per segment: (60 frames of ~110 bytes) / 256-byte segments.
    const long checkpoints = fs->calls(Call::syncfs) - syncfs_before;
    CHECK(checkpoints >= 20);
    CHECK(checkpoints <= 60);
    // 60 log lines and 60 journal writes; every other write zero-fills a new segment: after the
    // first few, retired segments are reused instead.
    const long zero_fills = fs->calls(Call::write) - writes_before - 120;
    CHECK(zero_fills <= 2);
    CHECK(load_log(*store, kA) == expected);

    // A power loss with recycled segments in use (their stale frames must not replay).
    auto image = fs->crash_image(kPowerLoss);
    auto reopened = open_store(image, kData, inline_journal(256));
    recover(*reopened);
    CHECK(load_log(*reopened, kA) == expected);
    reopened->append_log_entry(kA, "after");
    expected.push_back("after");
    CHECK(load_log(*reopened, kA) == expected);
}

TEST_CASE("replace_log and delete_session: old frames never replay into the new log", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    {
        auto store = open_store(fs, kData, inline_journal(64 << 10));
        store->create_session_storage(kA);
        store->append_log_entry(kA, "old-1");
        store->append_log_entry(kA, "old-2");
        store->replace_log(kA, {"compacted"});
        store->append_log_entry(kA, "new-1");

        store->create_session_storage(kB);
        store->append_log_entry(kB, "first-life-1");
        store->append_log_entry(kB, "first-life-2");
        store->delete_session(kB);
        store->create_session_storage(kB);
        store->append_log_entry(kB, "second-life");
    }
    auto store = open_store(fs->crash_image(kPowerLoss), kData, inline_journal(64 << 10));
    recover(*store);
    CHECK(load_log(*store, kA) == std::vector<std::string>{"compacted", "new-1"});
    CHECK(load_log(*store, kB) == std::vector<std::string>{"second-life"});
}

TEST_CASE("flush empties the journal: the directory holds only synced logs", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    auto store = open_store(fs, kData, inline_journal(64 << 10));
    store->create_session_storage(kA);
    append_batch(*store, {{kA, "a1"}, {kA, "a2"}});
    CHECK(live_segments(*fs).size() == 1);
    store->flush();
    CHECK(live_segments(*fs).empty());
    // Nothing depends on the journal any more: a power loss that keeps no journal file at all.
    auto image = fs->crash_image(kPowerLoss);
    CHECK(image->contents(log_path(kA)) == std::optional<std::string>("a1\na2\n"));
    store->append_log_entry(kA, "a3");  // and it goes on writing
    CHECK(load_log(*store, kA) == std::vector<std::string>{"a1", "a2", "a3"});
}

TEST_CASE("with background checkpoints many commits from several threads all read back", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    JournalOptions options;
    options.segment_bytes = 2048;  // background = true: the plugin's own mode
    auto store = open_store(fs, kData, options);
    const std::vector<std::string> sessions = {kA, kB, "session-cccccccccccccccccccccc"};
    for (const auto& sid : sessions) store->create_session_storage(sid);
    std::vector<std::thread> threads;
    for (const auto& sid : sessions) {
        threads.emplace_back([&, sid] {
            for (int i = 0; i < 300; ++i) store->append_log_entry(sid, sid + "-" + std::to_string(i));
        });
    }
    for (auto& t : threads) t.join();
    store->flush();
    store.reset();
    auto reopened = open_store(fs->crash_image(kPowerLoss), kData, options);
    CHECK(recover(*reopened).empty());
    for (const auto& sid : sessions) {
        const auto log = load_log(*reopened, sid);
        REQUIRE(log.size() == 300);
        for (int i = 0; i < 300; ++i) CHECK(log[static_cast<size_t>(i)] == sid + "-" + std::to_string(i));
    }
}

TEST_CASE("a record larger than four segments waits for the next segment, then lands", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    JournalOptions options;
    options.segment_bytes = 4096;  // background = true
    auto store = open_store(fs, kData, options);
    store->create_session_storage(kA);
    store->append_log_entry(kA, "small");  // the first segment is in use, nearly empty
    const std::string huge(5 * 4096, 'h');
    store->append_log_entry(kA, huge);  // more than 4x the active segment: waits for the checkpointer
    store->append_log_entry(kA, "after");
    CHECK(load_log(*store, kA) == std::vector<std::string>{"small", huge, "after"});
    store.reset();
    auto reopened = open_store(fs->crash_image(kPowerLoss), kData, options);
    recover(*reopened);
    CHECK(load_log(*reopened, kA) == std::vector<std::string>{"small", huge, "after"});
}

TEST_CASE("huge records from several threads and concurrent flushes all land", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    JournalOptions options;
    options.segment_bytes = 4096;  // background = true
    auto store = open_store(fs, kData, options);
    const std::vector<std::string> sessions = {kA, kB, "session-cccccccccccccccccccccc"};
    for (const auto& sid : sessions) store->create_session_storage(sid);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < sessions.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) {
                // Every other record is larger than four segments: commits wait for rotations.
                const std::string rec = std::to_string(i) + std::string(i % 2 == 0 ? 5 * 4096 : 10, 'r');
                store->append_log_entry(sessions[t], rec);
            }
        });
    }
    std::thread flusher([&] {
        for (int i = 0; i < 20; ++i) store->flush();
    });
    for (auto& t : threads) t.join();
    flusher.join();
    store.reset();
    auto reopened = open_store(fs->crash_image(kPowerLoss), kData, options);
    recover(*reopened);
    for (const auto& sid : sessions) {
        const auto log = load_log(*reopened, sid);
        REQUIRE(log.size() == 20);
        for (int i = 0; i < 20; ++i) {
            CHECK(log[static_cast<size_t>(i)] == std::to_string(i) + std::string(i % 2 == 0 ? 5 * 4096 : 10, 'r'));
        }
    }
}

TEST_CASE("a log that lost data older than the journal stops the start with CORRUPT", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    {
        auto store = open_store(fs, kData, inline_journal(64 << 10));
        store->create_session_storage(kA);
        store->append_log_entry(kA, "a1");
        store->flush();                     // a1 is in the log, on disk; the journal is empty
        store->append_log_entry(kA, "a2");  // journaled at offset 3
    }
    auto image = fs->crash_image(kPowerLoss);
    image->put_file(log_path(kA), "");  // a disk that lied about a sync: a1 is gone
    const Outcome o = attempt([&] { open_store(image, kData, inline_journal(64 << 10)); });
    CHECK(o.status == MACP_STATUS_CORRUPT);
    CHECK(contains(o.message,
                   "a record of session " + kA + " starts at byte 3 of " + log_path(kA) + ", which has only 0 bytes"));
}

TEST_CASE("without syncfs the journal is off and the store syncs each log", "[journal]") {
    auto fs = std::make_shared<CrashFs>();
    fs->inject(Call::syncfs, ENOSYS);
    auto store = open_store(fs, kData, inline_journal(64 << 10));
    CHECK(contains(store->health(), "journal off: this system offers no syncfs()"));
    store->create_session_storage(kA);
    const long fdatasyncs = fs->calls(Call::fdatasync);
    store->append_log_entry(kA, "a1");
    CHECK(fs->calls(Call::fdatasync) == fdatasyncs + 1);
    CHECK_FALSE(fs->exists(kData + "/journal"));
}

TEST_CASE("MACP_FILE_JOURNAL and MACP_FILE_JOURNAL_SEGMENT_MB", "[journal]") {
    auto options = [](std::map<std::string, std::string> values) {
        return FileStorage::journal_options(sdk::Config(std::move(values)));
    };
    CHECK(options({}).enabled);
    CHECK(options({}).segment_bytes == size_t{16} << 20);
    CHECK_FALSE(options({{"MACP_FILE_JOURNAL", "off"}}).enabled);
    CHECK(options({{"MACP_FILE_JOURNAL_SEGMENT_MB", "64"}}).segment_bytes == size_t{64} << 20);
    for (const char* bad : {"yes", ""}) {
        const Outcome o = attempt([&] { options({{"MACP_FILE_JOURNAL", bad}}); });
        CHECK(o.status == MACP_STATUS_INVALID_ARGUMENT);
        CHECK(contains(o.message, "MACP_FILE_JOURNAL="));
    }
    for (const char* bad : {"0", "1025", "-1", "8x", ""}) {
        const Outcome o = attempt([&] { options({{"MACP_FILE_JOURNAL_SEGMENT_MB", bad}}); });
        CHECK(o.status == MACP_STATUS_INVALID_ARGUMENT);
        CHECK(contains(o.message, "MACP_FILE_JOURNAL_SEGMENT_MB="));
    }
    // Off: no journal directory is ever made.
    auto fs = std::make_shared<CrashFs>();
    auto store = std::make_unique<FileStorage>(
        sdk::Config({{FileStorage::kDataDirKey, kData}, {"MACP_FILE_JOURNAL", "off"}}), fs);
    store->create_session_storage(kA);
    store->append_log_entry(kA, "a1");
    CHECK_FALSE(fs->exists(kData + "/journal"));
    CHECK(contains(store->health(), "journal off"));
}

}  // namespace macp::storage_file::testing
