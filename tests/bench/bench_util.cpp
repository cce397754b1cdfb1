#include "bench_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "harness.hpp"
#ifdef MACP_IT_HAVE_REDIS
#include "redis_server.hpp"
#endif

extern char** environ;  // NOLINT

namespace macp::bench {

namespace fs = std::filesystem;

// --- Child ---------------------------------------------------------------------------------------

Child::~Child() {
    if (pid_ > 0) stop(SIGKILL, std::chrono::seconds(10));
}

bool Child::spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, const fs::path& log) {
    if (argv.empty() || pid_ > 0) return false;
    log_ = log;
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        // However this program ends (SIGKILL, a timeout), the server does not outlive it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        ::execve(args[0], args.data(), envp.data());
        ::_exit(127);
    }
    pid_ = pid;
    return true;
}

bool Child::exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        pid_ = -1;
        return true;
    }
    return false;
}

int Child::stop(int signal_number, std::chrono::milliseconds grace) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, signal_number);
    const auto deadline = Clock::now() + grace;
    int status = 0;
    int rc = -1000;
    for (;;) {
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            break;
        }
        if (r < 0) {  // not our child any more
            rc = -1001;
            break;
        }
        if (Clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return rc;
}

std::string Child::log_tail(size_t max_bytes) const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

int run_command(const std::vector<std::string>& argv, const fs::path& log, std::chrono::milliseconds timeout) {
    Child child;
    if (!child.spawn(argv, child_env({}), log)) return -1;
    const auto deadline = Clock::now() + timeout;
    while (!child.exited()) {
        if (Clock::now() >= deadline) return child.stop(SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return child.exit_code();
}

std::string find_on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) continue;
        const auto candidate = fs::path(dir) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return {};
}

std::vector<std::string> child_env(const std::map<std::string, std::string>& extra) {
    std::vector<std::string> out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string kv(*e);
        if (kv.rfind("MACP_", 0) == 0 || kv.rfind("RUST_LOG=", 0) == 0) continue;
        out.push_back(kv);
    }
    for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
    return out;
}

bool wait_for_port(const std::string& address, Child& child, std::chrono::milliseconds timeout) {
    // gRPC backs off for a second or more after a refused connection; poll quickly instead.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (child.exited()) return false;
        if (channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::milliseconds(200))) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

bool health_serving(const std::string& address) {
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    for (const char* service : {"", "macp.v1.MACPRuntimeService"}) {
        grpc::health::v1::HealthCheckRequest req;
        req.set_service(service);
        grpc::health::v1::HealthCheckResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        if (!stub->Check(&ctx, req, &resp).ok() || resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
            return false;
        }
    }
    return true;
}

// --- /proc ---------------------------------------------------------------------------------------

std::optional<double> process_cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const auto close = line.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(line.substr(close + 2));
    std::string f;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    for (int i = 3; i <= 15 && (fields >> f); ++i) {
        if (i == 14) utime = std::strtoull(f.c_str(), nullptr, 10);
        if (i == 15) stime = std::strtoull(f.c_str(), nullptr, 10);
    }
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

std::optional<int64_t> process_rss_bytes(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;
    }
    return std::nullopt;
}

// --- Histogram -----------------------------------------------------------------------------------

int Histogram::bucket_of(uint64_t v) {
    if (v < 2 * kSub) return static_cast<int>(v);
    const int e = std::bit_width(v) - 1;  // >= 7
    const int sub = static_cast<int>((v >> (e - 6)) - kSub);
    return std::min(kBuckets - 1, 2 * kSub + (e - 7) * kSub + sub);
}

double Histogram::value_of(int bucket) {
    if (bucket < 2 * kSub) return bucket;
    const int e = 7 + (bucket - 2 * kSub) / kSub;
    const int sub = (bucket - 2 * kSub) % kSub;
    const double width = std::ldexp(1.0, e - 6);
    return (kSub + sub) * width + width / 2;
}

void Histogram::record(int64_t ns) {
    const uint64_t v = ns < 0 ? 0 : static_cast<uint64_t>(ns);
    counts_[static_cast<size_t>(bucket_of(v))].fetch_add(1, std::memory_order_relaxed);
    int64_t m = max_.load(std::memory_order_relaxed);
    while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
    }
}

void Histogram::reset() {
    for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
    max_.store(0);
}

uint64_t Histogram::count() const {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
}

double Histogram::quantile_us(double q) const {
    const uint64_t n = count();
    if (n == 0) return 0;
    const auto rank = static_cast<uint64_t>(std::clamp(q, 0.0, 1.0) * static_cast<double>(n - 1)) + 1;
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
        seen += counts_[static_cast<size_t>(b)].load(std::memory_order_relaxed);
        if (seen >= rank) return value_of(b) / 1000.0;
    }
    return max_us();
}

// --- Servers -------------------------------------------------------------------------------------

namespace {
std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}
}  // namespace

