// The real thing: FileStorage on the real filesystem (PosixFs), on a 1 MiB tmpfs that is filled
// up and remounted read-only. Needs CAP_SYS_ADMIN (CI runs as root); skipped with a warning when
// mount(2) is not permitted.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "test_support.hpp"

namespace macp::storage_file::testing {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// A 1 MiB tmpfs on a fresh temp directory; unmounted and removed whatever happens.
class SmallTmpfs {
public:
    SmallTmpfs() {
        char templ[] = "/tmp/macp-storage-file-tmpfs-XXXXXX";
        if (::mkdtemp(templ) == nullptr) {
            error_ = errno;
            return;
        }
        dir_ = templ;
        if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0) {
            error_ = errno;
            return;
        }
        mounted_ = true;
    }
    ~SmallTmpfs() {
        if (mounted_ && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
        if (!dir_.empty()) ::rmdir(dir_.c_str());
    }
    SmallTmpfs(const SmallTmpfs&) = delete;
    SmallTmpfs& operator=(const SmallTmpfs&) = delete;

    [[nodiscard]] bool mounted() const { return mounted_; }
    [[nodiscard]] int error() const { return error_; }
    [[nodiscard]] const std::string& dir() const { return dir_; }

    // 0 or errno.
    int remount(bool read_only) const {
        const unsigned long flags =
            static_cast<unsigned long>(MS_REMOUNT) | (read_only ? static_cast<unsigned long>(MS_RDONLY) : 0UL);
        return ::mount("tmpfs", dir_.c_str(), "tmpfs", flags, "size=4m,mode=0700") == 0 ? 0 : errno;
    }

private:
    std::string dir_;
    bool mounted_ = false;
    int error_ = 0;
};

// Writes `path` until the filesystem is full.
void fill(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string chunk(64 * 1024, 'f');
    for (;;) {
        const ssize_t n = ::write(fd, chunk.data(), chunk.size());
        if (n < 0) {
            CHECK(errno == ENOSPC);
            break;
        }
    }
    ::close(fd);
}

}  // namespace

TEST_CASE("on a real full tmpfs writes fail cleanly and resume by themselves", "[tmpfs]") {
    SmallTmpfs tmpfs;
    if (!tmpfs.mounted()) {
        WARN("skipped: cannot mount a tmpfs here (" << std::strerror(tmpfs.error()) << "); needs root");
        return;
    }
    const std::string data = tmpfs.dir() + "/data";
    const std::string log_a = data + "/sessions/" + kA + "/log.jsonl";
    auto store = open_store(std::make_shared<PosixFs>(), data);
    for (const auto& sid : {kA, kB}) {
        store->create_session_storage(sid);
        store->append_log_entry(sid, "r1");
    }
    store->put_record("ns", "k", "v1");
    CHECK_NOTHROW(store->health());

    // Disk full (the journal's first segment, 1 MiB zero-filled by the first commit, still has
    // room: only the logs cannot grow). Records bigger than a page: the slack of the log's last
    // page is not enough.
    const std::string big(8192, 'x');
    fill(tmpfs.dir() + "/filler");
    const Outcome o = attempt([&] { store->append_log_entry(kA, big); });
    INFO(o.message);
    CHECK(o.status == MACP_STATUS_IO_ERROR);
    CHECK(o.message == "write " + log_a + ": No space left on device");
    CHECK(read_file(log_a) == "r1\n");  // the short write was rolled back

    const auto status = append_batch(*store, {{kA, big}, {kB, big}});
    CHECK(status == std::vector<macp_status>(2, MACP_STATUS_IO_ERROR));
    CHECK(attempt([&] { store->save_session(kA, big); }).status == MACP_STATUS_IO_ERROR);
    CHECK(::access((data + "/sessions/" + kA + "/session.json.tmp").c_str(), F_OK) != 0);
    CHECK(attempt([&] { store->put_record("ns", "k", big); }).status == MACP_STATUS_IO_ERROR);

    const Outcome h = attempt([&] { store->health(); });
    INFO(h.message);
    CHECK(h.status == MACP_STATUS_IO_ERROR);
    CHECK(h.message ==
          "file storage at " + data + " cannot write: write " + data + "/.health-probe.tmp: No space left on device");

    // Space returns: service resumes without a restart.
    REQUIRE(::unlink((tmpfs.dir() + "/filler").c_str()) == 0);
    CHECK_NOTHROW(store->health());
    store->append_log_entry(kA, big);
    CHECK(append_batch(*store, {{kA, "r3"}, {kB, "r2"}}) == std::vector<macp_status>(2, MACP_STATUS_OK));
    CHECK(load_log(*store, kA) == std::vector<std::string>{"r1", big, "r3"});
    CHECK(load_log(*store, kB) == std::vector<std::string>{"r1", "r2"});
    CHECK(list_records(*store, "ns") == std::map<std::string, std::string>{{"k", "v1"}});

    // Read-only. A remount needs no file open for writing: recover() drops the cached logs.
    recover(*store);
    if (const int err = tmpfs.remount(true); err != 0) {
        WARN("read-only part skipped: remount failed (" << std::strerror(err) << ")");
    } else {
        const Outcome ro = attempt([&] { store->append_log_entry(kA, "r4"); });
        CHECK(ro.message == "open " + log_a + ": Read-only file system");
        CHECK(attempt([&] { store->put_record("ns", "k", "v2"); }).status == MACP_STATUS_IO_ERROR);
        const Outcome hro = attempt([&] { store->health(); });
        CHECK(hro.message == "file storage at " + data + " cannot write: data directory " + data +
                                 " is not writable: Read-only file system");
        CHECK(load_log(*store, kA) == std::vector<std::string>{"r1", big, "r3"});  // reads go on

        REQUIRE(tmpfs.remount(false) == 0);
        CHECK_NOTHROW(store->health());
        store->append_log_entry(kA, "r4");
        CHECK(load_log(*store, kA) == std::vector<std::string>{"r1", big, "r3", "r4"});
    }
    store.reset();  // closes every descriptor before the guard unmounts
}

}  // namespace macp::storage_file::testing
