#include "load.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "bench_util.hpp"
#include "harness.hpp"
#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/modes/proposal/v1/proposal.pb.h"
#include "macp/modes/task/v1/task.pb.h"
#include "macp/v1/core.grpc.pb.h"

namespace macp::bench {

namespace {

using macp::v1::MACPRuntimeService;
using Stub = MACPRuntimeService::Stub;

constexpr const char* kDecision = "macp.mode.decision.v1";
constexpr const char* kProposal = "macp.mode.proposal.v1";
constexpr const char* kTask = "macp.mode.task.v1";

enum class Mode { MultiRound, Decision, Proposal, Task };

const char* mode_name(Mode m) {
    switch (m) {
        case Mode::MultiRound: return macp::test::kMultiRound;
        case Mode::Decision: return kDecision;
        case Mode::Proposal: return kProposal;
        case Mode::Task: return kTask;
    }
    return macp::test::kMultiRound;
}

struct Weighted {
    Mode mode;
    int weight;
};

bool parse_mix(const std::string& mix, std::vector<Weighted>& out, std::string& error) {
    size_t pos = 0;
    while (pos <= mix.size()) {
        const size_t comma = std::min(mix.find(',', pos), mix.size());
        std::string item = mix.substr(pos, comma - pos);
        pos = comma + 1;
        if (item.empty()) continue;
        int weight = 1;
        if (auto colon = item.find(':'); colon != std::string::npos) {
            weight = std::atoi(item.c_str() + colon + 1);
            item.resize(colon);
        }
        Mode m;
        if (item == "multi_round") {
            m = Mode::MultiRound;
        } else if (item == "decision") {
            m = Mode::Decision;
        } else if (item == "proposal") {
            m = Mode::Proposal;
        } else if (item == "task") {
            m = Mode::Task;
        } else {
            error = "unknown mode '" + item + "' in the mix (multi_round, decision, proposal, task)";
            return false;
        }
        if (weight > 0) out.push_back({m, weight});
    }
    if (out.empty()) {
        error = "empty mode mix";
        return false;
    }
    return true;
}

// Separate connections: a channel argument of its own per channel, and a local subchannel pool,
// so gRPC does not share one TCP connection between them.
// `address` may list several servers ("a,b,c", the processes of one cluster): channel i goes to
// the (i mod n)-th, so sessions are spread over them.
std::vector<std::unique_ptr<Stub>> make_stubs(const std::string& address, int channels) {
    std::vector<std::string> addresses;
    for (size_t at = 0; at <= address.size();) {
        const size_t comma = std::min(address.find(',', at), address.size());
        if (comma > at) addresses.push_back(address.substr(at, comma - at));
        at = comma + 1;
    }
    if (addresses.empty()) addresses.push_back(address);
    std::vector<std::unique_ptr<Stub>> stubs;
    for (int i = 0; i < std::max(1, channels); ++i) {
        grpc::ChannelArguments args;
        args.SetInt("macp.bench.channel", i);
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
        args.SetMaxSendMessageSize(64 * 1024 * 1024);
        stubs.push_back(MACPRuntimeService::NewStub(grpc::CreateCustomChannel(
            addresses[static_cast<size_t>(i) % addresses.size()], grpc::InsecureChannelCredentials(), args)));
    }
    return stubs;
}

struct Session {
    std::string id;
    Mode mode = Mode::MultiRound;
    std::string worker;     // sender of the measured messages
    std::string initiator;  // sender of the SessionStart
    size_t channel = 0;
    std::atomic<int64_t> next{0};  // number of the next measured message
};

struct Step {
    size_t channel;
    std::string bearer;
    macp::v1::Envelope envelope;
};

// Set-up of one session, as ordered phases (phase k of every session goes before phase k+1).
std::vector<Step> setup_phase(const Session& s, int phase) {
    using macp::test::envelope;
    using macp::test::session_start_payload;
    std::vector<Step> out;
    if (phase == 0) {
        std::vector<std::string> participants{s.worker, s.mode == Mode::Task ? s.initiator : "peer"};
        out.push_back({s.channel, s.initiator,
                       envelope("SessionStart", s.id, mode_name(s.mode), "start",
                                session_start_payload(participants, 3'600'000))});
        return out;
    }
    if (s.mode == Mode::Decision && phase == 1) {
        macp::modes::decision::v1::ProposalPayload p;
        p.set_proposal_id("p1");
        p.set_option("ship it");
        p.set_rationale("bench");
        out.push_back({s.channel, s.worker, envelope("Proposal", s.id, kDecision, "setup-1", p.SerializeAsString())});
    } else if (s.mode == Mode::Task && phase == 1) {
        macp::modes::task::v1::TaskRequestPayload p;
        p.set_task_id("t1");
        p.set_title("bench");
        p.set_requested_assignee(s.worker);
        out.push_back({s.channel, s.initiator, envelope("TaskRequest", s.id, kTask, "setup-1", p.SerializeAsString())});
    } else if (s.mode == Mode::Task && phase == 2) {
        macp::modes::task::v1::TaskAcceptPayload p;
        p.set_task_id("t1");
        p.set_assignee(s.worker);
        out.push_back({s.channel, s.worker, envelope("TaskAccept", s.id, kTask, "setup-2", p.SerializeAsString())});
    }
    return out;
}

std::string measured_payload(Mode mode, int64_t n, const std::string& pad) {
    const std::string value = std::to_string(n) + pad;
    switch (mode) {
        case Mode::MultiRound: return macp::test::contribute_json(value);
        case Mode::Decision: {
            macp::modes::decision::v1::EvaluationPayload e;
            e.set_proposal_id("p1");
            e.set_recommendation("APPROVE");
            e.set_confidence(0.9);
            e.set_reason(value);
            return e.SerializeAsString();
        }
        case Mode::Proposal: {
            macp::modes::proposal::v1::ProposalPayload p;
            p.set_proposal_id("p" + std::to_string(n));
            p.set_title("bench");
            p.set_summary(value);
            return p.SerializeAsString();
        }
        case Mode::Task: {
            macp::modes::task::v1::TaskUpdatePayload u;
            u.set_task_id("t1");
            u.set_status("working");
            u.set_progress(0.5);
            u.set_message(value);
            return u.SerializeAsString();
        }
    }
    return {};
}

const char* measured_type(Mode mode) {
    switch (mode) {
        case Mode::MultiRound: return "Contribute";
        case Mode::Decision: return "Evaluation";
        case Mode::Proposal: return "Proposal";
        case Mode::Task: return "TaskUpdate";
    }
    return "Contribute";
}

struct Call {
    grpc::ClientContext ctx;
    macp::v1::SendRequest req;
    macp::v1::SendResponse resp;
    int64_t intended_ns = 0;
    size_t session = 0;
};

std::string error_of(const grpc::Status& st, const macp::v1::SendResponse& resp) {
    if (!st.ok()) return "gRPC " + std::to_string(st.error_code()) + " " + st.error_message();
    return "ack " + resp.ack().error().code() + " " + resp.ack().error().message();
}

void prepare(Call& c, const std::string& bearer, int deadline_seconds) {
    c.ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_seconds));
    c.ctx.AddMetadata("authorization", "Bearer " + bearer);
}