std::string runtime_binary() {
    return env_or("MACP_TEST_SERVER_BIN", MACP_BENCH_SERVER_BIN);
}
std::string plugin_dir() {
    return env_or("MACP_TEST_PLUGIN_DIR", MACP_BENCH_PLUGIN_DIR);
}
std::string noop_binary() {
    return env_or("MACP_BENCH_NOOP_BIN", MACP_BENCH_NOOP_BIN);
}

bool backend_available(const std::string& backend, std::string* why) {
    if (backend == "noop") {
        if (fs::exists(noop_binary())) return true;
        if (why != nullptr) *why = noop_binary() + " is not built";
        return false;
    }
    if (!fs::exists(runtime_binary())) {
        if (why != nullptr) *why = runtime_binary() + " is not built";
        return false;
    }
    if (backend == "memory") return true;
    if (backend != "file" && backend != "rocksdb" && backend != "redis") {
        if (why != nullptr) *why = "unknown backend '" + backend + "' (noop, memory, file, rocksdb, redis)";
        return false;
    }
    const auto plugin = fs::path(plugin_dir()) / ("storage-" + backend + ".so");
    if (!fs::exists(plugin)) {
        if (why != nullptr) *why = "plugin " + plugin.string() + " is not built";
        return false;
    }
    if (backend == "redis") {
#ifdef MACP_IT_HAVE_REDIS
        if (!macp::test::redis_server_available()) {
            if (why != nullptr) *why = "no redis-server on PATH (Debian: redis-server)";
            return false;
        }
#else
        if (why != nullptr) *why = "built without the redis test support (libhiredis-dev)";
        return false;
#endif
    }
    return true;
}

Server::Server(ServerSpec spec) : spec_(std::move(spec)), dir_(std::make_unique<macp::test::TempDir>()) {}

Server::~Server() {
    child_.stop(SIGKILL, std::chrono::seconds(10));
}

fs::path Server::work_dir() const {
    return dir_->path();
}

fs::path Server::data_dir() const {
    return spec_.data_dir.empty() ? dir_->path() / "data" : spec_.data_dir;
}

bool Server::start(std::string* error) {
    std::string why;
    if (!backend_available(spec_.backend, &why)) {
        if (error != nullptr) *error = why;
        return false;
    }
    if (child_.running()) child_.stop(SIGKILL);
    port_ = macp::test::free_port();
    std::vector<std::string> argv = spec_.prefix;
    std::map<std::string, std::string> env;
    if (spec_.backend == "noop") {
        argv.push_back(noop_binary());
        argv.push_back("--port=" + std::to_string(port_));
    } else {
        argv.push_back(runtime_binary());
        env = {{"MACP_ALLOW_INSECURE", "1"},
               {"MACP_BIND_ADDR", address()},
               {"MACP_DATA_DIR", data_dir().string()},
               {"MACP_PLUGIN_PATH", plugin_dir()},
               {"MACP_MESSAGE_LIMIT_PER_MINUTE", "1000000000"},
               {"MACP_SESSION_START_LIMIT_PER_MINUTE", "1000000000"},
               {"MACP_MAX_CONCURRENT_STREAMS", "10000"},
               {"MACP_CONCURRENCY_LIMIT_PER_CONNECTION", "100000"},  // the load shapes pipeline deeply
               // The fan-out bench opens up to 5,000 subscribers as one dev-mode identity.
               {"MACP_MAX_STREAMS_PER_IDENTITY", "100000"},
               {"RUST_LOG", "warn"}};
        if (spec_.backend == "memory") {
            env["MACP_MEMORY_ONLY"] = "1";
        } else {
            env["MACP_STORAGE_BACKEND"] = spec_.backend;
        }
#ifdef MACP_IT_HAVE_REDIS
        if (spec_.backend == "redis") {
            try {
                if (!redis_) redis_ = std::make_unique<macp::test::RedisServer>();  // appendfsync always
            } catch (const std::exception& e) {
                if (error != nullptr) *error = std::string("redis-server did not start: ") + e.what();
                return false;
            }
            env["MACP_REDIS_URL"] = redis_->url();
            env["MACP_REDIS_KEY_PREFIX"] = "bench:";
        }
#endif
    }
    for (const auto& [k, v] : spec_.extra_env) env[k] = v;
    std::error_code ec;
    fs::create_directories(data_dir(), ec);
    if (!child_.spawn(argv, child_env(env), dir_->path() / ("server-" + std::to_string(port_) + ".log"))) {
        if (error != nullptr) *error = "cannot start " + argv.front();
        return false;
    }
    if (!wait_for_port(address(), child_, spec_.start_timeout)) {
        if (error != nullptr) *error = "server did not come up:\n" + child_.log_tail();
        child_.stop(SIGKILL);
        return false;
    }
    return true;
}

int Server::stop(int signal_number, std::chrono::milliseconds grace) {
    return child_.stop(signal_number, grace);
}

// --- Helpers -------------------------------------------------------------------------------------

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool flag_value(const char* arg, const char* name, std::string& value) {
    const size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
    value = arg + n + 1;
    return true;
}

}  // namespace macp::bench
