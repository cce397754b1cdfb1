#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using macp::config::Action;
using macp::config::Config;
using Env = std::map<std::string, std::string>;
using ParseResult = macp::Result<macp::config::Parsed, std::vector<std::string>>;

ParseResult parse_args(const std::vector<std::string>& args, const Env& env) {
    std::vector<const char*> argv{"macp-runtime"};
    for (const auto& arg : args) argv.push_back(arg.c_str());
    return macp::config::parse(static_cast<int>(argv.size()), argv.data(), env);
}

const Env kInsecure{{"MACP_ALLOW_INSECURE", "1"}};
// A static-token configuration, so TLS rules can be checked without the insecure opt-in.
const Env kWithTokens{{"MACP_AUTH_TOKENS_JSON", "[]"}};

Env with_tokens(Env extra) {
    extra.emplace("MACP_AUTH_TOKENS_JSON", "[]");
    return extra;
}

Env insecure_with(Env extra) {
    extra.emplace("MACP_ALLOW_INSECURE", "1");
    return extra;
}

Config parse_ok(const std::vector<std::string>& args, const Env& env) {
    auto result = parse_args(args, env);
    if (!result.ok()) {
        for (const auto& message : result.error()) UNSCOPED_INFO(message);
    }
    REQUIRE(result.ok());
    return result->config;
}

std::vector<std::string> parse_errors(const std::vector<std::string>& args, const Env& env) {
    auto result = parse_args(args, env);
    REQUIRE_FALSE(result.ok());
    return result.error();
}

bool mentions(const std::vector<std::string>& errors, const std::string& part) {
    for (const auto& error : errors) {
        if (error.find(part) != std::string::npos) return true;
    }
    return false;
}

// Real files, because TLS validation checks the filesystem (AUTH-TLS-3).
class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("macp-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const {
        const auto path = path_ / name;
        std::ofstream(path) << "-----BEGIN PLACEHOLDER-----\n";
        return path.string();
    }
    std::string path() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

}  // namespace

TEST_CASE("defaults apply when nothing is set", "[config]") {
    const auto config = parse_ok({}, kInsecure);
    CHECK(config.bind_addr == "127.0.0.1:50051");
    CHECK(config.allow_insecure);
    CHECK(config.tls_cert_path.empty());
    CHECK(config.data_dir == ".macp-data");
    CHECK(config.storage_backend == "file");
    CHECK(config.rocksdb_path == ".macp-data/rocksdb");
    CHECK(config.redis_url == "redis://127.0.0.1:6379");
    CHECK_FALSE(config.memory_only);
    CHECK_FALSE(config.strict_recovery);
    CHECK(config.max_payload_bytes == 1048576);
    CHECK(config.session_start_limit_per_minute == 60);
    CHECK(config.message_limit_per_minute == 600);
    CHECK(config.checkpoint_interval == 0);
    CHECK(config.cleanup_interval_secs == 60);
    CHECK(config.session_retention_secs == 3600);
    CHECK(config.shutdown_drain_secs == 10);
    CHECK(config.max_concurrent_streams == 128);
    CHECK(config.concurrency_limit_per_connection == 64);
    CHECK(config.request_timeout_secs == 30);
    CHECK(config.session_disk_retention_secs == 0);
    CHECK(config.metrics_addr.empty());
    CHECK(config.policies_dir.empty());
    CHECK(config.log_level == "info");
    CHECK(config.log_format == "text");
    CHECK(config.plugin_path.empty());
}

TEST_CASE("defaults are visible in settings so plugins resolve their keys", "[config]") {
    const auto config = parse_ok({}, kInsecure);
    CHECK(config.settings.at("MACP_DATA_DIR") == ".macp-data");
    CHECK(config.settings.at("MACP_ROCKSDB_PATH") == ".macp-data/rocksdb");
    CHECK(config.settings.at("MACP_REDIS_URL") == "redis://127.0.0.1:6379");
    CHECK(config.settings.at("MACP_BIND_ADDR") == "127.0.0.1:50051");
    CHECK(config.settings.at("RUST_LOG") == "info");
    // Keys without a default stay absent, as the plugin ABI expects for "not configured".
    CHECK(config.settings.count("MACP_AUTH_TOKENS_FILE") == 0);
    CHECK(config.settings.count("MACP_TLS_CERT_PATH") == 0);
}

TEST_CASE("rocksdb path follows the data dir unless set", "[config]") {
    CHECK(parse_ok({}, insecure_with({{"MACP_DATA_DIR", "/var/lib/macp"}})).rocksdb_path == "/var/lib/macp/rocksdb");
    CHECK(parse_ok({"--data-dir=/srv/d"}, kInsecure).settings.at("MACP_ROCKSDB_PATH") == "/srv/d/rocksdb");
    CHECK(parse_ok({}, insecure_with({{"MACP_ROCKSDB_PATH", "/db"}})).rocksdb_path == "/db");
}

TEST_CASE("environment values are read from the map given, not the process", "[config]") {
    ::setenv("MACP_BIND_ADDR", "not-an-address", 1);
    const auto config = parse_ok({}, kInsecure);
    ::unsetenv("MACP_BIND_ADDR");
    CHECK(config.bind_addr == "127.0.0.1:50051");
}

TEST_CASE("flags win over the environment", "[config]") {
    const Env env = insecure_with({{"MACP_BIND_ADDR", "0.0.0.0:1"}, {"MACP_DATA_DIR", "/env"}, {"RUST_LOG", "warn"}});
    const auto config = parse_ok({"--bind-addr=10.0.0.1:7000", "--data-dir", "/flag", "--log-level=debug"}, env);
    CHECK(config.bind_addr == "10.0.0.1:7000");
    CHECK(config.data_dir == "/flag");
    CHECK(config.log_level == "debug");
    CHECK(config.settings.at("MACP_BIND_ADDR") == "10.0.0.1:7000");
    CHECK(config.settings.at("MACP_DATA_DIR") == "/flag");
    CHECK(config.settings.at("RUST_LOG") == "debug");
}

