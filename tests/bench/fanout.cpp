#include "fanout.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench_util.hpp"
#include "harness.hpp"
#include "macp/v1/core.grpc.pb.h"

namespace macp::bench {

namespace {

using macp::v1::MACPRuntimeService;
using Stub = MACPRuntimeService::Stub;
using Request = macp::v1::StreamSessionRequest;
using Response = macp::v1::StreamSessionResponse;

constexpr size_t kRing = 4096;  // > any window

struct Shared {
    explicit Shared(int subs) : subscribers(subs), ring(kRing) {}
    const int subscribers;
    bool peak = true;
    Histogram hist;
    std::atomic<int64_t> delivered{0};
    std::atomic<int64_t> window_start{INT64_MAX};
    std::atomic<int64_t> window_end{INT64_MAX};
    // Peak mode: how many subscribers have message n (ring slot n % kRing), and the highest n
    // every subscriber has (each stream delivers in order, so all below it are delivered too).
    std::vector<std::atomic<int>> ring;
    std::atomic<int64_t> fully{-1};
    std::function<void()> on_fully;
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    int ended_early = 0;
    bool stopping = false;
    std::string first_error;

    void note_error(const std::string& e) {
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = e;
    }
};

// "f<n>" -> n; -1 for anything else (probes).
int64_t number_of(const std::string& message_id) {
    if (message_id.size() < 2 || message_id[0] != 'f') return -1;
    return std::strtoll(message_id.c_str() + 1, nullptr, 10);
}

// The payload is {"value":"<send time, ns>"}.
int64_t stamp_of(const std::string& payload) {
    const auto q = payload.find(":\"");
    return q == std::string::npos ? 0 : std::strtoll(payload.c_str() + q + 2, nullptr, 10);
}

class Subscriber final : public grpc::ClientBidiReactor<Request, Response> {
public:
    Subscriber(Stub& stub, const std::string& session_id, Shared& shared, int deadline_seconds) : shared_(shared) {
        ctx_.AddMetadata("authorization", "Bearer peer");
        ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_seconds));
        request_.set_subscribe_session_id(session_id);
        request_.set_after_sequence(1);  // not the SessionStart
        stub.async()->StreamSession(&ctx_, this);
        StartWrite(&request_);
        StartRead(&response_);
        StartCall();
    }

    void OnWriteDone(bool) override {}

    void OnReadDone(bool ok) override {
        if (!ok) return;  // OnDone follows
        if (response_.has_envelope()) {
            handle(response_.envelope());
        } else if (response_.has_error()) {
            shared_.note_error("inline error " + response_.error().code() + " " + response_.error().message());
        }
        StartRead(&response_);
    }

    void OnDone(const grpc::Status& status) override {
        std::lock_guard lock(shared_.mu);
        if (!shared_.stopping) {
            ++shared_.ended_early;
            if (shared_.first_error.empty()) {
                shared_.first_error =
                    "subscriber stream ended: " + std::to_string(status.error_code()) + " " + status.error_message();
            }
        }
        ++shared_.done;
        shared_.cv.notify_all();
    }

    void cancel() { ctx_.TryCancel(); }
    [[nodiscard]] int64_t received() const { return received_.load(); }

private:
    void handle(const macp::v1::Envelope& env) {
        const int64_t t = now_ns();
        received_.fetch_add(1, std::memory_order_relaxed);
        const int64_t n = number_of(env.message_id());
        if (n < 0) return;
        if (t >= shared_.window_start.load(std::memory_order_relaxed) &&
            t <= shared_.window_end.load(std::memory_order_relaxed)) {
            shared_.delivered.fetch_add(1, std::memory_order_relaxed);
            shared_.hist.record(t - stamp_of(env.payload()));
        }
        if (shared_.peak) {
            auto& slot = shared_.ring[static_cast<size_t>(n) % kRing];
            if (slot.fetch_add(1) + 1 == shared_.subscribers) {
                slot.store(0);
                int64_t f = shared_.fully.load();
                while (n > f && !shared_.fully.compare_exchange_weak(f, n)) {
                }
                shared_.on_fully();
            }
        }
    }

    Shared& shared_;
    grpc::ClientContext ctx_;
    Request request_;
    Response response_;
    std::atomic<int64_t> received_{0};
};

struct SendCall {
    grpc::ClientContext ctx;
    macp::v1::SendRequest req;
    macp::v1::SendResponse resp;
};

