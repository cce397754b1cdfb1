// Helpers shared by storage-redis's test files: RedisStorage driven directly against a real
// redis-server (tests/support RedisServer).
#ifndef MACP_STORAGE_REDIS_TESTS_REDIS_TEST_SUPPORT_HPP
#define MACP_STORAGE_REDIS_TESTS_REDIS_TEST_SUPPORT_HPP

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "redis_server.hpp"
#include "redis_storage.hpp"

// Catch2 2.x has no SKIP: report why and leave the test case.
#define REQUIRE_REDIS()                                                                    \
    do {                                                                                   \
        if (!macp::test::redis_server_available()) {                                       \
            WARN("redis-server is not installed (scripts/install-deps.sh): test skipped"); \
            return;                                                                        \
        }                                                                                  \
    } while (false)

namespace macp::storage_redis::testing {

// Collects what an operation emits.
class Sink {
public:
    Sink() : c_{sizeof(macp_emitter), this, &Sink::emit}, e_(&c_) {}
    Sink(const Sink&) = delete;
    Sink& operator=(const Sink&) = delete;
    [[nodiscard]] const sdk::Emitter& out() const { return e_; }
    std::vector<std::string> items;

private:
    static void emit(void* self, const uint8_t* d, size_t n) {
        static_cast<Sink*>(self)->items.emplace_back(reinterpret_cast<const char*>(d), n);
    }
    macp_emitter c_;
    sdk::Emitter e_;
};

inline std::vector<std::string> log_of(RedisStorage& s, const std::string& id) {
    Sink sink;
    s.load_log(id, sink.out(), sdk::CallContext(nullptr));
    return sink.items;
}

inline std::set<std::string> ids_of(RedisStorage& s) {
    Sink sink;
    s.list_session_ids(sink.out(), sdk::CallContext(nullptr));
    return {sink.items.begin(), sink.items.end()};
}

// The status of the Error `fn` throws (OK if it throws none).
inline macp_status status_of(const std::function<void()>& fn, std::string* message = nullptr) {
    try {
        fn();
    } catch (const sdk::Error& e) {
        if (message != nullptr) *message = e.what();
        return e.status();
    }
    return MACP_STATUS_OK;
}

}  // namespace macp::storage_redis::testing

#endif  // MACP_STORAGE_REDIS_TESTS_REDIS_TEST_SUPPORT_HPP