TEST_CASE("plugin-only keys have flags and land in settings under their env names", "[config]") {
    const auto config =
        parse_ok({"--auth-audience=svc", "--auth-jwt-algs=ES256"}, insecure_with({{"MACP_AUTH_AUDIENCE", "env"}}));
    CHECK(config.settings.at("MACP_AUTH_AUDIENCE") == "svc");
    CHECK(config.settings.at("MACP_AUTH_JWT_ALGS") == "ES256");
}

TEST_CASE("unknown MACP_ variables are not errors and are kept for plugins", "[config]") {
    const auto config = parse_ok(
        {}, insecure_with(
                {{"MACP_RUNTIME_TARGET", "x:1"}, {"MACP_MYPLUGIN_KEY", "v"}, {"PATH", "/usr/bin"}, {"HOME", "/root"}}));
    CHECK(config.settings.at("MACP_RUNTIME_TARGET") == "x:1");
    CHECK(config.settings.at("MACP_MYPLUGIN_KEY") == "v");
    CHECK(config.settings.count("PATH") == 0);
    CHECK(config.settings.count("HOME") == 0);
}

TEST_CASE("unknown flags and stray arguments are errors", "[config]") {
    CHECK(mentions(parse_errors({"--no-such-flag"}, kInsecure), "unknown option '--no-such-flag'"));
    // The value of a mistyped flag is not echoed: it may be a secret.
    const auto typo = parse_errors({"--auth-token-json=s3cret"}, kInsecure);
    CHECK(mentions(typo, "unknown option '--auth-token-json'"));
    CHECK_FALSE(mentions(typo, "s3cret"));
    CHECK(mentions(parse_errors({"serve"}, kInsecure), "unexpected argument 'serve'"));
    // Abbreviations are refused so that adding a flag never changes what an old script means.
    CHECK(mentions(parse_errors({"--bind=127.0.0.1:1"}, kInsecure), "unknown option"));
    // Even --help does not hide a typo next to it.
    CHECK(mentions(parse_errors({"--help", "--bogus"}, kInsecure), "unknown option '--bogus'"));
}

TEST_CASE("command-line syntax problems are reported", "[config]") {
    CHECK(mentions(parse_errors({"--bind-addr"}, kInsecure), "command line:"));
    CHECK(mentions(parse_errors({"--data-dir=/a", "--data-dir=/b"}, kInsecure), "--data-dir is given more than once"));
    CHECK(mentions(parse_errors({"--memory-only=yes"}, kInsecure), "--memory-only: expected 1 or 0, got 'yes'"));
}

TEST_CASE("every problem is reported at once", "[config]") {
    const Env env{
        {"MACP_BIND_ADDR", "localhost:50051"},
        {"MACP_MAX_PAYLOAD_BYTES", "12x"},
        {"MACP_SESSION_START_LIMIT_PER_MINUTE", "0"},
        {"MACP_MESSAGE_LIMIT_PER_MINUTE", "-1"},
        {"MACP_CHECKPOINT_INTERVAL", "-1"},
        {"MACP_CLEANUP_INTERVAL_SECS", "0"},
        {"MACP_SESSION_RETENTION_SECS", "abc"},
        {"MACP_SHUTDOWN_DRAIN_SECS", "99999999999999999999"},
        {"MACP_STORAGE_BACKEND", "Rocks-DB"},
        {"RUST_LOG", "loud"},
        {"MACP_LOG_FORMAT", "xml"},
        {"MACP_PLUGIN_PATH", "relative/dir:/abs"},
    };
    const auto errors = parse_errors({}, env);
    CHECK(errors.size() == 14);  // the twelve above plus no auth and no TLS without insecure mode
    CHECK(mentions(errors, "MACP_BIND_ADDR (--bind-addr): 'localhost:50051' is not a literal IP socket address"));
    CHECK(mentions(errors, "MACP_MAX_PAYLOAD_BYTES (--max-payload-bytes): '12x' is not an integer"));
    CHECK(mentions(
        errors,
        "MACP_SESSION_START_LIMIT_PER_MINUTE (--session-start-limit-per-minute): '0' is not a positive integer"));
    CHECK(
        mentions(errors, "MACP_MESSAGE_LIMIT_PER_MINUTE (--message-limit-per-minute): '-1' is not a positive integer"));
    CHECK(mentions(errors, "MACP_CHECKPOINT_INTERVAL (--checkpoint-interval): '-1' is not a non-negative integer"));
    CHECK(mentions(errors, "MACP_CLEANUP_INTERVAL_SECS (--cleanup-interval-secs): '0' is not a positive integer"));
    CHECK(mentions(errors, "MACP_SESSION_RETENTION_SECS (--session-retention-secs): 'abc' is not an integer"));
    CHECK(mentions(errors, "MACP_SHUTDOWN_DRAIN_SECS (--shutdown-drain-secs): '99999999999999999999' is out of range"));
    CHECK(mentions(errors,
                   "MACP_STORAGE_BACKEND (--storage-backend): 'Rocks-DB' is not a valid plugin name: a plugin name "
                   "starts with a lower-case letter or digit and continues with lower-case letters, digits, '-' and "
                   "'_', at most 64 characters"));
    CHECK(mentions(errors, "RUST_LOG (--log-level): 'loud' is not a log level"));
    CHECK(mentions(errors, "MACP_LOG_FORMAT (--log-format): 'xml' is not a log format"));
    CHECK(mentions(errors,
                   "MACP_PLUGIN_PATH (--plugin-path): 'relative/dir:/abs': entry 'relative/dir' is not an absolute"));
    CHECK(mentions(errors, "TLS is required unless MACP_ALLOW_INSECURE=1 is set"));
}

TEST_CASE("bind address must be a literal IP socket address (CFG-1)", "[config]") {
    for (const std::string good :
         {"0.0.0.0:50051", "127.0.0.1:1", "10.1.2.3:65535", "[::1]:50051", "[::]:8080", "[2001:db8::7]:443"}) {
        INFO(good);
        CHECK(parse_ok({"--bind-addr=" + good}, kInsecure).bind_addr == good);
    }
    for (const std::string bad :
         {"localhost:50051", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:50051", "1.2.3:80", "[::1]50051",
          "[::1]:", "127.0.0.1:+80", "127.0.0.1:80x", "256.0.0.1:80", " 127.0.0.1:80", ""}) {
        INFO(bad);
        CHECK(mentions(parse_errors({}, insecure_with({{"MACP_BIND_ADDR", bad}})), "MACP_BIND_ADDR (--bind-addr): '"));
    }
}

