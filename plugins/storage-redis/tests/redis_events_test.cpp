// storage-redis events between processes (plugin ABI 1.2 publish_events / subscribe_events,
// issue #16) against a real redis-server (tests/support RedisServer, stopped by PID): delivery in
// publication order, the key prefix's isolation, binary-safe messages, a subscription that
// survives a Redis restart (and says so), and the C vtable path.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"
#include "redis_storage.hpp"
#include "redis_test_support.hpp"

using macp::sdk::Config;
using macp::storage_redis::RedisStorage;
using macp::test::RedisServer;

namespace {

// What a subscription delivered, and its connection changes; waits are bounded.
class Inbox {
public:
    Inbox() {
        raw_.struct_size = sizeof(macp_event_sink);
        raw_.ctx = this;
        raw_.deliver = [](void* self, const uint8_t* m, size_t n) {
            auto& box = *static_cast<Inbox*>(self);
            std::lock_guard lock(box.mu_);
            box.messages.emplace_back(reinterpret_cast<const char*>(m), n);
            box.cv_.notify_all();
        };
        raw_.state = [](void* self, int connected, const char* /*detail*/) {
            auto& box = *static_cast<Inbox*>(self);
            std::lock_guard lock(box.mu_);
            box.states.push_back(connected != 0);
            box.cv_.notify_all();
        };
    }
    Inbox(const Inbox&) = delete;
    Inbox& operator=(const Inbox&) = delete;
    [[nodiscard]] macp::sdk::EventSink sink() const { return macp::sdk::EventSink(&raw_); }
    [[nodiscard]] const macp_event_sink* raw() const { return &raw_; }

    bool wait_messages(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [&] { return messages.size() >= n; });
    }
    bool wait_states(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [&] { return states.size() >= n; });
    }
    std::vector<std::string> taken() {
        std::lock_guard lock(mu_);
        return messages;
    }
    bool state(size_t i) {  // the i-th connection change (wait_states first)
        std::lock_guard lock(mu_);
        return states.at(i);
    }

private:
    std::vector<std::string> messages;  // under mu_: written by the subscription's thread
    std::vector<bool> states;
    macp_event_sink raw_{};
    std::mutex mu_;
    std::condition_variable cv_;
};

std::unique_ptr<RedisStorage> open(const RedisServer& redis, const std::string& prefix = "macp:") {
    return std::make_unique<RedisStorage>(Config({{"MACP_REDIS_URL", redis.url()}, {"MACP_REDIS_KEY_PREFIX", prefix}}));
}

}  // namespace

TEST_CASE("events: every subscriber gets what is published, in order, within its key prefix", "[events]") {
    REQUIRE_REDIS();
    RedisServer redis;
    auto a = open(redis), b = open(redis), other = open(redis, "elsewhere:");
    Inbox at_a, at_b, at_other;
    auto sub_a = a->subscribe_events("events", at_a.sink());
    auto sub_b = b->subscribe_events("events", at_b.sink());
    auto sub_other = other->subscribe_events("events", at_other.sink());

    std::vector<std::string> sent;
    for (int i = 0; i < 500; ++i) sent.push_back("event-" + std::to_string(i));
    sent.push_back(std::string("binary\0with\nbytes", 17));
    std::vector<std::string_view> views(sent.begin(), sent.end());
    // Two publishers of one deployment: each one's messages arrive in its order.
    a->publish_events("events", {views.begin(), views.begin() + 250});
    a->publish_events("events", {views.begin() + 250, views.end()});
    REQUIRE(at_a.wait_messages(sent.size()));
    REQUIRE(at_b.wait_messages(sent.size()));
    CHECK(at_a.taken() == sent);  // the publisher hears itself too (the host skips its own)
    CHECK(at_b.taken() == sent);
    // Another key prefix is another deployment: it hears nothing, and its own events stay its own.
    other->publish_events("events", {"theirs"});
    REQUIRE(at_other.wait_messages(1));
    CHECK(at_other.taken() == std::vector<std::string>{"theirs"});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(at_a.taken().size() == sent.size());
    // Another channel of the same deployment is not this one.
    a->publish_events("other-channel", {"x"});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(at_b.taken().size() == sent.size());

    sub_b.reset();  // no delivery once the subscription is gone
    a->publish_events("events", {"after"});
    REQUIRE(at_a.wait_messages(sent.size() + 1));
    CHECK(at_b.taken().size() == sent.size());
}

TEST_CASE("events: a subscription survives a Redis restart and reports the gap", "[events]") {
    REQUIRE_REDIS();
    RedisServer redis;
    auto s = open(redis);
    Inbox inbox;
    auto sub = s->subscribe_events("events", inbox.sink());
    REQUIRE(inbox.wait_states(1));
    CHECK(inbox.state(0));
    redis.kill9();
    // Publishing while Redis is down fails (nothing is queued for later).
    std::string why;
    CHECK(macp::storage_redis::testing::status_of([&] { s->publish_events("events", {"lost"}); }, &why) !=
          MACP_STATUS_OK);
    REQUIRE(inbox.wait_states(2));  // lost
    CHECK_FALSE(inbox.state(1));
    redis.start();
    REQUIRE(inbox.wait_states(3));  // back
    CHECK(inbox.state(2));
    s->publish_events("events", {"again"});
    REQUIRE(inbox.wait_messages(1));
    CHECK(inbox.taken() == std::vector<std::string>{"again"});
}

TEST_CASE("events through the C vtable", "[events]") {
    REQUIRE_REDIS();
    RedisServer redis;
    const macp_storage_vtable vt = macp::sdk::make_storage_vtable<RedisStorage>();
    REQUIRE(vt.publish_events != nullptr);
    REQUIRE(vt.subscribe_events != nullptr);
    REQUIRE(vt.unsubscribe_events != nullptr);
    auto s = open(redis);
    Inbox inbox;
    void* handle = nullptr;
    macp_call_context ctx{sizeof(macp_call_context), nullptr, 0, 0, nullptr};
    REQUIRE(vt.subscribe_events(s.get(), "events", inbox.raw(), &handle, &ctx) == MACP_STATUS_OK);
    REQUIRE(handle != nullptr);
    const std::string one = "one", two = "two";
    const uint8_t* messages[] = {reinterpret_cast<const uint8_t*>(one.data()),
                                 reinterpret_cast<const uint8_t*>(two.data())};
    const size_t lens[] = {one.size(), two.size()};
    REQUIRE(vt.publish_events(s.get(), "events", messages, lens, 2, &ctx) == MACP_STATUS_OK);
    REQUIRE(inbox.wait_messages(2));
    CHECK(inbox.taken() == std::vector<std::string>{"one", "two"});
    vt.unsubscribe_events(s.get(), handle);
}
