#include "util/sd_notify.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace {

// A datagram socket standing in for systemd's notification socket.
struct Listener {
    int fd = -1;
    std::string path;
    explicit Listener(std::string p) : path(std::move(p)) {
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof(addr.sun_path));
        std::memcpy(addr.sun_path, path.data(), path.size());
        socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
        if (path[0] == '@')
            addr.sun_path[0] = '\0';
        else
            ::unlink(path.c_str());
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    }
    ~Listener() {
        ::close(fd);
        if (path[0] != '@') ::unlink(path.c_str());
    }
    // The next datagram, or "<none>" if nothing arrives within 5 s (bounded wait).
    std::string receive() const {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) return "<none>";
        char buf[256];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        return n < 0 ? "<error>" : std::string(buf, static_cast<std::size_t>(n));
    }
};

struct NotifySocketEnv {
    explicit NotifySocketEnv(const std::string& value) { ::setenv("NOTIFY_SOCKET", value.c_str(), 1); }
    ~NotifySocketEnv() { ::unsetenv("NOTIFY_SOCKET"); }
};

}  // namespace

TEST_CASE("sd_notify sends the state as one datagram to a filesystem NOTIFY_SOCKET") {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("macp-notify-" + std::to_string(::getpid()))).string();
    Listener listener(path);
    NotifySocketEnv env(path);
    REQUIRE(macp::util::sd_notify("READY=1"));
    CHECK(listener.receive() == "READY=1");
    REQUIRE(macp::util::sd_notify("STOPPING=1"));
    CHECK(listener.receive() == "STOPPING=1");
}

TEST_CASE("sd_notify reaches an abstract NOTIFY_SOCKET (leading @)") {
    const std::string name = "@macp-notify-abstract-" + std::to_string(::getpid());
    Listener listener(name);
    NotifySocketEnv env(name);
    REQUIRE(macp::util::sd_notify("READY=1"));
    CHECK(listener.receive() == "READY=1");
}

TEST_CASE("sd_notify does nothing without NOTIFY_SOCKET or with an unusable one") {
    ::unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(macp::util::sd_notify("READY=1"));
    {
        NotifySocketEnv env("relative/path");
        CHECK_FALSE(macp::util::sd_notify("READY=1"));
    }
    {
        NotifySocketEnv env("/nonexistent-dir-macp/notify");
        CHECK_FALSE(macp::util::sd_notify("READY=1"));
    }
}