TEST_CASE("numbers are parsed strictly, never falling back to defaults", "[config]") {
    for (const std::string bad : {" 5", "5 ", "+5", "0x10", "5.0", "1e3", ""}) {
        INFO("'" << bad << "'");
        CHECK(mentions(parse_errors({}, insecure_with({{"MACP_MAX_PAYLOAD_BYTES", bad}})), "MACP_MAX_PAYLOAD_BYTES"));
    }
    CHECK(parse_ok({}, insecure_with({{"MACP_MAX_PAYLOAD_BYTES", "2048"}})).max_payload_bytes == 2048);
    CHECK(parse_ok({"--checkpoint-interval=0"}, kInsecure).checkpoint_interval == 0);
    CHECK(parse_ok({"--session-retention-secs=0"}, kInsecure).session_retention_secs == 0);
    CHECK(parse_ok({"--shutdown-drain-secs=0"}, kInsecure).shutdown_drain_secs == 0);
    CHECK(parse_ok({"--session-disk-retention-secs=86400"}, kInsecure).session_disk_retention_secs == 86400);
}

TEST_CASE("the session state bound is at least the payload limit (issue #8.4)", "[config]") {
    CHECK(parse_ok({}, kInsecure).max_session_state_bytes == 64LL * 1024 * 1024);
    CHECK(parse_ok({"--max-session-state-bytes=3000000"}, kInsecure).max_session_state_bytes == 3000000);
    // Unset, it follows a payload limit raised above its default.
    CHECK(parse_ok({"--max-payload-bytes=100000000"}, kInsecure).max_session_state_bytes == 100000000);
    CHECK(
        mentions(parse_errors({"--max-session-state-bytes=1000", "--max-payload-bytes=2048"}, kInsecure),
                 "MACP_MAX_SESSION_STATE_BYTES (--max-session-state-bytes): must be at least MACP_MAX_PAYLOAD_BYTES"));
    CHECK(mentions(parse_errors({"--max-session-state-bytes=0"}, kInsecure), "is not a positive integer"));
}

TEST_CASE("numbers have upper bounds where the transport or clocks need them", "[config]") {
    // gRPC's int receive limit is payload + 64 KiB.
    CHECK(parse_ok({"--max-payload-bytes=2147418111"}, kInsecure).max_payload_bytes == 2147418111);
    CHECK(mentions(parse_errors({"--max-payload-bytes=2147418112"}, kInsecure), "is too large (at most 2147418111)"));
    CHECK(mentions(parse_errors({"--max-concurrent-streams=2147483648"}, kInsecure), "is too large"));
    CHECK(mentions(parse_errors({"--cleanup-interval-secs=315360001"}, kInsecure), "is too large"));
    CHECK(mentions(parse_errors({"--request-timeout-secs=0"}, kInsecure), "is not a positive integer"));
    CHECK(mentions(parse_errors({"--max-concurrent-streams=0"}, kInsecure), "is not a positive integer"));
    CHECK(mentions(parse_errors({"--concurrency-limit-per-connection=0"}, kInsecure), "is not a positive integer"));
}

TEST_CASE("switches are on only for exactly 1 in the environment", "[config]") {
    CHECK(parse_ok({}, insecure_with({{"MACP_MEMORY_ONLY", "1"}})).memory_only);
    for (const std::string off : {"0", "true", "yes", "TRUE", " 1", ""}) {
        INFO("'" << off << "'");
        CHECK_FALSE(
            parse_ok({}, insecure_with({{"MACP_MEMORY_ONLY", off}, {"MACP_STRICT_RECOVERY", off}})).memory_only);
    }
    // "true" is not "1": the operator gets the TLS message naming the exact spelling.
    CHECK(mentions(parse_errors({}, {{"MACP_ALLOW_INSECURE", "true"}}), "MACP_ALLOW_INSECURE=1"));
}

TEST_CASE("switch flags take 1, 0 or no value", "[config]") {
    CHECK(parse_ok({"--allow-insecure"}, {}).allow_insecure);
    CHECK(parse_ok({"--allow-insecure=1"}, {}).allow_insecure);
    CHECK(parse_ok({"--memory-only", "--strict-recovery"}, kInsecure).memory_only);
    CHECK(parse_ok({"--strict-recovery"}, kInsecure).strict_recovery);
    CHECK(parse_ok({"--allow-insecure"}, {}).settings.at("MACP_ALLOW_INSECURE") == "1");
    CHECK(parse_ok({"--allow-insecure", "--check-config"}, {}).allow_insecure);
    // Boost 1.74 lets a switch take the next token as its value.
    CHECK(parse_ok({"--allow-insecure", "1"}, {}).allow_insecure);
    CHECK(mentions(parse_errors({"--allow-insecure", "serve"}, {}), "--allow-insecure: expected 1 or 0, got 'serve'"));
    // The flag turns off what the environment turned on.
    CHECK(mentions(parse_errors({"--allow-insecure=0"}, kInsecure), "TLS is required"));
}

TEST_CASE("TLS is required unless insecure mode is on (AUTH-TLS-2)", "[config][tls]") {
    const auto errors = parse_errors({}, kWithTokens);
    REQUIRE(errors.size() == 1);
    CHECK(errors.front() ==
          "TLS is required unless MACP_ALLOW_INSECURE=1 is set (set MACP_TLS_CERT_PATH and MACP_TLS_KEY_PATH)");
}

TEST_CASE("no auth resolver and no insecure mode: both problems, auth first (AUTH-DEV-5)", "[config][tls]") {
    const auto errors = parse_errors({}, {});
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].find("no authentication configured") != std::string::npos);
    CHECK(errors[0].find("MACP_AUTH_PLUGINS") != std::string::npos);
    CHECK(errors[1].find("TLS is required") != std::string::npos);
    CHECK(parse_ok({}, {{"MACP_AUTH_ISSUER", "https://issuer"}, {"MACP_ALLOW_INSECURE", "1"}}).auth_issuer ==
          "https://issuer");
}