// Sends `steps` with at most `parallel` in flight; returns the number acknowledged.
int64_t run_steps(std::vector<std::unique_ptr<Stub>>& stubs, std::vector<Step>& steps, int parallel,
                  int deadline_seconds, std::string* first_error) {
    struct State {
        std::mutex mu;
        std::condition_variable cv;
        size_t next = 0;
        int64_t in_flight = 0;
        int64_t ok = 0;
        std::string first_error;
    } st;
    std::function<void()> issue_one;
    // Never called with st.mu held: a completion may run on the issuing thread.
    issue_one = [&] {
        Step* step = nullptr;
        {
            std::lock_guard lock(st.mu);
            if (st.next >= steps.size()) return;
            step = &steps[st.next++];
            ++st.in_flight;
        }
        auto* call = new Call;  // NOLINT(cppcoreguidelines-owning-memory): freed in the callback
        prepare(*call, step->bearer, deadline_seconds);
        *call->req.mutable_envelope() = std::move(step->envelope);
        stubs[step->channel % stubs.size()]->async()->Send(
            &call->ctx, &call->req, &call->resp, [&, call](const grpc::Status& status) {
                {
                    std::lock_guard lock(st.mu);
                    if (status.ok() && call->resp.ack().ok()) {
                        ++st.ok;
                    } else if (st.first_error.empty()) {
                        st.first_error = error_of(status, call->resp);
                    }
                }
                delete call;  // NOLINT(cppcoreguidelines-owning-memory)
                issue_one();  // before this one leaves the count, so it never drops to 0 early
                std::lock_guard lock(st.mu);
                --st.in_flight;
                st.cv.notify_all();
            });
    };
    for (int i = 0; i < std::max(1, parallel); ++i) issue_one();
    std::unique_lock lock(st.mu);
    st.cv.wait(lock, [&] { return st.in_flight == 0; });  // every call has a deadline
    if (first_error != nullptr && first_error->empty()) *first_error = st.first_error;
    return st.ok;
}

