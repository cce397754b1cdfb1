// Start-up of the real server on a storage backend that cannot be used (issues #10, #11): one
// clear message naming the store and the cause, a non-zero exit, never a crash; and secrets of the
// redis backend never printed. Each case sets MACP_STORAGE_BACKEND itself and is skipped (with a
// warning) when that backend's plugin is not built.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace macp::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool plugin_built(const std::string& backend) {
    return fs::exists(fs::path(ServerProcess::plugin_dir()) / ("storage-" + backend + ".so"));
}

#define SKIP_UNLESS_BUILT(backend)                                         \
    if (!plugin_built(backend)) {                                          \
        WARN("storage-" << (backend) << ".so is not built; case skipped"); \
        return;                                                            \
    }

std::map<std::string, std::string> env_for(const std::string& backend) {
    return {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_STORAGE_BACKEND", backend}};
}

// Runs a server that must refuse to run, to its exit; returns its output. The exit must be a clean
// non-zero status, not a signal (a crash) and not a timeout (a server that started after all).
std::string refused_start(std::map<std::string, std::string> env, const fs::path& data) {
    env.emplace("MACP_BIND_ADDR", "127.0.0.1:" + std::to_string(free_port()));
    env.emplace("MACP_DATA_DIR", data.string());
    std::string out;
    const int status = ServerProcess::run_to_exit(env, {}, out, 20s);
    INFO(out);
    CHECK(status > 0);
    return out;
}

bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("rocksdb: a database another server holds is refused with its path and RocksDB's reason",
          "[integration][startup][rocksdb]") {
    SKIP_UNLESS_BUILT("rocksdb");
    TempDir dir;
    const auto db = dir.path() / "db";
    auto env = env_for("rocksdb");
    env["MACP_ROCKSDB_PATH"] = db.string();
    ServerProcess holder(env, dir.path() / "a");
    REQUIRE(holder.start());
    const std::string log = refused_start(env, dir.path() / "b");
    CHECK(contains(log, db.string()));
    CHECK(contains(log, "lock"));
    // The holder is unaffected.
    Client c(holder.address(), "alice");
    CHECK(c.send(envelope("SessionStart", new_session_id(), kMultiRound, "s", session_start_payload({"alice"}))).ok());
}

TEST_CASE("rocksdb: a path that cannot be a database is refused with the path and the cause",
          "[integration][startup][rocksdb]") {
    SKIP_UNLESS_BUILT("rocksdb");
    TempDir dir;
    std::ofstream(dir.path() / "file") << "not a directory";
    auto env = env_for("rocksdb");
    env["MACP_ROCKSDB_PATH"] = (dir.path() / "file" / "db").string();
    const std::string log = refused_start(env, dir.path() / "data");
    CHECK(contains(log, (dir.path() / "file" / "db").string()));
    CHECK(contains(log, "Not a directory"));
}

TEST_CASE("rocksdb: a corrupted database is refused with the path and RocksDB's text",
          "[integration][startup][rocksdb]") {
    SKIP_UNLESS_BUILT("rocksdb");
    TempDir dir;
    const auto db = dir.path() / "db";
    auto env = env_for("rocksdb");
    env["MACP_ROCKSDB_PATH"] = db.string();
    {
        ServerProcess server(env, dir.path() / "data");
        REQUIRE(server.start());
        Client c(server.address(), "alice");
        REQUIRE(c.send(envelope("SessionStart", new_session_id(), kMultiRound, "s", session_start_payload({"alice"})))
                    .ok());
        server.stop(15);
    }
    std::ofstream(db / "CURRENT", std::ios::trunc) << "garbage";
    const std::string log = refused_start(env, dir.path() / "data");
    CHECK(contains(log, db.string()));
    CHECK(contains(log, "Corruption"));
}

TEST_CASE("redis: unreachable, malformed or TLS URLs are refused with the reason; the password never shows",
          "[integration][startup][redis]") {
    SKIP_UNLESS_BUILT("redis");
    TempDir dir;
    const int closed_port = free_port();  // nothing listens there
    {
        auto env = env_for("redis");
        env["MACP_REDIS_URL"] = "redis://:hunter2-secret@127.0.0.1:" + std::to_string(closed_port);
        const std::string log = refused_start(env, dir.path() / "a");
        CHECK(contains(log, "127.0.0.1:" + std::to_string(closed_port)));
        CHECK(contains(log, "Connection refused"));
        CHECK_FALSE(contains(log, "hunter2-secret"));
    }
    {
        auto env = env_for("redis");
        env["MACP_REDIS_URL"] = "rediss://127.0.0.1:6380";
        const std::string log = refused_start(env, dir.path() / "b");
        CHECK(contains(log, "rediss://"));
        CHECK(contains(log, "TLS"));
    }
    {
        auto env = env_for("redis");
        env["MACP_REDIS_URL"] = "http://127.0.0.1:6379";
        const std::string log = refused_start(env, dir.path() / "c");
        CHECK(contains(log, "MACP_REDIS_URL"));
    }
    {
        std::string out;
        const int rc = ServerProcess::run_to_exit({{"MACP_ALLOW_INSECURE", "1"},
                                                   {"MACP_STORAGE_BACKEND", "redis"},
                                                   {"MACP_REDIS_URL", "redis://app:hunter2-secret@127.0.0.1:6379/3"},
                                                   {"MACP_REDIS_PASSWORD", "other-secret"}},
                                                  {"--print-config"}, out);
        INFO(out);
        CHECK(rc == 0);
        CHECK(contains(out, "MACP_REDIS_URL=redis://app:***@127.0.0.1:6379/3"));
        CHECK(contains(out, "MACP_REDIS_PASSWORD=***"));
        CHECK_FALSE(contains(out, "hunter2-secret"));
        CHECK_FALSE(contains(out, "other-secret"));
    }
}

#ifdef MACP_IT_HAVE_REDIS
TEST_CASE("redis: MACP_REDIS_REQUIRE_FSYNC refuses a Redis that does not fsync every write",
          "[integration][startup][redis]") {
    SKIP_UNLESS_BUILT("redis");
    RedisServer::Options o;
    o.appendfsync = "everysec";
    RedisServer lax(o);
    TempDir dir;
    auto env = env_for("redis");
    env["MACP_REDIS_URL"] = lax.url();
    {
        env["MACP_REDIS_REQUIRE_FSYNC"] = "1";
        const std::string log = refused_start(env, dir.path() / "a");
        CHECK(contains(log, "appendfsync"));
    }
    {
        env["MACP_REDIS_REQUIRE_FSYNC"] = "0";
        ServerProcess server(env, dir.path() / "b");
        REQUIRE(server.start());
        INFO(server.log());
        CHECK(contains(server.log(), "up to 1 s"));  // what an acknowledgement means, stated
    }
}
#endif