TEST_CASE("TLS paths are checked on disk (AUTH-TLS-1, AUTH-TLS-3)", "[config][tls]") {
    TempDir dir;
    const auto cert = dir.file("cert.pem");
    const auto key = dir.file("key.pem");
    const auto missing = dir.path() + "/missing.pem";

    SECTION("both present: TLS without insecure mode") {
        const auto config = parse_ok({"--tls-cert-path=" + cert}, with_tokens({{"MACP_TLS_KEY_PATH", key}}));
        CHECK(config.tls_cert_path == cert);
        CHECK(config.tls_key_path == key);
        CHECK_FALSE(config.allow_insecure);
    }
    SECTION("both present with insecure mode is still fine") {
        CHECK(parse_ok({}, insecure_with({{"MACP_TLS_CERT_PATH", cert}, {"MACP_TLS_KEY_PATH", key}})).tls_key_path ==
              key);
    }
    SECTION("a path that does not exist") {
        const auto errors =
            parse_errors({}, with_tokens({{"MACP_TLS_CERT_PATH", missing}, {"MACP_TLS_KEY_PATH", key}}));
        REQUIRE(errors.size() == 1);
        CHECK(errors.front() == "MACP_TLS_CERT_PATH (--tls-cert-path): '" + missing + "' does not exist");
    }
    SECTION("a directory is not a key file") {
        CHECK(mentions(parse_errors({}, {{"MACP_TLS_CERT_PATH", cert}, {"MACP_TLS_KEY_PATH", dir.path()}}),
                       "is not a regular file"));
    }
    SECTION("only one of the pair is an error, even in insecure mode") {
        const auto errors = parse_errors({}, insecure_with({{"MACP_TLS_CERT_PATH", cert}}));
        REQUIRE(errors.size() == 1);
        CHECK(errors.front() ==
              "MACP_TLS_KEY_PATH (--tls-key-path): not set, but MACP_TLS_CERT_PATH is; TLS needs both");
        CHECK(mentions(parse_errors({"--tls-key-path=" + key}, kWithTokens),
                       "MACP_TLS_CERT_PATH (--tls-cert-path): not set"));
    }
    SECTION("one missing file and the other unset: both problems") {
        const auto errors = parse_errors({}, with_tokens({{"MACP_TLS_KEY_PATH", missing}}));
        CHECK(errors.size() == 2);
        CHECK(mentions(errors, "does not exist"));
        CHECK(mentions(errors, "TLS needs both"));
    }
}

TEST_CASE("log level accepts a level or a simple filter", "[config]") {
    const auto level = [](const std::string& filter) {
        return parse_ok({}, insecure_with({{"RUST_LOG", filter}})).log_level;
    };
    CHECK(level("debug") == "debug");
    CHECK(level("WARN") == "warn");
    CHECK(level("off") == "off");
    CHECK(level("macp=debug,info") == "info");         // the bare level is the global one
    CHECK(level("info,macp=trace,error") == "error");  // the last bare level wins
    CHECK(level("macp=debug") == "debug");             // no bare level: the first directive's
    CHECK(level("h2=warn, macp=trace") == "warn");
    CHECK(mentions(parse_errors({}, insecure_with({{"RUST_LOG", "macp=loud"}})), "'macp=loud' is not a log level"));
    CHECK(mentions(parse_errors({}, insecure_with({{"RUST_LOG", "macp"}})), "'macp' is not a log level"));
    CHECK(mentions(parse_errors({}, insecure_with({{"RUST_LOG", ""}})), "RUST_LOG (--log-level)"));
    // The raw filter is kept for whoever wants the full directive list.
    CHECK(parse_ok({}, insecure_with({{"RUST_LOG", "macp=debug,info"}})).settings.at("RUST_LOG") == "macp=debug,info");
}

TEST_CASE("log format is text or json", "[config]") {
    CHECK(parse_ok({"--log-format=json"}, kInsecure).log_format == "json");
    CHECK(parse_ok({}, insecure_with({{"MACP_LOG_FORMAT", "JSON"}})).log_format == "json");
}

TEST_CASE("plugin path entries must be absolute", "[config]") {
    CHECK(parse_ok({"--plugin-path=/opt/a:/opt/b"}, kInsecure).plugin_path == "/opt/a:/opt/b");
    CHECK(mentions(parse_errors({"--plugin-path=/opt/a::/opt/b"}, kInsecure), "entry '' is not an absolute"));
    CHECK(mentions(parse_errors({"--plugin-path=/opt/a:"}, kInsecure), "ends with an empty entry"));
}

TEST_CASE("metrics address allows host names and may be unset", "[config]") {
    CHECK(parse_ok({"--metrics-addr=localhost:9090"}, kInsecure).metrics_addr == "localhost:9090");
    CHECK(parse_ok({"--metrics-addr=[::1]:9090"}, kInsecure).metrics_addr == "[::1]:9090");
    CHECK(parse_ok({}, insecure_with({{"MACP_METRICS_ADDR", ""}})).metrics_addr.empty());
    CHECK(mentions(parse_errors({"--metrics-addr=9090"}, kInsecure),
                   "MACP_METRICS_ADDR (--metrics-addr): '9090' is not host:port"));
    CHECK(mentions(parse_errors({"--metrics-addr=host:0"}, kInsecure), "not in 1..65535"));
}

TEST_CASE("storage plugin follows the backend unless memory-only", "[config]") {
    CHECK(parse_ok({}, kInsecure).storage_plugin() == std::optional<std::string>("storage-file"));
    CHECK(parse_ok({"--storage-backend=rocksdb"}, kInsecure).storage_plugin() ==
          std::optional<std::string>("storage-rocksdb"));
    CHECK_FALSE(parse_ok({"--storage-backend=redis", "--memory-only"}, kInsecure).storage_plugin().has_value());
    // Whether the plugin exists is the plugin host's business.
    CHECK(parse_ok({"--storage-backend=my_store2"}, kInsecure).storage_plugin() ==
          std::optional<std::string>("storage-my_store2"));
}

