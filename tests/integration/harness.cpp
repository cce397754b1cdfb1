#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "macp/modes/multi_round/v1/multi_round.pb.h"
#include "plugin_host/plugin_host.hpp"
#ifdef MACP_IT_HAVE_REDIS
#include "redis_server.hpp"
#endif

extern char** environ;  // NOLINT

namespace macp::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "macp-it-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string storage_backend() {
    const char* b = std::getenv("MACP_TEST_STORAGE_BACKEND");
    return b == nullptr || *b == '\0' ? std::string("file") : std::string(b);
}

#ifdef MACP_IT_HAVE_REDIS
RedisServer& test_redis() {
    // One redis-server per test process, started on first use and stopped (by PID) at exit; each
    // data dir gets a key space of its own in it (storage_settings).
    static RedisServer server;
    return server;
}
#endif

std::map<std::string, std::string> storage_settings(const fs::path& data_dir) {
    std::map<std::string, std::string> settings{{"MACP_DATA_DIR", data_dir.string()}};
    if (storage_backend() == "redis") {
#ifdef MACP_IT_HAVE_REDIS
        settings["MACP_REDIS_URL"] = test_redis().url();
        settings["MACP_REDIS_KEY_PREFIX"] =
            "it" + std::to_string(std::hash<std::string>{}(fs::absolute(data_dir).lexically_normal().string())) + ":";
#else
        throw std::runtime_error("the redis backend needs the macp_test_redis support library (libhiredis-dev)");
#endif
    }
    return settings;
}

std::unique_ptr<macp::storage::StorageBackend> open_store(const fs::path& data_dir) {
    std::vector<fs::path> dirs;
    if (!ServerProcess::plugin_dir().empty()) dirs.emplace_back(ServerProcess::plugin_dir());
    macp::plugin_host::PluginHost host(dirs);
    auto store = host.open_storage("storage-" + storage_backend(), storage_settings(data_dir));
    if (!store) throw std::runtime_error("cannot open the test store: " + store.error());
    return std::move(store.value());
}

std::optional<grpc::health::v1::HealthCheckResponse::ServingStatus> health(const std::string& address,
                                                                           const std::string& service) {
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!stub->Check(&ctx, req, &resp).ok()) return std::nullopt;
    return resp.status();
}

bool health_becomes(const std::string& address, grpc::health::v1::HealthCheckResponse::ServingStatus want,
                    std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (health(address, "") == want && health(address, "macp.v1.MACPRuntimeService") == want) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

std::string ServerProcess::binary() {
    const char* b = std::getenv("MACP_TEST_SERVER_BIN");
    if (b == nullptr) throw std::runtime_error("MACP_TEST_SERVER_BIN is not set");
    return b;
}

std::string ServerProcess::plugin_dir() {
    const char* d = std::getenv("MACP_TEST_PLUGIN_DIR");
    return d == nullptr ? std::string() : std::string(d);
}

namespace {

// The child's environment: ours minus MACP_* (tests must not inherit a developer's settings),
// plus the test's variables.
std::vector<std::string> child_env(const std::map<std::string, std::string>& extra) {
    std::vector<std::string> out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string kv(*e);
        if (kv.rfind("MACP_", 0) == 0 || kv.rfind("RUST_LOG=", 0) == 0) continue;
        out.push_back(kv);
    }
    if (!ServerProcess::plugin_dir().empty() && extra.count("MACP_PLUGIN_PATH") == 0) {
        out.push_back("MACP_PLUGIN_PATH=" + ServerProcess::plugin_dir());
    }
    for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
    return out;
}

pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log_path) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    return pid;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1000;  // timed out
}

}  // namespace

