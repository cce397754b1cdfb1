// macp_noop_server: the ceiling the benchmarks compare macp-runtime with (issue #13). It serves
// macp.v1.MACPRuntimeService from the project's proto with gRPC's callback API and does nothing
// but answer:
//   - Send: an ok Ack echoing the message and session ids, accepted_at = now, state OPEN; when
//     StreamSession subscribers follow that session, the envelope is handed to each of them;
//   - StreamSession: a bidi stream bound to one session like the runtime's: a request with
//     subscribe_session_id subscribes, a request with an envelope subscribes to its session and
//     hands the envelope to every stream of that session (the sender's own included, as the
//     runtime does); in-memory fan-out, no storage, no history. A subscriber whose queue holds
//     more than 320 envelopes ends with RESOURCE_EXHAUSTED (the runtime's 256 + 64);
//   - Initialize and GetSession: minimal answers; grpc.health.v1 says SERVING.
// The builder uses the runtime's settings: receive/send limit 1 MiB + 64 KiB (the default
// MACP_MAX_PAYLOAD_BYTES plus envelope room), keepalive, max concurrent streams.
//
//   macp_noop_server [--port=0] [--max-concurrent-streams=10000] [--threads=0]
//
// Listens on 127.0.0.1 only; --port=0 picks a free port. Prints "port=<n>" once serving; SIGTERM
// or SIGINT shut it down.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "macp/v1/core.grpc.pb.h"

namespace {

using macp::v1::StreamSessionRequest;
using macp::v1::StreamSessionResponse;

constexpr size_t kMaxQueued = 320;

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class Stream;

// State of one stream shared with the fan-out, which may run on any thread.
struct StreamCore {
    std::mutex mu;
    Stream* owner = nullptr;  // null once the stream is done
    std::deque<StreamSessionResponse> queue;
    bool writing = false;
    bool finishing = false;
    bool finished = false;
    grpc::Status final_status;
};

// session id -> the streams bound to it.
class FanOut {
public:
    void add(const std::string& session, const std::shared_ptr<StreamCore>& core) {
        std::lock_guard lock(mu_);
        subs_[session].insert(core);
    }
    void remove(const std::string& session, const std::shared_ptr<StreamCore>& core) {
        std::lock_guard lock(mu_);
        auto it = subs_.find(session);
        if (it == subs_.end()) return;
        it->second.erase(core);
        if (it->second.empty()) subs_.erase(it);
    }
    void publish(const macp::v1::Envelope& env);

private:
    std::mutex mu_;
    std::map<std::string, std::set<std::shared_ptr<StreamCore>>> subs_;
};

class Stream final : public grpc::ServerBidiReactor<StreamSessionRequest, StreamSessionResponse> {
public:
    explicit Stream(FanOut& fanout) : fanout_(fanout), core_(std::make_shared<StreamCore>()) {
        core_->owner = this;
        StartRead(&request_);
    }

    void OnReadDone(bool ok) override {
        if (!ok) {  // half-close: deliver what is queued, then end with OK
            finish(grpc::Status::OK);
            return;
        }
        const bool has_env = request_.has_envelope();
        const std::string& sub = has_env ? request_.envelope().session_id() : request_.subscribe_session_id();
        if (sub.empty() || (!bound_.empty() && sub != bound_)) {
            finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one non-empty session_id per stream"));
            return;
        }
        if (bound_.empty()) {
            bound_ = sub;
            fanout_.add(bound_, core_);
        }
        if (has_env) fanout_.publish(request_.envelope());
        StartRead(&request_);
    }

    void OnWriteDone(bool ok) override {
        std::lock_guard lock(core_->mu);
        core_->writing = false;
        if (!ok) {
            core_->queue.clear();
            finish_locked(grpc::Status::CANCELLED);
            return;
        }
        core_->queue.pop_front();
        write_next_locked();
    }

    void OnDone() override {
        {
            std::lock_guard lock(core_->mu);
            core_->owner = nullptr;
        }
        if (!bound_.empty()) fanout_.remove(bound_, core_);
        delete this;  // NOLINT(cppcoreguidelines-owning-memory): the callback API's ownership rule
    }

    // Queues one envelope (caller holds core->mu).
    void deliver_locked(const macp::v1::Envelope& env) {
        auto& c = *core_;
        if (c.finishing) return;
        if (c.queue.size() >= kMaxQueued) {
            c.queue.clear();
            finish_locked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "StreamSession receiver fell behind"));
            return;
        }
        StreamSessionResponse r;
        *r.mutable_envelope() = env;
        c.queue.push_back(std::move(r));
        write_next_locked();
    }

