// Events between the processes of one deployment over Redis pub/sub (plugin ABI 1.2,
// storage.h "events between processes"; docs/scale-out.md). Channels live in the key prefix's
// space ("<prefix>ev:<channel>"), so deployments sharing one Redis never hear each other.
//
// Publishing uses a connection of its own (not the log's): the host publishes from its own
// threads, and a publish must neither wait behind nor delay the acknowledged writes. Each
// subscription runs a thread with its own connection (a subscribed connection can do nothing
// else), reconnecting with backoff and telling the sink when it lost or regained the channel.
#ifndef MACP_STORAGE_REDIS_REDIS_EVENTS_HPP
#define MACP_STORAGE_REDIS_REDIS_EVENTS_HPP

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <macp/plugin/sdk/storage.hpp>

#include "redis_storage.hpp"

namespace macp::storage_redis {

std::string event_channel(std::string_view prefix, std::string_view channel);  // P ev:<channel>

// Opens a connection to `settings`' Redis (AUTH and SELECT done) with `timeout_ms` per command;
// throws sdk::Error(UNAVAILABLE) naming `what` when it cannot.
ContextPtr open_connection(const Settings& settings, int timeout_ms, const char* what);

class RedisPublisher {
public:
    explicit RedisPublisher(const Settings& settings) : settings_(settings) {}
    // One pipelined PUBLISH per message, in order; throws sdk::Error on failure (the connection
    // is then dropped and opened again by the next call).
    void publish(const std::string& channel, const std::vector<std::string_view>& messages);

private:
    const Settings& settings_;
    std::mutex mu_;
    ContextPtr ctx_;
};

class RedisSubscription final : public sdk::EventSubscription {
public:
    RedisSubscription(const Settings& settings, const std::string& channel, const sdk::EventSink& sink);
    ~RedisSubscription() override;  // stops and joins the thread

    // Connects and subscribes once on the calling thread, so that a subscription that cannot
    // start fails its subscribe_events call; then starts the thread.
    void start();

private:
    void run();
    // Reads and delivers until stopped or the connection fails (returns the failure).
    std::string pump(redisContext* c);
    ContextPtr subscribe();

    const Settings& settings_;
    const std::string channel_;
    const sdk::EventSink sink_;
    std::atomic<bool> stop_{false};
    ContextPtr first_;  // the connection start() opened, handed to the thread
    std::thread thread_;
};

}  // namespace macp::storage_redis

#endif  // MACP_STORAGE_REDIS_REDIS_EVENTS_HPP
