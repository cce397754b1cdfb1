// Storage health (issue #8.7): with the data directory on a small tmpfs, a full disk and a
// read-only remount are clear rejections, grpc.health.v1 says NOT_SERVING while the store cannot
// write and SERVING again once it can, nothing acknowledged is lost and nothing rejected is stored.
// Needs root (mount); skipped with a warning where mounting is not permitted.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "grpc/health/v1/health.grpc.pb.h"
#include "harness.hpp"

using namespace macp::test;
using namespace std::chrono_literals;
using grpc::health::v1::HealthCheckResponse;
namespace fs = std::filesystem;

namespace {

// A tmpfs mounted on `dir` for the lifetime of the object. Declare it before any ServerProcess
// using it, so the server is stopped before the file system is unmounted.
class TmpfsMount {
public:
    TmpfsMount(fs::path dir, std::string size) : dir_(std::move(dir)), size_(std::move(size)) {
        fs::create_directories(dir_);
        if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, ("size=" + size_).c_str()) == 0) {
            mounted_ = true;
        } else {
            errno_ = errno;
        }
    }
    ~TmpfsMount() {
        if (!mounted_) return;
        if (::umount(dir_.c_str()) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
    }
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;

    [[nodiscard]] bool mounted() const { return mounted_; }
    [[nodiscard]] int error() const { return errno_; }
    [[nodiscard]] bool not_permitted() const { return errno_ == EPERM || errno_ == EACCES; }

    // remount,ro / remount,rw. A read-only remount fails with EBUSY while any file on it is open
    // for writing (e.g. a health probe in flight), so it is retried for a while.
    int remount(bool read_only) {
        unsigned long flags = MS_REMOUNT;
        if (read_only) flags |= MS_RDONLY;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        for (;;) {
            if (::mount("tmpfs", dir_.c_str(), "tmpfs", flags, ("size=" + size_).c_str()) == 0) return 0;
            const int e = errno;
            if (e != EBUSY || std::chrono::steady_clock::now() > deadline) return e;
            std::this_thread::sleep_for(20ms);
        }
    }

private:
    fs::path dir_;
    std::string size_;
    bool mounted_ = false;
    int errno_ = 0;
};

// Writes `path` until the file system has no space left; returns the bytes written.
size_t fill(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    std::vector<char> chunk(64 * 1024, 'f');
    size_t total = 0;
    for (;;) {
        const ssize_t n = ::write(fd, chunk.data(), chunk.size());
        if (n > 0) {
            total += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        INFO("filler stopped with: " << std::strerror(errno));
        CHECK(errno == ENOSPC);
        break;
    }
    ::close(fd);
    return total;
}

// Collects every status a Watch stream sends, on a thread of its own.
class HealthWatch {
public:
    explicit HealthWatch(const std::string& address)
        : stub_(grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
        ctx_.set_deadline(std::chrono::system_clock::now() + 120s);
        thread_ = std::thread([this] {
            grpc::health::v1::HealthCheckRequest req;
            auto reader = stub_->Watch(&ctx_, req);
            HealthCheckResponse resp;
            while (reader->Read(&resp)) {
                std::lock_guard lock(mu_);
                seen_.push_back(resp.status());
            }
            reader->Finish();
        });
    }
    ~HealthWatch() {
        ctx_.TryCancel();
        thread_.join();
    }
    HealthWatch(const HealthWatch&) = delete;
    HealthWatch& operator=(const HealthWatch&) = delete;

    std::vector<HealthCheckResponse::ServingStatus> seen() {
        std::lock_guard lock(mu_);
        return seen_;
    }
    // Waits until the stream has delivered `n` messages.
    bool wait_for(size_t n, std::chrono::milliseconds timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (seen().size() >= n) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

private:
    std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
    grpc::ClientContext ctx_;
    std::mutex mu_;
    std::vector<HealthCheckResponse::ServingStatus> seen_;
    std::thread thread_;
};

std::map<std::string, uint32_t> activity(const macp::v1::SessionMetadata& md) {
    std::map<std::string, uint32_t> out;
    for (const auto& a : md.participant_activity()) out[a.participant_id()] = a.message_count();
    return out;
}

size_t count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
}

// ~2 KiB per record: a log file's partly used last page (which a full tmpfs still lets a small
// append fill) is used up after a message or two, so rejections follow quickly.
std::string big_value(const std::string& tag) {
    return tag + "-" + std::string(2000, 'v');
}

}  // namespace

