// Integration-test harness: starts the real macp-runtime process on a free loopback port and
// talks to it with a real gRPC client. Every process started here is stopped by its PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "macp/v1/core.grpc.pb.h"
#include "storage/storage_backend.hpp"
#ifdef MACP_IT_HAVE_REDIS
#include "redis_server.hpp"
#endif

namespace macp::test {

// A fresh directory removed on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

int free_port();

// The storage backend a backend-parametrized test runs on: MACP_TEST_STORAGE_BACKEND (set per ctest
// variant by tests/integration/CMakeLists.txt), `file` when unset. ServerProcess passes it to the
// server as MACP_STORAGE_BACKEND unless the test sets that (or MACP_MEMORY_ONLY) itself.
std::string storage_backend();

// The settings (env name -> value) a ServerProcess on `data_dir` gives the server for the backend
// under test, beyond MACP_STORAGE_BACKEND: MACP_DATA_DIR, and for a remote backend its address
// and a key space of that data dir's own.
std::map<std::string, std::string> storage_settings(const std::filesystem::path& data_dir);

// Opens the store a ServerProcess on `data_dir` uses, in this process, through the same plugin
// (for planting records no client could send); the server must not be running. Throws
// std::runtime_error with the plugin host's message on failure.
std::unique_ptr<macp::storage::StorageBackend> open_store(const std::filesystem::path& data_dir);

// grpc.health.v1 Check of `service` ("" = the server as a whole); nullopt if the call failed.
std::optional<grpc::health::v1::HealthCheckResponse::ServingStatus> health(const std::string& address,
                                                                           const std::string& service = "");
// Polls Check for "" and macp.v1.MACPRuntimeService until both report `want` (bounded by `timeout`).
bool health_becomes(const std::string& address, grpc::health::v1::HealthCheckResponse::ServingStatus want,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

#ifdef MACP_IT_HAVE_REDIS
// The redis-server of this test process (backend `redis`): started on first use, on the calling
// thread (call it from the main thread), stopped at exit. Tests may kill and restart it.
RedisServer& test_redis();
#endif

class ServerProcess {
public:
    // env: extra variables; MACP_BIND_ADDR, MACP_DATA_DIR default to a free port / `data_dir`,
    // MACP_STORAGE_BACKEND to storage_backend() when MACP_TEST_STORAGE_BACKEND is set.
    ServerProcess(std::map<std::string, std::string> env, std::filesystem::path data_dir);
    ~ServerProcess();  // SIGKILL if still running
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // Starts and waits until the port accepts gRPC calls; false if the process exited instead.
    bool start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // Runs the binary with `args` to completion (no server); returns exit code, output in `out`.
    static int run_to_exit(const std::map<std::string, std::string>& env, const std::vector<std::string>& args,
                           std::string& out, std::chrono::milliseconds timeout = std::chrono::seconds(20));
    int stop(int signal_number);  // sends the signal, waits, returns the exit status (or -signal)
    void kill9() { stop(9); }
    [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] std::string log() const;
    [[nodiscard]] bool running() const { return pid_ > 0; }
    [[nodiscard]] pid_t pid() const { return pid_; }

    static std::string binary();
    static std::string plugin_dir();

private:
    std::map<std::string, std::string> env_;
    std::filesystem::path data_dir_;
    std::filesystem::path log_path_;
    int port_;
    pid_t pid_ = -1;
};

// A client bound to one server address with one credential.
// Channel limits and per-call deadline of a Client. Servers size their receive limit as
// MACP_MAX_PAYLOAD_BYTES + 64 KiB (CFG-23); a client moving such envelopes needs its own.
struct ClientOptions {
    int max_message_bytes = 0;  // 0: gRPC's defaults
    std::chrono::seconds deadline{20};
};

class Client {
public:
    explicit Client(const std::string& address, std::string bearer = {},
                    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials());
    Client(const std::string& address, std::string bearer, const ClientOptions& options);
    void set_bearer(std::string b) { bearer_ = std::move(b); }
    void set_header(std::string key, std::string value) { headers_[std::move(key)] = std::move(value); }

    macp::v1::Ack send(const macp::v1::Envelope& env, grpc::Status* status = nullptr);
    grpc::Status get_session(const std::string& id, macp::v1::SessionMetadata* out);
    grpc::Status cancel(const std::string& id, const std::string& reason, macp::v1::Ack* out);
    grpc::Status suspend(const std::string& id, const std::string& reason, macp::v1::Ack* out);
    grpc::Status resume(const std::string& id, const std::string& reason, macp::v1::Ack* out);
    grpc::Status list_sessions(const macp::v1::ListSessionsRequest& req, macp::v1::ListSessionsResponse* out);
    // Every session in memory, following page tokens (bounded to 10000 pages).
    grpc::Status list_all(std::vector<macp::v1::SessionMetadata>* out, int page_size = 1000);
    macp::v1::MACPRuntimeService::Stub& stub() { return *stub_; }
    std::unique_ptr<grpc::ClientContext> context();

private:
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<macp::v1::MACPRuntimeService::Stub> stub_;
    std::string bearer_;
    std::map<std::string, std::string> headers_;
    std::chrono::seconds deadline_{20};
};

// A fresh valid session id (lower-case UUID v4).
std::string new_session_id();

// Envelope builders.
macp::v1::Envelope envelope(const std::string& type, const std::string& session_id, const std::string& mode,
                            const std::string& message_id, std::string payload = {});
std::string session_start_payload(const std::vector<std::string>& participants, int64_t ttl_ms = 60'000,
                                  const std::string& mode_version = "1.0.0",
                                  const std::string& config_version = "cfg-1", const std::string& policy_version = "");
std::string commitment_payload(const std::string& action, bool positive, const std::string& mode_version = "1.0.0",
                               const std::string& config_version = "cfg-1", const std::string& policy_version = "");
std::string contribute_json(const std::string& value);

inline constexpr const char* kMultiRound = "ext.multi_round.v1";

}  // namespace macp::test
