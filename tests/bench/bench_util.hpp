// Shared pieces of the benchmark programs (macp_bench, macp_load, macp_fanout_bench): child
// processes stopped by their PID, /proc readings of a server process, a lock-free latency
// histogram, the servers a benchmark runs (the real runtime on a storage backend, or the no-op
// ceiling server) and small helpers. Benchmarks print figures; they are never ctest tests.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace macp::test {
class RedisServer;
class TempDir;
}  // namespace macp::test

namespace macp::bench {

using Clock = std::chrono::steady_clock;

inline int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// --- Child processes -----------------------------------------------------------------------------

// A process started with fork/execve (stdout and stderr to `log`), stopped by its PID: stop()
// sends a signal and waits (SIGKILL after `grace`); the destructor SIGKILLs it if still running.
class Child {
public:
    Child() = default;
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // Starts argv[0] (an absolute path) with exactly `env` ("KEY=value" entries). False if it
    // could not be started.
    bool spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::filesystem::path& log);
    // Sends `signal_number`, waits at most `grace`, then SIGKILL. Returns the exit code, -signal,
    // or -1000 when it had to be killed. 0 if nothing runs.
    int stop(int signal_number, std::chrono::milliseconds grace = std::chrono::seconds(30));
    // True if the process has exited (reaps it).
    bool exited();
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] bool running() const { return pid_ > 0; }
    [[nodiscard]] int exit_code() const { return exit_code_; }  // once exited() said so
    [[nodiscard]] const std::filesystem::path& log_path() const { return log_; }
    [[nodiscard]] std::string log_tail(size_t max_bytes = 4000) const;

private:
    pid_t pid_ = -1;
    int exit_code_ = 0;
    std::filesystem::path log_;
};

// Runs argv (argv[0] absolute) to completion, output to `log`; the exit code, or -1000 when it
// had to be killed after `timeout`.
int run_command(const std::vector<std::string>& argv, const std::filesystem::path& log,
                std::chrono::milliseconds timeout);

// The absolute path of `program` on PATH; "" if there is none.
std::string find_on_path(const std::string& program);

// Our environment minus MACP_* and RUST_LOG (a developer's settings must not leak into a
// measured server), plus `extra`.
std::vector<std::string> child_env(const std::map<std::string, std::string>& extra);

// Polls until `address` accepts a gRPC connection, the process exits, or `timeout` passes.
bool wait_for_port(const std::string& address, Child& child, std::chrono::milliseconds timeout);

// True when grpc.health.v1 Check reports SERVING for "" and for macp.v1.MACPRuntimeService.
bool health_serving(const std::string& address);

// --- /proc readings ------------------------------------------------------------------------------

// utime + stime of a process (all its threads, past and present) in seconds; nullopt if gone.
std::optional<double> process_cpu_seconds(pid_t pid);
// VmRSS of a process in bytes; nullopt if gone.
std::optional<int64_t> process_rss_bytes(pid_t pid);

// --- Latency histogram ---------------------------------------------------------------------------

// Log-linear histogram of nanosecond values, 64 sub-buckets per power of two (about 1.5%
// resolution), safe to record into from any thread without a lock.
class Histogram {
public:
    void record(int64_t ns);
    void reset();
    [[nodiscard]] uint64_t count() const;
    // The value at quantile q (0..1), in microseconds; 0 when empty.
    [[nodiscard]] double quantile_us(double q) const;
    [[nodiscard]] double max_us() const { return static_cast<double>(max_.load()) / 1000.0; }

private:
    static constexpr int kSub = 64;
    static constexpr int kBuckets = 2 * kSub + 50 * kSub;
    static int bucket_of(uint64_t v);
    static double value_of(int bucket);
    std::array<std::atomic<uint64_t>, kBuckets> counts_{};
    std::atomic<int64_t> max_{0};
};

// --- Servers under test --------------------------------------------------------------------------

// Paths of the programs, from the environment or the build tree this program was built in:
// MACP_TEST_SERVER_BIN, MACP_TEST_PLUGIN_DIR, MACP_BENCH_NOOP_BIN.
std::string runtime_binary();
std::string plugin_dir();
std::string noop_binary();

// True if `backend` can run here: "noop", "memory" always; "file"/"rocksdb"/"redis" when the
// plugin is built (and for redis when redis-server and the test support library exist). `why`
// says what is missing.
bool backend_available(const std::string& backend, std::string* why);

struct ServerSpec {
    std::string backend = "memory";  // noop | memory | file | rocksdb | redis
    std::map<std::string, std::string> extra_env;
    std::vector<std::string> prefix;  // e.g. valgrind --tool=callgrind ... (the program follows)
    std::chrono::milliseconds start_timeout{30'000};
    // Keep the data directory (an existing store) instead of a fresh temporary one.
    std::filesystem::path data_dir;
};

// One server under test on a free 127.0.0.1 port: the no-op ceiling server or macp-runtime with
// a storage backend, its data in a temporary directory (or spec.data_dir), for redis with a
// redis-server of its own (appendonly yes, appendfsync always). Everything it starts is stopped
// by PID when it is destroyed.
class Server {
public:
    explicit Server(ServerSpec spec);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Starts the process and waits until its port accepts calls. On failure `error` holds why.
    bool start(std::string* error);
    // SIGTERM (SIGKILL after the grace period); returns the exit status.
    int stop(int signal_number = 15, std::chrono::milliseconds grace = std::chrono::seconds(60));
    [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] pid_t pid() const { return child_.pid(); }
    [[nodiscard]] const std::string& backend() const { return spec_.backend; }
    [[nodiscard]] std::filesystem::path data_dir() const;
    [[nodiscard]] std::filesystem::path work_dir() const;
    [[nodiscard]] std::string log_tail() const { return child_.log_tail(); }
    Child& child() { return child_; }

private:
    ServerSpec spec_;
    std::unique_ptr<macp::test::TempDir> dir_;
#ifdef MACP_IT_HAVE_REDIS
    std::unique_ptr<macp::test::RedisServer> redis_;
#endif
    int port_ = 0;
    Child child_;
};

// --- Small helpers -------------------------------------------------------------------------------

double median(std::vector<double> v);

// "--name=value" parsing: true and `value` set when `arg` is --name=... .
bool flag_value(const char* arg, const char* name, std::string& value);

}  // namespace macp::bench