ServerProcess::ServerProcess(std::map<std::string, std::string> env, fs::path data_dir)
    : env_(std::move(env)), data_dir_(std::move(data_dir)), port_(free_port()) {
    if (env_.count("MACP_BIND_ADDR") == 0) env_["MACP_BIND_ADDR"] = "127.0.0.1:" + std::to_string(port_);
    for (auto& [key, value] : storage_settings(data_dir_)) env_.emplace(key, value);  // the test's own win
    const char* backend = std::getenv("MACP_TEST_STORAGE_BACKEND");
    if (backend != nullptr && *backend != '\0' && env_.count("MACP_STORAGE_BACKEND") == 0 &&
        env_.count("MACP_MEMORY_ONLY") == 0) {
        // "memory": the built-in backend, whose writes complete inline (no group committer).
        if (std::string_view(backend) == "memory") {
            env_["MACP_MEMORY_ONLY"] = "1";
        } else {
            env_["MACP_STORAGE_BACKEND"] = backend;
        }
    }
    log_path_ = data_dir_.parent_path() / (data_dir_.filename().string() + "-server.log");
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0) stop(SIGKILL);
}

bool ServerProcess::start(std::chrono::milliseconds timeout) {
    pid_ = spawn({binary()}, child_env(env_), log_path_.string());
    // gRPC backs off for a second or more after a refused connection; poll quickly instead.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
    auto channel = grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        if (env_.count("MACP_TLS_CERT_PATH") != 0) {
            // A TLS server: wait for the port to accept TCP instead of a plaintext handshake.
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(static_cast<uint16_t>(port_));
            bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
            ::close(fd);
            if (ok) return true;
        } else if (channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::milliseconds(200))) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

int ServerProcess::stop(int signal_number) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, signal_number);
    int rc = wait_exit(pid_, std::chrono::seconds(30));
    pid_ = -1;
    return rc;
}

std::string ServerProcess::log() const {
    return slurp(log_path_);
}

int ServerProcess::run_to_exit(const std::map<std::string, std::string>& env, const std::vector<std::string>& args,
                               std::string& out, std::chrono::milliseconds timeout) {
    TempDir dir;
    auto log = (dir.path() / "out.log").string();
    std::vector<std::string> argv{binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t pid = spawn(argv, child_env(env), log);
    int rc = wait_exit(pid, timeout);
    out = slurp(log);
    return rc;
}

Client::Client(const std::string& address, std::string bearer, std::shared_ptr<grpc::ChannelCredentials> creds)
    : channel_(grpc::CreateChannel(address, std::move(creds))),
      stub_(macp::v1::MACPRuntimeService::NewStub(channel_)),
      bearer_(std::move(bearer)) {}

namespace {
std::shared_ptr<grpc::Channel> channel_with(const std::string& address, const ClientOptions& options) {
    grpc::ChannelArguments args;
    if (options.max_message_bytes > 0) {
        args.SetMaxSendMessageSize(options.max_message_bytes);
        args.SetMaxReceiveMessageSize(options.max_message_bytes);
    }
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}
}  // namespace

Client::Client(const std::string& address, std::string bearer, const ClientOptions& options)
    : channel_(channel_with(address, options)),
      stub_(macp::v1::MACPRuntimeService::NewStub(channel_)),
      bearer_(std::move(bearer)),
      deadline_(options.deadline) {}

grpc::Status Client::list_all(std::vector<macp::v1::SessionMetadata>* out, int page_size) {
    macp::v1::ListSessionsRequest req;
    req.set_page_size(page_size);
    for (int page = 0; page < 10000; ++page) {
        macp::v1::ListSessionsResponse resp;
        auto st = list_sessions(req, &resp);
        if (!st.ok()) return st;
        for (const auto& m : resp.sessions()) out->push_back(m);
        if (resp.next_page_token().empty()) return st;
        req.set_page_token(resp.next_page_token());
    }
    return {grpc::StatusCode::INTERNAL, "ListSessions did not finish in 10000 pages"};
}

std::unique_ptr<grpc::ClientContext> Client::context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + deadline_);
    if (!bearer_.empty()) ctx->AddMetadata("authorization", "Bearer " + bearer_);
    for (const auto& [k, v] : headers_) ctx->AddMetadata(k, v);
    return ctx;
}