TEST_CASE("auth plugins are chained JWT first, then static (AUTH-CHAIN-1)", "[config]") {
    using V = std::vector<std::string>;
    CHECK(parse_ok({}, kInsecure).auth_plugins().empty());
    CHECK(parse_ok({}, insecure_with({{"MACP_AUTH_TOKENS_JSON", "[]"}})).auth_plugins() == V{"auth-static"});
    CHECK(parse_ok({"--auth-tokens-file=/etc/t.json"}, kInsecure).auth_plugins() == V{"auth-static"});
    CHECK(parse_ok({"--auth-issuer=https://idp"}, kInsecure).auth_plugins() == V{"auth-jwt"});
    CHECK(parse_ok({"--auth-tokens-file=/t"}, insecure_with({{"MACP_AUTH_ISSUER", "iss"}})).auth_plugins() ==
          V{"auth-jwt", "auth-static"});
    CHECK(parse_ok({}, insecure_with({{"MACP_AUTH_ISSUER", ""}})).auth_plugins().empty());
}

TEST_CASE("render lists every setting sorted, with secrets masked", "[config][render]") {
    const auto config = parse_ok({"--auth-tokens-json=[{\"token\":\"s3cret\"}]"},
                                 insecure_with({{"MACP_AUTH_TOKENS_FILE", "/etc/macp/tokens.json"},
                                                {"MACP_REDIS_URL", "redis://user:hunter2@redis:6379/0"},
                                                {"MACP_VAULT_SECRET", "v"},
                                                {"MACP_API_TOKEN", "t"},
                                                {"MACP_DB_PASSWORD", "p"},
                                                {"MACP_JWKS_CUSTOM_URL", "https://:pw@idp/jwks"},
                                                {"MACP_OTHER", "plain"},
                                                {"MACP_PLUGIN_SECRETISH", ""}}));
    const auto text = macp::config::render(config);
    CHECK(text.find("s3cret") == std::string::npos);
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("MACP_AUTH_TOKENS_JSON=***\n") != std::string::npos);
    CHECK(text.find("MACP_AUTH_TOKENS_FILE=/etc/macp/tokens.json\n") != std::string::npos);
    CHECK(text.find("MACP_REDIS_URL=redis://user:***@redis:6379/0\n") != std::string::npos);
    CHECK(text.find("MACP_VAULT_SECRET=***\n") != std::string::npos);
    CHECK(text.find("MACP_API_TOKEN=***\n") != std::string::npos);
    CHECK(text.find("MACP_DB_PASSWORD=***\n") != std::string::npos);
    CHECK(text.find("MACP_JWKS_CUSTOM_URL=https://:***@idp/jwks\n") != std::string::npos);
    CHECK(text.find("MACP_OTHER=plain\n") != std::string::npos);
    CHECK(text.find("MACP_PLUGIN_SECRETISH=\n") != std::string::npos);  // an unset secret shows as unset
    // Known settings appear even when unset, with their effective (typed) value.
    CHECK(text.find("MACP_TLS_CERT_PATH=\n") != std::string::npos);
    CHECK(text.find("MACP_ALLOW_INSECURE=1\n") != std::string::npos);
    CHECK(text.find("MACP_MEMORY_ONLY=0\n") != std::string::npos);
    CHECK(text.find("RUST_LOG=info\n") != std::string::npos);

    std::vector<std::string> names;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) names.push_back(line.substr(0, line.find('=')));
    CHECK(std::is_sorted(names.begin(), names.end()));
    CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
}

TEST_CASE("render masks keys a plugin declared secret", "[config][render]") {
    const auto config = parse_ok({}, insecure_with({{"MACP_AUTH_JWKS_JSON", "{\"keys\":[]}"}}));
    CHECK(macp::config::render(config).find("MACP_AUTH_JWKS_JSON={\"keys\":[]}\n") != std::string::npos);
    macp::config::PluginDeclaration jwt{"auth-jwt", "1.0.0", "/p/auth-jwt.so", {}};
    macp::config::DeclaredKey jwks;
    jwks.env_name = "MACP_AUTH_JWKS_JSON";
    jwks.secret = true;
    jwt.keys.push_back(jwks);
    const auto text = macp::config::render(config, {jwt});
    CHECK(text.find("MACP_AUTH_JWKS_JSON=***\n") != std::string::npos);
    CHECK(text.find("keys") == std::string::npos);
}

TEST_CASE("render reflects the effective value, not the raw spelling", "[config][render]") {
    const auto config = parse_ok({}, insecure_with({{"MACP_MEMORY_ONLY", "yes"}, {"RUST_LOG", "macp=debug,warn"}}));
    const auto text = macp::config::render(config);
    CHECK(text.find("MACP_MEMORY_ONLY=0\n") != std::string::npos);
    CHECK(text.find("RUST_LOG=warn\n") != std::string::npos);
}

TEST_CASE("--help and --version work on a broken configuration", "[config][actions]") {
    const Env broken{{"MACP_BIND_ADDR", "localhost:1"}};
    auto help = parse_args({"--help"}, broken);
    REQUIRE(help.ok());
    CHECK(help->action == Action::Help);
    CHECK(help->help_text.rfind("macp-runtime — MACP coordination server. Every flag has an environment variable; "
                                "flags win.",
                                0) == 0);
    CHECK(help->help_text.find("--bind-addr") != std::string::npos);
    CHECK(help->help_text.find("MACP_BIND_ADDR; default 127.0.0.1:50051") != std::string::npos);
    CHECK(help->help_text.find("--allow-insecure") != std::string::npos);
    CHECK(help->help_text.find("RUST_LOG; default info") != std::string::npos);
    CHECK(help->help_text.find("default <data-dir>/rocksdb") != std::string::npos);
    CHECK(help->help_text.find("read by the auth-jwt plugin") != std::string::npos);
    CHECK(help->help_text.find("--list-plugins") != std::string::npos);

    auto version = parse_args({"--version"}, broken);
    REQUIRE(version.ok());
    CHECK(version->action == Action::Version);
    CHECK(version->help_text.empty());
    CHECK(parse_args({"-h"}, broken)->action == Action::Help);
}

