#include "redis_events.hpp"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace macp::storage_redis {

namespace {

ReplyPtr command(redisContext* c, const std::vector<std::string_view>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    return ReplyPtr(
        static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

// How long the subscriber waits for data before it looks at its stop flag again.
constexpr int kPollMs = 100;

}  // namespace

std::string event_channel(std::string_view prefix, std::string_view channel) {
    std::string key(prefix);
    key += "ev:";
    key += channel;
    return key;
}

ContextPtr open_connection(const Settings& settings, int timeout_ms, const char* what) {
    const Endpoint& e = settings.endpoint;
    const timeval connect_timeout = to_timeval(settings.connect_timeout_ms);
    ContextPtr c(e.kind == Endpoint::Kind::tcp ? redisConnectWithTimeout(e.host.c_str(), e.port, connect_timeout)
                                               : redisConnectUnixWithTimeout(e.path.c_str(), connect_timeout));
    const std::string where = "storage-redis " + e.display + ": " + what;
    if (!c) throw sdk::Error(MACP_STATUS_INTERNAL, where + ": cannot allocate a hiredis context");
    if (c->err != 0) throw sdk::Error(MACP_STATUS_UNAVAILABLE, where + ": cannot connect: " + c->errstr);
    redisSetTimeout(c.get(), to_timeval(timeout_ms));
    if (e.has_password) {
        auto r =
            e.user.empty() ? command(c.get(), {"AUTH", e.password}) : command(c.get(), {"AUTH", e.user, e.password});
        if (!r || r->type == REDIS_REPLY_ERROR) {
            throw sdk::Error(MACP_STATUS_UNAVAILABLE,
                             where + ": authentication failed" + (r ? ": " + std::string(r->str, r->len) : ""));
        }
    }
    if (e.db != 0) {
        const std::string db = std::to_string(e.db);
        auto r = command(c.get(), {"SELECT", db});
        if (!r || r->type == REDIS_REPLY_ERROR) throw sdk::Error(MACP_STATUS_UNAVAILABLE, where + ": SELECT failed");
    }
    return c;
}

void RedisPublisher::publish(const std::string& channel, const std::vector<std::string_view>& messages) {
    if (messages.empty()) return;
    const std::string key = event_channel(settings_.prefix, channel);
    std::lock_guard lock(mu_);
    if (!ctx_) ctx_ = open_connection(settings_, settings_.command_timeout_ms, "publish_events");
    redisContext* c = ctx_.get();
    for (const auto& m : messages) {
        const char* argv[] = {"PUBLISH", key.data(), m.data()};
        const size_t lens[] = {7, key.size(), m.size()};
        if (redisAppendCommandArgv(c, 3, argv, lens) != REDIS_OK) {
            const std::string cause = c->errstr;
            ctx_.reset();
            throw sdk::Error(MACP_STATUS_UNAVAILABLE, "storage-redis: publish_events: " + cause);
        }
    }
    for (size_t i = 0; i < messages.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK) {
            const std::string cause = c->errstr;
            ctx_.reset();
            throw sdk::Error(MACP_STATUS_UNAVAILABLE, "storage-redis: publish_events: " + cause);
        }
        ReplyPtr reply(static_cast<redisReply*>(raw));
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            throw sdk::Error(MACP_STATUS_IO_ERROR,
                             "storage-redis: publish_events: " + std::string(reply->str, reply->len));
        }
    }
}

RedisSubscription::RedisSubscription(const Settings& settings, const std::string& channel, const sdk::EventSink& sink)
    : settings_(settings), channel_(event_channel(settings.prefix, channel)), sink_(sink) {}

RedisSubscription::~RedisSubscription() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
}

ContextPtr RedisSubscription::subscribe() {
    auto c = open_connection(settings_, settings_.command_timeout_ms, "subscribe_events");
    auto r = command(c.get(), {"SUBSCRIBE", channel_});
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        throw sdk::Error(MACP_STATUS_UNAVAILABLE, "storage-redis: SUBSCRIBE " + channel_ + " failed" +
                                                      (c->err != 0 ? std::string(": ") + c->errstr : ""));
    }
    return c;
}

void RedisSubscription::start() {
    first_ = subscribe();
    thread_ = std::thread([this] { run(); });
}

std::string RedisSubscription::pump(redisContext* c) {
    while (!stop_.load()) {
        void* raw = nullptr;
        if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return c->errstr;
        if (raw != nullptr) {
            ReplyPtr reply(static_cast<redisReply*>(raw));
            // ["message", channel, payload]
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
                reply->element[0]->type == REDIS_REPLY_STRING &&
                std::string_view(reply->element[0]->str, reply->element[0]->len) == "message") {
                const redisReply* payload = reply->element[2];
                sink_.deliver(std::string_view(payload->str, payload->len));
            }
            continue;
        }
        pollfd p{c->fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, kPollMs);
        if (ready < 0 && errno != EINTR) return "poll failed";
        if (ready > 0 && redisBufferRead(c) != REDIS_OK) return c->errstr;
    }
    return {};
}

void RedisSubscription::run() {
    ContextPtr c = std::move(first_);
    sink_.state(true, "subscribed to " + channel_);
    auto backoff = std::chrono::milliseconds(100);
    while (!stop_.load()) {
        if (c) {
            const std::string why = pump(c.get());
            c.reset();
            if (stop_.load()) break;
            sink_.state(false, "lost the subscription to " + channel_ + ": " + why);
        }
        // Reconnect with backoff, looking at the stop flag at least every kPollMs.
        const auto until = std::chrono::steady_clock::now() + backoff;
        while (!stop_.load() && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
        }
        if (stop_.load()) break;
        try {
            c = subscribe();
            backoff = std::chrono::milliseconds(100);
            sink_.state(true, "subscribed to " + channel_ + " again");
        } catch (const sdk::Error&) {  // still down: the next attempt waits longer
            backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        }
    }
}

RedisStorage::~RedisStorage() = default;

void RedisStorage::publish_events(const std::string& channel, const std::vector<std::string_view>& messages) {
    // THREADING (storage.h): any host thread, concurrently with the other calls; the publisher
    // has its own connection and lock. Made once, under that rule too.
    std::call_once(publisher_once_, [this] { publisher_ = std::make_unique<RedisPublisher>(settings_); });
    publisher_->publish(channel, messages);
}

std::unique_ptr<sdk::EventSubscription> RedisStorage::subscribe_events(const std::string& channel,
                                                                       const sdk::EventSink& sink) {
    auto sub = std::make_unique<RedisSubscription>(settings_, channel, sink);
    sub->start();
    return sub;
}

}  // namespace macp::storage_redis
