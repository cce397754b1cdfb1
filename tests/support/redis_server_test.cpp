// RedisServer itself: start, command, kill -9 and restart with the data kept, stop.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "redis_server.hpp"

using macp::test::RedisServer;

TEST_CASE("RedisServer starts, answers, keeps its AOF across kill -9 and cleans up", "[support][redis]") {
    if (!macp::test::redis_server_available()) {
        WARN("redis-server not installed: skipped");
        return;
    }
    std::filesystem::path root;
    {
        RedisServer redis;
        REQUIRE(redis.running());
        CHECK(redis.url() == "redis://127.0.0.1:" + std::to_string(redis.port()));
        CHECK(redis.command({"PING"}) == "PONG");
        CHECK(redis.command({"CONFIG", "GET", "appendfsync"}) == "appendfsync\nalways");
        CHECK(redis.command({"SET", "k", std::string("a\0b", 3)}) == "OK");
        CHECK(redis.command({"NOSUCHCOMMAND"}).rfind("(error) ", 0) == 0);

        const pid_t first = redis.pid();
        redis.kill9();
        CHECK_FALSE(redis.running());
        CHECK(::kill(first, 0) != 0);  // reaped: no such process
        CHECK_THROWS_AS(redis.command({"PING"}), std::runtime_error);
        redis.start();
        CHECK(redis.command({"GET", "k"}) == std::string("a\0b", 3));  // appendfsync always: kept

        redis.stop();
        CHECK_FALSE(redis.running());
        redis.start();
        CHECK(redis.command({"GET", "k"}) == std::string("a\0b", 3));
        root = redis.dir().parent_path();
        CHECK(std::filesystem::exists(root / "redis.conf"));
    }
    CHECK_FALSE(std::filesystem::exists(root));
}

TEST_CASE("RedisServer options: appendfsync, unix socket, extra config", "[support][redis]") {
    if (!macp::test::redis_server_available()) {
        WARN("redis-server not installed: skipped");
        return;
    }
    RedisServer::Options o;
    o.appendonly = false;
    o.appendfsync = "everysec";
    o.unix_socket = true;
    o.extra_config = {"requirepass s3cret"};
    RedisServer redis(o);
    CHECK(std::filesystem::exists(redis.socket_path()));
    CHECK(redis.command({"PING"}).rfind("(error) NOAUTH", 0) == 0);
    CHECK(redis.command({"CONFIG", "GET", "appendonly"}, "s3cret") == "appendonly\nno");
}

TEST_CASE("RedisServer reports a start-up failure with redis' log", "[support][redis]") {
    if (!macp::test::redis_server_available()) {
        WARN("redis-server not installed: skipped");
        return;
    }
    RedisServer::Options o;
    o.extra_config = {"no-such-directive yes"};
    try {
        RedisServer redis(o);
        FAIL("started with a bad configuration");
    } catch (const std::runtime_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("no-such-directive"));
    }
}

namespace {

// True once `pid` is gone or a zombie (it is not our child: init reaps it, eventually).
bool dead(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace

TEST_CASE("RedisServer outlives the thread that started it", "[support][redis]") {
    if (!macp::test::redis_server_available()) {
        WARN("redis-server not installed: skipped");
        return;
    }
    std::unique_ptr<RedisServer> redis;
    std::thread([&] { redis = std::make_unique<RedisServer>(); }).join();
    CHECK(redis->command({"PING"}) == "PONG");
}

TEST_CASE("a test process that dies without cleaning up takes its redis-server along", "[support][redis]") {
    if (!macp::test::redis_server_available()) {
        WARN("redis-server not installed: skipped");
        return;
    }
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        try {
            auto* leaked = new RedisServer();  // never destroyed: the process "crashes"
            const pid_t pid = leaked->pid();
            (void)!::write(fds[1], &pid, sizeof(pid));
        } catch (...) {
        }
        ::_exit(0);
    }
    ::close(fds[1]);
    pid_t redis_pid = -1;
    const bool got = ::read(fds[0], &redis_pid, sizeof(redis_pid)) == static_cast<ssize_t>(sizeof(redis_pid));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(got);
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {  // bounded: 10 s
        gone = dead(redis_pid);
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(gone);
    if (!gone) ::kill(redis_pid, SIGKILL);
}
