// StorageHealthMonitor (issue #8.7): polling, pokes, transitions logged once, prompt shutdown;
// HealthReportingStorage pokes it after a failed write.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "storage/storage_health.hpp"

using namespace std::chrono_literals;
using macp::storage::HealthMonitorOptions;
using macp::storage::StorageError;
using macp::storage::StorageHealthMonitor;

namespace {

constexpr int32_t kIoError = 4;      // MACP_STATUS_IO_ERROR
constexpr int32_t kUnsupported = 2;  // MACP_STATUS_UNSUPPORTED

// A backend whose health (and write outcome) the test flips.
class FakeBackend final : public macp::storage::StorageBackend {
public:
    void set_healthy(bool healthy, std::string message = "No space left on device") {
        std::lock_guard lock(mu_);
        healthy_ = healthy;
        message_ = std::move(message);
    }
    void set_health_status(int32_t status) {
        std::lock_guard lock(mu_);
        status_ = status;
    }
    void set_writes_fail(bool fail) { writes_fail_ = fail; }
    [[nodiscard]] int health_calls() const { return health_calls_; }

    [[nodiscard]] std::string name() const override { return "fake"; }
    macp::storage::Status create_session_storage(const std::string&) override { return write(); }
    macp::storage::Status save_session(const std::string&, std::string_view) override { return write(); }
    macp::storage::StorageResult<std::optional<std::string>> load_session(const std::string&) override {
        return std::optional<std::string>();
    }
    macp::storage::Status delete_session(const std::string&) override { return write(); }
    macp::storage::StorageResult<std::vector<std::string>> list_session_ids() override {
        return std::vector<std::string>();
    }
    macp::storage::Status append_log_entry(const std::string&, std::string_view) override { return write(); }
    std::vector<macp::storage::Status> append_log_batch(const std::vector<macp::storage::LogAppend>& items) override {
        std::vector<macp::storage::Status> out;
        for (size_t i = 0; i < items.size(); ++i) out.push_back(write());
        return out;
    }
    macp::storage::StorageResult<std::vector<std::string>> load_log(const std::string&) override {
        return std::vector<std::string>();
    }
    macp::storage::Status put_record(const std::string&, const std::string&, std::string_view) override {
        return write();
    }
    macp::storage::Status delete_record(const std::string&, const std::string&) override { return write(); }
    macp::storage::StorageResult<std::vector<std::pair<std::string, std::string>>> list_records(
        const std::string&) override {
        return std::vector<std::pair<std::string, std::string>>();
    }
    [[nodiscard]] bool supports_replace_log() const override { return false; }
    [[nodiscard]] bool completes_inline() const override { return true; }
    void run_on_storage_thread(const std::function<void()>& fn) override {
        ++storage_thread_runs;
        fn();
    }
    int storage_thread_runs = 0;
    macp::storage::Status replace_log(const std::string&, const std::vector<std::string>&) override { return write(); }
    macp::storage::Status flush() override { return write(); }
    macp::storage::StorageResult<std::string> health() override {
        ++health_calls_;
        std::lock_guard lock(mu_);
        if (status_ != 0) return macp::fail(StorageError{status_, "not implemented"});
        if (!healthy_) return macp::fail(StorageError{kIoError, "storage backend fake: health failed: " + message_});
        return std::string("fake storage, synced");
    }
    macp::storage::StorageResult<std::vector<std::string>> recover() override { return std::vector<std::string>(); }

private:
    macp::storage::Status write() {
        if (writes_fail_) return macp::fail(StorageError{kIoError, "write failed: No space left on device"});
        return {};
    }
    std::mutex mu_;
    bool healthy_ = true;
    int32_t status_ = 0;
    std::string message_;
    std::atomic<bool> writes_fail_{false};
    std::atomic<int> health_calls_{0};
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return pred();
}

HealthMonitorOptions options(std::chrono::milliseconds interval, std::chrono::milliseconds min_recheck = 1ms) {
    HealthMonitorOptions o;
    o.interval = interval;
    o.min_recheck = min_recheck;
    return o;
}

// Captures the default logger's output for the lifetime of the object.
class LogCapture {
public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        sink->set_pattern("%l|%v");
        auto logger = std::make_shared<spdlog::logger>("capture", sink);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    // Lines of the given level.
    int count(const std::string& level) {
        spdlog::default_logger()->flush();
        std::istringstream in(out_.str());
        int n = 0;
        for (std::string line; std::getline(in, line);) {
            if (line.rfind(level + "|", 0) == 0) ++n;
        }
        return n;
    }
    std::string text() { return out_.str(); }

private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream out_;
};

}  // namespace

TEST_CASE("the monitor knows the backend's state as soon as it is constructed", "[storage][health]") {
    FakeBackend backend;
    SECTION("healthy: the backend's note is the reason") {
        StorageHealthMonitor monitor(backend, options(1h));
        CHECK(monitor.healthy());
        CHECK(monitor.reason() == "fake storage, synced");
    }
    SECTION("unhealthy: the backend's error is the reason") {
        backend.set_healthy(false, "Read-only file system");
        StorageHealthMonitor monitor(backend, options(1h));
        CHECK_FALSE(monitor.healthy());
        CHECK(monitor.reason() == "storage backend fake: health failed: Read-only file system");
        CHECK(monitor.snapshot().transitions == 1);
    }
    SECTION("a backend that cannot report health (UNSUPPORTED) counts as healthy") {
        backend.set_health_status(kUnsupported);
        StorageHealthMonitor monitor(backend, options(1h));
        CHECK(monitor.healthy());
    }
}

