// Fail-stop after a failed sync, clean rejections on failed writes, and what health() reports,
// driven through CrashFs's fault injection. These run the store without its journal (every log
// synced at each commit, MACP_FILE_JOURNAL=off); journal_test.cpp covers the journal's own.
#include <catch2/catch.hpp>

#include <cerrno>

#include "crash_fs.hpp"
#include "test_support.hpp"

namespace macp::storage_file::testing {
namespace {

struct Fixture {
    std::shared_ptr<CrashFs> fs = std::make_shared<CrashFs>();
    std::unique_ptr<FileStorage> store = open_store(fs, kData, no_journal());

    Fixture() {
        for (const auto& sid : {kA, kB}) {
            store->create_session_storage(sid);
            store->append_log_entry(sid, "r1");
        }
    }
    FileStorage& s() { return *store; }
};

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Every kind of write, each expected to fail with `message` in its error.
void check_every_write_fails(FileStorage& s, const std::string& message) {
    const std::vector<std::pair<const char*, Outcome>> writes = {
        {"append_log_entry", attempt([&] { s.append_log_entry(kA, "later"); })},
        {"append_log_entry (other session)", attempt([&] { s.append_log_entry(kB, "later"); })},
        {"create_session_storage", attempt([&] { s.create_session_storage("session-cccccccccccccccccccccc"); })},
        {"save_session", attempt([&] { s.save_session(kA, "snap"); })},
        {"replace_log", attempt([&] { s.replace_log(kA, {"x"}); })},
        {"delete_session", attempt([&] { s.delete_session(kB); })},
        {"put_record", attempt([&] { s.put_record("ns", "k", "v"); })},
        {"delete_record", attempt([&] { s.delete_record("ns", "k"); })},
        {"flush", attempt([&] { s.flush(); })},
        {"health", attempt([&] { s.health(); })},
    };
    for (const auto& [name, o] : writes) {
        INFO(name << ": " << o.message);
        CHECK(o.status == MACP_STATUS_IO_ERROR);
        CHECK(contains(o.message, message));
    }
    Outcome call;
    const auto status = append_batch(s, {{kA, "b1"}, {kB, "b2"}}, &call);
    CHECK(status == std::vector<macp_status>{MACP_STATUS_IO_ERROR, MACP_STATUS_IO_ERROR});
    CHECK(contains(call.message, message));
}

}  // namespace

TEST_CASE("a failed fdatasync stops the store until restart", "[fail-stop]") {
    Fixture f;
    f.fs->inject(Call::fdatasync, EIO, "log.jsonl", 1);  // once: a retry would succeed
    const long syncs_before = f.fs->calls(Call::fdatasync);

    const Outcome o = attempt([&] { f.s().append_log_entry(kA, "r2"); });
    const std::string expected = "storage stopped after a failed fdatasync of " + log_path(kA) +
                                 ": Input/output error; restart the runtime to recover from the log";
    CHECK(o.status == MACP_STATUS_IO_ERROR);
    CHECK(o.message == expected);

    check_every_write_fails(f.s(), expected);
    CHECK(f.fs->calls(Call::fdatasync) == syncs_before + 1);  // never retried
    const Outcome h = attempt([&] { f.s().health(); });
    CHECK(h.message == "file storage at /data: " + expected);

    // Reads go on; the failed record was rolled back.
    CHECK(load_log(f.s(), kA) == std::vector<std::string>{"r1"});
    CHECK(load_log(f.s(), kB) == std::vector<std::string>{"r1"});

    // A restart recovers from what is on disk and writes again.
    f.store.reset();
    auto restarted = open_store(f.fs, kData, no_journal());
    CHECK(recover(*restarted).empty());
    CHECK(load_log(*restarted, kA) == std::vector<std::string>{"r1"});
    restarted->append_log_entry(kA, "r3");
    CHECK(load_log(*restarted, kA) == std::vector<std::string>{"r1", "r3"});
    CHECK_NOTHROW(restarted->health());
}

TEST_CASE("a failed syncfs fails the whole batch and is not retried per file", "[fail-stop]") {
    Fixture f;
    f.fs->inject(Call::syncfs, EIO, "", 1);
    const long fdatasyncs = f.fs->calls(Call::fdatasync);
    Outcome call;
    const auto status = append_batch(f.s(), {{kA, "a2"}, {kB, "b2"}, {kA, "a3"}}, &call);
    CHECK(status == std::vector<macp_status>(3, MACP_STATUS_IO_ERROR));
    CHECK(contains(call.message, "storage stopped after a failed syncfs of the filesystem of /data"));
    CHECK(f.fs->calls(Call::fdatasync) == fdatasyncs);  // no per-file fallback
    CHECK(load_log(f.s(), kA) == std::vector<std::string>{"r1"});
    CHECK(load_log(f.s(), kB) == std::vector<std::string>{"r1"});
    check_every_write_fails(f.s(), "failed syncfs");
}

TEST_CASE("without syncfs (ENOSYS, seccomp EPERM) a batch syncs each log instead", "[fail-stop]") {
    Fixture f;
    for (const int err : {ENOSYS, EPERM}) {
        f.fs->inject(Call::syncfs, err, "", 1);
        const long fdatasyncs = f.fs->calls(Call::fdatasync);
        const auto status = append_batch(f.s(), {{kA, "a" + std::to_string(err)}, {kB, "b" + std::to_string(err)}});
        CHECK(status == std::vector<macp_status>(2, MACP_STATUS_OK));
        CHECK(f.fs->calls(Call::fdatasync) == fdatasyncs + 2);
    }
    CHECK_NOTHROW(f.s().health());
    CHECK(load_log(f.s(), kA).size() == 3);
}

TEST_CASE("a failed fdatasync in a one-session batch stops the store", "[fail-stop]") {
    Fixture f;
    f.fs->inject(Call::fdatasync, EIO, log_path(kA), 1);
    Outcome call;
    const auto status = append_batch(f.s(), {{kA, "a2"}, {kA, "a3"}}, &call);
    CHECK(status == std::vector<macp_status>(2, MACP_STATUS_IO_ERROR));
    check_every_write_fails(f.s(), "failed fdatasync of " + log_path(kA));
}

TEST_CASE("a failed fsync of a file or directory stops the store", "[fail-stop]") {
    Fixture f;
    std::string expected;
    SECTION("the session directory after create") {
        f.fs->inject_exact(Call::fsync, EIO, "/data/sessions", 1);
        const Outcome o = attempt([&] { f.s().create_session_storage("session-dddddddddddddddddddddd"); });
        expected = "failed fsync of /data/sessions: Input/output error";
        CHECK(contains(o.message, expected));
    }
    SECTION("the snapshot's temp file") {
        f.fs->inject(Call::fsync, ENOSPC, "session.json.tmp", 1);
        const Outcome o = attempt([&] { f.s().save_session(kA, "snap"); });
        expected = "failed fsync of /data/sessions/" + kA + "/session.json.tmp: No space left on device";
        CHECK(contains(o.message, expected));
        CHECK_FALSE(f.fs->exists(kData + "/sessions/" + kA + "/session.json.tmp"));
    }
    SECTION("a registry namespace after the rename") {
        f.fs->inject_exact(Call::fsync, EIO, "/data/registry/ns", 1);
        const Outcome o = attempt([&] { f.s().put_record("ns", "k", "v"); });
        expected = "failed fsync of /data/registry/ns: Input/output error";
        CHECK(contains(o.message, expected));
    }
    check_every_write_fails(f.s(), expected);
}

TEST_CASE("a failed write is rejected, rolled back, and writes resume once space returns", "[fail-stop]") {
    Fixture f;
    f.fs->set_capacity(f.fs->used_bytes() + 5);  // room for a short write, not for a record
    const std::string big(100, 'x');

    const Outcome o = attempt([&] { f.s().append_log_entry(kA, big); });
    CHECK(o.status == MACP_STATUS_IO_ERROR);
    CHECK(o.message == "write " + log_path(kA) + ": No space left on device");
    CHECK(f.fs->contents(log_path(kA)) == std::string("r1\n"));  // the short write was cut off

    Outcome call;
    const auto status = append_batch(f.s(), {{kA, big}, {kA, "a-after"}, {kB, big}}, &call);
    CHECK(status[0] == MACP_STATUS_IO_ERROR);
    CHECK(status[1] != MACP_STATUS_OK);
    CHECK(status[2] == MACP_STATUS_IO_ERROR);
    CHECK(attempt([&] { f.s().save_session(kA, big); }).status == MACP_STATUS_IO_ERROR);
    CHECK_FALSE(f.fs->exists(kData + "/sessions/" + kA + "/session.json.tmp"));
    CHECK(attempt([&] { f.s().put_record("ns", "k", big); }).status == MACP_STATUS_IO_ERROR);

    const Outcome h = attempt([&] { f.s().health(); });
    CHECK(h.status == MACP_STATUS_IO_ERROR);
    CHECK(h.message == "file storage at /data cannot write: write /data/.health-probe.tmp: No space left on device");
    CHECK_FALSE(f.fs->exists("/data/.health-probe.tmp"));

    // Space returns: no restart needed.
    f.fs->set_capacity(std::nullopt);
    CHECK_NOTHROW(f.s().health());
    f.s().append_log_entry(kA, "r2");
    CHECK(append_batch(f.s(), {{kA, "r3"}, {kB, "r2"}}) == std::vector<macp_status>(2, MACP_STATUS_OK));
    f.s().save_session(kA, big);
    CHECK(load_log(f.s(), kA) == std::vector<std::string>{"r1", "r2", "r3"});
    CHECK(load_log(f.s(), kB) == std::vector<std::string>{"r1", "r2"});
    CHECK(f.fs->contents(log_path(kA)) == std::string("r1\nr2\nr3\n"));
}

TEST_CASE("other write errors are not fail-stop either", "[fail-stop]") {
    Fixture f;
    for (const int err : {EDQUOT, EFBIG, EACCES, EIO}) {
        INFO(err);
        f.fs->inject(Call::write, err, log_path(kA), 1);
        const Outcome o = attempt([&] { f.s().append_log_entry(kA, "lost"); });
        CHECK(o.status == MACP_STATUS_IO_ERROR);
        CHECK(contains(o.message, "write " + log_path(kA) + ": " + errno_text(err)));
    }
    f.s().append_log_entry(kA, "r2");
    CHECK(load_log(f.s(), kA) == std::vector<std::string>{"r1", "r2"});
}

TEST_CASE("a read-only data directory is rejected clearly and writable again after a remount", "[fail-stop]") {
    Fixture f;
    f.fs->set_read_only(true);
    const Outcome o = attempt([&] { f.s().append_log_entry(kA, "r2"); });  // through the cached descriptor
    CHECK(o.message == "write " + log_path(kA) + ": Read-only file system");
    const Outcome o2 = attempt([&] { f.s().append_log_entry(kA, "r2"); });  // reopening
    CHECK(o2.message == "open " + log_path(kA) + ": Read-only file system");
    CHECK(attempt([&] { f.s().save_session(kB, "snap"); }).status == MACP_STATUS_IO_ERROR);
    CHECK(attempt([&] { f.s().put_record("ns", "k", "v"); }).status == MACP_STATUS_IO_ERROR);
    const Outcome h = attempt([&] { f.s().health(); });
    CHECK(h.status == MACP_STATUS_IO_ERROR);
    CHECK(h.message ==
          "file storage at /data cannot write: data directory /data is not writable: Read-only file system");

    f.fs->set_read_only(false);
    CHECK_NOTHROW(f.s().health());
    f.s().append_log_entry(kA, "r2");
    CHECK(load_log(f.s(), kA) == std::vector<std::string>{"r1", "r2"});
}

TEST_CASE("health fails while permission is missing and recovers with it", "[fail-stop]") {
    Fixture f;
    SECTION("on a data subdirectory") {
        f.fs->inject(Call::access, EACCES, "/data/sessions");
        const Outcome h = attempt([&] { f.s().health(); });
        CHECK(h.message ==
              "file storage at /data cannot write: data directory /data/sessions is not writable: Permission denied");
    }
    SECTION("creating the probe") {
        f.fs->inject(Call::open, EACCES, "/data/.health-probe");
        const Outcome h = attempt([&] { f.s().health(); });
        CHECK(h.message == "file storage at /data cannot write: create /data/.health-probe.tmp: Permission denied");
    }
    f.fs->clear_faults();
    CHECK_NOTHROW(f.s().health());
}

TEST_CASE("a failed health probe sync is reported but does not stop the store", "[fail-stop]") {
    Fixture f;
    f.fs->inject(Call::fdatasync, EIO, ".health-probe", 1);
    const Outcome h = attempt([&] { f.s().health(); });
    CHECK(h.message == "file storage at /data cannot write: fdatasync /data/.health-probe.tmp: Input/output error");
    CHECK_FALSE(f.fs->exists("/data/.health-probe.tmp"));
    CHECK_NOTHROW(f.s().health());
    f.s().append_log_entry(kA, "r2");
}

TEST_CASE("a healthy store's probe is cheap and leaves nothing behind", "[fail-stop]") {
    Fixture f;
    const long before = f.fs->mutations();
    const std::string note = f.s().health();
    CHECK(contains(note, "file storage at /data"));
    CHECK(f.fs->mutations() - before == 4);  // create, write, fdatasync, unlink
    CHECK_FALSE(f.fs->exists("/data/.health-probe.tmp"));
    // A probe left by a crash is removed by recover().
    f.fs->put_file("/data/.health-probe.tmp", "health probe\n");
    CHECK(recover(f.s()) == std::vector<std::string>{"removed leftover .health-probe.tmp"});
}

TEST_CASE("a failed truncate after a failed write leaves only a torn tail, repaired on the next open", "[fail-stop]") {
    Fixture f;
    f.fs->set_capacity(f.fs->used_bytes() + 5);
    f.fs->inject(Call::ftruncate, EIO, log_path(kA), 1);
    CHECK(attempt([&] { f.s().append_log_entry(kA, std::string(50, 'y')); }).status == MACP_STATUS_IO_ERROR);
    CHECK(f.fs->contents(log_path(kA)) == std::string("r1\nyyyyy"));
    CHECK(load_log(f.s(), kA) == std::vector<std::string>{"r1"});
    f.fs->set_capacity(std::nullopt);
    f.s().append_log_entry(kA, "r2");
    CHECK(f.fs->contents(log_path(kA)) == std::string("r1\nr2\n"));
}

TEST_CASE("a new directory whose parent cannot be synced is removed again", "[fail-stop]") {
    Fixture f;
    const std::string sid = "session-eeeeeeeeeeeeeeeeeeeeee";
    f.fs->inject_exact(Call::open, EMFILE, "/data/sessions", 1);  // the parent, opened for its fsync
    const Outcome o = attempt([&] { f.s().save_session(sid, "snap"); });
    CHECK(o.message ==
          "open of directory /data/sessions to make the new /data/sessions/" + sid + " durable: Too many open files");
    CHECK_FALSE(f.fs->exists(kData + "/sessions/" + sid));
    // Not fail-stop; the retry creates the directory again and syncs it this time.
    f.s().save_session(sid, "snap");
    const auto image = f.fs->crash_image({ImageSpec::Meta::durable, ImageSpec::Data::durable, 0});
    CHECK(image->contents(kData + "/sessions/" + sid + "/session.json") == std::string("snap"));
}

TEST_CASE("a new log whose directory cannot be synced is removed again", "[fail-stop]") {
    Fixture f;
    const std::string sid = "session-ffffffffffffffffffffff";
    f.s().create_session_storage(sid);
    f.fs->inject_exact(Call::open, EMFILE, "/data/sessions/" + sid, 1);  // the directory, for its fsync
    const Outcome o = attempt([&] { f.s().append_log_entry(sid, "r1"); });
    CHECK(o.message == "open of directory /data/sessions/" + sid + " to make the new " + log_path(sid) +
                           " durable: Too many open files");
    CHECK_FALSE(f.fs->exists(log_path(sid)));
    // Not fail-stop; the retry creates the log again and syncs its directory this time.
    f.s().append_log_entry(sid, "r1");
    const auto image = f.fs->crash_image({ImageSpec::Meta::durable, ImageSpec::Data::durable, 0});
    CHECK(image->contents(log_path(sid)) == std::string("r1\n"));
}

TEST_CASE("a new entry that can be neither synced nor removed stops the store", "[fail-stop]") {
    Fixture f;
    const std::string sid = "session-gggggggggggggggggggggg";
    f.fs->inject_exact(Call::open, EMFILE, "/data/sessions", 1);
    f.fs->inject_exact(Call::rmdir, EBUSY, "/data/sessions/" + sid, 1);
    const Outcome o = attempt([&] { f.s().save_session(sid, "x"); });
    CHECK(o.status == MACP_STATUS_IO_ERROR);
    check_every_write_fails(f.s(), "storage stopped");
}

}  // namespace macp::storage_file::testing
