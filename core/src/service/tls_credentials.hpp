// The listener's TLS credentials (AUTH-TLS-1, issue #12): server certificate and key, optionally a
// client CA that every client certificate must chain to (mTLS). TLS 1.2 is the minimum (gRPC's
// floor: TLS 1.0/1.1 handshakes are refused).
//
// Reload without restart: gRPC's file-watcher provider re-reads files by itself, but a broken
// file (half-written, a key that does not match) makes it drop the identity and fail every new
// handshake. So gRPC watches private copies instead, and TlsFiles' thread replaces a copy only
// after the operator's new files passed the same checks as at start-up: a broken replacement is
// logged and ignored, and the server keeps serving the last good certificate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/security/server_credentials.h>

#include "util/result.hpp"

namespace macp::service {

struct TlsPaths {
    std::string cert_path;       // PEM certificate chain
    std::string key_path;        // PEM private key
    std::string client_ca_path;  // PEM CA bundle; empty = no client certificates asked for
    int64_t reload_secs = 60;    // how often the operator's files are checked for changes
};

// The three PEM texts checked together: a certificate, an unencrypted private key that belongs
// to it, and (when `ca` is not empty) at least one CA certificate. The error names the variable.
Result<void, std::string> check_tls_pems(const std::string& cert, const std::string& key, const std::string& ca,
                                         const TlsPaths& paths);

class TlsFiles {
public:
    // Reads and checks the files (a broken configuration fails start-up with a precise message),
    // stages private copies (mode 0600 in a 0700 directory on /dev/shm, so the key copy never
    // reaches a disk; the system temp dir where there is none) and starts watching the originals.
    static Result<std::unique_ptr<TlsFiles>, std::string> create(const TlsPaths& paths);
    // The same reads and checks, nothing staged or watched (`--check-config`).
    static Result<void, std::string> check(const TlsPaths& paths);
    ~TlsFiles();  // stops watching, removes the copies
    TlsFiles(const TlsFiles&) = delete;
    TlsFiles& operator=(const TlsFiles&) = delete;

    // Credentials over the staged copies; they follow every accepted change.
    [[nodiscard]] std::shared_ptr<grpc::ServerCredentials> credentials() const;

private:
    struct Key {
        explicit Key() = default;
    };

public:
    TlsFiles(Key, TlsPaths paths, std::filesystem::path stage);

private:
    struct Pems {
        std::string cert, key, ca;
        bool operator==(const Pems&) const = default;
    };
    static Result<Pems, std::string> read_pems(const TlsPaths& paths);
    Result<Pems, std::string> read_sources() const;
    void stage(const Pems& pems) const;
    void watch();

    TlsPaths paths_;
    std::filesystem::path stage_;
    Pems current_;
    std::string last_rejected_;  // the error last logged for a broken change (logged once)
    std::mutex mu_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace macp::service