TEST_CASE("a poke re-checks at once; the interval is not waited for", "[storage][health]") {
    FakeBackend backend;
    StorageHealthMonitor monitor(backend, options(1h));
    REQUIRE(monitor.healthy());
    backend.set_healthy(false);
    std::this_thread::sleep_for(50ms);
    CHECK(monitor.healthy());  // no poke, and the next poll is an hour away
    monitor.poke();
    CHECK(eventually([&] { return !monitor.healthy(); }));
    CHECK(monitor.reason().find("No space left on device") != std::string::npos);
    backend.set_healthy(true);
    monitor.poke();
    CHECK(eventually([&] { return monitor.healthy(); }));
    CHECK(monitor.reason() == "fake storage, synced");
    CHECK(monitor.snapshot().transitions == 2);
}

TEST_CASE("polling notices failure and recovery by itself", "[storage][health]") {
    FakeBackend backend;
    StorageHealthMonitor monitor(backend, options(10ms));
    backend.set_healthy(false);
    CHECK(eventually([&] { return !monitor.healthy(); }));
    backend.set_healthy(true);
    CHECK(eventually([&] { return monitor.healthy(); }));
}

TEST_CASE("each transition is logged once, never once per poll", "[storage][health]") {
    LogCapture log;
    FakeBackend backend;
    {
        StorageHealthMonitor monitor(backend, options(2ms));
        backend.set_healthy(false, "No space left on device");
        REQUIRE(eventually([&] { return !monitor.healthy(); }));
        const auto polls = monitor.checks();
        REQUIRE(eventually([&] { return monitor.checks() >= polls + 20; }));  // many failing polls
        backend.set_healthy(true);
        REQUIRE(eventually([&] { return monitor.healthy(); }));
        const auto more = monitor.checks();
        REQUIRE(eventually([&] { return monitor.checks() >= more + 20; }));  // many healthy polls
    }
    INFO(log.text());
    CHECK(log.count("error") == 1);
    CHECK(log.count("info") == 1);
    CHECK(log.count("warning") == 0);
    CHECK(log.text().find("No space left on device") != std::string::npos);
    CHECK(log.text().find("NOT_SERVING") != std::string::npos);
}

TEST_CASE("a flood of pokes is coalesced and rate-limited", "[storage][health]") {
    FakeBackend backend;
    StorageHealthMonitor monitor(backend, options(1h, 50ms));
    const auto before = backend.health_calls();
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < 300ms) {
        monitor.poke();
        std::this_thread::yield();
    }
    const auto calls = backend.health_calls() - before;
    CHECK(calls >= 1);
    CHECK(calls <= 300 / 50 + 2);
}

TEST_CASE("listeners run once per transition, and not after their subscription ends", "[storage][health]") {
    FakeBackend backend;
    StorageHealthMonitor monitor(backend, options(1h));
    std::atomic<int> calls{0};
    auto sub = monitor.subscribe([&] { ++calls; });
    monitor.poke();  // no change: no call
    std::this_thread::sleep_for(50ms);
    CHECK(calls == 0);
    backend.set_healthy(false);
    monitor.poke();
    REQUIRE(eventually([&] { return calls == 1; }));
    backend.set_healthy(true);
    monitor.poke();
    REQUIRE(eventually([&] { return calls == 2; }));
    sub.reset();
    backend.set_healthy(false);
    monitor.poke();
    REQUIRE(eventually([&] { return !monitor.healthy(); }));
    std::this_thread::sleep_for(20ms);
    CHECK(calls == 2);
}

TEST_CASE("destruction and stop() are prompt even with a long interval", "[storage][health]") {
    FakeBackend backend;
    const auto start = std::chrono::steady_clock::now();
    {
        StorageHealthMonitor monitor(backend, options(1h));
        std::this_thread::sleep_for(20ms);
    }
    CHECK(std::chrono::steady_clock::now() - start < 500ms);

    StorageHealthMonitor monitor(backend, options(5ms));
    monitor.stop();
    monitor.stop();  // idempotent
    const auto calls = backend.health_calls();
    std::this_thread::sleep_for(30ms);
    CHECK(backend.health_calls() == calls);  // no polling after stop
}

TEST_CASE("HealthReportingStorage pokes the monitor when a write fails", "[storage][health]") {
    FakeBackend backend;
    StorageHealthMonitor monitor(backend, options(1h));
    macp::storage::HealthReportingStorage storage(backend, monitor);
    CHECK(storage.name() == "fake");
    backend.set_healthy(false);
    SECTION("a successful write does not") {
        CHECK(storage.append_log_batch({{"s1", "r"}}).at(0).ok());
        std::this_thread::sleep_for(50ms);
        CHECK(monitor.healthy());
    }
    SECTION("a failed batch does") {
        backend.set_writes_fail(true);
        CHECK_FALSE(storage.append_log_batch({{"s1", "r"}, {"s2", "r"}}).at(0).ok());
        CHECK(eventually([&] { return !monitor.healthy(); }));
    }
    SECTION("a failed single write does") {
        backend.set_writes_fail(true);
        CHECK_FALSE(storage.create_session_storage("s1").ok());
        CHECK(eventually([&] { return !monitor.healthy(); }));
    }
}

TEST_CASE("HealthReportingStorage leaves where calls run to the backend it wraps", "[storage][health]") {
    FakeBackend backend;
    StorageHealthMonitor monitor(backend, options(1h));
    macp::storage::HealthReportingStorage storage(backend, monitor);
    // issue #13: the kernel skips the committer for an inline backend and runs the committer on
    // the plugin's thread otherwise; a wrapper that answers for itself silently undoes both.
    CHECK(storage.completes_inline());
    bool ran = false;
    storage.run_on_storage_thread([&] { ran = true; });
    CHECK(ran);
    CHECK(backend.storage_thread_runs == 1);
}