macp::v1::Ack Client::send(const macp::v1::Envelope& env, grpc::Status* status) {
    macp::v1::SendRequest req;
    *req.mutable_envelope() = env;
    macp::v1::SendResponse resp;
    auto ctx = context();
    auto st = stub_->Send(ctx.get(), req, &resp);
    if (status != nullptr) *status = st;
    return resp.ack();
}

grpc::Status Client::get_session(const std::string& id, macp::v1::SessionMetadata* out) {
    macp::v1::GetSessionRequest req;
    req.set_session_id(id);
    macp::v1::GetSessionResponse resp;
    auto ctx = context();
    auto st = stub_->GetSession(ctx.get(), req, &resp);
    if (out != nullptr) *out = resp.metadata();
    return st;
}

grpc::Status Client::cancel(const std::string& id, const std::string& reason, macp::v1::Ack* out) {
    macp::v1::CancelSessionRequest req;
    req.set_session_id(id);
    req.set_reason(reason);
    macp::v1::CancelSessionResponse resp;
    auto ctx = context();
    auto st = stub_->CancelSession(ctx.get(), req, &resp);
    if (out != nullptr) *out = resp.ack();
    return st;
}

grpc::Status Client::suspend(const std::string& id, const std::string& reason, macp::v1::Ack* out) {
    macp::v1::SuspendSessionRequest req;
    req.set_session_id(id);
    req.set_reason(reason);
    macp::v1::SuspendSessionResponse resp;
    auto ctx = context();
    auto st = stub_->SuspendSession(ctx.get(), req, &resp);
    if (out != nullptr) *out = resp.ack();
    return st;
}

grpc::Status Client::resume(const std::string& id, const std::string& reason, macp::v1::Ack* out) {
    macp::v1::ResumeSessionRequest req;
    req.set_session_id(id);
    req.set_reason(reason);
    macp::v1::ResumeSessionResponse resp;
    auto ctx = context();
    auto st = stub_->ResumeSession(ctx.get(), req, &resp);
    if (out != nullptr) *out = resp.ack();
    return st;
}

grpc::Status Client::list_sessions(const macp::v1::ListSessionsRequest& req, macp::v1::ListSessionsResponse* out) {
    auto ctx = context();
    return stub_->ListSessions(ctx.get(), req, out);
}

std::string new_session_id() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    uint64_t a = rng();
    uint64_t b = rng();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

macp::v1::Envelope envelope(const std::string& type, const std::string& session_id, const std::string& mode,
                            const std::string& message_id, std::string payload) {
    macp::v1::Envelope e;
    e.set_macp_version("1.0");
    e.set_mode(mode);
    e.set_message_type(type);
    e.set_message_id(message_id);
    e.set_session_id(session_id);
    e.set_timestamp_unix_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    e.set_payload(std::move(payload));
    return e;
}

std::string session_start_payload(const std::vector<std::string>& participants, int64_t ttl_ms,
                                  const std::string& mode_version, const std::string& config_version,
                                  const std::string& policy_version) {
    macp::v1::SessionStartPayload p;
    p.set_intent("integration test");
    for (const auto& x : participants) p.add_participants(x);
    p.set_mode_version(mode_version);
    p.set_configuration_version(config_version);
    p.set_policy_version(policy_version);
    p.set_ttl_ms(ttl_ms);
    return p.SerializeAsString();
}

std::string commitment_payload(const std::string& action, bool positive, const std::string& mode_version,
                               const std::string& config_version, const std::string& policy_version) {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id("c-1");
    c.set_action(action);
    c.set_authority_scope("session");
    c.set_reason("agreed");
    c.set_mode_version(mode_version);
    c.set_configuration_version(config_version);
    c.set_policy_version(policy_version);
    c.set_outcome_positive(positive);
    return c.SerializeAsString();
}

std::string contribute_json(const std::string& value) {
    return R"({"value":")" + value + R"("})";
}

}  // namespace macp::test
