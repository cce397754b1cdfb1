// RedisServer: see redis_server.hpp.
#include "redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace macp::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

bool executable(const std::string& path) {
    return ::access(path.c_str(), X_OK) == 0;
}

// A port the kernel considers free right now on 127.0.0.1 (bind to port 0, read it back).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const int e = errno;
        ::close(fd);
        throw std::system_error(e, std::generic_category(), "bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

fs::path make_temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "macp-redis-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    return tmpl;
}

std::string render(const redisReply* r) {
    switch (r->type) {
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS: return std::string(r->str, r->len);
        case REDIS_REPLY_ERROR: return "(error) " + std::string(r->str, r->len);
        case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
        case REDIS_REPLY_NIL: return "(nil)";
        case REDIS_REPLY_ARRAY: {
            std::string out;
            for (std::size_t i = 0; i < r->elements; ++i) {
                if (i != 0) out += '\n';
                out += render(r->element[i]);
            }
            return out;
        }
        default: return "(unknown reply type " + std::to_string(r->type) + ")";
    }
}

ContextPtr connect(int port, std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ContextPtr c(redisConnectWithTimeout("127.0.0.1", port, tv));
    if (!c) throw std::runtime_error("redis 127.0.0.1:" + std::to_string(port) + ": cannot allocate a context");
    if (c->err != 0) {
        throw std::runtime_error("redis 127.0.0.1:" + std::to_string(port) + ": " + std::string(c->errstr));
    }
    redisSetTimeout(c.get(), tv);
    return c;
}

ReplyPtr run(redisContext* c, const std::vector<std::string>& argv) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data())));
    if (!r) throw std::runtime_error(std::string("redis: ") + (c->err != 0 ? c->errstr : "no reply"));
    return r;
}

}  // namespace

std::string redis_server_executable() {
    if (const char* path = std::getenv("PATH")) {
        std::istringstream dirs(path);
        std::string d;
        while (std::getline(dirs, d, ':')) {
            if (d.empty()) continue;
            const std::string candidate = d + "/redis-server";
            if (executable(candidate)) return candidate;
        }
    }
    return executable("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "";
}

bool redis_server_available() {
    return !redis_server_executable().empty();
}

RedisServer::RedisServer() : RedisServer(Options{}) {}

RedisServer::RedisServer(Options o) : options_(std::move(o)), root_(make_temp_dir()) {
    try {
        fs::create_directories(dir());
        // The port is free when we look; another process may take it before redis binds it, so
        // a start that fails is retried on a new port (a few times).
        for (int attempt = 0;; ++attempt) {
            port_ = free_port();
            try {
                start();
                return;
            } catch (const std::runtime_error&) {
                if (attempt >= 2 || log_tail().find("Address already in use") == std::string::npos) throw;
            }
        }
    } catch (...) {
        std::error_code ignored;
        fs::remove_all(root_, ignored);
        throw;
    }
}

RedisServer::~RedisServer() {
    reap(SIGTERM);
    std::error_code ignored;
    fs::remove_all(root_, ignored);
}

std::string RedisServer::url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
}

std::string RedisServer::log_tail(std::size_t lines) const {
    std::ifstream in(log_path());
    std::deque<std::string> tail;
    std::string line;
    while (std::getline(in, line)) {
        tail.push_back(line);
        if (tail.size() > lines) tail.pop_front();
    }
    std::string out;
    for (const auto& l : tail) out += l + "\n";
    return out;
}

void RedisServer::write_config() const {
    std::ofstream conf(root_ / "redis.conf", std::ios::trunc);
    conf << "port " << port_ << "\n"
         << "bind 127.0.0.1\n"
         << "protected-mode no\n"
         << "daemonize no\n"
         << "dir " << dir().string() << "\n"
         << "logfile " << log_path().string() << "\n"
         << "save \"\"\n"
         << "appendonly " << (options_.appendonly ? "yes" : "no") << "\n"
         << "appendfsync " << options_.appendfsync << "\n";
    if (options_.unix_socket) conf << "unixsocket " << socket_path().string() << "\nunixsocketperm 700\n";
    for (const auto& line : options_.extra_config) conf << line << "\n";
    if (!conf.good()) throw std::runtime_error("cannot write " + (root_ / "redis.conf").string());
}