TEST_CASE("a full disk is refused cleanly, reported NOT_SERVING, and service resumes when space returns",
          "[integration][storage-health]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    TmpfsMount tmpfs(data, "2m");
    if (!tmpfs.mounted()) {
        if (tmpfs.not_permitted()) {
            WARN("SKIPPED: cannot mount a tmpfs here (" << std::strerror(tmpfs.error()) << "); run as root");
            return;
        }
        FAIL("mount tmpfs: " << std::strerror(tmpfs.error()));
    }
    const std::map<std::string, std::string> env{{"MACP_ALLOW_INSECURE", "1"}};
    const auto sid = new_session_id();
    const auto rejected_start = new_session_id();
    std::vector<std::string> acked;     // alice's acknowledged Contribute ids
    std::vector<std::string> rejected;  // alice's rejected Contribute ids
    {
        ServerProcess server(env, data);
        REQUIRE(server.start());
        Client coord(server.address(), "coord");
        Client alice(server.address(), "alice");
        REQUIRE(health_becomes(server.address(), HealthCheckResponse::SERVING));
        REQUIRE(
            coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice", "bob"}))).ok());
        for (int i = 0; i < 3; ++i) {
            const auto id = "before-" + std::to_string(i);
            REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, id, contribute_json(big_value(id)))).ok());
            acked.push_back(id);
        }

        const auto filler = data / "filler";
        CHECK(fill(filler) > 0);
        // Keep sending until several are refused; each is either acknowledged (it still fit in a
        // page the log already had) or refused as a storage failure, never anything else.
        for (int i = 0; i < 40 && rejected.size() < 3; ++i) {
            const auto id = "full-" + std::to_string(i);
            grpc::Status st;
            auto ack = alice.send(envelope("Contribute", sid, kMultiRound, id, contribute_json(big_value(id))), &st);
            REQUIRE(st.ok());
            if (ack.ok()) {
                acked.push_back(id);
            } else {
                INFO(ack.error().code() << ": " << ack.error().message());
                CHECK(ack.error().code() == "INTERNAL_ERROR");
                rejected.push_back(id);
            }
        }
        if (rejected.size() < 3) FAIL("fewer than 3 Sends refused on a full disk; server log:\n" << server.log());
        if (!health_becomes(server.address(), HealthCheckResponse::NOT_SERVING)) {
            FAIL_CHECK("health did not turn NOT_SERVING on a full disk; server log:\n" << server.log());
        }
        // A new session cannot start either.
        auto start = coord.send(
            envelope("SessionStart", rejected_start, kMultiRound, "s", session_start_payload({"alice", "bob"})));
        CHECK_FALSE(start.ok());
        CHECK(start.error().code() == "INTERNAL_ERROR");
        // Reads still work while the disk is full.
        macp::v1::SessionMetadata md;
        CHECK(alice.get_session(sid, &md).ok());

        fs::remove(filler);
        if (!health_becomes(server.address(), HealthCheckResponse::SERVING)) {
            FAIL_CHECK("health did not return to SERVING once space returned; server log:\n" << server.log());
        }
        for (int i = 0; i < 2; ++i) {
            const auto id = "after-" + std::to_string(i);
            auto ack = alice.send(envelope("Contribute", sid, kMultiRound, id, contribute_json(big_value(id))));
            INFO(ack.error().code() << ": " << ack.error().message());
            REQUIRE(ack.ok());
            acked.push_back(id);
        }
        const auto log = server.log();
        INFO("server log:\n" << log);
        // One line per transition, however many writes failed or polls ran in between.
        CHECK(count(log, "cannot write; health is NOT_SERVING") == 1);
        CHECK(count(log, "is writable again; health is SERVING") == 1);
        server.kill9();
    }

    ServerProcess server(env, data);
    REQUIRE(server.start());
    INFO("server log after restart:\n" << server.log());
    CHECK(health(server.address()) == HealthCheckResponse::SERVING);
    Client alice(server.address(), "alice");
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    CHECK(activity(md)["alice"] == acked.size());
    for (const auto& id : acked) {
        auto ack = alice.send(envelope("Contribute", sid, kMultiRound, id, contribute_json(big_value(id))));
        INFO("acknowledged " << id);
        CHECK((ack.ok() && ack.duplicate()));
    }
    for (const auto& id : rejected) {
        // Never stored: the id was not consumed, so sending it now is a new message.
        auto ack = alice.send(envelope("Contribute", sid, kMultiRound, id, contribute_json(big_value(id))));
        INFO("rejected " << id << ": " << ack.error().code() << " " << ack.error().message());
        CHECK(ack.ok());
        CHECK_FALSE(ack.duplicate());
    }
    CHECK_FALSE(alice.get_session(rejected_start, &md).ok());
    server.kill9();
}