class Producer {
public:
    Producer(Stub& stub, std::string session_id, Shared& shared, const FanoutOptions& o)
        : stub_(stub),
          session_id_(std::move(session_id)),
          shared_(shared),
          o_(o),
          deadline_(std::chrono::milliseconds(static_cast<int64_t>((o.warmup_seconds + o.seconds) * 1000) + 10'000)) {}

    // Peak mode: issues what the depth and the delivery window allow.
    void kick() {
        int64_t first = 0;
        int count = 0;
        {
            std::lock_guard lock(mu_);
            first = next_;
            while (!stop_ && in_flight_ < o_.producer_depth && next_ - (shared_.fully.load() + 1) < o_.window &&
                   next_ < o_.max_messages) {
                ++next_;
                ++in_flight_;
                ++callbacks_;
                ++count;
            }
        }
        for (int k = 0; k < count; ++k) send(first + k);
    }

    // Fixed-rate mode: one more Send now, unless too many are in flight. False if not sent.
    bool send_one() {
        int64_t n = 0;
        {
            std::lock_guard lock(mu_);
            if (stop_ || in_flight_ >= 10'000 || next_ >= o_.max_messages) return false;
            n = next_++;
            ++in_flight_;
            ++callbacks_;
        }
        send(n);
        return true;
    }

    void stop_and_wait() {
        std::unique_lock lock(mu_);
        stop_ = true;
        cv_.wait(lock, [&] { return callbacks_ == 0; });  // every call has a deadline
    }

    [[nodiscard]] int64_t sent_ok() const { return sent_ok_.load(); }

private:
    void send(int64_t n) {
        auto* call = new SendCall;  // NOLINT(cppcoreguidelines-owning-memory): freed in the callback
        call->ctx.AddMetadata("authorization", "Bearer producer");
        call->ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
        *call->req.mutable_envelope() =
            macp::test::envelope("Contribute", session_id_, macp::test::kMultiRound, "f" + std::to_string(n),
                                 macp::test::contribute_json(std::to_string(now_ns())));
        stub_.async()->Send(&call->ctx, &call->req, &call->resp, [this, call](const grpc::Status& st) {
            if (st.ok() && call->resp.ack().ok()) {
                sent_ok_.fetch_add(1);
            } else {
                shared_.note_error(st.ok() ? "ack " + call->resp.ack().error().code()
                                           : "Send: " + std::to_string(st.error_code()) + " " + st.error_message());
            }
            delete call;  // NOLINT(cppcoreguidelines-owning-memory)
            {
                std::lock_guard lock(mu_);
                --in_flight_;
            }
            if (shared_.peak) kick();
            std::lock_guard lock(mu_);  // the count of this callback ends last: stop_and_wait waits for it
            if (--callbacks_ == 0) cv_.notify_all();
        });
    }

    Stub& stub_;
    std::string session_id_;
    Shared& shared_;
    const FanoutOptions& o_;
    const std::chrono::milliseconds deadline_;  // a Send the server holds longer fails (bounds the run)
    std::mutex mu_;
    std::condition_variable cv_;
    int64_t next_ = 0;
    int in_flight_ = 0;  // Sends not answered yet
    int callbacks_ = 0;  // Sends whose completion callback has not finished yet
    bool stop_ = false;
    std::atomic<int64_t> sent_ok_{0};
};

std::unique_ptr<Stub> make_stub(const std::string& address, int index) {
    grpc::ChannelArguments args;
    args.SetInt("macp.bench.fanout_channel", index);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return MACPRuntimeService::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

bool blocking_send(Stub& stub, const macp::v1::Envelope& env, std::string* error) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer producer");
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    macp::v1::SendRequest req;
    *req.mutable_envelope() = env;
    macp::v1::SendResponse resp;
    auto st = stub.Send(&ctx, req, &resp);
    if (st.ok() && resp.ack().ok()) return true;
    if (error != nullptr) {
        *error = st.ok() ? "ack " + resp.ack().error().code() + " " + resp.ack().error().message()
                         : "gRPC " + std::to_string(st.error_code()) + " " + st.error_message();
    }
    return false;
}

}  // namespace

FanoutResult run_fanout(const std::string& address, const FanoutOptions& o) {
    FanoutResult r;
    auto producer_stub = make_stub(address, 0);
    const auto session_id = macp::test::new_session_id();
    if (!blocking_send(*producer_stub,
                       macp::test::envelope("SessionStart", session_id, macp::test::kMultiRound, "start",
                                            macp::test::session_start_payload({"producer", "peer"}, 3'600'000)),
                       &r.error)) {
        r.error = "SessionStart: " + r.error;
        return r;
    }
    Shared shared(std::max(1, o.subscribers));
    shared.peak = o.rate <= 0;
    Producer producer(*producer_stub, session_id, shared, o);
    shared.on_fully = [&producer] { producer.kick(); };
    std::vector<std::unique_ptr<Stub>> stubs;
    for (int c = 0; c < std::max(1, o.channels); ++c) stubs.push_back(make_stub(address, c + 1));
    const int deadline = static_cast<int>(o.warmup_seconds + o.seconds) + 60;
    std::vector<std::unique_ptr<Subscriber>> subs;
    for (int i = 0; i < shared.subscribers; ++i) {
        subs.push_back(
            std::make_unique<Subscriber>(*stubs[static_cast<size_t>(i) % stubs.size()], session_id, shared, deadline));
    }
    // Until every subscriber has seen a probe envelope (its subscription is in place); 10 s at most.
    bool ready = false;
    const auto probe_deadline = Clock::now() + std::chrono::seconds(10);
    for (int k = 0; !ready && Clock::now() < probe_deadline; ++k) {
        std::string err;
        if (!blocking_send(*producer_stub,
                           macp::test::envelope("Contribute", session_id, macp::test::kMultiRound,
                                                "probe" + std::to_string(k), macp::test::contribute_json("0")),
                           &err)) {
            shared.note_error("probe: " + err);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ready = std::all_of(subs.begin(), subs.end(), [](const auto& s) { return s->received() > 0; });
    }
    if (ready) {
        const int64_t t_start = now_ns();
        const int64_t w0 = t_start + static_cast<int64_t>(o.warmup_seconds * 1e9);
        const int64_t t_end = w0 + static_cast<int64_t>(o.seconds * 1e9);
        shared.window_start.store(w0);
        if (shared.peak) {
            producer.kick();
            while (now_ns() < t_end) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else {
            const double interval = 1e9 / o.rate;
            double next = static_cast<double>(t_start);
            for (;;) {
                const int64_t now = now_ns();
                if (now >= t_end) break;
                while (next <= static_cast<double>(now)) {
                    producer.send_one();
                    next += interval;
                }
                std::this_thread::sleep_for(std::chrono::nanoseconds(
                    std::max<int64_t>(0, std::min(static_cast<int64_t>(next), t_end) - now_ns())));
            }
        }
        shared.window_end.store(now_ns());
        producer.stop_and_wait();
        r.ok = true;
        r.seconds = static_cast<double>(shared.window_end.load() - w0) / 1e9;
    } else {
        r.error = "not every subscriber received the probe envelopes within 10 s";
        producer.stop_and_wait();
    }
    {
        std::lock_guard lock(shared.mu);
        shared.stopping = true;
    }
    for (auto& s : subs) s->cancel();
    {
        std::unique_lock lock(shared.mu);
        if (!shared.cv.wait_for(lock, std::chrono::seconds(30), [&] { return shared.done == shared.subscribers; })) {
            // Never free a reactor gRPC may still call: leave them (the process ends soon).
            for (auto& s : subs) (void)s.release();
            r.error = "subscriber streams did not end after cancel";
            r.ok = false;
        }
        r.streams_ended = shared.ended_early;
        r.first_error = shared.first_error;
    }
    r.sent = producer.sent_ok();
    if (o.rate > 0) r.offered_per_second = o.rate * shared.subscribers;
    r.delivered = shared.delivered.load();
    if (r.seconds > 0) {
        r.delivered_per_second = static_cast<double>(r.delivered) / r.seconds;
        r.sent_per_second = static_cast<double>(r.sent) / r.seconds;
    }
    r.p50_us = shared.hist.quantile_us(0.50);
    r.p99_us = shared.hist.quantile_us(0.99);
    r.max_us = shared.hist.max_us();
    return r;
}

std::string describe(const FanoutResult& r) {
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "sent=%lld delivered=%lld seconds=%.2f delivered_per_sec=%.0f sent_per_sec=%.0f p50_us=%.0f "
                  "p99_us=%.0f max_us=%.0f streams_ended=%d",
                  static_cast<long long>(r.sent), static_cast<long long>(r.delivered), r.seconds,
                  r.delivered_per_second, r.sent_per_second, r.p50_us, r.p99_us, r.max_us, r.streams_ended);
    std::string out = buf;
    if (!r.ok) out = "failed: " + r.error + " (" + out + ")";
    if (!r.first_error.empty()) out += " first_error='" + r.first_error + "'";
    return out;
}

}  // namespace macp::bench