private:
    void write_next_locked() {
        auto& c = *core_;
        if (c.writing || c.finished) return;
        if (!c.queue.empty()) {
            c.writing = true;
            StartWrite(&c.queue.front());
            return;
        }
        if (c.finishing) {
            c.finished = true;
            Finish(c.final_status);
        }
    }

    void finish_locked(grpc::Status status) {
        auto& c = *core_;
        if (c.finishing) return;
        c.finishing = true;
        c.final_status = std::move(status);
        write_next_locked();
    }

    void finish(grpc::Status status) {
        std::lock_guard lock(core_->mu);
        finish_locked(std::move(status));
    }

    FanOut& fanout_;
    std::shared_ptr<StreamCore> core_;
    StreamSessionRequest request_;
    std::string bound_;
};

void FanOut::publish(const macp::v1::Envelope& env) {
    std::lock_guard lock(mu_);
    auto it = subs_.find(env.session_id());
    if (it == subs_.end()) return;
    for (const auto& core : it->second) {
        std::lock_guard stream_lock(core->mu);
        if (core->owner != nullptr) core->owner->deliver_locked(env);
    }
}

class NoopService final : public macp::v1::MACPRuntimeService::CallbackService {
public:
    grpc::ServerUnaryReactor* Send(grpc::CallbackServerContext* ctx, const macp::v1::SendRequest* req,
                                   macp::v1::SendResponse* resp) override {
        auto* ack = resp->mutable_ack();
        ack->set_ok(true);
        ack->set_message_id(req->envelope().message_id());
        ack->set_session_id(req->envelope().session_id());
        ack->set_accepted_at_unix_ms(unix_ms());
        ack->set_session_state(macp::v1::SESSION_STATE_OPEN);
        fanout_.publish(req->envelope());
        auto* reactor = ctx->DefaultReactor();
        reactor->Finish(grpc::Status::OK);
        return reactor;
    }

    grpc::ServerBidiReactor<StreamSessionRequest, StreamSessionResponse>* StreamSession(
        grpc::CallbackServerContext*) override {
        return new Stream(fanout_);  // NOLINT(cppcoreguidelines-owning-memory): freed in OnDone
    }

    grpc::ServerUnaryReactor* Initialize(grpc::CallbackServerContext* ctx, const macp::v1::InitializeRequest*,
                                         macp::v1::InitializeResponse* resp) override {
        resp->set_selected_protocol_version("1.0");
        resp->mutable_runtime_info()->set_name("macp-noop-server");
        auto* reactor = ctx->DefaultReactor();
        reactor->Finish(grpc::Status::OK);
        return reactor;
    }

    grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* ctx, const macp::v1::GetSessionRequest* req,
                                         macp::v1::GetSessionResponse* resp) override {
        resp->mutable_metadata()->set_session_id(req->session_id());
        resp->mutable_metadata()->set_state(macp::v1::SESSION_STATE_OPEN);
        auto* reactor = ctx->DefaultReactor();
        reactor->Finish(grpc::Status::OK);
        return reactor;
    }

private:
    FanOut fanout_;
};

bool flag(const char* arg, const char* name, std::string& value) {
    const size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
    value = arg + n + 1;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    int max_streams = 10000;
    for (int i = 1; i < argc; ++i) {
        std::string v;
        if (flag(argv[i], "--port", v)) {
            port = std::atoi(v.c_str());
        } else if (flag(argv[i], "--max-concurrent-streams", v)) {
            max_streams = std::max(1, std::atoi(v.c_str()));
        } else {
            std::fprintf(stderr, "usage: macp_noop_server [--port=0] [--max-concurrent-streams=10000]\n");
            return 2;
        }
    }
    // SIGTERM/SIGINT are taken by sigwait below; block them before gRPC starts its threads.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    grpc::EnableDefaultHealthCheckService(true);
    NoopService service;
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
    constexpr int kLimit = 1048576 + 64 * 1024;  // MACP_MAX_PAYLOAD_BYTES default + envelope room
    builder.SetMaxReceiveMessageSize(kLimit);
    builder.SetMaxSendMessageSize(kLimit);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, max_streams);
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    if (!server || bound == 0) {
        std::fprintf(stderr, "macp_noop_server: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    std::printf("port=%d\n", bound);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server->Wait();
    return 0;
}
