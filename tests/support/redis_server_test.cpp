// RedisServer itself: start, command, kill -9 and restart with the data kept, stop.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>

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