// The measured part: closed or open loop over opened sessions.
class Engine {
public:
    Engine(std::vector<std::unique_ptr<Stub>>& stubs, std::vector<std::unique_ptr<Session>>& sessions,
           const LoadOptions& o)
        : stubs_(stubs), sessions_(sessions), o_(o), pad_(static_cast<size_t>(std::max(0, o.payload_bytes)), 'x') {}

    // The server's CPU seconds: the process's, plus those of the other processes of its cluster.
    std::optional<double> cpu_of(pid_t server_pid) const {
        auto total = process_cpu_seconds(server_pid);
        for (pid_t p : o_.more_pids) {
            auto more = process_cpu_seconds(p);
            if (!total || !more) return std::nullopt;
            *total += *more;
        }
        return total;
    }

    LoadResult run(pid_t server_pid) {
        LoadResult r;
        const int64_t t_start = now_ns();
        const auto warm_ns = static_cast<int64_t>(o_.warmup_seconds * 1e9);
        const auto run_ns = static_cast<int64_t>(o_.seconds * 1e9);
        const int64_t t_end = t_start + warm_ns + run_ns;
        std::optional<double> cpu0;
        int64_t w0 = 0;
        auto open_window = [&] {
            w0 = now_ns();
            window_start_.store(w0);
            if (server_pid > 0) cpu0 = cpu_of(server_pid);
        };
        if (o_.rate <= 0) {
            for (size_t s = 0; s < sessions_.size(); ++s) {
                for (int d = 0; d < std::max(1, o_.depth); ++d) issue(s, now_ns());
            }
            if (warm_ns > 0) wait_idle_until(t_start + warm_ns);
            open_window();
            wait_idle_until(t_end);
        } else {
            const double interval = 1e9 / o_.rate;
            double next = static_cast<double>(t_start);
            size_t rr = 0;
            bool window_open = false;
            for (;;) {
                const int64_t now = now_ns();
                if (!window_open && now >= t_start + warm_ns) {
                    open_window();
                    window_open = true;
                }
                if (now >= t_end || issued_.load() >= o_.max_sends) break;
                while (next <= static_cast<double>(now) && issued_.load() < o_.max_sends) {
                    if (in_flight_.load() >= o_.max_outstanding) {
                        if (window_open) dropped_.fetch_add(1);
                    } else {
                        issue(rr++ % sessions_.size(), static_cast<int64_t>(next));
                    }
                    next += interval;
                }
                const auto until = std::min(static_cast<int64_t>(next), t_end);
                std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(0, until - now_ns())));
            }
            if (!window_open) open_window();
        }
        const int64_t w1 = now_ns();
        window_end_.store(w1);
        std::optional<double> cpu1;
        if (server_pid > 0) cpu1 = cpu_of(server_pid);
        stop_.store(true);
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return in_flight_.load() == 0; });  // every call has a deadline
        }
        r.ok = true;
        r.acked = acked_.load();
        r.errors = errors_.load();
        r.dropped = dropped_.load();
        r.issued_total = issued_.load();
        r.acked_total = acked_total_.load();
        r.first_error = first_error_;
        r.seconds = static_cast<double>(w1 - w0) / 1e9;
        r.sends_per_second = r.seconds > 0 ? static_cast<double>(r.acked) / r.seconds : 0;
        r.offered_rate = o_.rate;
        r.p50_us = hist_.quantile_us(0.50);
        r.p90_us = hist_.quantile_us(0.90);
        r.p99_us = hist_.quantile_us(0.99);
        r.max_us = hist_.max_us();
        if (cpu0 && cpu1) {
            r.server_cpu_seconds = *cpu1 - *cpu0;
            if (r.acked > 0) r.cpu_us_per_send = r.server_cpu_seconds * 1e6 / static_cast<double>(r.acked);
        }
        return r;
    }