TEST_CASE("--print-config, --check-config and running need a valid configuration", "[config][actions]") {
    CHECK(parse_ok({"--print-config"}, kInsecure).bind_addr == "127.0.0.1:50051");
    CHECK(parse_args({"--print-config"}, kInsecure)->action == Action::PrintConfig);
    CHECK(parse_args({"--check-config"}, kInsecure)->action == Action::CheckConfig);
    CHECK(parse_args({}, kInsecure)->action == Action::Run);
    CHECK(mentions(parse_errors({"--print-config"}, {}), "TLS is required"));
    CHECK(mentions(parse_errors({"--check-config"}, insecure_with({{"MACP_BIND_ADDR", "x"}})), "MACP_BIND_ADDR"));
}

TEST_CASE("--list-plugins only needs a valid plugin path", "[config][actions]") {
    auto listed = parse_args({"--list-plugins"}, {{"MACP_BIND_ADDR", "bad"}});
    REQUIRE(listed.ok());
    CHECK(listed->action == Action::ListPlugins);
    CHECK(mentions(parse_errors({"--list-plugins", "--plugin-path=rel"}, {}), "MACP_PLUGIN_PATH"));
}

TEST_CASE("when several actions are given, the most informative wins", "[config][actions]") {
    CHECK(parse_args({"--check-config", "--help"}, kInsecure)->action == Action::Help);
    CHECK(parse_args({"--print-config", "--version"}, kInsecure)->action == Action::Version);
    CHECK(parse_args({"--check-config", "--print-config"}, kInsecure)->action == Action::PrintConfig);
}

// ---- MACP_AUTH_PLUGINS (issue #9) ------------------------------------------------------------

TEST_CASE("MACP_AUTH_PLUGINS: names or auth-<name>, comma-separated, blanks ignored", "[config][auth-plugins]") {
    using V = std::vector<std::string>;
    CHECK(parse_ok({"--auth-plugins=hmac,static"}, kInsecure).auth_plugin_list == "hmac,static");
    const auto config = parse_ok({}, insecure_with({{"MACP_AUTH_PLUGINS", " auth-hmac , my_ldap-2,static "}}));
    CHECK(config.auth_plugin_list == "hmac,my_ldap-2,static");
    CHECK(config.auth_plugins() == V{"auth-hmac", "auth-my_ldap-2", "auth-static"});
    CHECK(parse_ok({}, insecure_with({{"MACP_AUTH_PLUGINS", ""}})).auth_plugins().empty());
    // The flag wins over the environment, as for every setting.
    CHECK(parse_ok({"--auth-plugins=b"}, insecure_with({{"MACP_AUTH_PLUGINS", "a"}})).auth_plugins() == V{"auth-b"});
}

TEST_CASE("MACP_AUTH_PLUGINS: empty entries, invalid names and duplicates are errors", "[config][auth-plugins]") {
    const auto error_for = [](const std::string& list) {
        const auto errors = parse_errors({"--auth-plugins=" + list}, kInsecure);
        REQUIRE(errors.size() == 1);
        CHECK(errors.front().rfind("MACP_AUTH_PLUGINS (--auth-plugins): '" + list + "': ", 0) == 0);
        return errors.front();
    };
    CHECK_THAT(error_for("a,,b"), Catch::Matchers::EndsWith("entry 2 is empty"));
    CHECK_THAT(error_for("a,"), Catch::Matchers::EndsWith("entry 2 is empty"));
    CHECK_THAT(error_for("Hmac"), Catch::Matchers::Contains("'Hmac' is not a valid plugin name: a plugin name starts "
                                                            "with a lower-case letter or digit"));
    CHECK_THAT(error_for("auth-"), Catch::Matchers::Contains("'' is not a valid plugin name"));
    CHECK_THAT(error_for("../evil"), Catch::Matchers::Contains("is not a valid plugin name"));
    CHECK_THAT(error_for("good,static,good"),
               Catch::Matchers::EndsWith("'good' names auth-good.so, which is listed twice"));
    CHECK_THAT(error_for("good,auth-good"),
               Catch::Matchers::EndsWith("'auth-good' names auth-good.so, which is listed twice"));
}

TEST_CASE("auth chain: JWT, static, then MACP_AUTH_PLUGINS; a listed jwt/static takes its list position",
          "[config][auth-plugins]") {
    using V = std::vector<std::string>;
    const Env both = insecure_with({{"MACP_AUTH_ISSUER", "https://idp"}, {"MACP_AUTH_TOKENS_FILE", "/t.json"}});
    CHECK(parse_ok({"--auth-plugins=good"}, both).auth_plugins() == V{"auth-jwt", "auth-static", "auth-good"});
    CHECK(parse_ok({"--auth-plugins=good,static"}, both).auth_plugins() == V{"auth-jwt", "auth-good", "auth-static"});
    CHECK(parse_ok({"--auth-plugins=static,jwt"}, both).auth_plugins() == V{"auth-static", "auth-jwt"});
    CHECK(parse_ok({"--auth-plugins=jwt,good"}, both).auth_plugins() == V{"auth-static", "auth-jwt", "auth-good"});
    // Listed without its variable: loaded all the same (it then reports its own missing keys).
    CHECK(parse_ok({"--auth-plugins=static"}, kInsecure).auth_plugins() == V{"auth-static"});
    // The storage plugin comes first in the list of everything to load.
    CHECK(parse_ok({"--auth-plugins=good"}, both).plugins() ==
          V{"storage-file", "auth-jwt", "auth-static", "auth-good"});
    CHECK(parse_ok({"--auth-plugins=good", "--memory-only"}, kInsecure).plugins() == V{"auth-good"});
}

TEST_CASE("MACP_AUTH_PLUGINS counts as authentication: no dev-mode problem (AUTH-DEV-5)", "[config][auth-plugins]") {
    // Without the insecure opt-in the only problem left is TLS.
    const auto errors = parse_errors({}, {{"MACP_AUTH_PLUGINS", "good"}});
    REQUIRE(errors.size() == 1);
    CHECK(errors.front().find("TLS is required") != std::string::npos);
}

// ---- flags for plugin-declared keys (issue #9) ------------------------------------------------

