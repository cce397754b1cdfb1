// RedisServer: a throw-away redis-server for tests (issue #11). Started from PATH on a free
// 127.0.0.1 port with its own temporary directory, stopped by PID, never left behind:
//   - a small watchdog process (forked next to it, holding only the read end of a pipe whose
//     write end only this process holds) SIGKILLs it when the test process dies, however it dies
//     (crash, SIGKILL, ctest timeout), whichever thread created the RedisServer;
//   - the destructor sends SIGTERM (again every 200 ms), then SIGKILL after 5 s, reaps it and
//     removes the directory; stop() and kill9() end the watchdog first, by PID.
//
// Directory layout: <tmp>/redis.conf and <tmp>/redis.log stay put; dir() (<tmp>/data) is redis'
// `dir` (AOF directory, dump.rdb). Deleting everything under dir() after kill9() and calling
// start() gives a Redis that comes back empty.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace macp::test {

class RedisServer {
public:
    struct Options {
        std::string appendfsync = "always";
        bool appendonly = true;
        // Extra redis.conf lines, "key value" each (e.g. "requirepass s3cret",
        // "rename-command CONFIG \"\"", "replicaof 127.0.0.1 6380").
        std::vector<std::string> extra_config;
        // Also listen on <tmp>/redis.sock (see socket_path()).
        bool unix_socket = false;
    };

    // Starts redis-server and waits (at most 10 s) until PING answers. Throws std::runtime_error
    // with the tail of redis' log on failure.
    RedisServer();  // = RedisServer(Options{}) (a default argument cannot name the nested struct here)
    explicit RedisServer(Options o);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    void kill9();  // SIGKILL + reap; the data stays in dir()
    void stop();   // SIGTERM + reap (SIGKILL after 5 s)
    void start();  // (re)starts on the same port, dir and configuration; waits for PING

    [[nodiscard]] bool running() const { return pid_ > 0; }
    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string url() const;  // redis://127.0.0.1:<port>
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::filesystem::path dir() const { return root_ / "data"; }
    [[nodiscard]] std::filesystem::path socket_path() const { return root_ / "redis.sock"; }  // if unix_socket
    [[nodiscard]] std::filesystem::path log_path() const { return root_ / "redis.log"; }
    // The last lines of redis.log (for failure messages).
    [[nodiscard]] std::string log_tail(std::size_t lines = 20) const;

    // Runs one command over TCP and renders the reply as text: strings and status replies as they
    // are, integers in decimal, nil as "(nil)", errors as "(error) <message>", arrays as their
    // rendered elements joined by '\n'. Throws std::runtime_error if Redis cannot be reached.
    // `password` is sent with AUTH first when non-empty.
    std::string command(const std::vector<std::string>& argv, const std::string& password = "");

private:
    void write_config() const;
    void spawn();
    void wait_ready();
    void reap(int signal_first);
    void start_watchdog();
    void stop_watchdog();

    Options options_;
    std::filesystem::path root_;
    int port_ = 0;
    pid_t pid_ = -1;
    pid_t watchdog_ = -1;
    int watch_fd_ = -1;  // write end of the watchdog's pipe (O_CLOEXEC)
};

// True if a redis-server executable is on PATH (or at /usr/bin/redis-server).
bool redis_server_available();

// Path of the redis-server executable ("" if none).
std::string redis_server_executable();

}  // namespace macp::test