private:
    // Waits until `deadline` or until nothing is in flight any more (closed loop: all slots done).
    void wait_idle_until(int64_t deadline) {
        std::unique_lock lock(mu_);
        while (in_flight_.load() > 0) {
            const int64_t left = deadline - now_ns();
            if (left <= 0) return;
            cv_.wait_for(lock, std::chrono::nanoseconds(std::min<int64_t>(left, 50'000'000)));
        }
    }

    void issue(size_t s, int64_t intended_ns) {
        if (stop_.load(std::memory_order_relaxed)) return;
        if (issued_.fetch_add(1) >= o_.max_sends) return;
        Session& sess = *sessions_[s];
        const int64_t n = sess.next.fetch_add(1);
        if (o_.sends_per_session > 0 && n >= o_.sends_per_session) return;
        auto* call = new Call;  // NOLINT(cppcoreguidelines-owning-memory): freed in done()
        call->session = s;
        prepare(*call, sess.worker, o_.deadline_seconds);
        *call->req.mutable_envelope() =
            macp::test::envelope(measured_type(sess.mode), sess.id, mode_name(sess.mode), "m" + std::to_string(n),
                                 measured_payload(sess.mode, n, pad_));
        in_flight_.fetch_add(1);
        call->intended_ns = o_.rate > 0 ? intended_ns : now_ns();
        stubs_[(sess.channel + o_.send_channel_offset) % stubs_.size()]->async()->Send(
            &call->ctx, &call->req, &call->resp, [this, call](const grpc::Status& st) { done(call, st); });
    }

    void done(Call* call, const grpc::Status& st) {
        const int64_t end = now_ns();
        const bool ok = st.ok() && call->resp.ack().ok();
        const bool in_window = end >= window_start_.load() && end <= window_end_.load();
        if (ok) acked_total_.fetch_add(1);
        if (in_window) {
            if (ok) {
                acked_.fetch_add(1);
                hist_.record(end - call->intended_ns);
            } else {
                errors_.fetch_add(1);
            }
        }
        if (!ok) {
            std::lock_guard lock(mu_);
            if (first_error_.empty()) first_error_ = error_of(st, call->resp);
        }
        const size_t s = call->session;
        delete call;  // NOLINT(cppcoreguidelines-owning-memory)
        // Closed loop: the slot goes on with its next Send (a failed slot stops).
        if (o_.rate <= 0 && ok) issue(s, end);
        // Under the lock: once run() sees 0 it may return, and nothing of this may be touched.
        std::lock_guard lock(mu_);
        if (in_flight_.fetch_sub(1) == 1) cv_.notify_all();
    }

    std::vector<std::unique_ptr<Stub>>& stubs_;
    std::vector<std::unique_ptr<Session>>& sessions_;
    const LoadOptions& o_;
    const std::string pad_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::string first_error_;
    std::atomic<bool> stop_{false};
    std::atomic<int64_t> window_start_{INT64_MAX};
    std::atomic<int64_t> window_end_{INT64_MAX};
    std::atomic<int64_t> in_flight_{0};
    std::atomic<int64_t> issued_{0};
    std::atomic<int64_t> acked_{0};
    std::atomic<int64_t> acked_total_{0};
    std::atomic<int64_t> errors_{0};
    std::atomic<int64_t> dropped_{0};
    Histogram hist_;
};

}  // namespace