void RedisServer::spawn() {
    const std::string exe = redis_server_executable();
    if (exe.empty()) throw std::runtime_error("redis-server not found on PATH (Debian: apt-get install redis-server)");
    const std::string conf = (root_ / "redis.conf").string();
    const std::string log = log_path().string();  // also redis' stdout/stderr (configuration errors)
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
        // Child: only async-signal-safe calls until execv.
        if (::getppid() != parent) ::_exit(127);  // the test process died already
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
        const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log_fd >= 0) {
            ::dup2(log_fd, STDOUT_FILENO);
            ::dup2(log_fd, STDERR_FILENO);
        }
        ::close_range(3, ~0U, 0);
        char* const argv[] = {const_cast<char*>(exe.c_str()), const_cast<char*>(conf.c_str()), nullptr};
        ::execv(exe.c_str(), argv);
        ::_exit(127);
    }
    pid_ = pid;
    start_watchdog();
}

void RedisServer::start_watchdog() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    const pid_t redis = pid_;
    const pid_t w = ::fork();
    if (w < 0) {
        const int e = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        throw std::system_error(e, std::generic_category(), "fork (watchdog)");
    }
    if (w == 0) {
        // Watchdog: keeps nothing of the test process but the pipe's read end, waits for EOF
        // (the test process is gone: nobody else holds the write end) and kills redis.
        ::dup2(fds[0], 3);
        ::close_range(4, ~0U, 0);
        ::signal(SIGINT, SIG_IGN);  // a ^C to the process group must not orphan redis
        char c = 0;
        while (::read(3, &c, 1) < 0 && errno == EINTR) {
        }
        ::kill(redis, SIGKILL);
        ::_exit(0);
    }
    ::close(fds[0]);
    watchdog_ = w;
    watch_fd_ = fds[1];
}

void RedisServer::stop_watchdog() {
    if (watchdog_ > 0) {
        ::kill(watchdog_, SIGKILL);
        int status = 0;
        while (::waitpid(watchdog_, &status, 0) < 0 && errno == EINTR) {
        }
        watchdog_ = -1;
    }
    if (watch_fd_ >= 0) {
        ::close(watch_fd_);
        watch_fd_ = -1;
    }
}

void RedisServer::wait_ready() {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    std::string last_error;
    while (Clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            stop_watchdog();
            throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                                     " exited during start-up; redis.log:\n" + log_tail());
        }
        try {
            ContextPtr c = connect(port_, std::chrono::milliseconds(500));
            ReplyPtr r = run(c.get(), {"PING"});
            // PONG, or NOAUTH when a password is configured: either way it serves. LOADING (the
            // AOF is still being replayed) is not ready yet.
            const std::string text = render(r.get());
            if (text.rfind("(error) LOADING", 0) != 0) return;
            last_error = text;
        } catch (const std::runtime_error& e) {
            last_error = e.what();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    reap(SIGKILL);
    throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not answer PING within 10 s (" +
                             last_error + "); redis.log:\n" + log_tail());
}

void RedisServer::reap(int signal_first) {
    // The watchdog first: once redis is reaped its PID may belong to someone else.
    stop_watchdog();
    if (pid_ <= 0) return;
    ::kill(pid_, signal_first);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    auto resend = Clock::now() + std::chrono::milliseconds(200);
    int status = 0;
    while (true) {
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) break;
        if (signal_first != SIGKILL && Clock::now() >= resend) {
            // Redis refuses one SIGTERM while it writes its initial AOF ("can't exit") and does
            // not retry by itself: ask again.
            ::kill(pid_, signal_first);
            resend = Clock::now() + std::chrono::milliseconds(200);
        }
        if (Clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
}

void RedisServer::kill9() {
    reap(SIGKILL);
}

void RedisServer::stop() {
    reap(SIGTERM);
}

void RedisServer::start() {
    if (running()) return;
    fs::create_directories(dir());
    write_config();
    spawn();
    wait_ready();
}

std::string RedisServer::command(const std::vector<std::string>& argv, const std::string& password) {
    ContextPtr c = connect(port_, std::chrono::seconds(5));
    if (!password.empty()) {
        ReplyPtr auth = run(c.get(), {"AUTH", password});
        if (auth->type == REDIS_REPLY_ERROR) return render(auth.get());
    }
    return render(run(c.get(), argv).get());
}

}  // namespace macp::test