namespace {

using macp::config::DeclaredKey;
using macp::config::PluginCatalog;
using macp::config::PluginDeclaration;
using macp::config::PluginScope;

DeclaredKey key(const std::string& env, std::optional<std::string> default_value = std::nullopt,
                const std::string& help = {}) {
    DeclaredKey k;
    k.env_name = env;
    k.default_value = std::move(default_value);
    k.help = help;
    return k;
}

DeclaredKey required(DeclaredKey k) {
    k.required = true;
    return k;
}

DeclaredKey secret(DeclaredKey k) {
    k.secret = true;
    return k;
}

PluginDeclaration sqlite_plugin() {
    PluginDeclaration p{"storage-sqlite", "0.3.0", "/opt/plugins/storage-sqlite.so", {}};
    p.keys.push_back(key("MACP_SQLITE_PATH", "/var/lib/macp/db.sqlite", "database file"));
    p.keys.back().path = true;
    p.keys.push_back(secret(required(key("MACP_SQLITE_PASSWORD", std::nullopt, "password"))));
    p.keys.push_back(key("MACP_DATA_DIR", "/unused", "a core setting"));
    return p;
}

// A catalog source that serves fixed declarations and records how it was asked.
struct FakeCatalog {
    explicit FakeCatalog(std::vector<PluginDeclaration> p, std::vector<std::string> pr = {})
        : plugins(std::move(p)), problems(std::move(pr)) {}

    std::vector<PluginDeclaration> plugins;
    std::vector<std::string> problems;
    int calls = 0;
    std::vector<PluginScope> scopes;
    std::vector<std::vector<std::string>> configured;  // Config::plugins() of each call

    macp::config::PluginCatalogSource source() {
        return [this](const Config& config, PluginScope scope) {
            ++calls;
            scopes.push_back(scope);
            configured.push_back(config.plugins());
            return PluginCatalog{plugins, problems};
        };
    }
};

ParseResult parse_with(FakeCatalog& catalog, const std::vector<std::string>& args, const Env& env) {
    std::vector<const char*> argv{"macp-runtime"};
    for (const auto& arg : args) argv.push_back(arg.c_str());
    return macp::config::parse(static_cast<int>(argv.size()), argv.data(), env, catalog.source());
}

}  // namespace

TEST_CASE("flag_for derives --foo-bar from MACP_FOO_BAR unless the name is taken", "[config][plugin-flags]") {
    using macp::config::flag_for;
    CHECK(flag_for("MACP_SQLITE_PATH") == std::optional<std::string>("--sqlite-path"));
    CHECK(flag_for("MACP_REDIS_URL") == std::optional<std::string>("--redis-url"));
    CHECK(flag_for("MACP_DATA_DIR") == std::optional<std::string>("--data-dir"));  // the core flag
    CHECK(flag_for("RUST_LOG") == std::optional<std::string>("--log-level"));
    CHECK(flag_for("MACP_S3_BUCKET_2") == std::optional<std::string>("--s3-bucket-2"));
    CHECK_FALSE(flag_for("MACP_LOG_LEVEL").has_value());     // --log-level belongs to RUST_LOG
    CHECK_FALSE(flag_for("MACP_HELP").has_value());          // an action
    CHECK_FALSE(flag_for("MACP_LIST_PLUGINS").has_value());  // an action
    CHECK_FALSE(flag_for("MACP_X").has_value());             // one letter is not a long flag
}

TEST_CASE("a configured plugin's keys are flags, and flags win over the environment", "[config][plugin-flags]") {
    FakeCatalog catalog({sqlite_plugin()});
    const Env env = insecure_with({{"MACP_STORAGE_BACKEND", "sqlite"}, {"MACP_SQLITE_PATH", "/env/db"}});
    SECTION("--flag=value") {
        auto parsed = parse_with(catalog, {"--sqlite-path=/flag/db", "--sqlite-password=pw"}, env);
        REQUIRE(parsed.ok());
        CHECK(parsed->config.settings.at("MACP_SQLITE_PATH") == "/flag/db");
        CHECK(parsed->config.settings.at("MACP_SQLITE_PASSWORD") == "pw");
    }
    SECTION("--flag value: the value is the next argument") {
        auto parsed = parse_with(catalog, {"--sqlite-path", "/flag/db2"}, env);
        REQUIRE(parsed.ok());
        CHECK(parsed->config.settings.at("MACP_SQLITE_PATH") == "/flag/db2");
    }
    SECTION("the catalog is asked for the configured plugins, selected by core flags too") {
        auto parsed = parse_with(catalog, {"--storage-backend=sqlite", "--auth-plugins=good", "--sqlite-path=/x"},
                                 insecure_with({{"MACP_STORAGE_BACKEND", "file"}}));
        REQUIRE(parsed.ok());
        REQUIRE(catalog.calls == 1);
        CHECK(catalog.scopes.front() == PluginScope::Configured);
        CHECK(catalog.configured.front() == std::vector<std::string>{"storage-sqlite", "auth-good"});
        CHECK(parsed->plugins.plugins.size() == 1);
    }
    SECTION("a key that is a core setting keeps its core flag") {
        auto parsed = parse_with(catalog, {"--data-dir=/d", "--sqlite-path=/x"}, env);
        REQUIRE(parsed.ok());
        CHECK(parsed->config.data_dir == "/d");
    }
    SECTION("syntax rules apply to plugin flags too") {
        CHECK(mentions(parse_with(catalog, {"--sqlite-path=/a", "--sqlite-path=/b"}, env).error(),
                       "--sqlite-path is given more than once"));
        CHECK(mentions(parse_with(catalog, {"--sqlite-path"}, env).error(), "command line:"));
    }
}

TEST_CASE("a flag no configured plugin declares is still an unknown option", "[config][plugin-flags]") {
    FakeCatalog catalog({sqlite_plugin()});
    SECTION("a typo") {
        const auto errors = parse_with(catalog, {"--sqlite-pth=/x"}, kInsecure).error();
        CHECK(errors == std::vector<std::string>{"unknown option '--sqlite-pth' (see --help)"});
    }
    SECTION("no catalog, no plugin flags") {
        CHECK(mentions(parse_errors({"--sqlite-path=/x"}, kInsecure), "unknown option '--sqlite-path'"));
    }
    SECTION("the plugin could not be read: its problem is reported with the unknown flag") {
        FakeCatalog missing({}, {"plugin storage-sqlite not found: no storage-sqlite.so in /a, /b"});
        const auto errors = parse_with(missing, {"--storage-backend=sqlite", "--sqlite-path=/x"}, kInsecure).error();
        CHECK(errors == std::vector<std::string>{"unknown option '--sqlite-path' (see --help)",
                                                 "plugin storage-sqlite not found: no storage-sqlite.so in /a, /b"});
    }
}