LoadResult run_load(const std::string& address, pid_t server_pid, const LoadOptions& o) {
    LoadResult r;
    std::vector<Weighted> mix;
    if (!parse_mix(o.mix, mix, r.error)) return r;
    if (o.sessions < 1) {
        r.error = "at least one session";
        return r;
    }
    auto stubs = make_stubs(address, o.channels);
    int total_weight = 0;
    for (const auto& w : mix) total_weight += w.weight;
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < o.sessions; ++i) {
        auto s = std::make_unique<Session>();
        s->id = macp::test::new_session_id();
        // Weighted round robin: session i takes the mode whose weight interval holds i mod total.
        int k = i % total_weight;
        for (const auto& w : mix) {
            if (k < w.weight) {
                s->mode = w.mode;
                break;
            }
            k -= w.weight;
        }
        s->worker = "w" + std::to_string(i);
        s->initiator = s->mode == Mode::Task ? "c" + std::to_string(i) : s->worker;
        s->channel = static_cast<size_t>(i) % stubs.size();
        sessions.push_back(std::move(s));
    }
    const auto t0 = Clock::now();
    for (int phase = 0; phase < 3; ++phase) {
        std::vector<Step> steps;
        for (const auto& s : sessions) {
            for (auto& step : setup_phase(*s, phase)) steps.push_back(std::move(step));
        }
        if (steps.empty()) continue;
        std::string err;
        const auto n = run_steps(stubs, steps, o.open_parallel, o.deadline_seconds, &err);
        if (n != static_cast<int64_t>(steps.size())) {
            r.error = "opening sessions (phase " + std::to_string(phase) + "): " + std::to_string(n) + " of " +
                      std::to_string(steps.size()) + " acknowledged; first error: " + err;
            return r;
        }
    }
    const double open_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (o.before_measure) o.before_measure();
    Engine engine(stubs, sessions, o);
    r = engine.run(server_pid);
    if (o.after_measure) o.after_measure();
    r.open_seconds = open_seconds;
    return r;
}

int64_t open_idle_sessions(const std::string& address, int64_t count, int parallel, int channels,
                           std::string* first_error) {
    auto stubs = make_stubs(address, channels);
    std::vector<Step> steps;
    steps.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        steps.push_back(
            {static_cast<size_t>(i) % stubs.size(), "idle",
             macp::test::envelope("SessionStart", macp::test::new_session_id(), macp::test::kMultiRound, "start",
                                  macp::test::session_start_payload({"idle", "peer"}, 3'600'000))});
    }
    return run_steps(stubs, steps, parallel, 60, first_error);
}

std::string describe(const LoadResult& r) {
    if (!r.ok) return "failed: " + r.error;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "acked=%lld seconds=%.2f sends_per_sec=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f "
                  "errors=%lld dropped=%lld server_cpu_s=%.2f cpu_us_per_send=%.1f",
                  static_cast<long long>(r.acked), r.seconds, r.sends_per_second, r.p50_us, r.p90_us, r.p99_us,
                  r.max_us, static_cast<long long>(r.errors), static_cast<long long>(r.dropped), r.server_cpu_seconds,
                  r.cpu_us_per_send);
    std::string out = buf;
    if (r.offered_rate > 0) out += " offered_rate=" + std::to_string(static_cast<long long>(r.offered_rate));
    if (!r.first_error.empty()) out += " first_error='" + r.first_error + "'";
    return out;
}

}  // namespace macp::bench
