#include "service/tls_credentials.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

namespace macp::service {

namespace {

namespace fs = std::filesystem;

// gRPC re-reads the staged copies this often; only accepted changes ever land there.
constexpr unsigned int kStagedRefreshSecs = 1;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

Result<std::string, std::string> read_file(const std::string& env, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(env + ": cannot read '" + path + "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string openssl_error() {
    const unsigned long e = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
    ERR_clear_error();
    if (e == 0) return "no PEM data found";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

std::unique_ptr<BIO, BioFree> bio_of(const std::string& pem) {
    return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Writes `bytes` to `path` through a private temporary and a rename, so gRPC never reads half.
void write_private(const fs::path& path, const std::string& bytes) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << bytes;
        if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write);
    fs::rename(tmp, path);
}

fs::path make_stage_dir() {
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm")
                                                                                        : fs::temp_directory_path();
    std::string pattern = (base / "macp-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "cannot create a directory in " + base.string());
    }
    return pattern;  // mkdtemp makes it 0700
}

}  // namespace

Result<void, std::string> check_tls_pems(const std::string& cert_pem, const std::string& key_pem,
                                         const std::string& ca_pem, const TlsPaths& paths) {
    ERR_clear_error();
    auto cert_bio = bio_of(cert_pem);
    std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        return fail("MACP_TLS_CERT_PATH: '" + paths.cert_path + "' holds no PEM certificate (" + openssl_error() + ")");
    }
    auto key_bio = bio_of(key_pem);
    std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
        return fail("MACP_TLS_KEY_PATH: '" + paths.key_path + "' holds no unencrypted PEM private key (" +
                    openssl_error() + ")");
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        return fail("MACP_TLS_KEY_PATH: the key in '" + paths.key_path + "' does not belong to the certificate in '" +
                    paths.cert_path + "'");
    }
    if (!paths.client_ca_path.empty()) {
        auto ca_bio = bio_of(ca_pem);
        std::unique_ptr<X509, X509Free> ca(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
        if (!ca) {
            return fail("MACP_TLS_CLIENT_CA_PATH: '" + paths.client_ca_path + "' holds no PEM certificate (" +
                        openssl_error() + ")");
        }
    }
    return {};
}

Result<TlsFiles::Pems, std::string> TlsFiles::read_pems(const TlsPaths& paths) {
    Pems p;
    auto cert = read_file("MACP_TLS_CERT_PATH", paths.cert_path);
    if (!cert) return fail(cert.error());
    auto key = read_file("MACP_TLS_KEY_PATH", paths.key_path);
    if (!key) return fail(key.error());
    p.cert = std::move(cert.value());
    p.key = std::move(key.value());
    if (!paths.client_ca_path.empty()) {
        auto ca = read_file("MACP_TLS_CLIENT_CA_PATH", paths.client_ca_path);
        if (!ca) return fail(ca.error());
        p.ca = std::move(ca.value());
    }
    if (auto ok = check_tls_pems(p.cert, p.key, p.ca, paths); !ok) return fail(ok.error());
    return p;
}

Result<TlsFiles::Pems, std::string> TlsFiles::read_sources() const {
    return read_pems(paths_);
}

Result<void, std::string> TlsFiles::check(const TlsPaths& paths) {
    try {
        auto pems = read_pems(paths);
        if (!pems) return fail(pems.error());
        return {};
    } catch (const std::exception& e) {
        return fail(std::string("TLS: ") + e.what());
    }
}

void TlsFiles::stage(const Pems& pems) const {
    // Key before certificate: gRPC retries a pair that does not match yet, for a moment.
    write_private(stage_ / "key.pem", pems.key);
    write_private(stage_ / "cert.pem", pems.cert);
    if (!paths_.client_ca_path.empty()) write_private(stage_ / "client-ca.pem", pems.ca);
}

TlsFiles::TlsFiles(Key, TlsPaths paths, fs::path stage) : paths_(std::move(paths)), stage_(std::move(stage)) {}

Result<std::unique_ptr<TlsFiles>, std::string> TlsFiles::create(const TlsPaths& paths) {
    try {
        auto files = std::make_unique<TlsFiles>(Key{}, paths, make_stage_dir());
        auto pems = files->read_sources();
        if (!pems) return fail(pems.error());
        files->stage(*pems);
        files->current_ = std::move(pems.value());
        files->thread_ = std::thread([f = files.get()] { f->watch(); });
        return files;
    } catch (const std::exception& e) {
        return fail(std::string("TLS: ") + e.what());
    }
}

TlsFiles::~TlsFiles() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::error_code ec;
    fs::remove_all(stage_, ec);
}

void TlsFiles::watch() {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, std::chrono::seconds(paths_.reload_secs), [&] { return stop_; })) {
        auto pems = read_sources();
        if (!pems) {
            if (pems.error() != last_rejected_) {
                spdlog::error("TLS files changed but cannot be used, still serving the previous certificate: {}",
                              pems.error());
                last_rejected_ = pems.error();
            }
            continue;
        }
        last_rejected_.clear();
        if (*pems == current_) continue;
        try {
            stage(*pems);
            current_ = std::move(pems.value());
            spdlog::info("TLS certificate, key{} reloaded from {}",
                         paths_.client_ca_path.empty() ? "" : " and client CA", paths_.cert_path);
        } catch (const std::exception& e) {
            spdlog::error("TLS reload failed, still serving the previous certificate: {}", e.what());
        }
    }
}

std::shared_ptr<grpc::ServerCredentials> TlsFiles::credentials() const {
    const std::string key = (stage_ / "key.pem").string();
    const std::string cert = (stage_ / "cert.pem").string();
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
    if (paths_.client_ca_path.empty()) {
        provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(key, cert, kStagedRefreshSecs);
    } else {
        provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            key, cert, (stage_ / "client-ca.pem").string(), kStagedRefreshSecs);
    }
    grpc::experimental::TlsServerCredentialsOptions options(provider);
    options.watch_identity_key_cert_pairs();
    if (paths_.client_ca_path.empty()) {
        options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    } else {
        options.watch_root_certs();
        options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    }
    return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace macp::service