TEST_CASE("a read-only data directory is refused cleanly and service resumes after remount rw",
          "[integration][storage-health]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    TmpfsMount tmpfs(data, "2m");
    if (!tmpfs.mounted()) {
        if (tmpfs.not_permitted()) {
            WARN("SKIPPED: cannot mount a tmpfs here (" << std::strerror(tmpfs.error()) << "); run as root");
            return;
        }
        FAIL("mount tmpfs: " << std::strerror(tmpfs.error()));
    }
    const std::map<std::string, std::string> env{{"MACP_ALLOW_INSECURE", "1"},
                                                 {"MACP_STORAGE_HEALTH_INTERVAL_MS", "200"}};
    const auto sid = new_session_id();
    {
        ServerProcess server(env, data);
        REQUIRE(server.start());
        Client coord(server.address(), "coord");
        Client alice(server.address(), "alice");
        HealthWatch watch(server.address());
        REQUIRE(watch.wait_for(1));
        CHECK(watch.seen().front() == HealthCheckResponse::SERVING);

        // Before any session exists the server holds no file open for writing, so the kernel
        // lets the file system go read-only (with a log open it refuses: EBUSY).
        const int ro = tmpfs.remount(true);
        INFO("remount,ro: " << std::strerror(ro));
        REQUIRE(ro == 0);
        auto start = coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice"})));
        CHECK_FALSE(start.ok());
        CHECK(start.error().code() == "INTERNAL_ERROR");
        if (!health_becomes(server.address(), HealthCheckResponse::NOT_SERVING)) {
            FAIL_CHECK("health did not turn NOT_SERVING on a read-only file system; server log:\n" << server.log());
        }
        CHECK(watch.wait_for(2));

        const int rw = tmpfs.remount(false);
        INFO("remount,rw: " << std::strerror(rw));
        REQUIRE(rw == 0);
        if (!health_becomes(server.address(), HealthCheckResponse::SERVING)) {
            FAIL_CHECK("health did not return to SERVING after remount,rw; server log:\n" << server.log());
        }
        CHECK(watch.wait_for(3));
        // The refused SessionStart consumed nothing: the same session id starts now.
        start = coord.send(envelope("SessionStart", sid, kMultiRound, "s", session_start_payload({"alice"})));
        INFO(start.error().code() << ": " << start.error().message());
        REQUIRE(start.ok());
        REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x"))).ok());
        const auto seen = watch.seen();
        REQUIRE(seen.size() >= 3);
        CHECK(seen[0] == HealthCheckResponse::SERVING);
        CHECK(seen[1] == HealthCheckResponse::NOT_SERVING);
        CHECK(seen[2] == HealthCheckResponse::SERVING);
        server.kill9();
    }
    ServerProcess server(env, data);
    REQUIRE(server.start());
    Client alice(server.address(), "alice");
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    CHECK(activity(md)["alice"] == 1);
    server.kill9();
}