TEST_CASE("the catalog is asked only when needed, for the right scope", "[config][plugin-flags]") {
    FakeCatalog catalog({sqlite_plugin()});
    REQUIRE(parse_with(catalog, {"--bind-addr=127.0.0.1:1"}, kInsecure).ok());
    REQUIRE(parse_with(catalog, {"--check-config"}, kInsecure).ok());
    CHECK(catalog.calls == 0);  // core flags only: nothing to load early

    REQUIRE(parse_with(catalog, {"--print-config"}, kInsecure).ok());
    REQUIRE(parse_with(catalog, {"--list-plugins", "--sqlite-path=/x"}, {}).ok());
    auto help = parse_with(catalog, {"--help"}, {});
    REQUIRE(help.ok());
    CHECK(catalog.scopes ==
          std::vector<PluginScope>{PluginScope::Configured, PluginScope::Installed, PluginScope::Installed});
    // --help lists the installed plugins' flags with their variable, plugin and default (the
    // text is wrapped to the terminal width: compare with blanks collapsed).
    std::string flat;
    for (const char c : help->help_text) {
        const bool blank = c == ' ' || c == '\n';
        if (!blank || (!flat.empty() && flat.back() != ' ')) flat += blank ? ' ' : c;
    }
    CHECK(flat.find("--sqlite-path VALUE database file [env MACP_SQLITE_PATH; plugin storage-sqlite; default "
                    "/var/lib/macp/db.sqlite]") != std::string::npos);
    CHECK(flat.find("--sqlite-password VALUE password [env MACP_SQLITE_PASSWORD; plugin storage-sqlite; required]") !=
          std::string::npos);
    CHECK(flat.find("Settings declared by plugins") != std::string::npos);
}

TEST_CASE("render shows each configured plugin's keys with the value it receives", "[config][render]") {
    PluginDeclaration needs{"storage-needskey", "1.2.3", "/p/storage-needskey.so", {}};
    needs.keys = {required(key("MACP_TEST_REQUIRED_A")),
                  key("MACP_TEST_OPTIONAL", "/var/lib/default"),
                  key("MACP_TEST_UNSET"),
                  required(key("MACP_TEST_NEEDED")),
                  secret(key("MACP_TEST_SECRET")),
                  key("MACP_DATA_DIR", "/plugin-default")};
    const auto config = parse_ok({}, insecure_with({{"MACP_TEST_REQUIRED_A", "a"}, {"MACP_TEST_SECRET", "s3cret"}}));
    const auto text = macp::config::render(config, {needs});
    const auto section = text.find("# plugin storage-needskey 1.2.3 (/p/storage-needskey.so)\n");
    REQUIRE(section != std::string::npos);
    CHECK(text.substr(section) ==
          "# plugin storage-needskey 1.2.3 (/p/storage-needskey.so)\n"
          "MACP_TEST_REQUIRED_A=a\n"
          "MACP_TEST_OPTIONAL=/var/lib/default  # default\n"
          "MACP_TEST_UNSET=  # unset\n"
          "MACP_TEST_NEEDED=  # unset, REQUIRED\n"
          "MACP_TEST_SECRET=***\n"
          "MACP_DATA_DIR=.macp-data  # default\n");  // the core's default is what the plugin receives
    CHECK(text.find("s3cret") == std::string::npos);
    // Each declared key is shown once, in its plugin's section.
    CHECK(text.find("MACP_TEST_REQUIRED_A=") == text.rfind("MACP_TEST_REQUIRED_A="));
    CHECK(text.find("MACP_DATA_DIR=") > section);
    // A given value is not marked as a default, even for a core setting.
    CHECK(macp::config::render(parse_ok({"--data-dir=/d"}, kInsecure), {needs}).find("MACP_DATA_DIR=/d\n") !=
          std::string::npos);
}

TEST_CASE("--migrate-storage FROM TO and its companions (issue #10)", "[config][migration]") {
    // No TLS or auth settings: a migration serves nothing.
    auto parsed = parse_args({"--migrate-storage", "file:/a", "rocksdb:/b", "--force", "--skip-unconvertible",
                              "--from-set", "MACP_X=1", "--to-set=MACP_ROCKSDB_BLOCK_CACHE_MB=8", "--data-dir=/d"},
                             {});
    if (!parsed.ok()) {
        for (const auto& message : parsed.error()) UNSCOPED_INFO(message);
    }
    REQUIRE(parsed.ok());
    CHECK(parsed->action == Action::MigrateStorage);
    const auto& m = parsed->migration;
    CHECK(m.from == "file:/a");
    CHECK(m.to == "rocksdb:/b");
    CHECK(m.force);
    CHECK(m.skip_unconvertible);
    CHECK(m.from_settings == std::map<std::string, std::string>{{"MACP_X", "1"}});
    CHECK(m.to_settings == std::map<std::string, std::string>{{"MACP_ROCKSDB_BLOCK_CACHE_MB", "8"}});
    CHECK(parsed->config.data_dir == "/d");

    CHECK(parse_args({"--help", "--migrate-storage", "file:/a", "file:/b"}, {})->action == Action::Help);
    CHECK(mentions(parse_errors({"--migrate-storage", "file:/a"}, {}), "takes two arguments"));
    CHECK(mentions(parse_errors({"--migrate-storage", "file:/a", "--force"}, {}), "takes two arguments"));
    CHECK(mentions(parse_errors({"--force"}, kInsecure), "only go with --migrate-storage"));
    CHECK(mentions(parse_errors({"--migrate-storage", "a", "b", "--to-set", "novalue"}, {}), "expected KEY=VALUE"));
    CHECK(mentions(parse_errors({"--migrate-storage", "a", "b", "--force=1"}, {}), "takes no value"));
    // Other setting problems still count.
    CHECK(mentions(parse_errors({"--migrate-storage", "a", "b", "--max-payload-bytes=x"}, {}), "MACP_MAX_PAYLOAD"));
    CHECK_FALSE(macp::config::flag_for("MACP_FORCE").has_value());
}
